//! Shared test harness: simulator start-up, tokens, HTTP helpers.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use confsync_sim::{Sim, SimConfig, SimHandle};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Every scope the app asks for.
pub const ALL_SCOPES: &[&str] = &[
    "read:confluence-user",
    "read:page:confluence",
    "read:comment:confluence",
    "read:space:confluence",
    "offline_access",
];

/// A small frozen-clock simulator starting at 2026-01-01T10:30:00Z.
pub fn config() -> SimConfig {
    SimConfig::default()
        .seed(42)
        .pages(120)
        .freeze_clock(true)
        .start_time(Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap())
}

pub async fn start(config: SimConfig) -> SimHandle {
    Sim::start(config).await.expect("the simulator starts")
}

/// A client that does not follow redirects (the authorize tests read them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn cloud(sim: &SimHandle) -> String {
    sim.sites()[0].cloud_id.clone()
}

/// `{api_url}/ex/confluence/{cloud}`: what a `_links.next` is joined to.
pub fn gateway_base(sim: &SimHandle, cloud: &str) -> String {
    format!("{}/ex/confluence/{cloud}", sim.api_url())
}

pub fn wiki(sim: &SimHandle, cloud: &str) -> String {
    format!("{}/wiki", gateway_base(sim, cloud))
}

pub fn token(sim: &SimHandle) -> String {
    sim.mint_tokens(None, ALL_SCOPES).access_token
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("expected JSON, got {e}: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> Reply {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

pub async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Reply {
    let response = http.post(url).json(body).send().await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// Ids of a listing's results.
pub fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `_links.next` from `first` to the end; returns every id in order.
pub async fn crawl(sim: &SimHandle, token: &str, cloud: &str, first: &str) -> Vec<String> {
    let http = client();
    let mut url = format!("{}{first}", wiki(sim, cloud));
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let reply = get(&http, &url, Some(token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let page = reply.json();
        seen.extend(ids(&page));
        match page["_links"]["next"].as_str() {
            Some(next) => url = format!("{}{next}", gateway_base(sim, cloud)),
            None => return seen,
        }
    }
    panic!("pagination did not end");
}
