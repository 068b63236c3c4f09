//! The foundation: both servers start from settings, answer the ops
//! endpoints, follow Redis' health without a restart, and stop on signals.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use confsync_tests::{TestPrefix, binary, eventually, settings, spawn_receiver, spawn_worker};

#[tokio::test]
async fn receiver_and_worker_serve_health_readiness_and_metrics() {
    let prefix = TestPrefix::new();
    for (name, server) in [
        ("receiver", spawn_receiver(settings(&prefix, &[])).await),
        ("worker", spawn_worker(settings(&prefix, &[])).await),
    ] {
        assert_eq!(server.status("/healthz").await, 200, "{name} /healthz");
        let ready = eventually(Duration::from_secs(5), || async {
            (server.status("/readyz").await == 200).then_some(())
        })
        .await;
        assert!(ready.is_some(), "{name} /readyz never answered 200");
        let response = reqwest::get(server.url("/metrics")).await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain"),
            "{name} metrics content type {content_type}"
        );
        let body = response.text().await.unwrap();
        assert!(
            body.contains(&format!("confsync_build_info{{component=\"{name}\"")),
            "{name}: {body}"
        );
        assert!(
            body.contains("# TYPE confsync_dead_letters gauge"),
            "{name}: {body}"
        );
        server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn worker_metrics_carry_the_design_families() {
    let prefix = TestPrefix::new();
    let worker = spawn_worker(settings(&prefix, &[])).await;
    let body = reqwest::get(worker.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "confsync_api_points_spent_total",
        "confsync_budget_points_available",
        "confsync_documents_unchanged_total",
        "confsync_sync_lag_seconds",
        "confsync_dead_letters",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "missing {family} in:\n{body}"
        );
    }
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn servers_stop_promptly_even_while_waiting_for_an_unreachable_redis() {
    // Nothing listens on port 1: the worker is still in its wait-for-redis loop.
    let prefix = TestPrefix::on("redis://127.0.0.1:1");
    let worker = spawn_worker(settings(&prefix, &[])).await;
    let receiver = spawn_receiver(settings(&prefix, &[])).await;
    assert_eq!(worker.status("/readyz").await, 503);
    assert_eq!(receiver.status("/readyz").await, 503);
    worker.stop().await.unwrap();
    receiver.stop().await.unwrap();
}

/// Runs a built binary with only the given environment (plus PATH).
fn command(name: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary(name));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn binaries_start_with_only_redis_url_and_exit_zero_on_sigterm() {
    let redis = confsync_tests::redis_url();
    for (name, addr_key) in [
        ("confsync-receiver", "CONFSYNC__RECEIVER__LISTEN_ADDR"),
        ("confsync-worker", "CONFSYNC__WORKER__LISTEN_ADDR"),
    ] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let prefix = TestPrefix::new();
        let child = command(
            name,
            &[
                ("REDIS_URL", &redis),
                (addr_key, &addr),
                ("CONFSYNC__REDIS__KEY_PREFIX", prefix.as_str()),
            ],
        )
        .spawn()
        .unwrap();
        let url = format!("http://{addr}");
        let ready = eventually(Duration::from_secs(20), || {
            let url = url.clone();
            async move {
                let r = reqwest::get(format!("{url}/readyz")).await.ok()?;
                (r.status() == 200).then_some(())
            }
        })
        .await;
        assert!(ready.is_some(), "{name} never became ready on {addr}");
        let metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("confsync_"), "{name} metrics: {metrics}");

        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let exit = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let took = sent.elapsed();
        assert!(
            exit.status.success(),
            "{name} exited with {:?}: {}",
            exit.status,
            String::from_utf8_lossy(&exit.stderr)
        );
        assert!(
            took < Duration::from_secs(10),
            "{name} took {took:?} to stop after SIGTERM"
        );
    }
}

#[test]
fn a_bad_configuration_value_stops_start_up_naming_the_key() {
    for name in ["confsync-receiver", "confsync-worker"] {
        let output = command(name, &[("CONFSYNC__SYNC__POLL_INTERVAL_SECS", "abc")])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name} accepted a bad value");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("sync.poll_interval_secs"),
            "{name} stderr: {stderr}"
        );

        let output = command(name, &[("CONFSYNC_ENV", "production")])
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{name} started in production without secrets"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("configuration key `"),
            "{name} stderr: {stderr}"
        );
    }
}
