//! The HTTP indexer client: `POST {INDEXER_URL}/v1/documents/batch` with the
//! bearer token and an `Idempotency-Key`, one bounded batch at a time.
//!
//! The key is the hex SHA-256 of a random per-push nonce followed by the exact
//! body: stable across the retries of a batch (what idempotency is for), but
//! new for every push. DESIGN.md asks for a hash of the batch alone; then a
//! batch identical to one the indexer saw before would be answered from its
//! idempotency store and NOT applied, although the documents were deleted in
//! between (a purge, then a reconnect: measured, none of the 55 documents came
//! back). Upserts and deletes are idempotent by document id, so a new key for
//! a re-sent batch costs nothing.
//!
//! A batch is retried as is (same body, same key) on 408, 429, 5xx, timeouts
//! and connection errors, following the [`RetryPolicy`]; a refused batch (400,
//! 413, 422) is split to isolate the documents the indexer will not take, which
//! become dead letters while the rest carries on; 401/403 stop the push.
//!
//! Never logs a document's content, a response body or the token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use confsync_core::document::BatchRequest;
use confsync_core::retry_after::parse_retry_after;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use crate::batch::{self, BatchLimits, Encoded, Packer};
use crate::error::IndexerError;
use crate::events;
use crate::metrics::IndexerMetrics;
use crate::refusal::Refusal;
use crate::report::PushReport;
use crate::retry::{RetryPolicy, RetryTimer};
use crate::split::{self, Isolated};

/// Most bytes of a response body read; refusals naming a batch's documents fit easily.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The `Idempotency-Key` of a body sent by the push `nonce`: hex SHA-256 of
/// the nonce and the body's exact bytes, so a retry of the same batch carries
/// the same key and any other batch, or a later push of the same one, another.
pub fn idempotency_key(nonce: &[u8; 16], body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(nonce);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// What the HTTP client needs, already checked.
pub(crate) struct HttpSettings {
    pub base: Url,
    pub token: SecretString,
    pub limits: BatchLimits,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub timer: Arc<dyn RetryTimer>,
}

pub(crate) struct HttpIndexer {
    client: reqwest::Client,
    endpoint: Url,
    authorization: HeaderValue,
    limits: BatchLimits,
    retry: RetryPolicy,
    timer: Arc<dyn RetryTimer>,
    metrics: IndexerMetrics,
}

impl fmt::Debug for HttpIndexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpIndexer")
            .field("endpoint", &self.endpoint.as_str())
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// An answer that ends a request's retries.
enum Answer {
    Accepted,
    Refused(Refusal),
}

/// Why an attempt did not get an [`Answer`].
enum Failure {
    /// Worth sending the same batch again.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help; the push stops.
    Fatal(IndexerError),
}

impl HttpIndexer {
    pub(crate) fn new(
        settings: HttpSettings,
        metrics: IndexerMetrics,
    ) -> Result<Self, IndexerError> {
        let endpoint = batch_endpoint(&settings.base)?;
        let authorization = bearer(&settings.token)?;
        let client = reqwest::Client::builder()
            // The indexer has no reason to redirect a batch; following one would
            // send the token and documents somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.request_timeout)
            .build()
            .map_err(|_| IndexerError::Config("cannot build the http client".into()))?;
        Ok(HttpIndexer {
            client,
            endpoint,
            authorization,
            limits: settings.limits,
            retry: settings.retry,
            timer: settings.timer,
            metrics,
        })
    }

    /// Packs `batch` into bounded batches and delivers each as soon as it is
    /// full, so at most one batch's JSON is held at a time.
    pub(crate) async fn push(&self, batch: BatchRequest) -> Result<PushReport, IndexerError> {
        let mut report = PushReport::default();
        let nonce: [u8; 16] = rand::random();
        let mut packer = Packer::new(self.limits);
        for item in batch::items_of(batch) {
            if let Some(full) = packer.add(Encoded::new(item)) {
                self.deliver(full, &nonce, &mut report).await?;
            }
        }
        if let Some(last) = packer.take() {
            self.deliver(last, &nonce, &mut report).await?;
        }
        Ok(report)
    }

    /// Sends one bounded batch, splitting it while the indexer refuses it,
    /// until each of its items is accepted or dead-lettered.
    async fn deliver(
        &self,
        items: Vec<Encoded>,
        nonce: &[u8; 16],
        report: &mut PushReport,
    ) -> Result<(), IndexerError> {
        // Depth first, left before right, so items reach the indexer in order.
        let mut pending = vec![items];
        while let Some(items) = pending.pop() {
            match self
                .send(&batch::encode_body(&items), nonce, items.len())
                .await?
            {
                Answer::Accepted => {
                    let accepted = || items.iter().map(|e| &e.item);
                    events::documents_accepted(&self.metrics, accepted());
                    report.record_accepted(accepted());
                }
                Answer::Refused(refusal) => {
                    let Isolated { dead, retry } = split::isolate(items, &refusal);
                    for letter in dead {
                        events::dead_lettered(&letter);
                        report.dead_letters.push(letter);
                    }
                    pending.extend(retry.into_iter().rev());
                }
            }
        }
        Ok(())
    }

    /// One request with its retries: same body, same key every time.
    async fn send(
        &self,
        body: &[u8],
        nonce: &[u8; 16],
        items: usize,
    ) -> Result<Answer, IndexerError> {
        let key = idempotency_key(nonce, body);
        let mut schedule = self.retry.schedule();
        let mut attempt: u32 = 1;
        loop {
            let (reason, retry_after) = match self.attempt(body, &key).await {
                Ok(Answer::Accepted) => {
                    events::request_ok(&self.metrics, items, body.len(), attempt);
                    return Ok(Answer::Accepted);
                }
                Ok(Answer::Refused(refusal)) => {
                    events::request_refused(&self.metrics, refusal.status, items);
                    return Ok(Answer::Refused(refusal));
                }
                Err(Failure::Fatal(error)) => {
                    events::request_stopped(&self.metrics, &error);
                    return Err(error);
                }
                Err(Failure::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after),
            };
            let Some(wait) = schedule.next_wait(retry_after) else {
                events::request_failed(&self.metrics, &reason, attempt);
                return Err(IndexerError::Unavailable {
                    attempts: attempt,
                    reason,
                    retry_after,
                });
            };
            events::request_retried(&self.metrics, &reason, attempt, wait);
            self.timer.wait(wait).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// One HTTP request.
    async fn attempt(&self, body: &[u8], key: &str) -> Result<Answer, Failure> {
        let response = self
            .client
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::Transient {
                reason: transport_reason(&e),
                retry_after: None,
            })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = read_bounded(response).await;
        match status.as_u16() {
            200..=299 => Ok(Answer::Accepted),
            400 | 413 | 422 => Ok(Answer::Refused(Refusal::parse(status.as_u16(), &text))),
            401 | 403 => Err(Failure::Fatal(IndexerError::TokenRefused {
                status: status.as_u16(),
            })),
            _ if retryable(status) => Err(Failure::Transient {
                reason: format!("http {}", status.as_u16()),
                retry_after,
            }),
            other => Err(Failure::Fatal(IndexerError::UnexpectedStatus {
                status: other,
            })),
        }
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// `{base}/v1/documents/batch`, keeping any path prefix of the base.
fn batch_endpoint(base: &Url) -> Result<Url, IndexerError> {
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(IndexerError::Config(
            "the indexer url must be an absolute http(s) url".into(),
        ));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(IndexerError::Config(
            "the indexer url must not carry credentials; use INDEXER_TOKEN".into(),
        ));
    }
    let mut endpoint = base.clone();
    endpoint.set_query(None);
    endpoint.set_fragment(None);
    endpoint
        .path_segments_mut()
        .map_err(|()| IndexerError::Config("the indexer url cannot take a path".into()))?
        .pop_if_empty()
        .extend(["v1", "documents", "batch"]);
    Ok(endpoint)
}

/// `Bearer <token>` as a header value marked sensitive (hidden from `Debug`).
fn bearer(token: &SecretString) -> Result<HeaderValue, IndexerError> {
    let token = token.expose_secret();
    if token.is_empty() {
        return Err(IndexerError::Config(
            "an http indexer needs a token (INDEXER_TOKEN)".into(),
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        IndexerError::Config("the indexer token has characters not allowed in a header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Retry-After` in seconds or as an HTTP date; junk is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, Utc::now())
}

/// The body, at most [`MAX_RESPONSE_BYTES`] of it; a read error keeps what
/// arrived (the status already says what happened).
async fn read_bounded(mut response: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    body
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_keeps_a_path_prefix() {
        let cases = [
            (
                "http://127.0.0.1:9/",
                "http://127.0.0.1:9/v1/documents/batch",
            ),
            (
                "http://127.0.0.1:9",
                "http://127.0.0.1:9/v1/documents/batch",
            ),
            (
                "https://ix.example/api/?q=1#f",
                "https://ix.example/api/v1/documents/batch",
            ),
            (
                "https://ix.example/api",
                "https://ix.example/api/v1/documents/batch",
            ),
        ];
        for (base, expected) in cases {
            let base = Url::parse(base).unwrap();
            assert_eq!(batch_endpoint(&base).unwrap().as_str(), expected);
        }
    }

    #[test]
    fn endpoints_without_http_or_with_credentials_are_refused() {
        for base in ["ftp://x/", "file:///tmp/x", "https://user:pw@ix.example/"] {
            let error = batch_endpoint(&Url::parse(base).unwrap()).unwrap_err();
            assert!(matches!(error, IndexerError::Config(_)), "{base}: {error}");
            assert!(!error.to_string().contains("pw"));
        }
    }

    #[test]
    fn the_bearer_header_is_sensitive_and_checked() {
        let value = bearer(&SecretString::from("s3cret")).unwrap();
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("s3cret"));
        let bad = bearer(&SecretString::from("a\nb")).unwrap_err();
        assert!(!bad.to_string().contains("a\nb"));
        assert!(bearer(&SecretString::from("")).is_err());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let in_a_minute = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&in_a_minute).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(60) && wait <= Duration::from_secs(90),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn keys_are_hex_sha256_of_the_push_nonce_and_the_exact_body() {
        let body = br#"{"upserts":[],"deletes":[]}"#;
        let key = idempotency_key(&[7; 16], body);
        assert_eq!(key.len(), 64);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let mut expected = [7u8; 16].to_vec();
        expected.extend_from_slice(body);
        assert_eq!(key, hex::encode(Sha256::digest(&expected)));
        assert_eq!(key, idempotency_key(&[7; 16], body));
        assert_ne!(
            key,
            idempotency_key(&[7; 16], br#"{"upserts":[], "deletes":[]}"#)
        );
        assert_ne!(
            key,
            idempotency_key(&[8; 16], body),
            "another push, another key"
        );
    }

    #[test]
    fn only_timeouts_throttling_and_server_errors_are_retried() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(retryable(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [200, 301, 400, 401, 404, 409, 413, 422] {
            assert!(
                !retryable(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }
}
