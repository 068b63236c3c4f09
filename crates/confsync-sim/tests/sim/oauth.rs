//! The authorization server: /authorize validation, consent and decline,
//! both token-request encodings, code rules, rotation with the reuse window,
//! family revocation and the inactivity expiry.

use std::time::Duration;

use confsync_sim::{GrantSelector, SimConfig, SimHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::support::{self, ALL_SCOPES, client, get};

const CALLBACK: &str = "http://localhost:8000/api/v1/auth/confluence/connector/callback";

fn authorize_params(sim: &SimHandle) -> Vec<(&'static str, String)> {
    vec![
        ("audience", "api.atlassian.com".into()),
        ("client_id", sim.client_id()),
        ("scope", ALL_SCOPES.join(" ")),
        ("redirect_uri", CALLBACK.into()),
        ("state", "st-123".into()),
        ("response_type", "code".into()),
        ("prompt", "consent".into()),
    ]
}

fn authorize_url(sim: &SimHandle, params: &[(&str, String)]) -> String {
    let mut url = Url::parse(&format!("{}/authorize", sim.auth_url())).unwrap();
    url.query_pairs_mut()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    url.to_string()
}

/// Runs /authorize and returns the redirect's query parameters.
async fn consent(sim: &SimHandle, params: &[(&str, String)]) -> Vec<(String, String)> {
    let reply = get(&client(), &authorize_url(sim, params), None).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text);
    let location = Url::parse(&reply.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(CALLBACK));
    location.query_pairs().into_owned().collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn exchange_json(sim: &SimHandle, body: Value) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/oauth/token", sim.auth_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn exchange_form(sim: &SimHandle, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/oauth/token", sim.auth_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn code_body(sim: &SimHandle, code: &str) -> Value {
    json!({
        "grant_type": "authorization_code",
        "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "code": code,
        "redirect_uri": CALLBACK,
    })
}

fn refresh_body(sim: &SimHandle, refresh_token: &str) -> Value {
    json!({
        "grant_type": "refresh_token",
        "client_id": sim.client_id(),
        "client_secret": sim.client_secret(),
        "refresh_token": refresh_token,
    })
}

#[tokio::test]
async fn authorize_rejects_each_missing_or_wrong_parameter_with_a_400_page() {
    let sim = support::start(support::config()).await;
    let good = authorize_params(&sim);
    for (name, _) in &good {
        let params: Vec<_> = good.iter().filter(|(k, _)| k != name).cloned().collect();
        let reply = get(&client(), &authorize_url(&sim, &params), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "without {name}");
        assert!(reply.header("location").is_none());
        assert!(reply.text.contains(name), "{}", reply.text);
    }
    for (name, value) in [
        ("audience", "api.example.com"),
        ("client_id", "someone-else"),
        ("response_type", "token"),
        ("prompt", "none"),
        ("redirect_uri", "/relative/callback"),
        ("redirect_uri", "ftp://example.com/cb"),
        ("scope", "   "),
    ] {
        let params: Vec<_> = good
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == name {
                        value.to_owned()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        let reply = get(&client(), &authorize_url(&sim, &params), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}={value}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn registered_callback_urls_are_enforced() {
    let sim = support::start(support::config().callback_url(CALLBACK)).await;
    let mut params = authorize_params(&sim);
    assert_eq!(
        param(&consent(&sim, &params).await, "state"),
        Some("st-123")
    );
    params[3].1 = "http://localhost:8000/other".into();
    let reply = get(&client(), &authorize_url(&sim, &params), None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn consent_redirects_with_code_and_state_and_decline_with_access_denied() {
    let sim = support::start(support::config()).await;
    let params = authorize_params(&sim);
    let approved = consent(&sim, &params).await;
    assert!(param(&approved, "code").is_some_and(|c| c.len() > 20));
    assert_eq!(param(&approved, "state"), Some("st-123"));

    sim.decline_next_authorizations(1);
    let declined = consent(&sim, &params).await;
    assert_eq!(param(&declined, "error"), Some("access_denied"));
    assert!(param(&declined, "error_description").is_some());
    assert_eq!(param(&declined, "state"), Some("st-123"));
    assert_eq!(param(&declined, "code"), None);
    // Only the next one was declined.
    assert!(param(&consent(&sim, &params).await, "code").is_some());

    sim.decline_all_authorizations(true);
    assert_eq!(
        param(&consent(&sim, &params).await, "error"),
        Some("access_denied")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn codes_exchange_once_with_json_or_form_bodies() {
    let sim = support::start(support::config()).await;
    let params = authorize_params(&sim);

    let code = param(&consent(&sim, &params).await, "code")
        .unwrap()
        .to_owned();
    let (status, tokens) = exchange_json(&sim, code_body(&sim, &code)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], ALL_SCOPES.join(" "));
    assert!(tokens["access_token"].as_str().unwrap().len() > 100);
    assert!(tokens["refresh_token"].is_string());
    // A code is single-use.
    let (status, error) = exchange_json(&sim, code_body(&sim, &code)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"], "invalid_grant");

    let code = param(&consent(&sim, &params).await, "code")
        .unwrap()
        .to_owned();
    let (id, secret) = (sim.client_id(), sim.client_secret());
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let (status, tokens) = exchange_form(&sim, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, _) = exchange_form(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn code_exchange_errors_match_atlassian() {
    let sim = support::start(support::config()).await;
    let params = authorize_params(&sim);
    let code = param(&consent(&sim, &params).await, "code")
        .unwrap()
        .to_owned();

    let mut wrong_secret = code_body(&sim, &code);
    wrong_secret["client_secret"] = json!("nope");
    let (status, body) = exchange_json(&sim, wrong_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "access_denied", "error_description": "Unauthorized"})
    );

    let mut other_redirect = code_body(&sim, &code);
    other_redirect["redirect_uri"] = json!("http://localhost:9999/cb");
    let (status, body) = exchange_json(&sim, other_redirect).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::FORBIDDEN, json!("invalid_grant"))
    );

    let (status, body) = exchange_json(&sim, code_body(&sim, "made-up")).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::FORBIDDEN, json!("invalid_grant"))
    );

    // Codes expire after 10 minutes of sim clock.
    let late = param(&consent(&sim, &params).await, "code")
        .unwrap()
        .to_owned();
    sim.advance_clock(Duration::from_secs(601));
    let (status, _) = exchange_json(&sim, code_body(&sim, &late)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = exchange_json(&sim, json!({"grant_type": "password"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let mut unsupported = code_body(&sim, &code);
    unsupported["grant_type"] = json!("client_credentials");
    let (status, body) = exchange_json(&sim, unsupported).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("unsupported_grant_type"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let sim = support::start(support::config()).await;
    let mut params = authorize_params(&sim);
    params[2].1 = "read:page:confluence read:space:confluence".into();
    let code = param(&consent(&sim, &params).await, "code")
        .unwrap()
        .to_owned();
    let (status, tokens) = exchange_json(&sim, code_body(&sim, &code)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(
        tokens["scope"],
        "read:page:confluence read:space:confluence"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rotation_tolerates_reuse_inside_the_window_and_revokes_the_family_after() {
    let sim = support::start(support::config()).await;
    let first = sim.mint_tokens(None, ALL_SCOPES);
    let rt1 = first.refresh_token.clone().unwrap();

    let (status, second) = exchange_json(&sim, refresh_body(&sim, &rt1)).await;
    assert_eq!(status, StatusCode::OK);
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "each refresh rotates the refresh token");

    // Reuse of the old token inside the 10-minute window: a valid new pair.
    sim.advance_clock(Duration::from_secs(9 * 60));
    let (status, third) = exchange_json(&sim, refresh_body(&sim, &rt1)).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let newest_access = third["access_token"].as_str().unwrap().to_owned();
    let newest_refresh = third["refresh_token"].as_str().unwrap().to_owned();
    let http = client();
    let pages = format!(
        "{}/api/v2/pages",
        support::wiki(&sim, &support::cloud(&sim))
    );
    assert_eq!(
        get(&http, &pages, Some(&newest_access)).await.status,
        StatusCode::OK
    );

    // Reuse after the window: the whole family dies.
    sim.advance_clock(Duration::from_secs(2 * 60));
    let (status, error) = exchange_json(&sim, refresh_body(&sim, &rt1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        error,
        json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
    );
    for token in [&rt2, &newest_refresh] {
        let (status, error) = exchange_json(&sim, refresh_body(&sim, token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            error,
            json!({"error": "unauthorized_client", "error_description": "refresh_token is invalid"})
        );
    }
    let reply = get(&http, &pages, Some(&newest_access)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(sim.grants()[0].revoked);
    sim.shutdown().await;
}

#[tokio::test]
async fn refresh_tokens_expire_after_90_days_unused_and_unknown_ones_fail() {
    let sim = support::start(support::config()).await;
    let tokens = sim.mint_tokens(None, ALL_SCOPES);
    let rt = tokens.refresh_token.unwrap();
    // Used within 89 days: fine, and the new token restarts the clock.
    sim.advance_clock(Duration::from_secs(89 * 86_400));
    let (status, fresh) = exchange_json(&sim, refresh_body(&sim, &rt)).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = fresh["refresh_token"].as_str().unwrap().to_owned();
    sim.advance_clock(Duration::from_secs(91 * 86_400));
    let (status, error) = exchange_json(&sim, refresh_body(&sim, &fresh)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"], "invalid_grant");

    let (status, error) = exchange_json(&sim, refresh_body(&sim, "never-issued")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        error["error_description"],
        "Unknown or invalid refresh token."
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_account_reconnecting_gets_the_same_sites_and_grants_can_cover_n_sites() {
    let sim = support::start(
        SimConfig {
            sites: 3,
            ..support::config()
        }
        .grant_first_sites(2),
    )
    .await;
    let mut params = authorize_params(&sim);
    params.push(("account_id", "5b10ac8d82e05b22cc7d4ef5".into()));
    let http = client();
    let mut site_lists = Vec::new();
    for _ in 0..2 {
        let code = param(&consent(&sim, &params).await, "code")
            .unwrap()
            .to_owned();
        let (_, tokens) = exchange_json(&sim, code_body(&sim, &code)).await;
        let token = tokens["access_token"].as_str().unwrap();
        let resources = get(
            &http,
            &format!("{}/oauth/token/accessible-resources", sim.api_url()),
            Some(token),
        )
        .await
        .json();
        let mut confluence: Vec<String> = resources
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["scopes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s.as_str().unwrap().contains("confluence"))
            })
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        confluence.sort();
        site_lists.push(confluence);
    }
    assert_eq!(site_lists[0].len(), 2);
    assert_eq!(site_lists[0], site_lists[1]);
    let grants = sim.grants();
    assert_eq!(grants.len(), 2);
    assert!(
        grants
            .iter()
            .all(|g| g.account_id == "5b10ac8d82e05b22cc7d4ef5")
    );

    // Another account with its own site list.
    let third = sim.sites()[2].cloud_id.clone();
    sim.set_account_sites("712020:other", &[&third]).unwrap();
    sim.next_authorization_by("712020:other");
    let code = param(&consent(&sim, &authorize_params(&sim)).await, "code")
        .unwrap()
        .to_owned();
    let (_, tokens) = exchange_json(&sim, code_body(&sim, &code)).await;
    let pages = format!("{}/api/v2/pages", support::wiki(&sim, &third));
    assert_eq!(
        get(&http, &pages, tokens["access_token"].as_str())
            .await
            .status,
        StatusCode::OK
    );
    let first_site = format!(
        "{}/api/v2/pages",
        support::wiki(&sim, &support::cloud(&sim))
    );
    assert_eq!(
        get(&http, &first_site, tokens["access_token"].as_str())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sim.revoke_grants(&GrantSelector::AccountId("712020:other".into())),
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_refuses_odd_bodies_cleanly() {
    let sim = support::start(support::config()).await;
    let http = client();
    let url = format!("{}/oauth/token", sim.auth_url());
    for (content_type, body) in [
        ("application/json", "{not json"),
        ("application/json", "[1,2]"),
        ("application/json", "{\"grant_type\": 5}"),
        ("text/plain", "grant_type=refresh_token"),
        ("application/x-www-form-urlencoded", "%%%"),
    ] {
        let response = http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.is_client_error(), "{content_type} {body}: {status}");
        let json: Value = response.json().await.unwrap();
        assert!(json["error"].is_string());
    }
    sim.shutdown().await;
}
