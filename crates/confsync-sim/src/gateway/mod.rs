//! The API listener (api.atlassian.com): accessible-resources and the
//! Confluence gateway under `/ex/confluence/{cloud_id}/wiki/`, plus the
//! simulator's control API under `/_sim/`.
//!
//! Every gateway request runs one pipeline: bearer token (401; expired: 404
//! on v2, 403 on v1), site coverage, scope (401 + `X-Failure-Category`),
//! quota (429), faults, the endpoint, then points, rate-limit headers and the
//! request log. Endpoint logic lives in [`confluence`] and [`identity`].

pub(crate) mod confluence;
pub(crate) mod cursor;
pub(crate) mod identity;
pub(crate) mod listing;
pub(crate) mod query;
pub(crate) mod render;
pub(crate) mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::{BearerError, Principal};
use crate::clock::Millis;
use crate::faults::{Listener, RequestFacts};
use crate::quota::Admission;
use crate::reqlog::Finished;
use crate::respond::{self, FaultAnswer, bearer, json, json_bytes, path_and_query};
use crate::state::Shared;
use query::Query;
use routes::{Endpoint, Route, RouteError};

/// A successful endpoint answer: JSON bytes, how many metered objects it
/// holds, and the `Link` header when there is a next page.
#[derive(Debug)]
pub(crate) struct ApiOk {
    pub body: Vec<u8>,
    /// Points for the objects returned (1 per content object, 2 per user).
    pub object_points: u64,
    pub link: Option<String>,
}

impl ApiOk {
    pub(crate) fn json(value: &Value, object_points: u64) -> Self {
        ApiOk {
            body: value.to_string().into_bytes(),
            object_points,
            link: None,
        }
    }
}

/// An error answer with its body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    /// Confluence v2's error envelope.
    fn v2(status: u16, code: &str, title: &str) -> Self {
        ApiError {
            status,
            body: json!({"errors": [{"status": status, "code": code, "title": title, "detail": null}]}),
        }
    }

    pub(crate) fn bad_request(title: &str) -> Self {
        Self::v2(400, "INVALID_REQUEST_PARAMETER", title)
    }

    pub(crate) fn not_found() -> Self {
        Self::v2(404, "NOT_FOUND", "Not Found")
    }

    /// The gateway's own errors: `{"code", "message"}`.
    fn gateway(status: u16, message: &str) -> Self {
        ApiError {
            status,
            body: json!({"code": status, "message": message}),
        }
    }

    fn into_response(self) -> Response {
        json(respond::status_of(self.status), &self.body)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/oauth/token/accessible-resources",
            get(accessible_resources),
        )
        .nest("/_sim", crate::control::http::router())
        .fallback(gateway)
        .with_state(shared)
}

async fn accessible_resources(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let arrived = shared.clock.now_ms();
    let principal = bearer(&headers)
        .ok_or(BearerError::Invalid)
        .and_then(|token| shared.auth.lock().authenticate(token, arrived));
    let response = match principal {
        Ok(principal) => {
            let sites: Vec<_> = shared.sites.iter().map(|s| s.info.clone()).collect();
            let body = identity::accessible_resources(
                &principal,
                &sites,
                shared.config.seed,
                shared.config.jira_only_site,
            );
            json(StatusCode::OK, &body)
        }
        // The identity service answers 401 for expired tokens too.
        Err(_) => ApiError::gateway(401, "Unauthorized").into_response(),
    };
    log(
        &shared,
        &method,
        &uri,
        None,
        &response,
        Meter::default(),
        arrived,
    );
    response
}

/// What the pipeline learned about a request, for the log.
#[derive(Debug, Default, Clone, Copy)]
struct Meter {
    points: u64,
    flagged: bool,
    fault: Option<u64>,
}

fn log(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    cloud_id: Option<String>,
    response: &Response,
    meter: Meter,
    arrived: Millis,
) {
    respond::record(
        shared,
        Finished {
            listener: Listener::Api,
            method: method.to_string(),
            path: path_and_query(uri),
            cloud_id,
            status: response.status().as_u16(),
            points: meter.points,
            flagged: meter.flagged,
            fault: meter.fault,
            token_issued: false,
        },
        arrived,
    );
}

async fn gateway(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let arrived = shared.clock.now_ms();
    let route = routes::parse(uri.path());
    let cloud_id = match &route {
        Ok(r) => Some(r.cloud_id.clone()),
        Err(RouteError::UnknownEndpoint { cloud_id, .. } | RouteError::BadId { cloud_id, .. }) => {
            Some(cloud_id.clone())
        }
        Err(RouteError::NotGateway) => None,
    };
    let mut meter = Meter::default();
    let response = match admit(&shared, &method, route, &headers, arrived) {
        Err(rejected) => {
            meter.flagged = rejected.flagged;
            sleep_base_latency(&shared).await;
            *rejected.response
        }
        Ok(admitted) => {
            meter.flagged = admitted.flagged;
            serve(&shared, &method, &uri, admitted, &mut meter).await
        }
    };
    log(&shared, &method, &uri, cloud_id, &response, meter, arrived);
    response
}

async fn sleep_base_latency(shared: &Arc<Shared>) {
    let latency = shared.config.latency;
    if !latency.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(latency) => {}
            () = shared.shutting_down() => {}
        }
    }
}

/// A request that passed authentication, site and scope checks and quota.
struct Admitted {
    route: Route,
    site: usize,
    principal: Principal,
    flagged: bool,
}

/// A request refused before reaching the endpoint.
struct Rejected {
    response: Box<Response>,
    flagged: bool,
}

impl From<Response> for Rejected {
    fn from(response: Response) -> Self {
        Rejected {
            response: Box::new(response),
            flagged: false,
        }
    }
}

/// Authentication, routing, site coverage, scope and quota. `Err` is the
/// final answer (unmetered, except quota 429s which carry the headers).
fn admit(
    shared: &Shared,
    method: &Method,
    route: Result<Route, RouteError>,
    headers: &HeaderMap,
    now: Millis,
) -> Result<Admitted, Rejected> {
    let token = bearer(headers)
        .ok_or_else(|| Rejected::from(ApiError::gateway(401, "Unauthorized").into_response()))?;
    let auth = shared.auth.lock().authenticate(token, now);
    let is_v1 = match &route {
        Ok(r) => r.endpoint.is_v1(),
        Err(RouteError::UnknownEndpoint { v1, .. }) => *v1,
        _ => false,
    };
    let principal = match auth {
        Ok(principal) => principal,
        Err(BearerError::Invalid) => {
            return Err(ApiError::gateway(401, "Unauthorized")
                .into_response()
                .into());
        }
        // The gateway's quirk: an expired token reaches Confluence as an
        // anonymous caller, which sees nothing (v2: 404) or is refused (v1: 403).
        Err(BearerError::Expired) if is_v1 => {
            return Err(
                identity::v1_error(403, "Current user not permitted to use Confluence")
                    .into_response()
                    .into(),
            );
        }
        Err(BearerError::Expired) if route.is_ok() => {
            return Err(ApiError::not_found().into_response().into());
        }
        Err(BearerError::Expired) => {
            return Err(ApiError::gateway(401, "Unauthorized")
                .into_response()
                .into());
        }
    };
    let route = match route {
        Ok(route) => route,
        Err(RouteError::NotGateway) => {
            return Err(ApiError::gateway(404, "Not Found").into_response().into());
        }
        Err(RouteError::UnknownEndpoint { v1: true, .. }) => {
            return Err(identity::v1_error(404, "null for uri")
                .into_response()
                .into());
        }
        Err(RouteError::UnknownEndpoint { .. }) => {
            return Err(ApiError::not_found().into_response().into());
        }
        Err(RouteError::BadId { value, .. }) => {
            return Err(ApiError::bad_request(&format!("Invalid id: {value}"))
                .into_response()
                .into());
        }
    };
    let site = shared
        .site_index(&route.cloud_id)
        .ok_or_else(|| Rejected::from(ApiError::gateway(404, "Not Found").into_response()))?;
    if !principal.sites.contains(&site) {
        return Err(ApiError::gateway(401, "Unauthorized")
            .into_response()
            .into());
    }
    if !principal.has_scope(route.endpoint.scope()) {
        let mut response =
            ApiError::gateway(401, "Unauthorized; scope does not match").into_response();
        response.headers_mut().insert(
            "X-Failure-Category",
            HeaderValue::from_static("FAILURE_CLIENT_SCOPE_CHECK"),
        );
        return Err(response.into());
    }
    if method != Method::GET {
        return Err(ApiError::gateway(405, "Method Not Allowed")
            .into_response()
            .into());
    }
    let mut quota = shared.quota.lock();
    let flagged = quota.is_early(Some(site), now);
    match quota.admit(Some(site), now) {
        Admission::Allowed => Ok(Admitted {
            route,
            site,
            principal,
            flagged,
        }),
        Admission::Denied {
            reason,
            retry_after_secs,
        } => {
            let mut response = respond::rate_limited(reason, Some(retry_after_secs));
            add_quota_headers(&mut response, &quota.headers(Some(site), now));
            Err(Rejected {
                response: Box::new(response),
                flagged,
            })
        }
    }
}

fn add_quota_headers(response: &mut Response, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
}

/// Faults, the endpoint, points and headers for an admitted request.
async fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    admitted: Admitted,
    meter: &mut Meter,
) -> Response {
    let query = Query::parse(uri.query().unwrap_or(""));
    let limit = query.first("limit").and_then(|l| l.parse::<u32>().ok());
    let facts = RequestFacts {
        listener: Listener::Api,
        method: method.as_str(),
        path: uri.path(),
        cloud_id: Some(&admitted.route.cloud_id),
        limit,
    };
    let (gate, answer) = respond::fault_gate(shared, &facts).await;
    meter.fault = gate.fault;
    let site = admitted.site;
    let (mut response, points) = match answer {
        Some(FaultAnswer::Respond(response)) => (response, 1),
        Some(FaultAnswer::RateLimited {
            response,
            reason,
            retry_after,
        }) => {
            if let Some(secs) = retry_after {
                let now = shared.clock.now_ms();
                shared
                    .quota
                    .lock()
                    .announce_retry_after(reason, secs, Some(site), now);
            }
            (response, 0)
        }
        None => run_endpoint(shared, admitted, query).await,
    };
    let now = shared.clock.now_ms();
    let headers = {
        let mut quota = shared.quota.lock();
        quota.charge(Some(site), points, now);
        quota.headers(Some(site), now)
    };
    meter.points = points;
    add_quota_headers(&mut response, &headers);
    if gate.truncate {
        response = respond::truncate(response).await;
    }
    response
}

/// Runs the endpoint off the async workers (bodies can be megabytes).
async fn run_endpoint(shared: &Arc<Shared>, admitted: Admitted, query: Query) -> (Response, u64) {
    let shared = Arc::clone(shared);
    let result = tokio::task::spawn_blocking(move || {
        let slot = &shared.sites[admitted.site];
        let info = &slot.info;
        match admitted.route.endpoint {
            Endpoint::V1User => identity::user(&query, &shared.users, info),
            Endpoint::V1UserBulk => identity::bulk(&query, &shared.users, info),
            Endpoint::V1UserCurrent => {
                Ok(identity::current(&admitted.principal, &shared.users, info))
            }
            _ => confluence::handle(&confluence::Request {
                site: slot,
                users: &shared.users,
                route: &admitted.route,
                query: &query,
            }),
        }
    })
    .await;
    match result {
        Ok(Ok(ok)) => {
            let mut response = json_bytes(StatusCode::OK, ok.body);
            if let Some(link) = ok.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
                response.headers_mut().insert(header::LINK, link);
            }
            (response, 1 + ok.object_points)
        }
        Ok(Err(error)) => (error.into_response(), 1),
        Err(_) => (respond::error_status(500), 1),
    }
}
