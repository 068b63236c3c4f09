//! The 3LO client: authorize URL, token grants on the `oauth2` crate, and the
//! two gateway calls a connect flow needs (accessible-resources and the
//! current user, which identifies the Atlassian account behind a consent).

use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_core::retry_after::parse_retry_after;
use confsync_core::{AccountId, CloudId};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;

use crate::error::OAuthError;

/// The scope without which Atlassian issues no refresh token.
const OFFLINE_ACCESS: &str = "offline_access";

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// What the client needs, built by the binaries from their settings.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: Url,
    /// `https://auth.atlassian.com` (or the simulator).
    pub auth_url: Url,
    /// `https://api.atlassian.com` (or the simulator).
    pub api_url: Url,
    /// The app's scopes; `offline_access` is added when missing.
    pub scopes: Vec<String>,
    pub request_timeout: Duration,
}

/// A token pair from either grant.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// Rotating: every refresh returns a new one that replaces the old.
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
}

/// A Confluence site from accessible-resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub cloud_id: CloudId,
    pub name: String,
    pub url: String,
    pub scopes: Vec<String>,
}

/// The Atlassian 3LO client. Cheap to clone.
#[derive(Clone)]
pub struct AtlassianOAuth {
    client: Client,
    http: reqwest::Client,
    api_url: String,
    scopes: Vec<String>,
}

impl std::fmt::Debug for AtlassianOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtlassianOAuth")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl AtlassianOAuth {
    pub fn new(config: &OAuthConfig) -> Result<AtlassianOAuth, OAuthError> {
        let auth = config.auth_url.as_str().trim_end_matches('/');
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(
                AuthUrl::new(format!("{auth}/authorize"))
                    .map_err(|e| OAuthError::Config(e.to_string()))?,
            )
            .set_token_uri(
                TokenUrl::new(format!("{auth}/oauth/token"))
                    .map_err(|e| OAuthError::Config(e.to_string()))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_uri.to_string())
                    .map_err(|e| OAuthError::Config(e.to_string()))?,
            )
            // Atlassian documents client_id and client_secret in the body.
            .set_auth_type(AuthType::RequestBody);
        let http = reqwest::Client::builder()
            // Following redirects from a token endpoint invites SSRF; Atlassian never redirects here.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| OAuthError::Config(e.to_string()))?;
        let mut scopes = config.scopes.clone();
        if !scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            scopes.push(OFFLINE_ACCESS.to_owned());
        }
        Ok(AtlassianOAuth {
            client,
            http,
            api_url: config.api_url.as_str().trim_end_matches('/').to_owned(),
            scopes,
        })
    }

    /// The consent URL for the user's browser, carrying `state`.
    pub fn authorize_url(&self, state: &str) -> Url {
        let (url, _) = self
            .client
            .authorize_url(|| CsrfToken::new(state.to_owned()))
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("audience", "api.atlassian.com")
            .add_extra_param("prompt", "consent")
            .url();
        url
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, OAuthError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .request_async(&TokenHttp(&self.http))
            .await;
        token_set(response)
    }

    /// Exchanges a refresh token for a new pair. The returned refresh token
    /// replaces the old one, which must be persisted before the access token is used.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, OAuthError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&TokenHttp(&self.http))
            .await;
        token_set(response)
    }

    /// The Confluence sites the token reaches: entries of other products are
    /// dropped and an id listed twice is kept once.
    pub async fn accessible_resources(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<Site>, OAuthError> {
        #[derive(Deserialize)]
        struct Resource {
            id: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            url: String,
            #[serde(default)]
            scopes: Vec<String>,
        }
        let url = format!("{}/oauth/token/accessible-resources", self.api_url);
        let resources: Vec<Resource> = self.get_json(&url, access_token).await?;
        let mut sites: Vec<Site> = Vec::new();
        for resource in resources {
            if !resource.scopes.iter().any(|s| s.contains("confluence")) {
                continue;
            }
            if sites.iter().any(|s| s.cloud_id.as_str() == resource.id) {
                continue;
            }
            let cloud_id = CloudId::parse(resource.id)
                .map_err(|e| OAuthError::Protocol(format!("accessible-resources: {e}")))?;
            sites.push(Site {
                cloud_id,
                name: resource.name,
                url: resource.url,
                scopes: resource.scopes,
            });
        }
        Ok(sites)
    }

    /// The Atlassian account behind the token, from Confluence's v1
    /// `user/current` on one of its sites (`/me` needs `read:me`, which this
    /// app does not request).
    pub async fn current_account(
        &self,
        access_token: &SecretString,
        site: &CloudId,
    ) -> Result<AccountId, OAuthError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct User {
            account_id: String,
        }
        let url = format!(
            "{}/ex/confluence/{site}/wiki/rest/api/user/current",
            self.api_url
        );
        let user: User = self.get_json(&url, access_token).await?;
        AccountId::parse(user.account_id)
            .map_err(|e| OAuthError::Protocol(format!("user/current: {e}")))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        access_token: &SecretString,
    ) -> Result<T, OAuthError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        if status.is_success() {
            let body = response.bytes().await.map_err(|e| unavailable(&e))?;
            return serde_json::from_slice(&body).map_err(|e| OAuthError::Protocol(e.to_string()));
        }
        let scope_check = response
            .headers()
            .get("x-failure-category")
            .is_some_and(|v| v.as_bytes() == b"FAILURE_CLIENT_SCOPE_CHECK");
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        Err(match status.as_u16() {
            401 if scope_check => OAuthError::ScopeMismatch,
            code @ (401 | 403 | 404) => OAuthError::TokenRefused { status: code },
            429 => OAuthError::Unavailable {
                reason: "rate limited (http 429)".into(),
                retry_after,
            },
            code if status.is_server_error() => OAuthError::Unavailable {
                reason: format!("http {code}"),
                retry_after,
            },
            code => OAuthError::Protocol(format!("unexpected http {code}")),
        })
    }
}

/// Why the token endpoint could not be used at the HTTP level.
#[derive(Debug, thiserror::Error)]
enum HttpFailure {
    #[error("{0}")]
    Transport(String),
    #[error("http {0}")]
    Status(u16),
}

/// The HTTP leg of oauth2's requests, as a named type so its future is `Send`
/// for every lifetime (a closure borrowing the client is not, under axum).
struct TokenHttp<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = HttpFailure;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}

/// 5xx and 429 answers become errors here, so they are classified as
/// transient rather than parsed as OAuth error bodies.
async fn send(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let request =
        reqwest::Request::try_from(request).map_err(|e| HttpFailure::Transport(e.to_string()))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| HttpFailure::Transport(transport_reason(&e)))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(HttpFailure::Status(status.as_u16()));
    }
    let mut builder = http::Response::builder().status(status);
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| HttpFailure::Transport(transport_reason(&e)))?;
    builder
        .body(body.to_vec())
        .map_err(|e| HttpFailure::Transport(e.to_string()))
}

type TokenResult = Result<
    BasicTokenResponse,
    RequestTokenError<HttpFailure, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
>;

fn token_set(result: TokenResult) -> Result<TokenSet, OAuthError> {
    let response = result.map_err(token_error)?;
    let expires_in = response.expires_in().unwrap_or(Duration::from_secs(3600));
    let expires_at =
        Utc::now() + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::hours(1));
    Ok(TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
        expires_at,
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    })
}

fn token_error(
    error: RequestTokenError<HttpFailure, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> OAuthError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().to_string();
            match response.error() {
                BasicErrorResponseType::InvalidGrant
                | BasicErrorResponseType::UnauthorizedClient => OAuthError::Rejected { code },
                BasicErrorResponseType::InvalidClient => OAuthError::ClientConfig { code },
                BasicErrorResponseType::Extension(ext) if ext == "access_denied" => {
                    OAuthError::ClientConfig { code }
                }
                _ => OAuthError::Protocol(format!("token endpoint error {code}")),
            }
        }
        RequestTokenError::Request(HttpFailure::Status(status)) => OAuthError::Unavailable {
            reason: format!("token endpoint answered http {status}"),
            retry_after: None,
        },
        RequestTokenError::Request(HttpFailure::Transport(reason)) => OAuthError::Unavailable {
            reason,
            retry_after: None,
        },
        // Never include the body: a token response may be in it.
        RequestTokenError::Parse(e, _) => {
            OAuthError::Protocol(format!("token response unreadable: {}", e.inner()))
        }
        RequestTokenError::Other(reason) => OAuthError::Protocol(reason),
    }
}

fn unavailable(error: &reqwest::Error) -> OAuthError {
    OAuthError::Unavailable {
        reason: transport_reason(error),
        retry_after: None,
    }
}

/// A transport error in a few fixed words (no URL, no body).
fn transport_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else if error.is_body() || error.is_decode() {
        "response body unreadable".into()
    } else {
        "request failed".into()
    }
}
