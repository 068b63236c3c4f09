//! 429s: the client waits out `Retry-After` on the test clock and sends
//! nothing before it ends; a wait above the cap ends the request instead.

use std::time::Duration;

use confsync_confluence::{ConfluenceError, ListQuery, RateLimitReason};
use confsync_core::CloudId;
use confsync_core::error::{Classify as _, ErrorClass};
use confsync_sim::{FaultKind, FaultRule, QuotaUpdate};

use crate::support::{Rig, SimTokens, sim_config};

#[tokio::test]
async fn an_exhausted_quota_is_waited_out_on_the_sim_clock() {
    // One-minute windows: the Retry-After (60 s) is within the 60 s cap.
    let rig = Rig::new(sim_config().quota_window(Duration::from_secs(60))).await;
    rig.sim.set_quota(&QuotaUpdate {
        remaining: Some(0),
        ..QuotaUpdate::default()
    });
    let before = rig.sim.now();

    let page = rig
        .site
        .spaces(ListQuery::default())
        .next_page()
        .await
        .unwrap();

    assert!(page.is_some());
    let stats = rig.sim.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.flagged, 0, "nothing was sent during the Retry-After");
    assert_eq!(rig.sim.now() - before, chrono::Duration::seconds(60));
    assert_eq!(rig.statuses("/wiki/"), [429, 200]);
    assert_eq!(
        rig.metrics
            .rate_limited
            .with_label_values(&["global"])
            .get(),
        1
    );
    let settled = rig.budget.settled();
    assert_eq!(settled[0].actual, 0, "a 429 costs nothing");
    assert_eq!(settled[0].headers.status, 429);
    assert_eq!(settled[0].headers.reason, Some(RateLimitReason::Global));
    assert_eq!(
        settled[0].headers.retry_after,
        Some(Duration::from_secs(60))
    );
}

#[tokio::test]
async fn a_retry_after_above_the_cap_ends_the_request_and_blocks_later_ones() {
    let rig = Rig::new(sim_config()).await;
    rig.sim.set_quota(&QuotaUpdate {
        remaining: Some(0),
        ..QuotaUpdate::default()
    });

    let error = rig
        .site
        .spaces(ListQuery::default())
        .next_page()
        .await
        .unwrap_err();

    // The hour window resets at 11:00; the sim clock is at 10:30.
    let half_hour = Duration::from_secs(1800);
    assert!(
        matches!(error, ConfluenceError::RateLimited { retry_after, reason: RateLimitReason::Global } if retry_after == half_hour),
        "{error:?}"
    );
    assert_eq!(
        error.class(),
        ErrorClass::Transient {
            retry_after: Some(half_hour)
        }
    );
    assert_eq!(rig.api_requests().len(), 1);

    // A later request of the same process is refused without being sent.
    let again = rig.site.current_user().await.unwrap_err();
    assert!(
        matches!(again, ConfluenceError::RateLimited { .. }),
        "{again:?}"
    );
    assert_eq!(rig.api_requests().len(), 1);
    assert_eq!(rig.sim.stats().flagged, 0);
}

#[tokio::test]
async fn a_tenant_limit_blocks_only_its_site() {
    let rig = Rig::new(sim_config().sites(2)).await;
    let other = CloudId::parse(rig.sim.sites()[1].cloud_id.clone()).unwrap();
    let other_site = rig
        .confluence
        .site(other, SimTokens::mint(&rig.sim, crate::support::ALL_SCOPES))
        .unwrap();
    rig.sim.add_fault(
        FaultRule::new(FaultKind::RateLimited {
            retry_after_secs: Some(600),
            reason: confsync_sim::LimitReason::Tenant,
        })
        .cloud_id(rig.cloud().as_str())
        .times(1),
    );

    let error = rig.site.current_user().await.unwrap_err();
    assert!(
        matches!(
            error,
            ConfluenceError::RateLimited {
                reason: RateLimitReason::Tenant,
                ..
            }
        ),
        "{error:?}"
    );
    other_site.current_user().await.unwrap();
    let blocked = rig.site.current_user().await.unwrap_err();
    assert!(matches!(blocked, ConfluenceError::RateLimited { .. }));
    assert_eq!(
        rig.api_requests().len(),
        2,
        "the blocked site sent nothing more"
    );
    assert_eq!(rig.sim.stats().flagged, 0);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_then_succeeds() {
    let rig = Rig::new(sim_config()).await;
    rig.sim.add_fault(
        FaultRule::new(FaultKind::RateLimited {
            retry_after_secs: None,
            reason: confsync_sim::LimitReason::Global,
        })
        .times(2),
    );
    let before = rig.sim.now();
    rig.site.current_user().await.unwrap();
    assert_eq!(rig.statuses("/wiki/"), [429, 429, 200]);
    // quick_retries: 100 ms then 200 ms.
    assert_eq!(rig.sim.now() - before, chrono::Duration::milliseconds(300));
}
