//! The receiver's metric families, registered once at start-up.

use confsync_store::metrics::StoreMetrics;
use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct ReceiverMetrics {
    pub store: StoreMetrics,
    /// `confsync_connect_total{stage,outcome}`: `stage` is `add` or `callback`;
    /// `outcome` is `started`, `connected` or a stable error code.
    pub connect: IntCounterVec,
    /// `confsync_admin_requests_total{operation,outcome}`: operator API calls.
    pub admin: IntCounterVec,
}

impl ReceiverMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let connect = IntCounterVec::new(
            Opts::new(
                "connect_total",
                "OAuth connect-flow outcomes, by stage and stable outcome code",
            ),
            &["stage", "outcome"],
        )?;
        registry.register(Box::new(connect.clone()))?;
        let admin = IntCounterVec::new(
            Opts::new(
                "admin_requests_total",
                "Operator API requests, by operation and outcome",
            ),
            &["operation", "outcome"],
        )?;
        registry.register(Box::new(admin.clone()))?;
        Ok(Self {
            store: StoreMetrics::register(registry)?,
            connect,
            admin,
        })
    }
}
