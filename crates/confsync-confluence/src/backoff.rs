//! The delays between retries of one request: backon's exponential schedule
//! (doubling, capped, a bounded number of steps) with Atlassian's
//! multiplicative jitter (×0.7–1.3 by default) on top.
//!
//! Only computes durations. Sleeping is the caller's, through the clock.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use rand::Rng as _;

use crate::config::RetryPolicy;

/// The remaining retry delays of one request. `None` once retries ran out.
#[derive(Debug)]
pub(crate) struct Schedule {
    steps: ExponentialBackoff,
    jitter_min: f64,
    jitter_max: f64,
}

impl Schedule {
    pub(crate) fn new(policy: &RetryPolicy) -> Schedule {
        // backon's own jitter only adds (×1–2); Atlassian's recipe spreads
        // both ways, so the schedule is built without it and jittered here.
        let steps = ExponentialBuilder::new()
            .with_min_delay(policy.initial_delay)
            .with_max_delay(policy.max_delay)
            .with_factor(2.0)
            .with_max_times(policy.max_retries)
            .build();
        Schedule {
            steps,
            jitter_min: policy.jitter_min,
            jitter_max: policy.jitter_max,
        }
    }

    /// The next delay, or `None` when no retry is left.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        let base = self.steps.next()?;
        let factor = if self.jitter_min < self.jitter_max {
            rand::thread_rng().gen_range(self.jitter_min..=self.jitter_max)
        } else {
            self.jitter_min
        };
        Some(base.mul_f64(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atlassian_recipe_doubles_to_the_cap_within_jitter() {
        let mut schedule = Schedule::new(&RetryPolicy::ATLASSIAN);
        let bases = [5.0, 10.0, 20.0, 30.0];
        for base in bases {
            let delay = schedule.next_delay().map(|d| d.as_secs_f64());
            assert!(
                delay.is_some_and(|d| d >= base * 0.7 - 1e-6 && d <= base * 1.3 + 1e-6),
                "expected {base} s ×0.7–1.3, got {delay:?}"
            );
        }
        assert_eq!(schedule.next_delay(), None, "at most 4 retries");
    }

    #[test]
    fn no_jitter_is_exact() {
        let policy = RetryPolicy {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(15),
            max_retries: 3,
            jitter_min: 1.0,
            jitter_max: 1.0,
        };
        let mut schedule = Schedule::new(&policy);
        let delays: Vec<_> = std::iter::from_fn(|| schedule.next_delay()).collect();
        assert_eq!(delays, [10, 15, 15].map(Duration::from_millis).to_vec());
    }
}
