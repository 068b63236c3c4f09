//! The crate's one error type and its classification: transient (the caller
//! keeps its watermark and pushes again later) or permanent (an operator must
//! fix the configuration). Refused documents are not errors: they become dead
//! letters in the push report.
//!
//! Messages never contain the token, a document's content or a response body.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use confsync_core::error::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// 408, 429, 5xx, timeouts or connection errors outlasted the retry
    /// policy. Nothing of the failing batch was accepted; earlier batches of
    /// the same push may have been, and pushing them again is harmless (same
    /// body, same `Idempotency-Key`).
    #[error("indexer unavailable after {attempts} attempt(s): {reason}")]
    Unavailable {
        attempts: u32,
        /// A few fixed words: `http 503`, `timed out`, `connection failed`…
        reason: String,
        /// The indexer's last `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// 401 or 403: the indexer does not accept `INDEXER_TOKEN`. No document
    /// is dead-lettered for it: every one of them would fail the same way.
    #[error("the indexer refused the token (http {status}); check INDEXER_TOKEN")]
    TokenRefused { status: u16 },
    /// A status outside the contract (a redirect, 404, 405…): most likely
    /// `INDEXER_URL` points at the wrong place.
    #[error("unexpected answer from the indexer (http {status}); check INDEXER_URL")]
    UnexpectedStatus { status: u16 },
    /// The JSONL sink could not append a push.
    #[error("cannot append to the jsonl sink {}", path.display())]
    Sink {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid indexer configuration: {0}")]
    Config(String),
}

impl IndexerError {
    /// A short, stable label for logs, metrics and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            IndexerError::Unavailable { .. } => "unavailable",
            IndexerError::TokenRefused { .. } => "token_refused",
            IndexerError::UnexpectedStatus { .. } => "unexpected_status",
            IndexerError::Sink { .. } => "sink_io",
            IndexerError::Config(_) => "config_error",
        }
    }
}

impl Classify for IndexerError {
    fn class(&self) -> ErrorClass {
        match self {
            IndexerError::Unavailable { retry_after, .. } => ErrorClass::Transient {
                retry_after: *retry_after,
            },
            IndexerError::Sink { source, .. } if sink_misconfigured(source) => {
                ErrorClass::Permanent
            }
            // A full disk or an interrupted write: the next attempt may succeed.
            IndexerError::Sink { .. } => ErrorClass::transient(),
            IndexerError::TokenRefused { .. }
            | IndexerError::UnexpectedStatus { .. }
            | IndexerError::Config(_) => ErrorClass::Permanent,
        }
    }
}

/// IO errors that mean the sink's path itself is wrong, so retrying cannot help.
fn sink_misconfigured(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::ReadOnlyFilesystem
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailability_is_transient_and_keeps_retry_after() {
        let error = IndexerError::Unavailable {
            attempts: 8,
            reason: "http 503".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            error.class(),
            ErrorClass::Transient {
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(error.code(), "unavailable");
    }

    #[test]
    fn configuration_errors_are_permanent() {
        for error in [
            IndexerError::TokenRefused { status: 401 },
            IndexerError::UnexpectedStatus { status: 404 },
            IndexerError::Config("x".into()),
            IndexerError::Sink {
                path: "/x".into(),
                source: io::Error::from(io::ErrorKind::IsADirectory),
            },
        ] {
            assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
        }
    }

    #[test]
    fn a_failed_write_is_transient() {
        let error = IndexerError::Sink {
            path: "/x".into(),
            source: io::Error::from(io::ErrorKind::StorageFull),
        };
        assert!(error.class().is_transient());
    }
}
