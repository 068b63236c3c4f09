//! The scheduler: what the worker does on each cron tick. Every replica runs
//! the cron, but only one acts per tick: the first to take the tick's lease
//! (`lock:scheduler:{tick}`, left to expire rather than released, so a
//! replica whose clock is a little late cannot act on the same tick again).
//!
//! Today a tick refreshes the tokens that are due and publishes the grant
//! gauges; planning syncs joins it with the crawl engine. `tick` takes the
//! time as an argument so tests drive it without waiting for the cron.

use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::jobs::SYNC_QUEUE;
use confsync_store::{GrantStatus, Store, StoreError, SyncQueue, Vault};

use crate::WorkerMetrics;
use crate::tokens::TokenKeeper;

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickReport {
    /// Another replica acted on this tick.
    Skipped,
    Acted {
        tokens_refreshed: usize,
        refresh_failures: usize,
    },
}

/// The scheduler's dependencies. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Store,
    vault: Vault,
    queue: SyncQueue,
    /// `None` without Atlassian credentials: nothing to refresh with.
    keeper: Option<TokenKeeper>,
    metrics: WorkerMetrics,
    /// How long a tick's lease lives: longer than the gap between ticks.
    tick_lease: Duration,
}

impl Scheduler {
    pub fn new(
        store: Store,
        vault: Vault,
        keeper: Option<TokenKeeper>,
        metrics: WorkerMetrics,
        tick_lease: Duration,
    ) -> Self {
        let queue = SyncQueue::new(&store);
        Scheduler {
            store,
            vault,
            queue,
            keeper,
            metrics,
            tick_lease,
        }
    }

    /// Acts on the tick at `now` unless another replica already has. Every
    /// replica publishes the fleet's gauges (grants, queue), read from Redis,
    /// so whichever replica Prometheus scrapes shows them.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, StoreError> {
        self.publish_queue_gauges().await?;
        let lock = format!("scheduler:{}", now.timestamp());
        if self.store.try_lock(&lock, self.tick_lease).await?.is_none() {
            self.publish_grant_gauges().await?;
            return Ok(TickReport::Skipped);
        }
        let (tokens_refreshed, refresh_failures) = match &self.keeper {
            Some(keeper) => keeper.refresh_all_due(now).await?,
            None => (0, 0),
        };
        self.publish_grant_gauges().await?;
        if tokens_refreshed + refresh_failures > 0 {
            tracing::info!(tokens_refreshed, refresh_failures, "scheduler tick");
        }
        Ok(TickReport::Acted {
            tokens_refreshed,
            refresh_failures,
        })
    }

    /// `confsync_jobs{queue,state}` from the sync queue.
    async fn publish_queue_gauges(&self) -> Result<(), StoreError> {
        let counts = self.queue.counts().await?;
        let jobs = &self.metrics.jobs;
        jobs.with_label_values(&[SYNC_QUEUE, "waiting"])
            .set(i64::try_from(counts.waiting).unwrap_or(i64::MAX));
        jobs.with_label_values(&[SYNC_QUEUE, "dead"])
            .set(i64::try_from(counts.dead).unwrap_or(i64::MAX));
        Ok(())
    }

    /// `confsync_grants{status}` from the stored grants.
    async fn publish_grant_gauges(&self) -> Result<(), StoreError> {
        let mut counts = [0i64; 3];
        for id in self.vault.all_grants().await? {
            if let Some(grant) = self.vault.grant(&id).await? {
                counts[match grant.status {
                    GrantStatus::Active => 0,
                    GrantStatus::NeedsReauth => 1,
                    GrantStatus::Disconnected => 2,
                }] += 1;
            }
        }
        for (status, count) in [
            GrantStatus::Active,
            GrantStatus::NeedsReauth,
            GrantStatus::Disconnected,
        ]
        .iter()
        .zip(counts)
        {
            self.metrics
                .store
                .grants
                .with_label_values(&[status.as_str()])
                .set(count);
        }
        Ok(())
    }
}
