//! Packing upserts and deletes into batches the indexer accepts: at most
//! `max_documents` items and `max_bytes` of request body, measured exactly as
//! the bytes the HTTP body will have. Order is kept, and an item larger than
//! the byte bound goes alone (the indexer then decides).
//!
//! Pure: no IO. Must never drop, reorder or merge items.

use std::collections::HashMap;
use std::io;

use confsync_core::DocumentId;
use confsync_core::document::{BatchRequest, Delete, Document};
use serde::Serialize;

/// Bounds of one batch request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Upserts plus deletes.
    pub max_documents: usize,
    /// Bytes of the JSON body.
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    /// 100 items and 5 MiB, as DESIGN.md section 6 says.
    fn default() -> Self {
        BatchLimits {
            max_documents: 100,
            max_bytes: 5 * 1024 * 1024,
        }
    }
}

impl BatchLimits {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_documents == 0 {
            return Err("max_documents must be at least 1".into());
        }
        if self.max_bytes == 0 {
            return Err("max_bytes must be at least 1".into());
        }
        Ok(())
    }
}

/// One operation of a push: what a dead letter carries so it can be retried.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every item is an upsert: boxing would cost an allocation per document and save nothing"
)]
pub enum BatchItem {
    Upsert(Document),
    Delete(Delete),
}

impl BatchItem {
    pub fn id(&self) -> &DocumentId {
        match self {
            BatchItem::Upsert(doc) => &doc.id,
            BatchItem::Delete(delete) => &delete.id,
        }
    }

    /// `upsert` or `delete`: the `op` metric label and JSONL field.
    pub fn op(&self) -> &'static str {
        match self {
            BatchItem::Upsert(_) => "upsert",
            BatchItem::Delete(_) => "delete",
        }
    }

    /// The `kind` metric label: the document's kind for an upsert; for a
    /// delete, the segment its id names (`page`, `blogpost`, `comment`), as a
    /// delete does not say which kind of comment it removes.
    pub fn kind_label(&self) -> &'static str {
        match self {
            BatchItem::Upsert(doc) => doc.kind.as_str(),
            BatchItem::Delete(delete) => DeleteKind::of(&delete.id).as_str(),
        }
    }
}

/// What a deleted document was, read from its id
/// (`confluence:{cloud}:{page|blogpost|comment}:{content}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeleteKind {
    Page,
    Blogpost,
    /// Footer or inline: the id does not tell.
    Comment,
    /// An id not of confsync's form.
    Unknown,
}

impl DeleteKind {
    pub fn of(id: &DocumentId) -> Self {
        // The cloud id may itself contain ':', so read the segment from the right.
        let mut parts = id.as_str().rsplitn(3, ':');
        let (_content, segment, rest) = (parts.next(), parts.next(), parts.next());
        if !rest.is_some_and(|r| r.starts_with("confluence:")) {
            return DeleteKind::Unknown;
        }
        match segment {
            Some("page") => DeleteKind::Page,
            Some("blogpost") => DeleteKind::Blogpost,
            Some("comment") => DeleteKind::Comment,
            _ => DeleteKind::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeleteKind::Page => "page",
            DeleteKind::Blogpost => "blogpost",
            DeleteKind::Comment => "comment",
            DeleteKind::Unknown => "unknown",
        }
    }
}

/// The items of a request, upserts first, as the indexer applies them.
pub(crate) fn items_of(batch: BatchRequest) -> Vec<BatchItem> {
    let BatchRequest { upserts, deletes } = batch;
    upserts
        .into_iter()
        .map(BatchItem::Upsert)
        .chain(deletes.into_iter().map(BatchItem::Delete))
        .collect()
}

/// The request carrying `items`.
fn request_of(items: Vec<BatchItem>) -> BatchRequest {
    let mut batch = BatchRequest::default();
    for item in items {
        match item {
            BatchItem::Upsert(doc) => batch.upserts.push(doc),
            BatchItem::Delete(delete) => batch.deletes.push(delete),
        }
    }
    batch
}

/// An item with its JSON, serialized once: measured, sent, and sent again
/// without re-serializing when a refused batch is split.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub item: BatchItem,
    json: Vec<u8>,
}

impl Encoded {
    pub(crate) fn new(item: BatchItem) -> Self {
        let json = match &item {
            BatchItem::Upsert(doc) => serde_json::to_vec(doc),
            BatchItem::Delete(delete) => serde_json::to_vec(delete),
        }
        .expect("derived Serialize of Document and Delete has no map keys and never fails");
        Encoded { item, json }
    }
}

/// The exact JSON body of `POST /v1/documents/batch` for `entries`: what
/// `serde_json` writes for the [`BatchRequest`], assembled from each item's
/// JSON.
pub(crate) fn encode_body(entries: &[Encoded]) -> Vec<u8> {
    let size = entries.iter().fold(BodySize::default(), |size, e| {
        size.with(&e.item, e.json.len())
    });
    let mut body = Vec::with_capacity(size.bytes());
    body.extend_from_slice(br#"{"upserts":["#);
    join(&mut body, entries, |item| {
        matches!(item, BatchItem::Upsert(_))
    });
    body.extend_from_slice(br#"],"deletes":["#);
    join(&mut body, entries, |item| {
        matches!(item, BatchItem::Delete(_))
    });
    body.extend_from_slice(b"]}");
    body
}

fn join(body: &mut Vec<u8>, entries: &[Encoded], wanted: impl Fn(&BatchItem) -> bool) {
    let mut first = true;
    for entry in entries.iter().filter(|e| wanted(&e.item)) {
        if !first {
            body.push(b',');
        }
        first = false;
        body.extend_from_slice(&entry.json);
    }
}

/// Bytes of `{"upserts":[],"deletes":[]}`.
const EMPTY_BODY_LEN: usize = 27;

/// Running size of a body: items and bytes per list. Each list of n items
/// adds its items' bytes and n - 1 commas to the empty body.
#[derive(Debug, Clone, Copy, Default)]
struct BodySize {
    upserts: usize,
    upsert_bytes: usize,
    deletes: usize,
    delete_bytes: usize,
}

impl BodySize {
    fn with(mut self, item: &BatchItem, json_len: usize) -> Self {
        match item {
            BatchItem::Upsert(_) => {
                self.upserts += 1;
                self.upsert_bytes = self.upsert_bytes.saturating_add(json_len);
            }
            BatchItem::Delete(_) => {
                self.deletes += 1;
                self.delete_bytes = self.delete_bytes.saturating_add(json_len);
            }
        }
        self
    }

    fn items(self) -> usize {
        self.upserts + self.deletes
    }

    fn bytes(self) -> usize {
        EMPTY_BODY_LEN
            .saturating_add(self.upsert_bytes)
            .saturating_add(self.upserts.saturating_sub(1))
            .saturating_add(self.delete_bytes)
            .saturating_add(self.deletes.saturating_sub(1))
    }
}

/// What the packer needs of an entry: the item, and its JSON's length.
pub(crate) trait Entry {
    fn item(&self) -> &BatchItem;
    fn json_len(&self) -> usize;
}

impl Entry for BatchItem {
    fn item(&self) -> &BatchItem {
        self
    }

    /// Counted without building the JSON: the caller's batcher keeps no copy.
    fn json_len(&self) -> usize {
        match self {
            BatchItem::Upsert(doc) => counted_json_len(doc),
            BatchItem::Delete(delete) => counted_json_len(delete),
        }
    }
}

impl Entry for Encoded {
    fn item(&self) -> &BatchItem {
        &self.item
    }

    fn json_len(&self) -> usize {
        self.json.len()
    }
}

/// The packing rules, over items ([`Batcher`]) or encoded items (the push).
#[derive(Debug)]
pub(crate) struct Packer<T> {
    limits: BatchLimits,
    entries: Vec<T>,
    size: BodySize,
    /// The operation each document of the batch has in it.
    ops: HashMap<DocumentId, &'static str>,
}

impl<T: Entry> Packer<T> {
    pub(crate) fn new(limits: BatchLimits) -> Self {
        Packer {
            limits,
            entries: Vec::new(),
            size: BodySize::default(),
            ops: HashMap::new(),
        }
    }

    /// Adds `entry`; returns the batch so far when `entry` does not fit in it.
    pub(crate) fn add(&mut self, entry: T) -> Option<Vec<T>> {
        let len = entry.json_len();
        let grown = self.size.with(entry.item(), len);
        let full = grown.items() > self.limits.max_documents
            || grown.bytes() > self.limits.max_bytes
            || self.conflicts(entry.item());
        let closed = if full { self.take() } else { None };
        self.size = self.size.with(entry.item(), len);
        self.ops
            .insert(entry.item().id().clone(), entry.item().op());
        self.entries.push(entry);
        closed
    }

    /// The batch so far, if it holds anything; the packer is then empty.
    pub(crate) fn take(&mut self) -> Option<Vec<T>> {
        if self.entries.is_empty() {
            return None;
        }
        self.size = BodySize::default();
        self.ops.clear();
        Some(std::mem::take(&mut self.entries))
    }

    /// The other operation on the same document is already in this batch.
    fn conflicts(&self, item: &BatchItem) -> bool {
        self.ops.get(item.id()).is_some_and(|op| *op != item.op())
    }
}

/// Packs a stream of upserts and deletes into bounded batches, in order.
///
/// Feed it items; when one does not fit, the batch so far comes back and the
/// item starts the next one. [`Batcher::finish`] returns the last batch. An
/// item over the byte bound on its own gets a batch to itself. Two different
/// operations on one document never share a batch: the indexer applies a
/// batch's upserts before its deletes, so "delete, then re-create" in one
/// batch would lose the document.
#[derive(Debug)]
pub struct Batcher {
    packer: Packer<BatchItem>,
}

impl Batcher {
    pub fn new(limits: BatchLimits) -> Self {
        Batcher {
            packer: Packer::new(limits),
        }
    }

    /// Adds an upsert; returns the previous batch when this one did not fit in it.
    pub fn upsert(&mut self, doc: Document) -> Option<BatchRequest> {
        self.packer.add(BatchItem::Upsert(doc)).map(request_of)
    }

    /// Adds a delete; returns the previous batch when this one did not fit in it.
    pub fn delete(&mut self, delete: Delete) -> Option<BatchRequest> {
        self.packer.add(BatchItem::Delete(delete)).map(request_of)
    }

    /// The batch being filled, if it holds anything; the batcher is then empty.
    pub fn finish(&mut self) -> Option<BatchRequest> {
        self.packer.take().map(request_of)
    }

    /// Items in the batch being filled.
    pub fn len(&self) -> usize {
        self.packer.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packer.entries.is_empty()
    }

    /// Exact size of the body the batch being filled would have.
    pub fn body_len(&self) -> usize {
        self.packer.size.bytes()
    }
}

/// Bytes of `value`'s compact JSON, counted without building it.
fn counted_json_len<T: Serialize>(value: &T) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value)
        .expect("derived Serialize of Document and Delete has no map keys and never fails");
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(n: u32) -> BatchItem {
        BatchItem::Delete(
            serde_json::from_value(serde_json::json!({
                // Document ids are not validated: escapes and non-ASCII must count right.
                "id": format!("confluence:c:comment:{n}\"\n\u{1F980}"),
                "tenant_id": "t",
                "deleted_at": "2026-01-01T00:00:00Z",
            }))
            .unwrap(),
        )
    }

    #[test]
    fn assembled_bodies_are_what_serde_json_writes() {
        for n in 0..4 {
            let items: Vec<BatchItem> = (0..n).map(delete).collect();
            let encoded: Vec<Encoded> = items.iter().cloned().map(Encoded::new).collect();
            let expected = serde_json::to_vec(&request_of(items)).unwrap();
            assert_eq!(encode_body(&encoded), expected, "{n} deletes");
        }
    }

    #[test]
    fn counted_and_encoded_lengths_agree() {
        let item = delete(1);
        assert_eq!(item.json_len(), Encoded::new(item).json_len());
    }

    #[test]
    fn delete_kinds_come_from_the_id_segment() {
        let kind =
            |id: &str| DeleteKind::of(&serde_json::from_value(serde_json::json!(id)).unwrap());
        assert_eq!(kind("confluence:c-1:page:1"), DeleteKind::Page);
        assert_eq!(kind("confluence:a:b:blogpost:2"), DeleteKind::Blogpost);
        assert_eq!(kind("confluence:c:comment:3"), DeleteKind::Comment);
        assert_eq!(kind("confluence:c:space:3"), DeleteKind::Unknown);
        assert_eq!(kind("page:3"), DeleteKind::Unknown);
        assert_eq!(kind(""), DeleteKind::Unknown);
    }
}
