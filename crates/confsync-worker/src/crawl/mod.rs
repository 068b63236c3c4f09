//! The crawl engine: what one sync job does to one site.
//!
//! [`Crawler::run`] takes the site's crawl lease (`lock:crawl:{grant}:{cloud}`,
//! renewed while the job runs, so two replicas never crawl a site at once),
//! chooses what to run (an interrupted full crawl first; a full crawl when a
//! watermark is missing; else what the job asks), runs it ([`full`] or
//! [`incremental`], through a [`session::Session`]), records the outcome in
//! the site's state, and decides in ONE match what a failure means: retry
//! later (transient: the job is queued again after a backoff that honours
//! `Retry-After`), give up on the job (permanent), or stop the grant until
//! its user consents again (needs re-auth).
//!
//! A job for a site that is already crawling is coalesced: it does not run.
//! A job someone asked for (connect, operator) is remembered as the site's
//! follow-up and queued when the running crawl ends, so an operator's full
//! resync arriving during an incremental poll still happens, once, after it.
//! Scheduled jobs are dropped: the scheduler plans them again.
//!
//! Redeliveries of dead letters and purges after a disconnect ([`upkeep`])
//! run under the same lease but read no Confluence; a busy site makes them
//! wait (they are queued again after `sync.retry_min_delay_secs`).
//!
//! This module talks to Atlassian, Redis and the indexer only through their
//! crates; it never sleeps but through the clock and never holds a lock
//! across an `.await`.

mod full;
mod incremental;
mod item;
mod lineage;
mod names;
mod session;
mod sink;
mod upkeep;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use confsync_confluence::{Clock, Confluence, ConfluenceError, Limit, Priority};
use confsync_core::document::SiteRef;
use confsync_core::error::{Classify, ErrorClass};
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_indexer::{Indexer, IndexerError};
use confsync_runtime::settings::{SettingsError, SyncSettings};
use confsync_store::dead_letters::DeadLetters;
use confsync_store::deferred::Deferred;
use confsync_store::directory::Directory;
use confsync_store::known::KnownMap;
use confsync_store::sites::{Checkpoint, CrawlCounters, CrawlStage, RunSummary};
use confsync_store::{
    GrantStatus, SiteKey, SiteState, SiteStore, SiteUpdate, Store, StoreError, SyncQueue, Vault,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::WorkerMetrics;
use crate::events;
use crate::tokens::{GrantTokens, TokenKeeper};
use names::UserNames;
use session::{Session, Target};

/// What the crawl engine needs from `[sync]`, parsed once at start-up.
#[derive(Debug, Clone)]
pub struct CrawlSettings {
    /// Items per listing request of full crawls and deletion checks.
    pub page_limit: Limit,
    /// How far behind its watermark each change stream re-reads.
    pub overlap: Duration,
    pub poll_interval: Duration,
    pub min_poll_interval: Duration,
    pub max_poll_interval: Duration,
    pub deletion_check_interval: Duration,
    pub fetch_labels: bool,
    pub lease_ttl: Duration,
    pub user_cache_ttl: Duration,
    /// Backoff of a job after a transient failure: doubling from the first
    /// to the cap with the number of failures in a row, jittered.
    pub retry_min_delay: Duration,
    pub retry_max_delay: Duration,
}

impl CrawlSettings {
    pub fn from_settings(sync: &SyncSettings) -> Result<CrawlSettings, SettingsError> {
        let page_limit = Limit::new(sync.page_limit).ok_or_else(|| SettingsError::Invalid {
            key: "sync.page_limit".into(),
            message: "must be between 1 and 250".into(),
        })?;
        let secs = Duration::from_secs;
        Ok(CrawlSettings {
            page_limit,
            overlap: secs(sync.overlap_secs),
            poll_interval: secs(sync.poll_interval_secs),
            min_poll_interval: secs(sync.min_poll_interval_secs),
            max_poll_interval: secs(sync.max_poll_interval_secs),
            deletion_check_interval: secs(sync.deletion_check_interval_secs),
            fetch_labels: sync.fetch_labels,
            lease_ttl: secs(sync.lease_ttl_secs),
            user_cache_ttl: secs(sync.user_cache_ttl_secs),
            retry_min_delay: secs(sync.retry_min_delay_secs),
            retry_max_delay: secs(sync.retry_max_delay_secs),
        })
    }
}

/// Why a crawl stopped early.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error(transparent)]
    Confluence(#[from] ConfluenceError),
    #[error(transparent)]
    Indexer(#[from] IndexerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Shutdown, or the crawl lease was lost: the checkpoint stands.
    #[error("the crawl was interrupted")]
    Interrupted,
    #[error("converting bodies failed: {0}")]
    Conversion(String),
    #[error("cannot encode crawl state: {0}")]
    Encode(String),
}

impl Classify for CrawlError {
    fn class(&self) -> ErrorClass {
        match self {
            CrawlError::Confluence(e) => e.class(),
            CrawlError::Indexer(e) => e.class(),
            CrawlError::Store(e) => e.class(),
            CrawlError::Interrupted => ErrorClass::transient(),
            CrawlError::Conversion(_) | CrawlError::Encode(_) => ErrorClass::Permanent,
        }
    }
}

/// How a job ended, when it did not fail for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    /// The sync ran to its end.
    Completed,
    /// The site was already crawling; the job did not run (see the module
    /// docs for follow-ups).
    Coalesced,
    /// Stopped by shutdown or a lost lease; its checkpoint stands and the job
    /// is queued again.
    Interrupted,
    /// A transient failure; the job is queued again after a backoff.
    Retrying,
    /// The grant is not active (or no longer reaches the site): nothing done.
    Inactive,
}

impl JobOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::Coalesced => "coalesced",
            JobOutcome::Interrupted => "interrupted",
            JobOutcome::Retrying => "retry",
            JobOutcome::Inactive => "inactive",
        }
    }
}

/// What a job did: the job queue keeps it as the task's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    pub outcome: JobOutcome,
    /// The mode that ran (a full crawl may stand in for an incremental poll).
    pub mode: SyncMode,
    pub counters: CrawlCounters,
    /// When a retry was queued: its delay.
    pub retry_in_secs: Option<u64>,
    /// The error behind a retry.
    pub error: Option<String>,
}

/// A job that failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    #[error("sync failed permanently: {0}")]
    Permanent(String),
    #[error("the grant needs a new consent: {0}")]
    NeedsReauth(String),
}

/// What the crawler is built from.
pub struct CrawlerParts {
    pub store: Store,
    pub vault: Vault,
    pub keeper: TokenKeeper,
    pub confluence: Confluence,
    pub indexer: Indexer,
    pub clock: Arc<dyn Clock>,
    pub settings: CrawlSettings,
    pub metrics: WorkerMetrics,
}

impl std::fmt::Debug for CrawlerParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrawlerParts")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The crawl engine of a worker process. Share it in an `Arc`.
pub struct Crawler {
    store: Store,
    vault: Vault,
    keeper: TokenKeeper,
    confluence: Confluence,
    indexer: Indexer,
    sites: SiteStore,
    known: KnownMap,
    dead: DeadLetters,
    directory: Directory,
    deferred: Deferred,
    queue: SyncQueue,
    names: UserNames,
    clock: Arc<dyn Clock>,
    settings: CrawlSettings,
    metrics: WorkerMetrics,
}

impl std::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crawler")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What a job will run.
enum Plan {
    /// A full crawl or a reconciliation, resumed or fresh.
    Walk(SyncMode, Option<Checkpoint>),
    Incremental,
}

impl Plan {
    fn mode(&self) -> SyncMode {
        match self {
            Plan::Walk(mode, _) => *mode,
            Plan::Incremental => SyncMode::Incremental,
        }
    }
}

/// What one execution ran and did, finished or not.
struct Ran {
    mode: SyncMode,
    counters: CrawlCounters,
    result: Result<(), CrawlError>,
}

impl Ran {
    fn failed(mode: SyncMode, error: CrawlError) -> Ran {
        Ran {
            mode,
            counters: CrawlCounters::default(),
            result: Err(error),
        }
    }
}

impl Crawler {
    pub fn new(parts: CrawlerParts) -> Crawler {
        let store = parts.store;
        Crawler {
            sites: SiteStore::new(store.clone()),
            known: KnownMap::new(store.clone()),
            dead: DeadLetters::new(store.clone()),
            directory: Directory::new(store.clone()),
            deferred: Deferred::new(store.clone()),
            queue: SyncQueue::new(&store),
            names: UserNames::new(Directory::new(store.clone()), parts.settings.user_cache_ttl),
            store,
            vault: parts.vault,
            keeper: parts.keeper,
            confluence: parts.confluence,
            indexer: parts.indexer,
            clock: parts.clock,
            settings: parts.settings,
            metrics: parts.metrics,
        }
    }

    pub fn settings(&self) -> &CrawlSettings {
        &self.settings
    }

    /// Runs `job` to its end, or until `cancel` (shutdown) stops it at the
    /// next safe point.
    #[tracing::instrument(
        name = "sync_job",
        skip_all,
        fields(site = %job.cloud_id, mode = job.mode.as_str(), trigger = ?job.trigger)
    )]
    pub async fn run(
        &self,
        job: &SyncJob,
        cancel: &CancellationToken,
    ) -> Result<JobReport, JobFailure> {
        let started = Instant::now();
        let report = match self.target(job).await {
            Ok(Some(target)) => Box::pin(self.run_leased(job, target, cancel)).await,
            Ok(None) => Ok(report(
                JobOutcome::Inactive,
                job.mode,
                CrawlCounters::default(),
            )),
            Err(error) => {
                self.settle(job, job.mode, CrawlCounters::default(), error)
                    .await
            }
        };
        let (mode, outcome) = match &report {
            Ok(report) => (report.mode, report.outcome.as_str()),
            Err(JobFailure::Permanent(_)) => (job.mode, "failed"),
            Err(JobFailure::NeedsReauth(_)) => (job.mode, "needs_reauth"),
        };
        let counters = report.as_ref().map(|r| r.counters).unwrap_or_default();
        events::run_finished(
            &self.metrics,
            &job.cloud_id,
            mode,
            outcome,
            started.elapsed(),
            &counters,
        );
        report
    }

    /// The site the job is about, if its grant still reaches it and, for a
    /// job that reads Confluence, is active.
    async fn target(&self, job: &SyncJob) -> Result<Option<Target>, CrawlError> {
        let Some(grant) = self.vault.grant(&job.grant_id).await? else {
            return Ok(None);
        };
        if job.mode.reads_confluence() && grant.status != GrantStatus::Active {
            return Ok(None);
        }
        let sites = self.vault.sites(&job.grant_id).await?;
        let Some(site) = sites.into_iter().find(|s| s.cloud_id == job.cloud_id) else {
            return Ok(None);
        };
        let url = site.url.trim_end_matches('/').to_owned();
        let web_base = if url.ends_with("/wiki") {
            url.clone()
        } else {
            format!("{url}/wiki")
        };
        Ok(Some(Target {
            tenant: grant.tenant_id,
            key: SiteKey::new(job.grant_id.clone(), job.cloud_id.clone()),
            site: SiteRef {
                cloud_id: site.cloud_id,
                url: site.url,
                name: site.name,
            },
            web_base,
        }))
    }

    /// Under the site's crawl lease: runs, records, settles, and queues the
    /// follow-up once the lease is released.
    async fn run_leased(
        &self,
        job: &SyncJob,
        target: Target,
        cancel: &CancellationToken,
    ) -> Result<JobReport, JobFailure> {
        let lock = target.key.crawl_lock();
        let lease = match self.store.try_lock(&lock, self.settings.lease_ttl).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return Ok(self.coalesce(job).await),
            Err(error) => {
                return self
                    .settle(job, job.mode, CrawlCounters::default(), error.into())
                    .await;
            }
        };
        let token = cancel.child_token();
        let keeper = LeaseKeeper::start(
            lease,
            self.settings.lease_ttl,
            token.clone(),
            job.cloud_id.clone(),
        );
        let ran = Box::pin(self.execute(job, &target, &token)).await;
        keeper.stop().await;
        let report = match ran.result {
            Ok(()) => Ok(report(JobOutcome::Completed, ran.mode, ran.counters)),
            Err(error) => self.settle(job, ran.mode, ran.counters, error).await,
        };
        self.queue_followup(job).await;
        report
    }

    /// Runs what the site needs for `job` and records a success.
    async fn execute(&self, job: &SyncJob, target: &Target, cancel: &CancellationToken) -> Ran {
        if !job.mode.reads_confluence() {
            return self.execute_upkeep(job.mode, target, cancel).await;
        }
        let began = Instant::now();
        let started = self.clock.now();
        let state = match self.sites.state(&target.key.grant, &target.key.cloud).await {
            Ok(state) => state,
            Err(error) => return Ran::failed(job.mode, error.into()),
        };
        let plan = plan(job.mode, &state);
        let mode = plan.mode();
        let (mut session, checkpoint) =
            match self.start(target, &plan, &state, started, cancel).await {
                Ok(started) => started,
                Err(error) => return Ran::failed(mode, error),
            };
        let result = match checkpoint {
            Some(checkpoint) => full::crawl(&mut session, checkpoint).await,
            None => self.poll(&mut session, job, &state, started).await,
        };
        let counters = session.totals();
        let result = match result {
            Ok(()) => self.record_success(target, mode, counters, began).await,
            Err(error) => Err(error),
        };
        Ran {
            mode,
            counters,
            result,
        }
    }

    /// A redelivery or a purge (see [`upkeep`]).
    async fn execute_upkeep(
        &self,
        mode: SyncMode,
        target: &Target,
        cancel: &CancellationToken,
    ) -> Ran {
        let result = match mode {
            SyncMode::Purge => self.purge(target, cancel).await,
            _ => self.redeliver(target, cancel).await,
        };
        match result {
            Ok(counters) => {
                events::upkeep_finished(&target.key.cloud, mode, &counters);
                Ran {
                    mode,
                    counters,
                    result: Ok(()),
                }
            }
            Err(error) => Ran::failed(mode, error),
        }
    }

    /// The session of a plan, and for a walk its checkpoint (resumed, or a
    /// new one). A resumed walk's session counts from where it stopped, so
    /// checkpoints and the report cover the whole run.
    async fn start(
        &self,
        target: &Target,
        plan: &Plan,
        state: &SiteState,
        started: DateTime<Utc>,
        cancel: &CancellationToken,
    ) -> Result<(Session<'_>, Option<Checkpoint>), CrawlError> {
        let (mode, priority) = match plan {
            Plan::Walk(SyncMode::Reconcile, _) => (SyncMode::Reconcile, Priority::Reconcile),
            Plan::Walk(_, _) => (SyncMode::Full, Priority::Full),
            Plan::Incremental => (SyncMode::Incremental, Priority::Incremental),
        };
        let checkpoint = match plan {
            Plan::Walk(_, Some(checkpoint)) => Some(checkpoint.clone()),
            Plan::Walk(mode, None) => Some(self.fresh_checkpoint(target, *mode, started).await?),
            Plan::Incremental => None,
        };
        let tokens = Arc::new(GrantTokens::new(
            self.keeper.clone(),
            target.key.grant.clone(),
        ));
        let client = self
            .confluence
            .site(target.key.cloud.clone(), tokens)?
            .with_priority(priority);
        let epoch = checkpoint.as_ref().map_or(state.epoch, |c| c.epoch);
        let mut session =
            Session::new(self, client, target.clone(), mode, epoch, cancel.clone()).await?;
        if let Some(checkpoint) = &checkpoint {
            session.counters = checkpoint.counters;
        }
        Ok((session, checkpoint))
    }

    async fn record_success(
        &self,
        target: &Target,
        mode: SyncMode,
        counters: CrawlCounters,
        began: Instant,
    ) -> Result<(), CrawlError> {
        let now = self.clock.now();
        let update = SiteUpdate {
            last_sync: Some((now, mode)),
            succeeded: true,
            last_run: Some(RunSummary {
                v: 1,
                mode,
                finished_at: now,
                duration_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
                counters,
            }),
            add_totals: Some(counters),
            ..SiteUpdate::default()
        };
        self.sites
            .update(&target.key.grant, &target.key.cloud, &update)
            .await?;
        Ok(())
    }

    /// A new mark-and-sweep epoch and the checkpoint of its first stage.
    async fn fresh_checkpoint(
        &self,
        target: &Target,
        mode: SyncMode,
        started: DateTime<Utc>,
    ) -> Result<Checkpoint, CrawlError> {
        let epoch = self
            .sites
            .next_epoch(&target.key.grant, &target.key.cloud)
            .await?;
        let checkpoint = Checkpoint {
            v: 1,
            mode,
            epoch,
            started_at: started,
            stage: CrawlStage::Spaces,
            next_url: None,
            after_id: None,
            counters: CrawlCounters::default(),
        };
        let update = SiteUpdate {
            checkpoint: Some(checkpoint.clone()),
            ..SiteUpdate::default()
        };
        self.sites
            .update(&target.key.grant, &target.key.cloud, &update)
            .await?;
        Ok(checkpoint)
    }

    /// The incremental poll, the deletion check when due, and the adaptive
    /// poll interval.
    async fn poll(
        &self,
        session: &mut Session<'_>,
        job: &SyncJob,
        state: &SiteState,
        started: DateTime<Utc>,
    ) -> Result<(), CrawlError> {
        let mut changed = incremental::poll(session, state, self.settings.overlap).await?;
        let check_due = job.trigger == SyncTrigger::Operator
            || state.last_deletion_check_at.is_none_or(|at| {
                at + chrono_duration(self.settings.deletion_check_interval) <= started
            });
        let mut update = SiteUpdate {
            last_poll_at: Some(started),
            ..SiteUpdate::default()
        };
        if check_due {
            changed += incremental::deletion_check(session).await?;
            update.last_deletion_check_at = Some(started);
        }
        update.poll_interval_secs = Some(next_interval(&self.settings, state, changed).as_secs());
        self.sites
            .update(
                &session.target.key.grant,
                &session.target.key.cloud,
                &update,
            )
            .await?;
        Ok(())
    }

    /// The site is crawling: remember what someone asked for, drop what the
    /// scheduler will plan again, and try a redelivery or purge again later.
    async fn coalesce(&self, job: &SyncJob) -> JobReport {
        if !job.mode.reads_confluence() {
            self.requeue(job, self.settings.retry_min_delay).await;
        } else if job.trigger != SyncTrigger::Schedule {
            let remembered = self
                .sites
                .set_followup(&job.grant_id, &job.cloud_id, job.mode)
                .await;
            if let Err(error) = remembered {
                events::followup_lost(&job.cloud_id, &error);
            }
        }
        events::coalesced(&job.cloud_id, job.mode, job.trigger);
        report(JobOutcome::Coalesced, job.mode, CrawlCounters::default())
    }

    /// Queues the follow-up a coalesced job left, now that the site is free.
    async fn queue_followup(&self, job: &SyncJob) {
        let taken = self.sites.take_followup(&job.grant_id, &job.cloud_id).await;
        let queued = match taken {
            Ok(Some(mode)) => {
                let followup = SyncJob::new(
                    job.grant_id.clone(),
                    job.cloud_id.clone(),
                    mode,
                    SyncTrigger::Operator,
                );
                self.queue.push(followup).await.map(|()| Some(mode))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        match queued {
            Ok(Some(mode)) => events::followup_queued(&job.cloud_id, mode),
            Ok(None) => {}
            // The follow-up stays in the site's state; the scheduler queues it.
            Err(error) => events::followup_lost(&job.cloud_id, &error),
        }
    }

    /// Decides, in one place, what a failed run means.
    async fn settle(
        &self,
        job: &SyncJob,
        mode: SyncMode,
        counters: CrawlCounters,
        error: CrawlError,
    ) -> Result<JobReport, JobFailure> {
        if matches!(error, CrawlError::Interrupted) {
            self.requeue(job, Duration::ZERO).await;
            return Ok(report(JobOutcome::Interrupted, mode, counters));
        }
        let message = error.to_string();
        let failures = self.record_failure(job, &message).await;
        match error.class() {
            ErrorClass::Transient { retry_after } => {
                let delay = backoff(&self.settings, failures, retry_after);
                self.requeue(job, delay).await;
                events::retrying(&job.cloud_id, mode, &message, delay);
                Ok(JobReport {
                    retry_in_secs: Some(delay.as_secs()),
                    error: Some(message),
                    ..report(JobOutcome::Retrying, mode, counters)
                })
            }
            ErrorClass::Permanent => {
                events::failed(&job.cloud_id, mode, &message);
                Err(JobFailure::Permanent(message))
            }
            ErrorClass::NeedsReauth => {
                self.stop_grant(job, &message).await;
                Err(JobFailure::NeedsReauth(message))
            }
        }
    }

    /// Records the failure on the site; returns the failures in a row.
    async fn record_failure(&self, job: &SyncJob, message: &str) -> u32 {
        let update = SiteUpdate {
            failure: Some((message.to_owned(), self.clock.now())),
            ..SiteUpdate::default()
        };
        let recorded = self
            .sites
            .update(&job.grant_id, &job.cloud_id, &update)
            .await;
        if let Err(error) = recorded {
            events::state_not_saved(&job.cloud_id, &error);
        }
        self.sites
            .state(&job.grant_id, &job.cloud_id)
            .await
            .map_or(1, |s| s.failures.max(1))
    }

    /// Marks an active grant `needs_reauth`: the scheduler stops planning its
    /// sites and the admin API shows it.
    async fn stop_grant(&self, job: &SyncJob, message: &str) {
        let active = matches!(
            self.vault.grant(&job.grant_id).await,
            Ok(Some(grant)) if grant.status == GrantStatus::Active
        );
        if active && let Err(error) = self.vault.mark_needs_reauth(&job.grant_id, message).await {
            events::state_not_saved(&job.cloud_id, &error);
        }
        events::needs_reauth(&job.grant_id, &job.cloud_id, message);
    }

    async fn requeue(&self, job: &SyncJob, delay: Duration) {
        if let Err(error) = self.queue.push_after(job.clone(), delay).await {
            events::requeue_failed(&job.cloud_id, &error);
        }
    }
}

/// What a job runs, given the site's state.
fn plan(asked: SyncMode, state: &SiteState) -> Plan {
    let checkpoint = state.checkpoint.clone();
    match checkpoint {
        // An interrupted full crawl comes first, whatever was asked.
        Some(checkpoint) if checkpoint.mode == SyncMode::Full => {
            Plan::Walk(SyncMode::Full, Some(checkpoint))
        }
        _ if asked == SyncMode::Full || !state.has_all_watermarks() => {
            Plan::Walk(SyncMode::Full, None)
        }
        Some(checkpoint) if asked == SyncMode::Reconcile => {
            Plan::Walk(SyncMode::Reconcile, Some(checkpoint))
        }
        _ if asked == SyncMode::Reconcile => Plan::Walk(SyncMode::Reconcile, None),
        _ => Plan::Incremental,
    }
}

/// The next poll interval: shorter after a poll that found changes,
/// longer after an idle one, within the configured bounds.
fn next_interval(s: &CrawlSettings, state: &SiteState, changed: u64) -> Duration {
    let current = state
        .poll_interval_secs
        .map_or(s.poll_interval, Duration::from_secs)
        .clamp(s.min_poll_interval, s.max_poll_interval);
    let next = if changed > 0 {
        current / 2
    } else {
        current + current / 2
    };
    next.clamp(s.min_poll_interval, s.max_poll_interval)
}

/// The delay before retrying a job that failed `failures` times in a row:
/// doubling from the first delay to the cap, jittered ×0.7–1.3, and never
/// shorter than what the other side asked for.
fn backoff(settings: &CrawlSettings, failures: u32, retry_after: Option<Duration>) -> Duration {
    use rand::Rng as _;
    let exponent = failures.saturating_sub(1).min(20);
    let base = settings
        .retry_min_delay
        .saturating_mul(1 << exponent)
        .min(settings.retry_max_delay);
    let jittered = base.mul_f64(rand::thread_rng().gen_range(0.7..=1.3));
    jittered.max(retry_after.unwrap_or_default())
}

fn report(outcome: JobOutcome, mode: SyncMode, counters: CrawlCounters) -> JobReport {
    JobReport {
        outcome,
        mode,
        counters,
        retry_in_secs: None,
        error: None,
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Keeps the crawl lease alive while a job runs: renews it every third of
/// its lifetime (real time: Redis expires it in real time), and cancels the
/// job if it was lost, so a replica that stalled stops writing.
struct LeaseKeeper {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    fn start(
        lease: confsync_store::Lease,
        ttl: Duration,
        job: CancellationToken,
        site: confsync_core::CloudId,
    ) -> LeaseKeeper {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut last_renewed = Instant::now();
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    () = tokio::time::sleep(ttl / 3) => {}
                }
                match lease.renew(ttl).await {
                    Ok(true) => last_renewed = Instant::now(),
                    Ok(false) => {
                        events::lease_lost(&site);
                        job.cancel();
                        return;
                    }
                    // Redis hiccup: keep trying while the lease may still live.
                    Err(_) if last_renewed.elapsed() < ttl => {}
                    Err(_) => {
                        events::lease_lost(&site);
                        job.cancel();
                        return;
                    }
                }
            }
            // A lost lease only means it expired; the work is done either way.
            let _ = lease.release().await;
        });
        LeaseKeeper { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the crawl lease keeper failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone as _;
    use confsync_core::ContentKind;

    use super::*;

    fn settings() -> CrawlSettings {
        CrawlSettings {
            page_limit: Limit::MAX,
            overlap: Duration::from_secs(300),
            poll_interval: Duration::from_secs(300),
            min_poll_interval: Duration::from_secs(60),
            max_poll_interval: Duration::from_secs(3600),
            deletion_check_interval: Duration::from_secs(900),
            fetch_labels: true,
            lease_ttl: Duration::from_secs(60),
            user_cache_ttl: Duration::from_secs(86_400),
            retry_min_delay: Duration::from_secs(30),
            retry_max_delay: Duration::from_secs(1800),
        }
    }

    fn watermarked() -> SiteState {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        SiteState {
            watermarks: ContentKind::ALL.iter().map(|k| (*k, at)).collect(),
            ..SiteState::default()
        }
    }

    fn checkpoint(mode: SyncMode) -> Checkpoint {
        Checkpoint {
            v: 1,
            mode,
            epoch: 3,
            started_at: Utc::now(),
            stage: CrawlStage::Pages,
            next_url: None,
            after_id: None,
            counters: CrawlCounters::default(),
        }
    }

    fn planned(asked: SyncMode, state: &SiteState) -> (SyncMode, bool) {
        match plan(asked, state) {
            Plan::Walk(mode, checkpoint) => (mode, checkpoint.is_some()),
            Plan::Incremental => (SyncMode::Incremental, false),
        }
    }

    #[test]
    fn a_missing_watermark_or_an_interrupted_full_crawl_means_a_full_crawl() {
        assert_eq!(
            planned(SyncMode::Incremental, &SiteState::default()),
            (SyncMode::Full, false)
        );
        let mut state = watermarked();
        assert_eq!(
            planned(SyncMode::Incremental, &state),
            (SyncMode::Incremental, false)
        );
        state.checkpoint = Some(checkpoint(SyncMode::Full));
        assert_eq!(
            planned(SyncMode::Incremental, &state),
            (SyncMode::Full, true)
        );
        assert_eq!(planned(SyncMode::Full, &state), (SyncMode::Full, true));
    }

    #[test]
    fn a_reconciliation_resumes_its_own_checkpoint_only() {
        let mut state = watermarked();
        state.checkpoint = Some(checkpoint(SyncMode::Reconcile));
        assert_eq!(
            planned(SyncMode::Reconcile, &state),
            (SyncMode::Reconcile, true)
        );
        assert_eq!(planned(SyncMode::Full, &state), (SyncMode::Full, false));
        assert_eq!(
            planned(SyncMode::Incremental, &state),
            (SyncMode::Incremental, false)
        );
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_honours_retry_after() {
        let s = settings();
        for failures in 1..12 {
            let delay = backoff(&s, failures, None);
            let base = (30.0 * 2f64.powi(failures as i32 - 1)).min(1800.0);
            let secs = delay.as_secs_f64();
            assert!(
                secs >= base * 0.7 - 1e-6 && secs <= base * 1.3 + 1e-6,
                "{failures}: {secs}"
            );
        }
        let long = Duration::from_secs(7200);
        assert_eq!(backoff(&s, 1, Some(long)), long);
    }

    #[test]
    fn polls_come_sooner_after_changes_and_later_when_idle() {
        let s = settings();
        let mut state = SiteState::default();
        assert_eq!(next_interval(&s, &state, 3), Duration::from_secs(150));
        assert_eq!(next_interval(&s, &state, 0), Duration::from_secs(450));
        state.poll_interval_secs = Some(60);
        assert_eq!(next_interval(&s, &state, 3), Duration::from_secs(60));
        state.poll_interval_secs = Some(3000);
        assert_eq!(next_interval(&s, &state, 0), Duration::from_secs(3600));
    }
}
