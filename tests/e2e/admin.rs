//! The operator API: list and show connections, queue resyncs, list and
//! retry dead letters, disconnect (and purge).

use confsync_core::GrantId;
use confsync_core::jobs::{SyncMode, SyncTrigger};
use confsync_store::dead_letters::{DeadLetter, DeadLetters};
use confsync_store::{GrantStatus, SiteKey};
use confsync_tests::app::{API_TOKEN, TestApp};
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.receiver.url(path))
        .bearer_auth(API_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn connections_are_listed_per_tenant_and_shown_one_by_one() {
    let app = TestApp::spawn().await;
    let grant = app.connect("acme").await;
    app.connect("other").await;

    let (status, body) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/connections?tenant_id=acme",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let connections = body["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0]["grant_id"], grant.as_str());
    assert_eq!(connections[0]["status"], "active");
    assert_eq!(connections[0]["sites"].as_array().unwrap().len(), 2);

    let (status, all) = call(&app, reqwest::Method::GET, "/api/v1/connections", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["connections"].as_array().unwrap().len(), 2);

    let (status, one) = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/connections/{grant}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["tenant_id"], "acme");
    let text = one.to_string();
    assert!(
        !text.contains("access_token") && !text.contains("refresh_token"),
        "{text}"
    );

    let (status, missing) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/connections/g-nope",
        None,
    )
    .await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("unknown_grant"))
    );

    let response = reqwest::get(app.receiver.url("/api/v1/connections"))
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "no token, no listing");
    app.stop().await;
}

#[tokio::test]
async fn a_resync_queues_one_job_per_selected_site() {
    let app = TestApp::spawn().await;
    let grant = app.connect("acme").await;
    let queued_at_connect = app.queue().pending().await.unwrap().len();
    let path = format!("/api/v1/connections/{grant}/resync");

    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        &path,
        Some(json!({"mode": "full"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["jobs"].as_array().unwrap().len(), 2);
    assert!(
        body["jobs"][0]["job_id"]
            .as_str()
            .unwrap()
            .starts_with("job-")
    );

    let site = app.sim.control().sites()[0].cloud_id.clone();
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        &path,
        Some(json!({"mode": "incremental", "site": site})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let jobs = app.queue().pending().await.unwrap();
    assert_eq!(jobs.len(), queued_at_connect + 3);
    let operator: Vec<_> = jobs
        .iter()
        .filter(|j| j.trigger == SyncTrigger::Operator)
        .collect();
    assert_eq!(operator.len(), 3);
    assert!(
        operator
            .iter()
            .any(|j| j.mode == SyncMode::Incremental && j.cloud_id.as_str() == site)
    );

    for (body, code) in [
        (json!({"mode": "sometimes"}), "invalid_request"),
        (json!({"mode": "full", "extra": 1}), "invalid_request"),
        (
            json!({"mode": "full", "site": "not-a-site"}),
            "unknown_site",
        ),
        // Not yet: a space-limited walk must never sweep the rest of the site.
        (json!({"mode": "full", "spaces": ["DOCS"]}), "unsupported"),
        // Upkeep has its own endpoints.
        (json!({"mode": "purge"}), "invalid_request"),
        (json!({"mode": "redeliver"}), "invalid_request"),
    ] {
        let (status, answer) = call(&app, reqwest::Method::POST, &path, Some(body.clone())).await;
        assert_eq!(answer["error"], code, "{body} -> {status} {answer}");
        assert!(status == 400 || status == 404, "{body} -> {status}");
    }
    assert_eq!(
        app.queue().pending().await.unwrap().len(),
        queued_at_connect + 3,
        "refusals queue nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn disconnecting_deletes_the_tokens_and_stops_resyncs_until_a_new_consent() {
    let app = TestApp::spawn().await;
    let grant = app.connect("acme").await;
    let id = GrantId::parse(grant.clone()).unwrap();

    let (status, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/connections/{grant}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stored = app.vault().grant(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, GrantStatus::Disconnected);
    let store = app.store();
    let mut conn = store.connection();
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("{}grant:{grant}", app.prefix.as_str()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !fields.iter().any(|f| f.ends_with("_token")),
        "tokens must be gone: {fields:?}"
    );

    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/connections/{grant}/resync"),
        Some(json!({"mode": "full"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("grant_not_active"))
    );
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/connections/g-unknown",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The same account consenting again revives the same grant.
    assert_eq!(app.connect("acme").await, grant);
    assert_eq!(
        app.vault().grant(&id).await.unwrap().unwrap().status,
        GrantStatus::Active
    );
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_are_listed_and_a_retry_queues_a_redelivery_per_site() {
    let app = TestApp::spawn().await;
    let grant = app.connect("acme").await;
    let id = GrantId::parse(grant.clone()).unwrap();
    let sites = app.sim.control().sites();
    let cloud = confsync_core::CloudId::parse(sites[1].cloud_id.clone()).unwrap();
    let letter = DeadLetter {
        v: 1,
        id: format!("confluence:{cloud}:page:42"),
        op: "upsert".into(),
        payload: "{}".into(),
        status: 422,
        reason: "body too long".into(),
        at: chrono::Utc::now(),
    };
    DeadLetters::new(app.store())
        .put_many(&SiteKey::new(id.clone(), cloud.clone()), &[letter])
        .await
        .unwrap();

    let path = format!("/api/v1/connections/{grant}/dead-letters");
    let (status, body) = call(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let letters = body["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["cloud_id"], cloud.as_str());
    assert_eq!(
        (letters[0]["status"].as_u64(), letters[0]["reason"].as_str()),
        (Some(422), Some("body too long"))
    );
    assert!(
        letters[0].get("payload").is_none(),
        "no content in listings"
    );
    let other_site = format!("{path}?site={}", sites[0].cloud_id);
    let (status, body) = call(&app, reqwest::Method::GET, &other_site, None).await;
    assert_eq!(status, 200);
    assert!(body["dead_letters"].as_array().unwrap().is_empty());

    let queued_before = app.queue().pending().await.unwrap().len();
    let retry = format!("{path}/retry");
    let (status, body) = call(&app, reqwest::Method::POST, &retry, None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["jobs"].as_array().unwrap().len(), 2);
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        &retry,
        Some(json!({"site": cloud.as_str()})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let jobs = app.queue().pending().await.unwrap();
    assert_eq!(jobs.len(), queued_before + 3);
    assert_eq!(
        jobs.iter()
            .filter(|j| j.mode == SyncMode::Redeliver)
            .count(),
        3
    );
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        &retry,
        Some(json!({"site": "elsewhere"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_site"))
    );
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        &retry,
        Some(json!({"sites": []})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_disconnect_with_purge_queues_a_purge_per_site() {
    let app = TestApp::spawn().await;
    let grant = app.connect("acme").await;
    let queued_before = app.queue().pending().await.unwrap().len();
    let (status, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/connections/{grant}?purge=true"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "disconnected");
    assert_eq!(body["purge_jobs"].as_array().unwrap().len(), 2);
    let jobs = app.queue().pending().await.unwrap();
    assert_eq!(jobs.len(), queued_before + 2);
    assert_eq!(jobs.iter().filter(|j| j.mode == SyncMode::Purge).count(), 2);

    let (status, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/connections/{grant}?purge=maybe"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    app.stop().await;
}

/// Runs the `confsync` CLI against the test's receiver.
async fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let mut command = std::process::Command::new(confsync_tests::binary("confsync"));
    command
        .args(args)
        .env_clear()
        .env("CONFSYNC_URL", app.receiver.url(""))
        .env("API_TOKEN", API_TOKEN);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_lists_resyncs_and_disconnects() {
    let app = TestApp::spawn().await;
    let grant = app.connect("acme").await;

    let (ok, out, err) = cli(&app, &["connections", "--tenant", "acme"]).await;
    assert!(ok, "{err}");
    assert!(out.contains(&grant) && out.contains("active"), "{out}");

    let (ok, out, err) = cli(&app, &["resync", &grant, "--mode", "full"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.matches("queued full sync").count(), 2, "{out}");

    let (ok, _, err) = cli(&app, &["show", "g-missing"]).await;
    assert!(!ok);
    assert!(err.contains("unknown_grant"), "{err}");

    let (ok, out, err) = cli(&app, &["dead-letters", &grant]).await;
    assert!(ok, "{err}");
    assert!(out.contains("0 dead letter(s)"), "{out}");
    let (ok, out, err) = cli(&app, &["retry", &grant]).await;
    assert!(ok, "{err}");
    assert_eq!(out.matches("queued redelivery").count(), 2, "{out}");

    let (ok, out, err) = cli(&app, &["disconnect", &grant, "--purge"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("disconnected"), "{out}");
    assert_eq!(out.matches("queued purge").count(), 2, "{out}");
    let (ok, _, err) = cli(&app, &["resync", &grant]).await;
    assert!(!ok && err.contains("grant_not_active"), "{err}");
    app.stop().await;
}
