//! The Confluence client's points budget in the worker: [`FleetBudget`]
//! implements `confsync_confluence::PointsBudget` on the fleet-wide bucket
//! of `confsync_store::budget`.
//!
//! It decides two things the store does not: how long one request may wait
//! for points in-process (beyond [`FleetBudget`]'s cap the request fails with
//! `BudgetError::Exhausted`, so its job is rescheduled instead of holding a
//! worker slot), and what Atlassian's rate-limit headers mean for the budget
//! (a 429's `Retry-After` pauses the fleet, or only the site for a tenant
//! reason; `X-RateLimit-Remaining`, or the structured `RateLimit` header's
//! `r`, corrects the window).
//!
//! It must not sleep but through the [`Clock`], and never holds anything
//! across its waits: the store is asked again after each one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_confluence::{
    BoxFuture, BudgetError, Clock, PointsBudget, Priority, QuotaPolicy, QuotaState,
    RateLimitHeaders, RateLimitReason, Reservation,
};
use confsync_core::CloudId;
use confsync_runtime::Settings;
use confsync_runtime::settings::{BudgetSettings, SettingsError};
use confsync_store::Store;
use confsync_store::budget::{
    self as store_budget, Budget, BudgetConfig, Decision, Observation, Pause, PauseScope,
};
use prometheus::IntGauge;

use crate::WorkerError;

/// A 429 without `Retry-After` pauses for the first step of Atlassian's
/// backoff recipe (5 s doubling to 30 s).
const PAUSE_WITHOUT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Most times one reservation asks the store. Each answer is an estimate of
/// when the points will be there, so a handful suffice; the cap only stops a
/// pathological loop of tiny waits.
const MAX_ASKS: usize = 1000;

/// The fleet budget as the Confluence client sees it. Cheap to clone.
#[derive(Clone)]
pub struct FleetBudget {
    budget: Budget,
    clock: Arc<dyn Clock>,
    max_wait: Duration,
}

impl std::fmt::Debug for FleetBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBudget")
            .field("budget", &self.budget)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl FleetBudget {
    /// Waits (on `clock`) at most `max_wait` in all for one reservation.
    pub fn new(budget: Budget, clock: Arc<dyn Clock>, max_wait: Duration) -> FleetBudget {
        FleetBudget {
            budget,
            clock,
            max_wait,
        }
    }

    /// The worker's budget: `budget.*` settings over an hourly window, the
    /// same in-process wait cap as the client's `Retry-After`s
    /// (`atlassian.max_in_request_wait_secs`), published to `gauge`
    /// (`confsync_budget_points_available`).
    pub fn from_settings(
        settings: &Settings,
        store: Store,
        clock: Arc<dyn Clock>,
        gauge: IntGauge,
    ) -> Result<FleetBudget, WorkerError> {
        let config = budget_config(&settings.budget)?;
        let budget = Budget::new(store, config)?.with_gauge(gauge);
        let max_wait = Duration::from_secs(settings.atlassian.max_in_request_wait_secs);
        Ok(FleetBudget::new(budget, clock, max_wait))
    }

    /// The store's budget underneath.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    async fn reserve_points(
        &self,
        site: &CloudId,
        points: u64,
        priority: Priority,
    ) -> Result<Reservation, BudgetError> {
        let lane = lane(priority);
        let mut waited = Duration::ZERO;
        let mut last_wait = Duration::ZERO;
        for _ in 0..MAX_ASKS {
            let decision = self
                .budget
                .reserve(site, points, lane, self.clock.now())
                .await
                .map_err(|e| BudgetError::Unavailable(e.to_string()))?;
            match decision {
                Decision::Granted { ticket } => {
                    return Ok(Reservation {
                        cloud_id: site.clone(),
                        points,
                        priority,
                        ticket,
                    });
                }
                Decision::Wait { retry_in, reason } => {
                    last_wait = retry_in;
                    if waited + retry_in > self.max_wait {
                        events::gave_up(site, priority, retry_in, reason);
                        break;
                    }
                    waited += retry_in;
                    self.clock.sleep(retry_in).await;
                }
            }
        }
        // Leave the line so this site holds back nobody while its job waits
        // to be rescheduled. Failing to is harmless: the place expires.
        if let Err(error) = self.budget.withdraw(site, lane).await {
            events::withdraw_failed(site, &error);
        }
        Err(BudgetError::Exhausted {
            retry_after: last_wait,
        })
    }

    async fn settle_points(
        &self,
        reservation: Reservation,
        actual_points: u64,
        observed: &RateLimitHeaders,
    ) {
        let now = self.clock.now();
        let observation = observation(observed, now);
        let result = self
            .budget
            .settle(
                &reservation.cloud_id,
                reservation.ticket,
                actual_points,
                &observation,
                now,
            )
            .await;
        if let Err(error) = result {
            // The reservation expires as spent; the pause, if any, is still
            // kept by the client's own gate for this process.
            events::settle_failed(&reservation.cloud_id, &error);
        }
    }
}

impl PointsBudget for FleetBudget {
    fn reserve<'a>(
        &'a self,
        cloud_id: &'a CloudId,
        worst_case_points: u64,
        priority: Priority,
    ) -> BoxFuture<'a, Result<Reservation, BudgetError>> {
        Box::pin(self.reserve_points(cloud_id, worst_case_points, priority))
    }

    fn settle<'a>(
        &'a self,
        reservation: Reservation,
        actual_points: u64,
        observed: &'a RateLimitHeaders,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.settle_points(reservation, actual_points, observed))
    }
}

/// The store's budget parameters for the `budget.*` settings, refusing
/// values that would let the fleet overrun Atlassian's hourly quota.
pub fn budget_config(settings: &BudgetSettings) -> Result<BudgetConfig, SettingsError> {
    let config = BudgetConfig::new(
        settings.points_per_hour,
        BudgetConfig::HOUR,
        settings.headroom_fraction,
        settings.burst_points,
    );
    let invalid = |key: &str, message: String| SettingsError::Invalid {
        key: key.to_owned(),
        message,
    };
    if settings.burst_points == 0 {
        return Err(invalid("budget.burst_points", "must be positive".into()));
    }
    if settings.burst_points as f64 > config.headroom_points() {
        return Err(invalid(
            "budget.burst_points",
            format!(
                "must not exceed points_per_hour × headroom_fraction ({:.0}): a full burst \
                 right after Atlassian's hourly reset could overrun the quota",
                config.headroom_points()
            ),
        ));
    }
    config
        .validate()
        .map_err(|error| invalid("budget", error.to_string()))?;
    Ok(config)
}

/// The store's name for a priority.
fn lane(priority: Priority) -> store_budget::Priority {
    match priority {
        Priority::Incremental => store_budget::Priority::Incremental,
        Priority::Full => store_budget::Priority::Full,
        Priority::Reconcile => store_budget::Priority::Reconcile,
    }
}

/// What an answer's rate-limit headers tell the budget, read at `now`.
///
/// The app-wide count comes from `X-RateLimit-Remaining`/`-Reset`, else from
/// the `global-app-quota` item of `RateLimit` (`r`, `t` seconds from now).
/// `Beta-` values are used too: they describe the same quota, and being
/// careful early costs little. Only a 429 pauses anything: a global, burst or
/// unknown reason pauses the fleet (as the client's own gate does), a tenant
/// reason only the site.
pub fn observation(headers: &RateLimitHeaders, now: DateTime<Utc>) -> Observation {
    let current = global(&headers.current, |q: &QuotaState| q.name.as_str());
    let policy = global(&headers.policy, |q: &QuotaPolicy| q.name.as_str());
    let remaining = headers
        .remaining
        .or_else(|| current.and_then(|q| q.remaining));
    let resets_at = headers.reset.or_else(|| {
        current
            .and_then(|q| q.reset_secs)
            .map(|secs| later(now, Duration::from_secs(secs)))
    });
    let limit = headers.limit.or_else(|| policy.and_then(|q| q.quota));
    let pause = (headers.status == 429).then(|| {
        let reason = headers.reason.unwrap_or(RateLimitReason::Unknown);
        Pause {
            scope: if reason.is_site_only() {
                PauseScope::Site
            } else {
                PauseScope::Fleet
            },
            until: later(
                now,
                headers.retry_after.unwrap_or(PAUSE_WITHOUT_RETRY_AFTER),
            ),
        }
    });
    Observation {
        remaining,
        limit,
        resets_at,
        near_limit: headers.near_limit,
        pause,
    }
}

/// The app-wide item of a structured header: the one named for the global
/// quota, never a tenant's.
fn global<T>(items: &[T], name: impl Fn(&T) -> &str) -> Option<&T> {
    items.iter().find(|item| name(item).contains("global"))
}

/// `now + by`, saturating (a hostile `Retry-After` must not overflow; the
/// store clamps pauses to one window anyway).
fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Log lines of the adapter's events.
mod events {
    use std::time::Duration;

    use confsync_confluence::Priority;
    use confsync_core::CloudId;
    use confsync_store::StoreError;
    use confsync_store::budget::WaitReason;

    pub(super) fn gave_up(
        site: &CloudId,
        priority: Priority,
        retry_in: Duration,
        reason: WaitReason,
    ) {
        tracing::info!(
            site = %site,
            %priority,
            %reason,
            retry_in_secs = retry_in.as_secs(),
            "points budget: waiting longer than allowed; the job will be rescheduled"
        );
    }

    pub(super) fn withdraw_failed(site: &CloudId, error: &StoreError) {
        tracing::debug!(site = %site, %error, "points budget: could not leave the line; it expires");
    }

    pub(super) fn settle_failed(site: &CloudId, error: &StoreError) {
        tracing::warn!(
            site = %site,
            %error,
            "points budget: could not settle a reservation; it expires as spent"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone as _;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap()
    }

    fn settings(points_per_hour: u64, headroom_fraction: f64, burst_points: u64) -> BudgetSettings {
        BudgetSettings {
            points_per_hour,
            headroom_fraction,
            burst_points,
        }
    }

    #[test]
    fn the_shipped_settings_make_a_valid_hourly_budget() {
        let config = budget_config(&settings(65_000, 0.1, 2000)).unwrap();
        assert_eq!(config.window, BudgetConfig::HOUR);
        assert!((config.capacity() - 58_500.0).abs() < 1e-6);
    }

    #[test]
    fn a_burst_beyond_the_headroom_is_refused_by_key() {
        let error = budget_config(&settings(65_000, 0.01, 2000)).unwrap_err();
        assert!(error.to_string().contains("budget.burst_points"), "{error}");
        let error = budget_config(&settings(65_000, 0.1, 0)).unwrap_err();
        assert!(error.to_string().contains("budget.burst_points"), "{error}");
    }

    #[test]
    fn the_counts_come_from_the_x_headers_first() {
        let headers = RateLimitHeaders {
            status: 200,
            limit: Some(65_000),
            remaining: Some(5_000),
            reset: Some(now() + chrono::Duration::minutes(30)),
            near_limit: true,
            current: vec![QuotaState {
                name: "global-app-quota".into(),
                remaining: Some(9_999),
                reset_secs: Some(60),
            }],
            ..RateLimitHeaders::default()
        };
        let observed = observation(&headers, now());
        assert_eq!(observed.remaining, Some(5_000));
        assert_eq!(observed.limit, Some(65_000));
        assert_eq!(
            observed.resets_at,
            Some(now() + chrono::Duration::minutes(30))
        );
        assert!(observed.near_limit);
        assert_eq!(observed.pause, None);
    }

    #[test]
    fn the_structured_header_fills_in_with_the_global_item_only() {
        let headers = RateLimitHeaders {
            status: 200,
            current: vec![
                QuotaState {
                    name: "tenant-app-quota".into(),
                    remaining: Some(10),
                    reset_secs: Some(5),
                },
                QuotaState {
                    name: "global-app-quota".into(),
                    remaining: Some(11_000),
                    reset_secs: Some(600),
                },
            ],
            policy: vec![QuotaPolicy {
                name: "global-app-quota".into(),
                quota: Some(65_000),
                window_secs: Some(3600),
            }],
            beta: true,
            ..RateLimitHeaders::default()
        };
        let observed = observation(&headers, now());
        assert_eq!(observed.remaining, Some(11_000));
        assert_eq!(observed.limit, Some(65_000));
        assert_eq!(
            observed.resets_at,
            Some(now() + chrono::Duration::seconds(600))
        );
    }

    #[test]
    fn a_429_pauses_the_fleet_unless_the_tenant_is_to_blame() {
        let limited = |reason: Option<RateLimitReason>, retry_after: Option<u64>| {
            let headers = RateLimitHeaders {
                status: 429,
                reason,
                retry_after: retry_after.map(Duration::from_secs),
                ..RateLimitHeaders::default()
            };
            observation(&headers, now()).pause.unwrap()
        };
        let global = limited(Some(RateLimitReason::Global), Some(1847));
        assert_eq!(global.scope, PauseScope::Fleet);
        assert_eq!(global.until, now() + chrono::Duration::seconds(1847));
        let tenant = limited(Some(RateLimitReason::Tenant), Some(30));
        assert_eq!(tenant.scope, PauseScope::Site);
        let bare = limited(None, None);
        assert_eq!(bare.scope, PauseScope::Fleet);
        assert_eq!(bare.until, now() + chrono::Duration::seconds(5));
        let hostile = limited(Some(RateLimitReason::Burst), Some(u64::MAX));
        assert_eq!(hostile.until, DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn other_failures_pause_nothing() {
        let headers = RateLimitHeaders {
            status: 503,
            retry_after: Some(Duration::from_secs(120)),
            ..RateLimitHeaders::default()
        };
        assert_eq!(observation(&headers, now()).pause, None);
    }

    #[test]
    fn priorities_keep_their_order_in_the_store() {
        let order = [Priority::Reconcile, Priority::Full, Priority::Incremental].map(lane);
        assert!(order.windows(2).all(|w| w[0] < w[1]));
    }
}
