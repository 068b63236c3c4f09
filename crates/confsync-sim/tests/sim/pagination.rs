//! Keyset pagination: relative `next` links in the body and the `Link`
//! header, cursors bound to their limit and filters, `limit` validation, and
//! stability under mutations.

use std::collections::HashSet;

use confsync_sim::{ContentType, Edit, NewPage, Status};
use reqwest::StatusCode;

use crate::support::{self, client, crawl, gateway_base, get, ids, wiki};

#[tokio::test]
async fn ten_thousand_pages_each_seen_exactly_once_through_relative_links() {
    let sim = support::start(
        support::config()
            .pages(10_000)
            .blogposts(10)
            .footer_comments(10)
            .inline_comments(10),
    )
    .await;
    let (cloud, token, http) = (support::cloud(&sim), support::token(&sim), client());
    let expected: HashSet<String> = sim
        .contents(
            &cloud,
            ContentType::Page,
            &[Status::Current, Status::Archived],
        )
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(expected.len() > 9_500, "{}", expected.len());

    let mut url = format!("{}/api/v2/pages?limit=250", wiki(&sim, &cloud));
    let mut seen = Vec::new();
    let mut requests = 0;
    loop {
        requests += 1;
        let reply = get(&http, &url, Some(&token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let page = reply.json();
        assert_eq!(page["_links"]["base"], sim.sites()[0].base_url());
        seen.extend(ids(&page));
        let Some(next) = page["_links"]["next"].as_str() else {
            assert!(reply.header("link").is_none());
            break;
        };
        // The link is site-relative, starts with /wiki, keeps the limit, and
        // the cursor is not its last parameter.
        assert!(next.starts_with("/wiki/api/v2/pages?"), "{next}");
        assert!(next.contains("limit=250"), "{next}");
        let last_param = next.rsplit('&').next().unwrap();
        assert!(!last_param.starts_with("cursor="), "{next}");
        let link = reply
            .header("link")
            .expect("a Link header with the next page");
        let base = sim.sites()[0].base_url();
        assert_eq!(
            link,
            format!("<{next}>; rel=\"next\", <{base}>; rel=\"base\"")
        );
        // Alternate between the body's link and the header's.
        let chosen = if requests % 2 == 0 {
            next.to_owned()
        } else {
            link[1..link.find('>').unwrap()].to_owned()
        };
        url = format!("{}{chosen}", gateway_base(&sim, &cloud));
    }
    assert_eq!(requests, expected.len().div_ceil(250));
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "an id was returned twice");
    assert_eq!(unique, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cursor_only_works_with_its_limit_sort_and_filters() {
    let sim = support::start(support::config()).await;
    let (cloud, token, http) = (support::cloud(&sim), support::token(&sim), client());
    let first = get(
        &http,
        &format!(
            "{}/api/v2/pages?limit=10&sort=-modified-date",
            wiki(&sim, &cloud)
        ),
        Some(&token),
    )
    .await
    .json();
    let next = first["_links"]["next"].as_str().unwrap();
    let follow = |path: String| {
        let url = format!("{}{path}", gateway_base(&sim, &cloud));
        let (http, token) = (http.clone(), token.clone());
        async move { get(&http, &url, Some(&token)).await }
    };
    assert_eq!(follow(next.to_owned()).await.status, StatusCode::OK);
    for changed in [
        next.replace("limit=10", "limit=11"),
        next.replace("sort=-modified-date", "sort=modified-date"),
        format!("{next}&status=trashed"),
        next.replace("/pages?", "/blogposts?"),
    ] {
        let reply = follow(changed.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{changed}");
        assert_eq!(
            reply.json()["errors"][0]["code"],
            "INVALID_REQUEST_PARAMETER"
        );
    }
    let garbage = follow("/wiki/api/v2/pages?limit=10&cursor=bm90LWEtY3Vyc29y".into()).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn limit_must_be_between_1_and_250() {
    let sim = support::start(support::config()).await;
    let (cloud, token, http) = (support::cloud(&sim), support::token(&sim), client());
    for path in [
        "pages",
        "blogposts",
        "footer-comments",
        "inline-comments",
        "spaces",
    ] {
        for bad in ["251", "0", "-3", "ten", "1e2", ""] {
            let url = format!("{}/api/v2/{path}?limit={bad}", wiki(&sim, &cloud));
            let reply = get(&http, &url, Some(&token)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} limit={bad}");
            let error = &reply.json()["errors"][0];
            assert_eq!(error["status"], 400);
            assert_eq!(error["code"], "INVALID_REQUEST_PARAMETER");
        }
        let ok = get(
            &http,
            &format!("{}/api/v2/{path}?limit=250", wiki(&sim, &cloud)),
            Some(&token),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{path}");
    }
    let default = get(
        &http,
        &format!("{}/api/v2/pages", wiki(&sim, &cloud)),
        Some(&token),
    )
    .await;
    assert_eq!(ids(&default.json()).len(), 25);
    sim.shutdown().await;
}

#[tokio::test]
async fn mutations_between_pages_neither_skip_nor_duplicate_in_id_order() {
    let sim = support::start(support::config().pages(1_000)).await;
    let (cloud, token, http) = (support::cloud(&sim), support::token(&sim), client());
    let before: Vec<String> = sim
        .contents(
            &cloud,
            ContentType::Page,
            &[Status::Current, Status::Archived],
        )
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut url = format!("{}/api/v2/pages?limit=100&sort=id", wiki(&sim, &cloud));
    let mut seen: Vec<String> = Vec::new();
    let mut trashed_ahead = None;
    let mut created = None;
    for round in 0.. {
        let page = get(&http, &url, Some(&token)).await.json();
        seen.extend(ids(&page));
        if round == 2 {
            // Behind the cursor: trash a seen page; ahead: trash one, edit one;
            // and create a new page (it gets the highest id).
            let behind = seen[50].clone();
            let ahead = before[before.len() - 5].clone();
            let edited = before[before.len() - 7].clone();
            sim.trash(&cloud, &behind).unwrap();
            sim.trash(&cloud, &ahead).unwrap();
            sim.edit(&cloud, &edited, Edit::default()).unwrap();
            created = Some(sim.create_page(&cloud, NewPage::default()).unwrap().id);
            trashed_ahead = Some(ahead);
        }
        match page["_links"]["next"].as_str() {
            Some(next) => url = format!("{}{next}", gateway_base(&sim, &cloud)),
            None => break,
        }
    }
    let trashed_ahead = trashed_ahead.unwrap();
    let created = created.unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates");
    for id in before.iter().filter(|id| **id != trashed_ahead) {
        assert!(unique.contains(id), "skipped {id}");
    }
    assert!(!unique.contains(&trashed_ahead));
    assert_eq!(seen.last(), Some(&created));
    sim.shutdown().await;
}

#[tokio::test]
async fn every_list_endpoint_pages_to_the_end() {
    let sim = support::start(support::config().pages(300)).await;
    let (cloud, token) = (support::cloud(&sim), support::token(&sim));
    let counts = sim.site_counts(&cloud).unwrap();
    let comments = sim.comments(&cloud).unwrap();
    let visible = |kind| {
        // Comments of trashed content are hidden.
        let live: HashSet<String> = sim
            .contents(
                &cloud,
                ContentType::Page,
                &[Status::Current, Status::Archived],
            )
            .unwrap()
            .into_iter()
            .chain(
                sim.contents(
                    &cloud,
                    ContentType::BlogPost,
                    &[Status::Current, Status::Archived],
                )
                .unwrap(),
            )
            .map(|c| c.id)
            .collect();
        comments
            .iter()
            .filter(|c| c.kind == kind && live.contains(&c.container_id))
            .count()
    };
    let footer = crawl(
        &sim,
        &token,
        &cloud,
        "/api/v2/footer-comments?limit=7&sort=-modified-date",
    )
    .await;
    assert_eq!(footer.len(), visible(confsync_sim::CommentKind::Footer));
    let inline = crawl(&sim, &token, &cloud, "/api/v2/inline-comments?limit=9").await;
    assert_eq!(inline.len(), visible(confsync_sim::CommentKind::Inline));
    let spaces = crawl(&sim, &token, &cloud, "/api/v2/spaces?limit=1&sort=-name").await;
    assert_eq!(spaces.len(), counts.spaces);
    let blogposts = crawl(
        &sim,
        &token,
        &cloud,
        "/api/v2/blogposts?limit=3&sort=created-date",
    )
    .await;
    let current_blogs = sim
        .contents(&cloud, ContentType::BlogPost, &[Status::Current])
        .unwrap()
        .len();
    assert_eq!(blogposts.len(), current_blogs);
    let titles = crawl(&sim, &token, &cloud, "/api/v2/pages?limit=13&sort=-title").await;
    let unique: HashSet<&String> = titles.iter().collect();
    assert_eq!(unique.len(), titles.len());
    sim.shutdown().await;
}
