//! The fleet points budget end to end: several sites listed at once through
//! the real Confluence client against the simulator's points metering, with
//! the quota scaled down to a few thousand points a minute, the simulator's
//! clock frozen and moved only by the test's virtual time; a 429 seen by one
//! replica pausing the others; and the worker's adapter waiting on its clock.

// The measured figures are printed for `--nocapture` runs; they decide nothing.
#![allow(clippy::print_stderr)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use confsync_confluence::metrics::ApiMetrics;
use confsync_confluence::{
    AccessToken, BoxFuture, BudgetError, ClientConfig, Clock, Confluence, ConfluenceError, Limit,
    ListQuery, PointsBudget, Priority, RateLimitHeaders, RateLimitReason, RetryPolicy, SiteClient,
    TokenError, TokenSource,
};
use confsync_core::CloudId;
use confsync_sim::{Control, FaultKind, FaultRule, LimitReason, Listener, SimConfig};
use confsync_store::budget::{Budget, BudgetConfig};
use confsync_tests::TestPrefix;
use confsync_tests::app::TestApp;
use confsync_worker::budget::FleetBudget;
use secrecy::SecretString;
use tokio::sync::oneshot;

const SCOPES: &[&str] = &[
    "read:page:confluence",
    "read:comment:confluence",
    "read:space:confluence",
];

fn start() -> DateTime<Utc> {
    // On a minute boundary, so the simulator's windows start with the test.
    Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap()
}

/// Virtual time for a known set of tasks ("actors"): the simulator's clock
/// stands still while any actor runs (sends a request, waits for an answer)
/// and moves to the earliest wake-up only when every actor sleeps. A
/// discrete-event simulation: no real sleeping, and no request is sent
/// "late" because another task's sleep moved the clock under it.
#[derive(Clone)]
struct VirtualTime {
    control: Control,
    inner: Arc<Mutex<Sleepers>>,
}

#[derive(Default)]
struct Sleepers {
    /// Actors not asleep.
    running: usize,
    seq: u64,
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    wake: HashMap<u64, oneshot::Sender<()>>,
}

/// One registered actor; dropping it (the task ends) lets time move on
/// without it.
struct Actor(VirtualTime);

impl Drop for Actor {
    fn drop(&mut self) {
        let mut inner = self.0.inner.lock().unwrap();
        inner.running = inner.running.saturating_sub(1);
        self.0.advance_if_idle(&mut inner);
    }
}

impl VirtualTime {
    fn new(control: Control) -> VirtualTime {
        VirtualTime {
            control,
            inner: Arc::default(),
        }
    }

    /// Registers `n` actors at once, before any of them may sleep.
    fn actors(&self, n: usize) -> Vec<Actor> {
        self.inner.lock().unwrap().running += n;
        (0..n).map(|_| Actor(self.clone())).collect()
    }

    fn advance_if_idle(&self, inner: &mut Sleepers) {
        if inner.running > 0 {
            return;
        }
        let Some(Reverse((deadline, _))) = inner.queue.peek().copied() else {
            return;
        };
        let now = self.control.now();
        if deadline > now {
            self.control
                .advance_clock((deadline - now).to_std().unwrap());
        }
        while let Some(Reverse((at, seq))) = inner.queue.peek().copied() {
            if at > deadline {
                break;
            }
            inner.queue.pop();
            if let Some(wake) = inner.wake.remove(&seq) {
                inner.running += 1;
                let _ = wake.send(());
            }
        }
    }
}

impl Clock for VirtualTime {
    fn now(&self) -> DateTime<Utc> {
        self.control.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let (wake, woken) = oneshot::channel();
        {
            let mut inner = self.inner.lock().unwrap();
            let deadline = self.control.now() + chrono::Duration::from_std(duration).unwrap();
            inner.seq += 1;
            let seq = inner.seq;
            inner.queue.push(Reverse((deadline, seq)));
            inner.wake.insert(seq, wake);
            inner.running = inner.running.saturating_sub(1);
            self.advance_if_idle(&mut inner);
        }
        Box::pin(async move {
            let _ = woken.await;
        })
    }
}

/// A grant's tokens minted by the simulator; long-lived enough for a test.
struct Minted(AccessToken);

impl TokenSource for Minted {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }

    fn refresh<'a>(
        &'a self,
        _rejected: &'a SecretString,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(std::future::ready(Err(TokenError::Unavailable {
            reason: "minted test tokens are not refreshed".into(),
            retry_after: None,
        })))
    }
}

fn minted(app: &TestApp) -> Arc<Minted> {
    let control = app.sim.control();
    let tokens = control.mint_tokens(None, SCOPES);
    Arc::new(Minted(AccessToken {
        secret: SecretString::from(tokens.access_token),
        expires_at: control.now() + chrono::Duration::seconds(tokens.expires_in as i64),
    }))
}

/// A replica's Confluence client: its own HTTP pool and `Retry-After` gate,
/// the shared budget, quick retries without jitter.
fn replica(
    app: &TestApp,
    clock: Arc<dyn Clock>,
    budget: Arc<dyn PointsBudget>,
    max_in_request_wait: Duration,
) -> Confluence {
    let mut config = ClientConfig::atlassian(url::Url::parse(&app.sim.api_url()).unwrap());
    config.retry = RetryPolicy {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_retries: 4,
        jitter_min: 1.0,
        jitter_max: 1.0,
    };
    config.request_timeout = Duration::from_secs(20);
    config.max_in_request_wait = max_in_request_wait;
    let metrics = ApiMetrics::register(&prometheus::Registry::new()).unwrap();
    Confluence::new(config, metrics, clock, budget).unwrap()
}

fn cloud_ids(app: &TestApp) -> Vec<CloudId> {
    app.sim
        .control()
        .sites()
        .into_iter()
        .map(|s| CloudId::parse(s.cloud_id).unwrap())
        .collect()
}

fn query() -> ListQuery {
    ListQuery::new(Limit::new(25).unwrap())
}

/// Lists one site's pages to the end; returns how many came.
async fn list_pages(site: SiteClient) -> Result<usize, ConfluenceError> {
    let mut listing = site.pages(query());
    let mut count = 0;
    while let Some(page) = listing.next_page().await? {
        count += page.results.len();
    }
    Ok(count)
}

/// Lists one site's blog posts and comments to the end; returns how many came.
async fn list_the_rest(site: SiteClient) -> Result<usize, ConfluenceError> {
    let mut count = 0;
    let mut posts = site.blog_posts(query());
    while let Some(page) = posts.next_page().await? {
        count += page.results.len();
    }
    let mut footer = site.footer_comments(query());
    while let Some(page) = footer.next_page().await? {
        count += page.results.len();
    }
    let mut inline = site.inline_comments(query());
    while let Some(page) = inline.next_page().await? {
        count += page.results.len();
    }
    Ok(count)
}

/// Metered API requests in arrival order: (sim time, points).
fn charges(app: &TestApp) -> Vec<(DateTime<Utc>, u64)> {
    let mut requests = app.sim.control().requests(0);
    requests.sort_by_key(|r| r.seq);
    requests
        .into_iter()
        .filter(|r| r.listener == Listener::Api)
        .map(|r| {
            let at = DateTime::parse_from_rfc3339(&r.at)
                .unwrap()
                .with_timezone(&Utc);
            (at, r.points)
        })
        .collect()
}

#[tokio::test]
async fn sites_listed_at_once_stay_inside_a_scaled_down_quota() {
    // Atlassian's quota scaled down to 3,000 points a minute: the budget
    // plans 2,700 (45 a second) with 200 banked at most.
    const QUOTA: u64 = 3000;
    const WINDOW: Duration = Duration::from_secs(60);
    const BURST: u64 = 200;
    let app = TestApp::spawn_with(
        SimConfig::default()
            .seed(11)
            .sites(6)
            .pages(500)
            .freeze_clock(true)
            .start_time(start())
            .quota_points(QUOTA)
            .quota_window(WINDOW),
        &[],
    )
    .await;
    let time = VirtualTime::new(app.sim.control());
    let config = BudgetConfig::new(QUOTA, WINDOW, 0.1, BURST);
    let budget = FleetBudget::new(
        Budget::new(app.store(), config.clone()).unwrap(),
        Arc::new(time.clone()),
        Duration::from_secs(3600),
    );
    let confluence = replica(
        &app,
        Arc::new(time.clone()),
        Arc::new(budget),
        Duration::from_secs(60),
    );
    let tokens = minted(&app);
    let sites = cloud_ids(&app);

    // Two listings per site at once; one site polls incrementally, one
    // reconciles, the others crawl.
    let mut actors = time.actors(sites.len() * 2).into_iter();
    let mut tasks = Vec::new();
    for (i, cloud) in sites.iter().enumerate() {
        let priority = match i {
            0 => Priority::Incremental,
            1 => Priority::Reconcile,
            _ => Priority::Full,
        };
        let client = confluence
            .site(cloud.clone(), tokens.clone())
            .unwrap()
            .with_priority(priority);
        let (first, second) = (actors.next().unwrap(), actors.next().unwrap());
        let pages = client.clone();
        tasks.push(tokio::spawn(async move {
            let result = list_pages(pages).await;
            drop(first);
            result
        }));
        tasks.push(tokio::spawn(async move {
            let result = list_the_rest(client).await;
            drop(second);
            result
        }));
    }
    let mut listed = 0;
    for task in tasks {
        let count = task.await.unwrap().expect("every listing completes");
        assert!(count > 0);
        listed += count;
    }

    let stats = app.sim.control().stats();
    assert_eq!(stats.rate_limited, 0, "no 429s: {:?}", stats.by_status);
    assert_eq!(stats.flagged, 0, "nothing sent during a Retry-After");
    let charges = charges(&app);
    let spent: u64 = charges.iter().map(|(_, p)| p).sum();
    assert_eq!(spent, stats.points_spent);
    assert!(
        spent > QUOTA,
        "the run needs more than one window's quota ({spent} points), or it proves nothing"
    );

    // Never ahead of the smooth schedule: by any instant, at most the bank
    // plus the refill since the start was charged.
    let rate = config.refill_per_sec();
    let mut cumulative = 0;
    let mut per_window: BTreeMap<i64, u64> = BTreeMap::new();
    for (at, points) in &charges {
        cumulative += points;
        let elapsed = (*at - start()).num_milliseconds() as f64 / 1000.0;
        let allowed = BURST as f64 + rate * elapsed;
        assert!(
            cumulative as f64 <= allowed + 1e-6,
            "{cumulative} points charged by {at}, the schedule allows {allowed:.1}"
        );
        let window = (*at - start()).num_seconds() / WINDOW.as_secs() as i64;
        *per_window.entry(window).or_default() += points;
    }
    for (window, points) in &per_window {
        assert!(
            *points <= QUOTA,
            "window {window} was charged {points} of {QUOTA}"
        );
    }
    let (last, _) = charges.last().copied().unwrap();
    let elapsed = (last - start()).num_milliseconds() as f64 / 1000.0;
    let utilisation = spent as f64 / (BURST as f64 + rate * elapsed);
    eprintln!(
        "budget e2e: {listed} objects, {spent} points in {elapsed:.1} s, per window {per_window:?}, \
         {utilisation:.4} of what the budget could grant"
    );
    assert!(
        utilisation > 0.9,
        "the fleet idled: {spent} points in {elapsed} s ({utilisation:.3} of the budget)"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_global_429_seen_by_one_replica_pauses_the_others() {
    let app = TestApp::spawn_with(
        SimConfig::default()
            .seed(5)
            .sites(2)
            .pages(60)
            .freeze_clock(true)
            .start_time(start()),
        &[],
    )
    .await;
    let time = VirtualTime::new(app.sim.control());
    let config = BudgetConfig::new(65_000, BudgetConfig::HOUR, 0.1, 2000);
    // Two replicas: separate clients (each with its own gate) and separate
    // Redis connections, one budget.
    let fleet = |max_wait: Duration| {
        let budget = FleetBudget::new(
            Budget::new(app.store(), config.clone()).unwrap(),
            Arc::new(time.clone()),
            Duration::from_secs(600),
        );
        replica(&app, Arc::new(time.clone()), Arc::new(budget), max_wait)
    };
    let (one, two) = (
        fleet(Duration::from_secs(5)),
        fleet(Duration::from_secs(60)),
    );
    let tokens = minted(&app);
    let sites = cloud_ids(&app);
    app.sim.control().add_fault(
        FaultRule::new(FaultKind::RateLimited {
            retry_after_secs: Some(20),
            reason: LimitReason::Global,
        })
        .times(1),
    );

    // Replica one meets the 429; its Retry-After is beyond what it may wait
    // in-process, so its request fails and its job would be rescheduled.
    let actor = time.actors(1);
    let refused = list_pages(one.site(sites[0].clone(), tokens.clone()).unwrap()).await;
    drop(actor);
    assert!(
        matches!(refused, Err(ConfluenceError::RateLimited { .. })),
        "{refused:?}"
    );
    let limited_at = app.sim.control().now();

    // Replica two has seen nothing, but the fleet budget makes it wait.
    let actor = time.actors(1);
    let listed = list_pages(two.site(sites[1].clone(), tokens.clone()).unwrap())
        .await
        .unwrap();
    drop(actor);
    assert!(listed > 0);

    let stats = app.sim.control().stats();
    assert_eq!(stats.rate_limited, 1, "only the injected 429");
    assert_eq!(stats.flagged, 0, "nothing was sent during the Retry-After");
    let first_after = charges(&app)
        .into_iter()
        .map(|(at, _)| at)
        .find(|at| *at > limited_at)
        .unwrap();
    assert!(
        first_after >= limited_at + chrono::Duration::seconds(20),
        "replica two sent at {first_after}, the pause ran until {}",
        limited_at + chrono::Duration::seconds(20)
    );
    app.stop().await;
}

/// A clock that only moves when slept on.
#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        *self.0.lock().unwrap() += chrono::Duration::from_std(duration).unwrap();
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn the_adapter_waits_on_its_clock_and_gives_up_beyond_its_cap() {
    let prefix = TestPrefix::new();
    let settings = confsync_tests::settings(&prefix, &[]);
    let store = confsync_runtime::wiring::open_store(&settings).unwrap();
    // 90 points a second, 1,000 banked.
    let config = BudgetConfig::new(10_000, Duration::from_secs(100), 0.1, 1000);
    let clock = Arc::new(ManualClock(Mutex::new(start())));
    let budget = FleetBudget::new(
        Budget::new(store, config).unwrap(),
        clock.clone(),
        Duration::from_secs(3),
    );
    let site = CloudId::parse("site-a").unwrap();

    let drained = budget
        .reserve(&site, 1000, Priority::Incremental)
        .await
        .unwrap();
    // 180 points: two seconds of refill, inside the 3 s cap.
    let waited_for = budget
        .reserve(&site, 180, Priority::Incremental)
        .await
        .unwrap();
    let waited = clock.now() - start();
    assert!(
        (1999..=2003).contains(&waited.num_milliseconds()),
        "waited {waited}"
    );
    // 900 points would take ten seconds: refused without waiting.
    let before = clock.now();
    let refused = budget.reserve(&site, 900, Priority::Incremental).await;
    match refused {
        Err(BudgetError::Exhausted { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(9), "{retry_after:?}");
        }
        other => panic!("expected exhaustion, got {other:?}"),
    }
    assert_eq!(clock.now(), before, "no time was spent on a hopeless wait");

    // A global 429 settled by this replica pauses every reservation.
    let limited = RateLimitHeaders {
        status: 429,
        reason: Some(RateLimitReason::Global),
        retry_after: Some(Duration::from_secs(30)),
        ..RateLimitHeaders::default()
    };
    budget.settle(drained, 0, &limited).await;
    budget
        .settle(waited_for, 180, &RateLimitHeaders::none())
        .await;
    match budget.reserve(&site, 1, Priority::Incremental).await {
        Err(BudgetError::Exhausted { retry_after }) => {
            assert!(
                retry_after > Duration::from_secs(29),
                "paused for {retry_after:?}"
            );
        }
        other => panic!("expected the pause, got {other:?}"),
    }
}

#[tokio::test]
async fn the_workers_budget_from_settings_publishes_what_is_left() {
    let prefix = TestPrefix::new();
    let settings = confsync_tests::settings(&prefix, &[]);
    let store = confsync_runtime::wiring::open_store(&settings).unwrap();
    let gauge = prometheus::IntGauge::new("budget_points_available", "test").unwrap();
    let clock = Arc::new(ManualClock(Mutex::new(start())));
    let budget = FleetBudget::from_settings(&settings, store, clock, gauge.clone()).unwrap();
    let site = CloudId::parse("site-a").unwrap();

    let reservation = budget.reserve(&site, 251, Priority::Full).await.unwrap();
    assert_eq!(gauge.get(), 2000 - 251, "the shipped burst is 2,000 points");
    budget
        .settle(reservation, 26, &RateLimitHeaders::none())
        .await;
    assert_eq!(gauge.get(), 2000 - 26);
}
