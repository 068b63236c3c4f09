//! Small pieces of wiring both servers share: the store, the vault and the
//! OAuth client from the settings, and the readiness check that pings Redis.

use std::sync::Arc;
use std::time::Duration;

use confsync_confluence::metrics::ApiMetrics;
use confsync_confluence::{ClientConfig, Clock, Confluence, ConfluenceError, Limit, PointsBudget};
use confsync_indexer::metrics::IndexerMetrics;
use confsync_indexer::{
    BatchLimits, Indexer, IndexerConfig, IndexerError, IndexerTarget, RetryPolicy,
};
use confsync_oauth::{AtlassianOAuth, OAuthConfig, OAuthError};
use confsync_store::crypto::Keyring;
use confsync_store::{Store, StoreConfig, StoreError, Vault};

use crate::ops::ReadinessCheck;
use crate::settings::Settings;

/// The store described by `settings.redis`.
pub fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    let redis = &settings.redis;
    let (reconnect_min_delay, reconnect_max_delay) = redis.reconnect_delays();
    Store::open(&StoreConfig {
        url: redis.url.clone(),
        key_prefix: redis.key_prefix.clone(),
        connect_timeout: redis.connect_timeout(),
        response_timeout: redis.response_timeout(),
        reconnect_min_delay,
        reconnect_max_delay,
    })
}

/// Ready while Redis answers `PING`.
pub fn redis_readiness(store: Store) -> ReadinessCheck {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    })
}

/// The token vault: the configured key (and the previous one during a
/// rotation), or, in dev without a key, a generated key shared through Redis
/// with a loud warning. Production never gets here without a key: settings
/// validation refuses to start.
pub async fn open_vault(settings: &Settings, store: Store) -> Result<Vault, StoreError> {
    let security = &settings.security;
    match &security.token_encryption_key {
        Some(key) => Ok(Vault::new(
            store,
            Keyring::new(key, security.previous_token_encryption_key.as_ref()),
        )),
        None => {
            tracing::warn!(
                "TOKEN_ENCRYPTION_KEY is not set: using a generated dev key kept in Redis beside the tokens; \
                 tokens are NOT protected at rest. Set TOKEN_ENCRYPTION_KEY (32 random bytes, base64) for any real use"
            );
            Vault::with_shared_dev_key(store).await
        }
    }
}

/// The OAuth client, when Atlassian credentials are configured.
pub fn oauth_client(settings: &Settings) -> Result<Option<AtlassianOAuth>, OAuthError> {
    let atlassian = &settings.atlassian;
    if !atlassian.has_credentials() {
        return Ok(None);
    }
    AtlassianOAuth::new(&OAuthConfig {
        client_id: atlassian.client_id.clone(),
        client_secret: atlassian.client_secret.clone(),
        redirect_uri: atlassian.redirect_uri.clone(),
        auth_url: atlassian.auth_url.clone(),
        api_url: atlassian.api_url.clone(),
        scopes: atlassian.scopes.clone(),
        request_timeout: atlassian.request_timeout(),
    })
    .map(Some)
}

/// The indexer client for `settings.indexer`, or `None` when no indexer is
/// configured (dev without `INDEXER_URL`; production refuses to start then).
pub fn indexer(
    settings: &Settings,
    metrics: IndexerMetrics,
) -> Result<Option<Indexer>, IndexerError> {
    let indexer = &settings.indexer;
    let Some(target) = &indexer.target else {
        return Ok(None);
    };
    let target = match target {
        crate::settings::IndexerTarget::Http(url) => IndexerTarget::Http(url.clone()),
        crate::settings::IndexerTarget::File(path) => IndexerTarget::File(path.clone()),
    };
    let config = IndexerConfig {
        target,
        token: indexer.token.clone(),
        limits: BatchLimits {
            max_documents: indexer.max_batch_documents,
            max_bytes: indexer.max_batch_bytes,
        },
        request_timeout: Duration::from_millis(indexer.request_timeout_ms),
        retry: RetryPolicy {
            min_delay: Duration::from_millis(indexer.retry_min_delay_ms),
            max_delay: Duration::from_millis(indexer.retry_max_delay_ms),
            max_attempts: indexer.retry_max_attempts,
            max_total_wait: Duration::from_secs(indexer.retry_max_total_wait_secs),
        },
    };
    Indexer::new(config, metrics).map(Some)
}

/// The Confluence API client for `settings.atlassian`, metered by `budget`.
pub fn confluence(
    settings: &Settings,
    metrics: ApiMetrics,
    clock: Arc<dyn Clock>,
    budget: Arc<dyn PointsBudget>,
) -> Result<Confluence, ConfluenceError> {
    let a = &settings.atlassian;
    let mut config = ClientConfig::atlassian(a.api_url.clone());
    config.request_timeout = a.request_timeout();
    config.connect_timeout = Duration::from_millis(a.connect_timeout_ms);
    config.retry.initial_delay = Duration::from_millis(a.retry_initial_delay_ms);
    config.retry.max_delay = Duration::from_millis(a.retry_max_delay_ms);
    config.retry.max_retries = a.retry_max_retries;
    config.max_in_request_wait = Duration::from_secs(a.max_in_request_wait_secs);
    config.expiry_margin = Duration::from_secs(a.expiry_margin_secs);
    if let Some(limit) = Limit::new(a.gateway_timeout_fallback_limit) {
        config.gateway_timeout_fallback_limit = limit;
    }
    Confluence::new(config, metrics, clock, budget)
}
