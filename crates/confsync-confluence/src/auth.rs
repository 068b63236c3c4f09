//! The auth hook: where the client gets the grant's access token and how it
//! asks for a new one after a rejection.
//!
//! Tokens are per grant and refreshed single-flight under a Redis lock by the
//! worker, which implements [`TokenSource`]. This module only states the
//! contract; it never stores, logs or formats a token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::clock::BoxFuture;

/// An access token with the expiry stored beside it.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: SecretString,
    /// When the token expires, as recorded at refresh time (`expires_in`
    /// after issue). The gateway answers 404 (v2) or 403 (v1) to an expired
    /// token, so the client reads those answers as "maybe expired" only near
    /// or past this instant.
    pub expires_at: DateTime<Utc>,
}

/// Why the token source could not hand out a usable token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The grant is dead (`invalid_grant`, `unauthorized_client`, revoked):
    /// only a new consent helps.
    #[error("the grant was refused; the user must connect again")]
    GrantRevoked,
    /// No token right now (auth server or Redis unavailable, refresh lock
    /// busy); worth retrying later.
    #[error("no access token available: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The app's client credentials are wrong: an operator must act.
    #[error("token refresh is misconfigured: {0}")]
    Config(String),
}

/// The grant's tokens, as the client sees them. Implemented by the worker.
pub trait TokenSource: Send + Sync {
    /// The current access token and its stored expiry.
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, TokenError>>;

    /// Forces a refresh because `rejected` was refused (or is past its
    /// expiry). When the stored token already differs from `rejected`,
    /// another process refreshed in the meantime: return that newer token
    /// without refreshing again.
    fn refresh<'a>(
        &'a self,
        rejected: &'a SecretString,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>>;
}
