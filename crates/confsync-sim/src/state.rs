//! The state one simulator instance shares between its listeners and its
//! handle: configuration, clock, sites and every subsystem behind its own
//! lock.
//!
//! Locks are `parking_lot` ones, taken for a short synchronous section and
//! never held across `.await`. There are no globals: several simulators live
//! side by side in one process.

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::auth::AuthState;
use crate::clock::Clock;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::indexer::IndexerState;
use crate::quota::Quota;
use crate::reqlog::RequestLog;
use crate::site::users::UserPool;
use crate::site::{SiteData, SiteInfo};
use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct SiteSlot {
    pub info: SiteInfo,
    pub data: RwLock<SiteData>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SimConfig,
    pub clock: Clock,
    pub users: Arc<UserPool>,
    pub sites: Vec<SiteSlot>,
    pub auth: Mutex<AuthState>,
    pub quota: Mutex<Quota>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<RequestLog>,
    pub indexer: Mutex<IndexerState>,
    /// Flips to true when the simulator shuts down (ends hanging responses).
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn site_index(&self, cloud_id: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.info.cloud_id == cloud_id)
    }

    /// Resolves once shutdown starts.
    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        // An error means the sender is gone: the simulator is going away too.
        let _ = rx.wait_for(|down| *down).await;
    }
}
