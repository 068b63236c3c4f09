//! The receiver's metric families, registered once at start-up.

use confsync_store::metrics::StoreMetrics;
use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct ReceiverMetrics {
    pub store: StoreMetrics,
    /// `confsync_connect_total{stage,outcome}`: `stage` is `add` or `callback`;
    /// `outcome` is `started`, `connected` or a stable error code.
    pub connect: IntCounterVec,
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
        Ok(Self {
            store: StoreMetrics::register(registry)?,
            connect,
        })
    }
}
