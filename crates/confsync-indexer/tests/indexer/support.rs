//! Shared harness: valid schema-v1 documents, a simulator, an indexer client
//! pointed at it, a timer that records waits instead of sleeping, and a
//! recording proxy that can lose answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use confsync_core::document::{
    Author, CommentInfo, ContentStatus, Delete, Document, SCHEMA_VERSION, SiteRef, SpaceRef,
};
use confsync_core::{
    AccountId, CloudId, ContentId, ContentKind, DocumentId, GrantId, SpaceId, TenantId,
};
use confsync_indexer::metrics::IndexerMetrics;
use confsync_indexer::{
    BatchLimits, Indexer, IndexerConfig, IndexerTarget, RetryPolicy, RetryTimer,
};
use confsync_sim::{Sim, SimConfig, SimHandle};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const CLOUD: &str = "c-1";
pub const TOKEN: &str = "indexer-test-token";

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, day, 9, 30, 0).unwrap()
}

pub fn id(kind: ContentKind, n: u64) -> DocumentId {
    DocumentId::new(
        &CloudId::parse(CLOUD).unwrap(),
        kind,
        &ContentId::parse(n.to_string()).unwrap(),
    )
}

/// A valid schema-v1 document of `kind`, content id `n`.
pub fn doc_of(kind: ContentKind, n: u64, content: &str) -> Document {
    let title = match kind {
        ContentKind::Page | ContentKind::Blogpost => format!("Runbook {n}"),
        ContentKind::FooterComment | ContentKind::InlineComment => "Comment on Runbook".into(),
    };
    let is_comment = matches!(
        kind,
        ContentKind::FooterComment | ContentKind::InlineComment
    );
    let hash = Sha256::digest(format!("{title}\n{content}\nrunbook"));
    Document {
        id: id(kind, n),
        schema_version: SCHEMA_VERSION,
        tenant_id: TenantId::parse("tenant-1").unwrap(),
        grant_id: GrantId::parse("grant-1").unwrap(),
        source: "confluence".into(),
        kind,
        site: SiteRef {
            cloud_id: CloudId::parse(CLOUD).unwrap(),
            url: "https://acme.atlassian.net".into(),
            name: "Acme".into(),
        },
        space: Some(SpaceRef {
            id: SpaceId::parse("9").unwrap(),
            key: "ENG".into(),
            name: "Engineering".into(),
        }),
        url: format!("https://acme.atlassian.net/wiki/spaces/ENG/pages/{n}"),
        title,
        parent_id: is_comment.then(|| id(ContentKind::Page, 1)),
        breadcrumbs: vec!["Engineering".into()],
        labels: if is_comment {
            vec![]
        } else {
            vec!["runbook".into()]
        },
        author: Some(Author {
            account_id: AccountId::parse("5b10ac8d82e05b22cc7d4ef5").unwrap(),
            display_name: Some("Mia Krüger".into()),
        }),
        created_at: at(18),
        updated_at: at(19),
        version: 1,
        status: ContentStatus::Current,
        content_markdown: content.to_owned(),
        content_sha256: hex::encode(hash),
        comment: match kind {
            ContentKind::InlineComment => Some(CommentInfo {
                resolution_status: Some("open".into()),
                quoted_text: Some("the steps".into()),
            }),
            ContentKind::FooterComment => Some(CommentInfo {
                resolution_status: None,
                quoted_text: None,
            }),
            _ => None,
        },
    }
}

/// Page `n` with a short body.
pub fn page(n: u64) -> Document {
    doc_of(ContentKind::Page, n, &format!("# Runbook {n}\n\nSteps."))
}

/// Page `n` with `bytes` bytes of content.
pub fn page_of_size(n: u64, bytes: usize) -> Document {
    doc_of(ContentKind::Page, n, &"x".repeat(bytes))
}

pub fn delete(kind: ContentKind, n: u64) -> Delete {
    Delete {
        id: id(kind, n),
        tenant_id: TenantId::parse("tenant-1").unwrap(),
        deleted_at: at(20),
    }
}

pub fn pages(range: std::ops::Range<u64>) -> Vec<Document> {
    range.map(page).collect()
}

/// A small frozen-clock simulator with a known indexer token.
pub async fn sim(config: SimConfig) -> SimHandle {
    Sim::start(config).await.expect("the simulator starts")
}

pub fn sim_config() -> SimConfig {
    SimConfig::default()
        .seed(7)
        .pages(10)
        .freeze_clock(true)
        .indexer_token(TOKEN)
}

pub fn metrics() -> IndexerMetrics {
    IndexerMetrics::register(&prometheus::Registry::new()).unwrap()
}

pub fn requests(metrics: &IndexerMetrics, outcome: &str) -> u64 {
    metrics.requests.with_label_values(&[outcome]).get()
}

pub fn pushed(metrics: &IndexerMetrics, kind: &str, op: &str) -> u64 {
    metrics
        .documents_pushed
        .with_label_values(&[kind, op])
        .get()
}

/// Millisecond backoff, 5 attempts: retries cost nothing in wall time.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_attempts: 5,
        max_total_wait: Duration::from_secs(60),
    }
}

pub fn http_config(url: &str) -> IndexerConfig {
    IndexerConfig {
        target: IndexerTarget::Http(url.parse().unwrap()),
        token: TOKEN.into(),
        limits: BatchLimits::default(),
        request_timeout: Duration::from_secs(30),
        retry: fast_retry(),
    }
}

/// Records each wait and returns at once.
#[derive(Debug, Default)]
pub struct RecordingTimer {
    waits: Mutex<Vec<Duration>>,
}

impl RecordingTimer {
    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

impl RetryTimer for RecordingTimer {
    fn wait(&self, duration: Duration) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        self.waits.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// An indexer for `config` whose retries wait on a [`RecordingTimer`].
pub fn indexer(config: IndexerConfig, metrics: &IndexerMetrics) -> (Indexer, Arc<RecordingTimer>) {
    let timer = Arc::new(RecordingTimer::default());
    let indexer = Indexer::with_timer(config, metrics.clone(), timer.clone()).unwrap();
    (indexer, timer)
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub idempotency_key: Option<String>,
    pub body: Vec<u8>,
    /// The upstream status; `None` when the proxy dropped the answer.
    pub status: Option<u16>,
}

/// An HTTP/1.1 proxy in front of the simulated indexer that records every
/// request and can lose the first answers (forwarded, applied upstream, then
/// the connection dropped), as a network failure after the indexer's commit would.
#[derive(Debug)]
pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    pub async fn start(upstream: String, lose_answers: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let lose = Arc::new(Mutex::new(lose_answers));
        let log = seen.clone();
        tokio::spawn(async move {
            let upstream_client = reqwest::Client::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream, log, lose) = (
                    upstream_client.clone(),
                    upstream.clone(),
                    log.clone(),
                    lose.clone(),
                );
                tokio::spawn(async move { relay(stream, &client, &upstream, &log, &lose).await });
            }
        });
        Proxy { url, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn relay(
    mut stream: TcpStream,
    client: &reqwest::Client,
    upstream: &str,
    log: &Mutex<Vec<Seen>>,
    lose: &Mutex<usize>,
) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut request = client.post(format!("{upstream}{path}")).body(body.clone());
    for name in ["authorization", "idempotency-key", "content-type"] {
        if let Some(value) = header(&head, name) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let answer = response.bytes().await.unwrap();
    let lost = {
        let mut lose = lose.lock().unwrap();
        let lost = *lose > 0;
        *lose = lose.saturating_sub(1);
        lost
    };
    log.lock().unwrap().push(Seen {
        idempotency_key: header(&head, "idempotency-key"),
        body,
        status: (!lost).then_some(status),
    });
    if lost {
        return; // dropping the stream closes the connection unanswered
    }
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.len()
    );
    if let Some(value) = retry_after {
        out.push_str(&format!("retry-after: {value}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await.unwrap();
    stream.write_all(&answer).await.unwrap();
    stream.shutdown().await.unwrap();
}

/// The request head and its `content-length` body.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = header(&head, "content-length")?.parse().ok()?;
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}
