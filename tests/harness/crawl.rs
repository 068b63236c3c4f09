//! The crawl engine under test: a [`TestApp`] whose simulator's clock is
//! frozen (time moves only when the code under test sleeps or a test says
//! so), a connected tenant, and worker replicas (each its own crawler and
//! sync consumer, sharing Redis and the simulator) whose queue tests drain
//! deterministically with [`Replica::drain`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use confsync_confluence::{BoxFuture, Clock};
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_core::{CloudId, GrantId};
use confsync_runtime::Settings;
use confsync_runtime::settings::IndexerTarget;
use confsync_sim::{CommentKind, ContentType, Control, Listener, SimConfig, Status};
use confsync_store::{SiteKey, SiteState, SiteStore, SyncQueue};
use confsync_worker::WorkerMetrics;
use confsync_worker::budget::FleetBudget;
use confsync_worker::consumer::{Processed, SyncConsumer};
use confsync_worker::crawl::{CrawlSettings, Crawler, CrawlerParts, JobOutcome};
use confsync_worker::scheduler::{Planner, Scheduler};
use confsync_worker::tokens::{RefreshPolicy, TokenKeeper};
use secrecy::SecretString;

use crate::app::TestApp;

/// Where the simulator's frozen clock starts: a round hour, so quota windows
/// start with the test.
pub fn sim_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

/// The simulator's clock as the worker's: "now" is the simulator's, and a
/// sleep moves the simulator's clock instead of waiting.
#[derive(Debug, Clone)]
pub struct SimClock(pub Control);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0.advance_clock(duration);
        Box::pin(tokio::task::yield_now())
    }
}

/// Test logs on stderr when `RUST_LOG` is set (`--no-capture` shows them).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A simulator with a frozen clock, a receiver, and one connected tenant.
#[derive(Debug)]
pub struct CrawlApp {
    pub app: TestApp,
    pub grant: GrantId,
}

impl CrawlApp {
    /// `sim` with its clock frozen at [`sim_start`]; connects tenant `acme`.
    pub async fn spawn(sim: SimConfig) -> CrawlApp {
        init_logs();
        // Tokens outlive any test's simulated hours: the receiver stores their
        // expiry in wall-clock time, the simulator expires them in its own.
        let sim = sim
            .freeze_clock(true)
            .start_time(sim_start())
            .access_token_ttl(Duration::from_secs(30 * 86_400));
        let app = TestApp::spawn_with(sim, &[]).await;
        let grant = GrantId::parse(app.connect("acme").await).expect("a grant id");
        CrawlApp { app, grant }
    }

    pub fn control(&self) -> Control {
        self.app.sim.control()
    }

    /// The cloud ids of the simulator's sites, in order.
    pub fn clouds(&self) -> Vec<CloudId> {
        self.control()
            .sites()
            .into_iter()
            .map(|s| CloudId::parse(s.cloud_id).expect("a cloud id"))
            .collect()
    }

    pub fn cloud(&self) -> CloudId {
        self.clouds().remove(0)
    }

    /// Worker settings against the simulator's indexer, with quick indexer
    /// retries (the indexer client waits in real time).
    pub fn worker_settings(&self) -> Settings {
        let mut settings = self.app.settings.clone();
        let indexer_url = url::Url::parse(&self.app.sim.indexer_url()).expect("indexer url");
        settings.indexer.target = Some(IndexerTarget::Http(indexer_url));
        settings.indexer.token = SecretString::from(self.control().indexer_token());
        settings.indexer.retry_min_delay_ms = 1;
        settings.indexer.retry_max_delay_ms = 5;
        settings.indexer.retry_max_attempts = 2;
        settings.indexer.retry_max_total_wait_secs = 1;
        settings.atlassian.retry_max_retries = 1;
        settings
    }

    /// A worker replica with the default worker settings.
    pub fn replica(&self) -> Replica {
        self.replica_with(|_| {})
    }

    /// A worker replica whose settings `tweak` adjusts.
    pub fn replica_with(&self, tweak: impl FnOnce(&mut Settings)) -> Replica {
        let mut settings = self.worker_settings();
        tweak(&mut settings);
        Replica::new(self, settings)
    }

    /// Queues `mode` for the grant's first site, as an operator would.
    pub async fn request(&self, mode: SyncMode) {
        self.request_for(&self.cloud(), mode, SyncTrigger::Operator)
            .await;
    }

    pub async fn request_for(&self, cloud: &CloudId, mode: SyncMode, trigger: SyncTrigger) {
        let job = SyncJob::new(self.grant.clone(), cloud.clone(), mode, trigger);
        self.app.queue().push(job).await.expect("job queued");
    }

    /// This app's grant's view of `cloud` (its known map, dead letters…).
    pub fn key(&self, cloud: &CloudId) -> SiteKey {
        SiteKey::new(self.grant.clone(), cloud.clone())
    }

    /// API points the simulator charged since its request log was reset.
    pub fn points_spent(&self) -> u64 {
        self.control()
            .requests(0)
            .iter()
            .filter(|r| r.listener == Listener::Api)
            .map(|r| r.points)
            .sum()
    }

    /// Label requests logged (one per page or blog post built, when labels
    /// are fetched).
    pub fn label_requests(&self) -> usize {
        self.control()
            .requests(0)
            .iter()
            .filter(|r| r.path.contains("/labels"))
            .count()
    }

    /// Users the logged `user/bulk` requests returned (2 points each).
    pub fn users_fetched(&self) -> u64 {
        self.control()
            .requests(0)
            .iter()
            .filter(|r| r.path.contains("/rest/api/user/bulk"))
            .map(|r| r.points.saturating_sub(1) / 2)
            .sum()
    }

    /// DESIGN.md section 8's lower bound for a full crawl of the first site:
    /// every object the listings return plus one request per 250 of them,
    /// for spaces, pages (current and archived), blog posts, footer and
    /// inline comments (those of listed pages and blog posts: the others
    /// are in no listing), plus `users` fetched (2 points each, 200 a
    /// request).
    pub fn points_lower_bound(&self, users: u64) -> u64 {
        let control = self.control();
        let cloud = self.cloud();
        let site = cloud.as_str();
        let counts = control.site_counts(site).expect("site counts");
        let listing = |n: usize| n as u64 + (n as u64).div_ceil(250).max(1);
        let pages = control
            .contents(
                site,
                ContentType::Page,
                &[Status::Current, Status::Archived],
            )
            .expect("pages");
        let posts = control
            .contents(site, ContentType::BlogPost, &[Status::Current])
            .expect("blog posts");
        let (listed_pages, listed_posts) = (pages.len(), posts.len());
        let listed: HashSet<String> = pages.into_iter().chain(posts).map(|c| c.id).collect();
        let comments: Vec<_> = control
            .comments(site)
            .expect("comments")
            .into_iter()
            .filter(|c| c.status == Status::Current && listed.contains(&c.container_id))
            .collect();
        let footer = comments
            .iter()
            .filter(|c| c.kind == CommentKind::Footer)
            .count();
        let inline = comments.len() - footer;
        listing(counts.spaces)
            + listing(listed_pages)
            + listing(listed_posts)
            + listing(footer)
            + listing(inline)
            + 2 * users
            + users.div_ceil(200)
    }

    /// The crawl state of the grant's site `cloud`.
    pub async fn state(&self, cloud: &CloudId) -> SiteState {
        SiteStore::new(self.app.store())
            .state(&self.grant, cloud)
            .await
            .expect("site state")
    }

    /// Documents in the simulator's indexer, by id.
    pub fn indexed(&self) -> BTreeMap<String, serde_json::Value> {
        self.control().indexed_documents()
    }

    /// Makes every delayed job (a retry) due now, so a drain takes it.
    pub fn make_delayed_jobs_due(&self) {
        let client = redis::Client::open(crate::redis_url()).expect("redis url");
        let mut conn = client.get_connection().expect("redis connection");
        let key = format!("{}queue:sync:scheduled", self.app.prefix.as_str());
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query(&mut conn)
            .expect("scheduled jobs");
        for id in ids {
            let _: i64 = redis::cmd("ZADD")
                .arg(&key)
                .arg(0)
                .arg(&id)
                .query(&mut conn)
                .expect("reschedule");
        }
    }

    pub async fn stop(self) {
        self.app.stop().await;
    }
}

/// One worker replica: its own crawler (caches, HTTP pool, metrics) and
/// sync consumer, sharing Redis and the simulator with the others.
#[derive(Debug)]
pub struct Replica {
    pub consumer: SyncConsumer,
    pub crawler: Arc<Crawler>,
    pub metrics: WorkerMetrics,
    pub registry: prometheus::Registry,
    pub settings: Settings,
    pub budget: FleetBudget,
    keeper: TokenKeeper,
}

impl Replica {
    fn new(app: &CrawlApp, settings: Settings) -> Replica {
        let registry = prometheus::Registry::new();
        let metrics = WorkerMetrics::register(&registry).expect("metrics");
        let store = confsync_runtime::wiring::open_store(&settings).expect("store");
        let clock: Arc<dyn Clock> = Arc::new(SimClock(app.control()));
        let budget = FleetBudget::from_settings(
            &settings,
            store.clone(),
            Arc::clone(&clock),
            metrics.store.budget_points_available.clone(),
        )
        .expect("budget");
        let oauth = confsync_runtime::wiring::oauth_client(&settings)
            .expect("oauth client")
            .expect("credentials configured");
        let keeper = TokenKeeper::new(
            store.clone(),
            app.app.vault(),
            oauth,
            RefreshPolicy::default(),
            metrics.oauth.clone(),
        );
        let confluence = confsync_runtime::wiring::confluence(
            &settings,
            metrics.api.clone(),
            Arc::clone(&clock),
            Arc::new(budget.clone()),
        )
        .expect("confluence client");
        let indexer = confsync_runtime::wiring::indexer(&settings, metrics.indexer.clone())
            .expect("indexer client")
            .expect("an indexer is configured");
        let crawler = Arc::new(Crawler::new(CrawlerParts {
            store: store.clone(),
            vault: app.app.vault(),
            keeper: keeper.clone(),
            confluence,
            indexer,
            clock,
            settings: CrawlSettings::from_settings(&settings.sync).expect("sync settings"),
            metrics: metrics.clone(),
        }));
        let consumer = SyncConsumer::new(Arc::clone(&crawler), SyncQueue::new(&store), 1);
        Replica {
            consumer,
            crawler,
            metrics,
            registry,
            settings,
            budget,
            keeper,
        }
    }

    /// Runs the next due job; `None` when none is due.
    pub async fn step(&self) -> Option<Processed> {
        self.consumer
            .process_next()
            .await
            .expect("the job step runs")
    }

    /// Runs due jobs until none is left; returns them in order.
    pub async fn drain(&self) -> Vec<Processed> {
        let mut done = Vec::new();
        while let Some(processed) = self.step().await {
            done.push(processed);
            assert!(done.len() < 100, "the queue never drains: {done:?}");
        }
        done
    }

    /// The outcomes of [`Replica::drain`], with the modes that ran.
    pub async fn drain_outcomes(&self) -> Vec<(SyncMode, Result<JobOutcome, String>)> {
        self.drain()
            .await
            .into_iter()
            .map(|p| match p.result {
                Ok(report) => (report.mode, Ok(report.outcome)),
                Err(failure) => (p.job.mode, Err(failure.to_string())),
            })
            .collect()
    }

    /// This replica's scheduler, planning with its budget.
    pub fn scheduler(&self, app: &CrawlApp) -> Scheduler {
        let store = confsync_runtime::wiring::open_store(&self.settings).expect("store");
        let planner = Planner::new(
            store.clone(),
            Some(self.budget.budget().clone()),
            self.crawler.settings().clone(),
            Duration::from_secs(self.settings.sync.reconcile_interval_secs),
            Duration::from_secs(60),
        );
        Scheduler::new(
            store,
            app.app.vault(),
            Some(self.keeper.clone()),
            self.metrics.clone(),
            Duration::from_secs(3600),
        )
        .with_planner(planner)
    }

    /// The sum of a counter's or gauge's series matching `labels` in this
    /// replica's registry (0 when absent).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: HashMap<&str, &str> = labels.iter().copied().collect();
        let mut sum = 0.0;
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            let counter = family.get_field_type() == prometheus::proto::MetricType::COUNTER;
            for metric in family.get_metric() {
                let matching = metric
                    .get_label()
                    .iter()
                    .filter(|l| wanted.get(l.name()) == Some(&l.value()))
                    .count();
                if matching == wanted.len() {
                    sum += if counter {
                        metric.get_counter().get_value()
                    } else {
                        metric.get_gauge().get_value()
                    };
                }
            }
        }
        sum
    }
}
