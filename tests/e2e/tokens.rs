//! The token lifecycle against the simulator's rotating refresh tokens:
//! refresh when due, single-flight across replicas, re-consent on a dead
//! grant, transient failures leaving the grant active.

use std::time::Duration;

use chrono::Utc;
use confsync_core::GrantId;
use confsync_oauth::metrics::OAuthMetrics;
use confsync_sim::{FaultKind, FaultRule, GrantSelector, Listener, SimConfig};
use confsync_store::GrantStatus;
use confsync_tests::app::TestApp;
use confsync_worker::tokens::{RefreshOutcome, RefreshPolicy, TokenKeeper};
use secrecy::ExposeSecret as _;

/// A simulator whose access tokens live 5 minutes: inside the default
/// 10-minute refresh-ahead window from the start.
async fn app() -> TestApp {
    TestApp::spawn_with(
        SimConfig::default()
            .sites(2)
            .pages(5)
            .access_token_ttl(Duration::from_secs(300)),
        &[],
    )
    .await
}

/// A replica's refresher.
fn keeper(app: &TestApp) -> TokenKeeper {
    let oauth = confsync_runtime::wiring::oauth_client(&app.settings)
        .unwrap()
        .expect("credentials configured");
    let metrics = OAuthMetrics::register(&prometheus::Registry::new()).unwrap();
    let policy = RefreshPolicy {
        peer_wait: Duration::from_secs(10),
        ..RefreshPolicy::default()
    };
    TokenKeeper::new(app.store(), app.vault(), oauth, policy, metrics)
}

fn sim_refreshes(app: &TestApp) -> u64 {
    app.sim.control().grants().iter().map(|g| g.refreshes).sum()
}

async fn accessible(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/oauth/token/accessible-resources",
            app.sim.api_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_due_grant_is_refreshed_and_the_rotated_pair_is_stored() {
    let app = app().await;
    let grant = GrantId::parse(app.connect("acme").await).unwrap();
    let before = app.vault().tokens(&grant).await.unwrap().unwrap();

    let outcome = keeper(&app)
        .refresh_if_due(&grant, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Refreshed);
    let after = app.vault().tokens(&grant).await.unwrap().unwrap();
    assert_ne!(
        after.access_token.expose_secret(),
        before.access_token.expose_secret()
    );
    assert_ne!(
        after.refresh_token.as_ref().unwrap().expose_secret(),
        before.refresh_token.as_ref().unwrap().expose_secret(),
        "the rotated refresh token is stored"
    );
    assert!(after.access_expires_at > before.access_expires_at);
    assert_eq!(
        accessible(&app, after.access_token.expose_secret()).await,
        200
    );
    let stored = app.vault().grant(&grant).await.unwrap().unwrap();
    assert!(stored.refreshed_at.is_some());
    assert_eq!(stored.status, GrantStatus::Active);

    // Fresh now: a second sweep leaves it alone (the new token lives 5 min,
    // inside the window, so ask about a policy with a shorter window).
    let relaxed = {
        let oauth = confsync_runtime::wiring::oauth_client(&app.settings)
            .unwrap()
            .unwrap();
        let metrics = OAuthMetrics::register(&prometheus::Registry::new()).unwrap();
        let policy = RefreshPolicy {
            refresh_ahead: Duration::from_secs(60),
            ..RefreshPolicy::default()
        };
        TokenKeeper::new(app.store(), app.vault(), oauth, policy, metrics)
    };
    assert_eq!(
        relaxed.refresh_if_due(&grant, Utc::now()).await.unwrap(),
        RefreshOutcome::Fresh
    );
    assert_eq!(sim_refreshes(&app), 1);
    app.stop().await;
}

#[tokio::test]
async fn replicas_refreshing_the_same_grant_at_once_refresh_it_once() {
    let app = app().await;
    let grant = GrantId::parse(app.connect("acme").await).unwrap();
    let replicas: Vec<_> = (0..8)
        .map(|_| {
            let keeper = keeper(&app);
            let grant = grant.clone();
            tokio::spawn(async move { keeper.refresh_if_due(&grant, Utc::now()).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for replica in replicas {
        outcomes.push(replica.await.unwrap().unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RefreshOutcome::Refreshed)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(sim_refreshes(&app), 1, "one refresh reached Atlassian");
    // Nobody kept an old refresh token: the family is intact.
    assert!(app.sim.control().grants().iter().all(|g| !g.revoked));
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_access_token_is_replaced_once() {
    let app = app().await;
    let grant = GrantId::parse(app.connect("acme").await).unwrap();
    let keeper = keeper(&app);
    let old = app
        .vault()
        .tokens(&grant)
        .await
        .unwrap()
        .unwrap()
        .access_token;

    let first = keeper.refresh_rejected(&grant, &old).await.unwrap();
    let second = keeper.refresh_rejected(&grant, &old).await.unwrap();
    assert_ne!(first.access_token.expose_secret(), old.expose_secret());
    assert_eq!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret(),
        "a second report of the same rejected token reuses the refreshed one"
    );
    assert_eq!(sim_refreshes(&app), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_grant_needs_a_new_consent() {
    let app = app().await;
    let grant = GrantId::parse(app.connect("acme").await).unwrap();
    app.sim.control().revoke_grants(&GrantSelector::All);

    let outcome = keeper(&app)
        .refresh_if_due(&grant, Utc::now())
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::NeedsReauth);
    let stored = app.vault().grant(&grant).await.unwrap().unwrap();
    assert_eq!(stored.status, GrantStatus::NeedsReauth);
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("rejected")),
        "{:?}",
        stored.last_error
    );
    // Left alone from now on.
    assert_eq!(
        keeper(&app)
            .refresh_if_due(&grant, Utc::now())
            .await
            .unwrap(),
        RefreshOutcome::Inactive
    );

    // A new consent brings it back.
    let again = GrantId::parse(app.connect("acme").await).unwrap();
    assert_eq!(again, grant);
    assert_eq!(
        app.vault().grant(&grant).await.unwrap().unwrap().status,
        GrantStatus::Active
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unavailable_auth_server_keeps_the_grant_active() {
    let app = app().await;
    let grant = GrantId::parse(app.connect("acme").await).unwrap();
    let before = app.vault().tokens(&grant).await.unwrap().unwrap();
    app.sim.control().add_fault(
        FaultRule {
            listener: Listener::Auth,
            ..FaultRule::new(FaultKind::Status { status: 502 })
        }
        .path("/oauth/token"),
    );

    let error = keeper(&app)
        .refresh_if_due(&grant, Utc::now())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("unavailable"), "{error}");
    let stored = app.vault().grant(&grant).await.unwrap().unwrap();
    assert_eq!(stored.status, GrantStatus::Active);
    assert!(stored.last_error.is_some());
    let after = app.vault().tokens(&grant).await.unwrap().unwrap();
    assert_eq!(
        after.refresh_token.unwrap().expose_secret(),
        before.refresh_token.unwrap().expose_secret()
    );

    app.sim.control().clear_faults();
    assert_eq!(
        keeper(&app)
            .refresh_if_due(&grant, Utc::now())
            .await
            .unwrap(),
        RefreshOutcome::Refreshed
    );
    assert!(
        app.vault()
            .grant(&grant)
            .await
            .unwrap()
            .unwrap()
            .last_error
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_sweep_refreshes_every_due_grant() {
    let app = app().await;
    for tenant in ["t1", "t2", "t3"] {
        app.connect(tenant).await;
    }
    let (refreshed, failed) = keeper(&app).refresh_all_due(Utc::now()).await.unwrap();
    assert_eq!((refreshed, failed), (3, 0));
    assert_eq!(sim_refreshes(&app), 3);
    app.stop().await;
}

#[tokio::test]
async fn the_confluence_client_recovers_from_an_expired_token_through_the_keeper() {
    use std::sync::Arc;

    use confsync_confluence::metrics::ApiMetrics;
    use confsync_confluence::{Limit, ListQuery, TokioClock, Unmetered};
    use confsync_core::CloudId;
    use confsync_worker::tokens::GrantTokens;

    // Tokens living 30 s: the stored expiry is inside the client's 60 s
    // margin, where the gateway's 404-for-expired quirk is recognised.
    let app = TestApp::spawn_with(
        SimConfig::default()
            .sites(1)
            .pages(30)
            .access_token_ttl(Duration::from_secs(30)),
        &[],
    )
    .await;
    let grant = GrantId::parse(app.connect("acme").await).unwrap();
    let before = app.vault().tokens(&grant).await.unwrap().unwrap();
    app.sim.control().expire_access_tokens(&GrantSelector::All);

    let api_metrics = ApiMetrics::register(&prometheus::Registry::new()).unwrap();
    let confluence = confsync_runtime::wiring::confluence(
        &app.settings,
        api_metrics,
        Arc::new(TokioClock),
        Arc::new(Unmetered),
    )
    .unwrap();
    let cloud = CloudId::parse(app.sim.control().sites()[0].cloud_id.clone()).unwrap();
    let site = confluence
        .site(
            cloud,
            Arc::new(GrantTokens::new(keeper(&app), grant.clone())),
        )
        .unwrap();
    let page = site
        .pages(ListQuery::new(Limit::MAX))
        .next_page()
        .await
        .unwrap()
        .expect("a first page");

    assert!(!page.results.is_empty());
    assert_eq!(sim_refreshes(&app), 1, "exactly one refresh");
    let after = app.vault().tokens(&grant).await.unwrap().unwrap();
    assert_ne!(
        after.access_token.expose_secret(),
        before.access_token.expose_secret(),
        "the refreshed pair is stored"
    );
    app.stop().await;
}
