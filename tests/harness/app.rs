//! `TestApp`: the simulator on port 0, a receiver configured against it under
//! a fresh Redis prefix, and typed steps of the connect flow as a browser and
//! AINexLayer's backend would take them.

use std::collections::HashMap;

use confsync_runtime::Settings;
use confsync_sim::{Sim, SimConfig, SimHandle};
use confsync_store::crypto::Keyring;
use confsync_store::{Store, SyncQueue, Vault};
use reqwest::StatusCode;
use url::Url;

use crate::{Running, TestPrefix};

/// The API token tests present to the receiver.
pub const API_TOKEN: &str = "test-api-token-0123456789";
/// The token-encryption key tests configure (32 bytes, base64).
pub const TOKEN_KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
/// The `return_to` tests use; the allow-list admits `http://app.test/`.
pub const RETURN_TO: &str = "http://app.test/integrations?tab=confluence";

/// A running simulator + receiver.
#[derive(Debug)]
pub struct TestApp {
    pub sim: SimHandle,
    pub receiver: Running,
    pub prefix: TestPrefix,
    pub settings: Settings,
    http: reqwest::Client,
}

/// How a callback ended, read off the receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Redirected to `return_to` with `status=connected`.
    Connected { grant_id: String },
    /// Redirected to `return_to` with `status=error`.
    RedirectedWithError { code: String },
    /// Answered directly (no `return_to`): status and the JSON `error` code.
    Refused { status: u16, code: String },
}

impl TestApp {
    /// A simulator with two small sites and a receiver against it.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(SimConfig::default().sites(2).pages(20), &[]).await
    }

    /// `extra` overrides the receiver's environment (e.g. a wrong secret).
    pub async fn spawn_with(sim: SimConfig, extra: &[(&str, &str)]) -> TestApp {
        let sim = Sim::start(sim).await.expect("simulator starts");
        let prefix = TestPrefix::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let control = sim.control();
        let callback = format!("http://{addr}/api/v1/auth/confluence/connector/callback");
        let (client_id, client_secret) = (control.client_id(), control.client_secret());
        let (auth_url, api_url) = (sim.auth_url(), sim.api_url());
        let mut env: HashMap<&str, &str> = HashMap::from([
            ("ATLASSIAN_AUTH_URL", auth_url.as_str()),
            ("ATLASSIAN_API_URL", api_url.as_str()),
            ("ATLASSIAN_CLIENT_ID", client_id.as_str()),
            ("ATLASSIAN_CLIENT_SECRET", client_secret.as_str()),
            ("CONFLUENCE_REDIRECT_URI", callback.as_str()),
            ("API_TOKEN", API_TOKEN),
            ("TOKEN_ENCRYPTION_KEY", TOKEN_KEY),
            (
                "CONFSYNC__RECEIVER__RETURN_TO_ALLOWLIST",
                "http://app.test/",
            ),
        ]);
        env.extend(extra.iter().copied());
        let pairs: Vec<(&str, &str)> = env.into_iter().collect();
        let settings = crate::settings(&prefix, &pairs);
        let receiver = crate::spawn_on(
            listener,
            settings.clone(),
            |settings, listener, stopped| async move {
                confsync_receiver::run(settings, listener, async move {
                    let _ = stopped.await;
                })
                .await
                .map_err(|e| e.to_string())
            },
        )
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            sim,
            receiver,
            prefix,
            settings,
            http,
        }
    }

    /// The receiver's store, under this test's prefix.
    pub fn store(&self) -> Store {
        confsync_runtime::wiring::open_store(&self.settings).unwrap()
    }

    /// The vault with the test key.
    pub fn vault(&self) -> Vault {
        let key: [u8; 32] = self
            .settings
            .security
            .token_encryption_key
            .expect("tests configure a key");
        Vault::new(self.store(), Keyring::new(&key, None))
    }

    pub fn queue(&self) -> SyncQueue {
        SyncQueue::new(&self.store())
    }

    /// `GET …/connector/add` as AINexLayer's backend, with the test token.
    pub async fn add(&self, query: &str) -> reqwest::Response {
        self.add_with_token(query, Some(API_TOKEN)).await
    }

    pub async fn add_with_token(&self, query: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(
            self.receiver
                .url(&format!("/api/v1/auth/confluence/connector/add?{query}")),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Starts a connection and returns the consent URL.
    pub async fn start_connect(&self, tenant: &str, return_to: Option<&str>) -> Url {
        let mut query = format!("tenant_id={tenant}");
        if let Some(r) = return_to {
            query.push_str("&return_to=");
            query.push_str(&urlencode(r));
        }
        let response = self.add(&query).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "add failed: {}",
            response.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        Url::parse(body["auth_url"].as_str().expect("auth_url")).unwrap()
    }

    /// The user's browser at Atlassian: returns where Atlassian redirects it.
    pub async fn consent(&self, auth_url: &Url) -> Url {
        let response = self.http.get(auth_url.clone()).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "authorize: {}",
            response.text().await.unwrap_or_default()
        );
        Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// The browser arriving at the receiver's callback.
    pub async fn callback(&self, url: &Url) -> Outcome {
        let response = self
            .http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::SEE_OTHER
            || status == StatusCode::FOUND
            || status == StatusCode::TEMPORARY_REDIRECT
        {
            let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
            let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
            return match q.get("status").map(String::as_str) {
                Some("connected") => Outcome::Connected {
                    grant_id: q["grant_id"].clone(),
                },
                Some("error") => Outcome::RedirectedWithError {
                    code: q["error"].clone(),
                },
                other => panic!("unexpected redirect status {other:?} to {location}"),
            };
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status == StatusCode::OK {
            return Outcome::Connected {
                grant_id: body["grant_id"].as_str().unwrap_or_default().to_owned(),
            };
        }
        Outcome::Refused {
            status: status.as_u16(),
            code: body["error"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// The whole flow for `tenant`, returning the grant id.
    pub async fn connect(&self, tenant: &str) -> String {
        let auth_url = self.start_connect(tenant, Some(RETURN_TO)).await;
        let callback = self.consent(&auth_url).await;
        match self.callback(&callback).await {
            Outcome::Connected { grant_id } => grant_id,
            other => panic!("connect for {tenant} failed: {other:?}"),
        }
    }

    /// Keys under this test's prefix that hold connection data (anything but
    /// the consumed-state markers).
    pub fn stored_connection_keys(&self) -> Vec<String> {
        let used = format!("{}oauth_state_used:", self.prefix.as_str());
        self.prefix
            .keys()
            .into_iter()
            .filter(|k| !k.starts_with(&used))
            .collect()
    }

    /// Panics unless the test's prefix holds no connection data.
    pub fn assert_nothing_stored(&self) {
        let stored = self.stored_connection_keys();
        assert!(
            stored.is_empty(),
            "expected nothing stored, found {stored:?}"
        );
    }

    pub async fn stop(self) {
        self.receiver.stop().await.unwrap();
        self.sim.shutdown().await;
    }
}

/// Percent-encodes a query value.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
