//! Points: every request reserves an upper bound and settles exactly what
//! the gateway charged, with the rate-limit headers it sent.

use confsync_confluence::{BodyFormat, Limit, ListQuery, Listing, Priority};
use confsync_core::{AccountId, ContentId};
use serde::de::DeserializeOwned;

use crate::support::{Rig, sim_config};

async fn drain<T: DeserializeOwned + Send + 'static>(mut listing: Listing<T>) -> Vec<T> {
    let mut items = Vec::new();
    while let Some(page) = listing.next_page().await.unwrap() {
        items.extend(page.results);
    }
    items
}

#[tokio::test]
async fn settled_points_add_up_to_what_the_gateway_charged_for_a_crawl() {
    let rig = Rig::new(sim_config().pages(700)).await;
    let site = rig.site.with_priority(Priority::Full);
    let bodies = ListQuery::default().body_format(BodyFormat::Storage);

    drain(site.spaces(ListQuery::default())).await;
    let pages = drain(site.pages(bodies.clone())).await;
    drain(site.blog_posts(bodies.clone())).await;
    drain(site.footer_comments(bodies.clone())).await;
    drain(site.inline_comments(ListQuery::new(Limit::new(100).unwrap()))).await;
    for page in pages.iter().take(5) {
        let id = ContentId::parse(page.id.clone()).unwrap();
        drain(site.page_labels(&id, ListQuery::default()).unwrap()).await;
    }
    let authors: Vec<AccountId> = pages
        .iter()
        .filter_map(|p| p.author_id.clone())
        .map(|a| AccountId::parse(a).unwrap())
        .collect();
    site.users(&authors).await.unwrap();
    site.current_user().await.unwrap();

    let stats = rig.sim.stats();
    let settled = rig.budget.settled();
    assert_eq!(
        settled.len() as u64,
        stats.api_requests,
        "one settle per request"
    );
    assert_eq!(rig.budget.actual_total(), stats.points_spent);
    assert_eq!(rig.metrics.points_spent.get(), stats.points_spent);
    for s in &settled {
        assert!(
            s.actual <= s.reserved,
            "{} above the worst case {}",
            s.actual,
            s.reserved
        );
        assert_eq!(s.priority, Priority::Full);
        assert_eq!(s.headers.status, 200);
        assert_eq!(s.headers.limit, Some(65_000));
        assert!(s.headers.remaining.is_some() && s.headers.reset.is_some());
        assert_eq!(s.headers.policy[0].name, "global-app-quota");
    }
    let last = settled.last().unwrap();
    assert_eq!(last.headers.remaining, Some(65_000 - stats.points_spent));
    assert_eq!(last.actual, 3, "a user lookup costs 1 + 2");
}

#[tokio::test]
async fn the_production_wiring_works_unmetered_on_real_time() {
    // Real time on both sides: the simulator's clock runs from the wall clock.
    let sim = crate::support::start(confsync_sim::SimConfig::default().seed(42).pages(120)).await;
    let metrics =
        confsync_confluence::metrics::ApiMetrics::register(&prometheus::Registry::new()).unwrap();
    let confluence = confsync_confluence::Confluence::new(
        crate::support::client_config(&sim),
        metrics.clone(),
        std::sync::Arc::new(confsync_confluence::TokioClock),
        std::sync::Arc::new(confsync_confluence::Unmetered),
    )
    .unwrap();
    let tokens = crate::support::SimTokens::mint(&sim, crate::support::ALL_SCOPES);
    let site = confluence
        .site(crate::support::cloud(&sim), tokens.clone())
        .unwrap();
    let spaces = drain(site.spaces(ListQuery::default())).await;
    assert!(!spaces.is_empty());
    assert_eq!(tokens.refreshes(), 0, "a fresh token is used as is");
    assert_eq!(metrics.points_spent.get(), sim.stats().points_spent);
}
