//! The auth listener: `GET /authorize` and `POST /oauth/token` on the wire.
//!
//! Parses and validates transport details (query strings, JSON or form
//! bodies), runs the fault gate, asks [`super::AuthState`] and maps its
//! answers to Atlassian's status codes and bodies. Holds no OAuth rules.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::{Consent, TokenError, TokenRequest};
use crate::faults::{Listener, RequestFacts};
use crate::reqlog::Finished;
use crate::respond::{self, FaultAnswer, json};
use crate::state::Shared;

/// Token requests are tiny; anything bigger is hostile.
const MAX_TOKEN_BODY: usize = 64 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_TOKEN_BODY))
        .with_state(shared)
}

async fn not_found() -> Response {
    respond::error_status(404)
}

/// Runs the fault gate for an auth request; `Err` carries the fault's answer.
async fn gate(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
) -> Result<Option<u64>, (Response, Option<u64>)> {
    let facts = RequestFacts {
        listener: Listener::Auth,
        method: method.as_str(),
        path: uri.path(),
        cloud_id: None,
        limit: None,
    };
    let (gate, answer) = respond::fault_gate(shared, &facts).await;
    match answer {
        None => Ok(gate.fault),
        Some(FaultAnswer::Respond(response) | FaultAnswer::RateLimited { response, .. }) => {
            Err((response, gate.fault))
        }
    }
}

fn finish(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    response: &Response,
    fault: Option<u64>,
    arrived: i64,
    token_issued: bool,
) {
    respond::record(
        shared,
        Finished {
            listener: Listener::Auth,
            method: method.to_string(),
            path: respond::path_and_query(uri),
            cloud_id: None,
            status: response.status().as_u16(),
            points: 0,
            flagged: false,
            fault,
            token_issued,
        },
        arrived,
    );
}

async fn authorize(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let arrived = shared.clock.now_ms();
    let fault = match gate(&shared, &method, &uri).await {
        Ok(fault) => fault,
        Err((response, fault)) => {
            finish(&shared, &method, &uri, &response, fault, arrived, false);
            return response;
        }
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let now = shared.clock.now_ms();
    let decision = {
        let mut auth = shared.auth.lock();
        auth.validate_authorize(&params).map(|request| {
            let redirect = (request.redirect_uri.clone(), request.state.clone());
            (redirect, auth.consent(request, now))
        })
    };
    let response = match decision {
        Err(reason) => error_page(&reason),
        Ok(((redirect_uri, state), Consent::Approved { code })) => {
            redirect(&redirect_uri, &[("code", &code), ("state", &state)])
        }
        Ok(((redirect_uri, state), Consent::Declined)) => redirect(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "User did not authorize the request"),
                ("state", &state),
            ],
        ),
    };
    finish(&shared, &method, &uri, &response, fault, arrived, false);
    response
}

fn error_page(reason: &str) -> Response {
    let mut escaped = String::new();
    crate::site::body::escape(reason, &mut escaped);
    let page = format!(
        "<!DOCTYPE html><html><head><title>Something went wrong</title></head><body><h1>Something went wrong</h1><p>{escaped}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

fn redirect(base: &str, params: &[(&str, &str)]) -> Response {
    let location = match url::Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        // Validation accepted it, so this cannot happen; answer like a bad request.
        Err(_) => return error_page("redirect_uri is not a URL"),
    };
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => error_page("redirect_uri is not a valid header value"),
    }
}

async fn token(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = shared.clock.now_ms();
    let fault = match gate(&shared, &method, &uri).await {
        Ok(fault) => fault,
        Err((response, fault)) => {
            finish(&shared, &method, &uri, &response, fault, arrived, false);
            return response;
        }
    };
    let now = shared.clock.now_ms();
    let result = parse_token_request(&headers, &body)
        .and_then(|request| shared.auth.lock().token(request, now));
    let issued = result.is_ok();
    let mut response = match result {
        Ok(tokens) => json(
            StatusCode::OK,
            &serde_json::to_value(tokens).unwrap_or_default(),
        ),
        Err(error) => token_error(&error),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    finish(&shared, &method, &uri, &response, fault, arrived, issued);
    response
}

fn token_error(error: &TokenError) -> Response {
    json(
        respond::status_of(error.status),
        &serde_json::json!({"error": error.error, "error_description": error.description}),
    )
}

/// Reads a token request from a JSON body (Atlassian's docs) or a form body
/// (what standard OAuth clients send).
fn parse_token_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, TokenError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let fields: Vec<(String, String)> = if content_type.starts_with("application/json") {
        json_fields(body)?
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        return Err(bad_request(
            "Content-Type must be application/json or application/x-www-form-urlencoded",
        ));
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Ok(TokenRequest {
        grant_type: get("grant_type"),
        client_id: get("client_id"),
        client_secret: get("client_secret"),
        code: get("code"),
        redirect_uri: get("redirect_uri"),
        refresh_token: get("refresh_token"),
    })
}

fn bad_request(description: &str) -> TokenError {
    TokenError {
        status: 400,
        error: "invalid_request",
        description: description.to_owned(),
    }
}

fn json_fields(body: &[u8]) -> Result<Vec<(String, String)>, TokenError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad_request("the body is not valid JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad_request("the body must be a JSON object"))?;
    object
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(bad_request("every field must be a string")),
        })
        .collect()
}
