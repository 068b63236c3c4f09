//! The sync queue beyond "push now": jobs due at a later time (a retry after
//! a transient failure, honouring `Retry-After`), and how many jobs a worker
//! would take right now (what a deterministic drain stops on).
//!
//! apalis-redis keeps delayed jobs in its scheduled sorted set, scored in
//! whole seconds of system time; a worker's fetch promotes those that are
//! due. This module reads those keys through the storage's own config, so
//! their names stay apalis-redis's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis_core::backend::TaskSink as _;
use apalis_core::task::builder::TaskBuilder;
use confsync_core::jobs::SyncJob;

use crate::{StoreError, SyncQueue};

impl SyncQueue {
    /// Enqueues `job` to run once `delay` has passed (at once when zero).
    pub async fn push_after(&self, job: SyncJob, delay: Duration) -> Result<(), StoreError> {
        let mut storage = self.storage();
        let mut task = TaskBuilder::new(job);
        if !delay.is_zero() {
            task = task.run_after(delay);
        }
        storage
            .push_task(task.build())
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }

    /// Jobs a worker would take now: those waiting in the active list and
    /// the scheduled ones already due.
    pub async fn due(&self) -> Result<u64, StoreError> {
        let mut storage = self.storage();
        let config = storage.get_config().clone();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (active, scheduled): (u64, u64) = redis::pipe()
            .cmd("LLEN")
            .arg(config.active_jobs_list())
            .cmd("ZCOUNT")
            .arg(config.scheduled_jobs_set())
            .arg("-inf")
            .arg(now)
            .query_async(storage.get_connection())
            .await?;
        Ok(active + scheduled)
    }
}
