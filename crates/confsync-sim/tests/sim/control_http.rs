//! The control API over HTTP drives the same operations as the Rust API.

use confsync_sim::ContentType;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{self, client, get, post_json, wiki};

#[tokio::test]
async fn clock_mutations_faults_quota_and_auth_over_http() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (http, token) = (client(), support::token(&sim));
    let control = format!("{}/_sim", sim.api_url());

    let clock = post_json(
        &http,
        &format!("{control}/clock/advance"),
        &json!({"secs": 90}),
    )
    .await;
    assert_eq!(clock.json()["now"], "2026-01-01T10:31:30Z");

    let page = sim.contents(&cloud, ContentType::Page, &[]).unwrap()[9]
        .id
        .clone();
    let edited = post_json(
        &http,
        &format!("{control}/sites/{cloud}/content/{page}/edit"),
        &json!({"body": "<p>via http</p>", "minor_edit": true}),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let body = get(
        &http,
        &format!("{control}/sites/{cloud}/content/{page}/body"),
        None,
    )
    .await;
    assert_eq!(body.json()["storage"], "<p>via http</p>");
    let created = post_json(
        &http,
        &format!("{control}/sites/{cloud}/pages"),
        &json!({"title": "Made over HTTP"}),
    )
    .await;
    let created_id = created.json()["id"].as_str().unwrap().to_owned();
    let comment = post_json(
        &http,
        &format!("{control}/sites/{cloud}/comments"),
        &json!({"kind": "inline", "container_id": created_id, "selection": "words"}),
    )
    .await;
    assert_eq!(comment.status, StatusCode::OK, "{}", comment.text);
    let trash = post_json(
        &http,
        &format!("{control}/sites/{cloud}/content/{created_id}/trash"),
        &json!({}),
    )
    .await;
    assert_eq!(trash.json()["status"], "trashed");

    let fault = post_json(
        &http,
        &format!("{control}/faults"),
        &json!({"path": "*/api/v2/spaces", "fault": {"type": "status", "status": 500}, "times": 1}),
    )
    .await;
    assert_eq!(fault.status, StatusCode::OK, "{}", fault.text);
    let spaces = format!("{}/api/v2/spaces", wiki(&sim, &cloud));
    assert_eq!(
        get(&http, &spaces, Some(&token)).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(&http, &spaces, Some(&token)).await.status,
        StatusCode::OK
    );
    let listed = get(&http, &format!("{control}/faults"), None).await.json();
    assert_eq!(listed[0]["fired"], 1);
    let cleared = http
        .delete(format!("{control}/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);

    let quota = post_json(&http, &format!("{control}/quota"), &json!({"remaining": 0})).await;
    assert_eq!(quota.json()["remaining"], 0);
    assert_eq!(
        get(&http, &spaces, Some(&token)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    post_json(
        &http,
        &format!("{control}/quota"),
        &json!({"remaining": 1000}),
    )
    .await;

    let expired = post_json(
        &http,
        &format!("{control}/auth/expire-access-tokens"),
        &json!({"token": token}),
    )
    .await;
    assert_eq!(expired.json()["expired"], 1);
    assert_eq!(
        get(&http, &spaces, Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    let minted = post_json(
        &http,
        &format!("{control}/auth/mint"),
        &json!({"scopes": ["read:space:confluence"]}),
    )
    .await;
    let fresh = minted.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&http, &spaces, Some(&fresh)).await.status,
        StatusCode::OK
    );
    let revoked = post_json(&http, &format!("{control}/auth/revoke"), &json!({})).await;
    assert_eq!(revoked.json()["revoked"], 2);
    assert_eq!(
        get(&http, &spaces, Some(&fresh)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let requests = get(&http, &format!("{control}/requests?after=0"), None)
        .await
        .json();
    assert!(requests.as_array().unwrap().len() >= 6);
    let stats = get(&http, &format!("{control}/stats"), None).await.json();
    assert_eq!(stats["rate_limited"], 1);
    let state = get(&http, &format!("{control}/state"), None).await.json();
    assert_eq!(state["sites"][0]["site"]["cloud_id"], cloud.as_str());
    sim.shutdown().await;
}

#[tokio::test]
async fn control_errors_are_clear_4xx() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let http = client();
    let control = format!("{}/_sim", sim.api_url());
    let cases = [
        (
            format!("{control}/sites/nope/pages"),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{control}/sites/{cloud}/content/12/trash"),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{control}/sites/{cloud}/content/abc/trash"),
            json!({}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{control}/sites/{cloud}/pages"),
            json!({"titel": "typo"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{control}/faults"),
            json!({"fault": {"type": "explode"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{control}/clock/advance"),
            json!({"secs": -5}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{control}/auth/unknown"),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (url, body, status) in cases {
        let reply = post_json(&http, &url, &body).await;
        assert_eq!(reply.status, status, "{url}: {}", reply.text);
        assert!(reply.json()["error"].is_string(), "{url}");
    }
    let raw = http
        .post(format!("{control}/sites/{cloud}/pages"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}
