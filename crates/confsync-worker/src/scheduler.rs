//! The scheduler: what the worker does on each cron tick. Every replica runs
//! the cron, but only one acts per tick: the first to take the tick's lease
//! (`lock:scheduler:{tick}`, left to expire rather than released, so a
//! replica whose clock is a little late cannot act on the same tick again).
//!
//! A tick refreshes the tokens that are due, publishes the grant and queue
//! gauges, and, with a [`Planner`], plans syncs: for every site of an active
//! grant that is neither crawling nor already queued, an interrupted or
//! missing full crawl, a follow-up someone asked for, a due incremental poll
//! or deletion check (adaptive interval, backed off after failures), or a due
//! reconciliation. Polls are planned most overdue first, and only as many as
//! the fleet budget can pay for until the next tick (8 points for an idle
//! poll, plus what the site's streams read last time). `plan:{grant}:{cloud}` guards
//! a site for a moment, so two replicas planning at once (a slow tick
//! overlapping the next) never queue the same poll twice.
//!
//! `tick` takes the time as an argument so tests drive it without waiting for
//! the cron. This module decides what to queue; the crawler decides what a
//! job runs.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::jobs::{SYNC_QUEUE, SyncJob, SyncMode, SyncTrigger};
use confsync_core::{CloudId, GrantId};
use confsync_store::budget::Budget;
use confsync_store::dead_letters::DeadLetters;
use confsync_store::{
    GrantStatus, SiteKey, SiteState, SiteStore, Store, StoreError, SyncQueue, Vault,
};

use crate::WorkerMetrics;
use crate::crawl::CrawlSettings;
use crate::events;
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
    /// `None`: the tick plans no syncs (no crawl engine in this process).
    planner: Option<Planner>,
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
            planner: None,
        }
    }

    /// A scheduler whose ticks also plan syncs.
    #[must_use]
    pub fn with_planner(mut self, planner: Planner) -> Scheduler {
        self.planner = Some(planner);
        self
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
        self.plan(now).await?;
        Ok(TickReport::Acted {
            tokens_refreshed,
            refresh_failures,
        })
    }

    /// Plans due syncs (see the module docs) and publishes the sync gauges.
    /// Called by [`Scheduler::tick`] on the replica that acts; callable alone
    /// by tests and tools. `None` without a planner.
    pub async fn plan(&self, now: DateTime<Utc>) -> Result<Option<PlanReport>, StoreError> {
        let Some(planner) = &self.planner else {
            return Ok(None);
        };
        let report = planner.plan(&self.vault, &self.metrics, now).await?;
        events::planned(&report);
        Ok(Some(report))
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

/// What one planning pass queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanReport {
    pub incremental: usize,
    pub full: usize,
    pub reconcile: usize,
    /// Coalesced jobs queued now that their site is free.
    pub followups: usize,
    /// Due polls left for a later tick: the budget could not pay for them.
    pub held_for_budget: usize,
}

impl PlanReport {
    pub fn queued(&self) -> usize {
        self.incremental + self.full + self.reconcile + self.followups
    }
}

/// Points an idle incremental poll costs (four streams, one request and one
/// object each), the base of a poll's estimate.
const IDLE_POLL_POINTS: u64 = 8;

/// Backed-off polls after failures: at most this many doublings.
const MAX_FAILURE_DOUBLINGS: u32 = 6;

/// Plans sync jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Planner {
    store: Store,
    sites: SiteStore,
    dead: DeadLetters,
    queue: SyncQueue,
    budget: Option<Budget>,
    settings: CrawlSettings,
    reconcile_interval: Duration,
    /// The time until the next tick: the budget's refill over it counts.
    tick_gap: Duration,
}

/// A site that needs a job.
#[derive(Debug)]
struct Candidate {
    grant: GrantId,
    cloud: CloudId,
    mode: SyncMode,
    /// How late the job is; the most overdue polls go first.
    overdue: chrono::Duration,
    points: u64,
}

impl Planner {
    /// `budget`, when given, holds polls back that it could not pay for.
    pub fn new(
        store: Store,
        budget: Option<Budget>,
        settings: CrawlSettings,
        reconcile_interval: Duration,
        tick_gap: Duration,
    ) -> Planner {
        Planner {
            sites: SiteStore::new(store.clone()),
            dead: DeadLetters::new(store.clone()),
            queue: SyncQueue::new(&store),
            store,
            budget,
            settings,
            reconcile_interval,
            tick_gap,
        }
    }

    async fn plan(
        &self,
        vault: &Vault,
        metrics: &WorkerMetrics,
        now: DateTime<Utc>,
    ) -> Result<PlanReport, StoreError> {
        let queued: HashSet<SiteKey> = self
            .queue
            .pending()
            .await?
            .into_iter()
            .map(|job| SiteKey::new(job.grant_id, job.cloud_id))
            .collect();
        let mut report = PlanReport::default();
        let mut candidates = Vec::new();
        let mut lag = chrono::Duration::zero();
        let mut letters = 0;
        for grant in vault.all_grants().await? {
            let active = vault
                .grant(&grant)
                .await?
                .is_some_and(|g| g.status == GrantStatus::Active);
            if !active {
                continue;
            }
            for site in vault.sites(&grant).await? {
                let cloud = site.cloud_id;
                let key = SiteKey::new(grant.clone(), cloud.clone());
                letters += self.dead.count(&key).await?;
                let state = self.sites.state(&grant, &cloud).await?;
                if let Some(at) = state.last_sync_at {
                    lag = lag.max(now - at);
                }
                let busy = queued.contains(&key) || self.store.is_locked(&key.crawl_lock()).await?;
                if busy {
                    continue;
                }
                if let Some(mode) = self.sites.take_followup(&grant, &cloud).await? {
                    let job =
                        SyncJob::new(grant.clone(), cloud.clone(), mode, SyncTrigger::Operator);
                    self.queue.push(job).await?;
                    report.followups += 1;
                    continue;
                }
                if let Some((mode, overdue, points)) = self.due(&state, now) {
                    candidates.push(Candidate {
                        grant: grant.clone(),
                        cloud,
                        mode,
                        overdue,
                        points,
                    });
                }
            }
        }
        metrics
            .sync_lag
            .set(lag.num_milliseconds().max(0) as f64 / 1000.0);
        metrics
            .store
            .dead_letters
            .set(i64::try_from(letters).unwrap_or(i64::MAX));
        self.queue_candidates(candidates, now, &mut report).await?;
        Ok(report)
    }

    /// Queues the candidates: walks (which pace themselves through the
    /// budget) all, polls most overdue first while the budget can pay.
    async fn queue_candidates(
        &self,
        mut candidates: Vec<Candidate>,
        now: DateTime<Utc>,
        report: &mut PlanReport,
    ) -> Result<(), StoreError> {
        candidates.sort_by_key(|c| std::cmp::Reverse(c.overdue));
        let mut affordable = self.affordable(now).await?;
        for candidate in candidates {
            if candidate.mode == SyncMode::Incremental {
                if candidate.points > affordable {
                    report.held_for_budget += 1;
                    continue;
                }
                affordable -= candidate.points;
            }
            if !self
                .sites
                .claim_plan(
                    &SiteKey::new(candidate.grant.clone(), candidate.cloud.clone()),
                    self.settings.min_poll_interval,
                )
                .await?
            {
                continue;
            }
            let job = SyncJob::new(
                candidate.grant,
                candidate.cloud,
                candidate.mode,
                SyncTrigger::Schedule,
            );
            self.queue.push(job).await?;
            match candidate.mode {
                SyncMode::Incremental => report.incremental += 1,
                SyncMode::Full => report.full += 1,
                SyncMode::Reconcile => report.reconcile += 1,
                // Never planned: operators ask for them.
                SyncMode::Redeliver | SyncMode::Purge => {}
            }
        }
        Ok(())
    }

    /// Points the fleet can spend on polls until the next tick.
    async fn affordable(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let Some(budget) = &self.budget else {
            return Ok(u64::MAX);
        };
        let snapshot = budget.snapshot(now).await?;
        let refill = budget.config().refill_per_sec() * self.tick_gap.as_secs_f64();
        Ok(snapshot.available.saturating_add(refill as u64))
    }

    /// What the site needs now, if anything: the mode, how overdue, and the
    /// points a poll is expected to cost.
    fn due(
        &self,
        state: &SiteState,
        now: DateTime<Utc>,
    ) -> Option<(SyncMode, chrono::Duration, u64)> {
        let s = &self.settings;
        if self.held_after_failures(state, now) {
            return None;
        }
        let far = chrono::Duration::days(3650);
        if let Some(checkpoint) = &state.checkpoint {
            return Some((checkpoint.mode, far, 0));
        }
        if !state.has_all_watermarks() {
            return Some((SyncMode::Full, far, 0));
        }
        let interval = state
            .poll_interval_secs
            .map_or(s.poll_interval, Duration::from_secs)
            .clamp(s.min_poll_interval, s.max_poll_interval);
        let last_poll = state
            .last_poll_at
            .or(state.last_full_sync_at)
            .or(state.last_sync_at);
        let poll_at = last_poll.map(|t| t + chrono_duration(interval));
        let check_at = state
            .last_deletion_check_at
            .map(|t| t + chrono_duration(s.deletion_check_interval));
        let due_at = [poll_at, check_at].into_iter().flatten().min();
        if due_at.is_none_or(|at| at <= now) {
            let overdue = due_at.map_or(far, |at| now - at);
            let window: u64 = state.window_items.values().map(|n| u64::from(*n)).sum();
            let check = u64::from(check_at.is_none_or(|at| at <= now)) * 2;
            return Some((
                SyncMode::Incremental,
                overdue,
                IDLE_POLL_POINTS + window + check,
            ));
        }
        let reconcile_at = state
            .last_reconcile_at
            .or(state.last_full_sync_at)
            .map(|t| t + chrono_duration(self.reconcile_interval));
        match reconcile_at {
            Some(at) if at <= now => Some((SyncMode::Reconcile, now - at, 0)),
            _ => None,
        }
    }

    /// A site whose last runs failed waits a doubling delay before the next.
    fn held_after_failures(&self, state: &SiteState, now: DateTime<Utc>) -> bool {
        let (Some(at), true) = (state.last_error_at, state.failures > 0) else {
            return false;
        };
        let doublings = state.failures.min(MAX_FAILURE_DOUBLINGS);
        let hold = self
            .settings
            .min_poll_interval
            .saturating_mul(1 << doublings)
            .min(self.settings.max_poll_interval);
        at + chrono_duration(hold) > now
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
