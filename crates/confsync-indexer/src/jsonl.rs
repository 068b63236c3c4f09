//! The JSONL sink behind `INDEXER_URL=file://path`, for local runs and the
//! demo: one `{"op": "upsert", ...Document}` or `{"op": "delete", "id",
//! "tenant_id", "deleted_at"}` object per line, appended.
//!
//! Each push is one `write` of all its lines, then `sync_data`, so a crash
//! never leaves part of a push buffered in user space. It never refuses an
//! item (any content serializes) and never truncates the file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use confsync_core::document::{BatchRequest, Delete, Document};
use serde::Serialize;

use crate::batch::{self, BatchItem};
use crate::error::IndexerError;
use crate::events;
use crate::metrics::IndexerMetrics;
use crate::report::PushReport;

/// One line of the file: a wire format read by the demo and by people.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line<'a> {
    Upsert(&'a Document),
    Delete(&'a Delete),
}

#[derive(Debug)]
pub(crate) struct JsonlSink {
    path: PathBuf,
    /// One push at a time from this process, so pushes never interleave.
    writing: Arc<Mutex<()>>,
    metrics: IndexerMetrics,
}

impl JsonlSink {
    pub(crate) fn new(path: PathBuf, metrics: IndexerMetrics) -> Result<Self, IndexerError> {
        if path.as_os_str().is_empty() {
            return Err(IndexerError::Config("the jsonl sink needs a path".into()));
        }
        Ok(JsonlSink {
            path,
            writing: Arc::new(Mutex::new(())),
            metrics,
        })
    }

    pub(crate) async fn push(&self, batch: BatchRequest) -> Result<PushReport, IndexerError> {
        let items = batch::items_of(batch);
        let lines = encode_lines(&items);
        let bytes = lines.len();
        let (path, writing) = (self.path.clone(), Arc::clone(&self.writing));
        let written = tokio::task::spawn_blocking(move || {
            // Held by the writing thread itself, so a cancelled push cannot
            // let another one write while its own write is still running.
            let _writing = writing.lock().unwrap_or_else(PoisonError::into_inner);
            append(&path, &lines)
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::other("the write task did not finish")));
        if let Err(source) = written {
            let error = IndexerError::Sink {
                path: self.path.clone(),
                source,
            };
            events::request_stopped(&self.metrics, &error);
            return Err(error);
        }
        events::request_ok(&self.metrics, items.len(), bytes, 1);
        events::documents_accepted(&self.metrics, &items);
        let mut report = PushReport::default();
        report.record_accepted(&items);
        Ok(report)
    }
}

fn encode_lines(items: &[BatchItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let line = match item {
            BatchItem::Upsert(doc) => Line::Upsert(doc),
            BatchItem::Delete(delete) => Line::Delete(delete),
        };
        // serde_json escapes every control character, so a line never breaks.
        serde_json::to_writer(&mut out, &line)
            .expect("derived Serialize of Document and Delete has no map keys and never fails");
        out.push(b'\n');
    }
    out
}

/// Appends `lines` in one write, creating the file and its directories.
fn append(path: &Path, lines: &[u8]) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(lines)?;
    file.flush()?;
    file.sync_data()
}
