//! Metric families of the Confluence API client. Labels are small fixed sets:
//! `endpoint` is a route template (`pages`, `footer_comments`, `user_bulk`…),
//! never a URL with ids in it.
//!
//! Registration only: the families are fed through `events`, next to each
//! event's log line, and nowhere else.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct ApiMetrics {
    /// `confsync_api_requests_total{endpoint,status}`.
    pub requests: IntCounterVec,
    /// `confsync_api_request_duration_seconds{endpoint}`.
    pub request_duration: HistogramVec,
    /// `confsync_api_points_spent_total`.
    pub points_spent: IntCounter,
    /// `confsync_api_rate_limited_total{reason}`: 429s by `RateLimit-Reason`.
    pub rate_limited: IntCounterVec,
}

impl ApiMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "api_requests_total",
                "Requests sent to the Atlassian API, by endpoint and status",
            ),
            &["endpoint", "status"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "api_request_duration_seconds",
                "Atlassian API request latency",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["endpoint"],
        )?;
        let points_spent = IntCounter::new(
            "api_points_spent_total",
            "Atlassian rate-limit points spent",
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "api_rate_limited_total",
                "429 answers from Atlassian, by RateLimit-Reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(points_spent.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        Ok(Self {
            requests,
            request_duration,
            points_spent,
            rate_limited,
        })
    }
}
