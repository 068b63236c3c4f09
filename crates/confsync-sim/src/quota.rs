//! Points metering: Atlassian's one app-wide quota per window (plus optional
//! per-site quotas and a burst limit), the rate-limit headers, 429 decisions,
//! and the bookkeeping that flags requests sent while a `Retry-After` the
//! simulator announced was still running.
//!
//! Pure bookkeeping over the sim clock: it never sleeps and never sees HTTP
//! bodies. Callers hold its mutex only for a call.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::clock::{Millis, format_secs};

/// Why a request was refused with 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitReason {
    /// The app-wide quota: every request of the app is refused.
    Global,
    /// The site's own quota: requests for that site are refused.
    Tenant,
    /// Too many requests in one second.
    Burst,
}

impl LimitReason {
    /// The `RateLimit-Reason` header value.
    pub fn header(self) -> &'static str {
        match self {
            LimitReason::Global => "confluence-quota-global-based",
            LimitReason::Tenant => "confluence-quota-tenant-based",
            LimitReason::Burst => "confluence-burst-based",
        }
    }
}

/// A change to the quota (control API). Unset fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaUpdate {
    /// Points per window.
    pub limit: Option<u64>,
    /// Points left in the current window.
    pub remaining: Option<u64>,
    /// Window length in seconds.
    pub window_secs: Option<u64>,
    /// Per-site points per window; 0 removes the tenant quota.
    pub tenant_limit: Option<u64>,
    /// Requests per second; 0 removes the burst limit.
    pub burst_requests_per_second: Option<u32>,
}

/// The quota as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaSnapshot {
    pub limit: u64,
    pub remaining: u64,
    pub window_secs: u64,
    /// When the current window ends (RFC 3339).
    pub resets_at: String,
    pub tenant_limit: Option<u64>,
    pub burst_requests_per_second: Option<u32>,
}

/// The outcome of admitting a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    Allowed,
    Denied {
        reason: LimitReason,
        retry_after_secs: u64,
    },
}

#[derive(Debug)]
pub(crate) struct Quota {
    limit: u64,
    window_ms: Millis,
    window_start: Millis,
    used: u64,
    tenant_limit: Option<u64>,
    tenant_used: HashMap<usize, u64>,
    burst: Option<u32>,
    burst_second: Millis,
    burst_count: u32,
    /// End of the last global `Retry-After` announced.
    global_retry_until: Millis,
    /// End of the last tenant `Retry-After` announced, per site.
    tenant_retry_until: HashMap<usize, Millis>,
}

impl Quota {
    pub(crate) fn new(
        limit: u64,
        window_secs: u64,
        tenant_limit: Option<u64>,
        burst: Option<u32>,
        now: Millis,
    ) -> Self {
        let window_ms = (window_secs.max(1) * 1000) as Millis;
        Quota {
            limit,
            window_ms,
            window_start: now - now.rem_euclid(window_ms),
            used: 0,
            tenant_limit,
            tenant_used: HashMap::new(),
            burst,
            burst_second: 0,
            burst_count: 0,
            global_retry_until: 0,
            tenant_retry_until: HashMap::new(),
        }
    }

    /// Starts a new window when the clock has passed the current one.
    /// Windows are aligned on the epoch: with 3600 s they reset at the top of
    /// each UTC hour.
    fn roll(&mut self, now: Millis) {
        if now >= self.window_start + self.window_ms || now < self.window_start {
            self.window_start = now - now.rem_euclid(self.window_ms);
            self.used = 0;
            self.tenant_used.clear();
        }
    }

    fn window_end(&self) -> Millis {
        self.window_start + self.window_ms
    }

    fn secs_to_reset(&self, now: Millis) -> u64 {
        let ms = (self.window_end() - now).max(0) as u64;
        ms.div_ceil(1000).max(1)
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Was a `Retry-After` still running for this request's scope?
    pub(crate) fn is_early(&self, site: Option<usize>, now: Millis) -> bool {
        now < self.global_retry_until
            || site.is_some_and(|s| self.tenant_retry_until.get(&s).is_some_and(|t| now < *t))
    }

    /// Decides whether a request may proceed. A denial announces a
    /// `Retry-After` that [`Quota::is_early`] then enforces.
    pub(crate) fn admit(&mut self, site: Option<usize>, now: Millis) -> Admission {
        self.roll(now);
        if let Some(limit) = self.burst {
            let second = now.div_euclid(1000);
            if second != self.burst_second {
                self.burst_second = second;
                self.burst_count = 0;
            }
            self.burst_count += 1;
            if self.burst_count > limit {
                return self.deny(LimitReason::Burst, 1, site, now);
            }
        }
        if self.remaining() == 0 {
            let secs = self.secs_to_reset(now);
            return self.deny(LimitReason::Global, secs, site, now);
        }
        if let (Some(limit), Some(site_index)) = (self.tenant_limit, site)
            && self.tenant_used.get(&site_index).copied().unwrap_or(0) >= limit
        {
            let secs = self.secs_to_reset(now);
            return self.deny(LimitReason::Tenant, secs, site, now);
        }
        Admission::Allowed
    }

    fn deny(
        &mut self,
        reason: LimitReason,
        retry_after_secs: u64,
        site: Option<usize>,
        now: Millis,
    ) -> Admission {
        self.announce_retry_after(reason, retry_after_secs, site, now);
        Admission::Denied {
            reason,
            retry_after_secs,
        }
    }

    /// Records a `Retry-After` sent to the client (by a denial or a fault).
    pub(crate) fn announce_retry_after(
        &mut self,
        reason: LimitReason,
        secs: u64,
        site: Option<usize>,
        now: Millis,
    ) {
        let until = now + (secs * 1000) as Millis;
        match (reason, site) {
            (LimitReason::Tenant, Some(site)) => {
                let entry = self.tenant_retry_until.entry(site).or_insert(0);
                *entry = (*entry).max(until);
            }
            _ => self.global_retry_until = self.global_retry_until.max(until),
        }
    }

    pub(crate) fn charge(&mut self, site: Option<usize>, points: u64, now: Millis) {
        self.roll(now);
        self.used = self.used.saturating_add(points);
        if let Some(site) = site {
            *self.tenant_used.entry(site).or_insert(0) += points;
        }
    }

    /// The headers of every metered response.
    pub(crate) fn headers(&self, site: Option<usize>, now: Millis) -> Vec<(&'static str, String)> {
        let remaining = self.remaining();
        let reset_in = self.secs_to_reset(now);
        let window_secs = self.window_ms / 1000;
        let mut policy = format!("\"global-app-quota\";q={};w={window_secs}", self.limit);
        let mut current = format!("\"global-app-quota\";r={remaining};t={reset_in}");
        if let (Some(limit), Some(site)) = (self.tenant_limit, site) {
            let used = self.tenant_used.get(&site).copied().unwrap_or(0);
            policy.push_str(&format!(", \"tenant-app-quota\";q={limit};w={window_secs}"));
            current.push_str(&format!(
                ", \"tenant-app-quota\";r={};t={reset_in}",
                limit.saturating_sub(used)
            ));
        }
        let mut headers = vec![
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", remaining.to_string()),
            ("X-RateLimit-Reset", format_secs(self.window_end())),
            ("RateLimit-Policy", policy),
            ("RateLimit", current),
        ];
        // "Near limit" below 20 % of the quota left.
        if remaining.saturating_mul(5) < self.limit {
            headers.push(("X-RateLimit-NearLimit", "true".to_owned()));
        }
        headers
    }

    pub(crate) fn update(&mut self, update: &QuotaUpdate, now: Millis) {
        self.roll(now);
        if let Some(window) = update.window_secs {
            self.window_ms = (window.max(1) * 1000) as Millis;
            self.window_start = now - now.rem_euclid(self.window_ms);
        }
        if let Some(limit) = update.limit {
            self.limit = limit;
        }
        if let Some(remaining) = update.remaining {
            self.used = self.limit.saturating_sub(remaining);
        }
        if let Some(tenant) = update.tenant_limit {
            self.tenant_limit = (tenant > 0).then_some(tenant);
        }
        if let Some(burst) = update.burst_requests_per_second {
            self.burst = (burst > 0).then_some(burst);
        }
    }

    pub(crate) fn snapshot(&mut self, now: Millis) -> QuotaSnapshot {
        self.roll(now);
        QuotaSnapshot {
            limit: self.limit,
            remaining: self.remaining(),
            window_secs: (self.window_ms / 1000) as u64,
            resets_at: format_secs(self.window_end()),
            tenant_limit: self.tenant_limit,
            burst_requests_per_second: self.burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Millis = 3_600_000;
    // 2026-01-01T10:30:00Z
    const T: Millis = 1_767_263_400_000;

    #[test]
    fn windows_reset_at_the_top_of_the_hour() {
        let mut q = Quota::new(10, 3600, None, None, T);
        q.charge(None, 10, T);
        assert_eq!(
            q.admit(None, T),
            Admission::Denied {
                reason: LimitReason::Global,
                retry_after_secs: 1800
            }
        );
        assert!(q.is_early(None, T + 1000));
        assert!(q.is_early(Some(3), T + 1000));
        assert!(!q.is_early(None, T + HOUR / 2));
        assert_eq!(q.admit(None, T + HOUR / 2), Admission::Allowed);
        assert_eq!(q.remaining(), 10);
    }

    #[test]
    fn headers_follow_atlassian() {
        let mut q = Quota::new(65_000, 3600, None, None, T);
        q.charge(None, 60_000, T);
        let h: HashMap<_, _> = q.headers(None, T).into_iter().collect();
        assert_eq!(h["X-RateLimit-Limit"], "65000");
        assert_eq!(h["X-RateLimit-Remaining"], "5000");
        assert_eq!(h["X-RateLimit-Reset"], "2026-01-01T11:00:00Z");
        assert_eq!(h["X-RateLimit-NearLimit"], "true");
        assert_eq!(h["RateLimit-Policy"], "\"global-app-quota\";q=65000;w=3600");
        assert_eq!(h["RateLimit"], "\"global-app-quota\";r=5000;t=1800");
    }

    #[test]
    fn tenant_quota_only_blocks_that_site() {
        let mut q = Quota::new(1000, 3600, Some(5), None, T);
        q.charge(Some(0), 5, T);
        assert!(matches!(
            q.admit(Some(0), T),
            Admission::Denied {
                reason: LimitReason::Tenant,
                ..
            }
        ));
        assert_eq!(q.admit(Some(1), T), Admission::Allowed);
        assert!(q.is_early(Some(0), T + 1));
        assert!(!q.is_early(Some(1), T + 1));
    }

    #[test]
    fn burst_limit_counts_per_second() {
        let mut q = Quota::new(1000, 3600, None, Some(2), T);
        assert_eq!(q.admit(None, T), Admission::Allowed);
        assert_eq!(q.admit(None, T + 10), Admission::Allowed);
        assert!(matches!(
            q.admit(None, T + 20),
            Admission::Denied {
                reason: LimitReason::Burst,
                retry_after_secs: 1
            }
        ));
        assert_eq!(q.admit(None, T + 1000), Admission::Allowed);
    }
}
