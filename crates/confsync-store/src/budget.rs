//! The fleet points budget: one token bucket in Redis, shared by every
//! worker replica, that decides whether a request may spend Atlassian points
//! now or must wait, and by how long.
//!
//! The model (DESIGN.md section 4):
//! - **Capacity** is `points_per_window × (1 − headroom_fraction)` per window
//!   (an hour in production), refilled continuously at `capacity / window`,
//!   with at most `burst_points` banked. Since `burst_points` may not exceed
//!   the headroom, the points granted inside any window of Atlassian's stay
//!   within its quota wherever the window starts (requests granted just
//!   before a reset but charged after it aside: the headroom left over and
//!   the `remaining` correction cover those).
//! - **Reservations**: a request reserves its worst case and is settled to its
//!   real cost afterwards; the difference is refunded. A reservation that is
//!   never settled counts as spent once `reservation_ttl` has passed.
//! - **Priorities**: full crawls and reconciliation may not draw the bucket
//!   below a floor (`incremental_reserve_points`, twice that for
//!   reconciliation), so incremental polls find points while a crawl drains
//!   the rest; a refused request also waits behind every refused request of a
//!   higher priority.
//! - **Fair share**: start-time fair queuing between sites. Each grant
//!   advances the site's finish tag by the points it reserved (corrected on
//!   settle); a refused site is remembered as waiting, and a request may only
//!   take points that more deserving waiters (lower tag, then earlier) do
//!   not need. Only sites that are actually waiting count, so an idle site
//!   costs the others nothing.
//! - **Pauses** (fleet-wide or per site) until an instant, from `Retry-After`.
//! - **Corrections** from Atlassian's headers: a `remaining` lower than what
//!   the model would still grant before the reset caps the window and paces
//!   what is left evenly until the reset; `near_limit` without a count reads
//!   as "a fifth of the limit is left".
//!
//! Every step is one Lua script, atomic across replicas. Time is passed in by
//! the caller (milliseconds since the epoch from its clock), never read from
//! Redis: tests drive it without sleeping, and replicas whose clocks differ a
//! little stay safe because the bucket's refill time never moves backwards
//! (a replica whose clock is behind just gets no refill until it catches up).
//!
//! This module never blocks and never sleeps: `reserve` answers "granted" or
//! "wait this long", and the caller waits. It knows nothing about HTTP or
//! Confluence; translating Atlassian's headers into an [`Observation`] is the
//! worker's job.
//!
//! Keys, under the store's prefix: `budget:bucket` (hash: tokens, refill
//! time, virtual time, fleet pause, window cap, pace, outstanding points),
//! `budget:finish` (hash: site → finish tag), `budget:waiting` (hash:
//! `rank|site` → `since|points|expires`), `budget:tickets` (hash: ticket →
//! `site|rank|points|window end`), `budget:deadlines` (sorted set: ticket by
//! expiry), `budget:site_pause` (hash: site → until), `budget:seq` (ticket
//! counter).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use confsync_core::CloudId;
use prometheus::IntGauge;

use crate::{Store, StoreError};

/// Who is asking. Ordered: a higher priority is served first
/// (`Incremental > Full > Reconcile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Periodic id-only listings.
    Reconcile,
    /// Full crawls.
    Full,
    /// Incremental polls and deletion checks.
    Incremental,
}

impl Priority {
    /// The rank the scripts compare (higher is more urgent).
    fn rank(self) -> u8 {
        match self {
            Priority::Reconcile => 0,
            Priority::Full => 1,
            Priority::Incremental => 2,
        }
    }

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

/// The budget's parameters. Every replica must use the same ones: they are
/// sent with each call, so the last caller's values apply.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Atlassian's quota per window (`budget.points_per_hour` in production).
    pub points_per_window: u64,
    /// The quota's window: an hour at Atlassian, shorter in tests and benchmarks.
    pub window: Duration,
    /// Share of the quota never planned (`budget.headroom_fraction`).
    pub headroom_fraction: f64,
    /// Most points banked above the smooth rate (`budget.burst_points`).
    pub burst_points: u64,
    /// Points full crawls may not draw (reconciliation: twice as many), kept
    /// for incremental polls.
    pub incremental_reserve_points: u64,
    /// How long an unsettled reservation is held before it counts as spent.
    pub reservation_ttl: Duration,
    /// How long a refused site keeps its place in line after the wait it was
    /// given, before it counts as gone.
    pub waiter_grace: Duration,
}

impl BudgetConfig {
    /// Atlassian's window.
    pub const HOUR: Duration = Duration::from_secs(3600);
    /// Longer than any one attempt of a request (the client's request timeout
    /// is 30 s) with room for decoding a large answer.
    pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(300);
    /// A woken waiter is back within milliseconds; this covers a slow replica.
    pub const DEFAULT_WAITER_GRACE: Duration = Duration::from_secs(5);

    /// A budget for a quota of `points_per_window` per `window`, keeping a
    /// quarter of the burst for incremental polls and the default lifetimes.
    pub fn new(
        points_per_window: u64,
        window: Duration,
        headroom_fraction: f64,
        burst_points: u64,
    ) -> BudgetConfig {
        BudgetConfig {
            points_per_window,
            window,
            headroom_fraction,
            burst_points,
            incremental_reserve_points: burst_points / 4,
            reservation_ttl: Self::DEFAULT_RESERVATION_TTL,
            waiter_grace: Self::DEFAULT_WAITER_GRACE,
        }
    }

    /// Points the fleet plans to spend per window.
    pub fn capacity(&self) -> f64 {
        self.points_per_window as f64 * (1.0 - self.headroom_fraction)
    }

    /// Points refilled per second.
    pub fn refill_per_sec(&self) -> f64 {
        self.capacity() / self.window.as_secs_f64()
    }

    /// The points of the quota left unplanned.
    pub fn headroom_points(&self) -> f64 {
        self.points_per_window as f64 * self.headroom_fraction
    }

    /// The floor a priority may not draw the bucket below.
    pub fn floor(&self, priority: Priority) -> u64 {
        match priority {
            Priority::Incremental => 0,
            Priority::Full => self.incremental_reserve_points,
            Priority::Reconcile => self.incremental_reserve_points.saturating_mul(2),
        }
    }

    /// Refuses parameters that would make the budget unsafe or useless.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid =
            |message: String| Err(StoreError::Config(format!("points budget: {message}")));
        if self.points_per_window == 0 {
            return invalid("points per window must be positive".into());
        }
        if self.window < Duration::from_secs(1) {
            return invalid("the window must be at least one second".into());
        }
        if !(0.0..1.0).contains(&self.headroom_fraction) {
            return invalid("the headroom fraction must be at least 0 and below 1".into());
        }
        if self.burst_points == 0 {
            return invalid("burst points must be positive".into());
        }
        if self.burst_points as f64 > self.headroom_points() {
            return invalid(format!(
                "burst points ({}) exceed the headroom ({:.0} points): a full bank spent \
                 right after a reset could exceed the quota",
                self.burst_points,
                self.headroom_points()
            ));
        }
        if self.floor(Priority::Reconcile) >= self.burst_points {
            return invalid(
                "the incremental reserve must be below half the burst points, or \
                 reconciliation could never draw"
                    .into(),
            );
        }
        if self.reservation_ttl < Duration::from_secs(1) {
            return invalid("the reservation lifetime must be at least one second".into());
        }
        Ok(())
    }
}

/// Why a request must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// Not enough points yet (for this priority, after more deserving waiters).
    Budget,
    /// The whole fleet is paused (`Retry-After` with a global reason).
    FleetPaused,
    /// This site is paused (`Retry-After` with a tenant reason).
    SitePaused,
    /// Atlassian says this window has fewer points left than the request may
    /// cost: wait for its reset.
    WindowSpent,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Budget => "budget",
            WaitReason::FleetPaused => "fleet_paused",
            WaitReason::SitePaused => "site_paused",
            WaitReason::WindowSpent => "window_spent",
        }
    }

    fn parse(value: &str) -> Option<WaitReason> {
        match value {
            "budget" => Some(WaitReason::Budget),
            "paused" => Some(WaitReason::FleetPaused),
            "site_paused" => Some(WaitReason::SitePaused),
            "window" => Some(WaitReason::WindowSpent),
            _ => None,
        }
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The points are reserved; settle `ticket` once the request is answered.
    Granted { ticket: u64 },
    /// Ask again after `retry_in`.
    Wait {
        retry_in: Duration,
        reason: WaitReason,
    },
}

/// Which requests a pause stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseScope {
    Fleet,
    Site,
}

/// Stop sending (for the fleet or the settled request's site) until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub scope: PauseScope,
    pub until: DateTime<Utc>,
}

/// What an answer told about the quota, in plain numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// Points left in the current window.
    pub remaining: Option<u64>,
    /// The quota per window.
    pub limit: Option<u64>,
    /// When the current window ends; without it, windows are taken to be
    /// aligned on the epoch (Atlassian's reset at the top of each UTC hour).
    pub resets_at: Option<DateTime<Utc>>,
    /// Under a fifth of the quota is left.
    pub near_limit: bool,
    pub pause: Option<Pause>,
}

/// The outcome of a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// False when the ticket was unknown: already settled, or expired and
    /// counted as spent. Nothing was refunded then.
    pub known: bool,
    /// Points the fleet may spend now.
    pub available: u64,
}

/// A cap Atlassian's headers put on the current window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowCap {
    pub ends_at: DateTime<Utc>,
    /// Points that may still be granted before `ends_at`.
    pub left: f64,
}

/// The budget as it stands, for operators and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSnapshot {
    /// Points in the bucket (negative after an under-estimated request).
    pub tokens: f64,
    /// Points an incremental poll could take now (tokens, capped by the
    /// window and zero while the fleet is paused).
    pub available: u64,
    /// Points reserved and not yet settled.
    pub outstanding: f64,
    pub paused_until: Option<DateTime<Utc>>,
    pub window: Option<WindowCap>,
}

/// The fleet budget. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Budget {
    store: Store,
    config: BudgetConfig,
    keys: Arc<Keys>,
    scripts: Arc<Scripts>,
    gauge: Option<IntGauge>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("prefix", &self.store.prefix())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Keys {
    bucket: String,
    finish: String,
    waiting: String,
    tickets: String,
    deadlines: String,
    site_pause: String,
    seq: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        let key = |name: &str| format!("{prefix}budget:{name}");
        Keys {
            bucket: key("bucket"),
            finish: key("finish"),
            waiting: key("waiting"),
            tickets: key("tickets"),
            deadlines: key("deadlines"),
            site_pause: key("site_pause"),
            seq: key("seq"),
        }
    }

    fn all(&self) -> [&str; 7] {
        [
            &self.bucket,
            &self.finish,
            &self.waiting,
            &self.tickets,
            &self.deadlines,
            &self.site_pause,
            &self.seq,
        ]
    }
}

struct Scripts {
    reserve: redis::Script,
    settle: redis::Script,
    snapshot: redis::Script,
}

impl Budget {
    /// A handle on the fleet budget under `store`'s prefix. Touches nothing
    /// until the first call; the bucket starts full.
    pub fn new(store: Store, config: BudgetConfig) -> Result<Budget, StoreError> {
        config.validate()?;
        let keys = Arc::new(Keys::new(store.prefix()));
        let scripts = Arc::new(Scripts {
            reserve: redis::Script::new(&format!("{PRELUDE}{RESERVE}")),
            settle: redis::Script::new(&format!("{PRELUDE}{SETTLE}")),
            snapshot: redis::Script::new(&format!("{PRELUDE}{SNAPSHOT}")),
        });
        Ok(Budget {
            store,
            config,
            keys,
            scripts,
            gauge: None,
        })
    }

    /// Publishes the points available after every call to `gauge`
    /// (`confsync_budget_points_available`).
    #[must_use]
    pub fn with_gauge(mut self, gauge: IntGauge) -> Budget {
        self.gauge = Some(gauge);
        self
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Reserves `points` for one request to `site` at `now`, or says how
    /// long to wait. Never blocks.
    pub async fn reserve(
        &self,
        site: &CloudId,
        points: u64,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let mut invocation = self.scripts.reserve.prepare_invoke();
        self.common(&mut invocation, now);
        invocation
            .arg(site.as_str())
            .arg(priority.rank())
            .arg(points);
        let mut conn = self.store.connection();
        let (code, value, available, reason): (i64, i64, i64, String) =
            invocation.invoke_async(&mut conn).await?;
        self.publish(available);
        match code {
            1 => Ok(Decision::Granted {
                ticket: u64::try_from(value).map_err(|_| corrupt("ticket", value))?,
            }),
            0 => {
                let reason = WaitReason::parse(&reason).ok_or_else(|| StoreError::Corrupt {
                    what: "budget reply",
                    reason: format!("unknown wait reason {reason:?}"),
                })?;
                let retry_in = Duration::from_millis(u64::try_from(value).unwrap_or(1).max(1));
                events::waiting(site, priority, points, retry_in, reason);
                Ok(Decision::Wait { retry_in, reason })
            }
            other => Err(corrupt("decision", other)),
        }
    }

    /// Settles `ticket` (reserved for `site`) at `actual_points`, refunding
    /// the difference, and applies what the answer said about the quota.
    /// A ticket settled twice, or after it expired, refunds nothing.
    pub async fn settle(
        &self,
        site: &CloudId,
        ticket: u64,
        actual_points: u64,
        observed: &Observation,
        now: DateTime<Utc>,
    ) -> Result<Settlement, StoreError> {
        let correction = self.correction(observed, now);
        let (scope, until) = match observed.pause {
            Some(pause) => {
                let until = self.clamp_to_window(pause.until, now);
                events::paused(site, pause.scope, until);
                let scope = match pause.scope {
                    PauseScope::Fleet => 1,
                    PauseScope::Site => 2,
                };
                (scope, millis(until))
            }
            None => (0, 0),
        };
        let (remaining, resets_at) = match correction {
            Some((remaining, resets_at)) => (
                i64::try_from(remaining).unwrap_or(i64::MAX),
                millis(resets_at),
            ),
            None => (-1, 0),
        };
        let mut invocation = self.scripts.settle.prepare_invoke();
        self.common(&mut invocation, now);
        invocation
            .arg(site.as_str())
            .arg(ticket)
            .arg(actual_points)
            .arg(remaining)
            .arg(resets_at)
            .arg(scope)
            .arg(until);
        let mut conn = self.store.connection();
        let (known, available): (i64, i64) = invocation.invoke_async(&mut conn).await?;
        self.publish(available);
        Ok(Settlement {
            known: known == 1,
            available: u64::try_from(available).unwrap_or(0),
        })
    }

    /// Gives up `site`'s place in line at `priority` (its request stopped
    /// waiting), so it holds back nobody.
    pub async fn withdraw(&self, site: &CloudId, priority: Priority) -> Result<(), StoreError> {
        let mut conn = self.store.connection();
        redis::cmd("HDEL")
            .arg(&self.keys.waiting)
            .arg(format!("{}|{}", priority.rank(), site.as_str()))
            .query_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// The budget at `now` (refilled and swept first, like any call).
    pub async fn snapshot(&self, now: DateTime<Utc>) -> Result<BudgetSnapshot, StoreError> {
        let mut invocation = self.scripts.snapshot.prepare_invoke();
        self.common(&mut invocation, now);
        let mut conn = self.store.connection();
        let reply: Vec<String> = invocation.invoke_async(&mut conn).await?;
        let number = |i: usize| -> Result<f64, StoreError> {
            reply
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| StoreError::Corrupt {
                    what: "budget snapshot",
                    reason: format!("field {i} unreadable"),
                })
        };
        let (tokens, outstanding, paused, wend, wleft, available) = (
            number(0)?,
            number(1)?,
            number(2)?,
            number(3)?,
            number(4)?,
            number(5)?,
        );
        self.publish(available as i64);
        let instant = |ms: f64| Utc.timestamp_millis_opt(ms as i64).single();
        Ok(BudgetSnapshot {
            tokens,
            available: available.max(0.0) as u64,
            outstanding,
            paused_until: (paused > 0.0).then(|| instant(paused)).flatten(),
            window: (wend > 0.0)
                .then(|| instant(wend))
                .flatten()
                .map(|ends_at| WindowCap {
                    ends_at,
                    left: wleft,
                }),
        })
    }

    /// The arguments every script starts with (see `PRELUDE`).
    fn common(&self, invocation: &mut redis::ScriptInvocation<'_>, now: DateTime<Utc>) {
        for key in self.keys.all() {
            invocation.key(key);
        }
        let c = &self.config;
        invocation
            .arg(millis(now))
            .arg(c.capacity().to_string())
            .arg(duration_ms(c.window))
            .arg(c.burst_points)
            .arg(c.floor(Priority::Reconcile))
            .arg(c.floor(Priority::Full))
            .arg(duration_ms(c.reservation_ttl))
            .arg(duration_ms(c.waiter_grace));
    }

    /// The window cap an observation implies: points left and the window's
    /// end, or nothing when it says nothing usable.
    fn correction(
        &self,
        observed: &Observation,
        now: DateTime<Utc>,
    ) -> Option<(u64, DateTime<Utc>)> {
        let remaining = match (observed.remaining, observed.near_limit) {
            (Some(remaining), _) => remaining,
            // "Under 20 % left" with no count: assume exactly a fifth.
            (None, true) => observed.limit.unwrap_or(self.config.points_per_window) / 5,
            (None, false) => return None,
        };
        let resets_at = observed
            .resets_at
            .unwrap_or_else(|| next_boundary(now, self.config.window));
        if resets_at <= now {
            // A stale or skewed header: the window it describes is over.
            return None;
        }
        Some((remaining, self.clamp_to_window(resets_at, now)))
    }

    /// No header may hold the budget for longer than one window: the quota
    /// resets by then whatever a hostile or broken header claims.
    fn clamp_to_window(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        let latest = chrono::Duration::from_std(self.config.window)
            .ok()
            .and_then(|w| now.checked_add_signed(w))
            .unwrap_or(now);
        at.min(latest)
    }

    fn publish(&self, available: i64) {
        if let Some(gauge) = &self.gauge {
            gauge.set(available.max(0));
        }
    }
}

fn corrupt(what: &'static str, value: i64) -> StoreError {
    StoreError::Corrupt {
        what: "budget reply",
        reason: format!("unexpected {what} {value}"),
    }
}

/// Milliseconds since the epoch, never negative.
fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().max(0)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The end of the epoch-aligned window containing `now`.
fn next_boundary(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
    let now_ms = millis(now);
    let end = now_ms - now_ms.rem_euclid(window_ms) + window_ms;
    Utc.timestamp_millis_opt(end).single().unwrap_or(now)
}

/// The log lines of budget events, beside the gauge they go with.
mod events {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use confsync_core::CloudId;

    use super::{PauseScope, Priority, WaitReason};

    pub(super) fn waiting(
        site: &CloudId,
        priority: Priority,
        points: u64,
        retry_in: Duration,
        reason: WaitReason,
    ) {
        tracing::debug!(
            site = %site,
            %priority,
            points,
            retry_in_ms = retry_in.as_millis() as u64,
            %reason,
            "points budget: request must wait"
        );
    }

    pub(super) fn paused(site: &CloudId, scope: PauseScope, until: DateTime<Utc>) {
        match scope {
            PauseScope::Fleet => tracing::warn!(
                site = %site,
                until = %until.to_rfc3339(),
                "points budget: atlassian asked the whole app to wait; fleet paused"
            ),
            PauseScope::Site => tracing::info!(
                site = %site,
                until = %until.to_rfc3339(),
                "points budget: atlassian asked this site to wait; site paused"
            ),
        }
    }
}

/// Loads and refreshes the bucket; shared by every script.
///
/// KEYS: 1 bucket, 2 finish, 3 waiting, 4 tickets, 5 deadlines, 6 site_pause,
/// 7 seq. ARGV: 1 now (ms), 2 capacity (points per window), 3 window (ms),
/// 4 burst, 5 reconciliation floor, 6 full-crawl floor, 7 reservation ttl
/// (ms), 8 waiter grace (ms); script arguments follow from 9.
///
/// Numbers are stored with 17 significant digits so fractions of points and
/// millisecond times survive the round trip.
const PRELUDE: &str = r"
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local floors = {[0] = tonumber(ARGV[5]), [1] = tonumber(ARGV[6]), [2] = 0}
local ttl = tonumber(ARGV[7])
local grace = tonumber(ARGV[8])
local rate = capacity / window

local function num(v, default)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return default end
  return n
end
local function fmt(x) return string.format('%.17g', x) end

local raw = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'vtime', 'paused', 'wend', 'wleft', 'pend', 'prate', 'held')
local st = {
  tokens = num(raw[1], burst), at = num(raw[2], now), vtime = num(raw[3], 0),
  paused = num(raw[4], 0), wend = num(raw[5], 0), wleft = num(raw[6], 0),
  pend = num(raw[7], 0), prate = num(raw[8], 0), held = num(raw[9], 0),
}

local function ticket_fields(data)
  local site, rank, points, wend = string.match(data, '^([^|]+)|(%d+)|([^|]+)|([^|]+)$')
  return site, tonumber(rank), tonumber(points), tonumber(wend)
end

-- Reservations never settled (a cancelled request) count as spent.
local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 100)
for _, t in ipairs(expired) do
  local data = redis.call('HGET', KEYS[4], t)
  if data then
    local _, _, points = ticket_fields(data)
    st.held = math.max(0, st.held - (points or 0))
    redis.call('HDEL', KEYS[4], t)
  end
  redis.call('ZREM', KEYS[5], t)
end

-- Refill since the last call, at the paced rate until the pace ends. Time
-- never moves backwards: a caller whose clock is behind refills nothing.
if now > st.at then
  local from, gained = st.at, 0
  if st.pend > from then
    local upto = math.min(now, st.pend)
    gained = (upto - from) * math.min(rate, st.prate)
    from = upto
  end
  gained = gained + (now - from) * rate
  st.tokens = math.min(burst, st.tokens + gained)
  st.at = now
end
if st.wend > 0 and now >= st.wend then st.wend, st.wleft = 0, 0 end
if st.pend > 0 and now >= st.pend then st.pend, st.prate = 0, 0 end
if st.paused > 0 and now >= st.paused then st.paused = 0 end

local function available(floor)
  local a = st.tokens - floor
  if st.wend > 0 then a = math.min(a, st.wleft) end
  if st.paused > now then a = 0 end
  return math.max(0, math.floor(a))
end

local function save()
  redis.call('HSET', KEYS[1], 'tokens', fmt(st.tokens), 'at', fmt(st.at), 'vtime', fmt(st.vtime),
    'paused', fmt(st.paused), 'wend', fmt(st.wend), 'wleft', fmt(st.wleft),
    'pend', fmt(st.pend), 'prate', fmt(st.prate), 'held', fmt(st.held))
end

-- Milliseconds until `deficit` more points have been refilled.
local function time_for(deficit)
  if deficit <= 0 then return 0 end
  local t = 0
  if st.pend > now then
    local span = st.pend - now
    local r = math.min(rate, st.prate)
    if r * span >= deficit then return deficit / r end
    deficit = deficit - r * span
    t = span
  end
  return t + deficit / rate
end
";

/// ARGV 9 site, 10 rank, 11 points. Returns `{1, ticket, available, ''}` or
/// `{0, wait ms, available, reason}`.
const RESERVE: &str = r"
local site, rank, points = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local me = rank .. '|' .. site

local function wait_answer(ms, why)
  save()
  return {0, math.max(1, math.ceil(ms)), available(0), why}
end

-- Pauses and an exhausted window: everyone waits, nobody keeps a place.
local wait, why = 0, ''
if st.paused > now then wait, why = st.paused - now, 'paused' end
local site_until = num(redis.call('HGET', KEYS[6], site), 0)
if site_until > now then
  if site_until - now > wait then wait, why = site_until - now, 'site_paused' end
elseif site_until > 0 then
  redis.call('HDEL', KEYS[6], site)
end
if st.wend > 0 and points > st.wleft and st.wend - now > wait then
  wait, why = st.wend - now, 'window'
end
if wait > 0 then
  redis.call('HDEL', KEYS[3], me)
  return wait_answer(wait, why)
end

-- Fair share: start-time fair queuing on points. This request's start tag
-- is its site's finish tag, or the virtual time if the site fell behind
-- (an idle site banks no credit). Waiters of a higher priority, and of the
-- same priority with a lower tag (then an earlier arrival), go first: this
-- request may only take what they leave.
local vt = st.vtime
local mytag = math.max(vt, num(redis.call('HGET', KEYS[2], site), 0))
local mysince = now
local mine = redis.call('HGET', KEYS[3], me)
if mine then mysince = num(string.match(mine, '^([^|]+)'), now) end
local ahead = 0
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  local key, value = entries[i], entries[i + 1]
  local wrank, wsite = string.match(key, '^(%d+)|(.+)$')
  local since, need, expires = string.match(value, '^([^|]+)|([^|]+)|([^|]+)$')
  wrank, since, need, expires = tonumber(wrank), tonumber(since), tonumber(need), tonumber(expires)
  if not (wrank and wsite and since and need and expires) or expires <= now then
    redis.call('HDEL', KEYS[3], key)
  elseif wsite ~= site then
    if wrank > rank then
      ahead = ahead + need
    elseif wrank == rank then
      local tag = math.max(vt, num(redis.call('HGET', KEYS[2], wsite), 0))
      if tag < mytag or (tag == mytag and (since < mysince or (since == mysince and wsite < site))) then
        ahead = ahead + need
      end
    end
  end
end

-- Priorities: a lower priority may not draw the bucket below its floor. A
-- request larger than the bucket can hold above the floor goes when the
-- bucket is full, leaving a debt.
local floor = floors[rank] or 0
local need = math.min(points, burst - floor)
if st.tokens - floor - ahead >= need then
  st.tokens = st.tokens - points
  st.held = st.held + points
  if st.wend > 0 then st.wleft = st.wleft - points end
  st.vtime = math.max(vt, mytag)
  redis.call('HSET', KEYS[2], site, fmt(mytag + points))
  redis.call('HDEL', KEYS[3], me)
  local ticket = redis.call('INCR', KEYS[7])
  redis.call('HSET', KEYS[4], ticket, site .. '|' .. rank .. '|' .. fmt(points) .. '|' .. fmt(st.wend))
  redis.call('ZADD', KEYS[5], now + ttl, ticket)
  save()
  return {1, ticket, available(0), ''}
end

-- Refused: wait until the refill covers this request and those ahead of
-- it, and keep the place in line until a little after that.
local eta = time_for(floor + ahead + need - st.tokens)
redis.call('HSET', KEYS[3], me, fmt(mysince) .. '|' .. fmt(points) .. '|' .. fmt(now + eta + grace))
return wait_answer(eta, 'budget')
";

/// ARGV 9 site, 10 ticket, 11 actual points, 12 remaining (-1: none),
/// 13 window end (ms), 14 pause scope (0 none, 1 fleet, 2 site), 15 pause
/// end (ms). Returns `{known, available}`.
const SETTLE: &str = r"
local site, ticket, actual = ARGV[9], ARGV[10], tonumber(ARGV[11])
local remaining, resets = tonumber(ARGV[12]), tonumber(ARGV[13])
local scope, pause_until = tonumber(ARGV[14]), tonumber(ARGV[15])

local known = 0
local data = redis.call('HGET', KEYS[4], ticket)
if data then
  known = 1
  local tsite, _, points, twend = ticket_fields(data)
  points = points or 0
  redis.call('HDEL', KEYS[4], ticket)
  redis.call('ZREM', KEYS[5], ticket)
  st.held = math.max(0, st.held - points)
  -- A negative refund (the request cost more than reserved) is a debt.
  local refund = points - actual
  st.tokens = math.min(burst, st.tokens + refund)
  if st.wend > 0 and twend == st.wend then st.wleft = st.wleft + refund end
  if tsite then
    local finish = tonumber(redis.call('HGET', KEYS[2], tsite))
    if finish then redis.call('HSET', KEYS[2], tsite, fmt(finish - refund)) end
  end
end

-- Atlassian's count: what it has left, less what is still in flight, is all
-- that may be granted before the reset. Responses of one window name the
-- same reset (within a second); a later reset starts a new cap, an earlier
-- one is stale.
if remaining >= 0 and resets > now then
  local left = math.max(0, remaining - st.held)
  if st.wend == 0 or resets > st.wend + 1000 then
    st.wend, st.wleft = resets, left
  elseif resets >= st.wend - 1000 then
    st.wleft = math.min(st.wleft, left)
  end
  if st.wend > now then
    -- Shrink the bank to what is left, and spread the rest evenly until the
    -- reset instead of spending it at once.
    local span = st.wend - now
    st.tokens = math.min(st.tokens, st.wleft)
    if st.tokens + rate * span > st.wleft then
      st.pend = st.wend
      st.prate = math.max(0, st.wleft - math.max(0, st.tokens)) / span
    else
      st.pend, st.prate = 0, 0
    end
  end
end

if scope == 1 then
  st.paused = math.max(st.paused, pause_until)
elseif scope == 2 then
  local current = num(redis.call('HGET', KEYS[6], site), 0)
  if pause_until > current then redis.call('HSET', KEYS[6], site, fmt(pause_until)) end
  for r = 0, 2 do redis.call('HDEL', KEYS[3], r .. '|' .. site) end
end

save()
return {known, available(0)}
";

/// Returns `{tokens, outstanding, paused until, window end, window left,
/// available}` as strings.
const SNAPSHOT: &str = r"
save()
return {fmt(st.tokens), fmt(st.held), fmt(st.paused), fmt(st.wend), fmt(st.wleft), tostring(available(0))}
";

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }

    #[test]
    fn the_default_configuration_is_valid_and_spreads_the_hour() {
        let config = BudgetConfig::new(65_000, BudgetConfig::HOUR, 0.1, 2000);
        assert!(config.validate().is_ok());
        assert!((config.capacity() - 58_500.0).abs() < 1e-6);
        assert!((config.refill_per_sec() - 16.25).abs() < 1e-9);
        assert_eq!(config.floor(Priority::Incremental), 0);
        assert_eq!(config.floor(Priority::Full), 500);
        assert_eq!(config.floor(Priority::Reconcile), 1000);
    }

    #[test]
    fn unsafe_configurations_are_refused() {
        let base = BudgetConfig::new(65_000, BudgetConfig::HOUR, 0.1, 2000);
        let refused = [
            BudgetConfig {
                burst_points: 7000,
                ..base.clone()
            },
            BudgetConfig {
                headroom_fraction: 1.0,
                ..base.clone()
            },
            BudgetConfig {
                points_per_window: 0,
                ..base.clone()
            },
            BudgetConfig {
                window: Duration::from_millis(10),
                ..base.clone()
            },
            BudgetConfig {
                incremental_reserve_points: 1000,
                ..base.clone()
            },
            BudgetConfig {
                burst_points: 0,
                ..base
            },
        ];
        for config in refused {
            assert!(config.validate().is_err(), "{config:?} was accepted");
        }
    }

    #[test]
    fn windows_without_a_reset_header_end_on_the_epoch_grid() {
        // 10:30:00.250 in an hourly window ends at 11:00.
        let now = at(1_767_263_400_250);
        assert_eq!(
            next_boundary(now, BudgetConfig::HOUR),
            at(1_767_265_200_000)
        );
        assert_eq!(
            next_boundary(now, Duration::from_secs(60)),
            at(1_767_263_460_000)
        );
    }

    #[test]
    fn wait_reasons_round_trip_through_the_script_names() {
        for (wire, reason) in [
            ("budget", WaitReason::Budget),
            ("paused", WaitReason::FleetPaused),
            ("site_paused", WaitReason::SitePaused),
            ("window", WaitReason::WindowSpent),
        ] {
            assert_eq!(WaitReason::parse(wire), Some(reason));
        }
        assert_eq!(WaitReason::parse("other"), None);
    }
}
