//! The connect flow: `GET /api/v1/auth/confluence/connector/add` starts an
//! OAuth consent, `GET /api/v1/auth/confluence/connector/callback` finishes it.
//!
//! The callback stores nothing until every upstream step has succeeded (state,
//! code exchange, sites, account), then writes the grant in one step and
//! queues a full sync per site. Every failure answers with a stable error code
//! (redirecting to `return_to` when the state named one) and stores nothing.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use backon::{ExponentialBuilder, Retryable as _};
use base64::Engine as _;
use chrono::Utc;
use confsync_core::TenantId;
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_oauth::OAuthError;
use confsync_store::{
    NewConnection, PendingConnect, SiteInfo, StateLookup, StoredConnection, Tokens,
};
use rand::RngCore as _;
use serde::Deserialize;
use url::Url;

use crate::AppState;
use crate::events;

/// A failed step: the HTTP status, the stable code, and a message safe to show.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }

    fn store(error: &confsync_store::StoreError) -> Failure {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("confsync cannot reach its state store right now ({error}); try again shortly"),
        )
    }

    fn json(&self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }

    fn page(&self) -> Response {
        let html = format!(
            "<!doctype html><meta charset=utf-8><title>Confluence connection failed</title>\
             <h1>Confluence connection failed</h1><p>{}</p><p>Error code: <code>{}</code></p>",
            escape_html(&self.message),
            self.code
        );
        (self.status, Html(html)).into_response()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AddParams {
    tenant_id: Option<String>,
    return_to: Option<String>,
    #[serde(default)]
    redirect: Option<String>,
}

/// `GET …/connector/add?tenant_id=…&return_to=…[&redirect=true]`.
pub(crate) async fn add(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<AddParams>,
) -> Response {
    match start(&app, &headers, params).await {
        Ok(response) => response,
        Err(failure) => {
            events::add_refused(&app.metrics, failure.code);
            failure.json()
        }
    }
}

async fn start(
    app: &AppState,
    headers: &HeaderMap,
    params: AddParams,
) -> Result<Response, Failure> {
    if !app.api_token.admits(headers) {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer API token is required",
        ));
    }
    let oauth = app.oauth.as_ref().ok_or_else(not_configured)?;
    let tenant_id = params
        .tenant_id
        .as_deref()
        .ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "invalid_tenant",
                "tenant_id is required",
            )
        })
        .and_then(|t| {
            TenantId::parse(t)
                .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "invalid_tenant", e.to_string()))
        })?;
    let return_to = match params.return_to.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(candidate) => Some(app.allowlist.check(candidate).ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "return_to_not_allowed",
                "return_to is not under any prefix of receiver.return_to_allowlist",
            )
        })?),
    };

    let state = new_state();
    let pending = PendingConnect {
        v: 1,
        tenant_id: tenant_id.clone(),
        return_to: return_to.map(String::from),
        expires_at: Utc::now() + app.state_ttl,
    };
    app.store
        .save_oauth_state(&state, &pending)
        .await
        .map_err(|e| Failure::store(&e))?;
    let auth_url = oauth.authorize_url(&state);
    events::connect_started(&app.metrics, &tenant_id);

    let redirect = params
        .redirect
        .as_deref()
        .is_some_and(|r| matches!(r, "true" | "1" | "yes"));
    if redirect {
        return Ok(Redirect::to(auth_url.as_str()).into_response());
    }
    let body = serde_json::json!({
        "auth_url": auth_url.as_str(),
        "expires_in_secs": app.state_ttl.num_seconds(),
    });
    Ok(axum::Json(body).into_response())
}

/// 256 random bits, URL-safe.
fn new_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn not_configured() -> Failure {
    Failure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "oauth_not_configured",
        "no Atlassian OAuth client is configured (set ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET)",
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// What a successful callback did.
struct Connected {
    tenant_id: TenantId,
    stored: StoredConnection,
    sites: Vec<SiteInfo>,
}

/// `GET …/connector/callback?code=…&state=…` (or `?error=…&state=…`).
pub(crate) async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mut return_to = None;
    match finish(&app, params, &mut return_to).await {
        Ok(connected) => {
            events::connected(
                &app.metrics,
                &connected.tenant_id,
                &connected.stored.grant_id,
                connected.sites.len(),
                connected.stored.created,
            );
            success_response(&connected, return_to.as_deref(), wants_json)
        }
        Err(failure) => {
            events::callback_failed(&app.metrics, failure.code, &failure.message);
            match return_to.as_deref().and_then(|r| Url::parse(r).ok()) {
                Some(mut url) => {
                    url.query_pairs_mut()
                        .append_pair("status", "error")
                        .append_pair("error", failure.code);
                    Redirect::to(url.as_str()).into_response()
                }
                None if wants_json => failure.json(),
                None => failure.page(),
            }
        }
    }
}

async fn finish(
    app: &AppState,
    params: CallbackParams,
    return_to: &mut Option<String>,
) -> Result<Connected, Failure> {
    let state = params.state.filter(|s| !s.is_empty()).ok_or_else(|| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "missing_state",
            "the callback carries no state",
        )
    })?;
    let pending = match app
        .store
        .consume_oauth_state(&state, Utc::now())
        .await
        .map_err(|e| Failure::store(&e))?
    {
        StateLookup::Valid(pending) => pending,
        StateLookup::Unknown => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "unknown_state",
                "this connect link was not issued by confsync; start the connection again",
            ));
        }
        StateLookup::Expired => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "expired_state",
                "this connect link has expired; start the connection again",
            ));
        }
        StateLookup::Reused => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "reused_state",
                "this connect link was already used; start the connection again",
            ));
        }
    };
    return_to.clone_from(&pending.return_to);

    if let Some(error) = params.error.as_deref() {
        return Err(if error == "access_denied" {
            Failure::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "the Confluence connection was declined",
            )
        } else {
            Failure::new(
                StatusCode::BAD_GATEWAY,
                "consent_failed",
                "Atlassian could not complete the consent",
            )
        });
    }
    let code = params.code.filter(|c| !c.is_empty()).ok_or_else(|| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "missing_code",
            "the callback carries no code",
        )
    })?;
    let oauth = app.oauth.as_ref().ok_or_else(not_configured)?;

    let tokens = oauth
        .exchange_code(&code)
        .await
        .map_err(|e| upstream("token exchange", &e))?;
    let sites = oauth
        .accessible_resources(&tokens.access_token)
        .await
        .map_err(|e| upstream("site list", &e))?;
    let Some(first) = sites.first() else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "no_confluence_site",
            "the Atlassian account that consented has no Confluence site this app can read",
        ));
    };
    let account_id = oauth
        .current_account(&tokens.access_token, &first.cloud_id)
        .await
        .map_err(|e| upstream("account lookup", &e))?;

    let sites: Vec<SiteInfo> = sites
        .into_iter()
        .map(|s| SiteInfo {
            cloud_id: s.cloud_id,
            url: s.url,
            name: s.name,
        })
        .collect();
    let vault = app.vault().await.map_err(|e| Failure::store(&e))?;
    let connection = NewConnection {
        tenant_id: pending.tenant_id.clone(),
        account_id,
        tokens: Tokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            access_expires_at: tokens.expires_at,
        },
        scopes: tokens.scopes,
        sites: sites.clone(),
    };
    let stored = vault
        .store_connection(&connection)
        .await
        .map_err(|e| Failure::store(&e))?;
    for site in &sites {
        let job = SyncJob::new(
            stored.grant_id.clone(),
            site.cloud_id.clone(),
            SyncMode::Full,
            SyncTrigger::Connect,
        );
        let push = || app.queue.push(job.clone());
        let policy = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_times(3);
        // The grant is stored; if the queue stays down the user is told to
        // retry, and a retry updates the same grant and queues again.
        push.retry(policy).await.map_err(|e| Failure::store(&e))?;
    }
    Ok(Connected {
        tenant_id: pending.tenant_id,
        stored,
        sites,
    })
}

/// Maps an OAuth failure to a stable code; never echoes a token or secret.
fn upstream(step: &str, error: &OAuthError) -> Failure {
    let (status, code) = match error {
        OAuthError::Rejected { .. } => (StatusCode::BAD_REQUEST, "token_exchange_rejected"),
        OAuthError::ClientConfig { .. } | OAuthError::Config(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "oauth_misconfigured")
        }
        OAuthError::ScopeMismatch => (StatusCode::INTERNAL_SERVER_ERROR, "scope_mismatch"),
        OAuthError::Unavailable { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "atlassian_unavailable")
        }
        OAuthError::TokenRefused { .. } | OAuthError::Protocol(_) => {
            (StatusCode::BAD_GATEWAY, "atlassian_error")
        }
    };
    Failure::new(status, code, format!("{step} failed: {error}"))
}

fn success_response(connected: &Connected, return_to: Option<&str>, wants_json: bool) -> Response {
    if let Some(mut url) = return_to.and_then(|r| Url::parse(r).ok()) {
        url.query_pairs_mut()
            .append_pair("status", "connected")
            .append_pair("grant_id", connected.stored.grant_id.as_str());
        return Redirect::to(url.as_str()).into_response();
    }
    if wants_json {
        let sites: Vec<_> = connected
            .sites
            .iter()
            .map(|s| serde_json::json!({"cloud_id": s.cloud_id, "url": s.url, "name": s.name}))
            .collect();
        let body = serde_json::json!({"status": "connected", "grant_id": connected.stored.grant_id, "sites": sites});
        return axum::Json(body).into_response();
    }
    let items: String = connected
        .sites
        .iter()
        .map(|s| {
            format!(
                "<li>{} ({})</li>",
                escape_html(&s.name),
                escape_html(&s.url)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Confluence connected</title>\
         <h1>Confluence connected</h1><p>These sites will be indexed:</p><ul>{items}</ul>\
         <p>You can close this window.</p>"
    ))
    .into_response()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_long_random_and_url_safe() {
        let a = new_state();
        assert_eq!(a.len(), 43, "256 bits in unpadded base64");
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, new_state());
    }

    #[test]
    fn pages_escape_what_atlassian_sends() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
