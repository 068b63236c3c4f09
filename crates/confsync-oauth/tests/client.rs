//! The OAuth client against a stub server speaking Atlassian's documented
//! answers (bodies from `../shared/reference/atlassian/doc-examples`). The
//! simulator covers the full flow end to end; these pin the classification of
//! every failure.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use confsync_core::error::{Classify as _, ErrorClass};
use confsync_oauth::{AtlassianOAuth, OAuthConfig, OAuthError};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

async fn serve(router: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Url::parse(&format!("http://{addr}")).unwrap()
}

fn client(base: &Url) -> AtlassianOAuth {
    AtlassianOAuth::new(&OAuthConfig {
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret".to_owned()),
        redirect_uri: Url::parse("http://localhost:8000/api/v1/auth/confluence/connector/callback")
            .unwrap(),
        auth_url: base.clone(),
        api_url: base.clone(),
        scopes: vec![
            "read:page:confluence".into(),
            "read:space:confluence".into(),
        ],
        request_timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn token_endpoint(status: StatusCode, body: &'static str) -> Router {
    Router::new().route(
        "/oauth/token",
        post(move || async move {
            (status, [("content-type", "application/json")], body).into_response()
        }),
    )
}

#[tokio::test]
async fn the_authorize_url_carries_every_parameter_atlassian_requires() {
    let base = Url::parse("https://auth.example").unwrap();
    let url = client(&base).authorize_url("st4te");
    assert_eq!(url.path(), "/authorize");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["audience"], "api.atlassian.com");
    assert_eq!(q["client_id"], "cid");
    assert_eq!(
        q["scope"],
        "read:page:confluence read:space:confluence offline_access"
    );
    assert_eq!(
        q["redirect_uri"],
        "http://localhost:8000/api/v1/auth/confluence/connector/callback"
    );
    assert_eq!(q["state"], "st4te");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["prompt"], "consent");
}

#[tokio::test]
async fn a_code_exchange_returns_the_token_set_and_sends_the_secret_in_the_body() {
    let router = Router::new().route(
        "/oauth/token",
        post(|headers: HeaderMap, body: String| async move {
            assert!(
                headers.get("authorization").is_none(),
                "secret must travel in the body, not basic auth"
            );
            assert!(body.contains("client_secret=csecret"), "{body}");
            assert!(body.contains("grant_type=authorization_code"), "{body}");
            assert!(body.contains("code=the-code"), "{body}");
            axum::Json(serde_json::json!({
                "access_token": "at-1", "refresh_token": "rt-1", "expires_in": 120,
                "scope": "read:page:confluence offline_access", "token_type": "Bearer"
            }))
        }),
    );
    let base = serve(router).await;
    let tokens = client(&base).exchange_code("the-code").await.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "at-1");
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "rt-1");
    assert_eq!(tokens.scopes, ["read:page:confluence", "offline_access"]);
    let lifetime = tokens.expires_at - chrono::Utc::now();
    assert!(
        lifetime <= chrono::Duration::seconds(120) && lifetime > chrono::Duration::seconds(100)
    );
}

#[tokio::test]
async fn token_endpoint_failures_are_classified() {
    let cases: [(StatusCode, &'static str, &str, ErrorClass); 5] = [
        (
            StatusCode::FORBIDDEN,
            r#"{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}"#,
            "rejected",
            ErrorClass::NeedsReauth,
        ),
        (
            StatusCode::FORBIDDEN,
            r#"{"error": "unauthorized_client", "error_description": "refresh_token is invalid"}"#,
            "rejected",
            ErrorClass::NeedsReauth,
        ),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error": "access_denied", "error_description": "Unauthorized"}"#,
            "config_error",
            ErrorClass::Permanent,
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html>down</html>",
            "unavailable",
            ErrorClass::transient(),
        ),
        (
            StatusCode::OK,
            r#"{"access_token": "at", "expires_in": 3"#,
            "protocol_error",
            ErrorClass::Permanent,
        ),
    ];
    for (status, body, code, class) in cases {
        let base = serve(token_endpoint(status, body)).await;
        let error = client(&base)
            .refresh(&SecretString::from("rt".to_owned()))
            .await
            .unwrap_err();
        assert_eq!(error.code(), code, "{status} {body}: {error}");
        assert_eq!(error.class(), class, "{status} {body}");
        assert!(!error.to_string().contains("csecret"), "{error}");
    }
}

#[tokio::test]
async fn an_unreachable_auth_server_is_transient() {
    let base = Url::parse("http://127.0.0.1:1").unwrap();
    let error = client(&base).exchange_code("c").await.unwrap_err();
    assert!(matches!(error, OAuthError::Unavailable { .. }), "{error}");
}

#[tokio::test]
async fn accessible_resources_keep_confluence_sites_once_each() {
    let router = Router::new().route(
        "/oauth/token/accessible-resources",
        get(|| async {
            axum::Json(serde_json::json!([
                {"id": "jira-only", "name": "J", "url": "https://j.atlassian.net", "scopes": ["read:jira-work"], "avatarUrl": ""},
                {"id": "c1", "name": "One", "url": "https://one.atlassian.net", "scopes": ["read:page:confluence"], "avatarUrl": ""},
                {"id": "c1", "name": "One (Jira)", "url": "https://one.atlassian.net", "scopes": ["read:jira-user"], "avatarUrl": ""},
                {"id": "c2", "name": "Two", "url": "https://two.atlassian.net", "scopes": ["read:confluence-user", "read:page:confluence"], "avatarUrl": ""},
                {"id": "c2", "name": "Two again", "url": "https://two.atlassian.net", "scopes": ["read:page:confluence"], "avatarUrl": ""}
            ]))
        }),
    );
    let base = serve(router).await;
    let sites = client(&base)
        .accessible_resources(&SecretString::from("at".to_owned()))
        .await
        .unwrap();
    let names: Vec<_> = sites
        .iter()
        .map(|s| (s.cloud_id.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(names, [("c1", "One"), ("c2", "Two")]);
}

#[tokio::test]
async fn gateway_refusals_are_told_apart() {
    async fn scope() -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [("x-failure-category", "FAILURE_CLIENT_SCOPE_CHECK")],
            r#"{"code": 401, "message": "Unauthorized; scope does not match"}"#,
        )
            .into_response()
    }
    let router = Router::new()
        .route(
            "/ex/confluence/scope/wiki/rest/api/user/current",
            get(scope),
        )
        .route(
            "/ex/confluence/expired/wiki/rest/api/user/current",
            get(|| async { StatusCode::FORBIDDEN }),
        )
        .route(
            "/ex/confluence/busy/wiki/rest/api/user/current",
            get(|| async {
                (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "").into_response()
            }),
        )
        .route(
            "/ex/confluence/ok/wiki/rest/api/user/current",
            get(|| async {
                axum::Json(
                    serde_json::json!({"accountId": "5b10ac8d82e05b22cc7d4ef5", "type": "known"}),
                )
            }),
        );
    let base = serve(router).await;
    let c = client(&base);
    let token = SecretString::from("at".to_owned());
    let account = |site: &str| {
        let site = confsync_core::CloudId::parse(site).unwrap();
        let c = c.clone();
        let token = token.clone();
        async move { c.current_account(&token, &site).await }
    };
    assert_eq!(
        account("ok").await.unwrap().as_str(),
        "5b10ac8d82e05b22cc7d4ef5"
    );
    assert!(matches!(
        account("scope").await.unwrap_err(),
        OAuthError::ScopeMismatch
    ));
    assert!(matches!(
        account("expired").await.unwrap_err(),
        OAuthError::TokenRefused { status: 403 }
    ));
    let busy = account("busy").await.unwrap_err();
    assert_eq!(
        busy.class(),
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(7))
        }
    );
}
