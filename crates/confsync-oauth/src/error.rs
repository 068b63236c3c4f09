//! The OAuth client's one error type, classified so callers know whether to
//! retry, ask the user to consent again, or tell an operator.

use std::time::Duration;

use confsync_core::error::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant` / `unauthorized_client`: the code or refresh token is
    /// dead (expired, rotated out, revoked). Only a new consent helps.
    #[error("atlassian rejected the grant ({code}); the user must connect again")]
    Rejected { code: String },
    /// `access_denied` / `invalid_client` on the token endpoint: our client id
    /// or secret is wrong. An operator must fix the configuration.
    #[error(
        "atlassian rejected the client credentials ({code}); check ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET"
    )]
    ClientConfig { code: String },
    /// `401` with `X-Failure-Category: FAILURE_CLIENT_SCOPE_CHECK`: the app's
    /// scopes in the developer console do not match what we ask for.
    #[error("atlassian says the token's scopes do not match the request; check the app's scopes")]
    ScopeMismatch,
    /// The API refused the access token (401/403/404 on a gateway path).
    #[error("atlassian refused the access token (http {status})")]
    TokenRefused { status: u16 },
    /// 5xx, 429, timeouts, connection errors: worth retrying.
    #[error("atlassian is unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// An answer we cannot use (malformed JSON, unexpected status).
    #[error("unexpected answer from atlassian: {0}")]
    Protocol(String),
    #[error("invalid oauth configuration: {0}")]
    Config(String),
}

impl OAuthError {
    /// A short stable label for metrics and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::Rejected { .. } => "rejected",
            OAuthError::ClientConfig { .. } | OAuthError::Config(_) => "config_error",
            OAuthError::ScopeMismatch => "scope_mismatch",
            OAuthError::TokenRefused { .. } => "token_refused",
            OAuthError::Unavailable { .. } => "unavailable",
            OAuthError::Protocol(_) => "protocol_error",
        }
    }
}

impl Classify for OAuthError {
    fn class(&self) -> ErrorClass {
        match self {
            OAuthError::Rejected { .. } => ErrorClass::NeedsReauth,
            OAuthError::Unavailable { retry_after, .. } => ErrorClass::Transient {
                retry_after: *retry_after,
            },
            // A refused access token is fixed by a refresh, which the caller decides on.
            OAuthError::TokenRefused { .. } => ErrorClass::transient(),
            OAuthError::ClientConfig { .. }
            | OAuthError::ScopeMismatch
            | OAuthError::Protocol(_)
            | OAuthError::Config(_) => ErrorClass::Permanent,
        }
    }
}
