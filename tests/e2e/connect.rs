//! The connect flow against the simulator: the receiver's add endpoint, the
//! consent at the simulated Atlassian, and the callback, on the happy path and
//! on every failure path (each with its stable code and nothing stored).

use std::collections::HashMap;

use chrono::Utc;
use confsync_core::jobs::{SyncMode, SyncTrigger};
use confsync_core::{GrantId, TenantId};
use confsync_sim::{FaultKind, FaultRule, Listener, SimConfig};
use confsync_store::{GrantStatus, PendingConnect};
use confsync_tests::app::{API_TOKEN, Outcome, RETURN_TO, TestApp, urlencode};
use secrecy::ExposeSecret as _;
use url::Url;

/// Everything under the test's prefix, values included, as one string: what
/// an attacker with a Redis dump would see.
async fn redis_dump(app: &TestApp) -> String {
    let store = app.store();
    let mut conn = store.connection();
    let mut out = String::new();
    for key in app.prefix.keys() {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let value: Vec<String> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
            ],
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("unexpected redis type {other} for {key}"),
        };
        out.push_str(&format!("{key} => {value:?}\n"));
    }
    out
}

#[tokio::test]
async fn connecting_stores_one_sealed_grant_with_both_sites_and_queues_a_full_sync_each() {
    let app = TestApp::spawn().await;
    let grant_id = app.connect("acme").await;

    let vault = app.vault();
    let grant_id = GrantId::parse(grant_id).unwrap();
    let grant = vault.grant(&grant_id).await.unwrap().expect("grant stored");
    assert_eq!(grant.tenant_id.as_str(), "acme");
    assert_eq!(grant.status, GrantStatus::Active);
    assert!(
        grant.scopes.iter().any(|s| s == "offline_access"),
        "{:?}",
        grant.scopes
    );
    let sites = vault.sites(&grant_id).await.unwrap();
    let expected: Vec<String> = app
        .sim
        .control()
        .sites()
        .into_iter()
        .map(|s| s.cloud_id)
        .collect();
    let mut stored: Vec<String> = sites.iter().map(|s| s.cloud_id.to_string()).collect();
    stored.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(stored, expected_sorted, "both simulator sites are stored");
    assert!(
        sites
            .iter()
            .all(|s| s.url.starts_with("https://") && !s.name.is_empty())
    );

    // The tokens work against the simulator, and a dump shows neither.
    let tokens = vault.tokens(&grant_id).await.unwrap().unwrap();
    let access = tokens.access_token.expose_secret().to_owned();
    let refresh = tokens
        .refresh_token
        .expect("offline_access gives a refresh token")
        .expose_secret()
        .to_owned();
    let resources = reqwest::Client::new()
        .get(format!(
            "{}/oauth/token/accessible-resources",
            app.sim.api_url()
        ))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resources.status(),
        200,
        "the stored access token is the live one"
    );
    let dump = redis_dump(&app).await;
    assert!(
        !dump.contains(&access),
        "access token readable in the Redis dump"
    );
    assert!(
        !dump.contains(&refresh),
        "refresh token readable in the Redis dump"
    );
    assert!(
        dump.contains(&format!("grant:{grant_id}")),
        "the dump covers the grant:\n{dump}"
    );

    let jobs = app.queue().pending().await.unwrap();
    assert_eq!(jobs.len(), 2, "one full sync per site: {jobs:?}");
    for job in &jobs {
        assert_eq!(job.grant_id, grant_id);
        assert_eq!(job.mode, SyncMode::Full);
        assert_eq!(job.trigger, SyncTrigger::Connect);
    }
    let mut queued: Vec<String> = jobs.iter().map(|j| j.cloud_id.to_string()).collect();
    queued.sort();
    assert_eq!(queued, expected_sorted);
    app.stop().await;
}

#[tokio::test]
async fn the_add_endpoint_redirects_when_asked_and_the_consent_url_is_atlassians() {
    let app = TestApp::spawn().await;
    let response = app
        .add(&format!(
            "tenant_id=acme&return_to={}&redirect=true",
            urlencode(RETURN_TO)
        ))
        .await;
    assert_eq!(response.status(), 303);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{}/authorize?", app.sim.auth_url())),
        "{location}"
    );
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["audience"], "api.atlassian.com");
    assert_eq!(q["prompt"], "consent");
    assert!(q["scope"].split(' ').any(|s| s == "offline_access"));
    assert!(q["state"].len() >= 22, "state carries at least 128 bits");
    app.stop().await;
}

#[tokio::test]
async fn the_add_endpoint_refuses_bad_callers_and_bad_input() {
    let app = TestApp::spawn().await;
    for (query, token, status, code) in [
        ("tenant_id=acme", None, 401, "unauthorized"),
        ("tenant_id=acme", Some("wrong-token"), 401, "unauthorized"),
        ("", Some(API_TOKEN), 400, "invalid_tenant"),
        ("tenant_id=a%20b", Some(API_TOKEN), 400, "invalid_tenant"),
        (
            "tenant_id=acme&return_to=https%3A%2F%2Fevil.example%2F",
            Some(API_TOKEN),
            400,
            "return_to_not_allowed",
        ),
        (
            "tenant_id=acme&return_to=http%3A%2F%2Fapp.test.evil.example%2F",
            Some(API_TOKEN),
            400,
            "return_to_not_allowed",
        ),
        (
            "tenant_id=acme&return_to=http%3A%2F%2Fapp.test%40evil.example%2F",
            Some(API_TOKEN),
            400,
            "return_to_not_allowed",
        ),
    ] {
        let response = app.add_with_token(query, token).await;
        assert_eq!(response.status().as_u16(), status, "{query} with {token:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], code, "{query}: {body}");
    }
    app.assert_nothing_stored();
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let auth_url = app.start_connect("acme", None).await;
    let callback = app.consent(&auth_url).await;
    assert!(matches!(
        app.callback(&callback).await,
        Outcome::Connected { .. }
    ));
    let keys_before = app.stored_connection_keys();
    assert_eq!(
        app.callback(&callback).await,
        Outcome::Refused {
            status: 400,
            code: "reused_state".into()
        }
    );
    assert_eq!(app.stored_connection_keys(), keys_before);
    assert_eq!(app.vault().all_grants().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn state_failures_have_their_own_codes_and_store_nothing() {
    let app = TestApp::spawn().await;
    let base = app
        .receiver
        .url("/api/v1/auth/confluence/connector/callback");

    let missing = Url::parse(&format!("{base}?code=abc")).unwrap();
    assert_eq!(
        app.callback(&missing).await,
        Outcome::Refused {
            status: 400,
            code: "missing_state".into()
        }
    );

    let unknown = Url::parse(&format!("{base}?code=abc&state=never-issued")).unwrap();
    assert_eq!(
        app.callback(&unknown).await,
        Outcome::Refused {
            status: 400,
            code: "unknown_state".into()
        }
    );

    // An expired state: issued with a lifetime already over.
    let pending = PendingConnect {
        v: 1,
        tenant_id: TenantId::parse("acme").unwrap(),
        return_to: None,
        expires_at: Utc::now() - chrono::Duration::seconds(1),
    };
    app.store()
        .save_oauth_state("stale-state", &pending)
        .await
        .unwrap();
    let expired = Url::parse(&format!("{base}?code=abc&state=stale-state")).unwrap();
    assert_eq!(
        app.callback(&expired).await,
        Outcome::Refused {
            status: 400,
            code: "expired_state".into()
        }
    );

    // A valid state but no code.
    let auth_url = app.start_connect("acme", None).await;
    let consent = app.consent(&auth_url).await;
    let state = consent
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let no_code = Url::parse(&format!("{base}?state={}", urlencode(&state))).unwrap();
    assert_eq!(
        app.callback(&no_code).await,
        Outcome::Refused {
            status: 400,
            code: "missing_code".into()
        }
    );

    app.assert_nothing_stored();
    app.stop().await;
}

#[tokio::test]
async fn a_declined_consent_goes_back_to_return_to_with_access_denied() {
    let app = TestApp::spawn().await;
    app.sim.control().decline_next_authorizations(1);
    let auth_url = app.start_connect("acme", Some(RETURN_TO)).await;
    let callback = app.consent(&auth_url).await;
    assert!(
        callback
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "access_denied"),
        "{callback}"
    );
    assert_eq!(
        app.callback(&callback).await,
        Outcome::RedirectedWithError {
            code: "access_denied".into()
        }
    );
    app.assert_nothing_stored();

    // Without a return_to, the browser gets the code directly.
    app.sim.control().decline_next_authorizations(1);
    let auth_url = app.start_connect("acme", None).await;
    let callback = app.consent(&auth_url).await;
    assert_eq!(
        app.callback(&callback).await,
        Outcome::Refused {
            status: 403,
            code: "access_denied".into()
        }
    );
    app.assert_nothing_stored();
    app.stop().await;
}

#[tokio::test]
async fn token_exchange_failures_carry_the_upstream_class_and_store_nothing() {
    // A code Atlassian does not know.
    let app = TestApp::spawn().await;
    let auth_url = app.start_connect("acme", None).await;
    let mut callback = app.consent(&auth_url).await;
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    callback
        .query_pairs_mut()
        .clear()
        .append_pair("code", "forged-code")
        .append_pair("state", &state);
    assert_eq!(
        app.callback(&callback).await,
        Outcome::Refused {
            status: 400,
            code: "token_exchange_rejected".into()
        }
    );
    app.assert_nothing_stored();

    // Atlassian down.
    app.sim.control().add_fault(
        FaultRule {
            listener: Listener::Auth,
            ..FaultRule::new(FaultKind::Status { status: 503 })
        }
        .path("/oauth/token"),
    );
    let auth_url = app.start_connect("acme", None).await;
    let callback = app.consent(&auth_url).await;
    assert_eq!(
        app.callback(&callback).await,
        Outcome::Refused {
            status: 503,
            code: "atlassian_unavailable".into()
        }
    );
    app.assert_nothing_stored();
    app.stop().await;

    // A wrong client secret: a configuration error, and the secret is never shown.
    let app = TestApp::spawn_with(
        SimConfig::default().pages(5),
        &[("ATLASSIAN_CLIENT_SECRET", "definitely-not-the-secret")],
    )
    .await;
    let auth_url = app.start_connect("acme", None).await;
    let callback = app.consent(&auth_url).await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(callback)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(body.contains("\"oauth_misconfigured\""), "{body}");
    assert!(!body.contains("definitely-not-the-secret"), "{body}");
    app.assert_nothing_stored();
    app.stop().await;
}

#[tokio::test]
async fn an_account_without_confluence_sites_is_refused() {
    let app = TestApp::spawn().await;
    let control = app.sim.control();
    control.set_account_sites("acct-guest", &[]).unwrap();
    control.next_authorization_by("acct-guest");
    let auth_url = app.start_connect("acme", Some(RETURN_TO)).await;
    let callback = app.consent(&auth_url).await;
    assert_eq!(
        app.callback(&callback).await,
        Outcome::RedirectedWithError {
            code: "no_confluence_site".into()
        }
    );
    app.assert_nothing_stored();
    app.stop().await;
}

#[tokio::test]
async fn reconnecting_the_same_account_updates_its_grant() {
    let app = TestApp::spawn().await;
    let control = app.sim.control();
    control.next_authorization_by("acct-alice");
    let first = app.connect("acme").await;
    control.next_authorization_by("acct-alice");
    let second = app.connect("acme").await;
    assert_eq!(first, second, "same tenant, same account: same grant");
    control.next_authorization_by("acct-bob");
    let third = app.connect("acme").await;
    assert_ne!(first, third, "another account gets its own grant");
    let tenant = TenantId::parse("acme").unwrap();
    assert_eq!(app.vault().tenant_grants(&tenant).await.unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn two_hundred_concurrent_callbacks_store_two_hundred_grants() {
    let app =
        std::sync::Arc::new(TestApp::spawn_with(SimConfig::default().sites(1).pages(5), &[]).await);
    // Every consent first: 200 distinct states waiting for their callbacks.
    let mut callbacks = Vec::new();
    for i in 0..200 {
        let auth_url = app
            .start_connect(&format!("tenant-{i}"), Some(RETURN_TO))
            .await;
        callbacks.push(app.consent(&auth_url).await);
    }
    let tasks: Vec<_> = callbacks
        .into_iter()
        .map(|callback| {
            let app = app.clone();
            tokio::spawn(async move { app.callback(&callback).await })
        })
        .collect();
    let mut grants = std::collections::BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Outcome::Connected { grant_id } => {
                grants.insert(grant_id);
            }
            other => panic!("a concurrent callback failed: {other:?}"),
        }
    }
    assert_eq!(grants.len(), 200);
    assert_eq!(app.vault().all_grants().await.unwrap().len(), 200);
    assert_eq!(app.queue().pending().await.unwrap().len(), 200);
    let app = std::sync::Arc::try_unwrap(app).expect("no task holds the app any more");
    app.stop().await;
}
