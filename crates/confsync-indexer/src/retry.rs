//! How long to wait before sending the same batch again: jittered exponential
//! backoff (backon), raised to the indexer's `Retry-After`, capped by a number
//! of attempts and by a total wait. Plus the timer that does the waiting, which
//! tests replace to check the schedule without sleeping.
//!
//! This module decides *when*, never *whether*: which answers are worth a
//! retry is the HTTP client's call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The retry policy of one request (one body, one `Idempotency-Key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff delay. Each later one doubles, up to `max_delay`;
    /// jitter then adds up to as much again, so retries from many workers
    /// spread out.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Attempts per request, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// The longest total wait between the attempts of one request. A wait
    /// that would cross it (a long `Retry-After`, say) ends the retries at
    /// once: the caller gets a transient error carrying the `Retry-After`.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// 0.5 s doubling to 30 s, 8 attempts, at most 2 minutes of waiting.
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: 8,
            max_total_wait: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        if self.min_delay > self.max_delay {
            return Err("retry.min_delay must not exceed retry.max_delay".into());
        }
        Ok(())
    }

    /// A fresh schedule for one request.
    pub(crate) fn schedule(&self) -> Schedule {
        let retries = usize::try_from(self.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        let backoff = ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(retries)
            .build();
        Schedule {
            backoff: Box::new(backoff),
            max_total_wait: self.max_total_wait,
            waited: Duration::ZERO,
        }
    }
}

/// The waits between the attempts of one request.
pub(crate) struct Schedule {
    backoff: Box<dyn Iterator<Item = Duration> + Send>,
    max_total_wait: Duration,
    waited: Duration,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("max_total_wait", &self.max_total_wait)
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}

impl Schedule {
    /// The wait before the next attempt, never shorter than `retry_after`;
    /// `None` once the attempts or the total wait are spent.
    pub(crate) fn next_wait(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let backoff = self.backoff.next()?;
        let wait = retry_after.map_or(backoff, |after| after.max(backoff));
        let waited = self.waited.checked_add(wait)?;
        if waited > self.max_total_wait {
            return None;
        }
        self.waited = waited;
        Some(wait)
    }
}

/// Waits between retries. Production uses [`TokioTimer`]; tests pass one that
/// records the waits and returns at once.
pub trait RetryTimer: Send + Sync + fmt::Debug {
    fn wait(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Waits on tokio's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTimer;

impl RetryTimer for TokioTimer {
    fn wait(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32, max_total_wait_secs: u64) -> RetryPolicy {
        RetryPolicy {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
            max_attempts,
            max_total_wait: Duration::from_secs(max_total_wait_secs),
        }
    }

    #[test]
    fn waits_double_with_jitter_up_to_the_cap() {
        let mut schedule = policy(8, 3600).schedule();
        let waits: Vec<Duration> = std::iter::from_fn(|| schedule.next_wait(None)).collect();
        assert_eq!(waits.len(), 7, "8 attempts are 7 waits: {waits:?}");
        let bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0];
        for (wait, base) in waits.iter().zip(bases) {
            let base = Duration::from_secs_f64(base);
            assert!(
                *wait >= base && *wait <= base * 2,
                "a wait of {wait:?} is outside [{base:?}, 2 × {base:?}]"
            );
        }
    }

    #[test]
    fn retry_after_raises_the_wait() {
        let mut schedule = policy(3, 3600).schedule();
        assert_eq!(
            schedule.next_wait(Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        let wait = schedule.next_wait(Some(Duration::ZERO));
        assert!(
            wait.is_some_and(|w| w >= Duration::from_secs(1)),
            "a zero Retry-After does not shorten the backoff: {wait:?}"
        );
        assert_eq!(schedule.next_wait(None), None, "3 attempts are 2 waits");
    }

    #[test]
    fn a_wait_past_the_total_cap_ends_the_retries() {
        let mut schedule = policy(8, 10).schedule();
        assert_eq!(schedule.next_wait(Some(Duration::from_secs(11))), None);
        let mut schedule = policy(8, 10).schedule();
        assert_eq!(
            schedule.next_wait(Some(Duration::from_secs(6))),
            Some(Duration::from_secs(6))
        );
        assert_eq!(schedule.next_wait(Some(Duration::from_secs(6))), None);
        assert_eq!(
            schedule.next_wait(Some(Duration::from_secs(u64::MAX))),
            None,
            "no overflow on absurd values"
        );
    }

    #[test]
    fn one_attempt_never_waits() {
        assert_eq!(policy(1, 3600).schedule().next_wait(None), None);
    }

    #[test]
    fn policies_are_checked() {
        assert!(RetryPolicy::default().check().is_ok());
        assert!(policy(0, 1).check().is_err());
        let inverted = RetryPolicy {
            min_delay: Duration::from_secs(5),
            ..policy(2, 1)
        };
        assert!(inverted.check().is_err());
    }
}
