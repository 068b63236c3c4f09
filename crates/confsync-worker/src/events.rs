//! The worker's events: each one's log line and metric side by side, so call
//! sites read `events::run_finished(..)` and the names live in one place.
//! Nothing here logs a token, a document's content or a secret; content ids
//! appear in logs (never in metric labels).

use std::time::Duration;

use confsync_core::jobs::{SyncMode, SyncTrigger};
use confsync_core::{CloudId, ContentKind, GrantId};
use confsync_store::StoreError;
use confsync_store::sites::{CrawlCounters, CrawlStage};

use crate::WorkerMetrics;

/// A job ended: `outcome` is `completed`, `coalesced`, `interrupted`,
/// `retry`, `inactive`, `failed` or `needs_reauth`.
pub(crate) fn run_finished(
    metrics: &WorkerMetrics,
    site: &CloudId,
    mode: SyncMode,
    outcome: &'static str,
    took: Duration,
    counters: &CrawlCounters,
) {
    metrics
        .sync_runs
        .with_label_values(&[mode.as_str(), outcome])
        .inc();
    if outcome != "coalesced" && outcome != "inactive" {
        metrics
            .sync_duration
            .with_label_values(&[mode.as_str()])
            .observe(took.as_secs_f64());
    }
    tracing::info!(
        site = %site,
        mode = mode.as_str(),
        outcome,
        took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        seen = counters.seen,
        pushed = counters.pushed,
        unchanged = counters.unchanged,
        deleted = counters.deleted,
        dead_lettered = counters.dead_lettered,
        skipped = counters.skipped,
        points = counters.points,
        "sync run finished"
    );
}

/// A full crawl or reconciliation walked the whole site.
pub(crate) fn crawl_finished(site: &CloudId, mode: SyncMode, counters: &CrawlCounters) {
    tracing::info!(
        site = %site,
        mode = mode.as_str(),
        seen = counters.seen,
        pushed = counters.pushed,
        deleted = counters.deleted,
        "site walked to the end; watermarks set"
    );
}

/// A redelivery or a purge ended.
pub(crate) fn upkeep_finished(site: &CloudId, mode: SyncMode, counters: &CrawlCounters) {
    tracing::info!(
        site = %site,
        mode = mode.as_str(),
        pushed = counters.pushed,
        deleted = counters.deleted,
        dead_lettered = counters.dead_lettered,
        skipped = counters.skipped,
        "{}",
        match mode {
            SyncMode::Purge => "site purged from the index; its crawl state is forgotten",
            _ => "dead letters redelivered",
        }
    );
}

/// A dead letter whose stored item cannot be read back; it stays listed.
pub(crate) fn letter_not_redelivered(site: &CloudId, document: &str, reason: &str) {
    tracing::warn!(site = %site, document, reason, "a dead letter cannot be redelivered; it stays in the list");
}

/// A full crawl or reconciliation reads its next listing (or sweeps).
pub(crate) fn stage_started(site: &CloudId, mode: SyncMode, stage: CrawlStage) {
    tracing::info!(site = %site, mode = mode.as_str(), stage = stage.as_str(), "crawl stage started");
}

/// Every few thousand items of a run.
pub(crate) fn progress(site: &CloudId, mode: SyncMode, counters: &CrawlCounters) {
    tracing::info!(
        site = %site,
        mode = mode.as_str(),
        seen = counters.seen,
        pushed = counters.pushed,
        unchanged = counters.unchanged,
        points = counters.points,
        "crawl progress"
    );
}

/// Documents not pushed because nothing in them changed.
pub(crate) fn unchanged(metrics: &WorkerMetrics, count: u64) {
    metrics.indexer.documents_unchanged.inc_by(count);
}

pub(crate) fn dead_lettered(site: &CloudId, document: &str, status: u16, reason: &str) {
    tracing::warn!(
        site = %site,
        document,
        status,
        reason,
        "the indexer refused a document; it is in the dead-letter list"
    );
}

/// An item could not be placed exactly yet; it is built at its stream's end.
pub(crate) fn deferred(site: &CloudId, kind: ContentKind, id: &str) {
    tracing::debug!(site = %site, kind = kind.as_str(), id, "item set aside until its stream ends");
}

/// A stream's end: the items it set aside are built now.
pub(crate) fn building_deferred(site: &CloudId, kind: ContentKind, count: u64) {
    tracing::info!(site = %site, kind = kind.as_str(), count, "building the items set aside until their stream ended");
}

/// An item that will not be indexed (malformed, or its page is not).
pub(crate) fn skipped(site: &CloudId, kind: ContentKind, id: &str, reason: &str) {
    tracing::info!(site = %site, kind = kind.as_str(), id, reason, "item skipped");
}

pub(crate) fn coalesced(site: &CloudId, mode: SyncMode, trigger: SyncTrigger) {
    tracing::info!(
        site = %site,
        mode = mode.as_str(),
        ?trigger,
        "the site is already crawling; job coalesced"
    );
}

pub(crate) fn followup_queued(site: &CloudId, mode: SyncMode) {
    tracing::info!(site = %site, mode = mode.as_str(), "coalesced job queued after the crawl");
}

pub(crate) fn followup_lost(site: &CloudId, error: &StoreError) {
    tracing::warn!(site = %site, %error, "could not queue a coalesced job; the scheduler will");
}

pub(crate) fn retrying(site: &CloudId, mode: SyncMode, error: &str, delay: Duration) {
    tracing::warn!(
        site = %site,
        mode = mode.as_str(),
        error,
        retry_in_secs = delay.as_secs(),
        "sync failed; it will be retried"
    );
}

pub(crate) fn failed(site: &CloudId, mode: SyncMode, error: &str) {
    tracing::error!(
        site = %site,
        mode = mode.as_str(),
        error,
        "sync failed and will not be retried; the next planned sync tries again"
    );
}

pub(crate) fn needs_reauth(grant: &GrantId, site: &CloudId, error: &str) {
    tracing::error!(
        grant = %grant,
        site = %site,
        error,
        "the grant needs a new consent; its sites stop syncing"
    );
}

pub(crate) fn requeue_failed(site: &CloudId, error: &StoreError) {
    tracing::error!(site = %site, %error, "could not queue the job again; the scheduler will plan it");
}

pub(crate) fn state_not_saved(site: &CloudId, error: &dyn std::error::Error) {
    tracing::warn!(site = %site, %error, "could not record the site's state");
}

pub(crate) fn lease_lost(site: &CloudId) {
    tracing::warn!(site = %site, "the crawl lease was lost; stopping at once");
}

/// One planning pass of the scheduler.
pub(crate) fn planned(report: &crate::scheduler::PlanReport) {
    if report.queued() > 0 || report.held_for_budget > 0 {
        tracing::info!(
            incremental = report.incremental,
            full = report.full,
            reconcile = report.reconcile,
            followups = report.followups,
            held_for_budget = report.held_for_budget,
            "scheduler planned syncs"
        );
    }
}
