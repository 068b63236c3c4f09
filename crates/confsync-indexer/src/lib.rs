//! The AINexLayer indexer client: the only crate that talks to the indexer.
//!
//! [`Indexer::push`] takes a [`BatchRequest`] of any size and delivers it to
//! the configured target: AINexLayer's HTTP indexer (bounded batches, retries
//! with the same `Idempotency-Key`, refused documents isolated into dead
//! letters) or a local JSONL file. A push either accounts for every item, as
//! accepted or dead-lettered in its [`PushReport`], or fails with an
//! [`IndexerError`] that says whether to retry; nothing is dropped silently.
//! [`Batcher`] packs a stream of documents into bounded batches for callers
//! that push while they crawl.
//!
//! This crate never decides what to push, never stores dead letters (the
//! caller does), and never logs a document's content or the token.

mod batch;
mod error;
mod events;
mod http;
mod jsonl;
pub mod metrics;
mod refusal;
mod report;
mod retry;
mod split;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use confsync_core::document::BatchRequest;
use secrecy::SecretString;
use url::Url;

pub use crate::batch::{BatchItem, BatchLimits, Batcher, DeleteKind};
pub use crate::error::IndexerError;
pub use crate::http::idempotency_key;
use crate::http::{HttpIndexer, HttpSettings};
use crate::jsonl::JsonlSink;
use crate::metrics::IndexerMetrics;
pub use crate::report::{DeadLetter, PushReport};
pub use crate::retry::{RetryPolicy, RetryTimer, TokioTimer};

/// Where documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexerTarget {
    /// AINexLayer's indexer: the base URL, to which `/v1/documents/batch` is appended.
    Http(Url),
    /// A local JSONL file, one operation per line, appended.
    File(PathBuf),
}

/// Everything the indexer client needs; the binaries build it from settings.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    pub target: IndexerTarget,
    /// The HTTP indexer's bearer token; unused by the file sink.
    pub token: SecretString,
    pub limits: BatchLimits,
    /// Whole-request timeout (connect, send, answer), per attempt.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

/// The indexer client; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Indexer {
    target: Arc<Target>,
    limits: BatchLimits,
}

enum Target {
    Http(HttpIndexer),
    File(JsonlSink),
}

impl fmt::Debug for Indexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target.as_ref() {
            Target::Http(http) => f.debug_tuple("Indexer").field(http).finish(),
            Target::File(sink) => f.debug_tuple("Indexer").field(sink).finish(),
        }
    }
}

impl Indexer {
    /// Checks `config` and builds the client for its target. Fails only on
    /// bad configuration ([`IndexerError::Config`]); nothing is sent yet.
    pub fn new(config: IndexerConfig, metrics: IndexerMetrics) -> Result<Self, IndexerError> {
        Self::with_timer(config, metrics, Arc::new(TokioTimer))
    }

    /// Like [`Indexer::new`], with the timer that waits between retries
    /// (tests pass one that records the waits instead of sleeping).
    pub fn with_timer(
        config: IndexerConfig,
        metrics: IndexerMetrics,
        timer: Arc<dyn RetryTimer>,
    ) -> Result<Self, IndexerError> {
        config.limits.check().map_err(IndexerError::Config)?;
        config.retry.check().map_err(IndexerError::Config)?;
        if config.request_timeout.is_zero() {
            return Err(IndexerError::Config(
                "request_timeout must be positive".into(),
            ));
        }
        let target = match config.target {
            IndexerTarget::Http(base) => Target::Http(HttpIndexer::new(
                HttpSettings {
                    base,
                    token: config.token,
                    limits: config.limits,
                    request_timeout: config.request_timeout,
                    retry: config.retry,
                    timer,
                },
                metrics,
            )?),
            IndexerTarget::File(path) => Target::File(JsonlSink::new(path, metrics)?),
        };
        Ok(Indexer {
            target: Arc::new(target),
            limits: config.limits,
        })
    }

    /// The batch bounds this indexer enforces, for a caller's [`Batcher`].
    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// Delivers every upsert and delete of `batch` (any size: it is packed
    /// into bounded batches, upserts first, in order).
    ///
    /// `Ok` means each item was accepted or is in the report's dead letters.
    /// `Err` means the push stopped: a transient error (the indexer stayed
    /// unavailable) or a permanent one (configuration). Batches before the
    /// failing one may have been accepted; push the whole request again
    /// later: accepted items are harmless to resend, and refused ones are
    /// found again. An empty batch sends nothing.
    #[tracing::instrument(
        name = "indexer_push",
        skip_all,
        fields(upserts = batch.upserts.len(), deletes = batch.deletes.len())
    )]
    pub async fn push(&self, batch: BatchRequest) -> Result<PushReport, IndexerError> {
        if batch.is_empty() {
            return Ok(PushReport::default());
        }
        match self.target.as_ref() {
            Target::Http(http) => http.push(batch).await,
            Target::File(sink) => sink.push(batch).await,
        }
    }
}
