//! Shutdown: the OS signals a container receives, turned into a future, and
//! helpers to serve HTTP until that future completes.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

/// The future [`signal`] returns.
pub type Signal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Completes on SIGTERM or SIGINT (Ctrl-C).
///
/// The handlers are installed here, before this returns, not when the future
/// is first polled: a signal that arrives while the server is still starting
/// is caught rather than killing the process with the default action. Must be
/// called inside a tokio runtime.
#[cfg(unix)]
pub fn signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal as install};
    let handlers = install(SignalKind::terminate())
        .and_then(|term| Ok((term, install(SignalKind::interrupt())?)));
    match handlers {
        Ok((mut term, mut int)) => Box::pin(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
            }
        }),
        Err(error) => {
            tracing::error!(%error, "cannot install signal handlers; stop the process with SIGKILL");
            Box::pin(std::future::pending())
        }
    }
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub fn signal() -> Signal {
    Box::pin(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received, shutting down");
        } else {
            std::future::pending::<()>().await;
        }
    })
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
