//! The worker's metric families: its own (sync runs) and those of the
//! libraries it drives, registered once at start-up.

use confsync_confluence::metrics::ApiMetrics;
use confsync_indexer::metrics::IndexerMetrics;
use confsync_oauth::metrics::OAuthMetrics;
use confsync_store::metrics::StoreMetrics;
use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    pub api: ApiMetrics,
    pub indexer: IndexerMetrics,
    pub oauth: OAuthMetrics,
    pub store: StoreMetrics,
    /// `confsync_sync_runs_total{mode,outcome}`.
    pub sync_runs: IntCounterVec,
    /// `confsync_sync_duration_seconds{mode}`.
    pub sync_duration: HistogramVec,
    /// `confsync_sync_lag_seconds`: the oldest site's time since its last successful sync.
    pub sync_lag: Gauge,
    /// `confsync_jobs{queue,state}`: jobs waiting (`waiting`) or given up on (`dead`).
    pub jobs: IntGaugeVec,
}

impl WorkerMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let sync_runs = IntCounterVec::new(
            Opts::new("sync_runs_total", "Sync runs, by mode and outcome"),
            &["mode", "outcome"],
        )?;
        let sync_duration = HistogramVec::new(
            HistogramOpts::new("sync_duration_seconds", "Duration of sync runs").buckets(vec![
                0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
            ]),
            &["mode"],
        )?;
        let sync_lag = Gauge::new(
            "sync_lag_seconds",
            "Time since the last successful sync of the site that waited longest",
        )?;
        registry.register(Box::new(sync_runs.clone()))?;
        registry.register(Box::new(sync_duration.clone()))?;
        registry.register(Box::new(sync_lag.clone()))?;
        let jobs = IntGaugeVec::new(
            Opts::new("jobs", "Jobs in the queues, by queue and state"),
            &["queue", "state"],
        )?;
        registry.register(Box::new(jobs.clone()))?;
        Ok(Self {
            api: ApiMetrics::register(registry)?,
            indexer: IndexerMetrics::register(registry)?,
            oauth: OAuthMetrics::register(registry)?,
            store: StoreMetrics::register(registry)?,
            sync_runs,
            sync_duration,
            sync_lag,
            jobs,
        })
    }
}
