//! Atlassian OAuth 2.0 (3LO): the authorize URL, code exchange, refresh,
//! accessible-resources, and who consented. With `confsync-confluence`, the
//! only crate that talks to Atlassian. It never stores anything: callers
//! persist what it returns, and it never logs or formats a token, code or
//! secret.

mod client;
mod error;
pub mod metrics;

pub use client::{AtlassianOAuth, OAuthConfig, Site, TokenSet};
pub use error::OAuthError;
