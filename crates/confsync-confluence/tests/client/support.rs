//! The harness: a frozen-clock simulator, a clock that moves the simulator's
//! time instead of sleeping, a token source that refreshes against the
//! simulator's auth server, a budget that records every settle call, and a
//! client wired to all of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use confsync_confluence::metrics::ApiMetrics;
use confsync_confluence::{
    AccessToken, BoxFuture, BudgetError, ClientConfig, Clock, Confluence, PointsBudget, Priority,
    RateLimitHeaders, Reservation, RetryPolicy, SiteClient, TokenError, TokenSource,
};
use confsync_core::CloudId;
use confsync_sim::{Control, RequestRecord, Sim, SimConfig, SimHandle};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

/// Every scope the app asks for.
pub const ALL_SCOPES: &[&str] = &[
    "read:confluence-user",
    "read:page:confluence",
    "read:comment:confluence",
    "read:space:confluence",
    "offline_access",
];

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap()
}

/// A small one-site simulator whose clock moves only when told.
pub fn sim_config() -> SimConfig {
    SimConfig::default()
        .seed(42)
        .pages(120)
        .freeze_clock(true)
        .start_time(start_time())
}

pub async fn start(config: SimConfig) -> SimHandle {
    Sim::start(config).await.expect("the simulator starts")
}

pub fn cloud(sim: &SimHandle) -> CloudId {
    CloudId::parse(sim.sites()[0].cloud_id.clone()).unwrap()
}

/// The test clock: "now" is the simulator's, and sleeping moves the
/// simulator's clock forward instead of waiting.
#[derive(Debug, Clone)]
pub struct SimClock(pub Control);

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0.advance_clock(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Small delays without jitter: the sim clock makes them free anyway, and
/// exact numbers keep assertions simple.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_retries: 4,
        jitter_min: 1.0,
        jitter_max: 1.0,
    }
}

pub fn client_config(sim: &SimHandle) -> ClientConfig {
    let mut config = ClientConfig::atlassian(Url::parse(&sim.api_url()).unwrap());
    config.retry = quick_retries();
    config.request_timeout = Duration::from_secs(20);
    config
}

/// A grant's tokens, refreshed against the simulator's auth server like the
/// worker's source would (without Redis). Counts refresh attempts.
#[derive(Debug)]
pub struct SimTokens {
    http: reqwest::Client,
    auth_url: String,
    client_id: String,
    client_secret: String,
    control: Control,
    state: Mutex<Stored>,
    refreshes: AtomicUsize,
}

#[derive(Debug, Clone)]
struct Stored {
    access: String,
    refresh: Option<String>,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
}

impl SimTokens {
    /// Mints a grant with `scopes` and stores its tokens.
    pub fn mint(sim: &SimHandle, scopes: &[&str]) -> Arc<SimTokens> {
        let minted = sim.mint_tokens(None, scopes);
        Arc::new(SimTokens {
            http: reqwest::Client::new(),
            auth_url: sim.auth_url(),
            client_id: sim.client_id(),
            client_secret: sim.client_secret(),
            control: sim.control(),
            state: Mutex::new(Stored {
                access: minted.access_token,
                refresh: minted.refresh_token,
                expires_at: sim.now() + chrono::Duration::seconds(minted.expires_in as i64),
            }),
            refreshes: AtomicUsize::new(0),
        })
    }

    /// How many refreshes were asked for.
    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Overrides the stored expiry (what the worker recorded at refresh).
    pub fn set_stored_expiry(&self, at: DateTime<Utc>) {
        self.state.lock().unwrap().expires_at = at;
    }

    pub fn access_token_now(&self) -> String {
        self.state.lock().unwrap().access.clone()
    }

    fn current(&self) -> AccessToken {
        let stored = self.state.lock().unwrap().clone();
        AccessToken {
            secret: SecretString::from(stored.access),
            expires_at: stored.expires_at,
        }
    }

    async fn refresh_now(&self, rejected: &SecretString) -> Result<AccessToken, TokenError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let refresh_token = {
            let stored = self.state.lock().unwrap();
            if stored.access != rejected.expose_secret() {
                // Someone else refreshed already.
                drop(stored);
                return Ok(self.current());
            }
            stored.refresh.clone()
        };
        let Some(refresh_token) = refresh_token else {
            return Err(TokenError::GrantRevoked);
        };
        let body = serde_json::json!({
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
        });
        let response = self
            .http
            .post(format!("{}/oauth/token", self.auth_url))
            .json(&body)
            .send()
            .await
            .map_err(|_| unavailable("auth server unreachable"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            let tokens: TokenBody =
                serde_json::from_str(&text).map_err(|_| unavailable("bad token response"))?;
            let mut stored = self.state.lock().unwrap();
            stored.access = tokens.access_token;
            stored.refresh = tokens.refresh_token.or(stored.refresh.take());
            stored.expires_at =
                self.control.now() + chrono::Duration::seconds(tokens.expires_in as i64);
            drop(stored);
            return Ok(self.current());
        }
        let error = serde_json::from_str::<TokenErrorBody>(&text)
            .map(|b| b.error)
            .unwrap_or_default();
        match error.as_str() {
            "invalid_grant" | "unauthorized_client" => Err(TokenError::GrantRevoked),
            _ => Err(unavailable("token endpoint refused")),
        }
    }
}

fn unavailable(reason: &str) -> TokenError {
    TokenError::Unavailable {
        reason: reason.to_owned(),
        retry_after: None,
    }
}

impl TokenSource for SimTokens {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(std::future::ready(Ok(self.current())))
    }

    fn refresh<'a>(
        &'a self,
        rejected: &'a SecretString,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(self.refresh_now(rejected))
    }
}

/// One `settle` call.
#[derive(Debug, Clone)]
pub struct Settled {
    pub reserved: u64,
    pub actual: u64,
    pub priority: Priority,
    pub headers: RateLimitHeaders,
}

/// A budget that grants everything and records every settlement.
#[derive(Debug, Default)]
pub struct RecordingBudget {
    reserved: AtomicUsize,
    settled: Mutex<Vec<Settled>>,
}

impl RecordingBudget {
    pub fn settled(&self) -> Vec<Settled> {
        self.settled.lock().unwrap().clone()
    }

    pub fn actual_total(&self) -> u64 {
        self.settled().iter().map(|s| s.actual).sum()
    }

    pub fn reservations(&self) -> usize {
        self.reserved.load(Ordering::SeqCst)
    }
}

impl PointsBudget for RecordingBudget {
    fn reserve<'a>(
        &'a self,
        cloud_id: &'a CloudId,
        worst_case_points: u64,
        priority: Priority,
    ) -> BoxFuture<'a, Result<Reservation, BudgetError>> {
        let ticket = self.reserved.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        Box::pin(std::future::ready(Ok(Reservation {
            cloud_id: cloud_id.clone(),
            points: worst_case_points,
            priority,
            ticket,
        })))
    }

    fn settle<'a>(
        &'a self,
        reservation: Reservation,
        actual_points: u64,
        observed: &'a RateLimitHeaders,
    ) -> BoxFuture<'a, ()> {
        self.settled.lock().unwrap().push(Settled {
            reserved: reservation.points,
            actual: actual_points,
            priority: reservation.priority,
            headers: observed.clone(),
        });
        Box::pin(std::future::ready(()))
    }
}

/// Everything a test needs, wired together.
pub struct Rig {
    pub sim: SimHandle,
    pub tokens: Arc<SimTokens>,
    pub budget: Arc<RecordingBudget>,
    pub metrics: ApiMetrics,
    pub confluence: Confluence,
    pub site: SiteClient,
}

impl Rig {
    pub async fn new(config: SimConfig) -> Rig {
        Rig::with(config, ALL_SCOPES, |_| {}).await
    }

    /// A rig whose client config `adjust` may change, and whose grant has
    /// `scopes`.
    pub async fn with(
        config: SimConfig,
        scopes: &[&str],
        adjust: impl FnOnce(&mut ClientConfig),
    ) -> Rig {
        let sim = start(config).await;
        let tokens = SimTokens::mint(&sim, scopes);
        let budget = Arc::new(RecordingBudget::default());
        let metrics = ApiMetrics::register(&prometheus::Registry::new()).unwrap();
        let mut client_config = client_config(&sim);
        adjust(&mut client_config);
        let confluence = Confluence::new(
            client_config,
            metrics.clone(),
            Arc::new(SimClock(sim.control())),
            budget.clone(),
        )
        .unwrap();
        let site = confluence.site(cloud(&sim), tokens.clone()).unwrap();
        Rig {
            sim,
            tokens,
            budget,
            metrics,
            confluence,
            site,
        }
    }

    pub fn cloud(&self) -> CloudId {
        cloud(&self.sim)
    }

    /// API requests the simulator answered, in order.
    pub fn api_requests(&self) -> Vec<RequestRecord> {
        self.sim
            .requests(0)
            .into_iter()
            .filter(|r| r.listener == confsync_sim::Listener::Api)
            .collect()
    }

    /// The statuses of API requests whose path contains `needle`.
    pub fn statuses(&self, needle: &str) -> Vec<u16> {
        self.api_requests()
            .iter()
            .filter(|r| r.path.contains(needle))
            .map(|r| r.status)
            .collect()
    }
}
