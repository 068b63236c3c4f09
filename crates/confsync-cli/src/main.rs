//! `confsync`, the operator CLI. One subcommand per operator task; each
//! lives in its own module and only wires library crates together (no
//! business logic here). Today: `render`.

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert a Confluence body read on stdin to Markdown on stdout, as the
    /// worker would index it.
    Render(render::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => render::run(&args),
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
