//! HTTP plumbing shared by the auth and API listeners: JSON responses, the
//! fault gate every request passes, and the request-log entry each one
//! leaves.
//!
//! No business rules: what a fault or an error means is decided by the
//! caller; this module only turns decisions into responses.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::faults::{FaultKind, Listener, RequestFacts};
use crate::quota::LimitReason;
use crate::reqlog::Finished;
use crate::state::Shared;

/// The request target as received, for the request log.
pub(crate) fn path_and_query(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    json_bytes(status, value.to_string().into_bytes())
}

pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

pub(crate) fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// What the fault gate decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// The rule that shaped the answer.
    pub fault: Option<u64>,
    /// Cut the body of the real answer in half.
    pub truncate: bool,
}

/// What a fired rule turns into, when it answers in place of the handler.
pub(crate) enum FaultAnswer {
    Respond(Response),
    RateLimited {
        response: Response,
        reason: LimitReason,
        retry_after: Option<u64>,
    },
}

/// Applies latency (configured and from rules) and picks the fault action.
/// Returns the gate and, when a rule answers instead of the handler, the answer.
pub(crate) async fn fault_gate(
    shared: &Arc<Shared>,
    facts: &RequestFacts<'_>,
) -> (Gate, Option<FaultAnswer>) {
    let plan = shared.faults.lock().plan(facts);
    let base = if facts.listener == Listener::Api {
        shared.config.latency
    } else {
        Duration::ZERO
    };
    let delay = base + plan.delay;
    if !delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.shutting_down() => {}
        }
    }
    let Some((id, kind)) = plan.action else {
        return (Gate::default(), None);
    };
    let mut gate = Gate {
        fault: Some(id),
        truncate: false,
    };
    let answer = match kind {
        FaultKind::TruncatedJson => {
            gate.truncate = true;
            None
        }
        FaultKind::Status { status } => Some(FaultAnswer::Respond(error_status(status))),
        FaultKind::GatewayTimeoutOverLimit { .. } => Some(FaultAnswer::Respond(error_status(504))),
        FaultKind::Timeout { secs } => {
            let wait = secs.map_or(shared.config.timeout_fault_duration, Duration::from_secs);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shared.shutting_down() => {}
            }
            Some(FaultAnswer::Respond(error_status(504)))
        }
        FaultKind::RateLimited {
            retry_after_secs,
            reason,
        } => Some(FaultAnswer::RateLimited {
            response: rate_limited(reason, retry_after_secs),
            reason,
            retry_after: retry_after_secs,
        }),
        FaultKind::Latency { .. } => None,
    };
    (gate, answer)
}

/// An error page as a gateway or backend would send it.
pub(crate) fn error_status(status: u16) -> Response {
    let code = status_of(status);
    let message = code.canonical_reason().unwrap_or("Error");
    json(
        code,
        &serde_json::json!({"code": status, "message": message}),
    )
}

/// A 429, with `Retry-After` when given.
pub(crate) fn rate_limited(reason: LimitReason, retry_after: Option<u64>) -> Response {
    let mut response = json(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::json!({"code": 429, "message": "Rate limit exceeded"}),
    );
    let headers = response.headers_mut();
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    headers.insert(
        "RateLimit-Reason",
        HeaderValue::from_static(reason.header()),
    );
    response
}

/// Replaces a response body by its first half (a truncated-JSON fault).
pub(crate) async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.status = StatusCode::OK;
    Response::from_parts(parts, Body::from(half))
}

/// Writes the request-log entry, stamped with the request's arrival time.
pub(crate) fn record(shared: &Shared, done: Finished, arrived: crate::clock::Millis) {
    shared.log.lock().record(done, arrived);
}
