//! The ops endpoints every confsync server exposes: `/healthz` (the process
//! answers), `/readyz` (its dependencies answer) and `/metrics` (Prometheus
//! text format). Readiness checks are passed in: this module knows nothing
//! about Redis.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder as _, Registry, TextEncoder};

/// An async readiness check: `Ok` when the dependency answers, else a short
/// reason safe to show (no secrets, no addresses with passwords).
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How long `/readyz` waits for a check before calling it failed.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct OpsState {
    registry: Registry,
    readiness: ReadinessCheck,
}

/// The ops routes, to be merged into a server's router.
pub fn router(registry: Registry, readiness: ReadinessCheck) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(OpsState {
            registry,
            readiness,
        })
}

async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let outcome = tokio::time::timeout(READINESS_TIMEOUT, (state.readiness)())
        .await
        .unwrap_or_else(|_| Err("readiness check timed out".to_owned()));
    match outcome {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        )
            .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "not_ready", "reason": reason})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    fn check(result: Result<(), String>) -> ReadinessCheck {
        Arc::new(move || {
            let result = result.clone();
            Box::pin(async move { result })
        })
    }

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_follows_the_check_and_healthz_does_not() {
        let registry = crate::telemetry::new_registry("test").unwrap();
        let down = router(
            registry.clone(),
            check(Err("redis: connection refused".into())),
        );
        assert_eq!(get(down.clone(), "/healthz").await.0, StatusCode::OK);
        let (status, body) = get(down, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("connection refused"), "{body}");
        let up = router(registry, check(Ok(())));
        assert_eq!(get(up, "/readyz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text_with_the_prefix() {
        let registry = crate::telemetry::new_registry("test").unwrap();
        let (status, body) = get(router(registry, check(Ok(()))), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("# TYPE confsync_build_info gauge"), "{body}");
        assert!(
            body.contains(r#"confsync_build_info{component="test",version="#),
            "{body}"
        );
    }
}
