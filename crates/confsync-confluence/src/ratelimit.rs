//! Atlassian's rate-limit headers, read from every answer (429s included)
//! into one plain struct that the points budget receives on `settle`.
//!
//! Pure parsing: lenient (a malformed header reads as absent, never as an
//! error) and with no policy. What to do about the values is the budget's
//! and the transport's business.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::retry_after::parse_retry_after;
use reqwest::header::HeaderMap;

/// Why Atlassian refused a request with 429 (`RateLimit-Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitReason {
    /// `confluence-quota-global-based`: the app-wide quota is used up; every
    /// request of the app is refused until it resets (pause the fleet).
    Global,
    /// `confluence-quota-tenant-based`: this site's quota is used up (pause
    /// the site).
    Tenant,
    /// A short burst limit.
    Burst,
    /// No reason given, or one this version does not know.
    Unknown,
}

impl RateLimitReason {
    /// Reads a `RateLimit-Reason` value.
    pub fn parse(value: &str) -> RateLimitReason {
        let value = value.trim().to_ascii_lowercase();
        if value.contains("global") {
            RateLimitReason::Global
        } else if value.contains("tenant") {
            RateLimitReason::Tenant
        } else if value.contains("burst") {
            RateLimitReason::Burst
        } else {
            RateLimitReason::Unknown
        }
    }

    /// A short fixed label for logs and the `reason` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitReason::Global => "global",
            RateLimitReason::Tenant => "tenant",
            RateLimitReason::Burst => "burst",
            RateLimitReason::Unknown => "unknown",
        }
    }

    /// Whether the limit concerns only the site that was asked (else every
    /// request of the app is affected, which is the safe reading of an
    /// unknown reason).
    pub fn is_site_only(self) -> bool {
        self == RateLimitReason::Tenant
    }
}

impl fmt::Display for RateLimitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of a `RateLimit-Policy` header: `"global-app-quota";q=65000;w=3600`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPolicy {
    pub name: String,
    /// Points per window (`q`).
    pub quota: Option<u64>,
    /// Window length in seconds (`w`).
    pub window_secs: Option<u64>,
}

/// One item of a `RateLimit` header: `"global-app-quota";r=11000;t=600`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaState {
    pub name: String,
    /// Points left (`r`).
    pub remaining: Option<u64>,
    /// Seconds until the window resets (`t`).
    pub reset_secs: Option<u64>,
}

/// The rate-limit headers of one answer. Each field takes the enforced
/// header and falls back to its `Beta-` twin (sent before enforcement).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// HTTP status of the answer the headers came with (0 when there was no
    /// answer, e.g. a timeout).
    pub status: u16,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (ISO 8601).
    pub reset: Option<DateTime<Utc>>,
    /// `X-RateLimit-NearLimit: true`: under 20 % of the quota left.
    pub near_limit: bool,
    /// `RateLimit-Reason`, on 429s.
    pub reason: Option<RateLimitReason>,
    /// `Retry-After` (seconds or HTTP date), relative to the answer.
    pub retry_after: Option<Duration>,
    /// `RateLimit-Policy` items.
    pub policy: Vec<QuotaPolicy>,
    /// `RateLimit` items.
    pub current: Vec<QuotaState>,
    /// Some value was read only from a `Beta-` header: Atlassian reports but
    /// does not enforce it yet.
    pub beta: bool,
}

impl RateLimitHeaders {
    /// Reads the headers of an answer; `now` resolves an HTTP-date `Retry-After`.
    pub fn parse(status: u16, headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitHeaders {
        let mut beta = false;
        let mut get = |name: &str| -> Option<String> {
            if let Some(value) = text(headers, name) {
                return Some(value);
            }
            let value = text(headers, &format!("Beta-{name}"))?;
            beta = true;
            Some(value)
        };
        let limit = get("X-RateLimit-Limit").and_then(|v| v.trim().parse().ok());
        let remaining = get("X-RateLimit-Remaining").and_then(|v| v.trim().parse().ok());
        let reset = get("X-RateLimit-Reset").and_then(|v| parse_instant(&v));
        let near_limit =
            get("X-RateLimit-NearLimit").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let reason = get("RateLimit-Reason").map(|v| RateLimitReason::parse(&v));
        let retry_after = get("Retry-After").and_then(|v| parse_retry_after(&v, now));
        let policy = get("RateLimit-Policy")
            .map(|v| structured_items(&v).map(policy_item).collect())
            .unwrap_or_default();
        let current = get("RateLimit")
            .map(|v| structured_items(&v).map(state_item).collect())
            .unwrap_or_default();
        RateLimitHeaders {
            status,
            limit,
            remaining,
            reset,
            near_limit,
            reason,
            retry_after,
            policy,
            current,
            beta,
        }
    }

    /// The headers of a request that got no answer.
    pub fn none() -> RateLimitHeaders {
        RateLimitHeaders::default()
    }
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A structured-header list item: a name and its integer parameters.
struct Item {
    name: String,
    params: Vec<(String, u64)>,
}

impl Item {
    fn param(&self, key: &str) -> Option<u64> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

/// Splits `"a";q=1;w=2, "b";r=3` into items. Quoted names never contain
/// commas in Atlassian's headers, so a plain split is enough; parameters
/// that are not integers are skipped.
fn structured_items(value: &str) -> impl Iterator<Item = Item> + '_ {
    value.split(',').filter_map(|raw| {
        let mut parts = raw.split(';');
        let name = parts.next()?.trim().trim_matches('"').to_owned();
        let is_token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || !name.chars().all(is_token) {
            return None;
        }
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_owned(), v.trim().parse().ok()?))
            })
            .collect();
        Some(Item { name, params })
    })
}

fn policy_item(item: Item) -> QuotaPolicy {
    QuotaPolicy {
        quota: item.param("q"),
        window_secs: item.param("w"),
        name: item.name,
    }
}

fn state_item(item: Item) -> QuotaState {
    QuotaState {
        remaining: item.param("r"),
        reset_secs: item.param("t"),
        name: item.name,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn every_documented_header_is_read() {
        let h = headers(&[
            ("X-RateLimit-Limit", "65000"),
            ("X-RateLimit-Remaining", "5000"),
            ("X-RateLimit-Reset", "2026-01-01T11:00:00Z"),
            ("X-RateLimit-NearLimit", "true"),
            ("RateLimit-Reason", "confluence-quota-tenant-based"),
            ("Retry-After", "1800"),
            (
                "RateLimit-Policy",
                "\"global-app-quota\";q=65000;w=3600, \"tenant-app-quota\";q=500;w=3600",
            ),
            ("RateLimit", "\"global-app-quota\";r=5000;t=1800"),
        ]);
        let parsed = RateLimitHeaders::parse(429, &h, now());
        assert_eq!(parsed.limit, Some(65_000));
        assert_eq!(parsed.remaining, Some(5_000));
        assert_eq!(
            parsed.reset.unwrap().to_rfc3339(),
            "2026-01-01T11:00:00+00:00"
        );
        assert!(parsed.near_limit);
        assert_eq!(parsed.reason, Some(RateLimitReason::Tenant));
        assert_eq!(parsed.retry_after, Some(Duration::from_secs(1800)));
        assert_eq!(parsed.policy.len(), 2);
        assert_eq!(parsed.policy[1].name, "tenant-app-quota");
        assert_eq!(parsed.policy[1].quota, Some(500));
        assert_eq!(parsed.current[0].remaining, Some(5000));
        assert_eq!(parsed.current[0].reset_secs, Some(1800));
        assert!(!parsed.beta);
    }

    #[test]
    fn beta_twins_fill_in_and_are_marked() {
        let h = headers(&[
            ("Beta-X-RateLimit-Remaining", "12"),
            ("Beta-Retry-After", "Thu, 01 Jan 2026 10:31:00 GMT"),
        ]);
        let parsed = RateLimitHeaders::parse(200, &h, now());
        assert_eq!(parsed.remaining, Some(12));
        assert_eq!(parsed.retry_after, Some(Duration::from_secs(60)));
        assert!(parsed.beta);
    }

    #[test]
    fn junk_reads_as_absent() {
        let h = headers(&[
            ("X-RateLimit-Remaining", "lots"),
            ("X-RateLimit-Reset", "tomorrow"),
            ("Retry-After", "soon"),
            ("RateLimit", ";;,=,\"\";r=x"),
        ]);
        let parsed = RateLimitHeaders::parse(200, &h, now());
        assert_eq!(parsed.remaining, None);
        assert_eq!(parsed.reset, None);
        assert_eq!(parsed.retry_after, None);
        assert!(parsed.current.is_empty());
        assert_eq!(
            RateLimitReason::parse("confluence-burst-based"),
            RateLimitReason::Burst
        );
        assert_eq!(RateLimitReason::parse("x"), RateLimitReason::Unknown);
    }
}
