//! `confsync`, the operator CLI. One subcommand per operator task; each
//! lives in its own module and only wires library crates together (no
//! business logic here): `render` converts a body locally; `connections`,
//! `show`, `resync` and `disconnect` call the receiver's operator API.

mod api;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "confsync",
    version,
    about = "Operate confsync, the Confluence-to-index sync daemon"
)]
struct Cli {
    #[command(flatten)]
    endpoint: api::Endpoint,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert a Confluence body read on stdin to Markdown on stdout, as the
    /// worker would index it.
    Render(render::Args),
    /// List connections (grants) with their status and sites.
    Connections(api::ListArgs),
    /// Show one connection as JSON.
    Show {
        /// The connection (grant id).
        grant: String,
    },
    /// Queue a sync of a connection's sites (coalesced with a running one).
    Resync(api::ResyncArgs),
    /// Disconnect a connection: delete its tokens and stop its syncs.
    Disconnect(api::DisconnectArgs),
    /// List what the indexer refused for a connection's sites.
    DeadLetters(api::DeadLetterArgs),
    /// Queue a redelivery of a connection's dead letters.
    Retry(api::RetryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => render::run(&args),
        Command::Connections(args) => api::list(&cli.endpoint, &args),
        Command::Show { grant } => api::show(&cli.endpoint, &grant),
        Command::Resync(args) => api::resync(&cli.endpoint, &args),
        Command::Disconnect(args) => api::disconnect(&cli.endpoint, &args),
        Command::DeadLetters(args) => api::dead_letters(&cli.endpoint, &args),
        Command::Retry(args) => api::retry(&cli.endpoint, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The one place the CLI talks to the operator about a failure.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("confsync: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}
