//! Resumable paging: next links followed verbatim, checkpoints that resume in
//! a new listing, stored URLs checked before any token is sent, and the 504
//! fallback that only ever starts a new chain.

use std::collections::HashSet;

use confsync_confluence::{ConfluenceError, Limit, ListQuery};
use confsync_core::content::Page;
use confsync_sim::{ContentType, FaultKind, FaultRule, Status};

use crate::support::{Rig, sim_config};

#[tokio::test]
async fn ten_thousand_pages_are_seen_once_and_a_checkpoint_resumes_them() {
    let rig = Rig::new(sim_config().pages(10_000)).await;
    let expected: HashSet<String> = rig
        .sim
        .contents(
            rig.cloud().as_str(),
            ContentType::Page,
            &[Status::Current, Status::Archived],
        )
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(
        expected.len() > 9_000,
        "the site has {} live pages",
        expected.len()
    );

    // Read three pages, checkpoint, and drop the listing (a killed worker).
    let mut seen: Vec<String> = Vec::new();
    let mut listing = rig.site.pages(ListQuery::new(Limit::MAX));
    for _ in 0..3 {
        let page = listing
            .next_page()
            .await
            .unwrap()
            .expect("more pages follow");
        assert_eq!(page.results.len(), 250);
        seen.extend(page.results.into_iter().map(|p| p.id));
    }
    let checkpoint = listing
        .next_url()
        .expect("a next url to checkpoint")
        .to_string();
    drop(listing);

    // A new listing, from the stored URL alone, reads the rest.
    let mut resumed = rig.site.resume::<Page>(&checkpoint).unwrap();
    while let Some(page) = resumed.next_page().await.unwrap() {
        seen.extend(page.results.into_iter().map(|p| p.id));
    }
    assert!(resumed.is_done());
    assert_eq!(resumed.next_url(), None);

    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no page may be seen twice");
    assert_eq!(unique, expected, "every live page exactly once");

    let requests = rig.api_requests();
    assert_eq!(requests.len(), expected.len().div_ceil(250));
    for request in &requests {
        assert_eq!(request.status, 200, "{}", request.path);
        assert!(!request.path.contains("/wiki/wiki"), "{}", request.path);
        assert!(request.path.contains("limit=250"), "{}", request.path);
    }
}

#[tokio::test]
async fn next_links_are_followed_verbatim() {
    let rig = Rig::new(sim_config()).await;
    let mut listing = rig.site.pages(ListQuery::new(Limit::new(7).unwrap()).sort(
        confsync_confluence::Sort::desc(confsync_confluence::SortField::ModifiedDate),
    ));
    let mut links = Vec::new();
    for _ in 0..4 {
        let page = listing.next_page().await.unwrap().unwrap();
        links.push(page.links.next.expect("a next link"));
    }
    let prefix = format!("/ex/confluence/{}", rig.cloud());
    let paths: Vec<String> = rig.api_requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 4);
    for (link, path) in links.iter().zip(paths.iter().skip(1)) {
        assert!(link.starts_with("/wiki/"), "{link}");
        assert_eq!(
            path,
            &format!("{prefix}{link}"),
            "the link is followed as given"
        );
    }
}

#[tokio::test]
async fn stored_urls_outside_the_site_are_refused_without_a_request() {
    let rig = Rig::new(sim_config().sites(2)).await;
    let other_site = &rig.sim.sites()[1].cloud_id;
    let api = rig.sim.api_url();
    let cloud = rig.cloud();
    let refused = [
        format!("http://evil.example/ex/confluence/{cloud}/wiki/api/v2/pages?cursor=x&limit=250"),
        format!("{api}/ex/confluence/{other_site}/wiki/api/v2/pages?cursor=x&limit=250"),
        "https://site.atlassian.net/wiki/api/v2/pages?cursor=x".to_owned(),
    ];
    for url in &refused {
        let error = rig.site.resume::<Page>(url).unwrap_err();
        assert!(
            matches!(error, ConfluenceError::ForeignUrl),
            "{url} gave {error:?}"
        );
    }
    let invalid = [
        format!("{api}/ex/confluence/{cloud}/wiki/wiki/api/v2/pages?cursor=x"),
        format!("{api}/ex/confluence/{cloud}/wiki/rest/api/user/current"),
        "/api/v2/pages?cursor=x".to_owned(),
    ];
    for url in &invalid {
        let error = rig.site.resume::<Page>(url).unwrap_err();
        assert!(
            matches!(error, ConfluenceError::InvalidLink(_)),
            "{url} gave {error:?}"
        );
    }
    assert!(rig.api_requests().is_empty(), "no token left the process");
    assert_eq!(rig.budget.reservations(), 0);
}

#[tokio::test]
async fn a_504_on_the_first_page_starts_a_new_chain_with_a_smaller_limit() {
    let rig = Rig::new(sim_config().pages(300)).await;
    rig.sim.add_fault(
        FaultRule::new(FaultKind::GatewayTimeoutOverLimit { limit_above: 100 })
            .path("*/api/v2/pages"),
    );
    let mut listing = rig.site.pages(ListQuery::new(Limit::MAX));
    let mut seen = HashSet::new();
    while let Some(page) = listing.next_page().await.unwrap() {
        for item in page.results {
            assert!(seen.insert(item.id), "seen twice");
        }
    }
    let live = rig
        .sim
        .contents(
            rig.cloud().as_str(),
            ContentType::Page,
            &[Status::Current, Status::Archived],
        )
        .unwrap();
    assert_eq!(seen.len(), live.len());
    let requests = rig.api_requests();
    let (timeouts, served): (Vec<_>, Vec<_>) = requests.iter().partition(|r| r.status == 504);
    assert_eq!(timeouts.len(), 5, "the first request and its 4 retries");
    assert!(timeouts.iter().all(|r| r.path.contains("limit=250")));
    assert!(!served.is_empty());
    for request in served {
        assert_eq!(request.status, 200);
        assert!(request.path.contains("limit=50"), "{}", request.path);
    }
}

#[tokio::test]
async fn a_504_mid_chain_never_changes_the_limit() {
    let rig = Rig::new(sim_config().pages(600)).await;
    let mut listing = rig.site.pages(ListQuery::new(Limit::MAX));
    listing.next_page().await.unwrap().unwrap();
    let checkpoint = listing.next_url().unwrap().to_string();
    rig.sim.add_fault(
        FaultRule::new(FaultKind::GatewayTimeoutOverLimit { limit_above: 100 })
            .path("*/api/v2/pages"),
    );

    let error = listing.next_page().await.unwrap_err();
    assert!(
        matches!(
            error,
            ConfluenceError::Unavailable {
                status: Some(504),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        listing.next_url().map(ToString::to_string),
        Some(checkpoint.clone()),
        "a failed page does not move the listing"
    );
    let mut resumed = rig.site.resume::<Page>(&checkpoint).unwrap();
    assert!(resumed.next_page().await.is_err());
    let requests = rig.api_requests();
    assert_eq!(requests.len(), 1 + 5 + 5);
    assert!(requests.iter().all(|r| r.path.contains("limit=250")));
}
