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
}

impl Classify for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            StoreError::Redis(_) => ErrorClass::transient(),
            StoreError::Corrupt { .. } | StoreError::Config(_) => ErrorClass::Permanent,
        }
    }
}
