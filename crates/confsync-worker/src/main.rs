//! `confsync-worker`: loads settings, binds `worker.listen_addr` and runs
//! [`confsync_worker::run`] until SIGTERM or SIGINT.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    confsync_runtime::process::serve_main(
        "confsync-worker",
        |settings| ("worker.listen_addr", settings.worker.listen_addr),
        confsync_worker::run,
    )
    .await
}
