//! Metric families of the indexer push, registered once per registry by the
//! binary that pushes. Labels come from small fixed sets: never a tenant,
//! document or account id. In this crate only `events` updates them;
//! `documents_unchanged` is the worker's, which decides what not to push.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct IndexerMetrics {
    /// `confsync_documents_pushed_total{kind,op}`: `op` is `upsert` or `delete`;
    /// `kind` is the document's kind for upserts, and for deletes the kind
    /// their id names (`page`, `blogpost`, `comment`, `unknown`).
    pub documents_pushed: IntCounterVec,
    /// `confsync_documents_unchanged_total`: documents skipped because their hash did not change.
    pub documents_unchanged: IntCounter,
    /// `confsync_indexer_requests_total{outcome}`: `ok`, `retried`, `rejected`, `failed`.
    pub requests: IntCounterVec,
}

impl IndexerMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let documents_pushed = IntCounterVec::new(
            Opts::new(
                "documents_pushed_total",
                "Documents accepted by the indexer, by kind and operation",
            ),
            &["kind", "op"],
        )?;
        let documents_unchanged = IntCounter::new(
            "documents_unchanged_total",
            "Documents not pushed because their content hash is unchanged",
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "indexer_requests_total",
                "Batch requests to the indexer, by outcome",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(documents_pushed.clone()))?;
        registry.register(Box::new(documents_unchanged.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        Ok(Self {
            documents_pushed,
            documents_unchanged,
            requests,
        })
    }
}
