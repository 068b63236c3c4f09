//! The operator API, behind the same bearer token as the connect API:
//!
//! - `GET /api/v1/connections[?tenant_id=T]`: grants with status and sites;
//! - `GET /api/v1/connections/{grant}`: one grant;
//! - `POST /api/v1/connections/{grant}/resync` with
//!   `{"mode": "incremental"|"full"|"reconcile", "site"?: cloud_id, "spaces"?: [keys]}`:
//!   queues one sync job per selected site and answers 202 with their ids
//!   (a resync for a site already crawling is coalesced by the worker);
//! - `DELETE /api/v1/connections/{grant}`: deletes the grant's tokens and
//!   stops its syncs.
//!
//! The receiver only records intent here: the worker does the work. Every
//! refusal has a stable error code, like the connect API.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_core::{CloudId, GrantId, TenantId};
use confsync_store::{Grant, GrantStatus, SiteInfo, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::events;

/// A refusal: status, stable code, message safe to show.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn store(error: &StoreError) -> Refusal {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("confsync cannot reach its state store right now ({error})"),
        )
    }

    fn unknown_grant(id: &str) -> Refusal {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_grant",
            format!("no connection {id}"),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response()
    }
}

type Answer = Result<Response, Refusal>;

fn authorize(app: &AppState, headers: &HeaderMap) -> Result<(), Refusal> {
    if app.api_token.admits(headers) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer API token is required",
        ))
    }
}

fn grant_id(raw: &str) -> Result<GrantId, Refusal> {
    GrantId::parse(raw).map_err(|_| Refusal::unknown_grant(raw))
}

/// The JSON of one connection.
fn describe(grant: &Grant, sites: &[SiteInfo]) -> Value {
    json!({
        "grant_id": grant.id,
        "tenant_id": grant.tenant_id,
        "account_id": grant.account_id,
        "status": grant.status.as_str(),
        "scopes": grant.scopes,
        "access_expires_at": grant.access_expires_at,
        "refreshed_at": grant.refreshed_at,
        "last_error": grant.last_error,
        "created_at": grant.created_at,
        "updated_at": grant.updated_at,
        "sites": sites.iter().map(|s| json!({"cloud_id": s.cloud_id, "url": s.url, "name": s.name})).collect::<Vec<_>>(),
    })
}

async fn load(app: &AppState, id: &GrantId) -> Result<(Grant, Vec<SiteInfo>), Refusal> {
    let vault = app.vault().await.map_err(|e| Refusal::store(&e))?;
    let grant = vault
        .grant(id)
        .await
        .map_err(|e| Refusal::store(&e))?
        .ok_or_else(|| Refusal::unknown_grant(id.as_str()))?;
    let sites = vault.sites(id).await.map_err(|e| Refusal::store(&e))?;
    Ok((grant, sites))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListParams {
    tenant_id: Option<String>,
}

/// `GET /api/v1/connections[?tenant_id=T]`.
pub(crate) async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    respond(&app, "list", list_inner(&app, &headers, params).await)
}

async fn list_inner(app: &AppState, headers: &HeaderMap, params: ListParams) -> Answer {
    authorize(app, headers)?;
    let vault = app.vault().await.map_err(|e| Refusal::store(&e))?;
    let ids = match params.tenant_id.as_deref().filter(|t| !t.is_empty()) {
        Some(tenant) => {
            let tenant = TenantId::parse(tenant).map_err(|e| {
                Refusal::new(StatusCode::BAD_REQUEST, "invalid_tenant", e.to_string())
            })?;
            vault.tenant_grants(&tenant).await
        }
        None => vault.all_grants().await,
    }
    .map_err(|e| Refusal::store(&e))?;
    let mut connections = Vec::with_capacity(ids.len());
    for id in &ids {
        // A grant listed in an index but gone meanwhile is skipped, not an error.
        if let Ok((grant, sites)) = load(app, id).await {
            connections.push(describe(&grant, &sites));
        }
    }
    Ok(Json(json!({"connections": connections})).into_response())
}

/// `GET /api/v1/connections/{grant}`.
pub(crate) async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(grant): Path<String>,
) -> Response {
    let answer = async {
        authorize(&app, &headers)?;
        let (grant, sites) = load(&app, &grant_id(&grant)?).await?;
        Ok(Json(describe(&grant, &sites)).into_response())
    };
    respond(&app, "show", answer.await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResyncRequest {
    mode: SyncMode,
    site: Option<String>,
    #[serde(default)]
    spaces: Vec<String>,
}

/// `POST /api/v1/connections/{grant}/resync`.
pub(crate) async fn resync(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(grant): Path<String>,
    body: Result<Json<ResyncRequest>, JsonRejection>,
) -> Response {
    respond(
        &app,
        "resync",
        resync_inner(&app, &headers, &grant, body).await,
    )
}

async fn resync_inner(
    app: &AppState,
    headers: &HeaderMap,
    grant: &str,
    body: Result<Json<ResyncRequest>, JsonRejection>,
) -> Answer {
    authorize(app, headers)?;
    let Json(request) =
        body.map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let (grant, sites) = load(app, &grant_id(grant)?).await?;
    if grant.status != GrantStatus::Active {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "grant_not_active",
            format!(
                "the connection is {}; it must be connected again first",
                grant.status.as_str()
            ),
        ));
    }
    if request
        .spaces
        .iter()
        .any(|k| k.is_empty() || k.len() > 255 || k.chars().any(char::is_whitespace))
    {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "space keys must be non-empty words",
        ));
    }
    let selected: Vec<CloudId> = match request.site.as_deref() {
        None => sites.iter().map(|s| s.cloud_id.clone()).collect(),
        Some(site) => {
            let found = sites.iter().find(|s| s.cloud_id.as_str() == site);
            vec![found.map(|s| s.cloud_id.clone()).ok_or_else(|| {
                Refusal::new(
                    StatusCode::NOT_FOUND,
                    "unknown_site",
                    format!("site {site} is not part of this connection"),
                )
            })?]
        }
    };
    let mut jobs = Vec::with_capacity(selected.len());
    for cloud in &selected {
        let mut job = SyncJob::new(
            grant.id.clone(),
            cloud.clone(),
            request.mode,
            SyncTrigger::Operator,
        );
        job.spaces.clone_from(&request.spaces);
        let id = app
            .queue
            .push_job(job)
            .await
            .map_err(|e| Refusal::store(&e))?;
        jobs.push(json!({"job_id": id, "cloud_id": cloud}));
    }
    events::resync_queued(&app.metrics, &grant.id, request.mode, jobs.len());
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"grant_id": grant.id, "mode": request.mode, "jobs": jobs})),
    )
        .into_response())
}

/// `DELETE /api/v1/connections/{grant}`.
pub(crate) async fn disconnect(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(grant): Path<String>,
) -> Response {
    let answer = async {
        authorize(&app, &headers)?;
        let id = grant_id(&grant)?;
        let vault = app.vault().await.map_err(|e| Refusal::store(&e))?;
        if !vault
            .disconnect(&id)
            .await
            .map_err(|e| Refusal::store(&e))?
        {
            return Err(Refusal::unknown_grant(id.as_str()));
        }
        events::disconnected(&app.metrics, &id);
        Ok(
            Json(json!({"grant_id": id, "status": GrantStatus::Disconnected.as_str()}))
                .into_response(),
        )
    };
    respond(&app, "disconnect", answer.await)
}

fn respond(app: &AppState, operation: &'static str, answer: Answer) -> Response {
    match answer {
        Ok(response) => response,
        Err(refusal) => {
            events::admin_refused(&app.metrics, operation, refusal.code);
            refusal.into_response()
        }
    }
}
