//! The `main` of a confsync server, shared so each binary's `main` is one
//! call: load settings, start logging, bind the listen address, run until
//! SIGTERM/SIGINT, and turn any failure into a message on stderr and a
//! non-zero exit code.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;

use crate::settings::Settings;
use crate::{shutdown, telemetry};

/// Runs a server binary. `listen` names the settings key of its address and
/// reads it; `run` is the server's `run(settings, listener, shutdown)`.
pub async fn serve_main<R, Fut, E>(
    name: &str,
    listen: fn(&Settings) -> (&'static str, SocketAddr),
    run: R,
) -> ExitCode
where
    R: FnOnce(Settings, TcpListener, shutdown::Signal) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => return fail(name, &error),
    };
    telemetry::init_logging(&settings.log);
    let (key, addr) = listen(&settings);
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => return fail(name, &format!("cannot listen on {key} {addr}: {error}")),
    };
    match run(settings, listener, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "{name} failed");
            fail(name, &error)
        }
    }
}

fn fail(name: &str, error: &dyn Display) -> ExitCode {
    // Logging may not be up yet (bad settings), so stderr it is.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{name}: {error}");
    }
    ExitCode::FAILURE
}
