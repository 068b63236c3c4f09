//! The points hook: every request reserves its worst-case cost before it is
//! sent and settles the real cost, with the rate-limit headers it saw, after.
//!
//! The fleet-wide budget lives in the worker (Redis); this module states the
//! contract, the priorities and the cost arithmetic, and provides
//! [`Unmetered`] for tools and tests. It never sleeps or talks to anything.

use std::fmt;
use std::time::Duration;

use confsync_core::CloudId;

use crate::clock::BoxFuture;
use crate::ratelimit::RateLimitHeaders;

/// Who is asking, for the budget's fair share. Ordered: a higher priority
/// is served first (`Incremental > Full > Reconcile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Periodic id-only listings that catch what the streams cannot see.
    Reconcile,
    /// A full crawl (first connect, operator request, missing watermark).
    Full,
    /// Incremental polls and deletion checks: small, and what keeps the
    /// index fresh.
    Incremental,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Reconcile => "reconcile",
            Priority::Full => "full",
            Priority::Incremental => "incremental",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Points granted for one request. Built by the budget, handed back to it
/// by `settle` exactly once, whatever the request's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation must be settled"]
pub struct Reservation {
    pub cloud_id: CloudId,
    /// The worst case that was reserved.
    pub points: u64,
    pub priority: Priority,
    /// The budget's own handle for this reservation (0 when it needs none).
    pub ticket: u64,
}

/// Why the budget refused to reserve.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BudgetError {
    /// Not enough points now; try again after `retry_after`.
    #[error("points budget exhausted; retry in {}s", retry_after.as_secs())]
    Exhausted { retry_after: Duration },
    /// The budget's store is unreachable.
    #[error("points budget unavailable: {0}")]
    Unavailable(String),
}

/// The fleet's points budget, as the client sees it.
///
/// The client settles every reservation it made, whatever the outcome; only
/// a request future dropped between the two calls (a cancelled job) leaves a
/// reservation unsettled, so implementations should let reservations expire.
pub trait PointsBudget: Send + Sync {
    /// Reserves `worst_case_points` for one request to `cloud_id`. May wait
    /// until the points are there, or refuse.
    fn reserve<'a>(
        &'a self,
        cloud_id: &'a CloudId,
        worst_case_points: u64,
        priority: Priority,
    ) -> BoxFuture<'a, Result<Reservation, BudgetError>>;

    /// Settles a reservation with the points the request really cost and the
    /// rate-limit headers of its answer (also for 429s and failures).
    fn settle<'a>(
        &'a self,
        reservation: Reservation,
        actual_points: u64,
        observed: &'a RateLimitHeaders,
    ) -> BoxFuture<'a, ()>;
}

/// A budget that grants everything and records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unmetered;

impl PointsBudget for Unmetered {
    fn reserve<'a>(
        &'a self,
        cloud_id: &'a CloudId,
        worst_case_points: u64,
        priority: Priority,
    ) -> BoxFuture<'a, Result<Reservation, BudgetError>> {
        let reservation = Reservation {
            cloud_id: cloud_id.clone(),
            points: worst_case_points,
            priority,
            ticket: 0,
        };
        Box::pin(std::future::ready(Ok(reservation)))
    }

    fn settle<'a>(
        &'a self,
        _reservation: Reservation,
        _actual_points: u64,
        _observed: &'a RateLimitHeaders,
    ) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Atlassian's cost of a request: 1, plus `weight` per object returned
/// (1 for pages, blog posts, spaces, comments and labels; 2 for users).
pub(crate) fn cost(objects: u64, weight: u64) -> u64 {
    objects.saturating_mul(weight).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_outranks_full_which_outranks_reconcile() {
        assert!(Priority::Incremental > Priority::Full);
        assert!(Priority::Full > Priority::Reconcile);
    }

    #[test]
    fn a_request_costs_one_plus_its_objects() {
        assert_eq!(cost(250, 1), 251);
        assert_eq!(cost(1, 2), 3);
        assert_eq!(cost(0, 2), 1);
        assert_eq!(cost(u64::MAX, 2), u64::MAX);
    }
}
