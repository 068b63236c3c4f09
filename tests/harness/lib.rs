//! The end-to-end harness: a fresh Redis key prefix per test (deleted when the
//! test ends, even by panic), settings pointing at it, and the receiver and
//! worker started in-process on port 0.
//!
//! Tests share the machine's Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`) and never touch keys outside their own prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod crawl;
pub mod redis_server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use confsync_runtime::Settings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A Redis key prefix owned by one test. Dropping it deletes its keys.
#[derive(Debug)]
pub struct TestPrefix {
    prefix: String,
    redis_url: String,
}

impl TestPrefix {
    pub fn new() -> Self {
        Self::on(&redis_url())
    }

    /// A prefix on another Redis (e.g. a private [`redis_server::RedisServer`]).
    pub fn on(redis_url: &str) -> Self {
        let prefix = format!("confsync-test:{}:", uuid::Uuid::new_v4().simple());
        Self {
            prefix,
            redis_url: redis_url.to_owned(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// Keys under this prefix right now, sorted.
    pub fn keys(&self) -> Vec<String> {
        let Ok(client) = redis::Client::open(self.redis_url.as_str()) else {
            return Vec::new();
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return Vec::new();
        };
        let pattern = format!("{}*", self.prefix);
        let mut keys = redis::cmd("KEYS")
            .arg(&pattern)
            .query::<Vec<String>>(&mut conn)
            .unwrap_or_default();
        // KEYS answers in no particular order.
        keys.sort_unstable();
        keys
    }
}

impl Default for TestPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        // Synchronous on purpose: Drop cannot await, and this must run even
        // when the test panicked. The prefix holds no glob metacharacters.
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        if let Ok(client) = redis::Client::open(self.redis_url.as_str())
            && let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2))
        {
            let _: Result<u64, _> = redis::cmd("UNLINK").arg(&keys).query(&mut conn);
        }
    }
}

/// Settings for a test: dev defaults, the test's prefix, ports 0, plus `extra`
/// environment entries (plain names or `CONFSYNC__…`).
pub fn settings(prefix: &TestPrefix, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("REDIS_URL".into(), prefix.redis_url.clone()),
        (
            "CONFSYNC__REDIS__KEY_PREFIX".into(),
            prefix.as_str().to_owned(),
        ),
        (
            "CONFSYNC__RECEIVER__LISTEN_ADDR".into(),
            "127.0.0.1:0".into(),
        ),
        ("CONFSYNC__WORKER__LISTEN_ADDR".into(), "127.0.0.1:0".into()),
        // Short reconnect delays keep outage tests quick.
        (
            "CONFSYNC__REDIS__RECONNECT_MIN_DELAY_MS".into(),
            "20".into(),
        ),
        (
            "CONFSYNC__REDIS__RECONNECT_MAX_DELAY_MS".into(),
            "200".into(),
        ),
        ("CONFSYNC__REDIS__CONNECT_TIMEOUT_MS".into(), "500".into()),
        ("CONFSYNC__REDIS__RESPONSE_TIMEOUT_MS".into(), "1000".into()),
    ]);
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::load_from(&env).expect("test settings are valid")
}

/// A server started in-process; [`Running::stop`] shuts it down gracefully.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The HTTP status of `GET path`, or 0 when nothing answers.
    pub async fn status(&self, path: &str) -> u16 {
        reqwest::get(self.url(path))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Sends the shutdown signal and waits (at most 10 s) for `run` to return.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(format!("server task panicked: {join}")),
            Err(_) => Err("server did not stop within 10 s".into()),
        }
    }
}

/// Runs `run(settings, listener, stopped)` on its own task; `stopped`
/// completes when [`Running::stop`] is called.
pub async fn spawn_on<F, Fut>(
    listener: tokio::net::TcpListener,
    settings: Settings,
    run: F,
) -> Running
where
    F: FnOnce(Settings, tokio::net::TcpListener, oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(settings, listener, stopped));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn loopback() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Starts `confsync_receiver::run` in-process on a fresh loopback port.
pub async fn spawn_receiver(settings: Settings) -> Running {
    spawn_on(
        loopback().await,
        settings,
        |settings, listener, stopped| async move {
            confsync_receiver::run(settings, listener, async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
        },
    )
    .await
}

/// Starts `confsync_worker::run` in-process on a fresh loopback port.
pub async fn spawn_worker(settings: Settings) -> Running {
    spawn_on(
        loopback().await,
        settings,
        |settings, listener, stopped| async move {
            confsync_worker::run(settings, listener, async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
        },
    )
    .await
}

/// Polls `probe` every 20 ms until it returns `Some`, for at most `limit`.
/// For conditions that only an outside process can make true (a restarted
/// Redis, a child process writing a file); never a substitute for a
/// deterministic step.
pub async fn eventually<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The workspace's `target/<profile>` directory, where `cargo` put the binaries
/// this test binary was built with.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (`make test` does)",
        path.display()
    );
    path
}
