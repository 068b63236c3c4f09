//! The simulator's clock: wall time at start-up (or a fixed start), plus the
//! real time elapsed since (unless frozen), plus an offset tests advance.
//!
//! Every time-dependent rule of the simulator (token and code expiry, the
//! refresh reuse window, quota windows, mutation timestamps, indexer downtime)
//! reads this clock and nothing else, so a test crosses any time boundary with
//! `advance` instead of sleeping. It must not be used for latency or timeout
//! faults, which are about real time seen by the client.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Milliseconds since the Unix epoch, on the simulator's clock.
pub type Millis = i64;

/// The simulator's clock. Cheap to read from any thread.
#[derive(Debug)]
pub struct Clock {
    start_ms: Millis,
    started: Instant,
    frozen: bool,
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock that starts at `start` and runs with real time, unless `frozen`.
    pub fn new(start: DateTime<Utc>, frozen: bool) -> Self {
        Clock {
            start_ms: start.timestamp_millis(),
            started: Instant::now(),
            frozen,
            offset_ms: AtomicI64::new(0),
        }
    }

    pub fn now_ms(&self) -> Millis {
        let elapsed = if self.frozen {
            0
        } else {
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX / 4)
        };
        self.start_ms + elapsed + self.offset_ms.load(Ordering::SeqCst)
    }

    pub fn now(&self) -> DateTime<Utc> {
        to_datetime(self.now_ms())
    }

    /// Moves the clock forward; the clock never goes back.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

pub(crate) fn to_datetime(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Atlassian's timestamp format: `2025-11-19T05:44:33.959Z`.
pub(crate) fn format_ms(ms: Millis) -> String {
    to_datetime(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whole seconds, as in `X-RateLimit-Reset: 2025-10-08T15:00:00Z`.
pub(crate) fn format_secs(ms: Millis) -> String {
    to_datetime(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn duration_ms(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = Clock::new(start, true);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(format_ms(clock.now_ms()), "2026-01-01T00:01:30.000Z");
        assert_eq!(format_secs(clock.now_ms()), "2026-01-01T00:01:30Z");
    }
}
