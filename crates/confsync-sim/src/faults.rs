//! Injectable faults for the auth and API listeners: latency, error
//! statuses, hanging responses, 429s with or without `Retry-After`, truncated
//! JSON and 504s on large pages.
//!
//! Rules match on listener, method, a path glob and cloud id, and fire N
//! times, on every k-th match, or always, after skipping the first matches.
//! Schedules are counters, never wall-clock or random, so a test is
//! reproducible. This module decides; the servers act.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::quota::LimitReason;

/// Which listener a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    #[default]
    Api,
    Auth,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Adds latency (real time) before the response; cumulative with others.
    Latency { ms: u64 },
    /// Answers with this status (e.g. 500, 502, 503) and a small error body.
    Status { status: u16 },
    /// Hangs for `secs` (default: the configured timeout duration) or until
    /// shutdown, then answers 504.
    Timeout { secs: Option<u64> },
    /// Answers 429, with `Retry-After` when given. `reason` selects the
    /// `RateLimit-Reason` header (default global).
    RateLimited {
        retry_after_secs: Option<u64>,
        #[serde(default = "global_reason")]
        reason: LimitReason,
    },
    /// Answers 200 with the real body cut in half.
    TruncatedJson,
    /// Answers 504 when the request's `limit` exceeds `limit_above`.
    GatewayTimeoutOverLimit { limit_above: u32 },
}

fn global_reason() -> LimitReason {
    LimitReason::Global
}

fn any_path() -> String {
    "*".to_owned()
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default)]
    pub listener: Listener,
    /// Only this method (e.g. `GET`); any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Glob over the path without query; `*` matches any run of characters.
    #[serde(default = "any_path")]
    pub path: String,
    /// Only requests for this site.
    #[serde(default)]
    pub cloud_id: Option<String>,
    pub fault: FaultKind,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub skip: u32,
    /// Fire on every k-th matching request (after `skip`).
    #[serde(default)]
    pub every: Option<u32>,
    /// Stop after firing this many times; unlimited when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule that fires on every API request, until narrowed.
    pub fn new(fault: FaultKind) -> Self {
        FaultRule {
            listener: Listener::Api,
            method: None,
            path: any_path(),
            cloud_id: None,
            fault,
            skip: 0,
            every: None,
            times: None,
        }
    }

    #[must_use]
    pub fn path(mut self, glob: &str) -> Self {
        self.path = glob.to_owned();
        self
    }

    #[must_use]
    pub fn listener(mut self, listener: Listener) -> Self {
        self.listener = listener;
        self
    }

    #[must_use]
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    #[must_use]
    pub fn cloud_id(mut self, cloud_id: &str) -> Self {
        self.cloud_id = Some(cloud_id.to_owned());
        self
    }

    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    #[must_use]
    pub fn every(mut self, k: u32) -> Self {
        self.every = Some(k.max(1));
        self
    }

    #[must_use]
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }
}

/// A rule with its counters, as listed by the control API.
#[derive(Debug, Clone, Serialize)]
pub struct FaultState {
    pub id: u64,
    pub rule: FaultRule,
    pub matched: u64,
    pub fired: u64,
}

/// What to do with one request.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    pub delay: Duration,
    /// The first non-latency rule that fired: (rule id, fault).
    pub action: Option<(u64, FaultKind)>,
}

/// The request facts rules match on.
#[derive(Debug)]
pub(crate) struct RequestFacts<'a> {
    pub listener: Listener,
    pub method: &'a str,
    pub path: &'a str,
    pub cloud_id: Option<&'a str>,
    pub limit: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultState>,
    next_id: u64,
}

impl Faults {
    pub(crate) fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        self.rules.push(FaultState {
            id: self.next_id,
            rule,
            matched: 0,
            fired: 0,
        });
        self.next_id
    }

    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn list(&self) -> Vec<FaultState> {
        self.rules.clone()
    }

    /// Counts the request against every matching rule and returns what fires:
    /// all latency rules add up; the first other rule that fires wins and the
    /// rules after it do not see the request.
    pub(crate) fn plan(&mut self, facts: &RequestFacts<'_>) -> FaultPlan {
        let mut plan = FaultPlan::default();
        for state in &mut self.rules {
            let is_latency = matches!(state.rule.fault, FaultKind::Latency { .. });
            if !is_latency && plan.action.is_some() {
                continue;
            }
            if !matches(&state.rule, facts) || !fires(state) {
                continue;
            }
            match &state.rule.fault {
                FaultKind::Latency { ms } => plan.delay += Duration::from_millis(*ms),
                other => plan.action = Some((state.id, other.clone())),
            }
        }
        plan
    }
}

fn matches(rule: &FaultRule, facts: &RequestFacts<'_>) -> bool {
    if rule.listener != facts.listener {
        return false;
    }
    if rule
        .method
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case(facts.method))
    {
        return false;
    }
    if rule
        .cloud_id
        .as_deref()
        .is_some_and(|c| Some(c) != facts.cloud_id)
    {
        return false;
    }
    if let FaultKind::GatewayTimeoutOverLimit { limit_above } = rule.fault
        && facts.limit.is_none_or(|l| l <= limit_above)
    {
        return false;
    }
    glob(&rule.path, facts.path)
}

fn fires(state: &mut FaultState) -> bool {
    state.matched += 1;
    let rule = &state.rule;
    if state.matched <= u64::from(rule.skip) {
        return false;
    }
    let nth = state.matched - u64::from(rule.skip);
    if rule
        .every
        .is_some_and(|k| !nth.is_multiple_of(u64::from(k.max(1))))
    {
        return false;
    }
    if rule.times.is_some_and(|t| state.fired >= u64::from(t)) {
        return false;
    }
    state.fired += 1;
    true
}

/// `*` matches any run of characters (including `/`); everything else is literal.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(path: &str) -> RequestFacts<'_> {
        RequestFacts {
            listener: Listener::Api,
            method: "GET",
            path,
            cloud_id: Some("c1"),
            limit: Some(250),
        }
    }

    #[test]
    fn glob_matches_like_a_shell_star() {
        assert!(glob("*", "/anything/at/all"));
        assert!(glob("*/api/v2/pages", "/ex/confluence/c/wiki/api/v2/pages"));
        assert!(!glob(
            "*/api/v2/pages",
            "/ex/confluence/c/wiki/api/v2/pages/1"
        ));
        assert!(glob("*/pages*", "/x/pages/1/labels"));
        assert!(!glob("/a*b", "/a/c"));
    }

    #[test]
    fn schedules_are_counters() {
        let mut faults = Faults::default();
        faults.add(
            FaultRule::new(FaultKind::Status { status: 503 })
                .skip(1)
                .times(2),
        );
        let fired: Vec<bool> = (0..5)
            .map(|_| faults.plan(&facts("/p")).action.is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false, false]);

        let mut faults = Faults::default();
        faults.add(FaultRule::new(FaultKind::Status { status: 500 }).every(3));
        let fired: Vec<bool> = (0..6)
            .map(|_| faults.plan(&facts("/p")).action.is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
    }

    #[test]
    fn latency_adds_up_and_the_first_action_wins() {
        let mut faults = Faults::default();
        faults.add(FaultRule::new(FaultKind::Latency { ms: 5 }));
        faults.add(FaultRule::new(FaultKind::Status { status: 502 }));
        faults.add(FaultRule::new(FaultKind::Latency { ms: 7 }));
        faults.add(FaultRule::new(FaultKind::Status { status: 500 }));
        let plan = faults.plan(&facts("/p"));
        assert_eq!(plan.delay, Duration::from_millis(12));
        assert_eq!(plan.action.unwrap().1, FaultKind::Status { status: 502 });
        assert_eq!(faults.list()[3].matched, 0);
    }

    #[test]
    fn large_limit_rule_only_sees_large_limits() {
        let mut faults = Faults::default();
        faults.add(FaultRule::new(FaultKind::GatewayTimeoutOverLimit {
            limit_above: 100,
        }));
        assert!(faults.plan(&facts("/p")).action.is_some());
        let small = RequestFacts {
            limit: Some(100),
            ..facts("/p")
        };
        assert!(faults.plan(&small).action.is_none());
    }
}
