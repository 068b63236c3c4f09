//! The receiver: the thin HTTP front of confsync. It starts the OAuth flow,
//! takes the callback, stores the grant and enqueues the first sync; it serves
//! the operator API and `/healthz`, `/readyz`, `/metrics` on
//! `receiver.listen_addr`.
//!
//! It holds no crawl logic. Its only Atlassian calls go through
//! `confsync-oauth` (token grants, accessible-resources, and `user/current` to
//! learn which account consented); its only state is Redis, through
//! `confsync-store`.

mod admin;
mod api_auth;
mod connect;
mod events;
mod metrics;
mod return_to;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use confsync_oauth::AtlassianOAuth;
use confsync_runtime::settings::CALLBACK_PATH;
use confsync_runtime::{Settings, ops, shutdown, telemetry, wiring};
use confsync_store::{Store, StoreError, SyncQueue, Vault};
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

pub use metrics::ReceiverMetrics;

/// The path AINexLayer's backend calls to start a connection.
pub const ADD_PATH: &str = "/api/v1/auth/confluence/connector/add";

/// Why the receiver could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    OAuth(#[from] confsync_oauth::OAuthError),
    #[error("http server: {0}")]
    Serve(#[from] std::io::Error),
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    settings: Arc<Settings>,
    store: Store,
    vault: Arc<OnceCell<Vault>>,
    queue: SyncQueue,
    oauth: Option<AtlassianOAuth>,
    allowlist: return_to::Allowlist,
    api_token: api_auth::ApiToken,
    state_ttl: chrono::Duration,
    metrics: ReceiverMetrics,
}

impl AppState {
    /// The vault, opened on first use: in dev without a key, opening needs
    /// Redis (the generated key lives there), which may not be up at start.
    async fn vault(&self) -> Result<&Vault, StoreError> {
        self.vault
            .get_or_try_init(|| wiring::open_vault(&self.settings, self.store.clone()))
            .await
    }
}

/// Serves the receiver on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReceiverError> {
    let registry = telemetry::new_registry("receiver")?;
    let metrics = ReceiverMetrics::register(&registry)?;
    let store = wiring::open_store(&settings)?;
    let oauth = wiring::oauth_client(&settings)?;
    if oauth.is_none() {
        tracing::warn!(
            "no Atlassian OAuth client configured (ATLASSIAN_CLIENT_ID/ATLASSIAN_CLIENT_SECRET): connect requests answer 503"
        );
    }
    let state = AppState {
        store: store.clone(),
        vault: Arc::new(OnceCell::new()),
        queue: SyncQueue::new(&store),
        oauth,
        allowlist: return_to::Allowlist::new(&settings.receiver.return_to_allowlist),
        api_token: api_auth::ApiToken::new(&settings.receiver.api_token),
        state_ttl: chrono::Duration::seconds(
            i64::try_from(settings.receiver.state_ttl_secs).unwrap_or(600),
        ),
        metrics,
        settings: Arc::new(settings),
    };
    let router = Router::new()
        .route(ADD_PATH, get(connect::add))
        .route(CALLBACK_PATH, get(connect::callback))
        .route("/api/v1/connections", get(admin::list))
        .route(
            "/api/v1/connections/{grant}",
            get(admin::show).delete(admin::disconnect),
        )
        .route("/api/v1/connections/{grant}/resync", post(admin::resync))
        .route(
            "/api/v1/connections/{grant}/dead-letters",
            get(admin::dead_letters),
        )
        .route(
            "/api/v1/connections/{grant}/dead-letters/retry",
            post(admin::retry_dead_letters),
        )
        .with_state(state.clone())
        .merge(ops::router(
            registry,
            wiring::redis_readiness(store.clone()),
        ));

    let addr = listener.local_addr()?;
    tracing::info!(%addr, environment = state.settings.environment.as_str(), "receiver listening");
    // Redis may still be down: requests that need it answer 503 until it is
    // back, and this task says so in the log meanwhile. Once it answers, the
    // vault is opened so a missing dev key is reported at start-up.
    let waiter = tokio::spawn(async move {
        store.wait_until_ready().await;
        if let Err(error) = state.vault().await {
            tracing::error!(%error, "cannot open the token vault");
        }
    });
    let served = shutdown::serve(listener, router, shutdown).await;
    waiter.abort();
    tracing::info!("receiver stopped");
    Ok(served?)
}
