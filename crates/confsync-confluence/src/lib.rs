//! The Confluence Cloud REST client (v2 listings and v1 users) through the
//! Atlassian API gateway: auth header, paging by `next` links, points budget
//! hooks, retries. With `confsync-oauth`, the only crate that talks to
//! Atlassian.
//!
//! The client itself arrives with the Confluence-client issue; today the crate
//! holds the metric families it will feed, so dashboards can be built against
//! their names.

pub mod metrics;
