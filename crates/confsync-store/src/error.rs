//! The store's one error type.

use confsync_core::error::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer or refused the command; usually transient.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored value could not be read back (corruption or an incompatible writer).
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("invalid redis configuration: {0}")]
    Config(String),
    /// A token could not be sealed or opened (wrong key, tampering, junk).
    #[error("token vault: {0}")]
    Crypto(&'static str),
    #[error("job queue: {0}")]
    Queue(String),
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Redis(_) | StoreError::Queue(_) => ErrorClass::transient(),
            StoreError::Corrupt { .. } | StoreError::Config(_) => ErrorClass::Permanent,
            // The grant's tokens cannot be read back: only a new consent helps.
            StoreError::Crypto(_) => ErrorClass::NeedsReauth,
        }
    }
}
