//! One logical request to the gateway, start to finish: wait out any running
//! `Retry-After`, reserve points, send with the grant's token, judge the
//! answer, settle the points with the rate-limit headers, then either return,
//! refresh the token once, retry after a delay, or fail.
//!
//! The rules (DESIGN.md section 3, ATLASSIAN-FACTS sections 1 and 4):
//! - 5xx, timeouts, connection errors and unreadable JSON on a 2xx are
//!   retried with jittered exponential backoff, a bounded number of times;
//! - a 429 blocks its scope (app or site) until its `Retry-After` ends and is
//!   retried after it; a `Retry-After` above the in-request cap ends the
//!   request with `RateLimited` and nothing more is sent;
//! - a 401 (not a scope failure), or a 403 on v1 / 404 on v2 near or past
//!   the token's stored expiry, forces ONE refresh and ONE retry;
//! - any other 4xx fails at once.
//!
//! It never follows a redirect, never loops on refreshes, never sleeps but
//! through the clock, and never puts a token, URL or body into an error.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use confsync_core::content::{BlogPost, ListResponse, Page, User};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, LINK};
use secrecy::ExposeSecret as _;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::AccessToken;
use crate::backoff::Schedule;
use crate::budget::cost;
use crate::client::SiteClient;
use crate::endpoint::Endpoint;
use crate::error::ConfluenceError;
use crate::events;
use crate::ratelimit::{RateLimitHeaders, RateLimitReason};
use crate::site::next_from_link_header;

/// Bodies above this size are decoded on the blocking pool, so a page of
/// megabyte bodies does not stall the runtime's workers.
const BLOCKING_DECODE_BYTES: usize = 256 * 1024;

/// The longest error detail kept from an error body.
const MAX_DETAIL_CHARS: usize = 160;

/// A decoded answer that knows how many metered objects it holds.
pub(crate) trait Metered: DeserializeOwned + Send + 'static {
    fn objects(&self) -> u64;
}

impl<T: DeserializeOwned + Send + 'static> Metered for ListResponse<T> {
    fn objects(&self) -> u64 {
        self.results.len() as u64
    }
}

macro_rules! single_object {
    ($($t:ty),*) => {$(
        impl Metered for $t {
            fn objects(&self) -> u64 {
                1
            }
        }
    )*};
}

single_object!(Page, BlogPost, User);

/// A successful answer and the `Link` header's next target, if any.
#[derive(Debug)]
pub(crate) struct Fetched<T> {
    pub value: T,
    pub link_next: Option<String>,
}

/// Sends one logical request to `url` (already checked against the site's
/// base), whose answer costs at most `worst_case` points.
pub(crate) async fn fetch<T: Metered>(
    client: &SiteClient,
    endpoint: Endpoint,
    url: &Url,
    worst_case: u64,
) -> Result<Fetched<T>, ConfluenceError> {
    let mut call = Call {
        client,
        endpoint,
        url,
        worst_case,
        schedule: Schedule::new(&client.shared.config.retry),
        refreshed: false,
        attempts: 0,
        waited: Duration::ZERO,
    };
    let result = call.run().await;
    if let Err(error) = &result {
        events::gave_up(
            &client.site.cloud_id,
            endpoint,
            error.code(),
            error.is_not_found(),
            call.attempts,
        );
    }
    result
}

/// How to wait before the next attempt.
#[derive(Debug, Clone, Copy)]
enum Pause {
    /// The backoff delay, or longer when the server asked for it.
    Backoff { at_least: Option<Duration> },
    /// A 429's `Retry-After`, already recorded in the gate, which waits it out.
    RetryAfter,
}

/// What one attempt's answer means.
#[derive(Debug)]
enum Verdict<T> {
    Done(Fetched<T>),
    /// The token may be expired or was refused: refresh once and retry, or
    /// fail with `otherwise` when this request already refreshed.
    Refresh {
        cause: &'static str,
        otherwise: ConfluenceError,
    },
    /// Retry after `pause`, or fail with `give_up` when retries ran out.
    Retry {
        cause: String,
        pause: Pause,
        give_up: ConfluenceError,
    },
    Fail(ConfluenceError),
}

/// One attempt's verdict, what it cost, and what to record.
#[derive(Debug)]
struct Judged<T> {
    verdict: Verdict<T>,
    points: u64,
    headers: RateLimitHeaders,
    label: String,
}

/// What the network gave back.
enum Outcome {
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Result<Vec<u8>, reqwest::Error>,
    },
    Failed(reqwest::Error),
}

struct Call<'a> {
    client: &'a SiteClient,
    endpoint: Endpoint,
    url: &'a Url,
    worst_case: u64,
    schedule: Schedule,
    /// This request already refreshed the token once.
    refreshed: bool,
    attempts: usize,
    /// Time spent waiting out `Retry-After`s, bounded by the in-request cap.
    waited: Duration,
}

impl Call<'_> {
    async fn run<T: Metered>(&mut self) -> Result<Fetched<T>, ConfluenceError> {
        let mut token = self.usable_token().await?;
        let mut retries = 0;
        loop {
            self.wait_turn().await?;
            match self.attempt::<T>(&token).await? {
                Verdict::Done(fetched) => return Ok(fetched),
                Verdict::Fail(error) => return Err(error),
                Verdict::Refresh { cause, otherwise } => {
                    if self.refreshed {
                        return Err(otherwise);
                    }
                    token = self.refresh(&token, cause).await?;
                }
                Verdict::Retry {
                    cause,
                    pause,
                    give_up,
                } => {
                    let Some(delay) = self.schedule.next_delay() else {
                        return Err(give_up);
                    };
                    retries += 1;
                    self.pause(pause, delay, &cause, retries, give_up).await?;
                }
            }
        }
    }

    /// The stored token, refreshed first when its stored expiry has passed
    /// (sending it would only earn a quirky 404 or 403).
    async fn usable_token(&mut self) -> Result<AccessToken, ConfluenceError> {
        let token = self.client.site.tokens.access_token().await?;
        if self.client.shared.clock.now() >= token.expires_at {
            return self.refresh(&token, "stored expiry passed").await;
        }
        Ok(token)
    }

    async fn refresh(
        &mut self,
        rejected: &AccessToken,
        cause: &'static str,
    ) -> Result<AccessToken, ConfluenceError> {
        self.refreshed = true;
        events::token_refresh_forced(&self.client.site.cloud_id, self.endpoint, cause);
        Ok(self.client.site.tokens.refresh(&rejected.secret).await?)
    }

    async fn pause(
        &mut self,
        pause: Pause,
        delay: Duration,
        cause: &str,
        retry: usize,
        give_up: ConfluenceError,
    ) -> Result<(), ConfluenceError> {
        let site = &self.client.site.cloud_id;
        match pause {
            Pause::RetryAfter => {
                events::retrying(site, self.endpoint, cause, retry, None);
                Ok(())
            }
            Pause::Backoff { at_least } => {
                let delay = at_least.map_or(delay, |floor| delay.max(floor));
                if delay > self.client.shared.config.max_in_request_wait {
                    return Err(give_up);
                }
                events::retrying(site, self.endpoint, cause, retry, Some(delay));
                self.client.shared.clock.sleep(delay).await;
                Ok(())
            }
        }
    }

    /// Waits until no `Retry-After` covers this site. The total wait of one
    /// request is capped; beyond it the request ends with `RateLimited`
    /// before anything is sent.
    async fn wait_turn(&mut self) -> Result<(), ConfluenceError> {
        let shared = &self.client.shared;
        let site = &self.client.site.cloud_id;
        while let Some(wait) = shared.gate.wait(site, shared.clock.now()) {
            if self.waited + wait.duration > shared.config.max_in_request_wait {
                return Err(ConfluenceError::RateLimited {
                    retry_after: wait.duration,
                    reason: wait.reason,
                });
            }
            events::waiting_out_retry_after(site, wait.reason, wait.duration);
            self.waited += wait.duration;
            shared.clock.sleep(wait.duration).await;
        }
        Ok(())
    }

    /// Reserve, send, judge, settle.
    async fn attempt<T: Metered>(
        &mut self,
        token: &AccessToken,
    ) -> Result<Verdict<T>, ConfluenceError> {
        let shared = &self.client.shared;
        let site = &self.client.site.cloud_id;
        let reservation = shared
            .budget
            .reserve(site, self.worst_case, self.client.priority)
            .await?;
        self.attempts += 1;
        let started = Instant::now();
        let outcome = send(&shared.http, self.url, token).await;
        let elapsed = started.elapsed();
        let judged = self.judge::<T>(outcome, token).await;
        events::answered(&shared.metrics, site, self.endpoint, &judged.label, elapsed);
        shared
            .budget
            .settle(reservation, judged.points, &judged.headers)
            .await;
        events::points_settled(&shared.metrics, judged.points);
        Ok(judged.verdict)
    }

    async fn judge<T: Metered>(&self, outcome: Outcome, token: &AccessToken) -> Judged<T> {
        let now = self.client.shared.clock.now();
        match outcome {
            Outcome::Failed(error) => judge_failure(self.endpoint, &error),
            Outcome::Answer {
                status,
                headers,
                body,
            } => {
                let rate = RateLimitHeaders::parse(status.as_u16(), &headers, now);
                let label = status.as_str().to_owned();
                let (verdict, points) = if status.is_success() {
                    self.judge_success(&headers, body).await
                } else {
                    let body = body.unwrap_or_default();
                    let verdict = self.judge_refusal(status, &headers, &rate, &body, token, now);
                    // 429s cost nothing; any other answer is counted as one
                    // request, the conservative reading.
                    let points = u64::from(status != StatusCode::TOO_MANY_REQUESTS);
                    (verdict, points)
                };
                Judged {
                    verdict,
                    points,
                    headers: rate,
                    label,
                }
            }
        }
    }

    /// A 2xx: decoded, or retried when the body is cut or malformed. An
    /// undecodable answer is settled at the worst case: the objects were
    /// charged but cannot be counted.
    async fn judge_success<T: Metered>(
        &self,
        headers: &HeaderMap,
        body: Result<Vec<u8>, reqwest::Error>,
    ) -> (Verdict<T>, u64) {
        let endpoint = self.endpoint;
        let body = match body {
            Ok(body) => body,
            Err(error) => {
                let reason = transport_reason(&error);
                let verdict = Verdict::Retry {
                    cause: reason.to_owned(),
                    pause: Pause::Backoff { at_least: None },
                    give_up: ConfluenceError::Unavailable {
                        endpoint,
                        reason: reason.to_owned(),
                        status: Some(200),
                        retry_after: None,
                    },
                };
                return (verdict, self.worst_case);
            }
        };
        match decode::<T>(body).await {
            Ok(value) => {
                let points = cost(value.objects(), endpoint.object_weight());
                let link_next = headers
                    .get(LINK)
                    .and_then(|v| v.to_str().ok())
                    .and_then(next_from_link_header);
                (Verdict::Done(Fetched { value, link_next }), points)
            }
            Err(detail) => {
                let verdict = Verdict::Retry {
                    cause: "malformed json".to_owned(),
                    pause: Pause::Backoff { at_least: None },
                    give_up: ConfluenceError::Protocol { endpoint, detail },
                };
                (verdict, self.worst_case)
            }
        }
    }

    fn judge_refusal<T>(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        rate: &RateLimitHeaders,
        body: &[u8],
        token: &AccessToken,
        now: DateTime<Utc>,
    ) -> Verdict<T> {
        let endpoint = self.endpoint;
        let code = status.as_u16();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return self.judge_rate_limited(rate, now);
        }
        if status.is_server_error() {
            return Verdict::Retry {
                cause: format!("http {code}"),
                pause: Pause::Backoff {
                    at_least: rate.retry_after,
                },
                give_up: ConfluenceError::Unavailable {
                    endpoint,
                    reason: format!("http {code}"),
                    status: Some(code),
                    retry_after: rate.retry_after,
                },
            };
        }
        if status.is_redirection() {
            return Verdict::Fail(ConfluenceError::Protocol {
                endpoint,
                detail: format!("unexpected redirect (http {code})"),
            });
        }
        let scope_check = headers
            .get("x-failure-category")
            .is_some_and(|v| v.as_bytes() == b"FAILURE_CLIENT_SCOPE_CHECK");
        let facts = Refusal {
            status: code,
            scope_check,
            v1: endpoint.is_v1(),
            near_expiry: near_expiry(token, now, self.client.shared.config.expiry_margin),
        };
        match token_rule(&facts) {
            TokenRule::ScopeMismatch => {
                events::scope_mismatch(&self.client.site.cloud_id, endpoint);
                Verdict::Fail(ConfluenceError::ScopeMismatch { endpoint })
            }
            TokenRule::Refresh(cause) => Verdict::Refresh {
                cause,
                otherwise: final_refusal(endpoint, code, body),
            },
            TokenRule::Final => Verdict::Fail(final_refusal(endpoint, code, body)),
        }
    }

    /// A 429: blocks its scope for `Retry-After` (or backs off without one).
    fn judge_rate_limited<T>(&self, rate: &RateLimitHeaders, now: DateTime<Utc>) -> Verdict<T> {
        let shared = &self.client.shared;
        let site = &self.client.site.cloud_id;
        let reason = rate.reason.unwrap_or(RateLimitReason::Unknown);
        events::rate_limited(
            &shared.metrics,
            site,
            self.endpoint,
            reason,
            rate.retry_after,
        );
        let Some(retry_after) = rate.retry_after else {
            return Verdict::Retry {
                cause: format!("rate limited ({reason})"),
                pause: Pause::Backoff { at_least: None },
                give_up: ConfluenceError::RateLimited {
                    retry_after: shared.config.retry.max_delay,
                    reason,
                },
            };
        };
        shared.gate.block(site, reason, retry_after, now);
        let error = ConfluenceError::RateLimited {
            retry_after,
            reason,
        };
        if retry_after > shared.config.max_in_request_wait {
            return Verdict::Fail(error);
        }
        Verdict::Retry {
            cause: format!("rate limited ({reason})"),
            pause: Pause::RetryAfter,
            give_up: error,
        }
    }
}

async fn send(http: &reqwest::Client, url: &Url, token: &AccessToken) -> Outcome {
    let response = http
        .get(url.clone())
        .bearer_auth(token.secret.expose_secret())
        .header(ACCEPT, "application/json")
        .send()
        .await;
    match response {
        Err(error) => Outcome::Failed(error),
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            // Reuses the buffer when it is uniquely owned (the usual case).
            let body = response.bytes().await.map(Vec::from);
            Outcome::Answer {
                status,
                headers,
                body,
            }
        }
    }
}

/// No answer at all. A connection that was never made cost nothing; any
/// other failure may have reached Atlassian and is counted as one request.
fn judge_failure<T>(endpoint: Endpoint, error: &reqwest::Error) -> Judged<T> {
    let reason = transport_reason(error);
    let label = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "transport"
    };
    let points = u64::from(!error.is_connect());
    let verdict = if error.is_builder() {
        Verdict::Fail(ConfluenceError::Config(reason.to_owned()))
    } else {
        Verdict::Retry {
            cause: reason.to_owned(),
            pause: Pause::Backoff { at_least: None },
            give_up: ConfluenceError::Unavailable {
                endpoint,
                reason: reason.to_owned(),
                status: None,
                retry_after: None,
            },
        }
    };
    Judged {
        verdict,
        points,
        headers: RateLimitHeaders::none(),
        label: label.to_owned(),
    }
}

/// The facts that decide what a 401/403/404 means.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    status: u16,
    scope_check: bool,
    v1: bool,
    near_expiry: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenRule {
    ScopeMismatch,
    Refresh(&'static str),
    Final,
}

/// DESIGN.md section 3: a 401 (not a scope failure), or the gateway's
/// expired-token quirk (403 on v1, 404 on v2) near or past the stored
/// expiry, is worth one refresh. A 404 well before expiry is a real 404.
fn token_rule(refusal: &Refusal) -> TokenRule {
    match refusal.status {
        401 if refusal.scope_check => TokenRule::ScopeMismatch,
        401 => TokenRule::Refresh("http 401"),
        403 if refusal.v1 && refusal.near_expiry => TokenRule::Refresh("http 403 near expiry"),
        404 if !refusal.v1 && refusal.near_expiry => TokenRule::Refresh("http 404 near expiry"),
        _ => TokenRule::Final,
    }
}

fn near_expiry(token: &AccessToken, now: DateTime<Utc>, margin: Duration) -> bool {
    let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
    now.checked_add_signed(margin)
        .is_none_or(|t| t >= token.expires_at)
}

/// The error of a 4xx that is not retried (or no longer).
fn final_refusal(endpoint: Endpoint, status: u16, body: &[u8]) -> ConfluenceError {
    match status {
        401 | 403 => ConfluenceError::AccessDenied { endpoint, status },
        404 => ConfluenceError::NotFound { endpoint },
        _ => ConfluenceError::Rejected {
            endpoint,
            status,
            detail: error_detail(body),
        },
    }
}

/// The title of an error body (v2 `errors[0].title`, v1 or gateway
/// `message`), short and on one line.
fn error_detail(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = value["errors"][0]["title"]
        .as_str()
        .or_else(|| value["message"].as_str())
        .unwrap_or("no detail");
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_DETAIL_CHARS)
        .collect()
}

async fn decode<T: Metered>(body: Vec<u8>) -> Result<T, String> {
    if body.len() < BLOCKING_DECODE_BYTES {
        return serde_json::from_slice(&body).map_err(|e| json_detail(&e));
    }
    tokio::task::spawn_blocking(move || serde_json::from_slice(&body).map_err(|e| json_detail(&e)))
        .await
        .unwrap_or_else(|_| Err("decoding stopped".to_owned()))
}

/// Where and how JSON failed, without quoting the body.
fn json_detail(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match error.classify() {
        Category::Eof => "truncated json",
        Category::Syntax => "malformed json",
        Category::Data => "json of an unexpected shape",
        Category::Io => "unreadable json",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

/// A transport error in a few fixed words (no URL, no body).
fn transport_reason(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body unreadable"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, v1: bool, near_expiry: bool) -> Refusal {
        Refusal {
            status,
            scope_check: false,
            v1,
            near_expiry,
        }
    }

    #[test]
    fn only_the_documented_refusals_refresh() {
        let scope = Refusal {
            scope_check: true,
            ..refusal(401, false, true)
        };
        assert_eq!(token_rule(&scope), TokenRule::ScopeMismatch);
        assert!(matches!(
            token_rule(&refusal(401, false, false)),
            TokenRule::Refresh(_)
        ));
        assert!(matches!(
            token_rule(&refusal(404, false, true)),
            TokenRule::Refresh(_)
        ));
        assert_eq!(token_rule(&refusal(404, false, false)), TokenRule::Final);
        assert_eq!(token_rule(&refusal(404, true, true)), TokenRule::Final);
        assert!(matches!(
            token_rule(&refusal(403, true, true)),
            TokenRule::Refresh(_)
        ));
        assert_eq!(token_rule(&refusal(403, true, false)), TokenRule::Final);
        assert_eq!(token_rule(&refusal(403, false, true)), TokenRule::Final);
        assert_eq!(token_rule(&refusal(400, false, true)), TokenRule::Final);
    }

    #[test]
    fn error_details_are_short_and_never_the_raw_body() {
        let v2 = br#"{"errors":[{"status":400,"code":"INVALID_REQUEST_PARAMETER","title":"Invalid cursor: malformed"}]}"#;
        assert_eq!(error_detail(v2), "Invalid cursor: malformed");
        let v1 = br#"{"statusCode":400,"message":"accountId is required"}"#;
        assert_eq!(error_detail(v1), "accountId is required");
        assert_eq!(error_detail(b"<html>oops</html>"), "no detail");
        let long = format!(r#"{{"message":"{}\n"}}"#, "x".repeat(1000));
        assert_eq!(error_detail(long.as_bytes()).len(), MAX_DETAIL_CHARS);
    }
}
