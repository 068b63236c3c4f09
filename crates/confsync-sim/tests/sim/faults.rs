//! Injected faults: error statuses N times or every k-th request, 429 with
//! and without `Retry-After`, truncated JSON, 504 on large pages, hanging
//! responses, latency, and faults on the token endpoint.

use std::time::Duration;

use confsync_sim::{FaultKind, FaultRule, LimitReason, Listener};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{self, client, get, wiki};

#[tokio::test]
async fn status_faults_fire_n_times_then_stop() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    sim.add_fault(
        FaultRule::new(FaultKind::Status { status: 503 })
            .path("*/api/v2/pages")
            .times(2),
    );
    let pages = format!("{}/api/v2/pages", wiki(&sim, &cloud));
    let spaces = format!("{}/api/v2/spaces", wiki(&sim, &cloud));
    assert_eq!(
        get(&http, &spaces, Some(&token)).await.status,
        StatusCode::OK,
        "other paths untouched"
    );
    let statuses = [
        get(&http, &pages, Some(&token)).await.status,
        get(&http, &pages, Some(&token)).await.status,
        get(&http, &pages, Some(&token)).await.status,
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK
        ]
    );
    let faults = sim.faults();
    assert_eq!((faults[0].matched, faults[0].fired), (3, 2));
    assert_eq!(sim.stats().faults_fired, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_kth_request_fails() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    sim.add_fault(FaultRule::new(FaultKind::Status { status: 502 }).every(3));
    let url = format!("{}/api/v2/spaces", wiki(&sim, &cloud));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&http, &url, Some(&token)).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 502, 200, 200, 502]);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_faults_with_and_without_retry_after() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let url = format!("{}/api/v2/spaces", wiki(&sim, &cloud));
    let id = sim.add_fault(
        FaultRule::new(FaultKind::RateLimited {
            retry_after_secs: None,
            reason: LimitReason::Global,
        })
        .times(1),
    );
    let bare = get(&http, &url, Some(&token)).await;
    assert_eq!(bare.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(bare.header("retry-after").is_none());
    assert!(sim.remove_fault(id));

    sim.add_fault(
        FaultRule::new(FaultKind::RateLimited {
            retry_after_secs: Some(30),
            reason: LimitReason::Tenant,
        })
        .times(1),
    );
    let told = get(&http, &url, Some(&token)).await;
    assert_eq!(told.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(told.header("retry-after").as_deref(), Some("30"));
    assert_eq!(
        told.header("ratelimit-reason").as_deref(),
        Some("confluence-quota-tenant-based")
    );
    // Retrying before 30 s of sim clock is flagged; after, it is not.
    sim.advance_clock(Duration::from_secs(29));
    assert_eq!(get(&http, &url, Some(&token)).await.status, StatusCode::OK);
    assert!(sim.requests(0).last().unwrap().flagged);
    sim.advance_clock(Duration::from_secs(1));
    get(&http, &url, Some(&token)).await;
    assert!(!sim.requests(0).last().unwrap().flagged);
    sim.shutdown().await;
}

#[tokio::test]
async fn truncated_json_is_a_200_with_half_a_body() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let url = format!("{}/api/v2/pages?limit=5", wiki(&sim, &cloud));
    let whole = get(&http, &url, Some(&token)).await.text;
    sim.add_fault(FaultRule::new(FaultKind::TruncatedJson).times(1));
    let cut = get(&http, &url, Some(&token)).await;
    assert_eq!(cut.status, StatusCode::OK);
    assert_eq!(cut.text.len(), whole.len() / 2);
    assert!(serde_json::from_str::<serde_json::Value>(&cut.text).is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn large_limits_can_time_out_at_the_gateway() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    sim.add_fault(FaultRule::new(FaultKind::GatewayTimeoutOverLimit {
        limit_above: 100,
    }));
    let big = get(
        &http,
        &format!("{}/api/v2/pages?limit=250", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(big.status, StatusCode::GATEWAY_TIMEOUT);
    let small = get(
        &http,
        &format!("{}/api/v2/pages?limit=100", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(small.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn hanging_responses_and_latency_outlast_client_timeouts_and_end_at_shutdown() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let token = support::token(&sim);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    sim.add_fault(
        FaultRule::new(FaultKind::Timeout { secs: None })
            .path("*/pages")
            .times(1),
    );
    sim.add_fault(
        FaultRule::new(FaultKind::Latency { ms: 60_000 })
            .path("*/spaces")
            .times(1),
    );
    for path in ["pages", "spaces"] {
        let error = impatient
            .get(format!("{}/api/v2/{path}", wiki(&sim, &cloud)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{path}: {error}");
    }
    // Each rule fired once; the next requests are served.
    let reply = get(
        &client(),
        &format!("{}/api/v2/pages", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Shutdown ends the hanging handlers instead of waiting 60 s.
    sim.shutdown().await;
}

#[tokio::test]
async fn the_token_endpoint_can_fail_too() {
    let sim = support::start(support::config()).await;
    let rt = sim
        .mint_tokens(None, support::ALL_SCOPES)
        .refresh_token
        .unwrap();
    sim.add_fault(
        FaultRule::new(FaultKind::Status { status: 500 })
            .listener(Listener::Auth)
            .path("/oauth/token")
            .times(1),
    );
    let body = json!({
        "grant_type": "refresh_token",
        "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "refresh_token": rt,
    });
    let url = format!("{}/oauth/token", sim.auth_url());
    let first = support::post_json(&client(), &url, &body).await;
    assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR);
    // The failed attempt did not rotate the token: the retry succeeds.
    let second = support::post_json(&client(), &url, &body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    sim.shutdown().await;
}
