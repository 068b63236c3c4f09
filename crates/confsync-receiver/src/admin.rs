//! The operator API, behind the same bearer token as the connect API:
//!
//! - `GET /api/v1/connections[?tenant_id=T]`: grants with status and sites;
//! - `GET /api/v1/connections/{grant}`: one grant;
//! - `POST /api/v1/connections/{grant}/resync` with
//!   `{"mode": "incremental"|"full"|"reconcile", "site"?: cloud_id}`:
//!   queues one sync job per selected site and answers 202 with their ids
//!   (a resync for a site already crawling is coalesced by the worker).
//!   `"spaces"` is refused for now: a space-limited walk would need its own
//!   checkpoint and sweep scope, and must never sweep the rest of the site;
//! - `GET /api/v1/connections/{grant}/dead-letters[?site=C]`: what the
//!   indexer refused, per site, with the reason;
//! - `POST /api/v1/connections/{grant}/dead-letters/retry` with
//!   `{"site"?: cloud_id}`: queues a redelivery per selected site;
//! - `DELETE /api/v1/connections/{grant}[?purge=true]`: deletes the grant's
//!   tokens and stops its syncs; with `purge`, also queues a purge per site
//!   (a delete for every document of the site, then its crawl state is
//!   forgotten).
//!
//! The receiver only records intent here: the worker does the work. Every
//! refusal has a stable error code, like the connect API.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_core::{CloudId, GrantId, TenantId};
use confsync_store::dead_letters::DeadLetters;
use confsync_store::{Grant, GrantStatus, SiteInfo, SiteKey, StoreError};
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
    if !request.mode.reads_confluence() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "mode must be incremental, full or reconcile (dead letters have their own endpoint; purge comes with a disconnect)",
        ));
    }
    if !request.spaces.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "unsupported",
            "a resync cannot be limited to spaces yet; resync the whole site",
        ));
    }
    let selected = select_sites(&sites, request.site.as_deref())?;
    let jobs = queue_jobs(app, &grant.id, &selected, request.mode).await?;
    events::resync_queued(&app.metrics, &grant.id, request.mode, jobs.len());
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"grant_id": grant.id, "mode": request.mode, "jobs": jobs})),
    )
        .into_response())
}

/// The sites `site` selects: all of them, or the one named.
fn select_sites(sites: &[SiteInfo], site: Option<&str>) -> Result<Vec<CloudId>, Refusal> {
    match site {
        None => Ok(sites.iter().map(|s| s.cloud_id.clone()).collect()),
        Some(site) => {
            let found = sites.iter().find(|s| s.cloud_id.as_str() == site);
            Ok(vec![found.map(|s| s.cloud_id.clone()).ok_or_else(
                || {
                    Refusal::new(
                        StatusCode::NOT_FOUND,
                        "unknown_site",
                        format!("site {site} is not part of this connection"),
                    )
                },
            )?])
        }
    }
}

/// Queues one operator job of `mode` per site; their ids, for the answer.
async fn queue_jobs(
    app: &AppState,
    grant: &GrantId,
    sites: &[CloudId],
    mode: SyncMode,
) -> Result<Vec<Value>, Refusal> {
    let mut jobs = Vec::with_capacity(sites.len());
    for cloud in sites {
        let job = SyncJob::new(grant.clone(), cloud.clone(), mode, SyncTrigger::Operator);
        let id = app
            .queue
            .push_job(job)
            .await
            .map_err(|e| Refusal::store(&e))?;
        jobs.push(json!({"job_id": id, "cloud_id": cloud}));
    }
    Ok(jobs)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SiteParams {
    site: Option<String>,
}

/// `GET /api/v1/connections/{grant}/dead-letters[?site=C]`.
pub(crate) async fn dead_letters(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(grant): Path<String>,
    Query(params): Query<SiteParams>,
) -> Response {
    let answer = async {
        authorize(&app, &headers)?;
        let (grant, sites) = load(&app, &grant_id(&grant)?).await?;
        let selected = select_sites(&sites, params.site.as_deref())?;
        let letters = DeadLetters::new(app.store.clone());
        let mut listed = Vec::new();
        for cloud in selected {
            let key = SiteKey::new(grant.id.clone(), cloud.clone());
            for letter in letters.list(&key).await.map_err(|e| Refusal::store(&e))? {
                listed.push(json!({
                    "cloud_id": cloud,
                    "document_id": letter.id,
                    "op": letter.op,
                    "status": letter.status,
                    "reason": letter.reason,
                    "at": letter.at,
                }));
            }
        }
        Ok(Json(json!({"grant_id": grant.id, "dead_letters": listed})).into_response())
    };
    respond(&app, "dead_letters", answer.await)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryRequest {
    site: Option<String>,
}

/// `POST /api/v1/connections/{grant}/dead-letters/retry`.
pub(crate) async fn retry_dead_letters(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(grant): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let answer = async {
        authorize(&app, &headers)?;
        // The body is optional: none means every site.
        let request = if body.iter().all(u8::is_ascii_whitespace) {
            RetryRequest::default()
        } else {
            serde_json::from_slice::<RetryRequest>(&body).map_err(|e| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("the body must be {{\"site\"?: cloud_id}}: {e}"),
                )
            })?
        };
        let (grant, sites) = load(&app, &grant_id(&grant)?).await?;
        let selected = select_sites(&sites, request.site.as_deref())?;
        let jobs = queue_jobs(&app, &grant.id, &selected, SyncMode::Redeliver).await?;
        events::resync_queued(&app.metrics, &grant.id, SyncMode::Redeliver, jobs.len());
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({"grant_id": grant.id, "mode": SyncMode::Redeliver, "jobs": jobs})),
        )
            .into_response())
    };
    respond(&app, "retry_dead_letters", answer.await)
}

#[derive(Debug, Deserialize)]
pub(crate) struct DisconnectParams {
    #[serde(default)]
    purge: bool,
}

/// `DELETE /api/v1/connections/{grant}[?purge=true]`.
pub(crate) async fn disconnect(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(grant): Path<String>,
    params: Result<Query<DisconnectParams>, QueryRejection>,
) -> Response {
    let answer = async {
        authorize(&app, &headers)?;
        let Query(params) = params
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
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
        let mut answer = json!({"grant_id": id, "status": GrantStatus::Disconnected.as_str()});
        if params.purge {
            let sites: Vec<CloudId> = vault
                .sites(&id)
                .await
                .map_err(|e| Refusal::store(&e))?
                .into_iter()
                .map(|s| s.cloud_id)
                .collect();
            let jobs = queue_jobs(&app, &id, &sites, SyncMode::Purge).await?;
            events::resync_queued(&app.metrics, &id, SyncMode::Purge, jobs.len());
            answer["purge_jobs"] = json!(jobs);
        }
        Ok(Json(answer).into_response())
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
