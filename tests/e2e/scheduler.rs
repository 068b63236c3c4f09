//! The scheduler: one replica acts per tick, a tick refreshes due tokens and
//! publishes the grant gauges, and the worker's cron drives it.

use std::time::Duration;

use chrono::Utc;
use confsync_core::GrantId;
use confsync_sim::{GrantSelector, SimConfig};
use confsync_store::GrantStatus;
use confsync_tests::app::TestApp;
use confsync_tests::{eventually, spawn_on};
use confsync_worker::WorkerMetrics;
use confsync_worker::scheduler::{Scheduler, TickReport};
use confsync_worker::tokens::{RefreshPolicy, TokenKeeper};

async fn app() -> TestApp {
    TestApp::spawn_with(
        SimConfig::default()
            .sites(1)
            .pages(5)
            .access_token_ttl(Duration::from_secs(300)),
        &[],
    )
    .await
}

/// One replica's scheduler, with its own metrics registry.
fn replica(app: &TestApp) -> (Scheduler, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let metrics = WorkerMetrics::register(&registry).unwrap();
    let oauth = confsync_runtime::wiring::oauth_client(&app.settings)
        .unwrap()
        .unwrap();
    let keeper = TokenKeeper::new(
        app.store(),
        app.vault(),
        oauth,
        RefreshPolicy::default(),
        metrics.oauth.clone(),
    );
    let scheduler = Scheduler::new(
        app.store(),
        app.vault(),
        Some(keeper),
        metrics,
        Duration::from_secs(600),
    );
    (scheduler, registry)
}

fn gauge(registry: &prometheus::Registry, name: &str, label: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .find(|m| m.get_label().iter().any(|l| l.value() == label))
        .map_or(-1.0, |m| m.get_gauge().get_value())
}

#[tokio::test]
async fn one_replica_acts_per_tick_and_refreshes_what_is_due() {
    let app = app().await;
    let alive = GrantId::parse(app.connect("t1").await).unwrap();
    app.sim.control().next_authorization_by("acct-dead");
    let dead = GrantId::parse(app.connect("t2").await).unwrap();
    app.sim
        .control()
        .revoke_grants(&GrantSelector::AccountId("acct-dead".into()));

    let (first, registry) = replica(&app);
    let (second, _) = replica(&app);
    let now = Utc::now();
    assert_eq!(
        first.tick(now).await.unwrap(),
        TickReport::Acted {
            tokens_refreshed: 1,
            refresh_failures: 0
        }
    );
    assert_eq!(
        second.tick(now).await.unwrap(),
        TickReport::Skipped,
        "the same tick acts once"
    );

    assert_eq!(
        app.vault().grant(&alive).await.unwrap().unwrap().status,
        GrantStatus::Active
    );
    assert_eq!(
        app.vault().grant(&dead).await.unwrap().unwrap().status,
        GrantStatus::NeedsReauth
    );
    assert_eq!(gauge(&registry, "grants", "active"), 1.0);
    assert_eq!(gauge(&registry, "grants", "needs_reauth"), 1.0);
    assert_eq!(
        gauge(&registry, "jobs", "waiting"),
        2.0,
        "the two connect-time full syncs"
    );

    // The next tick is anyone's; the refreshed grant is not due again yet
    // (refreshed after this tick began).
    let next = now + chrono::Duration::seconds(60);
    assert!(matches!(
        second.tick(next).await.unwrap(),
        TickReport::Acted { .. }
    ));
    app.stop().await;
}

#[tokio::test]
async fn the_worker_cron_keeps_tokens_fresh() {
    let app = app().await;
    let grant = GrantId::parse(app.connect("t1").await).unwrap();
    // A worker ticking every second, against the same Redis prefix and simulator.
    let mut settings = app.settings.clone();
    settings.worker.scheduler_cron = "* * * * * *".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let worker = spawn_on(
        listener,
        settings,
        |settings, listener, stopped| async move {
            confsync_worker::run(settings, listener, async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| e.to_string())
        },
    )
    .await;

    let vault = app.vault();
    let refreshed = eventually(Duration::from_secs(10), || {
        let vault = vault.clone();
        let grant = grant.clone();
        async move {
            vault
                .grant(&grant)
                .await
                .ok()
                .flatten()
                .and_then(|g| g.refreshed_at)
        }
    })
    .await;
    assert!(
        refreshed.is_some(),
        "the worker's scheduler never refreshed the due grant"
    );
    worker.stop().await.unwrap();
    app.stop().await;
}
