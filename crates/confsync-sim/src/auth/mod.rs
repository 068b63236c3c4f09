//! Atlassian's OAuth 2.0 (3LO) authorization server, as a state machine over
//! the sim clock: consent and codes, the token grants, rotating refresh-token
//! families with the reuse window and family revocation, the 90-day
//! inactivity expiry, and bearer-token checks for the API gateway.
//!
//! No HTTP here ([`http`] maps requests and errors to the wire), no sleeping,
//! no site data beyond the site indexes a grant covers.

pub(crate) mod http;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::clock::{Millis, format_ms};

/// Scope that makes Atlassian issue a refresh token.
pub(crate) const OFFLINE_ACCESS: &str = "offline_access";

/// How a control call picks grants.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSelector {
    /// Every grant.
    #[default]
    All,
    /// The grant with this sim id (`g1`, `g2`, …).
    GrantId(String),
    /// Every grant of this Atlassian account.
    AccountId(String),
    /// The grant that issued this access or refresh token.
    Token(String),
}

/// A grant (one consent = one token family), as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantInfo {
    pub grant_id: String,
    pub account_id: String,
    /// Site indexes the grant covers.
    pub sites: Vec<usize>,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub revoked: bool,
    pub refreshes: u64,
}

/// The 200 body of `POST /oauth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    pub token_type: String,
}

/// A token-endpoint error: status plus `{"error","error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl TokenError {
    fn new(status: u16, error: &'static str, description: &str) -> Self {
        TokenError {
            status,
            error,
            description: description.to_owned(),
        }
    }

    fn invalid_request(description: &str) -> Self {
        Self::new(400, "invalid_request", description)
    }

    fn unknown_refresh_token() -> Self {
        Self::new(403, "invalid_grant", "Unknown or invalid refresh token.")
    }

    fn access_denied() -> Self {
        Self::new(401, "access_denied", "Unauthorized")
    }
}

/// Why a bearer token was refused by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// Missing, malformed, unknown, or of a revoked family.
    Invalid,
    /// Known but past its expiry.
    Expired,
}

/// The caller behind a valid access token.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub account_id: String,
    pub sites: Vec<usize>,
    pub scopes: Vec<String>,
}

impl Principal {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The validated parameters of `GET /authorize`.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: String,
    pub account: Option<String>,
}

/// The answer to a valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Consent {
    Approved { code: String },
    Declined,
}

/// A token request, from a JSON or form body.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    account: String,
    expires_at: Millis,
    used: bool,
}

#[derive(Debug)]
struct Grant {
    id: String,
    account: String,
    sites: Vec<usize>,
    scopes: Vec<String>,
    created_at: Millis,
    revoked: bool,
    refreshes: u64,
}

#[derive(Debug)]
struct AccessToken {
    grant: usize,
    expires_at: Millis,
}

#[derive(Debug)]
struct RefreshToken {
    grant: usize,
    issued_at: Millis,
    /// When this token was first exchanged for a new pair.
    rotated_at: Option<Millis>,
}

/// Lifetimes, in sim milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct AuthTimes {
    pub access_ttl: Millis,
    pub reuse_window: Millis,
    pub inactivity: Millis,
    pub absolute: Option<Millis>,
    pub code_ttl: Millis,
}

#[derive(Debug)]
pub(crate) struct AuthState {
    client_id: String,
    client_secret: String,
    callback_urls: Vec<String>,
    times: AuthTimes,
    default_sites: Vec<usize>,
    account_sites: HashMap<String, Vec<usize>>,
    default_account: String,
    next_account: Option<String>,
    decline_next: u32,
    decline_always: bool,
    codes: HashMap<String, Code>,
    grants: Vec<Grant>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
}

/// An unguessable URL-safe string (OS randomness, never the seed).
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

impl AuthState {
    pub(crate) fn new(
        client_id: String,
        client_secret: String,
        callback_urls: Vec<String>,
        times: AuthTimes,
        default_sites: Vec<usize>,
        default_account: String,
    ) -> Self {
        AuthState {
            client_id,
            client_secret,
            callback_urls,
            times,
            default_sites,
            account_sites: HashMap::new(),
            default_account,
            next_account: None,
            decline_next: 0,
            decline_always: false,
            codes: HashMap::new(),
            grants: Vec::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn client_secret(&self) -> &str {
        &self.client_secret
    }

    // ---- consent -------------------------------------------------------

    /// Validates the query of `GET /authorize`. Every error is a reason for a
    /// 400 page: Atlassian never redirects an invalid request.
    pub(crate) fn validate_authorize(
        &self,
        params: &[(String, String)],
    ) -> Result<AuthorizeRequest, String> {
        let get = |name: &str| -> Result<&str, String> {
            let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
            match (values.next(), values.next()) {
                (Some(v), None) if !v.trim().is_empty() => Ok(v.as_str()),
                (Some(_), Some(_)) => Err(format!("parameter {name} is repeated")),
                _ => Err(format!("missing required parameter: {name}")),
            }
        };
        if get("audience")? != "api.atlassian.com" {
            return Err("audience must be api.atlassian.com".to_owned());
        }
        let client_id = get("client_id")?;
        if client_id != self.client_id {
            return Err("unknown client_id".to_owned());
        }
        if get("response_type")? != "code" {
            return Err("response_type must be code".to_owned());
        }
        if get("prompt")? != "consent" {
            return Err("prompt must be consent".to_owned());
        }
        let redirect_uri = get("redirect_uri")?;
        self.check_redirect_uri(redirect_uri)?;
        let scopes: Vec<String> = get("scope")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let state = get("state")?;
        let account = params
            .iter()
            .find(|(k, _)| k == "account_id" || k == "login_hint")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        Ok(AuthorizeRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: state.to_owned(),
            account,
        })
    }

    fn check_redirect_uri(&self, uri: &str) -> Result<(), String> {
        if !self.callback_urls.is_empty() {
            return if self.callback_urls.iter().any(|u| u == uri) {
                Ok(())
            } else {
                Err("redirect_uri does not match a callback URL of the app".to_owned())
            };
        }
        match url::Url::parse(uri) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
            _ => Err("redirect_uri must be an absolute http(s) URL".to_owned()),
        }
    }

    /// The user's answer to a valid request: a code, or a decline when the
    /// sim was told to decline.
    pub(crate) fn consent(&mut self, request: AuthorizeRequest, now: Millis) -> Consent {
        if self.decline_always || self.decline_next > 0 {
            self.decline_next = self.decline_next.saturating_sub(1);
            return Consent::Declined;
        }
        let account = request
            .account
            .or_else(|| self.next_account.take())
            .unwrap_or_else(|| self.default_account.clone());
        let code = random_token(32);
        self.codes.insert(
            code.clone(),
            Code {
                client_id: request.client_id,
                redirect_uri: request.redirect_uri,
                scopes: request.scopes,
                account,
                expires_at: now + self.times.code_ttl,
                used: false,
            },
        );
        Consent::Approved { code }
    }

    // ---- token endpoint --------------------------------------------------

    pub(crate) fn token(
        &mut self,
        request: TokenRequest,
        now: Millis,
    ) -> Result<TokenResponse, TokenError> {
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("missing grant_type"))?;
        // Client authentication first: confidential client, secret in the body.
        let client_id = request
            .client_id
            .as_deref()
            .ok_or_else(TokenError::access_denied)?;
        let secret = request
            .client_secret
            .as_deref()
            .ok_or_else(TokenError::access_denied)?;
        if client_id != self.client_id || secret != self.client_secret {
            return Err(TokenError::access_denied());
        }
        match grant_type {
            "authorization_code" => self.exchange_code(&request, now),
            "refresh_token" => self.refresh(&request, now),
            _ => Err(TokenError::new(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            )),
        }
    }

    fn exchange_code(
        &mut self,
        request: &TokenRequest,
        now: Millis,
    ) -> Result<TokenResponse, TokenError> {
        let invalid = || TokenError::new(403, "invalid_grant", "Invalid authorization code");
        let code_value = request
            .code
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("missing code"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("missing redirect_uri"))?;
        let code = self.codes.get_mut(code_value).ok_or_else(invalid)?;
        if code.used || now >= code.expires_at || code.client_id != self.client_id {
            return Err(invalid());
        }
        if code.redirect_uri != redirect_uri {
            return Err(TokenError::new(
                403,
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
        code.used = true;
        let (account, scopes) = (code.account.clone(), code.scopes.clone());
        let sites = self.sites_of(&account);
        let grant = self.new_grant(account, sites, scopes, now);
        Ok(self.issue(grant, now))
    }

    fn refresh(
        &mut self,
        request: &TokenRequest,
        now: Millis,
    ) -> Result<TokenResponse, TokenError> {
        let token = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("missing refresh_token"))?;
        let rt = self
            .refresh
            .get(token)
            .ok_or_else(TokenError::unknown_refresh_token)?;
        let grant_index = rt.grant;
        let grant = &self.grants[grant_index];
        if grant.revoked {
            return Err(TokenError::new(
                403,
                "unauthorized_client",
                "refresh_token is invalid",
            ));
        }
        let too_old = self
            .times
            .absolute
            .is_some_and(|limit| now - grant.created_at > limit);
        if too_old || now - rt.issued_at > self.times.inactivity {
            return Err(TokenError::unknown_refresh_token());
        }
        match rt.rotated_at {
            Some(rotated) if now - rotated > self.times.reuse_window => {
                // Reuse after the leeway is treated as a breach: the whole
                // family dies, including the newest tokens.
                self.grants[grant_index].revoked = true;
                Err(TokenError::unknown_refresh_token())
            }
            Some(_) => Ok(self.issue(grant_index, now)),
            None => {
                if let Some(rt) = self.refresh.get_mut(token) {
                    rt.rotated_at = Some(now);
                }
                Ok(self.issue(grant_index, now))
            }
        }
    }

    fn sites_of(&self, account: &str) -> Vec<usize> {
        self.account_sites
            .get(account)
            .cloned()
            .unwrap_or_else(|| self.default_sites.clone())
    }

    fn new_grant(
        &mut self,
        account: String,
        sites: Vec<usize>,
        scopes: Vec<String>,
        now: Millis,
    ) -> usize {
        let index = self.grants.len();
        self.grants.push(Grant {
            id: format!("g{}", index + 1),
            account,
            sites,
            scopes,
            created_at: now,
            revoked: false,
            refreshes: 0,
        });
        index
    }

    /// A new access token, plus a refresh token when `offline_access` was
    /// granted (Atlassian issues none without it).
    fn issue(&mut self, grant_index: usize, now: Millis) -> TokenResponse {
        let grant = &mut self.grants[grant_index];
        grant.refreshes += 1;
        let access_token = self.jwt_like(grant_index, now);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                grant: grant_index,
                expires_at: now + self.times.access_ttl,
            },
        );
        let grant = &self.grants[grant_index];
        let refresh_token = grant.scopes.iter().any(|s| s == OFFLINE_ACCESS).then(|| {
            let token = random_token(48);
            self.refresh.insert(
                token.clone(),
                RefreshToken {
                    grant: grant_index,
                    issued_at: now,
                    rotated_at: None,
                },
            );
            token
        });
        TokenResponse {
            access_token,
            expires_in: (self.times.access_ttl / 1000).max(0) as u64,
            refresh_token,
            scope: grant.scopes.join(" "),
            token_type: "Bearer".to_owned(),
        }
    }

    /// An opaque token shaped like Atlassian's (a long JWT); clients must
    /// not parse it.
    fn jwt_like(&self, grant_index: usize, now: Millis) -> String {
        let grant = &self.grants[grant_index];
        let header = URL_SAFE_NO_PAD.encode(br#"{"kid":"auth.atlassian.io/sim","alg":"RS256"}"#);
        let claims = serde_json::json!({
            "jti": random_token(16),
            "sub": grant.account,
            "iss": "https://auth.atlassian.com",
            "aud": "api.atlassian.com",
            "iat": now / 1000,
            "exp": (now + self.times.access_ttl) / 1000,
            "scope": grant.scopes.join(" "),
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.{}", random_token(64))
    }

    // ---- bearer checks ---------------------------------------------------

    pub(crate) fn authenticate(&self, token: &str, now: Millis) -> Result<Principal, BearerError> {
        let at = self.access.get(token).ok_or(BearerError::Invalid)?;
        let grant = &self.grants[at.grant];
        if grant.revoked {
            return Err(BearerError::Invalid);
        }
        if now >= at.expires_at {
            return Err(BearerError::Expired);
        }
        Ok(Principal {
            account_id: grant.account.clone(),
            sites: grant.sites.clone(),
            scopes: grant.scopes.clone(),
        })
    }

    // ---- control ---------------------------------------------------------

    fn selected(&self, selector: &GrantSelector) -> Vec<usize> {
        let token_grant = |t: &str| {
            self.access
                .get(t)
                .map(|a| a.grant)
                .or_else(|| self.refresh.get(t).map(|r| r.grant))
        };
        (0..self.grants.len())
            .filter(|i| match selector {
                GrantSelector::All => true,
                GrantSelector::GrantId(id) => self.grants[*i].id == *id,
                GrantSelector::AccountId(account) => self.grants[*i].account == *account,
                GrantSelector::Token(token) => token_grant(token) == Some(*i),
            })
            .collect()
    }

    /// Expires the access tokens of the selected grants now; returns how many.
    pub(crate) fn expire_access_tokens(&mut self, selector: &GrantSelector, now: Millis) -> usize {
        let grants = self.selected(selector);
        let mut count = 0;
        for token in self.access.values_mut() {
            if grants.contains(&token.grant) && token.expires_at > now {
                token.expires_at = now;
                count += 1;
            }
        }
        count
    }

    /// Revokes the selected grants (the user removed the app); returns how many.
    pub(crate) fn revoke(&mut self, selector: &GrantSelector) -> usize {
        let grants = self.selected(selector);
        for index in &grants {
            self.grants[*index].revoked = true;
        }
        grants.len()
    }

    pub(crate) fn decline_next(&mut self, count: u32) {
        self.decline_next = count;
    }

    pub(crate) fn set_decline_always(&mut self, decline: bool) {
        self.decline_always = decline;
    }

    pub(crate) fn set_next_account(&mut self, account: Option<String>) {
        self.next_account = account;
    }

    pub(crate) fn set_account_sites(&mut self, account: &str, sites: Vec<usize>) {
        self.account_sites.insert(account.to_owned(), sites);
    }

    pub(crate) fn grants(&self) -> Vec<GrantInfo> {
        self.grants
            .iter()
            .map(|g| GrantInfo {
                grant_id: g.id.clone(),
                account_id: g.account.clone(),
                sites: g.sites.clone(),
                scopes: g.scopes.clone(),
                created_at: format_ms(g.created_at),
                revoked: g.revoked,
                refreshes: g.refreshes.saturating_sub(1),
            })
            .collect()
    }

    /// Issues tokens directly (no browser, no code), for tests that are not
    /// about the consent flow.
    pub(crate) fn mint(
        &mut self,
        account: Option<String>,
        scopes: Vec<String>,
        now: Millis,
    ) -> TokenResponse {
        let account = account.unwrap_or_else(|| self.default_account.clone());
        let sites = self.sites_of(&account);
        let grant = self.new_grant(account, sites, scopes, now);
        self.issue(grant, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn state() -> AuthState {
        AuthState::new(
            "cid".into(),
            "secret".into(),
            vec![],
            AuthTimes {
                access_ttl: 60 * MIN,
                reuse_window: 10 * MIN,
                inactivity: 90 * 24 * 60 * MIN,
                absolute: None,
                code_ttl: 10 * MIN,
            },
            vec![0],
            "acc".into(),
        )
    }

    fn refresh_req(token: &str) -> TokenRequest {
        TokenRequest {
            grant_type: Some("refresh_token".into()),
            client_id: Some("cid".into()),
            client_secret: Some("secret".into()),
            refresh_token: Some(token.into()),
            ..TokenRequest::default()
        }
    }

    #[test]
    fn rotation_tolerates_reuse_in_the_window_and_revokes_after() {
        let mut auth = state();
        let first = auth.mint(None, vec!["offline_access".into()], 0);
        let rt1 = first.refresh_token.unwrap();
        let second = auth.token(refresh_req(&rt1), MIN).unwrap();
        let rt2 = second.refresh_token.unwrap();
        assert_ne!(rt1, rt2);
        // Reuse inside the window: a valid new pair.
        let third = auth.token(refresh_req(&rt1), 5 * MIN).unwrap();
        assert!(auth.authenticate(&third.access_token, 5 * MIN).is_ok());
        // Reuse after the window: family revoked.
        let err = auth.token(refresh_req(&rt1), 12 * MIN).unwrap_err();
        assert_eq!((err.status, err.error), (403, "invalid_grant"));
        let err = auth.token(refresh_req(&rt2), 12 * MIN).unwrap_err();
        assert_eq!((err.status, err.error), (403, "unauthorized_client"));
        assert_eq!(
            auth.authenticate(&third.access_token, 12 * MIN)
                .unwrap_err(),
            BearerError::Invalid
        );
    }

    #[test]
    fn no_refresh_token_without_offline_access_and_tokens_expire() {
        let mut auth = state();
        let tokens = auth.mint(None, vec!["read:page:confluence".into()], 0);
        assert!(tokens.refresh_token.is_none());
        assert!(auth.authenticate(&tokens.access_token, 59 * MIN).is_ok());
        assert_eq!(
            auth.authenticate(&tokens.access_token, 60 * MIN)
                .unwrap_err(),
            BearerError::Expired
        );
    }
}
