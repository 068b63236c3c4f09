//! Error classes. Every failure the worker can meet is sorted into one of
//! these, and the job handler maps the class to retry, dead-letter or
//! re-consent in a single `match`.

use std::time::Duration;

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying, after `retry_after` when the other side said so.
    Transient { retry_after: Option<Duration> },
    /// Retrying will not help (bad input, configuration error, 4xx).
    Permanent,
    /// The grant's tokens are dead: the user must consent again.
    NeedsReauth,
}

impl ErrorClass {
    pub const fn transient() -> Self {
        ErrorClass::Transient { retry_after: None }
    }

    pub fn is_transient(self) -> bool {
        matches!(self, ErrorClass::Transient { .. })
    }

    /// A short, fixed label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient { .. } => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::NeedsReauth => "needs_reauth",
        }
    }
}

/// Implemented by every library error type that can reach a job handler.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}
