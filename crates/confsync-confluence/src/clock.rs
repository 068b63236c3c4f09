//! Time, passed in: the client reads "now" and waits (backoff delays,
//! `Retry-After`) only through [`Clock`], so a test can drive time with the
//! simulator's clock instead of sleeping.
//!
//! This module must not be bypassed: no other code of the crate calls
//! `Utc::now()` or `tokio::time::sleep`. The one exception is the latency
//! histogram, which measures real elapsed time with a monotonic `Instant`; it
//! is an observation and decides nothing.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A boxed, `Send` future: what the crate's hook traits return, so they stay
/// usable as trait objects (`Arc<dyn TokenSource>`) without a macro crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the client gets the time and how it waits.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time, used for token expiries and `Retry-After`
    /// dates.
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The production clock: the system time and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
