//! `confsync-sim`: runs the simulator as a process for scripts, the demo and
//! benchmarks. Parses the fixed command line, starts [`confsync_sim::Sim`],
//! prints its URLs (and generated credentials), writes `--addr-file`, and
//! shuts down cleanly on SIGINT or SIGTERM. No simulator logic lives here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use confsync_sim::{Sim, SimConfig};

/// A faithful simulator of auth.atlassian.com, api.atlassian.com (Confluence
/// Cloud through the gateway) and the AINexLayer indexer, on loopback.
///
/// The control API is served under /_sim/ on the API URL (see the crate's
/// README).
#[derive(Debug, Parser)]
#[command(name = "confsync-sim", version)]
struct Args {
    /// Seed of the generated sites (same seed, same sites and bodies).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of Confluence sites.
    #[arg(long, default_value_t = 1)]
    sites: usize,
    /// Pages per site (blog posts, comments, users and spaces are derived).
    #[arg(long, default_value_t = 200)]
    pages: usize,
    /// OAuth client id; a random one is generated and printed when absent.
    #[arg(long)]
    client_id: Option<String>,
    /// OAuth client secret; a random one is generated and printed when absent.
    #[arg(long)]
    client_secret: Option<String>,
    /// Lifetime of access tokens (`expires_in`), in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl_secs: u64,
    /// How long a rotated-out refresh token may still be used, in seconds;
    /// reuse after that revokes the whole token family.
    #[arg(long, default_value_t = 600)]
    reuse_window_secs: u64,
    /// The app-wide points quota per window.
    #[arg(long, default_value_t = 65_000)]
    quota_points: u64,
    /// Length of a quota window in seconds (windows align on the epoch, so
    /// 3600 resets at the top of each UTC hour).
    #[arg(long, default_value_t = 3600)]
    quota_window_secs: u64,
    /// Latency added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Bearer token the indexer accepts; a random one is printed when absent.
    #[arg(long)]
    indexer_token: Option<String>,
    /// Write {"auth_url", "api_url", "indexer_url"} as JSON here once listening.
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// Address of the auth listener (default 127.0.0.1 with a free port).
    #[arg(long)]
    auth_addr: Option<SocketAddr>,
    /// Address of the API listener (default 127.0.0.1 with a free port).
    #[arg(long)]
    api_addr: Option<SocketAddr>,
    /// Address of the indexer listener (default 127.0.0.1 with a free port).
    #[arg(long)]
    indexer_addr: Option<SocketAddr>,
    /// A registered OAuth callback URL (repeatable). Without any, any
    /// absolute http(s) redirect_uri is accepted.
    #[arg(long = "callback-url")]
    callback_urls: Vec<String>,
}

impl Args {
    fn config(&self) -> SimConfig {
        let mut config = SimConfig::default()
            .seed(self.seed)
            .sites(self.sites)
            .pages(self.pages)
            .access_token_ttl(Duration::from_secs(self.access_token_ttl_secs))
            .reuse_window(Duration::from_secs(self.reuse_window_secs))
            .quota_points(self.quota_points)
            .quota_window(Duration::from_secs(self.quota_window_secs))
            .latency(Duration::from_millis(self.latency_ms));
        config.client_id = self.client_id.clone();
        config.client_secret = self.client_secret.clone();
        config.indexer_token = self.indexer_token.clone();
        config.auth_addr = self.auth_addr;
        config.api_addr = self.api_addr;
        config.indexer_addr = self.indexer_addr;
        config.callback_urls = self.callback_urls.clone();
        config
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Handlers first: scripts may send SIGTERM as soon as the banner appears.
    let signalled = shutdown_signal()?;
    let started = Instant::now();
    let handle = Sim::start(args.config())
        .await
        .context("starting the simulator")?;
    if let Some(path) = &args.addr_file {
        let addrs = serde_json::json!({
            "auth_url": handle.auth_url(),
            "api_url": handle.api_url(),
            "indexer_url": handle.indexer_url(),
        });
        std::fs::write(path, format!("{addrs}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print_banner(&args, &handle, started.elapsed());
    signalled.await;
    handle.shutdown().await;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_banner(args: &Args, handle: &confsync_sim::SimHandle, took: Duration) {
    println!(
        "confsync-sim listening (started in {} ms)",
        took.as_millis()
    );
    println!("auth_url={}", handle.auth_url());
    println!("api_url={}", handle.api_url());
    println!("indexer_url={}", handle.indexer_url());
    if args.client_id.is_none() {
        println!("client_id={}", handle.client_id());
    }
    if args.client_secret.is_none() {
        println!("client_secret={}", handle.client_secret());
    }
    if args.indexer_token.is_none() {
        println!("indexer_token={}", handle.indexer_token());
    }
    for site in handle.sites() {
        println!(
            "site cloud_id={} url={} name={}",
            site.cloud_id, site.url, site.name
        );
    }
    println!("control API: {}/_sim/state", handle.api_url());
}

/// Installs the SIGINT/SIGTERM handlers now and returns the future that
/// completes on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        // Without a handler there is nothing to wait for but the process end.
        let _ = tokio::signal::ctrl_c().await;
    })
}
