//! The crawl's figures of DESIGN.md section 8.
//!
//! - `points`: a full crawl of a 10,000-page simulated site against the lower
//!   bound (objects listed + one request per 250, users at 2 points), with
//!   labels off and on (labels are one request per page and blog post: no
//!   list endpoint includes them); an idle incremental poll; a poll after
//!   `k` edits. In-process worker, the simulator's clock frozen, no latency:
//!   points do not depend on time.
//! - `throughput` and `memory`: the real `confsync-worker` binary (release)
//!   crawling 10,000 and then 100,000 simulated pages at 20 ms latency per
//!   API request, no quota in the way, labels off. The ideal time is every
//!   API request the crawl made, one after the other (a site is crawled by
//!   one job, its listings are one cursor chain each), times the latency.
//!   Memory is the worker's peak RSS (`VmHWM`).
//!
//!   The simulator runs in this process on the same cores; its CPU is
//!   reported beside the worker's, since a saturated machine, not the
//!   latency, then bounds the crawl.
//!
//! Needs Redis (`REDIS_URL`) and the release binaries (`make bench` builds
//! them); every key lives under a fresh prefix, deleted afterwards.
//! Diagnostics: `BENCH_WORKER_LOG=path` keeps the worker's log, and
//! `BENCH_WORKER_ENV="K=V K2=V2"` adds to its environment (e.g. `RUST_LOG`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use confsync_core::jobs::{SyncMode, SyncTrigger};
use confsync_core::{CloudId, GrantId};
use confsync_sim::{Edit, Listener, SimConfig};
use confsync_store::SiteStore;
use confsync_tests::app::{TOKEN_KEY, TestApp};
use confsync_tests::crawl::CrawlApp;

use crate::report::{Goal, Report};

/// API latency of the throughput runs.
const LATENCY: Duration = Duration::from_millis(20);

/// A quota no run reaches: "no budget limit".
const UNLIMITED_POINTS: u64 = 1_000_000_000;

/// Edits of the "poll with k changes" figure.
const EDITS: usize = 100;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

// ---- points ---------------------------------------------------------------------------

pub fn points(report: &mut Report) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        for labels in [false, true] {
            full_crawl_points(report, 10_000, labels).await?;
        }
        Ok(())
    })
}

async fn full_crawl_points(report: &mut Report, pages: usize, labels: bool) -> anyhow::Result<()> {
    let sim = SimConfig::default()
        .seed(11)
        .sites(1)
        .pages(pages)
        .quota_points(UNLIMITED_POINTS)
        .indexer_keep_content(false);
    let app = CrawlApp::spawn(sim).await;
    let replica = app.replica_with(|s| {
        s.sync.fetch_labels = labels;
        s.budget.points_per_hour = UNLIMITED_POINTS;
        s.budget.burst_points = UNLIMITED_POINTS / 100;
    });
    app.control().reset_requests();
    let outcomes = replica.drain_outcomes().await;
    if outcomes.len() != 1 || outcomes[0].1.is_err() {
        bail!("the full crawl did not complete: {outcomes:?}");
    }
    let spent = app.points_spent();
    let bound = app.points_lower_bound(app.users_fetched());
    let label_requests = app.label_requests();
    let which = if labels {
        "labels on (default)"
    } else {
        "labels off"
    };
    println!(
        "full crawl of {pages} pages, {which}: {spent} points, bound {bound}, {label_requests} label requests, {} documents",
        app.indexed().len()
    );
    report.info(
        &format!("full crawl points, {pages} pages, {which}"),
        spent as f64,
        "points",
    );
    report.check(
        &format!("full crawl points / lower bound, {which}"),
        spent as f64 / bound as f64,
        "ratio",
        Goal::AtMost(1.02),
    );

    if !labels {
        polls(report, &app, &replica).await?;
    }
    app.stop().await;
    Ok(())
}

/// Points spent since the log was reset, without the deletion check's.
fn poll_points(app: &CrawlApp) -> (u64, u64) {
    let requests = app.control().requests(0);
    let api = requests.iter().filter(|r| r.listener == Listener::Api);
    let (check, poll): (Vec<_>, Vec<_>) = api.partition(|r| r.path.contains("status=trashed"));
    (
        poll.iter().map(|r| r.points).sum(),
        check.iter().map(|r| r.points).sum(),
    )
}

async fn polls(
    report: &mut Report,
    app: &CrawlApp,
    replica: &confsync_tests::crawl::Replica,
) -> anyhow::Result<()> {
    // The first poll after a full crawl re-reads the overlap before the
    // crawl's start (items the crawl already pushed, skipped as known).
    let (first, _) = poll(app, replica, 0).await?;
    report.info(
        "first poll after a full crawl (re-reads the overlap)",
        first as f64,
        "points",
    );
    // Each stream's first request is sized from what its last poll read in
    // its window: the poll after that one pays for the overlap's items once
    // more; from then on an idle site costs its floor.
    let (second, _) = poll(app, replica, 0).await?;
    report.info("second poll, sized from the first", second as f64, "points");
    let (idle, check) = poll(app, replica, 0).await?;
    report.check(
        "idle incremental poll",
        idle as f64,
        "points",
        Goal::AtMost(8.0),
    );
    if check > 0 {
        report.info("deletion check", check as f64, "points");
    }
    let k = EDITS as f64;
    let bound = Goal::AtMost(k + 8.0 + (k / 250.0).ceil());
    // A burst the last polls did not foretell: the first request is sized
    // for an idle stream, and every object a listing returns is charged.
    let (burst, _) = poll(app, replica, EDITS).await?;
    print_breakdown(
        app,
        &format!("poll after an unforetold burst of {EDITS} edits"),
    );
    report.check(
        &format!("poll with k={EDITS} changes, after idle polls"),
        burst as f64,
        "points",
        bound,
    );
    // The same rate again: the first request is sized from the last poll.
    let (steady, _) = poll(app, replica, EDITS).await?;
    print_breakdown(
        app,
        &format!("poll after {EDITS} edits, as many as the last poll"),
    );
    report.check(
        &format!("poll with k={EDITS} changes, steady rate"),
        steady as f64,
        "points",
        bound,
    );
    Ok(())
}

/// Edits `edits` pages, moves past the overlap, runs one scheduled poll:
/// its points, and the deletion check's (counted apart).
async fn poll(
    app: &CrawlApp,
    replica: &confsync_tests::crawl::Replica,
    edits: usize,
) -> anyhow::Result<(u64, u64)> {
    let cloud = app.cloud();
    app.control().advance_clock(Duration::from_secs(400));
    if edits > 0 {
        let pages = app
            .control()
            .contents(
                cloud.as_str(),
                confsync_sim::ContentType::Page,
                &[confsync_sim::Status::Current],
            )
            .context("pages")?;
        for page in pages.iter().take(edits) {
            app.control()
                .edit(cloud.as_str(), &page.id, Edit::default())
                .context("edit")?;
        }
    }
    app.control().reset_requests();
    app.request_for(&cloud, SyncMode::Incremental, SyncTrigger::Schedule)
        .await;
    let outcomes = replica.drain_outcomes().await;
    if outcomes.len() != 1 || outcomes[0].1.is_err() {
        bail!("the poll did not complete: {outcomes:?}");
    }
    Ok(poll_points(app))
}

/// Points per endpoint (path without query, ids folded) since the log was
/// reset: where a figure comes from.
fn print_breakdown(app: &CrawlApp, what: &str) {
    let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for r in app.control().requests(0) {
        if r.listener != Listener::Api {
            continue;
        }
        let (path, query) = r.path.split_once('?').unwrap_or((r.path.as_str(), ""));
        let path: Vec<&str> = path
            .split('/')
            .map(|seg| {
                if seg.len() > 8 && seg.contains('-') || seg.bytes().all(|b| b.is_ascii_digit()) {
                    "{id}"
                } else {
                    seg
                }
            })
            .collect();
        let limit = query
            .split('&')
            .find(|kv| kv.starts_with("limit="))
            .unwrap_or("");
        let entry = by.entry(format!("{} {limit}", path.join("/"))).or_default();
        entry.0 += 1;
        entry.1 += r.points;
    }
    println!("{what}: requests and points by endpoint");
    for (endpoint, (requests, points)) in by {
        println!("  {requests:>5} {points:>7}  {endpoint}");
    }
}

// ---- throughput and memory --------------------------------------------------------------

/// What one run of the worker process measured.
struct Run {
    pages: usize,
    documents: usize,
    elapsed: Duration,
    api_requests: u64,
    peak_rss_kib: u64,
    cpu: Duration,
    /// CPU of this process meanwhile: the simulator (generating and serving
    /// the bodies, taking the documents) and the receiver.
    sim_cpu: Duration,
}

pub fn throughput(report: &mut Report) -> anyhow::Result<()> {
    let runtime = runtime()?;
    let small = runtime.block_on(worker_run(10_000))?;
    let large = runtime.block_on(worker_run(100_000))?;
    for run in [&small, &large] {
        let ideal = LATENCY.as_secs_f64() * run.api_requests as f64;
        println!(
            "{} pages: {} documents in {:.1} s ({} API requests, ideal {:.1} s), worker CPU {:.1} s, peak RSS {:.1} MiB",
            run.pages,
            run.documents,
            run.elapsed.as_secs_f64(),
            run.api_requests,
            ideal,
            run.cpu.as_secs_f64(),
            run.peak_rss_kib as f64 / 1024.0
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        println!(
            "  simulator CPU {:.1} s: worker and simulator kept {:.0}% of {cores} cores busy",
            run.sim_cpu.as_secs_f64(),
            100.0 * (run.cpu + run.sim_cpu).as_secs_f64() / (cores * run.elapsed.as_secs_f64())
        );
        report.info(
            &format!("CPU busy (worker + simulator), {} pages", run.pages),
            100.0 * (run.cpu + run.sim_cpu).as_secs_f64() / (cores * run.elapsed.as_secs_f64()),
            "%",
        );
        report.info(
            &format!("full crawl, {} pages, 20 ms latency", run.pages),
            run.elapsed.as_secs_f64(),
            "s",
        );
        report.info(
            &format!("documents per second, {} pages", run.pages),
            run.documents as f64 / run.elapsed.as_secs_f64(),
            "docs/s",
        );
        report.check(
            &format!("crawl time / ideal, {} pages", run.pages),
            run.elapsed.as_secs_f64() / ideal,
            "ratio",
            Goal::AtMost(1.25),
        );
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    report.info(
        "worker peak RSS, 10,000 pages",
        mib(small.peak_rss_kib),
        "MiB",
    );
    report.check(
        "worker peak RSS, 100,000 pages",
        mib(large.peak_rss_kib),
        "MiB",
        Goal::AtMost(100.0),
    );
    report.check(
        "peak RSS 100,000 / 10,000 pages",
        large.peak_rss_kib as f64 / small.peak_rss_kib as f64,
        "ratio",
        Goal::AtMost(1.2),
    );
    Ok(())
}

/// Starts a simulator of `pages` pages and a receiver in-process and the
/// worker binary beside them, connects a tenant and waits for the full
/// crawl its consent queued.
async fn worker_run(pages: usize) -> anyhow::Result<Run> {
    let sim = SimConfig::default()
        .seed(5)
        .sites(1)
        .pages(pages)
        .latency(LATENCY)
        .quota_points(UNLIMITED_POINTS)
        .indexer_keep_content(false);
    let app = TestApp::spawn_with(sim, &[]).await;
    let mut worker = WorkerProcess::start(&app)?;
    let started = Instant::now();
    let sim_cpu_before = cpu_time("self")?;
    let grant = GrantId::parse(app.connect("bench").await)?;
    let cloud = CloudId::parse(app.sim.control().sites()[0].cloud_id.clone())?;
    let sites = SiteStore::new(app.store());
    loop {
        if let Some(status) = worker.child.try_wait()? {
            bail!("the worker exited early: {status}");
        }
        if sites.state(&grant, &cloud).await?.last_sync_at.is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the full crawl of {pages} pages took over an hour");
        }
        // Polling a separate process's progress: nothing to await instead.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let sim_cpu = cpu_time("self")?.saturating_sub(sim_cpu_before);
    let (peak_rss_kib, cpu) = worker.usage()?;
    worker.stop()?;
    let stats = app.sim.control().stats();
    let run = Run {
        pages,
        documents: app.sim.control().indexed_documents().len(),
        elapsed,
        api_requests: stats.api_requests,
        peak_rss_kib,
        cpu,
        sim_cpu,
    };
    app.stop().await;
    Ok(run)
}

/// User + system CPU time of process `pid` (or `self`) so far.
fn cpu_time(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): utime and stime
    // are the 12th and 13th of them, in clock ticks (100 per second).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Ok(Duration::from_millis(ticks * 10))
}

/// The `confsync-worker` binary, against the test app's simulator and Redis.
struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn start(app: &TestApp) -> anyhow::Result<WorkerProcess> {
        let control = app.sim.control();
        let points = UNLIMITED_POINTS.to_string();
        let burst = (UNLIMITED_POINTS / 100).to_string();
        let env = [
            ("REDIS_URL", confsync_tests::redis_url()),
            (
                "CONFSYNC__REDIS__KEY_PREFIX",
                app.prefix.as_str().to_owned(),
            ),
            ("CONFSYNC__WORKER__LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("ATLASSIAN_AUTH_URL", app.sim.auth_url()),
            ("ATLASSIAN_API_URL", app.sim.api_url()),
            ("ATLASSIAN_CLIENT_ID", control.client_id()),
            ("ATLASSIAN_CLIENT_SECRET", control.client_secret()),
            ("INDEXER_URL", app.sim.indexer_url()),
            ("INDEXER_TOKEN", control.indexer_token()),
            ("TOKEN_ENCRYPTION_KEY", TOKEN_KEY.to_owned()),
            ("CONFSYNC__SYNC__FETCH_LABELS", "false".to_owned()),
            ("CONFSYNC__BUDGET__POINTS_PER_HOUR", points),
            ("CONFSYNC__BUDGET__BURST_POINTS", burst),
            ("RUST_LOG", "warn".to_owned()),
        ];
        let extra: Vec<(String, String)> = std::env::var("BENCH_WORKER_ENV")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let child = Command::new(confsync_tests::binary("confsync-worker"))
            .env_clear()
            .envs(env)
            .envs(extra)
            .stdout(match std::env::var_os("BENCH_WORKER_LOG") {
                Some(path) => Stdio::from(std::fs::File::create(path)?),
                None => Stdio::null(),
            })
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting confsync-worker (built by `make bench`)")?;
        Ok(WorkerProcess { child })
    }

    /// Peak resident set (KiB) and CPU time (user + system) so far.
    fn usage(&self) -> anyhow::Result<(u64, Duration)> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let peak = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmHWM in /proc/<pid>/status")?;
        Ok((peak, cpu_time(&pid.to_string())?))
    }

    fn stop(mut self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id())?;
        // SIGTERM: the worker's graceful shutdown.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // A bench that failed half-way must not leave a worker behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
