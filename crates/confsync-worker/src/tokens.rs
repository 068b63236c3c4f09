//! The token lifecycle: keeps every active grant's tokens alive, and refreshes
//! on demand when the API refuses an access token.
//!
//! Refresh is single-flight per grant across every replica: the refresher
//! takes the `lock:refresh:{grant}` lease, re-reads the grant under it
//! (another replica may have just refreshed), and persists the rotated pair
//! before anyone can use the new access token. A replica that finds the lease
//! taken waits for it to go and re-reads instead of refreshing again: two
//! refreshes racing with the same refresh token is how other connectors lose
//! their grants. `invalid_grant`/`unauthorized_client` marks the grant
//! `needs_reauth`; transient failures keep it active and record the reason.
//!
//! This module decides; `confsync-oauth` talks to Atlassian and
//! `confsync-store` keeps the state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_confluence::{AccessToken, BoxFuture, TokenError, TokenSource};
use confsync_core::GrantId;
use confsync_core::error::{Classify as _, ErrorClass};
use confsync_oauth::metrics::OAuthMetrics;
use confsync_oauth::{AtlassianOAuth, OAuthError};
use confsync_store::{GrantStatus, Store, StoreError, Tokens, Vault};
use secrecy::{ExposeSecret as _, SecretString};

/// When a grant is due and how long to wait for a peer's refresh.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Refresh access tokens expiring within this.
    pub refresh_ahead: Duration,
    /// Refresh grants not refreshed for this long, whatever their expiry
    /// (Atlassian expires refresh tokens unused for 90 days).
    pub idle_refresh: Duration,
    /// Lifetime of the refresh lease: longer than a token request can take.
    pub lock_ttl: Duration,
    /// How long to wait for another replica's refresh before giving up.
    pub peer_wait: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            refresh_ahead: Duration::from_secs(600),
            idle_refresh: Duration::from_secs(30 * 86_400),
            lock_ttl: Duration::from_secs(60),
            peer_wait: Duration::from_secs(65),
        }
    }
}

/// What a refresh attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The tokens were not due (or another replica had just refreshed them).
    Fresh,
    /// This call refreshed them.
    Refreshed,
    /// Atlassian refused the refresh token: the grant now needs a new consent.
    NeedsReauth,
    /// The grant is not active (needs re-consent or disconnected): left alone.
    Inactive,
}

/// Why a refresh could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("grant {0} does not exist")]
    UnknownGrant(GrantId),
    #[error("grant {0} has no refresh token (offline_access was not granted)")]
    NoRefreshToken(GrantId),
    #[error("grant {0} needs a new consent")]
    NeedsReauth(GrantId),
    #[error("another replica's refresh of grant {0} did not finish in time")]
    PeerTimedOut(GrantId),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl confsync_core::error::Classify for RefreshError {
    fn class(&self) -> ErrorClass {
        match self {
            RefreshError::UnknownGrant(_) => ErrorClass::Permanent,
            RefreshError::NoRefreshToken(_) | RefreshError::NeedsReauth(_) => {
                ErrorClass::NeedsReauth
            }
            RefreshError::PeerTimedOut(_) => ErrorClass::transient(),
            RefreshError::OAuth(e) => e.class(),
            RefreshError::Store(e) => e.class(),
        }
    }
}

/// Keeps grants' tokens fresh. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenKeeper {
    store: Store,
    vault: Vault,
    oauth: AtlassianOAuth,
    policy: RefreshPolicy,
    metrics: OAuthMetrics,
}

/// What a forced refresh is asked about.
enum Want<'a> {
    /// Refresh when due by the policy.
    IfDue(DateTime<Utc>),
    /// Refresh unless the stored access token already differs from this one.
    Replacing(&'a SecretString),
}

impl TokenKeeper {
    pub fn new(
        store: Store,
        vault: Vault,
        oauth: AtlassianOAuth,
        policy: RefreshPolicy,
        metrics: OAuthMetrics,
    ) -> Self {
        TokenKeeper {
            store,
            vault,
            oauth,
            policy,
            metrics,
        }
    }

    /// Refreshes the grant if its access token expires within
    /// `refresh_ahead` of `now`, or it has been idle past `idle_refresh`.
    pub async fn refresh_if_due(
        &self,
        grant: &GrantId,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, RefreshError> {
        self.single_flight(grant, Want::IfDue(now))
            .await
            .map(|(outcome, _)| outcome)
    }

    /// The API refused `rejected`: returns a newer token, refreshing only if
    /// nobody has replaced `rejected` yet. One refresh at most per call.
    pub async fn refresh_rejected(
        &self,
        grant: &GrantId,
        rejected: &SecretString,
    ) -> Result<Tokens, RefreshError> {
        match self.single_flight(grant, Want::Replacing(rejected)).await? {
            (RefreshOutcome::NeedsReauth | RefreshOutcome::Inactive, _) => {
                Err(RefreshError::NeedsReauth(grant.clone()))
            }
            (_, Some(tokens)) => Ok(tokens),
            (_, None) => Err(RefreshError::UnknownGrant(grant.clone())),
        }
    }

    /// Every active grant that is due, one after the other; failures are
    /// counted and logged, never stop the sweep. Returns (refreshed, failed).
    pub async fn refresh_all_due(&self, now: DateTime<Utc>) -> Result<(usize, usize), StoreError> {
        let (mut refreshed, mut failed) = (0, 0);
        for grant in self.vault.all_grants().await? {
            match self.refresh_if_due(&grant, now).await {
                Ok(RefreshOutcome::Refreshed) => refreshed += 1,
                Ok(_) => {}
                Err(error) => {
                    failed += 1;
                    tracing::warn!(grant = %grant, %error, "token refresh failed");
                }
            }
        }
        Ok((refreshed, failed))
    }

    async fn single_flight(
        &self,
        grant: &GrantId,
        want: Want<'_>,
    ) -> Result<(RefreshOutcome, Option<Tokens>), RefreshError> {
        let lock = format!("refresh:{grant}");
        // A refresh that lands after this call began serves this call too.
        let asked_at = Utc::now();
        let deadline = tokio::time::Instant::now() + self.policy.peer_wait;
        let mut pause = Duration::from_millis(20);
        loop {
            if let Some(lease) = self.store.try_lock(&lock, self.policy.lock_ttl).await? {
                let result = self.refresh_locked(grant, &want, asked_at).await;
                // A lost lease only means it expired; the work is done either way.
                let _ = lease.release().await;
                return result;
            }
            // A peer holds the lease: its refresh, once stored, serves us
            // too (the stored pair is written atomically, so reading it
            // without the lease is safe).
            if tokio::time::Instant::now() >= deadline {
                return Err(RefreshError::PeerTimedOut(grant.clone()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
            if let Some(tokens) = self.served_by_peer(grant, &want, asked_at).await? {
                return Ok((RefreshOutcome::Fresh, Some(tokens)));
            }
        }
    }

    /// The stored tokens, if a peer's refresh already answered `want`.
    async fn served_by_peer(
        &self,
        id: &GrantId,
        want: &Want<'_>,
        asked_at: DateTime<Utc>,
    ) -> Result<Option<Tokens>, RefreshError> {
        let Some(grant) = self.vault.grant(id).await? else {
            return Err(RefreshError::UnknownGrant(id.clone()));
        };
        let Some(tokens) = self.vault.tokens(id).await? else {
            return Err(RefreshError::UnknownGrant(id.clone()));
        };
        let served = match want {
            Want::IfDue(_) => grant.refreshed_at.is_some_and(|at| at >= asked_at),
            Want::Replacing(rejected) => {
                tokens.access_token.expose_secret() != rejected.expose_secret()
            }
        };
        Ok(served.then_some(tokens))
    }

    /// Under the lease: re-read, decide, refresh, persist.
    async fn refresh_locked(
        &self,
        id: &GrantId,
        want: &Want<'_>,
        asked_at: DateTime<Utc>,
    ) -> Result<(RefreshOutcome, Option<Tokens>), RefreshError> {
        let grant = self
            .vault
            .grant(id)
            .await?
            .ok_or_else(|| RefreshError::UnknownGrant(id.clone()))?;
        if grant.status != GrantStatus::Active {
            return Ok((RefreshOutcome::Inactive, None));
        }
        let tokens = self
            .vault
            .tokens(id)
            .await?
            .ok_or_else(|| RefreshError::UnknownGrant(id.clone()))?;
        let refreshed_meanwhile = grant.refreshed_at.is_some_and(|at| at >= asked_at);
        let due = match want {
            Want::IfDue(_) if refreshed_meanwhile => false,
            Want::IfDue(now) => {
                let expiring =
                    tokens.access_expires_at <= *now + chrono_duration(self.policy.refresh_ahead);
                let last = grant.refreshed_at.unwrap_or(grant.created_at);
                let idle = last + chrono_duration(self.policy.idle_refresh) <= *now;
                expiring || idle
            }
            Want::Replacing(rejected) => {
                tokens.access_token.expose_secret() == rejected.expose_secret()
            }
        };
        if !due {
            return Ok((RefreshOutcome::Fresh, Some(tokens)));
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(RefreshError::NoRefreshToken(id.clone()));
        };
        match self.oauth.refresh(&refresh_token).await {
            Ok(set) => {
                let fresh = Tokens {
                    access_token: set.access_token,
                    refresh_token: set.refresh_token,
                    access_expires_at: set.expires_at,
                };
                self.vault.store_refreshed(id, &fresh).await?;
                self.event(id, "ok", None);
                // Hand back what is stored (the old refresh token if none was rotated).
                let stored = self
                    .vault
                    .tokens(id)
                    .await?
                    .ok_or_else(|| RefreshError::UnknownGrant(id.clone()))?;
                Ok((RefreshOutcome::Refreshed, Some(stored)))
            }
            Err(error) => {
                let reason = error.to_string();
                match error.class() {
                    ErrorClass::NeedsReauth => {
                        self.vault.mark_needs_reauth(id, &reason).await?;
                        self.event(id, "needs_reauth", Some(&reason));
                        Ok((RefreshOutcome::NeedsReauth, None))
                    }
                    ErrorClass::Transient { .. } => {
                        self.vault.record_error(id, &reason).await?;
                        self.event(id, "transient", Some(&reason));
                        Err(error.into())
                    }
                    ErrorClass::Permanent => {
                        self.vault.record_error(id, &reason).await?;
                        self.event(id, "config_error", Some(&reason));
                        Err(error.into())
                    }
                }
            }
        }
    }

    /// The refresh's log line and metric, together.
    fn event(&self, grant: &GrantId, outcome: &'static str, reason: Option<&str>) {
        self.metrics
            .token_refresh
            .with_label_values(&[outcome])
            .inc();
        match (outcome, reason) {
            ("ok", _) => tracing::info!(grant = %grant, "tokens refreshed"),
            ("needs_reauth", Some(reason)) => {
                tracing::error!(grant = %grant, reason, "grant needs a new consent; its sites stop syncing")
            }
            (_, reason) => tracing::warn!(grant = %grant, outcome, reason, "token refresh failed"),
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// One grant's tokens as the Confluence client sees them: the stored access
/// token, and [`TokenKeeper::refresh_rejected`] when the API refuses it.
#[derive(Debug, Clone)]
pub struct GrantTokens {
    keeper: TokenKeeper,
    grant: GrantId,
}

impl GrantTokens {
    pub fn new(keeper: TokenKeeper, grant: GrantId) -> Self {
        GrantTokens { keeper, grant }
    }

    async fn current(&self) -> Result<AccessToken, TokenError> {
        let vault = &self.keeper.vault;
        let grant = vault.grant(&self.grant).await.map_err(store_unavailable)?;
        match grant {
            Some(grant) if grant.status == GrantStatus::Active => {}
            _ => return Err(TokenError::GrantRevoked),
        }
        let tokens = vault
            .tokens(&self.grant)
            .await
            .map_err(|e| match e.class() {
                ErrorClass::NeedsReauth => TokenError::GrantRevoked,
                _ => store_unavailable(e),
            })?;
        let tokens = tokens.ok_or(TokenError::GrantRevoked)?;
        Ok(AccessToken {
            secret: tokens.access_token,
            expires_at: tokens.access_expires_at,
        })
    }
}

impl TokenSource for GrantTokens {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>> {
        Box::pin(self.current())
    }

    fn refresh<'a>(
        &'a self,
        rejected: &'a SecretString,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(async move {
            let tokens = self
                .keeper
                .refresh_rejected(&self.grant, rejected)
                .await
                .map_err(|error| match error.class() {
                    ErrorClass::NeedsReauth => TokenError::GrantRevoked,
                    ErrorClass::Transient { retry_after } => TokenError::Unavailable {
                        reason: error.to_string(),
                        retry_after,
                    },
                    ErrorClass::Permanent => TokenError::Config(error.to_string()),
                })?;
            Ok(AccessToken {
                secret: tokens.access_token,
                expires_at: tokens.access_expires_at,
            })
        })
    }
}

fn store_unavailable(error: StoreError) -> TokenError {
    TokenError::Unavailable {
        reason: error.to_string(),
        retry_after: None,
    }
}
