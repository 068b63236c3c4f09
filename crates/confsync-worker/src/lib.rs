//! The worker: runs sync jobs from the apalis queues, the scheduler that
//! enqueues due work, the crawl engine and the token refresher. Any number of
//! replicas share one Redis. It serves `/healthz`, `/readyz` and `/metrics`
//! on `worker.listen_addr`.
//!
//! Talking to Atlassian lives in `confsync-confluence` and `confsync-oauth`,
//! state in `confsync-store`, pushing in `confsync-indexer`; this crate holds
//! the decisions: [`tokens`] (when and how a grant's tokens are refreshed,
//! single-flight across replicas) and [`scheduler`] (what each cron tick
//! does: today, refresh due tokens and publish grant gauges). The sync job
//! handlers arrive with the crawl engine.

pub mod budget;
mod metrics;
pub mod scheduler;
pub mod tokens;

use std::future::Future;

use std::time::Duration;

use confsync_runtime::{Settings, ops, shutdown, telemetry, wiring};
use scheduler::Scheduler;
use tokens::{RefreshPolicy, TokenKeeper};
use tokio::net::TcpListener;

pub use metrics::WorkerMetrics;

/// Why the worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Store(#[from] confsync_store::StoreError),
    #[error(transparent)]
    OAuth(#[from] confsync_oauth::OAuthError),
    #[error(transparent)]
    Settings(#[from] confsync_runtime::settings::SettingsError),
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
    let metrics = WorkerMetrics::register(&registry)?;
    let store = wiring::open_store(&settings)?;
    let oauth = wiring::oauth_client(&settings)?;
    let schedule = settings.worker.scheduler_schedule()?;
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
    let ready = tokio::select! {
        () = store.wait_until_ready() => true,
        () = &mut shutdown => false,
    };
    if ready {
        let vault = wiring::open_vault(&settings, store.clone()).await?;
        if oauth.is_none() {
            tracing::warn!("no Atlassian OAuth client configured: tokens are not refreshed");
        }
        let keeper = oauth.map(|oauth| {
            let policy = RefreshPolicy {
                refresh_ahead: Duration::from_secs(settings.sync.refresh_ahead_secs),
                idle_refresh: Duration::from_secs(settings.sync.idle_refresh_secs),
                ..RefreshPolicy::default()
            };
            TokenKeeper::new(
                store.clone(),
                vault.clone(),
                oauth,
                policy,
                metrics.oauth.clone(),
            )
        });
        let scheduler = Scheduler::new(store.clone(), vault, keeper, metrics.clone(), TICK_LEASE);
        run_scheduler(&scheduler, schedule, &mut shutdown).await;
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

/// How long a tick's lease lives; far longer than any gap between ticks.
const TICK_LEASE: Duration = Duration::from_secs(3600);

/// Ticks the scheduler on `schedule` until `shutdown` completes. Every
/// replica ticks; [`Scheduler::tick`] lets one act per tick.
async fn run_scheduler(
    scheduler: &Scheduler,
    schedule: cron::Schedule,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) {
    use futures_util::StreamExt as _;
    let ticks = apalis_cron::CronScheduler::new(schedule).into_stream();
    tokio::pin!(ticks);
    tracing::info!("scheduler running");
    loop {
        let tick = tokio::select! {
            tick = ticks.next() => tick,
            () = shutdown.as_mut() => return,
        };
        let Some(tick) = tick else {
            tracing::error!("the cron schedule has no further ticks; scheduler stopped");
            shutdown.as_mut().await;
            return;
        };
        let at = match tick {
            // Every replica names the tick by its scheduled time, not its own clock.
            Ok(tick) => i64::try_from(tick.get_timestamp())
                .ok()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .unwrap_or_else(chrono::Utc::now),
            Err(error) => {
                tracing::error!(%error, "cron scheduler error");
                continue;
            }
        };
        if let Err(error) = scheduler.tick(at).await {
            tracing::warn!(%error, "scheduler tick failed; the next tick retries");
        }
    }
}
