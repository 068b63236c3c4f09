//! The worker: runs sync jobs from the apalis queues, the scheduler that
//! enqueues due work, the crawl engine and the token refresher. Any number of
//! replicas share one Redis. It serves `/healthz`, `/readyz` and `/metrics`
//! on `worker.listen_addr`.
//!
//! Talking to Atlassian lives in `confsync-confluence` and `confsync-oauth`,
//! state in `confsync-store`, pushing in `confsync-indexer`; this crate holds
//! the decisions: [`tokens`] (when and how a grant's tokens are refreshed,
//! single-flight across replicas). The job handlers and the scheduler that
//! drives them arrive with their issues; today `run` starts, waits for Redis,
//! serves its ops endpoints and stops cleanly.

mod metrics;
pub mod tokens;

use std::future::Future;

use confsync_runtime::{Settings, ops, shutdown, telemetry, wiring};
use tokio::net::TcpListener;

pub use metrics::WorkerMetrics;

/// Why the worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Store(#[from] confsync_store::StoreError),
    #[error("ops server: {0}")]
    Serve(#[from] std::io::Error),
}

/// Runs the worker until `shutdown` completes, serving the ops endpoints on
/// `listener`. Returns once everything has stopped.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let registry = telemetry::new_registry("worker")?;
    let _metrics = WorkerMetrics::register(&registry)?;
    let store = wiring::open_store(&settings)?;
    let router = ops::router(registry, wiring::redis_readiness(store.clone()));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let addr = listener.local_addr()?;
    let server = tokio::spawn(shutdown::serve(listener, router, async move {
        // Errors mean the sender is gone, which also means "stop".
        let _ = server_stop.wait_for(|stop| *stop).await;
    }));
    tracing::info!(%addr, environment = settings.environment.as_str(), "worker started; ops endpoints served");

    tokio::pin!(shutdown);
    tokio::select! {
        () = store.wait_until_ready() => {
            tracing::info!("no job handlers are wired yet: the worker only serves its ops endpoints");
            shutdown.await;
        }
        () = &mut shutdown => {}
    }

    tracing::info!("worker stopping");
    // The receiver may be gone if the server already exited; nothing to do then.
    let _ = stop_tx.send(true);
    match server.await {
        Ok(result) => result?,
        Err(join) => tracing::error!(error = %join, "ops server task failed"),
    }
    tracing::info!("worker stopped");
    Ok(())
}
