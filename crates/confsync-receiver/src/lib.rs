//! The receiver: the thin HTTP front of confsync. It starts the OAuth flow,
//! takes the callback, stores the grant and enqueues the first sync; it serves
//! the operator API and `/healthz`, `/readyz`, `/metrics` on
//! `receiver.listen_addr`.
//!
//! It never calls the Confluence API and holds no crawl logic: it only talks
//! to Atlassian's auth endpoints (through `confsync-oauth`) and to Redis
//! (through `confsync-store`).

mod metrics;

use std::future::Future;

use confsync_runtime::{Settings, ops, shutdown, telemetry, wiring};
use tokio::net::TcpListener;

pub use metrics::ReceiverMetrics;

/// Why the receiver could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Store(#[from] confsync_store::StoreError),
    #[error("http server: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves the receiver on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReceiverError> {
    let registry = telemetry::new_registry("receiver")?;
    let _metrics = ReceiverMetrics::register(&registry)?;
    let store = wiring::open_store(&settings)?;
    let router = ops::router(registry, wiring::redis_readiness(store.clone()));

    let addr = listener.local_addr()?;
    tracing::info!(%addr, environment = settings.environment.as_str(), "receiver listening");
    // Redis may still be down: requests that need it answer 503 until it is
    // back, and this task says so in the log meanwhile.
    let waiter = tokio::spawn(async move { store.wait_until_ready().await });
    let served = shutdown::serve(listener, router, shutdown).await;
    waiter.abort();
    tracing::info!("receiver stopped");
    Ok(served?)
}
