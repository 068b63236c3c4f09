//! The worker: runs sync jobs from the apalis queue, the scheduler that
//! enqueues due work, the crawl engine and the token refresher. Any number of
//! replicas share one Redis. It serves `/healthz`, `/readyz` and `/metrics`
//! on `worker.listen_addr`.
//!
//! Talking to Atlassian lives in `confsync-confluence` and `confsync-oauth`,
//! state in `confsync-store`, pushing in `confsync-indexer`; this crate holds
//! the decisions: [`crawl`] (what a sync job does to a site: full crawl,
//! incremental poll, deletion check, reconciliation), [`consumer`] (the
//! apalis worker that runs the queued jobs, and its one-job step for tests),
//! [`scheduler`] (what each cron tick does: refresh due tokens, plan syncs,
//! publish gauges), [`tokens`] (when and how a grant's tokens are refreshed,
//! single-flight across replicas) and [`budget`] (the client's points budget
//! over the fleet's Redis bucket).

pub mod budget;
pub mod consumer;
pub mod crawl;
mod events;
mod metrics;
pub mod scheduler;
pub mod tokens;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use confsync_confluence::{Clock, TokioClock};
use confsync_runtime::{Settings, ops, shutdown, telemetry, wiring};
use confsync_store::{Store, SyncQueue, Vault};
use scheduler::{Planner, Scheduler};
use tokens::{RefreshPolicy, TokenKeeper};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::budget::FleetBudget;
use crate::consumer::SyncConsumer;
use crate::crawl::{CrawlSettings, Crawler, CrawlerParts};

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
    Confluence(#[from] confsync_confluence::ConfluenceError),
    #[error(transparent)]
    Indexer(#[from] confsync_indexer::IndexerError),
    #[error(transparent)]
    Settings(#[from] confsync_runtime::settings::SettingsError),
    #[error("ops server: {0}")]
    Serve(#[from] std::io::Error),
}

/// The gap between scheduler ticks the planner budgets for.
const TICK_GAP: Duration = Duration::from_secs(60);

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
    let crawl_settings = CrawlSettings::from_settings(&settings.sync)?;
    let router = ops::router(registry, wiring::redis_readiness(store.clone()));

    let stop = CancellationToken::new();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.cancel();
    });
    let server_stop = stop.clone();
    let addr = listener.local_addr()?;
    let server = tokio::spawn(shutdown::serve(listener, router, async move {
        server_stop.cancelled().await;
    }));
    tracing::info!(%addr, environment = settings.environment.as_str(), "worker started; ops endpoints served");

    let ready = tokio::select! {
        () = store.wait_until_ready() => true,
        () = stop.cancelled() => false,
    };
    if ready {
        let vault = wiring::open_vault(&settings, store.clone()).await?;
        let clock: Arc<dyn Clock> = Arc::new(TokioClock);
        let budget = FleetBudget::from_settings(
            &settings,
            store.clone(),
            Arc::clone(&clock),
            metrics.store.budget_points_available.clone(),
        )?;
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
        let consumer = match &keeper {
            Some(keeper) => sync_consumer(
                &settings,
                &store,
                &vault,
                keeper,
                &budget,
                &clock,
                &metrics,
                crawl_settings.clone(),
            )?,
            None => {
                tracing::warn!(
                    "no Atlassian OAuth client configured: tokens are not refreshed and no site is synced"
                );
                None
            }
        };
        let planner = Planner::new(
            store.clone(),
            Some(budget.budget().clone()),
            crawl_settings,
            Duration::from_secs(settings.sync.reconcile_interval_secs),
            TICK_GAP,
        );
        let syncing = consumer.is_some();
        let mut scheduler =
            Scheduler::new(store.clone(), vault, keeper, metrics.clone(), TICK_LEASE);
        if syncing {
            scheduler = scheduler.with_planner(planner);
        }
        let grace = Duration::from_secs(settings.worker.shutdown_timeout_secs);
        let jobs = consumer.map(|consumer| {
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Err(error) = consumer.run(stop, grace).await {
                    tracing::error!(%error, "the sync consumer stopped");
                }
            })
        });
        run_scheduler(&scheduler, schedule, &stop).await;
        if let Some(jobs) = jobs
            && let Err(error) = jobs.await
        {
            tracing::error!(%error, "the sync consumer task failed");
        }
    }

    tracing::info!("worker stopping");
    stop.cancel();
    match server.await {
        Ok(result) => result?,
        Err(join) => tracing::error!(error = %join, "ops server task failed"),
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// The crawl engine and the queue's consumer, when an indexer is configured.
#[allow(clippy::too_many_arguments)]
fn sync_consumer(
    settings: &Settings,
    store: &Store,
    vault: &Vault,
    keeper: &TokenKeeper,
    budget: &FleetBudget,
    clock: &Arc<dyn Clock>,
    metrics: &WorkerMetrics,
    crawl_settings: CrawlSettings,
) -> Result<Option<SyncConsumer>, WorkerError> {
    let Some(indexer) = wiring::indexer(settings, metrics.indexer.clone())? else {
        tracing::warn!("no indexer configured (INDEXER_URL): no site is synced");
        return Ok(None);
    };
    let confluence = wiring::confluence(
        settings,
        metrics.api.clone(),
        Arc::clone(clock),
        Arc::new(budget.clone()),
    )?;
    let crawler = Crawler::new(CrawlerParts {
        store: store.clone(),
        vault: vault.clone(),
        keeper: keeper.clone(),
        confluence,
        indexer,
        clock: Arc::clone(clock),
        settings: crawl_settings,
        metrics: metrics.clone(),
    });
    Ok(Some(SyncConsumer::new(
        Arc::new(crawler),
        SyncQueue::new(store),
        settings.worker.concurrency,
    )))
}

/// How long a tick's lease lives; far longer than any gap between ticks.
const TICK_LEASE: Duration = Duration::from_secs(3600);

/// Ticks the scheduler on `schedule` until `stop` is cancelled. Every
/// replica ticks; [`Scheduler::tick`] lets one act per tick.
async fn run_scheduler(scheduler: &Scheduler, schedule: cron::Schedule, stop: &CancellationToken) {
    use futures_util::StreamExt as _;
    let ticks = apalis_cron::CronScheduler::new(schedule).into_stream();
    tokio::pin!(ticks);
    tracing::info!("scheduler running");
    loop {
        let tick = tokio::select! {
            tick = ticks.next() => tick,
            () = stop.cancelled() => return,
        };
        let Some(tick) = tick else {
            tracing::error!("the cron schedule has no further ticks; scheduler stopped");
            stop.cancelled().await;
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
