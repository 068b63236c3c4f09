//! The indexer listener: `POST /v1/documents/batch` on the wire, the
//! inspection endpoints under `/_sim/indexer/`, and a TCP listener that drops
//! connections while the indexer is "down" in refuse mode.
//!
//! Transport only: it reads headers and a bounded body, calls
//! [`super::IndexerState`], and writes its answer.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use tokio::net::{TcpListener, TcpStream};

use super::BatchRequest;
use crate::respond::{json, status_of};
use crate::state::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/documents/batch", post(batch))
        .nest("/_sim/indexer", crate::control::http::indexer_router())
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn batch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (latency, max_bytes) = {
        let indexer = shared.indexer.lock();
        (indexer.latency_ms(), indexer.max_batch_bytes())
    };
    if latency > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(latency)) => {}
            () = shared.shutting_down() => {}
        }
    }
    let (parts, body) = request.into_parts();
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let bearer = crate::respond::bearer(&parts.headers).map(str::to_owned);
    let key = text("idempotency-key");
    // One byte over the limit is enough to know it is too large.
    let bytes = axum::body::to_bytes(body, max_bytes.saturating_add(1))
        .await
        .ok();
    let now = shared.clock.now_ms();
    let answer = shared.indexer.lock().batch(
        &BatchRequest {
            bearer: bearer.as_deref(),
            idempotency_key: key.as_deref(),
            body: bytes.as_deref().filter(|b| b.len() <= max_bytes),
        },
        now,
    );
    let mut response = json(status_of(answer.status), &answer.body);
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if answer.status == StatusCode::SERVICE_UNAVAILABLE.as_u16()
        && shared.indexer.lock().refusing(now)
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A TCP listener that drops new connections while the indexer is down in
/// refuse mode, so clients see a connection error instead of an answer.
pub(crate) struct RefusingListener {
    pub inner: TcpListener,
    pub shared: Arc<Shared>,
}

impl axum::serve::Listener for RefusingListener {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let now = self.shared.clock.now_ms();
                    if self.shared.indexer.lock().refusing(now) {
                        drop(stream);
                        continue;
                    }
                    return (stream, addr);
                }
                // Transient accept errors (e.g. too many open files): back off briefly.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
