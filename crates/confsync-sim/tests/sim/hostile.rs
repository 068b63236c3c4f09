//! Hostile and odd input never crashes a listener: every answer is a clear
//! 4xx (or a normal 200), never a 5xx.

use reqwest::StatusCode;

use crate::support::{self, client, get, wiki};

#[tokio::test]
async fn odd_queries_and_paths_get_4xx_not_5xx() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let base = wiki(&sim, &cloud);
    let paths = [
        "/api/v2/pages?limit=%FF%FE",
        "/api/v2/pages?cursor=%00%01",
        "/api/v2/pages?cursor=eyJpZCI6IngifQ%3D%3D",
        "/api/v2/pages?sort=",
        "/api/v2/pages?sort=-",
        "/api/v2/pages?status=",
        "/api/v2/pages?status=current,,nope",
        "/api/v2/pages?body-format=html",
        "/api/v2/pages?space-id=x",
        "/api/v2/pages?id=1&id=2&id=abc",
        "/api/v2/spaces/99999999999999999999999/pages",
        "/api/v2/spaces/1/pages?depth=deep",
        "/api/v2/pages/18446744073709551616",
        "/api/v2/pages/-1",
        "/api/v2/pages/1/labels?prefix=weird",
        "/api/v2/pages/1/inline-comments?resolution-status=maybe",
        "/api/v2/footer-comments?sort=title",
        "/api/v2/blogposts?sort=title",
        "/api/v2/blogposts?status=archived",
        "/api/v2/inline-comments/1/children?limit=9999999999999999999999",
        "/api/v2/nothing/here",
        "/api/v2",
        "/rest/api/user?accountId=",
        "/rest/api/user/bulk?limit=0&accountId=a",
        "/rest/api/content",
        "/api/v2/pages/1?include-labels=maybe",
        "/api/v2/pages/1?version=x",
    ];
    for path in paths {
        let reply = get(&http, &format!("{base}{path}"), Some(&token)).await;
        assert!(
            reply.status.is_client_error(),
            "{path}: {} {}",
            reply.status,
            reply.text
        );
        assert!(reply.text.starts_with('{'), "{path}: {}", reply.text);
    }
    let long = format!("{base}/api/v2/pages?title={}", "a".repeat(20_000));
    let reply = get(&http, &long, Some(&token)).await;
    assert!(!reply.status.is_server_error());
    for header in [
        "Bearer",
        "Bearer ",
        "bearer\ttoken",
        "Basic Zm9vOmJhcg==",
        "Bearer a b c",
    ] {
        let status = http
            .get(format!("{base}/api/v2/pages"))
            .header("authorization", header)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
    }
    let post = http
        .post(format!("{base}/api/v2/pages"))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let weird_authorize = get(
        &http,
        &format!("{}/authorize?%%%&&==&scope", sim.auth_url()),
        None,
    )
    .await;
    assert_eq!(weird_authorize.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}
