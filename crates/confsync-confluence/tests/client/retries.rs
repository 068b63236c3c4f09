//! Retries: 5xx, cut JSON and timeouts are retried with backoff (on the sim
//! clock), a bounded number of times; other 4xx are not retried at all.

use std::time::Duration;

use confsync_confluence::{ConfluenceError, ListQuery, Sort, SortField};
use confsync_core::error::{Classify as _, ErrorClass};
use confsync_sim::{FaultKind, FaultRule};

use crate::support::{Rig, sim_config};

#[tokio::test]
async fn two_503s_then_success() {
    let rig = Rig::new(sim_config()).await;
    rig.sim.add_fault(
        FaultRule::new(FaultKind::Status { status: 503 })
            .path("*/api/v2/spaces")
            .times(2),
    );
    let before = rig.sim.now();

    let page = rig
        .site
        .spaces(ListQuery::default())
        .next_page()
        .await
        .unwrap();

    assert!(!page.unwrap().results.is_empty());
    assert_eq!(rig.statuses("/api/v2/spaces"), [503, 503, 200]);
    assert_eq!(
        rig.sim.now() - before,
        chrono::Duration::milliseconds(300),
        "backoff 100 ms then 200 ms, on the sim clock"
    );
    assert_eq!(
        rig.metrics
            .requests
            .with_label_values(&["spaces", "503"])
            .get(),
        2
    );
}

#[tokio::test]
async fn truncated_json_once_then_success() {
    let rig = Rig::new(sim_config()).await;
    rig.sim.add_fault(
        FaultRule::new(FaultKind::TruncatedJson)
            .path("*/api/v2/pages")
            .times(1),
    );
    let mut listing = rig.site.pages(ListQuery::default());
    let page = listing.next_page().await.unwrap().unwrap();
    assert!(!page.results.is_empty());
    assert_eq!(rig.statuses("/api/v2/pages"), [200, 200]);
}

#[tokio::test]
async fn json_that_stays_cut_becomes_a_permanent_protocol_error() {
    let rig = Rig::new(sim_config()).await;
    rig.sim
        .add_fault(FaultRule::new(FaultKind::TruncatedJson).path("*/api/v2/pages"));
    let error = rig
        .site
        .pages(ListQuery::default())
        .next_page()
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConfluenceError::Protocol { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(rig.api_requests().len(), 5, "one attempt and four retries");
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let rig = Rig::with(sim_config(), crate::support::ALL_SCOPES, |config| {
        config.request_timeout = Duration::from_secs(1);
    })
    .await;
    rig.sim.add_fault(
        FaultRule::new(FaultKind::Timeout { secs: Some(30) })
            .path("*/api/v2/spaces")
            .times(1),
    );
    let page = rig
        .site
        .spaces(ListQuery::default())
        .next_page()
        .await
        .unwrap();
    assert!(page.is_some());
    assert_eq!(
        rig.metrics
            .requests
            .with_label_values(&["spaces", "timeout"])
            .get(),
        1
    );
    assert_eq!(
        rig.metrics
            .requests
            .with_label_values(&["spaces", "200"])
            .get(),
        1
    );
}

#[tokio::test]
async fn persistent_5xx_ends_as_a_transient_error() {
    let rig = Rig::new(sim_config()).await;
    rig.sim
        .add_fault(FaultRule::new(FaultKind::Status { status: 502 }).path("*/api/v2/spaces"));
    let error = rig
        .site
        .spaces(ListQuery::default())
        .next_page()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConfluenceError::Unavailable {
                status: Some(502),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.class().is_transient());
    assert_eq!(rig.api_requests().len(), 5);
}

#[tokio::test]
async fn other_4xx_are_not_retried() {
    let rig = Rig::new(sim_config()).await;
    // Blog posts have no `title` sort: Atlassian answers 400.
    let error = rig
        .site
        .blog_posts(ListQuery::default().sort(Sort::asc(SortField::Title)))
        .next_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConfluenceError::Rejected { status: 400, detail, .. } if detail.contains("sort")),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(rig.api_requests().len(), 1);
    assert_eq!(rig.budget.actual_total(), 1);
}
