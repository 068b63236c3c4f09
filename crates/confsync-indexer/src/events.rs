//! The indexer push's events: each one's log line and metric side by side,
//! so call sites read `events::request_retried(..)` and names live in one place.
//!
//! Nothing here logs a document's content, a response body or the token;
//! metric labels come from small fixed sets (`kind`, `op`, `outcome`).

use std::time::Duration;

use crate::batch::BatchItem;
use crate::error::IndexerError;
use crate::metrics::IndexerMetrics;
use crate::report::DeadLetter;

fn request(metrics: &IndexerMetrics, outcome: &'static str) {
    metrics.requests.with_label_values(&[outcome]).inc();
}

/// A batch was accepted (HTTP 2xx, or appended to the JSONL sink).
pub(crate) fn request_ok(metrics: &IndexerMetrics, items: usize, bytes: usize, attempt: u32) {
    request(metrics, "ok");
    tracing::debug!(items, bytes, attempt, "indexer accepted a batch");
}

pub(crate) fn documents_accepted<'a>(
    metrics: &IndexerMetrics,
    items: impl IntoIterator<Item = &'a BatchItem>,
) {
    for item in items {
        metrics
            .documents_pushed
            .with_label_values(&[item.kind_label(), item.op()])
            .inc();
    }
}

/// 408, 429, 5xx or a transport failure; the same batch goes again after `wait`.
pub(crate) fn request_retried(
    metrics: &IndexerMetrics,
    reason: &str,
    attempt: u32,
    wait: Duration,
) {
    request(metrics, "retried");
    tracing::warn!(
        reason,
        attempt,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        "indexer unavailable; retrying the same batch"
    );
}

/// The retry policy is spent: the push fails as transient.
pub(crate) fn request_failed(metrics: &IndexerMetrics, reason: &str, attempts: u32) {
    request(metrics, "failed");
    tracing::warn!(
        reason,
        attempts,
        "indexer unavailable; giving up this push, it will be retried later"
    );
}

/// 400, 413 or 422: the batch is split to isolate what the indexer refuses.
pub(crate) fn request_refused(metrics: &IndexerMetrics, status: u16, items: usize) {
    request(metrics, "rejected");
    tracing::info!(
        status,
        items,
        "indexer refused a batch; isolating the refused documents"
    );
}

/// A failure retrying cannot fix: a refused token, a status outside the
/// contract, a sink that cannot be written.
pub(crate) fn request_stopped(metrics: &IndexerMetrics, error: &IndexerError) {
    request(metrics, "failed");
    tracing::error!(code = error.code(), error = %error, "indexer push stopped");
}

/// An item the indexer refused on its own; the caller stores it for a later
/// retry (and owns the `dead_letters` gauge of what is stored).
pub(crate) fn dead_lettered(letter: &DeadLetter) {
    tracing::warn!(
        id = %letter.item.id(),
        op = letter.item.op(),
        status = letter.status,
        "indexer refused a document; dead-lettered"
    );
}
