//! Start-up and shutdown: generates the sites, binds the three listeners
//! (auth, API, indexer) on loopback, serves them, and hands back a
//! [`SimHandle`] with their URLs and the control surface.
//!
//! Nothing global: every simulator owns its state and ports, so tests run
//! many in parallel in one process.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{AuthState, AuthTimes, random_token};
use crate::clock::{Clock, duration_ms};
use crate::config::{GrantSites, SimConfig};
use crate::control::Control;
use crate::error::SimError;
use crate::faults::Faults;
use crate::indexer::IndexerState;
use crate::indexer::http::RefusingListener;
use crate::quota::Quota;
use crate::reqlog::RequestLog;
use crate::site::generate::{generate_site, site_info};
use crate::site::users::UserPool;
use crate::state::{Shared, SiteSlot};

/// The simulator. See [`Sim::start`].
#[derive(Debug)]
pub struct Sim;

/// A running simulator: its URLs, credentials and control surface
/// ([`Control`], reached through `Deref`).
#[derive(Debug)]
pub struct SimHandle {
    control: Control,
    auth_addr: SocketAddr,
    api_addr: SocketAddr,
    indexer_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Deref for SimHandle {
    type Target = Control;

    fn deref(&self) -> &Control {
        &self.control
    }
}

async fn bind(addr: Option<SocketAddr>, what: &'static str) -> Result<TcpListener, SimError> {
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { what, source })
}

fn validate(config: &SimConfig) -> Result<(), SimError> {
    if config.sites == 0 {
        return Err(SimError::Config("at least one site is required".into()));
    }
    if config.pages_per_site < 2 {
        return Err(SimError::Config(
            "at least 2 pages per site are required".into(),
        ));
    }
    if config.quota_window.as_secs() == 0 {
        return Err(SimError::Config(
            "the quota window must be at least 1 s".into(),
        ));
    }
    Ok(())
}

fn grant_sites(config: &SimConfig) -> Vec<usize> {
    match &config.grant_sites {
        GrantSites::All => (0..config.sites).collect(),
        GrantSites::First(n) => (0..config.sites.min(*n)).collect(),
        GrantSites::Indexes(list) => list.iter().copied().filter(|i| *i < config.sites).collect(),
    }
}

/// Generates every site (CPU-bound: run it off the async workers).
fn build_sites(config: &SimConfig, users: &Arc<UserPool>, now: i64) -> Vec<SiteSlot> {
    (0..config.sites)
        .map(|index| SiteSlot {
            info: site_info(config.seed, index),
            data: RwLock::new(generate_site(config.seed, index, config, users, now)),
        })
        .collect()
}

impl Sim {
    /// Generates the sites and starts the three listeners.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        validate(&config)?;
        let start = config.start_time.unwrap_or_else(chrono::Utc::now);
        let clock = Clock::new(start, config.freeze_clock);
        let now = clock.now_ms();
        let users = Arc::new(UserPool::generate(config.seed, config.effective_users()));
        let sites = {
            let (config, users) = (config.clone(), Arc::clone(&users));
            tokio::task::spawn_blocking(move || build_sites(&config, &users, now))
                .await
                .map_err(|e| SimError::Config(format!("site generation failed: {e}")))?
        };
        let auth = AuthState::new(
            config.client_id.clone().unwrap_or_else(|| random_token(24)),
            config
                .client_secret
                .clone()
                .unwrap_or_else(|| random_token(48)),
            config.callback_urls.clone(),
            AuthTimes {
                access_ttl: duration_ms(config.access_token_ttl),
                reuse_window: duration_ms(config.refresh_reuse_window),
                inactivity: duration_ms(config.refresh_inactivity_expiry),
                absolute: config.refresh_absolute_expiry.map(duration_ms),
                code_ttl: duration_ms(config.code_ttl),
            },
            grant_sites(&config),
            users.get(0).account_id.clone(),
        );
        let quota = Quota::new(
            config.quota_points,
            config.quota_window.as_secs(),
            config.tenant_quota_points,
            config.burst_requests_per_second,
            now,
        );
        let indexer = IndexerState::new(
            config
                .indexer_token
                .clone()
                .unwrap_or_else(|| random_token(32)),
            config.indexer_max_batch_bytes,
            config.indexer_keep_content,
        );
        let auth_listener = bind(config.auth_addr, "the auth listener").await?;
        let api_listener = bind(config.api_addr, "the API listener").await?;
        let indexer_listener = bind(config.indexer_addr, "the indexer listener").await?;
        let addr = |l: &TcpListener, what| {
            l.local_addr()
                .map_err(|source| SimError::Bind { what, source })
        };
        let (auth_addr, api_addr, indexer_addr) = (
            addr(&auth_listener, "the auth listener")?,
            addr(&api_listener, "the API listener")?,
            addr(&indexer_listener, "the indexer listener")?,
        );
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            log: Mutex::new(RequestLog::new(config.request_log_capacity)),
            config,
            clock,
            users,
            sites,
            auth: Mutex::new(auth),
            quota: Mutex::new(quota),
            faults: Mutex::new(Faults::default()),
            indexer: Mutex::new(indexer),
            shutdown: stop_rx,
        });
        let tasks = vec![
            serve(
                auth_listener,
                crate::auth::http::router(Arc::clone(&shared)),
                &shared,
            ),
            serve(
                api_listener,
                crate::gateway::router(Arc::clone(&shared)),
                &shared,
            ),
            serve(
                RefusingListener {
                    inner: indexer_listener,
                    shared: Arc::clone(&shared),
                },
                crate::indexer::http::router(Arc::clone(&shared)),
                &shared,
            ),
        ];
        Ok(SimHandle {
            control: Control { shared },
            auth_addr,
            api_addr,
            indexer_addr,
            stop,
            tasks,
        })
    }
}

fn serve<L>(listener: L, router: axum::Router, shared: &Arc<Shared>) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let shutdown = async move { shared.shutting_down().await };
        // Serving only ends with shutdown; an IO error here has nowhere to go
        // but the log.
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "a simulator listener stopped");
        }
    })
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` of the auth server (auth.atlassian.com).
    pub fn auth_url(&self) -> String {
        format!("http://{}", self.auth_addr)
    }

    /// `http://127.0.0.1:PORT` of the API gateway (api.atlassian.com).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// `http://127.0.0.1:PORT` of the indexer.
    pub fn indexer_url(&self) -> String {
        format!("http://{}", self.indexer_addr)
    }

    /// The control surface as an owned, cloneable value.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops the listeners (hanging responses end at once) and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            // A listener task only fails by panicking; nothing to do then.
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        // A handle dropped without `shutdown` still stops its listeners.
        let _ = self.stop.send(true);
    }
}
