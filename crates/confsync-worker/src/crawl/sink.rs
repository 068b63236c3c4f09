//! Where a crawl's documents and deletes go: packed into bounded batches
//! (`confsync_indexer::Batcher`) and pushed while the crawl goes on, and only
//! once the indexer has accepted (or dead-lettered) them is the known map
//! updated. That ordering is what makes watermarks and checkpoints safe: an
//! item whose push failed is not known, so the next run builds it again.
//!
//! A dead-lettered upsert is still remembered (version 0, no hash) so its
//! title and place serve breadcrumbs, and the next sync that sees the item
//! tries again; the letter itself goes to `deadletter:{grant}:{cloud}`. Items whose
//! document did not change are "marked" (their entry rewritten with the
//! crawl's epoch) without any push.
//!
//! This module pushes and records; it never decides what changed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use confsync_core::document::{Delete, Document};
use confsync_core::{ContentId, ContentKind, DocumentId, TenantId};
use confsync_indexer::{BatchItem, BatchRequest, Batcher, Indexer, PushReport};
use confsync_store::SiteKey;
use confsync_store::dead_letters::{DeadLetter, DeadLetters};
use confsync_store::known::{KnownEntry, KnownMap};
use confsync_store::sites::CrawlCounters;

use super::CrawlError;
use crate::events;

/// What to do with the known map once a batched item is settled.
#[derive(Debug)]
enum Pending {
    Upsert { id: String, entry: KnownEntry },
    Delete { id: String },
}

/// A crawl's outlet to the indexer.
#[derive(Debug)]
pub(crate) struct Sink {
    indexer: Indexer,
    known: KnownMap,
    dead: DeadLetters,
    site: SiteKey,
    tenant: TenantId,
    batcher: Batcher,
    /// Settlement of the items in the batch being filled, by document id.
    in_batch: HashMap<DocumentId, Pending>,
    /// Unchanged items to re-mark with the crawl's epoch.
    marks: Vec<(String, KnownEntry)>,
    /// Whether the site may have dead letters to clear when items pass.
    may_have_letters: bool,
    pub(crate) counters: CrawlCounters,
}

impl Sink {
    pub(crate) fn new(
        indexer: Indexer,
        known: KnownMap,
        dead: DeadLetters,
        site: SiteKey,
        tenant: TenantId,
        may_have_letters: bool,
    ) -> Sink {
        let batcher = Batcher::new(indexer.limits());
        Sink {
            indexer,
            known,
            dead,
            site,
            tenant,
            batcher,
            in_batch: HashMap::new(),
            marks: Vec::new(),
            may_have_letters,
            counters: CrawlCounters::default(),
        }
    }

    /// Queues an upsert of `doc` (content `id`), to be remembered as `entry`.
    pub(crate) async fn upsert(
        &mut self,
        id: String,
        doc: Document,
        entry: KnownEntry,
    ) -> Result<(), CrawlError> {
        let doc_id = doc.id.clone();
        if let Some(full) = self.batcher.upsert(doc) {
            self.push(full).await?;
        }
        self.in_batch.insert(doc_id, Pending::Upsert { id, entry });
        Ok(())
    }

    /// Queues the delete of content `id` of `kind`, stamped `at`.
    pub(crate) async fn delete(
        &mut self,
        id: &str,
        kind: ContentKind,
        at: DateTime<Utc>,
    ) -> Result<(), CrawlError> {
        let Ok(content) = ContentId::parse(id) else {
            // An id we could never have indexed: just forget it.
            self.known.remove_many(&self.site, &[id]).await?;
            return Ok(());
        };
        let delete = Delete {
            id: DocumentId::new(&self.site.cloud, kind, &content),
            tenant_id: self.tenant.clone(),
            deleted_at: at,
        };
        self.delete_document(id.to_owned(), delete).await
    }

    /// Queues `delete` as it is (content `id` is forgotten once accepted).
    pub(crate) async fn delete_document(
        &mut self,
        id: String,
        delete: Delete,
    ) -> Result<(), CrawlError> {
        let doc_id = delete.id.clone();
        if let Some(full) = self.batcher.delete(delete) {
            self.push(full).await?;
        }
        self.in_batch.insert(doc_id, Pending::Delete { id });
        Ok(())
    }

    /// Re-marks an unchanged item with its (updated) entry.
    pub(crate) fn mark(&mut self, id: String, entry: KnownEntry) {
        self.counters.unchanged += 1;
        self.marks.push((id, entry));
    }

    /// Pushes what is batched and writes the marks: afterwards every item
    /// handed to the sink is settled in the known map.
    pub(crate) async fn flush(&mut self) -> Result<(), CrawlError> {
        if let Some(last) = self.batcher.finish() {
            self.push(last).await?;
        }
        let marks = std::mem::take(&mut self.marks);
        self.known.put_many(&self.site, &marks).await?;
        Ok(())
    }

    async fn push(&mut self, batch: BatchRequest) -> Result<(), CrawlError> {
        let report = self.indexer.push(batch).await?;
        self.settle(report).await
    }

    /// Applies a push's outcome to the known map and the dead letters.
    async fn settle(&mut self, report: PushReport) -> Result<(), CrawlError> {
        let settled = std::mem::take(&mut self.in_batch);
        let refused: HashMap<&DocumentId, &confsync_indexer::DeadLetter> = report
            .dead_letters
            .iter()
            .map(|letter| (letter.item.id(), letter))
            .collect();
        let now = Utc::now();
        let mut remember = Vec::new();
        let mut forget = Vec::new();
        let mut letters = Vec::new();
        let mut passed = Vec::new();
        for (doc_id, pending) in settled {
            let letter = refused.get(&doc_id);
            match (pending, letter) {
                (Pending::Upsert { id, entry }, None) => {
                    self.counters.pushed += 1;
                    passed.push(doc_id);
                    remember.push((id, entry));
                }
                (Pending::Upsert { id, entry }, Some(letter)) => {
                    self.counters.dead_lettered += 1;
                    letters.push(dead_letter(letter, now));
                    remember.push((
                        id,
                        KnownEntry {
                            version: 0,
                            doc_sha: String::new(),
                            ..entry
                        },
                    ));
                }
                (Pending::Delete { id }, None) => {
                    self.counters.deleted += 1;
                    passed.push(doc_id);
                    forget.push(id);
                }
                (Pending::Delete { .. }, Some(letter)) => {
                    self.counters.dead_lettered += 1;
                    letters.push(dead_letter(letter, now));
                }
            }
        }
        for letter in &letters {
            events::dead_lettered(&self.site.cloud, &letter.id, letter.status, &letter.reason);
        }
        self.known.put_many(&self.site, &remember).await?;
        let forget: Vec<&str> = forget.iter().map(String::as_str).collect();
        self.known.remove_many(&self.site, &forget).await?;
        if !letters.is_empty() {
            self.dead.put_many(&self.site, &letters).await?;
            self.may_have_letters = true;
        }
        if self.may_have_letters && !passed.is_empty() {
            let passed: HashSet<&str> = passed.iter().map(DocumentId::as_str).collect();
            let passed: Vec<&str> = passed.into_iter().collect();
            self.dead.remove_many(&self.site, &passed).await?;
        }
        Ok(())
    }
}

fn dead_letter(letter: &confsync_indexer::DeadLetter, at: DateTime<Utc>) -> DeadLetter {
    let (op, payload) = match &letter.item {
        BatchItem::Upsert(doc) => ("upsert", serde_json::to_string(doc)),
        BatchItem::Delete(delete) => ("delete", serde_json::to_string(delete)),
    };
    DeadLetter {
        v: 1,
        id: letter.item.id().to_string(),
        op: op.to_owned(),
        // Derived Serialize of these types cannot fail (no maps with
        // non-string keys); an empty payload would only lose the copy.
        payload: payload.unwrap_or_default(),
        status: letter.status,
        reason: letter.reason.clone(),
        at,
    }
}
