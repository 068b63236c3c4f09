//! `confsync-receiver`: loads settings, sets up logging, binds the ops port and
//! hands over to [`confsync_receiver::run`] until SIGTERM or SIGINT.

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
                eprintln!("confsync-receiver: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_logging(&settings.log);
    let listener = tokio::net::TcpListener::bind(settings.receiver.listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on receiver.listen_addr {}",
                settings.receiver.listen_addr
            )
        })?;
    confsync_receiver::run(settings, listener, shutdown::signal()).await?;
    Ok(())
}
