//! The client's events: each one's log line and metric side by side, so call
//! sites read `events::rate_limited(..)` and the names live in one place.
//!
//! Metric labels stay small fixed sets (route names, status codes, reasons);
//! site ids appear in log lines only. Nothing here logs a token, a URL (next
//! links carry cursors) or a response body.

use std::time::Duration;

use confsync_core::CloudId;

use crate::endpoint::Endpoint;
use crate::metrics::ApiMetrics;
use crate::ratelimit::RateLimitReason;

/// An attempt ended: with an HTTP status (`"200"`, `"503"`) or a transport
/// failure (`"timeout"`, `"connect"`, `"transport"`).
pub(crate) fn answered(
    metrics: &ApiMetrics,
    site: &CloudId,
    endpoint: Endpoint,
    status: &str,
    elapsed: Duration,
) {
    metrics
        .requests
        .with_label_values(&[endpoint.as_str(), status])
        .inc();
    metrics
        .request_duration
        .with_label_values(&[endpoint.as_str()])
        .observe(elapsed.as_secs_f64());
    tracing::debug!(site = %site, endpoint = endpoint.as_str(), status, elapsed_ms = elapsed.as_millis() as u64, "atlassian answered");
}

/// Points settled for an attempt.
pub(crate) fn points_settled(metrics: &ApiMetrics, points: u64) {
    metrics.points_spent.inc_by(points);
}

pub(crate) fn rate_limited(
    metrics: &ApiMetrics,
    site: &CloudId,
    endpoint: Endpoint,
    reason: RateLimitReason,
    retry_after: Option<Duration>,
) {
    metrics
        .rate_limited
        .with_label_values(&[reason.as_str()])
        .inc();
    tracing::warn!(
        site = %site,
        endpoint = endpoint.as_str(),
        reason = reason.as_str(),
        retry_after_secs = retry_after.map(|d| d.as_secs()),
        "atlassian rate limited a request"
    );
}

pub(crate) fn waiting_out_retry_after(site: &CloudId, reason: RateLimitReason, wait: Duration) {
    tracing::info!(
        site = %site,
        reason = reason.as_str(),
        wait_ms = wait.as_millis() as u64,
        "waiting out a Retry-After before the next request"
    );
}

pub(crate) fn retrying(
    site: &CloudId,
    endpoint: Endpoint,
    cause: &str,
    retry: usize,
    delay: Option<Duration>,
) {
    tracing::info!(
        site = %site,
        endpoint = endpoint.as_str(),
        cause,
        retry,
        delay_ms = delay.map(|d| d.as_millis() as u64),
        "retrying a request to atlassian"
    );
}

/// A request ended in an error. A 404 is routine for a crawler (content
/// purged or hidden), so it is logged quietly.
pub(crate) fn gave_up(
    site: &CloudId,
    endpoint: Endpoint,
    code: &'static str,
    not_found: bool,
    attempts: usize,
) {
    if not_found {
        tracing::debug!(site = %site, endpoint = endpoint.as_str(), attempts, "not found on atlassian");
    } else {
        tracing::warn!(
            site = %site,
            endpoint = endpoint.as_str(),
            error = code,
            attempts,
            "request to atlassian failed"
        );
    }
}

/// A refresh forced by a rejected or expired token.
pub(crate) fn token_refresh_forced(site: &CloudId, endpoint: Endpoint, cause: &'static str) {
    tracing::info!(
        site = %site,
        endpoint = endpoint.as_str(),
        cause,
        "forcing an access token refresh"
    );
}

pub(crate) fn scope_mismatch(site: &CloudId, endpoint: Endpoint) {
    tracing::error!(
        site = %site,
        endpoint = endpoint.as_str(),
        "atlassian refused the token's scopes; fix the app's scopes in the developer console"
    );
}

pub(crate) fn page_size_fallback(site: &CloudId, endpoint: Endpoint, from: u32, to: u32) {
    tracing::warn!(
        site = %site,
        endpoint = endpoint.as_str(),
        from,
        to,
        "first page timed out at the gateway; starting a new chain with a smaller limit"
    );
}
