//! The Confluence Cloud REST client (v2 listings and v1 users) through the
//! Atlassian API gateway. With `confsync-oauth`, the only crate that talks to
//! Atlassian.
//!
//! - [`Confluence`] (one per process) hands out a [`SiteClient`] per site and
//!   grant; its methods return typed core models (`confsync_core::content`)
//!   or a resumable [`Listing`] that follows next links verbatim and exposes
//!   a checkpointable [`NextUrl`].
//! - Hooks passed in: [`TokenSource`] (the grant's tokens; one forced refresh
//!   per request at most), [`PointsBudget`] (reserve before, settle after
//!   every request, with the [`RateLimitHeaders`]) and [`Clock`] (every sleep
//!   and every "now").
//! - Failures are one [`ConfluenceError`], classified transient, permanent or
//!   needs-reauth through `confsync_core::error::Classify`.
//!
//! This crate must not store anything, decide what to crawl, or build
//! documents: that is the worker's and `confsync-core`'s job. It never logs or
//! formats a token and never sends one to a URL outside the site's API base.

mod auth;
mod backoff;
mod budget;
mod client;
mod clock;
mod config;
mod endpoint;
mod error;
mod events;
mod gate;
mod listing;
pub mod metrics;
mod query;
mod ratelimit;
mod site;
mod transport;

pub use auth::{AccessToken, TokenError, TokenSource};
pub use budget::{BudgetError, PointsBudget, Priority, Reservation, Unmetered};
pub use client::{Confluence, SiteClient, USER_BULK_MAX};
pub use clock::{BoxFuture, Clock, TokioClock};
pub use config::{ClientConfig, RetryPolicy};
pub use endpoint::Endpoint;
pub use error::ConfluenceError;
pub use listing::Listing;
pub use query::{BodyFormat, ItemQuery, Limit, ListQuery, Sort, SortField, StatusFilter};
pub use ratelimit::{QuotaPolicy, QuotaState, RateLimitHeaders, RateLimitReason};
pub use site::NextUrl;
