//! The error type of the simulator's Rust API (start-up and control calls).
//!
//! HTTP handlers never return it to clients as-is: each surface maps failures
//! to the status and body the real service would send.

/// Why a simulator call failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind {what}: {source}")]
    Bind {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl SimError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        SimError::NotFound(what.into())
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        SimError::Invalid(what.into())
    }
}
