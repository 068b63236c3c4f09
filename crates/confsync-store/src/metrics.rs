//! Metric families whose truth lives in Redis: grants by status, dead letters
//! and the fleet points budget. Registered once per process.

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct StoreMetrics {
    /// `confsync_grants{status}`: grants by `active | needs_reauth | disconnected`.
    pub grants: IntGaugeVec,
    /// `confsync_dead_letters`: documents waiting in dead-letter lists.
    pub dead_letters: IntGauge,
    /// `confsync_budget_points_available`: points the fleet may still spend now.
    pub budget_points_available: IntGauge,
}

impl StoreMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let grants = IntGaugeVec::new(Opts::new("grants", "Grants by status"), &["status"])?;
        let dead_letters = IntGauge::new("dead_letters", "Documents waiting in dead-letter lists")?;
        let budget_points_available = IntGauge::new(
            "budget_points_available",
            "Atlassian points the fleet may still spend now",
        )?;
        registry.register(Box::new(grants.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(budget_points_available.clone()))?;
        Ok(Self {
            grants,
            dead_letters,
            budget_points_available,
        })
    }
}
