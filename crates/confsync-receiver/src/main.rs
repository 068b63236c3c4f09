//! `confsync-receiver`: loads settings, binds `receiver.listen_addr` and runs
//! [`confsync_receiver::run`] until SIGTERM or SIGINT.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    confsync_runtime::process::serve_main(
        "confsync-receiver",
        |settings| ("receiver.listen_addr", settings.receiver.listen_addr),
        confsync_receiver::run,
    )
    .await
}
