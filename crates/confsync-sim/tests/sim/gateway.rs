//! Gateway semantics: bearer tokens, the expired-token quirk (404 on v2, 403
//! on v1), scope checks, site coverage, single-item lookups, the v1 user
//! endpoints and accessible-resources.

use confsync_sim::{ContentType, GrantSelector, SimConfig, Status};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{self, client, get, wiki};

#[tokio::test]
async fn missing_or_unknown_tokens_get_401() {
    let sim = support::start(support::config()).await;
    let url = format!("{}/api/v2/pages", wiki(&sim, &support::cloud(&sim)));
    let http = client();
    for token in [None, Some("not-a-token")] {
        let reply = get(&http, &url, token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.json(),
            json!({"code": 401, "message": "Unauthorized"})
        );
    }
    let basic = http
        .get(&url)
        .basic_auth("me@example.com", Some("api-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // Refused requests are not metered.
    assert_eq!(sim.stats().points_spent, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_access_tokens_get_404_on_v2_and_403_on_v1() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let v2 = format!("{}/api/v2/pages", wiki(&sim, &cloud));
    let v1 = format!("{}/rest/api/user/current", wiki(&sim, &cloud));
    assert_eq!(get(&http, &v2, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(get(&http, &v1, Some(&token)).await.status, StatusCode::OK);

    sim.advance_clock(std::time::Duration::from_secs(3600));
    let reply = get(&http, &v2, Some(&token)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["errors"][0]["status"], 404);
    let reply = get(&http, &v1, Some(&token)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["statusCode"], 403);
    let resources = format!("{}/oauth/token/accessible-resources", sim.api_url());
    assert_eq!(
        get(&http, &resources, Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The control call does the same without moving the clock.
    let other = support::token(&sim);
    assert_eq!(
        sim.expire_access_tokens(&GrantSelector::Token(other.clone())),
        1
    );
    assert_eq!(
        get(&http, &v2, Some(&other)).await.status,
        StatusCode::NOT_FOUND
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_scope_is_a_401_with_the_failure_category() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let http = client();
    let token = sim
        .mint_tokens(None, &["read:page:confluence", "offline_access"])
        .access_token;
    for path in [
        "/api/v2/footer-comments",
        "/api/v2/inline-comments",
        "/api/v2/spaces",
        "/rest/api/user/current",
    ] {
        let reply = get(
            &http,
            &format!("{}{path}", wiki(&sim, &cloud)),
            Some(&token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            reply.json(),
            json!({"code": 401, "message": "Unauthorized; scope does not match"})
        );
        assert_eq!(
            reply.header("x-failure-category").as_deref(),
            Some("FAILURE_CLIENT_SCOPE_CHECK")
        );
    }
    let pages = get(
        &http,
        &format!("{}/api/v2/pages", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(pages.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn sites_outside_the_grant_get_401_and_unknown_sites_404() {
    let sim = support::start(
        SimConfig {
            sites: 2,
            ..support::config()
        }
        .grant_first_sites(1),
    )
    .await;
    let http = client();
    let token = support::token(&sim);
    let second = sim.sites()[1].cloud_id.clone();
    let reply = get(
        &http,
        &format!("{}/api/v2/pages", wiki(&sim, &second)),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = get(
        &http,
        &format!("{}/api/v2/pages", wiki(&sim, "no-such-cloud")),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // A path without /wiki is not a Confluence path.
    let reply = get(
        &http,
        &format!("{}/ex/confluence/{second}/api/v2/pages", sim.api_url()),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let doubled = format!("{}/wiki/api/v2/pages", wiki(&sim, &support::cloud(&sim)));
    assert_eq!(
        get(&http, &doubled, Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn single_items_are_404_when_trashed_purged_or_unknown() {
    let sim = support::start(support::config()).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let pages = sim
        .contents(&cloud, ContentType::Page, &[Status::Current])
        .unwrap();
    let (a, b) = (&pages[5].id, &pages[6].id);
    let url = |id: &str, q: &str| format!("{}/api/v2/pages/{id}{q}", wiki(&sim, &cloud));

    let reply = get(
        &http,
        &url(a, "?body-format=storage&include-labels=true"),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.json();
    assert_eq!(page["id"], a.as_str());
    assert_eq!(page["_links"]["base"], sim.sites()[0].base_url());
    assert!(page["body"]["storage"]["value"].as_str().unwrap().len() > 100);

    sim.trash(&cloud, a).unwrap();
    assert_eq!(
        get(&http, &url(a, ""), Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    let trashed = get(&http, &url(a, "?status=trashed"), Some(&token)).await;
    assert_eq!(trashed.status, StatusCode::OK);
    assert_eq!(trashed.json()["status"], "trashed");

    sim.purge(&cloud, b).unwrap();
    for q in ["", "?status=trashed", "?status=deleted"] {
        assert_eq!(
            get(&http, &url(b, q), Some(&token)).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        get(&http, &url("999999999", ""), Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&http, &url("abc", ""), Some(&token)).await.status,
        StatusCode::BAD_REQUEST
    );
    // A page id on the blog post endpoint is not found either.
    let blog = format!("{}/api/v2/blogposts/{}", wiki(&sim, &cloud), pages[7].id);
    assert_eq!(
        get(&http, &blog, Some(&token)).await.status,
        StatusCode::NOT_FOUND
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn accessible_resources_lists_the_grant_sites_plus_jira_entries() {
    let sim = support::start(SimConfig {
        sites: 3,
        ..support::config()
    })
    .await;
    let token = support::token(&sim);
    let reply = get(
        &client(),
        &format!("{}/oauth/token/accessible-resources", sim.api_url()),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let entries = reply.json();
    let entries = entries.as_array().unwrap();
    let has =
        |e: &serde_json::Value, s: &str| e["scopes"].as_array().unwrap().iter().any(|x| x == s);
    // The first entry is a Jira entry that repeats a Confluence site's id.
    assert!(has(&entries[0], "read:jira-work"));
    assert_eq!(entries[0]["id"], entries[1]["id"]);
    let confluence: Vec<_> = entries
        .iter()
        .filter(|e| has(e, "read:page:confluence"))
        .collect();
    assert_eq!(confluence.len(), 3);
    for (entry, site) in confluence.iter().zip(sim.sites()) {
        assert_eq!(entry["id"], site.cloud_id);
        assert_eq!(entry["url"], site.url);
        assert!(entry["avatarUrl"].as_str().unwrap().starts_with("https://"));
        assert!(!has(entry, "offline_access"));
    }
    assert!(entries.iter().any(|e| has(e, "read:jira-work") && !sim.sites().iter().any(|s| s.cloud_id == e["id"])));
    sim.shutdown().await;
}

#[tokio::test]
async fn v1_users_single_bulk_and_current() {
    let sim = support::start(support::config().users(300)).await;
    let cloud = support::cloud(&sim);
    let (token, http) = (support::token(&sim), client());
    let base = wiki(&sim, &cloud);
    // Authors of generated pages include users the API does not know.
    let page_list = get(
        &http,
        &format!("{base}/api/v2/pages?limit=250"),
        Some(&token),
    )
    .await
    .json();
    let mut ids: Vec<String> = page_list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["authorId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    let mut known = 0;
    for id in &ids {
        let reply = get(
            &http,
            &format!("{base}/rest/api/user?accountId={id}"),
            Some(&token),
        )
        .await;
        match reply.status {
            StatusCode::OK => {
                known += 1;
                assert_eq!(reply.json()["accountId"], id.as_str());
            }
            StatusCode::NOT_FOUND => assert_eq!(reply.json()["statusCode"], 404),
            other => panic!("{other}"),
        }
    }
    assert!(known > 0 && known < ids.len(), "{known} of {}", ids.len());

    let before = sim.stats().points_spent;
    let query: String = ids.iter().map(|id| format!("accountId={id}&")).collect();
    let reply = get(
        &http,
        &format!("{base}/rest/api/user/bulk?{query}"),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let bulk = reply.json();
    assert_eq!(bulk["size"], known);
    assert_eq!(bulk["results"].as_array().unwrap().len(), known);
    // 1 point per request + 2 per user object.
    assert_eq!(sim.stats().points_spent - before, 1 + 2 * known as u64);

    let too_many: String = (0..201).map(|i| format!("accountId=acc{i}&")).collect();
    let reply = get(
        &http,
        &format!("{base}/rest/api/user/bulk?{too_many}"),
        Some(&token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let missing = get(&http, &format!("{base}/rest/api/user"), Some(&token)).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    let me = get(
        &http,
        &format!("{base}/rest/api/user/current"),
        Some(&token),
    )
    .await
    .json();
    assert_eq!(me["type"], "known");
    assert!(me["displayName"].is_string());
    sim.shutdown().await;
}
