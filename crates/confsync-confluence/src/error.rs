//! The client's one error type, classified so a job handler decides retry,
//! dead-letter or re-consent in one `match`.
//!
//! Messages are lowercase, fixed or built from status codes, route names and
//! short details; they never contain a token, a URL with a cursor, or a
//! response body beyond a short error title.

use std::time::Duration;

use confsync_core::error::{Classify, ErrorClass};

use crate::auth::TokenError;
use crate::budget::BudgetError;
use crate::endpoint::Endpoint;
use crate::ratelimit::RateLimitReason;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfluenceError {
    /// Atlassian answered 429 with a `Retry-After` longer than the client
    /// may wait inside one request (or retries ran out on 429s). Reschedule
    /// the job after `retry_after`; a global reason pauses the fleet, a
    /// tenant reason the site.
    #[error("rate limited by atlassian ({reason}); retry in {}s", retry_after.as_secs())]
    RateLimited {
        retry_after: Duration,
        reason: RateLimitReason,
    },
    /// 5xx, timeouts, connection failures: retries ran out.
    #[error("atlassian is unavailable on {endpoint}: {reason}")]
    Unavailable {
        endpoint: Endpoint,
        reason: String,
        /// The last HTTP status, when there was an answer.
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// The points budget refused or could not reserve.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// The token source could not hand out a token right now.
    #[error("no access token right now: {reason}")]
    TokenUnavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The grant is dead: the user must connect again.
    #[error("the grant was refused by atlassian; the user must connect again")]
    NeedsReauth,
    /// `401` with `X-Failure-Category: FAILURE_CLIENT_SCOPE_CHECK`: the app's
    /// scopes do not cover the route. A configuration error, never refreshed.
    #[error(
        "atlassian says the token's scopes do not match {endpoint}; check the app's scopes in the developer console"
    )]
    ScopeMismatch { endpoint: Endpoint },
    /// 401 again after a refresh (the grant no longer covers the site), or a
    /// 403 that is not the expired-token quirk.
    #[error("atlassian refused access to {endpoint} (http {status})")]
    AccessDenied { endpoint: Endpoint, status: u16 },
    /// 404: the content is gone, or the grant's user may not see it.
    #[error("not found on {endpoint}")]
    NotFound { endpoint: Endpoint },
    /// Another 4xx (bad parameter, invalid cursor): retrying will not help.
    #[error("atlassian refused the request to {endpoint} (http {status}): {detail}")]
    Rejected {
        endpoint: Endpoint,
        status: u16,
        detail: String,
    },
    /// An answer that cannot be used: malformed JSON after retries, an
    /// unexpected redirect.
    #[error("unusable answer from {endpoint}: {detail}")]
    Protocol { endpoint: Endpoint, detail: String },
    /// A next link or stored URL that points outside this site's API base.
    /// Never followed: it would send the token elsewhere.
    #[error("refused a url outside this site's api base")]
    ForeignUrl,
    /// A next link or stored URL that is not a usable listing URL.
    #[error("invalid listing url: {0}")]
    InvalidLink(String),
    /// An id that cannot be put in a path (Confluence ids are decimal).
    #[error("invalid {kind} id for a confluence path")]
    InvalidId { kind: &'static str },
    #[error("invalid confluence client configuration: {0}")]
    Config(String),
    /// The token source's refresh is misconfigured (client credentials).
    #[error("token refresh is misconfigured: {0}")]
    TokenConfig(String),
}

impl ConfluenceError {
    /// A short stable label for logs and job outcomes.
    pub fn code(&self) -> &'static str {
        match self {
            ConfluenceError::RateLimited { .. } => "rate_limited",
            ConfluenceError::Unavailable { .. } => "unavailable",
            ConfluenceError::Budget(_) => "budget",
            ConfluenceError::TokenUnavailable { .. } => "token_unavailable",
            ConfluenceError::NeedsReauth => "needs_reauth",
            ConfluenceError::ScopeMismatch { .. } => "scope_mismatch",
            ConfluenceError::AccessDenied { .. } => "access_denied",
            ConfluenceError::NotFound { .. } => "not_found",
            ConfluenceError::Rejected { .. } => "rejected",
            ConfluenceError::Protocol { .. } => "protocol_error",
            ConfluenceError::ForeignUrl => "foreign_url",
            ConfluenceError::InvalidLink(_) => "invalid_link",
            ConfluenceError::InvalidId { .. } => "invalid_id",
            ConfluenceError::Config(_) | ConfluenceError::TokenConfig(_) => "config_error",
        }
    }

    /// A 404: the content is gone or not visible to the grant's user.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ConfluenceError::NotFound { .. })
    }

    /// Retries of a 504 ran out (large pages with a big `limit`).
    pub(crate) fn is_gateway_timeout(&self) -> bool {
        matches!(
            self,
            ConfluenceError::Unavailable {
                status: Some(504),
                ..
            }
        )
    }
}

impl From<TokenError> for ConfluenceError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::GrantRevoked => ConfluenceError::NeedsReauth,
            TokenError::Unavailable {
                reason,
                retry_after,
            } => ConfluenceError::TokenUnavailable {
                reason,
                retry_after,
            },
            TokenError::Config(reason) => ConfluenceError::TokenConfig(reason),
        }
    }
}

impl Classify for ConfluenceError {
    fn class(&self) -> ErrorClass {
        match self {
            ConfluenceError::RateLimited { retry_after, .. } => ErrorClass::Transient {
                retry_after: Some(*retry_after),
            },
            ConfluenceError::Unavailable { retry_after, .. }
            | ConfluenceError::TokenUnavailable { retry_after, .. } => ErrorClass::Transient {
                retry_after: *retry_after,
            },
            ConfluenceError::Budget(BudgetError::Exhausted { retry_after }) => {
                ErrorClass::Transient {
                    retry_after: Some(*retry_after),
                }
            }
            ConfluenceError::Budget(BudgetError::Unavailable(_)) => ErrorClass::transient(),
            ConfluenceError::NeedsReauth => ErrorClass::NeedsReauth,
            ConfluenceError::ScopeMismatch { .. }
            | ConfluenceError::AccessDenied { .. }
            | ConfluenceError::NotFound { .. }
            | ConfluenceError::Rejected { .. }
            | ConfluenceError::Protocol { .. }
            | ConfluenceError::ForeignUrl
            | ConfluenceError::InvalidLink(_)
            | ConfluenceError::InvalidId { .. }
            | ConfluenceError::Config(_)
            | ConfluenceError::TokenConfig(_) => ErrorClass::Permanent,
        }
    }
}
