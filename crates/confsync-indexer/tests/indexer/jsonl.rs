//! The JSONL sink: one parseable object per line, in order, appended across
//! pushes, parent directories created, any content written as is.

use std::path::PathBuf;
use std::time::Duration;

use confsync_core::ContentKind;
use confsync_core::ErrorClass;
use confsync_core::document::{BatchRequest, Document};
use confsync_core::error::Classify;
use confsync_indexer::{
    BatchLimits, Indexer, IndexerConfig, IndexerError, IndexerTarget, RetryPolicy,
};
use serde_json::Value;

use crate::support::{delete, doc_of, metrics, page, pushed, requests};

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("confsync-indexer-{}", uuid::Uuid::new_v4()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sink(path: PathBuf, metrics: &confsync_indexer::metrics::IndexerMetrics) -> Indexer {
    let config = IndexerConfig {
        target: IndexerTarget::File(path),
        // The sink ignores the token.
        token: "".into(),
        limits: BatchLimits::default(),
        request_timeout: Duration::from_secs(1),
        retry: RetryPolicy::default(),
    };
    Indexer::new(config, metrics.clone()).unwrap()
}

fn lines(path: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "every line is terminated");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn without_op(line: &Value) -> Value {
    let mut line = line.clone();
    line.as_object_mut().unwrap().remove("op");
    line
}

#[tokio::test]
async fn the_sink_appends_one_parseable_line_per_item_in_order() {
    let scratch = Scratch::new();
    let path = scratch.0.join("nested/deeper/documents.jsonl");
    let metrics = metrics();
    let indexer = sink(path.clone(), &metrics);
    let hostile = doc_of(
        ContentKind::InlineComment,
        7,
        "line one\nline two\r\n\"quoted\" \\ tab\t nul\u{0} \u{2028} 🦀 ü",
    );
    let first = BatchRequest {
        upserts: vec![page(1), hostile.clone(), page(2)],
        deletes: vec![delete(ContentKind::Page, 3)],
    };
    let second = BatchRequest {
        upserts: vec![page(4)],
        deletes: vec![delete(ContentKind::FooterComment, 5)],
    };

    let report = indexer.push(first).await.unwrap();
    assert_eq!(
        (report.accepted_upserts(), report.accepted_deletes()),
        (3, 1)
    );
    indexer.push(second).await.unwrap();

    let lines = lines(&path);
    let ops: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["op"].as_str().unwrap(), l["id"].as_str().unwrap()))
        .collect();
    let (p1, c7, p2, p3, p4, c5) = (
        page(1).id,
        hostile.id.clone(),
        page(2).id,
        page(3).id,
        page(4).id,
        delete(ContentKind::FooterComment, 5).id,
    );
    assert_eq!(
        ops,
        [
            ("upsert", p1.as_str()),
            ("upsert", c7.as_str()),
            ("upsert", p2.as_str()),
            ("delete", p3.as_str()),
            ("upsert", p4.as_str()),
            ("delete", c5.as_str()),
        ]
    );
    let round_trip: Document = serde_json::from_value(without_op(&lines[1])).unwrap();
    assert_eq!(round_trip, hostile, "content is written as is");
    let mut delete_keys: Vec<&str> = lines[3]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    delete_keys.sort_unstable();
    assert_eq!(delete_keys, ["deleted_at", "id", "op", "tenant_id"]);
    assert_eq!(requests(&metrics, "ok"), 2);
    assert_eq!(pushed(&metrics, "page", "upsert"), 3);
    assert_eq!(pushed(&metrics, "comment", "delete"), 1);
}

#[tokio::test]
async fn the_sink_never_truncates_what_is_already_there() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(&scratch.0).unwrap();
    let path = scratch.0.join("documents.jsonl");
    std::fs::write(&path, "{\"op\":\"delete\",\"id\":\"earlier\"}\n").unwrap();
    let indexer = sink(path.clone(), &metrics());

    indexer
        .push(BatchRequest {
            upserts: vec![page(1)],
            deletes: vec![],
        })
        .await
        .unwrap();

    let lines = lines(&path);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "earlier");
    assert_eq!(lines[1]["id"], page(1).id.as_str());
}

#[tokio::test]
async fn a_sink_path_that_is_a_directory_is_a_permanent_error() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(&scratch.0).unwrap();
    let metrics = metrics();
    let indexer = sink(scratch.0.clone(), &metrics);

    let error = indexer
        .push(BatchRequest {
            upserts: vec![page(1)],
            deletes: vec![],
        })
        .await
        .unwrap_err();

    assert!(matches!(error, IndexerError::Sink { .. }), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert_eq!(requests(&metrics, "failed"), 1);
    assert_eq!(pushed(&metrics, "page", "upsert"), 0);
}
