//! Configuration: layered, typed, validated once at start-up.
//!
//! Layers, later ones winning: the embedded `config/default.toml`, the
//! embedded `config/{CONFSYNC_ENV}.toml`, an optional operator file named by
//! `CONFSYNC_CONFIG_FILE`, `CONFSYNC__SECTION__KEY` environment variables, and
//! finally the plain names AINexLayer's `.env` already carries
//! (`ATLASSIAN_CLIENT_ID`, `REDIS_URL`, ...). An unknown key or a bad value
//! fails with the key's name. Secrets are [`SecretString`]s: their `Debug`
//! output is redacted and nothing here ever formats one.
//!
//! This module reads the environment map it is given and the one optional
//! file; it never reads the process environment itself (see [`Settings::load`]).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");
const DEV_TOML: &str = include_str!("../../../config/dev.toml");
const PRODUCTION_TOML: &str = include_str!("../../../config/production.toml");

/// The path the receiver serves the OAuth callback on (fixed by the seed).
pub const CALLBACK_PATH: &str = "/api/v1/auth/confluence/connector/callback";

/// Plain environment names and the keys they set. They win over everything.
pub const PLAIN_NAMES: &[(&str, &str)] = &[
    ("ATLASSIAN_CLIENT_ID", "atlassian.client_id"),
    ("ATLASSIAN_CLIENT_SECRET", "atlassian.client_secret"),
    ("CONFLUENCE_REDIRECT_URI", "atlassian.redirect_uri"),
    ("ATLASSIAN_AUTH_URL", "atlassian.auth_url"),
    ("ATLASSIAN_API_URL", "atlassian.api_url"),
    ("REDIS_URL", "redis.url"),
    ("INDEXER_URL", "indexer.url"),
    ("INDEXER_TOKEN", "indexer.token"),
    ("TOKEN_ENCRYPTION_KEY", "security.token_encryption_key"),
    ("API_TOKEN", "receiver.api_token"),
];

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &["receiver.return_to_allowlist", "atlassian.scopes"];

/// A configuration problem, naming the key when there is one.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration: {0}")]
    Source(String),
}

impl SettingsError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        SettingsError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Which embedded environment file was layered over the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Production,
}

impl Environment {
    fn parse(value: &str) -> Result<Self, SettingsError> {
        match value {
            "" | "dev" => Ok(Environment::Dev),
            "production" => Ok(Environment::Production),
            other => Err(SettingsError::invalid(
                "CONFSYNC_ENV",
                format!("expected `dev` or `production`, got `{other}`"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Production => "production",
        }
    }
}

/// Every setting of confsync, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub log: LogSettings,
    pub redis: RedisSettings,
    pub atlassian: AtlassianSettings,
    pub receiver: ReceiverSettings,
    pub worker: WorkerSettings,
    pub sync: SyncSettings,
    pub budget: BudgetSettings,
    pub indexer: IndexerSettings,
    pub security: SecuritySettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// May carry a password, so it is kept secret.
    pub url: SecretString,
    pub key_prefix: String,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    pub reconnect_min_delay_ms: u64,
    pub reconnect_max_delay_ms: u64,
}

impl RedisSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }
    pub fn reconnect_delays(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.reconnect_min_delay_ms),
            Duration::from_millis(self.reconnect_max_delay_ms),
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtlassianSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: Url,
    pub auth_url: Url,
    pub api_url: Url,
    pub scopes: Vec<String>,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub retry_initial_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    pub retry_max_retries: usize,
    pub max_in_request_wait_secs: u64,
    pub expiry_margin_secs: u64,
    pub gateway_timeout_fallback_limit: u32,
}

impl AtlassianSettings {
    /// Whether an OAuth client is configured at all. Without one, the dev
    /// set-up runs against the simulator (see `make run`).
    pub fn has_credentials(&self) -> bool {
        !self.client_id.is_empty() && !self.client_secret.expose_secret().is_empty()
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSettings {
    pub listen_addr: SocketAddr,
    pub api_token: SecretString,
    pub return_to_allowlist: Vec<String>,
    pub state_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub listen_addr: SocketAddr,
    pub concurrency: usize,
    pub shutdown_timeout_secs: u64,
    /// Six-field cron expression (seconds first), checked at load time.
    pub scheduler_cron: String,
}

impl WorkerSettings {
    /// The scheduler's cron schedule (validated by [`Settings::load`]).
    pub fn scheduler_schedule(&self) -> Result<cron::Schedule, SettingsError> {
        parse_cron("worker.scheduler_cron", &self.scheduler_cron)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    pub poll_interval_secs: u64,
    pub min_poll_interval_secs: u64,
    pub max_poll_interval_secs: u64,
    pub overlap_secs: u64,
    pub deletion_check_interval_secs: u64,
    pub reconcile_interval_secs: u64,
    pub page_limit: u32,
    pub refresh_ahead_secs: u64,
    pub idle_refresh_secs: u64,
    pub lease_ttl_secs: u64,
    /// Fetch each page's and blog post's labels when building its document
    /// (one request each: labels are not on the list endpoints).
    pub fetch_labels: bool,
    pub user_cache_ttl_secs: u64,
    pub retry_min_delay_secs: u64,
    pub retry_max_delay_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    pub points_per_hour: u64,
    pub headroom_fraction: f64,
    pub burst_points: u64,
}

/// Where documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexerTarget {
    /// AINexLayer's indexer over HTTP.
    Http(Url),
    /// A local JSONL file, one operation per line.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct IndexerSettings {
    /// `None` only when no indexer is configured; binaries that push refuse to start then.
    pub target: Option<IndexerTarget>,
    pub token: SecretString,
    pub max_batch_documents: usize,
    pub max_batch_bytes: usize,
    pub request_timeout_ms: u64,
    pub retry_min_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    pub retry_max_attempts: u32,
    pub retry_max_total_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndexerSettings {
    url: String,
    token: SecretString,
    max_batch_documents: usize,
    max_batch_bytes: usize,
    request_timeout_ms: u64,
    retry_min_delay_ms: u64,
    retry_max_delay_ms: u64,
    retry_max_attempts: u32,
    retry_max_total_wait_secs: u64,
}

/// Raw AES-256 keys (32 bytes each), decoded from base64 at start-up.
#[derive(Clone)]
pub struct SecuritySettings {
    pub token_encryption_key: Option<[u8; 32]>,
    pub previous_token_encryption_key: Option<[u8; 32]>,
}

impl fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |k: &Option<[u8; 32]>| if k.is_some() { "[redacted]" } else { "none" };
        f.debug_struct("SecuritySettings")
            .field("token_encryption_key", &shown(&self.token_encryption_key))
            .field(
                "previous_token_encryption_key",
                &shown(&self.previous_token_encryption_key),
            )
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecuritySettings {
    token_encryption_key: SecretString,
    previous_token_encryption_key: SecretString,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    log: LogSettings,
    redis: RedisSettings,
    atlassian: AtlassianSettings,
    receiver: ReceiverSettings,
    worker: WorkerSettings,
    sync: SyncSettings,
    budget: BudgetSettings,
    indexer: RawIndexerSettings,
    security: RawSecuritySettings,
}

impl Settings {
    /// Loads settings from the process environment.
    pub fn load() -> Result<Settings, SettingsError> {
        Self::load_from(&std::env::vars().collect())
    }

    /// Loads settings with `env` standing in for the process environment.
    pub fn load_from(env: &HashMap<String, String>) -> Result<Settings, SettingsError> {
        let environment = Environment::parse(env.get("CONFSYNC_ENV").map_or("", String::as_str))?;
        let env_toml = match environment {
            Environment::Dev => DEV_TOML,
            Environment::Production => PRODUCTION_TOML,
        };
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from_str(env_toml, config::FileFormat::Toml));
        if let Some(path) = env.get("CONFSYNC_CONFIG_FILE").filter(|p| !p.is_empty()) {
            builder = builder
                .add_source(config::File::new(path, config::FileFormat::Toml).required(true));
        }
        let mut environment_source = config::Environment::with_prefix("CONFSYNC")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .source(Some(env.clone()));
        for key in LIST_KEYS {
            environment_source = environment_source.with_list_parse_key(key);
        }
        builder = builder.add_source(environment_source);
        for (name, key) in PLAIN_NAMES {
            // An empty value (`INDEXER_URL=` in a .env) means "not set".
            if let Some(value) = env.get(*name).filter(|v| !v.is_empty()) {
                builder = builder
                    .set_override(*key, value.as_str())
                    .map_err(|e| SettingsError::invalid(name, e.to_string()))?;
            }
        }
        let raw: RawSettings = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(from_config_error)?;
        validate(environment, raw)
    }
}

/// Puts the key first in config's messages, and names unknown keys fully.
fn from_config_error(error: config::ConfigError) -> SettingsError {
    match error {
        config::ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => SettingsError::invalid(&key, format!("expected {expected}, got {unexpected}")),
        config::ConfigError::At {
            error,
            key: Some(key),
            ..
        } => unknown_key(Some(&key), &error.to_string())
            .unwrap_or_else(|| SettingsError::invalid(&key, error.to_string())),
        config::ConfigError::Message(m) => {
            unknown_key(None, &m).unwrap_or(SettingsError::Source(m))
        }
        other => SettingsError::Source(other.to_string()),
    }
}

/// serde reports `unknown field `x`, expected one of ...` relative to the
/// section; name the full key instead.
fn unknown_key(section: Option<&str>, message: &str) -> Option<SettingsError> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let key = match section {
        Some(section) => format!("{section}.{field}"),
        None => field.to_owned(),
    };
    let expected = expected.trim_start_matches(", ");
    Some(SettingsError::invalid(
        &key,
        format!("unknown key ({expected})"),
    ))
}

fn validate(environment: Environment, raw: RawSettings) -> Result<Settings, SettingsError> {
    let production = environment == Environment::Production;
    let RawSettings {
        log,
        redis,
        atlassian,
        receiver,
        worker,
        sync,
        budget,
        indexer,
        security,
    } = raw;

    tracing_subscriber::EnvFilter::try_new(&log.filter)
        .map_err(|e| SettingsError::invalid("log.filter", e.to_string()))?;

    match Url::parse(redis.url.expose_secret()) {
        Ok(url) if matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {}
        // Never echo the URL: it may hold a password.
        _ => {
            return Err(SettingsError::invalid(
                "redis.url",
                "expected a redis:// or rediss:// URL",
            ));
        }
    }
    check_prefix("redis.key_prefix", &redis.key_prefix)?;
    positive("redis.connect_timeout_ms", redis.connect_timeout_ms)?;
    positive("redis.response_timeout_ms", redis.response_timeout_ms)?;
    positive("redis.reconnect_min_delay_ms", redis.reconnect_min_delay_ms)?;
    ordered(
        ("redis.reconnect_min_delay_ms", redis.reconnect_min_delay_ms),
        ("redis.reconnect_max_delay_ms", redis.reconnect_max_delay_ms),
    )?;

    http_url("atlassian.auth_url", &atlassian.auth_url)?;
    http_url("atlassian.api_url", &atlassian.api_url)?;
    http_url("atlassian.redirect_uri", &atlassian.redirect_uri)?;
    if atlassian.redirect_uri.path() != CALLBACK_PATH {
        return Err(SettingsError::invalid(
            "atlassian.redirect_uri",
            format!("must point at the receiver's callback path {CALLBACK_PATH}"),
        ));
    }
    if atlassian
        .scopes
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return Err(SettingsError::invalid(
            "atlassian.scopes",
            "scopes must be non-empty words",
        ));
    }
    positive("atlassian.request_timeout_ms", atlassian.request_timeout_ms)?;
    positive("atlassian.connect_timeout_ms", atlassian.connect_timeout_ms)?;
    ordered(
        (
            "atlassian.retry_initial_delay_ms",
            atlassian.retry_initial_delay_ms,
        ),
        ("atlassian.retry_max_delay_ms", atlassian.retry_max_delay_ms),
    )?;
    if !(1..=250).contains(&atlassian.gateway_timeout_fallback_limit) {
        return Err(SettingsError::invalid(
            "atlassian.gateway_timeout_fallback_limit",
            "must be between 1 and 250",
        ));
    }
    if production {
        required("atlassian.client_id", &atlassian.client_id)?;
        required(
            "atlassian.client_secret",
            atlassian.client_secret.expose_secret(),
        )?;
    }

    if production && receiver.api_token.expose_secret().len() < 16 {
        return Err(SettingsError::invalid(
            "receiver.api_token",
            "required in production and at least 16 characters (set API_TOKEN)",
        ));
    }
    for prefix in &receiver.return_to_allowlist {
        match Url::parse(prefix) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(SettingsError::invalid(
                    "receiver.return_to_allowlist",
                    format!("`{prefix}` is not an http(s) URL prefix"),
                ));
            }
        }
    }
    positive("receiver.state_ttl_secs", receiver.state_ttl_secs)?;

    positive("worker.concurrency", worker.concurrency as u64)?;
    worker.scheduler_schedule()?;

    positive("sync.min_poll_interval_secs", sync.min_poll_interval_secs)?;
    ordered(
        ("sync.min_poll_interval_secs", sync.min_poll_interval_secs),
        ("sync.poll_interval_secs", sync.poll_interval_secs),
    )?;
    ordered(
        ("sync.poll_interval_secs", sync.poll_interval_secs),
        ("sync.max_poll_interval_secs", sync.max_poll_interval_secs),
    )?;
    if !(1..=250).contains(&sync.page_limit) {
        return Err(SettingsError::invalid(
            "sync.page_limit",
            "must be between 1 and 250 (Atlassian's maximum)",
        ));
    }
    positive(
        "sync.deletion_check_interval_secs",
        sync.deletion_check_interval_secs,
    )?;
    positive("sync.reconcile_interval_secs", sync.reconcile_interval_secs)?;
    positive("sync.idle_refresh_secs", sync.idle_refresh_secs)?;
    positive("sync.lease_ttl_secs", sync.lease_ttl_secs)?;
    positive("sync.user_cache_ttl_secs", sync.user_cache_ttl_secs)?;
    positive("sync.retry_min_delay_secs", sync.retry_min_delay_secs)?;
    ordered(
        ("sync.retry_min_delay_secs", sync.retry_min_delay_secs),
        ("sync.retry_max_delay_secs", sync.retry_max_delay_secs),
    )?;

    positive("budget.points_per_hour", budget.points_per_hour)?;
    if !(0.0..1.0).contains(&budget.headroom_fraction) {
        return Err(SettingsError::invalid(
            "budget.headroom_fraction",
            "must be at least 0 and below 1",
        ));
    }
    positive("budget.burst_points", budget.burst_points)?;
    // A full burst spent right after Atlassian's window resets must stay
    // inside the points the headroom keeps back.
    let headroom_points = budget.points_per_hour as f64 * budget.headroom_fraction;
    if budget.burst_points as f64 > headroom_points {
        return Err(SettingsError::invalid(
            "budget.burst_points",
            format!("must not exceed points_per_hour × headroom_fraction ({headroom_points:.0})"),
        ));
    }

    let target = parse_indexer_url(&indexer.url)?;
    if production && target.is_none() {
        return Err(SettingsError::invalid(
            "indexer.url",
            "required in production (set INDEXER_URL)",
        ));
    }
    if production
        && matches!(target, Some(IndexerTarget::Http(_)))
        && indexer.token.expose_secret().is_empty()
    {
        return Err(SettingsError::invalid(
            "indexer.token",
            "required for an HTTP indexer (set INDEXER_TOKEN)",
        ));
    }
    positive(
        "indexer.max_batch_documents",
        indexer.max_batch_documents as u64,
    )?;
    positive("indexer.max_batch_bytes", indexer.max_batch_bytes as u64)?;
    positive("indexer.request_timeout_ms", indexer.request_timeout_ms)?;
    positive("indexer.retry_min_delay_ms", indexer.retry_min_delay_ms)?;
    ordered(
        ("indexer.retry_min_delay_ms", indexer.retry_min_delay_ms),
        ("indexer.retry_max_delay_ms", indexer.retry_max_delay_ms),
    )?;
    positive(
        "indexer.retry_max_attempts",
        u64::from(indexer.retry_max_attempts),
    )?;

    let token_encryption_key = parse_key(
        "security.token_encryption_key",
        &security.token_encryption_key,
    )?;
    let previous_token_encryption_key = parse_key(
        "security.previous_token_encryption_key",
        &security.previous_token_encryption_key,
    )?;
    if production && token_encryption_key.is_none() {
        return Err(SettingsError::invalid(
            "security.token_encryption_key",
            "required in production (set TOKEN_ENCRYPTION_KEY to 32 random bytes, base64)",
        ));
    }

    Ok(Settings {
        environment,
        log,
        redis,
        atlassian,
        receiver,
        worker,
        sync,
        budget,
        indexer: IndexerSettings {
            target,
            token: indexer.token,
            max_batch_documents: indexer.max_batch_documents,
            max_batch_bytes: indexer.max_batch_bytes,
            request_timeout_ms: indexer.request_timeout_ms,
            retry_min_delay_ms: indexer.retry_min_delay_ms,
            retry_max_delay_ms: indexer.retry_max_delay_ms,
            retry_max_attempts: indexer.retry_max_attempts,
            retry_max_total_wait_secs: indexer.retry_max_total_wait_secs,
        },
        security: SecuritySettings {
            token_encryption_key,
            previous_token_encryption_key,
        },
    })
}

fn parse_cron(key: &str, expression: &str) -> Result<cron::Schedule, SettingsError> {
    use std::str::FromStr as _;
    if expression.split_whitespace().count() < 6 {
        return Err(SettingsError::invalid(
            key,
            "expected 6 or 7 cron fields, seconds first (e.g. `0 * * * * *`)",
        ));
    }
    cron::Schedule::from_str(expression).map_err(|e| SettingsError::invalid(key, e.to_string()))
}

fn positive(key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        Err(SettingsError::invalid(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

fn ordered(
    (low_key, low): (&str, u64),
    (high_key, high): (&str, u64),
) -> Result<(), SettingsError> {
    if low > high {
        Err(SettingsError::invalid(
            high_key,
            format!("must not be below `{low_key}` ({low})"),
        ))
    } else {
        Ok(())
    }
}

fn required(key: &str, value: &str) -> Result<(), SettingsError> {
    if value.is_empty() {
        Err(SettingsError::invalid(key, "required in production"))
    } else {
        Ok(())
    }
}

fn http_url(key: &str, url: &Url) -> Result<(), SettingsError> {
    if matches!(url.scheme(), "http" | "https") && url.host().is_some() {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            key,
            "expected an absolute http(s) URL",
        ))
    }
}

fn check_prefix(key: &str, prefix: &str) -> Result<(), SettingsError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.' | b'{' | b'}')
        });
    if ok {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            key,
            "expected 1-64 characters of [A-Za-z0-9:_-.{}]",
        ))
    }
}

/// `file://<path>` (absolute when the path starts with `/`, else relative to
/// the working directory) or an http(s) URL; empty means none.
fn parse_indexer_url(value: &str) -> Result<Option<IndexerTarget>, SettingsError> {
    if value.is_empty() {
        return Ok(None);
    }
    if let Some(path) = value.strip_prefix("file://") {
        if path.is_empty() {
            return Err(SettingsError::invalid(
                "indexer.url",
                "file:// needs a path",
            ));
        }
        return Ok(Some(IndexerTarget::File(PathBuf::from(path))));
    }
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(IndexerTarget::Http(url)))
        }
        _ => Err(SettingsError::invalid(
            "indexer.url",
            "expected an http(s):// URL or file://<path>",
        )),
    }
}

fn parse_key(key: &str, value: &SecretString) -> Result<Option<[u8; 32]>, SettingsError> {
    let value = value.expose_secret().trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(value))
        .map_err(|_| SettingsError::invalid(key, "not valid base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| {
            SettingsError::invalid(key, format!("must decode to 32 bytes, got {}", bytes.len()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load_from(&env(pairs))
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        load(pairs)
            .expect_err("settings should have been refused")
            .to_string()
    }

    const PROD_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn production(extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("CONFSYNC_ENV", "production".into()),
            ("ATLASSIAN_CLIENT_ID", "cid".into()),
            ("ATLASSIAN_CLIENT_SECRET", "csecret".into()),
            ("API_TOKEN", "0123456789abcdef0123".into()),
            ("INDEXER_URL", "https://indexer.example/".into()),
            ("INDEXER_TOKEN", "itoken".into()),
            ("TOKEN_ENCRYPTION_KEY", PROD_KEY.into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            // Leaked on purpose: test-only keys need a 'static lifetime here.
            pairs.push((Box::leak((*k).to_owned().into_boxed_str()), (*v).to_owned()));
        }
        pairs
    }

    fn load_owned(pairs: &[(&'static str, String)]) -> Result<Settings, SettingsError> {
        Settings::load_from(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn defaults_load_in_dev_with_no_environment() {
        let s = load(&[]).unwrap();
        assert_eq!(s.environment, Environment::Dev);
        assert_eq!(s.redis.key_prefix, "confsync:");
        assert_eq!(s.sync.poll_interval_secs, 300);
        assert_eq!(s.receiver.listen_addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(s.log.format, LogFormat::Text);
        assert_eq!(
            s.indexer.target,
            Some(IndexerTarget::File("target/dev/documents.jsonl".into()))
        );
        assert!(!s.atlassian.has_credentials());
        assert!(s.security.token_encryption_key.is_none());
    }

    #[test]
    fn later_layers_win_file_then_env_file_then_prefixed_then_plain() {
        // default.toml says format=text, filter=info; dev.toml overrides the filter.
        let dev = load(&[]).unwrap();
        assert_eq!(dev.log.filter, "info,confsync=debug");
        // production.toml switches the format to json.
        let prod = load_owned(&production(&[])).unwrap();
        assert_eq!(prod.log.format, LogFormat::Json);
        // CONFSYNC__ beats the files.
        let s = load(&[
            ("CONFSYNC__REDIS__URL", "redis://10.0.0.1:6379"),
            ("CONFSYNC__LOG__FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(s.redis.url.expose_secret(), "redis://10.0.0.1:6379");
        assert_eq!(s.log.format, LogFormat::Json);
        // The plain name beats CONFSYNC__.
        let s = load(&[
            ("CONFSYNC__REDIS__URL", "redis://10.0.0.1:6379"),
            ("REDIS_URL", "redis://10.0.0.2:6379"),
        ])
        .unwrap();
        assert_eq!(s.redis.url.expose_secret(), "redis://10.0.0.2:6379");
    }

    #[test]
    fn an_operator_file_sits_between_the_embedded_files_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("confsync-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("override.toml");
        std::fs::write(
            &file,
            "[sync]\npoll_interval_secs = 120\noverlap_secs = 10\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let s = load(&[
            ("CONFSYNC_CONFIG_FILE", path),
            ("CONFSYNC__SYNC__OVERLAP_SECS", "20"),
        ])
        .unwrap();
        assert_eq!(s.sync.poll_interval_secs, 120);
        assert_eq!(s.sync.overlap_secs, 20);
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = error(&[("CONFSYNC_CONFIG_FILE", "/nonexistent/confsync.toml")]);
        assert!(missing.contains("/nonexistent/confsync.toml"), "{missing}");
    }

    #[test]
    fn every_plain_name_reaches_its_key() {
        let s = load(&[
            ("ATLASSIAN_CLIENT_ID", "cid"),
            ("ATLASSIAN_CLIENT_SECRET", "csecret"),
            (
                "CONFLUENCE_REDIRECT_URI",
                "https://r.example/api/v1/auth/confluence/connector/callback",
            ),
            ("ATLASSIAN_AUTH_URL", "http://127.0.0.1:1"),
            ("ATLASSIAN_API_URL", "http://127.0.0.1:2"),
            ("REDIS_URL", "redis://127.0.0.1:7000"),
            ("INDEXER_URL", "http://127.0.0.1:3/"),
            ("INDEXER_TOKEN", "itoken"),
            ("TOKEN_ENCRYPTION_KEY", PROD_KEY),
            ("API_TOKEN", "atoken"),
        ])
        .unwrap();
        assert_eq!(s.atlassian.client_id, "cid");
        assert_eq!(s.atlassian.client_secret.expose_secret(), "csecret");
        assert_eq!(s.atlassian.redirect_uri.host_str(), Some("r.example"));
        assert_eq!(s.atlassian.auth_url.as_str(), "http://127.0.0.1:1/");
        assert_eq!(s.atlassian.api_url.as_str(), "http://127.0.0.1:2/");
        assert_eq!(s.redis.url.expose_secret(), "redis://127.0.0.1:7000");
        assert_eq!(
            s.indexer.target,
            Some(IndexerTarget::Http(
                Url::parse("http://127.0.0.1:3/").unwrap()
            ))
        );
        assert_eq!(s.indexer.token.expose_secret(), "itoken");
        assert_eq!(s.security.token_encryption_key.unwrap()[31], 31);
        assert_eq!(s.receiver.api_token.expose_secret(), "atoken");
        assert_eq!(PLAIN_NAMES.len(), 10);
    }

    #[test]
    fn lists_come_comma_separated_from_the_environment() {
        let s = load(&[(
            "CONFSYNC__RECEIVER__RETURN_TO_ALLOWLIST",
            "https://app.ainexlayer.example/,https://staging.ainexlayer.example/",
        )])
        .unwrap();
        assert_eq!(
            s.receiver.return_to_allowlist,
            [
                "https://app.ainexlayer.example/",
                "https://staging.ainexlayer.example/"
            ]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (pairs, key) in [
            (
                vec![("CONFSYNC__SYNC__POLL_INTERVAL_SECS", "abc")],
                "sync.poll_interval_secs",
            ),
            (
                vec![("CONFSYNC__SYNC__PAGE_LIMIT", "251")],
                "sync.page_limit",
            ),
            (
                vec![("CONFSYNC__RECEIVER__LISTEN_ADDR", "nowhere")],
                "receiver.listen_addr",
            ),
            (vec![("CONFSYNC__LOG__FORMAT", "xml")], "log.format"),
            (
                vec![("CONFSYNC__BUDGET__HEADROOM_FRACTION", "1.5")],
                "budget.headroom_fraction",
            ),
            (
                vec![("CONFSYNC__BUDGET__BURST_POINTS", "7000")],
                "budget.burst_points",
            ),
            (
                vec![("CONFSYNC__BUDGET__BURST_POINTS", "0")],
                "budget.burst_points",
            ),
            (
                vec![("CONFSYNC__SYNC__MIN_POLL_INTERVAL_SECS", "900")],
                "sync.poll_interval_secs",
            ),
            (vec![("REDIS_URL", "http://redis")], "redis.url"),
            (vec![("INDEXER_URL", "ftp://x")], "indexer.url"),
            (
                vec![("ATLASSIAN_API_URL", "not a url")],
                "atlassian.api_url",
            ),
            (
                vec![("CONFLUENCE_REDIRECT_URI", "https://r.example/elsewhere")],
                "atlassian.redirect_uri",
            ),
            (
                vec![("TOKEN_ENCRYPTION_KEY", "c2hvcnQ=")],
                "security.token_encryption_key",
            ),
            (
                vec![("TOKEN_ENCRYPTION_KEY", "!!!")],
                "security.token_encryption_key",
            ),
            (
                vec![(
                    "CONFSYNC__RECEIVER__RETURN_TO_ALLOWLIST",
                    "javascript:alert(1)",
                )],
                "receiver.return_to_allowlist",
            ),
            (vec![("CONFSYNC_ENV", "staging")], "CONFSYNC_ENV"),
            (
                vec![("CONFSYNC__WORKER__SCHEDULER_CRON", "* * * * *")],
                "worker.scheduler_cron",
            ),
            (
                vec![("CONFSYNC__WORKER__SCHEDULER_CRON", "0 61 * * * *")],
                "worker.scheduler_cron",
            ),
        ] {
            let message = error(&pairs);
            assert!(
                message.contains(&format!("`{key}`")),
                "expected the message to name `{key}`, got: {message}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let message = error(&[("CONFSYNC__SYNC__POLL_INTERVAL", "60")]);
        assert!(
            message.starts_with("configuration key `sync.poll_interval`: unknown key"),
            "{message}"
        );
        let message = error(&[("CONFSYNC__NOPE__KEY", "1")]);
        assert!(
            message.starts_with("configuration key `nope`: unknown key"),
            "{message}"
        );
    }

    #[test]
    fn production_requires_its_secrets() {
        assert!(load_owned(&production(&[])).is_ok());
        for (name, key) in [
            ("ATLASSIAN_CLIENT_ID", "atlassian.client_id"),
            ("ATLASSIAN_CLIENT_SECRET", "atlassian.client_secret"),
            ("API_TOKEN", "receiver.api_token"),
            ("INDEXER_URL", "indexer.url"),
            ("INDEXER_TOKEN", "indexer.token"),
            ("TOKEN_ENCRYPTION_KEY", "security.token_encryption_key"),
        ] {
            let message = load_owned(&production(&[(name, "")]))
                .unwrap_err()
                .to_string();
            assert!(
                message.contains(&format!("`{key}`")),
                "without {name}: {message}"
            );
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output_or_errors() {
        let s = load(&[
            ("ATLASSIAN_CLIENT_SECRET", "very-secret-client"),
            ("API_TOKEN", "very-secret-api"),
            ("INDEXER_TOKEN", "very-secret-indexer"),
            ("REDIS_URL", "redis://:very-secret-pw@127.0.0.1:6379"),
            ("TOKEN_ENCRYPTION_KEY", PROD_KEY),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        for secret in ["very-secret", PROD_KEY] {
            assert!(
                !debug.contains(secret),
                "debug output leaks {secret}: {debug}"
            );
        }
        let message = error(&[("REDIS_URL", "http://:very-secret-pw@redis")]);
        assert!(!message.contains("very-secret"), "{message}");
    }
}
