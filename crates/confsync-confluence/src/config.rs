//! The client's settings, passed in explicitly by the binaries (which read
//! them from `config/`): API base, timeouts, the retry recipe, how long one
//! request may wait for a `Retry-After`, and the expired-token margin.
//!
//! Plain data and validation; nothing here reads the environment or files.
//! [`ClientConfig::atlassian`] spells out Atlassian's documented recipe so
//! the numbers have one home in code, next to why they are what they are.

use std::time::Duration;

use url::Url;

use crate::error::ConfluenceError;
use crate::query::Limit;

/// 50 keeps even pages with megabyte bodies well inside the gateway's time
/// limit while costing few extra requests.
const FALLBACK_LIMIT: Limit = match Limit::new(50) {
    Some(limit) => limit,
    // Evaluated at compile time: 50 is within 1..=250.
    None => panic!("the fallback limit must be within 1..=250"),
};

/// Jittered exponential backoff between retries of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The first delay.
    pub initial_delay: Duration,
    /// Delays double up to this cap.
    pub max_delay: Duration,
    /// Retries after the first attempt (so `max_retries + 1` attempts).
    pub max_retries: usize,
    /// Each delay is multiplied by a random factor in
    /// `jitter_min..=jitter_max`.
    pub jitter_min: f64,
    pub jitter_max: f64,
}

impl RetryPolicy {
    /// Atlassian's recipe: 5 s doubling to a 30 s cap, at most 4 retries,
    /// jitter ×0.7–1.3.
    pub const ATLASSIAN: RetryPolicy = RetryPolicy {
        initial_delay: Duration::from_secs(5),
        max_delay: Duration::from_secs(30),
        max_retries: 4,
        jitter_min: 0.7,
        jitter_max: 1.3,
    };

    fn validate(&self) -> Result<(), ConfluenceError> {
        let jitter_ok = self.jitter_min.is_finite()
            && self.jitter_max.is_finite()
            && self.jitter_min > 0.0
            && self.jitter_min <= self.jitter_max;
        if !jitter_ok {
            return Err(ConfluenceError::Config(
                "retry jitter must satisfy 0 < jitter_min <= jitter_max".into(),
            ));
        }
        if self.initial_delay > self.max_delay {
            return Err(ConfluenceError::Config(
                "retry initial_delay must not exceed max_delay".into(),
            ));
        }
        Ok(())
    }
}

/// Everything the client needs besides its hooks.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.atlassian.com` (or the simulator).
    pub api_url: Url,
    /// Whole-request timeout (connect, headers and body).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// The longest `Retry-After` one request waits out. Longer ones end the
    /// request with [`ConfluenceError::RateLimited`] so the job can be
    /// rescheduled instead of holding a worker.
    pub max_in_request_wait: Duration,
    /// A 404 (v2) or 403 (v1) this close to the token's stored expiry, or
    /// after it, is read as the gateway's expired-token quirk (refresh and
    /// retry once). Covers clock skew between us and Atlassian.
    pub expiry_margin: Duration,
    /// The `limit` of a new chain after a first page failed with 504 at a
    /// larger limit (see [`crate::Listing`]).
    pub gateway_timeout_fallback_limit: Limit,
}

impl ClientConfig {
    /// Atlassian's documented retry recipe, a 30 s request timeout, a 60 s
    /// in-request wait cap, a 60 s expiry margin and a fallback limit of 50.
    pub fn atlassian(api_url: Url) -> ClientConfig {
        ClientConfig {
            api_url,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::ATLASSIAN,
            max_in_request_wait: Duration::from_secs(60),
            expiry_margin: Duration::from_secs(60),
            gateway_timeout_fallback_limit: FALLBACK_LIMIT,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfluenceError> {
        if !matches!(self.api_url.scheme(), "http" | "https") || self.api_url.host().is_none() {
            return Err(ConfluenceError::Config(
                "api_url must be an absolute http(s) url".into(),
            ));
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(ConfluenceError::Config("timeouts must be positive".into()));
        }
        self.retry.validate()
    }
}
