//! The sync queue's consumer: an apalis worker over `SyncQueue`'s
//! apalis-redis storage that runs each job through [`Crawler::run`].
//!
//! - One worker per replica, named uniquely (host, process, random suffix),
//!   running `worker.concurrency` jobs at once; each fetch takes one job, so
//!   replicas share a queue instead of one hoarding it.
//! - Layers, outermost first: concurrency limit, tracing. The handler
//!   catches a panic itself (apalis' `catch_panic` layer cannot be spawned:
//!   its boxed handler is not general over lifetimes) and reports it as a
//!   permanent failure: never a dead process. No apalis retry
//!   layer: the crawler queues a retry itself after a backoff that honours
//!   `Retry-After`, and apalis-redis' own retries (one second per attempt, 25
//!   at most) would not. Permanent failures and dead grants end as
//!   `AbortError`s (the job goes to the queue's dead set).
//! - Shutdown: stop taking jobs, cancel the running ones (they stop at their
//!   next safe point, keep their checkpoint and queue themselves again),
//!   wait for them at most `worker.shutdown_timeout_secs`.
//!
//! [`SyncConsumer::process_next`] is the same worker, stopped after one job:
//! tests (and tools) drain the queue deterministically instead of waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{
    AbortError, BackendExt as _, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt as _,
    WorkerContext,
};
use confsync_core::jobs::SyncJob;
use confsync_store::{StoreError, SyncQueue};
use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;

use crate::crawl::{Crawler, JobFailure, JobReport};

/// How often an idle worker looks for due jobs (pushes do not wake it).
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How often a worker proves it is alive; a worker silent for
/// `MISSED_HEARTBEATS` of them is presumed dead and its jobs re-queued.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
const MISSED_HEARTBEATS: usize = 3;

/// One job taken from the queue and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub job: SyncJob,
    pub result: Result<JobReport, JobFailure>,
}

/// Why the consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("job queue worker: {0}")]
    Worker(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What every job of a worker shares.
#[derive(Clone)]
struct Shared {
    crawler: Arc<Crawler>,
    /// Cancelled at shutdown: running jobs stop at their next safe point.
    cancel: CancellationToken,
    /// Step mode: where the one job's outcome goes before the worker stops.
    once: Option<Step>,
}

/// The one job of a step: its outcome, and a signal once it is there.
#[derive(Clone)]
struct Step {
    slot: Arc<Mutex<Option<Processed>>>,
    started: Arc<std::sync::atomic::AtomicBool>,
    done: CancellationToken,
}

/// The sync queue's consumer of a worker process.
#[derive(Debug, Clone)]
pub struct SyncConsumer {
    crawler: Arc<Crawler>,
    queue: SyncQueue,
    concurrency: usize,
}

impl SyncConsumer {
    pub fn new(crawler: Arc<Crawler>, queue: SyncQueue, concurrency: usize) -> SyncConsumer {
        SyncConsumer {
            crawler,
            queue,
            concurrency: concurrency.max(1),
        }
    }

    pub fn crawler(&self) -> &Arc<Crawler> {
        &self.crawler
    }

    /// Runs jobs until `stop` is cancelled, then lets the running ones stop
    /// at their next safe point for at most `grace`.
    pub async fn run(&self, stop: CancellationToken, grace: Duration) -> Result<(), ConsumerError> {
        let shared = Shared {
            crawler: Arc::clone(&self.crawler),
            cancel: stop.child_token(),
            once: None,
        };
        let name = worker_name();
        tracing::info!(worker = %name, concurrency = self.concurrency, "sync consumer running");
        let signal = stop.clone();
        let worker = self.run_worker(&name, self.concurrency, shared, async move {
            signal.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
        tokio::pin!(worker);
        let finished = tokio::select! {
            result = &mut worker => Some(result),
            () = stop.cancelled() => None,
        };
        let result = match finished {
            Some(result) => result,
            None => match tokio::time::timeout(grace, worker).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(
                        grace_secs = grace.as_secs(),
                        "running jobs did not stop in time; abandoned (another replica re-runs them)"
                    );
                    Ok(())
                }
            },
        };
        tracing::info!(worker = %name, "sync consumer stopped");
        result
    }

    /// Takes the next due job, runs it to its end and acknowledges it, as
    /// the running consumer would; `None` when no job is due.
    pub async fn process_next(&self) -> Result<Option<Processed>, ConsumerError> {
        if self.queue.due().await? == 0 {
            return Ok(None);
        }
        let step = Step {
            slot: Arc::new(Mutex::new(None)),
            started: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            done: CancellationToken::new(),
        };
        let shared = Shared {
            crawler: Arc::clone(&self.crawler),
            cancel: CancellationToken::new(),
            once: Some(step.clone()),
        };
        let name = format!("{}-step", worker_name());
        let queue = self.queue.clone();
        let watched = step.clone();
        // The handler stops the worker after its job and says so. Should
        // another consumer take the last due job first, no job starts here:
        // the watchdog then stops this worker once nothing is due.
        let finished = async move {
            let idle = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let started = watched.started.load(std::sync::atomic::Ordering::SeqCst);
                    if !started && queue.due().await.unwrap_or(1) == 0 {
                        return;
                    }
                }
            };
            tokio::select! {
                () = watched.done.cancelled() => {}
                () = idle => {}
            }
            Ok::<(), std::io::Error>(())
        };
        self.run_worker(&name, 1, shared, finished).await?;
        Ok(lock(&step.slot).take())
    }

    /// Builds the apalis worker (the queue's storage polled every
    /// [`POLL_INTERVAL`], one job per fetch, the layers, the handler) and
    /// runs it until `signal`.
    async fn run_worker<F>(
        &self,
        name: &str,
        concurrency: usize,
        shared: Shared,
        signal: F,
    ) -> Result<(), ConsumerError>
    where
        F: std::future::Future<Output = Result<(), std::io::Error>> + Send + 'static,
    {
        let storage = self.queue.storage();
        let config = storage
            .get_config()
            .clone()
            .batch_size(1)
            .heartbeat_interval(HEARTBEAT_INTERVAL)
            .missed_heartbeats(MISSED_HEARTBEATS);
        let backend = storage
            .with_config(config)
            .poll_with_interval(POLL_INTERVAL);
        WorkerBuilder::new(name)
            .backend(backend)
            .concurrency(concurrency)
            .enable_tracing()
            .data(shared)
            .build(handle)
            .run_until(signal)
            .await
            .map_err(|e| ConsumerError::Worker(e.to_string()))
    }
}

/// Runs one job: a report for apalis to keep, or an `AbortError` for a job
/// that failed for good.
async fn handle(
    job: SyncJob,
    shared: Data<Shared>,
    worker: WorkerContext,
) -> Result<JobReport, BoxDynError> {
    if let Some(step) = &shared.once {
        step.started
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let run = std::panic::AssertUnwindSafe(shared.crawler.run(&job, &shared.cancel));
    let result = match Box::pin(run.catch_unwind()).await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(site = %job.cloud_id, "a sync job panicked; it is not retried");
            Err(JobFailure::Permanent("the job panicked".into()))
        }
    };
    if let Some(step) = &shared.once {
        *lock(&step.slot) = Some(Processed {
            job,
            result: result.clone(),
        });
        // Stopped before this task completes: the worker fetches no other.
        if let Err(error) = worker.stop() {
            tracing::warn!(%error, "could not stop the one-job worker");
        }
        step.done.cancel();
    }
    result.map_err(|failure| AbortError::new(failure).into())
}

/// `host-pid-random`: unique per replica and per start, so two replicas
/// (or a restarted one) never share apalis' per-worker bookkeeping.
fn worker_name() -> String {
    use rand::Rng as _;
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let suffix: u32 = rand::thread_rng().r#gen();
    format!("sync-{host}-{}-{suffix:08x}", std::process::id())
}

/// A poisoned lock only means a handler panicked mid-write of a plain slot.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
