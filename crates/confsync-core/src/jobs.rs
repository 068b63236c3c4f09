//! Job payloads stored in the apalis queues. They are a wire format persisted
//! in Redis across deploys: fields are only ever added, with defaults, and
//! `v` says which shape wrote them.

use serde::{Deserialize, Serialize};

use crate::ids::{CloudId, GrantId};

/// Name of the apalis queue that carries [`SyncJob`]s. Fixed explicitly so a
/// module rename never orphans queued jobs.
pub const SYNC_QUEUE: &str = "sync";

/// How much of a site a sync looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Read the change streams down to the watermarks.
    Incremental,
    /// Crawl everything, then sweep what was not seen.
    Full,
    /// Id-only listings to find deletions the streams cannot see.
    Reconcile,
    /// Push the dead letters of the site again (no Atlassian request).
    Redeliver,
    /// Delete every document of the site from the index and forget the
    /// site's crawl state (after a disconnect; no Atlassian request).
    Purge,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Incremental => "incremental",
            SyncMode::Full => "full",
            SyncMode::Reconcile => "reconcile",
            SyncMode::Redeliver => "redeliver",
            SyncMode::Purge => "purge",
        }
    }

    /// Whether the job reads Confluence (the three sync modes), as opposed
    /// to upkeep of what the index holds.
    pub fn reads_confluence(self) -> bool {
        matches!(
            self,
            SyncMode::Incremental | SyncMode::Full | SyncMode::Reconcile
        )
    }
}

/// Why a job was enqueued; for logs and metrics only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    Connect,
    Schedule,
    Operator,
}

/// Sync one site of one grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    /// Payload version; 1 for this shape.
    pub v: u32,
    pub grant_id: GrantId,
    pub cloud_id: CloudId,
    pub mode: SyncMode,
    pub trigger: SyncTrigger,
    /// Space keys a sync was asked to keep to. Not honoured yet: the
    /// operator API refuses space-limited resyncs, and a job that carries
    /// some anyway syncs the whole site (a superset, never a narrower sweep).
    #[serde(default)]
    pub spaces: Vec<String>,
}

impl SyncJob {
    pub fn new(grant_id: GrantId, cloud_id: CloudId, mode: SyncMode, trigger: SyncTrigger) -> Self {
        Self {
            v: 1,
            grant_id,
            cloud_id,
            mode,
            trigger,
            spaces: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_job_round_trips_and_tolerates_missing_optional_fields() {
        let job = SyncJob::new(
            GrantId::parse("g1").unwrap(),
            CloudId::parse("c1").unwrap(),
            SyncMode::Full,
            SyncTrigger::Connect,
        );
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"grant_id":"g1","cloud_id":"c1","mode":"full","trigger":"connect","spaces":[]}"#
        );
        let old = r#"{"v":1,"grant_id":"g1","cloud_id":"c1","mode":"full","trigger":"connect"}"#;
        assert_eq!(serde_json::from_str::<SyncJob>(old).unwrap(), job);
    }
}
