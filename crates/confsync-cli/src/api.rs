//! The operator subcommands that talk to the receiver's operator API
//! (`/api/v1/connections…`) with the bearer API token. They print what the
//! API answers, readably, and turn its error codes into clear failures; they
//! hold no logic of their own.

use anyhow::{Context as _, bail};
use clap::{Args as ClapArgs, ValueEnum};
use serde_json::{Value, json};

/// Where the receiver is and how to authenticate.
#[derive(Debug, ClapArgs)]
pub(crate) struct Endpoint {
    /// The receiver's base URL.
    #[arg(
        long,
        env = "CONFSYNC_URL",
        default_value = "http://127.0.0.1:8000",
        global = true
    )]
    url: String,
    /// The bearer API token (`API_TOKEN` of the receiver).
    #[arg(long, env = "API_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Mode {
    Incremental,
    Full,
    Reconcile,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Incremental => "incremental",
            Mode::Full => "full",
            Mode::Reconcile => "reconcile",
        }
    }
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ListArgs {
    /// Only this tenant's connections.
    #[arg(long)]
    tenant: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ResyncArgs {
    /// The connection (grant id).
    grant: String,
    #[arg(long, value_enum, default_value_t = Mode::Incremental)]
    mode: Mode,
    /// Only this site (cloud id); every site of the connection otherwise.
    #[arg(long)]
    site: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DisconnectArgs {
    /// The connection (grant id).
    grant: String,
    /// Also delete every document of its sites from the index.
    #[arg(long)]
    purge: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DeadLetterArgs {
    /// The connection (grant id).
    grant: String,
    /// Only this site (cloud id).
    #[arg(long)]
    site: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RetryArgs {
    /// The connection (grant id).
    grant: String,
    /// Only this site (cloud id).
    #[arg(long)]
    site: Option<String>,
}

/// A small blocking facade over the async HTTP client.
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    fn new(endpoint: &Endpoint) -> anyhow::Result<Api> {
        let token = endpoint
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .context("no API token: pass --token or set API_TOKEN")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Api {
            base: endpoint.url.trim_end_matches('/').to_owned(),
            token,
            http,
            runtime,
        })
    }

    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .with_context(|| format!("cannot reach the receiver at {}", self.base))?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(body);
            }
            match (body["error"].as_str(), body["message"].as_str()) {
                (Some(code), Some(message)) => {
                    bail!("{message} ({code}, http {})", status.as_u16())
                }
                _ => bail!("the receiver answered http {}", status.as_u16()),
            }
        })
    }
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}

fn connection_path(grant: &str) -> anyhow::Result<String> {
    if grant.is_empty()
        || !grant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
    {
        bail!("`{grant}` is not a grant id");
    }
    Ok(format!("/api/v1/connections/{grant}"))
}

/// `confsync connections`.
pub(crate) fn list(endpoint: &Endpoint, args: &ListArgs) -> anyhow::Result<()> {
    let api = Api::new(endpoint)?;
    let path = match &args.tenant {
        Some(tenant) => format!("/api/v1/connections?tenant_id={}", urlencode(tenant)),
        None => "/api/v1/connections".to_owned(),
    };
    let body = api.call(reqwest::Method::GET, &path, None)?;
    if args.json {
        return print_json(&body);
    }
    let empty = Vec::new();
    let connections = body["connections"].as_array().unwrap_or(&empty);
    let mut out = format!(
        "{:<28} {:<20} {:<13} {:>5}  last error\n",
        "grant", "tenant", "status", "sites"
    );
    for c in connections {
        out.push_str(&format!(
            "{:<28} {:<20} {:<13} {:>5}  {}\n",
            c["grant_id"].as_str().unwrap_or("?"),
            c["tenant_id"].as_str().unwrap_or("?"),
            c["status"].as_str().unwrap_or("?"),
            c["sites"].as_array().map_or(0, Vec::len),
            c["last_error"].as_str().unwrap_or("-"),
        ));
    }
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(())
}

/// `confsync show GRANT`.
pub(crate) fn show(endpoint: &Endpoint, grant: &str) -> anyhow::Result<()> {
    let api = Api::new(endpoint)?;
    print_json(&api.call(reqwest::Method::GET, &connection_path(grant)?, None)?)
}

/// `confsync resync GRANT [--mode M] [--site C]`.
pub(crate) fn resync(endpoint: &Endpoint, args: &ResyncArgs) -> anyhow::Result<()> {
    let api = Api::new(endpoint)?;
    let mut body = json!({"mode": args.mode.as_str()});
    if let Some(site) = &args.site {
        body["site"] = json!(site);
    }
    let path = format!("{}/resync", connection_path(&args.grant)?);
    let answer = api.call(reqwest::Method::POST, &path, Some(body))?;
    print_jobs(&answer["jobs"], &format!("{} sync", args.mode.as_str()))
}

/// One line per queued job of an answer.
fn print_jobs(jobs: &Value, what: &str) -> anyhow::Result<()> {
    let empty = Vec::new();
    let mut out = String::new();
    for job in jobs.as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "queued {what} of site {} as {}\n",
            job["cloud_id"].as_str().unwrap_or("?"),
            job["job_id"].as_str().unwrap_or("?")
        ));
    }
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(())
}

/// `confsync disconnect GRANT [--purge]`.
pub(crate) fn disconnect(endpoint: &Endpoint, args: &DisconnectArgs) -> anyhow::Result<()> {
    let api = Api::new(endpoint)?;
    let mut path = connection_path(&args.grant)?;
    if args.purge {
        path.push_str("?purge=true");
    }
    let answer = api.call(reqwest::Method::DELETE, &path, None)?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "disconnected {}: its tokens are deleted and it no longer syncs",
            args.grant
        );
    }
    if args.purge {
        print_jobs(&answer["purge_jobs"], "purge from the index")?;
    }
    Ok(())
}

/// `confsync dead-letters GRANT [--site C] [--json]`.
pub(crate) fn dead_letters(endpoint: &Endpoint, args: &DeadLetterArgs) -> anyhow::Result<()> {
    let api = Api::new(endpoint)?;
    let mut path = format!("{}/dead-letters", connection_path(&args.grant)?);
    if let Some(site) = &args.site {
        path.push_str(&format!("?site={}", urlencode(site)));
    }
    let body = api.call(reqwest::Method::GET, &path, None)?;
    if args.json {
        return print_json(&body);
    }
    let empty = Vec::new();
    let letters = body["dead_letters"].as_array().unwrap_or(&empty);
    let mut out = format!("{:<6} {:>6}  {:<48} reason\n", "op", "status", "document");
    for letter in letters {
        out.push_str(&format!(
            "{:<6} {:>6}  {:<48} {}\n",
            letter["op"].as_str().unwrap_or("?"),
            letter["status"].as_u64().unwrap_or(0),
            letter["document_id"].as_str().unwrap_or("?"),
            letter["reason"].as_str().unwrap_or("-"),
        ));
    }
    out.push_str(&format!("{} dead letter(s)\n", letters.len()));
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(())
}

/// `confsync retry GRANT [--site C]`.
pub(crate) fn retry(endpoint: &Endpoint, args: &RetryArgs) -> anyhow::Result<()> {
    let api = Api::new(endpoint)?;
    let body = match &args.site {
        Some(site) => json!({"site": site}),
        None => json!({}),
    };
    let path = format!("{}/dead-letters/retry", connection_path(&args.grant)?);
    let answer = api.call(reqwest::Method::POST, &path, Some(body))?;
    print_jobs(&answer["jobs"], "redelivery of the dead letters")
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
