//! The in-process record of running `Retry-After`s: after a 429, no request
//! of this process goes to the affected scope (the whole app for a global,
//! burst or unknown reason; the site for a tenant reason) before it runs
//! out.
//!
//! Short critical sections on a std mutex, never held across `.await`. The
//! fleet-wide pause across replicas is the points budget's job; this gate
//! only keeps one process honest.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::CloudId;

use crate::ratelimit::RateLimitReason;

#[derive(Debug, Clone, Copy)]
struct Block {
    until: DateTime<Utc>,
    reason: RateLimitReason,
}

#[derive(Debug, Default)]
pub(crate) struct RateGate {
    app: Mutex<Option<Block>>,
    sites: Mutex<HashMap<CloudId, Block>>,
}

/// A wait still to be served before a request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wait {
    pub duration: Duration,
    pub reason: RateLimitReason,
}

impl RateGate {
    /// Records a `Retry-After` received at `now` for `site`.
    pub(crate) fn block(
        &self,
        site: &CloudId,
        reason: RateLimitReason,
        retry_after: Duration,
        now: DateTime<Utc>,
    ) {
        // A hostile `Retry-After: 99999999999` must not overflow the date.
        let until = chrono::Duration::from_std(retry_after)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let block = Block { until, reason };
        if reason.is_site_only() {
            let mut sites = lock(&self.sites);
            let entry = sites.entry(site.clone()).or_insert(block);
            if entry.until < until {
                *entry = block;
            }
        } else {
            let mut app = lock(&self.app);
            if app.is_none_or(|b| b.until < until) {
                *app = Some(block);
            }
        }
    }

    /// How long a request to `site` must still wait, if at all.
    pub(crate) fn wait(&self, site: &CloudId, now: DateTime<Utc>) -> Option<Wait> {
        let app = {
            let mut app = lock(&self.app);
            if app.is_some_and(|b| b.until <= now) {
                *app = None;
            }
            *app
        };
        let site_block = {
            let mut sites = lock(&self.sites);
            sites.retain(|_, b| b.until > now);
            sites.get(site).copied()
        };
        [app, site_block]
            .into_iter()
            .flatten()
            .max_by_key(|b| b.until)
            .map(|b| Wait {
                duration: (b.until - now).to_std().unwrap_or(Duration::ZERO),
                reason: b.reason,
            })
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain
/// timestamps; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tenant_blocks_one_site_and_global_blocks_all() {
        let gate = RateGate::default();
        let (a, b) = (CloudId::parse("a").unwrap(), CloudId::parse("b").unwrap());
        let now = Utc::now();
        gate.block(&a, RateLimitReason::Tenant, Duration::from_secs(30), now);
        assert_eq!(
            gate.wait(&a, now).map(|w| w.duration),
            Some(Duration::from_secs(30))
        );
        assert_eq!(gate.wait(&b, now), None);
        gate.block(&b, RateLimitReason::Global, Duration::from_secs(10), now);
        assert_eq!(
            gate.wait(&a, now).map(|w| w.reason),
            Some(RateLimitReason::Tenant),
            "the longer block wins"
        );
        assert_eq!(
            gate.wait(&b, now + chrono::Duration::seconds(4))
                .map(|w| w.duration),
            Some(Duration::from_secs(6))
        );
        assert_eq!(gate.wait(&b, now + chrono::Duration::seconds(10)), None);
        assert_eq!(gate.wait(&a, now + chrono::Duration::seconds(30)), None);
    }
}
