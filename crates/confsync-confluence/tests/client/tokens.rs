//! The auth hook: one forced refresh and one retry for 401s and for the
//! gateway's expired-token quirk (404 on v2, 403 on v1) near the stored
//! expiry; never a refresh for a scope failure or a real 404; never a loop.

use confsync_confluence::{ConfluenceError, ItemQuery, ListQuery};
use confsync_core::ContentId;
use confsync_core::error::{Classify as _, ErrorClass};
use confsync_sim::{ContentType, GrantSelector, Status};
use secrecy::ExposeSecret as _;

use crate::support::{ALL_SCOPES, Rig, SimTokens, sim_config};

/// The gateway expired the token a little before the expiry we stored (clock
/// skew): within the client's 60 s margin.
fn expire_just_before_stored_expiry(rig: &Rig) {
    rig.sim.expire_access_tokens(&GrantSelector::All);
    rig.tokens
        .set_stored_expiry(rig.sim.now() + chrono::Duration::seconds(10));
}

#[tokio::test]
async fn the_v2_404_quirk_refreshes_once_and_retries() {
    let rig = Rig::new(sim_config()).await;
    expire_just_before_stored_expiry(&rig);
    let old = rig.tokens.access_token_now();

    let page = rig
        .site
        .pages(ListQuery::default())
        .next_page()
        .await
        .unwrap();

    assert!(page.is_some());
    assert_eq!(rig.tokens.refreshes(), 1);
    assert_ne!(rig.tokens.access_token_now(), old);
    assert_eq!(rig.statuses("/api/v2/pages"), [404, 200]);
}

#[tokio::test]
async fn the_v1_403_quirk_refreshes_once_and_retries() {
    let rig = Rig::new(sim_config()).await;
    expire_just_before_stored_expiry(&rig);

    let me = rig.site.current_user().await.unwrap();

    assert!(!me.account_id.is_empty());
    assert_eq!(rig.tokens.refreshes(), 1);
    assert_eq!(rig.statuses("/rest/api/user/current"), [403, 200]);
}

#[tokio::test]
async fn a_token_past_its_stored_expiry_is_refreshed_before_sending() {
    let rig = Rig::new(sim_config()).await;
    rig.sim.advance_clock(std::time::Duration::from_secs(3_601));

    rig.site
        .spaces(ListQuery::default())
        .next_page()
        .await
        .unwrap();

    assert_eq!(rig.tokens.refreshes(), 1);
    assert_eq!(
        rig.statuses("/wiki/"),
        [200],
        "no request with the dead token"
    );
}

#[tokio::test]
async fn a_scope_mismatch_is_permanent_and_never_refreshed() {
    let scopes = [
        "read:page:confluence",
        "read:space:confluence",
        "offline_access",
    ];
    let rig = Rig::with(sim_config(), &scopes, |_| {}).await;

    let error = rig
        .site
        .footer_comments(ListQuery::default())
        .next_page()
        .await
        .unwrap_err();

    assert!(
        matches!(error, ConfluenceError::ScopeMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(rig.tokens.refreshes(), 0);
    assert_eq!(rig.api_requests().len(), 1);
}

#[tokio::test]
async fn a_refresh_that_fails_means_needs_reauth_after_one_attempt() {
    let rig = Rig::new(sim_config()).await;
    // The user removed the app: every token of the family is refused.
    rig.sim.revoke_grants(&GrantSelector::All);

    let error = rig.site.current_user().await.unwrap_err();

    assert!(matches!(error, ConfluenceError::NeedsReauth), "{error:?}");
    assert_eq!(error.class(), ErrorClass::NeedsReauth);
    assert_eq!(rig.tokens.refreshes(), 1);
    assert_eq!(rig.statuses("/wiki/"), [401]);
    let message = error.to_string();
    assert!(!message.contains(&rig.tokens.access_token_now()));
}

#[tokio::test]
async fn a_401_after_a_refresh_is_final_never_a_loop() {
    // The grant covers only the first of two sites: the gateway answers 401
    // for the second whatever the token.
    let rig = Rig::new(sim_config().sites(2).grant_first_sites(1)).await;
    let second = confsync_core::CloudId::parse(rig.sim.sites()[1].cloud_id.clone()).unwrap();
    let tokens = SimTokens::mint(&rig.sim, ALL_SCOPES);
    let uncovered = rig.confluence.site(second, tokens.clone()).unwrap();

    let error = uncovered.current_user().await.unwrap_err();

    assert!(
        matches!(error, ConfluenceError::AccessDenied { status: 401, .. }),
        "{error:?}"
    );
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(rig.statuses("/wiki/"), [401, 401]);
}

#[tokio::test]
async fn a_purged_page_well_before_expiry_is_not_found_without_refresh() {
    let rig = Rig::new(sim_config()).await;
    let victim = rig
        .sim
        .contents(rig.cloud().as_str(), ContentType::Page, &[Status::Current])
        .unwrap()
        .pop()
        .unwrap();
    rig.sim.purge(rig.cloud().as_str(), &victim.id).unwrap();
    let id = ContentId::parse(victim.id).unwrap();

    let error = rig.site.page(&id, &ItemQuery::default()).await.unwrap_err();

    assert!(error.is_not_found(), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(rig.tokens.refreshes(), 0);
    assert_eq!(rig.api_requests().len(), 1);
}

#[tokio::test]
async fn errors_and_debug_output_never_show_a_token() {
    let rig = Rig::new(sim_config()).await;
    let token = rig.tokens.access_token_now();
    let debug = format!("{:?} {:?}", rig.site, rig.confluence);
    assert!(!debug.contains(&token));
    let secret = secrecy::SecretString::from(token.clone());
    assert!(!format!("{secret:?}").contains(&token));
    assert_eq!(secret.expose_secret(), token);
}
