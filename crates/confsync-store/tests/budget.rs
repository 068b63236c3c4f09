//! The fleet points budget against a real Redis (`REDIS_URL`, default
//! 127.0.0.1:6379), each test under its own random prefix, deleted at the
//! end. Time is passed in, so nothing here sleeps: "an hour later" is an
//! argument.
//!
//! The fairness and utilisation tests drive the budget with a small
//! discrete-event simulation in virtual time (workers that ask, wait exactly
//! as told, and settle after a fixed latency) and measure what each site got.

// Measurements are printed for `--nocapture` runs; they decide nothing.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use confsync_core::CloudId;
use confsync_store::budget::{
    Budget, BudgetConfig, Decision, Observation, Pause, PauseScope, Priority, WaitReason,
};
use confsync_store::{Store, StoreConfig};
use secrecy::SecretString;

fn store_with_prefix(prefix: &str) -> Store {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    Store::open(&StoreConfig {
        url: SecretString::from(url),
        key_prefix: prefix.to_owned(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
        reconnect_min_delay: Duration::from_millis(20),
        reconnect_max_delay: Duration::from_millis(200),
    })
    .unwrap()
}

fn fresh_prefix() -> String {
    format!("confsync-test:{}:", uuid::Uuid::new_v4().simple())
}

/// 10,000 points per 100 s window, 10 % headroom: 9,000 planned, refilled
/// at 90 points per second (0.09 per ms), 1,000 banked at most; full crawls
/// keep 250 for incremental polls, reconciliation 500.
fn small_config() -> BudgetConfig {
    BudgetConfig::new(10_000, Duration::from_secs(100), 0.1, 1000)
}

/// Atlassian's Tier 1 quota with the shipped defaults.
fn production_config() -> BudgetConfig {
    BudgetConfig::new(65_000, BudgetConfig::HOUR, 0.1, 2000)
}

/// A budget under a fresh prefix, whose keys [`Fixture::cleanup`] deletes.
struct Fixture {
    budget: Budget,
    prefix: String,
}

impl std::ops::Deref for Fixture {
    type Target = Budget;
    fn deref(&self) -> &Budget {
        &self.budget
    }
}

impl Fixture {
    async fn cleanup(self) {
        store_with_prefix(&self.prefix)
            .delete_all_keys()
            .await
            .unwrap();
    }
}

fn budget(config: BudgetConfig) -> Fixture {
    let prefix = fresh_prefix();
    Fixture {
        budget: Budget::new(store_with_prefix(&prefix), config).unwrap(),
        prefix,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap()
}

fn at(ms: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::milliseconds(ms)
}

fn site(name: &str) -> CloudId {
    CloudId::parse(name).unwrap()
}

fn ticket(decision: Decision) -> u64 {
    match decision {
        Decision::Granted { ticket } => ticket,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// Asserts a wait of `ms` (give or take 2 ms of float rounding) for `reason`.
fn assert_wait(decision: Decision, ms: u64, reason: WaitReason) {
    match decision {
        Decision::Wait {
            retry_in,
            reason: got,
        } => {
            let got_ms = retry_in.as_millis() as u64;
            assert!(
                got_ms.abs_diff(ms) <= 2 && got == reason,
                "expected a wait of {ms} ms ({reason}), got {got_ms} ms ({got})"
            );
        }
        other => panic!("expected a wait of {ms} ms ({reason}), got {other:?}"),
    }
}

fn nothing_observed() -> Observation {
    Observation::default()
}

#[tokio::test]
async fn a_new_bucket_holds_the_burst_and_refills_at_the_smooth_rate() {
    let budget = budget(small_config());
    let a = site("a");
    assert_eq!(budget.snapshot(at(0)).await.unwrap().available, 1000);

    ticket(
        budget
            .reserve(&a, 1000, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    assert_eq!(budget.snapshot(at(0)).await.unwrap().available, 0);
    // 90 points at 90 points per second: one second.
    assert_wait(
        budget
            .reserve(&a, 90, Priority::Incremental, at(0))
            .await
            .unwrap(),
        1000,
        WaitReason::Budget,
    );
    assert_eq!(budget.snapshot(at(500)).await.unwrap().available, 45);
    ticket(
        budget
            .reserve(&a, 90, Priority::Incremental, at(1000))
            .await
            .unwrap(),
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn the_bank_never_holds_more_than_the_burst() {
    let budget = budget(small_config());
    let a = site("a");
    ticket(
        budget
            .reserve(&a, 1000, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    // An idle hour refills 324,000 points at the smooth rate; 1,000 are kept.
    let later = at(3_600_000);
    assert_eq!(budget.snapshot(later).await.unwrap().available, 1000);
    // A request larger than the bank goes when the bank is full, and leaves
    // a debt rather than waiting forever.
    ticket(
        budget
            .reserve(&a, 1001, Priority::Incremental, later)
            .await
            .unwrap(),
    );
    assert_eq!(budget.snapshot(later).await.unwrap().tokens, -1.0);
    budget.cleanup().await;
}

#[tokio::test]
async fn a_clock_behind_the_bucket_refills_nothing() {
    let budget = budget(small_config());
    let a = site("a");
    ticket(
        budget
            .reserve(&a, 1000, Priority::Incremental, at(10_000))
            .await
            .unwrap(),
    );
    // A replica whose clock is 5 s behind gets no refill, and no credit
    // for the time it "skipped" either.
    assert_eq!(budget.snapshot(at(5_000)).await.unwrap().available, 0);
    assert_eq!(budget.snapshot(at(11_000)).await.unwrap().available, 90);
    budget.cleanup().await;
}

#[tokio::test]
async fn settling_refunds_the_difference_exactly_once() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 251, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    let snapshot = budget.snapshot(at(0)).await.unwrap();
    assert_eq!(snapshot.available, 749);
    assert_eq!(snapshot.outstanding, 251.0);

    let settled = budget
        .settle(&a, t, 26, &nothing_observed(), at(0))
        .await
        .unwrap();
    assert!(settled.known);
    assert_eq!(settled.available, 974, "225 points refunded");
    assert_eq!(budget.snapshot(at(0)).await.unwrap().outstanding, 0.0);

    let again = budget
        .settle(&a, t, 0, &nothing_observed(), at(0))
        .await
        .unwrap();
    assert!(!again.known);
    assert_eq!(again.available, 974, "a second settle refunds nothing");
    budget.cleanup().await;
}

#[tokio::test]
async fn a_request_dearer_than_reserved_leaves_a_debt() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 100, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    budget
        .settle(&a, t, 1300, &nothing_observed(), at(0))
        .await
        .unwrap();
    let snapshot = budget.snapshot(at(0)).await.unwrap();
    assert_eq!(snapshot.tokens, -300.0);
    assert_eq!(snapshot.available, 0);
    // The debt is paid back by the refill before anything is granted.
    assert_wait(
        budget
            .reserve(&a, 90, Priority::Incremental, at(0))
            .await
            .unwrap(),
        4333,
        WaitReason::Budget,
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn an_unsettled_reservation_expires_as_spent() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 251, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    let ttl = BudgetConfig::DEFAULT_RESERVATION_TTL.as_millis() as i64;
    assert_eq!(
        budget.snapshot(at(ttl - 1)).await.unwrap().outstanding,
        251.0
    );
    assert_eq!(budget.snapshot(at(ttl)).await.unwrap().outstanding, 0.0);
    let late = budget
        .settle(&a, t, 0, &nothing_observed(), at(ttl + 1))
        .await
        .unwrap();
    assert!(!late.known, "an expired ticket is not refunded");
    budget.cleanup().await;
}

#[tokio::test]
async fn incremental_polls_never_wait_behind_crawls() {
    let budget = budget(small_config());
    let (crawled, polled, reconciled) = (site("crawled"), site("polled"), site("reconciled"));

    // A full crawl drains the bucket down to the incremental reserve (250).
    let mut granted = 0;
    loop {
        match budget
            .reserve(&crawled, 251, Priority::Full, at(0))
            .await
            .unwrap()
        {
            Decision::Granted { .. } => granted += 1,
            Decision::Wait { reason, .. } => {
                assert_eq!(reason, WaitReason::Budget);
                break;
            }
        }
    }
    assert_eq!(granted, 2, "1000 → 749 → 498; 498 − 250 cannot pay 251");

    // The crawl is now waiting; an incremental poll is still served at once,
    // and reconciliation (floor 500) is not.
    ticket(
        budget
            .reserve(&polled, 26, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    assert!(matches!(
        budget
            .reserve(&reconciled, 26, Priority::Reconcile, at(0))
            .await
            .unwrap(),
        Decision::Wait { .. }
    ));

    // Drained completely by polls, a refused poll is ahead of the waiting
    // crawl: the crawl's wait covers the poll's points too.
    while let Decision::Granted { .. } = budget
        .reserve(&polled, 26, Priority::Incremental, at(0))
        .await
        .unwrap()
    {}
    let poll_wait = match budget
        .reserve(&polled, 26, Priority::Incremental, at(0))
        .await
        .unwrap()
    {
        Decision::Wait { retry_in, .. } => retry_in,
        other => panic!("the bucket is empty, got {other:?}"),
    };
    let crawl_wait = match budget
        .reserve(&crawled, 251, Priority::Full, at(0))
        .await
        .unwrap()
    {
        Decision::Wait { retry_in, .. } => retry_in,
        other => panic!("the bucket is empty, got {other:?}"),
    };
    assert!(poll_wait < Duration::from_millis(300), "{poll_wait:?}");
    assert!(
        crawl_wait > poll_wait + Duration::from_secs(2),
        "the crawl waits for the floor and the poll: {crawl_wait:?} vs {poll_wait:?}"
    );
    // When the poll's time comes, it is served even though the crawl asks
    // first at that instant.
    let when = poll_wait.as_millis() as i64;
    assert!(matches!(
        budget
            .reserve(&crawled, 251, Priority::Full, at(when))
            .await
            .unwrap(),
        Decision::Wait { .. }
    ));
    ticket(
        budget
            .reserve(&polled, 26, Priority::Incremental, at(when))
            .await
            .unwrap(),
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn a_refused_site_keeps_its_place_and_loses_it_when_it_gives_up() {
    let budget = budget(small_config());
    let (first, second) = (site("first"), site("second"));
    ticket(
        budget
            .reserve(&first, 1000, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    // `second` has been served nothing yet; `first` has. `second` waits
    // for the floor plus its 251; `first` waits for that and its own.
    assert_wait(
        budget
            .reserve(&second, 251, Priority::Full, at(0))
            .await
            .unwrap(),
        5567,
        WaitReason::Budget,
    );
    assert_wait(
        budget
            .reserve(&first, 100, Priority::Full, at(0))
            .await
            .unwrap(),
        6678,
        WaitReason::Budget,
    );
    // At 5 s there are 450 points: `first` could pay 100 above the floor,
    // but `second` is in line before it.
    assert!(matches!(
        budget
            .reserve(&first, 100, Priority::Full, at(5000))
            .await
            .unwrap(),
        Decision::Wait { .. }
    ));
    // `second` gives up (its job is rescheduled): nobody is held back.
    budget.withdraw(&second, Priority::Full).await.unwrap();
    ticket(
        budget
            .reserve(&first, 100, Priority::Full, at(5000))
            .await
            .unwrap(),
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn a_waiter_that_never_comes_back_stops_counting_after_its_grace() {
    let budget = budget(small_config());
    let (gone, present) = (site("gone"), site("present"));
    ticket(
        budget
            .reserve(&present, 1000, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    // `gone` is told 5567 ms and never returns (its replica died).
    assert!(matches!(
        budget
            .reserve(&gone, 251, Priority::Full, at(0))
            .await
            .unwrap(),
        Decision::Wait { .. }
    ));
    let grace = BudgetConfig::DEFAULT_WAITER_GRACE.as_millis() as i64;
    // Until its wait and grace are over it holds its place (at 10 s the
    // bucket has 900: enough for `present` only after `gone`'s 251)...
    let before = 5567 + grace - 100;
    let held = budget
        .reserve(&present, 700, Priority::Full, at(before))
        .await
        .unwrap();
    assert!(matches!(held, Decision::Wait { .. }), "{held:?}");
    // ...and then it is forgotten.
    ticket(
        budget
            .reserve(&present, 700, Priority::Full, at(5567 + grace + 1))
            .await
            .unwrap(),
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn a_global_retry_after_pauses_every_site() {
    let budget = budget(small_config());
    let (a, b) = (site("a"), site("b"));
    let t = ticket(
        budget
            .reserve(&a, 26, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    let observed = Observation {
        pause: Some(Pause {
            scope: PauseScope::Fleet,
            until: at(30_000),
        }),
        ..Observation::default()
    };
    let settled = budget.settle(&a, t, 0, &observed, at(0)).await.unwrap();
    assert_eq!(settled.available, 0, "nothing is available while paused");
    assert_wait(
        budget
            .reserve(&b, 26, Priority::Incremental, at(10_000))
            .await
            .unwrap(),
        20_000,
        WaitReason::FleetPaused,
    );
    assert_eq!(
        budget.snapshot(at(10_000)).await.unwrap().paused_until,
        Some(at(30_000))
    );
    ticket(
        budget
            .reserve(&b, 26, Priority::Incremental, at(30_000))
            .await
            .unwrap(),
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn a_tenant_retry_after_pauses_only_that_site() {
    let budget = budget(small_config());
    let (limited, other) = (site("limited"), site("other"));
    let t = ticket(
        budget
            .reserve(&limited, 26, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    let observed = Observation {
        pause: Some(Pause {
            scope: PauseScope::Site,
            until: at(20_000),
        }),
        ..Observation::default()
    };
    budget
        .settle(&limited, t, 0, &observed, at(0))
        .await
        .unwrap();
    assert_wait(
        budget
            .reserve(&limited, 26, Priority::Incremental, at(0))
            .await
            .unwrap(),
        20_000,
        WaitReason::SitePaused,
    );
    ticket(
        budget
            .reserve(&other, 26, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    ticket(
        budget
            .reserve(&limited, 26, Priority::Incremental, at(20_000))
            .await
            .unwrap(),
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn a_hostile_retry_after_pauses_for_one_window_at_most() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 26, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    let observed = Observation {
        pause: Some(Pause {
            scope: PauseScope::Fleet,
            until: at(1_000_000_000),
        }),
        ..Observation::default()
    };
    budget.settle(&a, t, 0, &observed, at(0)).await.unwrap();
    assert_eq!(
        budget.snapshot(at(0)).await.unwrap().paused_until,
        Some(at(100_000)),
        "clamped to the 100 s window"
    );
    budget.cleanup().await;
}

#[tokio::test]
async fn a_lower_remaining_count_caps_the_window_and_paces_the_rest() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 26, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    // Atlassian: 300 points left until the reset in 10 s (the model had
    // 1000 banked and 900 more to refill by then).
    let observed = Observation {
        remaining: Some(300),
        limit: Some(10_000),
        resets_at: Some(at(10_000)),
        ..Observation::default()
    };
    budget.settle(&a, t, 26, &observed, at(0)).await.unwrap();
    let snapshot = budget.snapshot(at(0)).await.unwrap();
    assert_eq!(snapshot.available, 300, "the bank shrinks to what is left");
    let cap = snapshot.window.unwrap();
    assert_eq!((cap.ends_at, cap.left), (at(10_000), 300.0));

    ticket(
        budget
            .reserve(&a, 251, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    // 49 left in this window: a bigger request waits for the reset, and
    // nothing refills before it (the 300 were already in the bank).
    assert_wait(
        budget
            .reserve(&a, 100, Priority::Incremental, at(5_000))
            .await
            .unwrap(),
        5_000,
        WaitReason::WindowSpent,
    );
    ticket(
        budget
            .reserve(&a, 49, Priority::Incremental, at(5_000))
            .await
            .unwrap(),
    );
    // After the reset the cap is gone and the smooth rate is back.
    let after = budget.snapshot(at(10_000)).await.unwrap();
    assert_eq!((after.available, after.window), (0, None));
    assert_eq!(budget.snapshot(at(11_000)).await.unwrap().available, 90);
    budget.cleanup().await;
}

#[tokio::test]
async fn near_limit_without_a_count_slows_the_refill() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 1000, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    // "Under 20 % left" of 10,000, resetting in 50 s: at most 2,000 until
    // then, while the model would refill 4,500. The 2,000 are spread evenly:
    // 40 points per second instead of 90.
    let observed = Observation {
        near_limit: true,
        limit: Some(10_000),
        resets_at: Some(at(50_000)),
        ..Observation::default()
    };
    budget.settle(&a, t, 1000, &observed, at(0)).await.unwrap();
    assert_wait(
        budget
            .reserve(&a, 40, Priority::Incremental, at(0))
            .await
            .unwrap(),
        1000,
        WaitReason::Budget,
    );
    assert_eq!(budget.snapshot(at(10_000)).await.unwrap().available, 400);
    // After the reset the full rate is back.
    assert_eq!(budget.snapshot(at(50_000)).await.unwrap().available, 1000);
    let drained = ticket(
        budget
            .reserve(&a, 1000, Priority::Incremental, at(50_000))
            .await
            .unwrap(),
    );
    budget
        .settle(&a, drained, 1000, &nothing_observed(), at(50_000))
        .await
        .unwrap();
    assert_eq!(budget.snapshot(at(51_000)).await.unwrap().available, 90);
    budget.cleanup().await;
}

#[tokio::test]
async fn a_remaining_count_the_model_respects_changes_nothing() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 1000, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    // 9,000 left for the next 50 s: more than the 4,500 the model refills.
    let observed = Observation {
        remaining: Some(9_000),
        near_limit: false,
        limit: Some(10_000),
        resets_at: Some(at(50_000)),
        pause: None,
    };
    budget.settle(&a, t, 1000, &observed, at(0)).await.unwrap();
    assert_eq!(budget.snapshot(at(10_000)).await.unwrap().available, 900);
    budget.cleanup().await;
}

#[tokio::test]
async fn stale_or_absurd_headers_are_ignored() {
    let budget = budget(small_config());
    let a = site("a");
    let t = ticket(
        budget
            .reserve(&a, 10, Priority::Incremental, at(0))
            .await
            .unwrap(),
    );
    // A reset in the past describes a window that is over.
    let stale = Observation {
        remaining: Some(0),
        resets_at: Some(at(-1_000)),
        ..Observation::default()
    };
    budget.settle(&a, t, 10, &stale, at(0)).await.unwrap();
    let snapshot = budget.snapshot(at(0)).await.unwrap();
    assert_eq!((snapshot.available, snapshot.window), (990, None));
    budget.cleanup().await;
}

#[tokio::test]
async fn the_gauge_shows_the_points_available() {
    let gauge = prometheus::IntGauge::new("budget_points_available", "test").unwrap();
    let mut budget = budget(small_config());
    budget.budget = budget.budget.clone().with_gauge(gauge.clone());
    let a = site("a");
    ticket(
        budget
            .reserve(&a, 300, Priority::Full, at(0))
            .await
            .unwrap(),
    );
    assert_eq!(gauge.get(), 700);
    budget.snapshot(at(1_000)).await.unwrap();
    assert_eq!(gauge.get(), 790);
    budget.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_reserving_at_once_never_overdraw() {
    let prefix = fresh_prefix();
    let config = small_config();
    // Eight replicas, each with its own connection, racing for the same
    // 1,000 points at the same instant, then again one second later.
    let mut granted_total = 0;
    for (round, now) in [(0u64, at(0)), (1, at(1_000))] {
        let tasks: Vec<_> = (0..8u64)
            .map(|replica| {
                let budget = Budget::new(store_with_prefix(&prefix), config.clone()).unwrap();
                tokio::spawn(async move {
                    let mut granted = 0;
                    for i in 0..30u64 {
                        let points = 20 + (replica * 37 + i * 11 + round * 5) % 80;
                        let site = site(&format!("site-{}", (replica + i) % 5));
                        if let Decision::Granted { .. } = budget
                            .reserve(&site, points, Priority::Incremental, now)
                            .await
                            .unwrap()
                        {
                            granted += points;
                        }
                    }
                    granted
                })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            granted += task.await.unwrap();
        }
        granted_total += granted;
        // Round 0 has the 1,000 of the bank; round 1 the 90 refilled since.
        let limit = if round == 0 { 1000 } else { 1090 };
        assert!(
            granted_total <= limit,
            "round {round}: {granted_total} granted, at most {limit} allowed"
        );
    }
    let snapshot = Budget::new(store_with_prefix(&prefix), config)
        .unwrap()
        .snapshot(at(1_000))
        .await
        .unwrap();
    assert!(
        (snapshot.tokens + granted_total as f64 - 1090.0).abs() < 1e-6,
        "every granted point left the bucket: {} + {granted_total}",
        snapshot.tokens
    );
    assert_eq!(snapshot.outstanding, granted_total as f64);
    store_with_prefix(&prefix).delete_all_keys().await.unwrap();
}

// ---- fairness and utilisation in virtual time ------------------------------

/// One stream of requests: a site with `concurrency` requests in flight at
/// most, each reserving `worst` and costing `actual`, answered after
/// `latency_ms`, the next asked `think_ms` after an answer.
#[derive(Debug, Clone)]
struct Stream {
    site: CloudId,
    priority: Priority,
    concurrency: usize,
    worst: u64,
    actual: u64,
    latency_ms: i64,
    think_ms: i64,
}

impl Stream {
    fn backlogged(site: &str, concurrency: usize, worst: u64, actual: u64) -> Stream {
        Stream {
            site: self::site(site),
            priority: Priority::Full,
            concurrency,
            worst,
            actual,
            latency_ms: 300,
            think_ms: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Measured {
    /// Actual points granted per site during the run.
    points: BTreeMap<CloudId, u64>,
    /// Longest time one request waited for its points, per site.
    longest_wait_ms: BTreeMap<CloudId, i64>,
    grants: u64,
    asks: u64,
}

impl Measured {
    fn total(&self) -> u64 {
        self.points.values().sum()
    }

    fn jain(&self) -> f64 {
        let xs: Vec<f64> = self.points.values().map(|p| *p as f64).collect();
        let sum: f64 = xs.iter().sum();
        let squares: f64 = xs.iter().map(|x| x * x).sum();
        sum * sum / (xs.len() as f64 * squares)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Ask { since: i64 },
    Answer { ticket: u64 },
}

/// Runs `streams` against `budget` from t0 for `duration_ms` of virtual
/// time: every request waits exactly as long as the budget says, then asks
/// again. Requests granted before the end are counted.
async fn simulate(budget: &Budget, streams: &[Stream], duration_ms: i64) -> Measured {
    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    for (i, stream) in streams.iter().enumerate() {
        for _ in 0..stream.concurrency {
            seq += 1;
            queue.push(Reverse((0i64, seq, i, Step::Ask { since: 0 })));
        }
    }
    let mut measured = Measured::default();
    for stream in streams {
        measured.points.entry(stream.site.clone()).or_insert(0);
        measured
            .longest_wait_ms
            .entry(stream.site.clone())
            .or_insert(0);
    }
    while let Some(Reverse((now, _, i, step))) = queue.pop() {
        let stream = &streams[i];
        seq += 1;
        match step {
            Step::Ask { since } => {
                if now >= duration_ms {
                    continue;
                }
                measured.asks += 1;
                match budget
                    .reserve(&stream.site, stream.worst, stream.priority, at(now))
                    .await
                    .unwrap()
                {
                    Decision::Granted { ticket } => {
                        measured.grants += 1;
                        *measured.points.get_mut(&stream.site).unwrap() += stream.actual;
                        let waited = measured.longest_wait_ms.get_mut(&stream.site).unwrap();
                        *waited = (*waited).max(now - since);
                        let answer = Step::Answer { ticket };
                        queue.push(Reverse((now + stream.latency_ms, seq, i, answer)));
                    }
                    Decision::Wait { retry_in, .. } => {
                        let next = now + retry_in.as_millis() as i64;
                        queue.push(Reverse((next, seq, i, Step::Ask { since })));
                    }
                }
            }
            Step::Answer { ticket } => {
                budget
                    .settle(
                        &stream.site,
                        ticket,
                        stream.actual,
                        &nothing_observed(),
                        at(now),
                    )
                    .await
                    .unwrap();
                let next = now + stream.think_ms;
                queue.push(Reverse((next, seq, i, Step::Ask { since: next })));
            }
        }
    }
    measured
}

/// What the budget could grant in `duration_ms` from a full bank.
fn grantable(config: &BudgetConfig, duration_ms: i64) -> f64 {
    config.burst_points as f64 + config.refill_per_sec() * duration_ms as f64 / 1000.0
}

#[tokio::test]
async fn a_greedy_crawl_cannot_starve_a_modest_site() {
    let config = production_config();
    let budget = budget(config.clone());
    // A huge full crawl with four requests of 251 in flight, and a site
    // asking for 26 points every 10 s (2.6 points/s, far below half the
    // 16.25 points/s refill).
    let greedy = Stream::backlogged("greedy", 4, 251, 251);
    let modest = Stream {
        think_ms: 10_000,
        ..Stream::backlogged("modest", 1, 26, 26)
    };
    let duration = 1_800_000;
    let measured = simulate(&budget, &[greedy, modest], duration).await;

    let modest_points = measured.points[&site("modest")];
    let greedy_points = measured.points[&site("greedy")];
    let modest_wait = measured.longest_wait_ms[&site("modest")];
    let utilisation = measured.total() as f64 / grantable(&config, duration);
    eprintln!(
        "greedy vs modest: greedy {greedy_points} points, modest {modest_points} points, \
         modest's longest wait {modest_wait} ms, utilisation {utilisation:.4} ({} asks, {} grants)",
        measured.asks, measured.grants
    );
    // The modest site asks about 176 times in 30 minutes (10 s apart plus
    // its waits); every ask is served within the time the refill needs to
    // pay one greedy request and its own.
    assert!(
        modest_points >= 26 * 170,
        "modest got {modest_points} points"
    );
    assert!(
        modest_wait <= ((251.0 + 26.0) / config.refill_per_sec() * 1000.0) as i64,
        "modest waited {modest_wait} ms"
    );
    assert!(utilisation >= 0.97, "utilisation {utilisation}");
    budget.cleanup().await;
}

#[tokio::test]
async fn backlogged_sites_share_the_points_evenly_whatever_their_shape() {
    let config = production_config();
    let budget = budget(config.clone());
    // Four concurrent 251-point requests against one request at a time
    // reserving 51 and costing 30: per request the first is 8 times
    // greedier.
    let wide = Stream::backlogged("wide", 4, 251, 251);
    let narrow = Stream::backlogged("narrow", 1, 51, 30);
    let duration = 1_800_000;
    let measured = simulate(&budget, &[wide, narrow], duration).await;
    let jain = measured.jain();
    let utilisation = measured.total() as f64 / grantable(&config, duration);
    eprintln!(
        "wide vs narrow: {:?}, Jain {jain:.4}, utilisation {utilisation:.4}",
        measured.points
    );
    assert!(jain >= 0.99, "Jain index {jain}");
    assert!(utilisation >= 0.97, "utilisation {utilisation}");
    budget.cleanup().await;
}

#[tokio::test]
async fn fifty_backlogged_tenants_share_an_hour_fairly_and_use_it() {
    let config = production_config();
    let budget = budget(config.clone());
    // Fifty sites with work pending the whole hour, in varied shapes: one to
    // three requests in flight, 251, 101 or 26 points reserved, real costs
    // from a third of that to all of it.
    let streams: Vec<Stream> = (0..50u64)
        .map(|i| {
            let worst = [251, 101, 26][(i % 3) as usize];
            let actual = worst - (worst * (i % 4)) / 6;
            Stream {
                latency_ms: 100 + (i as i64 % 5) * 150,
                ..Stream::backlogged(
                    &format!("tenant-{i:02}"),
                    1 + (i % 3) as usize,
                    worst,
                    actual,
                )
            }
        })
        .collect();
    let duration = 3_600_000;
    let measured = simulate(&budget, &streams, duration).await;
    let jain = measured.jain();
    let utilisation = measured.total() as f64 / grantable(&config, duration);
    let quota_share = measured.total() as f64 / config.points_per_window as f64;
    let (least, most) = (
        measured.points.values().min().copied().unwrap_or(0),
        measured.points.values().max().copied().unwrap_or(0),
    );
    eprintln!(
        "50 tenants, 1 h: Jain {jain:.4}, utilisation of the budget {utilisation:.4}, \
         {quota_share:.4} of the quota, per-tenant points {least}..{most} \
         ({} asks, {} grants)",
        measured.asks, measured.grants
    );
    assert!(jain >= 0.95, "Jain index {jain}");
    assert!(utilisation >= 0.95, "utilisation {utilisation}");
    budget.cleanup().await;
}
