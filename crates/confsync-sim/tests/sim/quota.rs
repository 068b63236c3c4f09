//! Points metering: the cost of each request, the rate-limit headers, 429s
//! with `Retry-After`, window resets on the sim clock, tenant quotas, and the
//! detection of requests sent while a `Retry-After` was running.

use std::time::Duration;

use confsync_sim::{QuotaUpdate, SimConfig};
use reqwest::StatusCode;

use crate::support::{self, client, get, ids, wiki};

#[tokio::test]
async fn each_request_costs_one_plus_its_objects_and_carries_the_headers() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let reply = get(
        &http,
        &format!("{}/api/v2/pages?limit=40", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(ids(&reply.json()).len(), 40);
    assert_eq!(reply.header("x-ratelimit-limit").as_deref(), Some("65000"));
    assert_eq!(
        reply.header("x-ratelimit-remaining").as_deref(),
        Some("64959")
    );
    // The sim clock starts at 10:30 UTC: the window resets at 11:00.
    assert_eq!(
        reply.header("x-ratelimit-reset").as_deref(),
        Some("2026-01-01T11:00:00Z")
    );
    assert_eq!(
        reply.header("ratelimit-policy").as_deref(),
        Some("\"global-app-quota\";q=65000;w=3600")
    );
    assert_eq!(
        reply.header("ratelimit").as_deref(),
        Some("\"global-app-quota\";r=64959;t=1800")
    );
    assert!(reply.header("x-ratelimit-nearlimit").is_none());

    // A 404 costs the request point only.
    let missing = get(
        &http,
        &format!("{}/api/v2/pages/1", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.header("x-ratelimit-remaining").as_deref(),
        Some("64958")
    );
    let log = sim.requests(0);
    assert_eq!(log.iter().map(|r| r.points).collect::<Vec<_>>(), [41, 1]);
    assert_eq!(log[0].cloud_id.as_deref(), Some(cloud.as_str()));
    assert_eq!(sim.stats().points_spent, 42);
    assert_eq!(sim.quota().remaining, 64_958);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_exhausted_quota_answers_429_until_the_window_resets_and_flags_early_retries() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let url = format!("{}/api/v2/spaces?limit=1", wiki(&sim, &cloud));
    sim.set_quota(&QuotaUpdate {
        remaining: Some(12_000),
        ..QuotaUpdate::default()
    });
    let near = get(&http, &url, Some(&token)).await;
    assert_eq!(
        near.header("x-ratelimit-nearlimit").as_deref(),
        Some("true")
    );

    sim.set_quota(&QuotaUpdate {
        remaining: Some(2),
        ..QuotaUpdate::default()
    });
    let ok = get(&http, &url, Some(&token)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("x-ratelimit-remaining").as_deref(), Some("0"));

    let limited = get(&http, &url, Some(&token)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("retry-after").as_deref(), Some("1800"));
    assert_eq!(
        limited.header("ratelimit-reason").as_deref(),
        Some("confluence-quota-global-based")
    );
    assert_eq!(
        limited.header("x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert!(!sim.requests(0).last().unwrap().flagged);

    // Any request (any site) before the Retry-After has run out is flagged.
    sim.advance_clock(Duration::from_secs(1799));
    let early = get(&http, &url, Some(&token)).await;
    assert_eq!(early.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(sim.requests(0).last().unwrap().flagged);

    sim.advance_clock(Duration::from_secs(1));
    let reset = get(&http, &url, Some(&token)).await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(
        reset.header("x-ratelimit-remaining").as_deref(),
        Some("64998")
    );
    assert!(!sim.requests(0).last().unwrap().flagged);
    let stats = sim.stats();
    assert_eq!((stats.rate_limited, stats.flagged), (2, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn quota_window_scales_for_tests() {
    let sim = support::start(
        support::config()
            .quota_points(5)
            .quota_window(Duration::from_secs(60)),
    )
    .await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let url = format!("{}/api/v2/pages?limit=4", wiki(&sim, &cloud));
    assert_eq!(get(&http, &url, Some(&token)).await.status, StatusCode::OK);
    let limited = get(&http, &url, Some(&token)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // 10:30:00 is on a minute boundary: a full 60 s window remains.
    assert_eq!(limited.header("retry-after").as_deref(), Some("60"));
    assert_eq!(
        limited.header("ratelimit-policy").as_deref(),
        Some("\"global-app-quota\";q=5;w=60")
    );
    sim.advance_clock(Duration::from_secs(60));
    assert_eq!(get(&http, &url, Some(&token)).await.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn tenant_quotas_only_stop_their_own_site() {
    let sim = support::start(
        SimConfig {
            sites: 2,
            ..support::config()
        }
        .tenant_quota_points(3),
    )
    .await;
    let (token, http) = (support::token(&sim), client());
    let a = format!(
        "{}/api/v2/spaces?limit=2",
        wiki(&sim, &sim.sites()[0].cloud_id)
    );
    let b = format!(
        "{}/api/v2/spaces?limit=2",
        wiki(&sim, &sim.sites()[1].cloud_id)
    );
    assert_eq!(get(&http, &a, Some(&token)).await.status, StatusCode::OK);
    let limited = get(&http, &a, Some(&token)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.header("ratelimit-reason").as_deref(),
        Some("confluence-quota-tenant-based")
    );
    assert!(
        limited
            .header("ratelimit-policy")
            .unwrap()
            .contains("\"tenant-app-quota\";q=3;w=3600")
    );
    assert_eq!(get(&http, &b, Some(&token)).await.status, StatusCode::OK);
    assert!(
        !sim.requests(0).last().unwrap().flagged,
        "other sites may continue"
    );
    get(&http, &a, Some(&token)).await;
    assert!(
        sim.requests(0).last().unwrap().flagged,
        "the limited site may not"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn burst_limits_count_requests_per_second() {
    let sim = support::start(support::config().burst_requests_per_second(2)).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let url = format!("{}/api/v2/spaces?limit=1", wiki(&sim, &cloud));
    assert_eq!(get(&http, &url, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(get(&http, &url, Some(&token)).await.status, StatusCode::OK);
    let limited = get(&http, &url, Some(&token)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("retry-after").as_deref(), Some("1"));
    sim.advance_clock(Duration::from_secs(1));
    assert_eq!(get(&http, &url, Some(&token)).await.status, StatusCode::OK);
    sim.shutdown().await;
}
