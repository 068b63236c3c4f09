//! The AINexLayer indexer stand-in: the batch contract of DESIGN.md section 6
//! (bearer auth, idempotency keys, schema validation, size limit, rejected
//! documents) and everything tests inspect afterwards (indexed state, the
//! ordered record of upserts and deletes, counters), plus injectable
//! failures (503s, downtime on the sim clock, latency).
//!
//! The decisions live here, over plain data; [`http`] only moves bytes.

pub(crate) mod http;
pub(crate) mod validate;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::{Millis, format_ms};

/// Injected indexer failures (control API). Unset fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexerFaultUpdate {
    /// Fail the next N batches.
    pub fail_next: Option<u32>,
    /// Status of those failures (default 503).
    pub fail_status: Option<u16>,
    /// `Retry-After` seconds sent with those failures.
    pub retry_after_secs: Option<u64>,
    /// Be down for this many seconds of sim clock from now.
    pub down_for_secs: Option<u64>,
    /// While down, drop new connections instead of answering 503.
    pub refuse_connections: Option<bool>,
    /// Answer 422 for any batch containing these document ids.
    pub reject_ids: Option<Vec<String>>,
    /// Latency (real time) added to every batch.
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexerFaults {
    pub fail_next: u32,
    pub fail_status: u16,
    pub retry_after_secs: Option<u64>,
    /// Sim time (ms) until which the indexer is down.
    pub down_until: Millis,
    pub refuse_connections: bool,
    pub reject_ids: HashSet<String>,
    pub latency_ms: u64,
}

/// What happened to one document, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexerEvent {
    pub seq: u64,
    pub batch: u64,
    pub op: IndexerOp,
    pub id: String,
    pub version: Option<u64>,
    pub content_sha256: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexerOp {
    Upsert,
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexerStats {
    /// Every request to the batch endpoint.
    pub requests: u64,
    /// Batches accepted and applied.
    pub batches: u64,
    pub upserts: u64,
    pub deletes: u64,
    /// Batches answered from the idempotency store (not applied again).
    pub duplicates: u64,
    pub unauthorized: u64,
    /// 400, 413 and 422 answers.
    pub rejected: u64,
    /// Injected failures and downtime answers.
    pub failed: u64,
    /// Accepted batches without an `Idempotency-Key`.
    pub without_idempotency_key: u64,
}

/// An HTTP answer of the indexer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl Answer {
    fn new(status: u16, body: Value) -> Self {
        Answer {
            status,
            body,
            retry_after: None,
        }
    }
}

#[derive(Debug)]
struct Stored {
    hash: String,
    answer: Answer,
}

#[derive(Debug)]
pub(crate) struct IndexerState {
    token: String,
    max_batch_bytes: usize,
    keep_content: bool,
    documents: BTreeMap<String, Value>,
    events: Vec<IndexerEvent>,
    idempotency: HashMap<String, Stored>,
    stats: IndexerStats,
    faults: IndexerFaults,
    next_batch: u64,
}

/// What the transport tells the indexer about a request.
#[derive(Debug)]
pub(crate) struct BatchRequest<'a> {
    pub bearer: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// `None`: the body exceeded the size limit.
    pub body: Option<&'a [u8]>,
}

impl IndexerState {
    pub(crate) fn new(token: String, max_batch_bytes: usize, keep_content: bool) -> Self {
        IndexerState {
            token,
            max_batch_bytes,
            keep_content,
            documents: BTreeMap::new(),
            events: Vec::new(),
            idempotency: HashMap::new(),
            stats: IndexerStats::default(),
            faults: IndexerFaults {
                fail_status: 503,
                ..IndexerFaults::default()
            },
            next_batch: 1,
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn max_batch_bytes(&self) -> usize {
        self.max_batch_bytes
    }

    pub(crate) fn latency_ms(&self) -> u64 {
        self.faults.latency_ms
    }

    /// Down and set to drop connections rather than answer.
    pub(crate) fn refusing(&self, now: Millis) -> bool {
        self.faults.refuse_connections && now < self.faults.down_until
    }

    /// Handles one `POST /v1/documents/batch`.
    pub(crate) fn batch(&mut self, request: &BatchRequest<'_>, now: Millis) -> Answer {
        self.stats.requests += 1;
        if request.bearer != Some(self.token.as_str()) {
            self.stats.unauthorized += 1;
            return Answer::new(401, json!({"error": "unauthorized"}));
        }
        if let Some(answer) = self.injected_failure(now) {
            self.stats.failed += 1;
            return answer;
        }
        let Some(body) = request.body else {
            self.stats.rejected += 1;
            return Answer::new(
                413,
                json!({"error": "payload_too_large", "max_bytes": self.max_batch_bytes}),
            );
        };
        let answer = self.process(body, request.idempotency_key, now);
        if (400..500).contains(&answer.status) {
            self.stats.rejected += 1;
        }
        answer
    }

    fn injected_failure(&mut self, now: Millis) -> Option<Answer> {
        if now < self.faults.down_until {
            return Some(Answer::new(503, json!({"error": "unavailable"})));
        }
        if self.faults.fail_next > 0 {
            self.faults.fail_next -= 1;
            return Some(Answer {
                status: self.faults.fail_status,
                body: json!({"error": "unavailable"}),
                retry_after: self.faults.retry_after_secs,
            });
        }
        None
    }

    fn process(&mut self, body: &[u8], key: Option<&str>, now: Millis) -> Answer {
        let batch: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => {
                return Answer::new(
                    400,
                    json!({"error": "invalid_json", "message": e.to_string()}),
                );
            }
        };
        let hash = hex::encode(Sha256::digest(batch.to_string()));
        if let Some(stored) = key.and_then(|k| self.idempotency.get(k)) {
            if stored.hash == hash {
                self.stats.duplicates += 1;
                return stored.answer.clone();
            }
            return Answer::new(
                422,
                json!({"error": "idempotency_key_reused", "message": "this Idempotency-Key was used with a different body"}),
            );
        }
        let answer = self.apply(&batch, now);
        match key {
            Some(key) if answer.status == 200 => {
                self.idempotency.insert(
                    key.to_owned(),
                    Stored {
                        hash,
                        answer: answer.clone(),
                    },
                );
            }
            None if answer.status == 200 => self.stats.without_idempotency_key += 1,
            _ => {}
        }
        answer
    }

    fn apply(&mut self, batch: &Value, now: Millis) -> Answer {
        let (upserts, deletes) = match validate::validate(batch) {
            Ok(lists) => lists,
            Err(problems) => {
                return Answer::new(400, json!({"error": "invalid_batch", "problems": problems}));
            }
        };
        let rejected: Vec<&str> = upserts
            .iter()
            .chain(&deletes)
            .filter_map(|d| d.get("id").and_then(Value::as_str))
            .filter(|id| self.faults.reject_ids.contains(*id))
            .collect();
        if !rejected.is_empty() {
            let rejected: Vec<Value> = rejected
                .iter()
                .map(|id| json!({"id": id, "reason": "rejected by the indexer"}))
                .collect();
            return Answer::new(
                422,
                json!({"error": "rejected_documents", "rejected": rejected}),
            );
        }
        let batch_no = self.next_batch;
        self.next_batch += 1;
        for doc in &upserts {
            self.upsert(batch_no, doc, now);
        }
        for delete in &deletes {
            self.delete(batch_no, delete, now);
        }
        self.stats.batches += 1;
        Answer::new(
            200,
            json!({"batch": batch_no, "upserts": upserts.len(), "deletes": deletes.len()}),
        )
    }

    fn record(&mut self, batch: u64, op: IndexerOp, doc: &Value, now: Millis) {
        let text = |f: &str| doc.get(f).and_then(Value::as_str).map(str::to_owned);
        self.events.push(IndexerEvent {
            seq: self.events.len() as u64 + 1,
            batch,
            op,
            id: text("id").unwrap_or_default(),
            version: doc.get("version").and_then(Value::as_u64),
            content_sha256: text("content_sha256"),
            at: format_ms(now),
        });
    }

    fn upsert(&mut self, batch: u64, doc: &Value, now: Millis) {
        self.stats.upserts += 1;
        self.record(batch, IndexerOp::Upsert, doc, now);
        let Some(id) = doc.get("id").and_then(Value::as_str) else {
            return;
        };
        let mut stored = doc.clone();
        if !self.keep_content {
            let len = doc
                .get("content_markdown")
                .and_then(Value::as_str)
                .map_or(0, str::len);
            stored["content_markdown"] = Value::String(format!("<{len} bytes not kept>"));
        }
        self.documents.insert(id.to_owned(), stored);
    }

    fn delete(&mut self, batch: u64, delete: &Value, now: Millis) {
        self.stats.deletes += 1;
        self.record(batch, IndexerOp::Delete, delete, now);
        if let Some(id) = delete.get("id").and_then(Value::as_str) {
            self.documents.remove(id);
        }
    }

    // ---- inspection and control -------------------------------------------

    pub(crate) fn documents(&self) -> BTreeMap<String, Value> {
        self.documents.clone()
    }

    pub(crate) fn document(&self, id: &str) -> Option<Value> {
        self.documents.get(id).cloned()
    }

    pub(crate) fn events(&self) -> Vec<IndexerEvent> {
        self.events.clone()
    }

    pub(crate) fn stats(&self) -> IndexerStats {
        self.stats.clone()
    }

    pub(crate) fn faults(&self) -> IndexerFaults {
        self.faults.clone()
    }

    pub(crate) fn update_faults(&mut self, update: IndexerFaultUpdate, now: Millis) {
        let f = &mut self.faults;
        if let Some(n) = update.fail_next {
            f.fail_next = n;
        }
        if let Some(status) = update.fail_status {
            f.fail_status = status;
        }
        if update.retry_after_secs.is_some() {
            f.retry_after_secs = update.retry_after_secs;
        }
        if let Some(secs) = update.down_for_secs {
            f.down_until = now + (secs * 1000) as Millis;
        }
        if let Some(refuse) = update.refuse_connections {
            f.refuse_connections = refuse;
        }
        if let Some(ids) = update.reject_ids {
            f.reject_ids.extend(ids);
        }
        if let Some(ms) = update.latency_ms {
            f.latency_ms = ms;
        }
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults = IndexerFaults {
            fail_status: 503,
            ..IndexerFaults::default()
        };
    }

    /// Forgets documents, events, idempotency keys and counters.
    pub(crate) fn reset(&mut self) {
        self.documents.clear();
        self.events.clear();
        self.idempotency.clear();
        self.stats = IndexerStats::default();
        self.next_batch = 1;
    }
}
