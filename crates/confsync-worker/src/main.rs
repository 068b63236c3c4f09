//! `confsync-worker`: loads settings, sets up logging, binds the ops port and
//! hands over to [`confsync_worker::run`] until SIGTERM or SIGINT.

use std::process::ExitCode;

use anyhow::Context as _;
use confsync_runtime::{Settings, shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Logging may not be up yet (bad settings), so stderr it is.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("confsync-worker: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_logging(&settings.log);
    let listener = tokio::net::TcpListener::bind(settings.worker.listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on worker.listen_addr {}",
                settings.worker.listen_addr
            )
        })?;
    confsync_worker::run(settings, listener, shutdown::signal()).await?;
    Ok(())
}
