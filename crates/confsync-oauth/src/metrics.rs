//! Metric families of the OAuth client.

use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct OAuthMetrics {
    /// `confsync_token_refresh_total{outcome}`: `ok`, `needs_reauth`, `transient`, `config_error`.
    pub token_refresh: IntCounterVec,
}

impl OAuthMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let token_refresh = IntCounterVec::new(
            Opts::new("token_refresh_total", "Access-token refreshes, by outcome"),
            &["outcome"],
        )?;
        registry.register(Box::new(token_refresh.clone()))?;
        Ok(Self { token_refresh })
    }
}
