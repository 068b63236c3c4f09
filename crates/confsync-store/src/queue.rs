//! The sync job queue (apalis-redis), namespaced under the store's prefix so
//! that every queue key is confsync's and tests stay isolated.

use apalis_core::backend::TaskSink as _;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_redis::{Config as QueueConfig, RedisStorage};
use confsync_core::jobs::{SYNC_QUEUE, SyncJob};

use crate::{Store, StoreError};

/// Jobs by state, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    pub waiting: u64,
    pub dead: u64,
}

/// Producer and inspector of the sync queue.
#[derive(Clone)]
pub struct SyncQueue {
    storage: RedisStorage<SyncJob>,
    name: String,
    store: Store,
}

impl std::fmt::Debug for SyncQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncQueue")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SyncQueue {
    pub fn new(store: &Store) -> SyncQueue {
        let name = format!("{}queue:{SYNC_QUEUE}", store.prefix());
        let storage =
            RedisStorage::new(store.connection()).with_config(QueueConfig::default().queue(&name));
        SyncQueue {
            storage,
            name,
            store: store.clone(),
        }
    }

    /// The apalis storage, for the worker's consumers.
    pub fn storage(&self) -> RedisStorage<SyncJob> {
        self.storage.clone()
    }

    /// Enqueues `job` to run as soon as a worker is free.
    pub async fn push(&self, job: SyncJob) -> Result<(), StoreError> {
        self.push_job(job).await.map(|_| ())
    }

    /// Enqueues `job` and returns its job id (for operators to follow it).
    pub async fn push_job(&self, job: SyncJob) -> Result<String, StoreError> {
        let id = format!("job-{}", uuid::Uuid::new_v4().simple());
        let task = TaskBuilder::new(job)
            .task_id(TaskId::from_string(id.clone()))
            .build();
        let mut storage = self.storage.clone();
        storage
            .push_task(task)
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))?;
        Ok(id)
    }

    /// How many jobs wait (due or scheduled) and how many died (exhausted
    /// their retries or were aborted): the queue figures on `/metrics`.
    pub async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let mut conn = self.store.connection();
        let (active, scheduled, dead): (u64, u64, u64) = redis::pipe()
            .cmd("LLEN")
            .arg(format!("{}:active", self.name))
            .cmd("ZCARD")
            .arg(format!("{}:scheduled", self.name))
            .cmd("SCARD")
            .arg(format!("{}:dead", self.name))
            .query_async(&mut conn)
            .await?;
        Ok(QueueCounts {
            waiting: active + scheduled,
            dead,
        })
    }

    /// The jobs waiting to run: those already due, then those scheduled.
    /// Order follows the queue's (due time in whole seconds, then task id), so
    /// jobs pushed within the same second come in no particular order.
    /// (apalis-redis parks every pushed task in the scheduled set until a
    /// worker moves it to the active list.)
    pub async fn pending(&self) -> Result<Vec<SyncJob>, StoreError> {
        let mut conn = self.store.connection();
        let mut ids: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{}:active", self.name))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        let scheduled: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{}:scheduled", self.name))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        ids.extend(scheduled);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(format!("{}:data", self.name))
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        payloads
            .into_iter()
            .flatten()
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    what: "sync job",
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}
