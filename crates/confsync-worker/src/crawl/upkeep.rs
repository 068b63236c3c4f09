//! Jobs that keep the index right without reading Confluence: redelivering a
//! site's dead letters, and purging a site from the index after a disconnect.
//! Both run under the site's crawl lease, like a crawl, and push through the
//! same [`Sink`], so the known map and the dead letters settle the same way.
//!
//! - Redeliver: every letter is pushed again as it was refused (the newest
//!   document of its item: a later version would have replaced the letter,
//!   and an accepted push removed it). Accepted ones leave the list and their
//!   upserts are known again; refused ones stay, with the new reason.
//! - Purge: a delete for every item of the known map, then the site's crawl
//!   state, deferred items and upsert letters are forgotten (their documents
//!   are being deleted; they must never be redelivered). Deletes the indexer
//!   refuses stay as letters, with their known entries, so a redelivery or a
//!   second purge finishes the job. A reconnected grant starts with a full
//!   crawl.

use confsync_core::ContentKind;
use confsync_core::document::{Delete, Document};
use confsync_store::known::KnownEntry;
use confsync_store::sites::CrawlCounters;
use tokio_util::sync::CancellationToken;

use super::session::{Target, fingerprint};
use super::sink::Sink;
use super::{CrawlError, Crawler};
use crate::events;

/// Known entries read per scan step of a purge.
const PURGE_SCAN: usize = 500;

impl Crawler {
    fn upkeep_sink(&self, target: &Target, may_have_letters: bool) -> Sink {
        Sink::new(
            self.indexer.clone(),
            self.known.clone(),
            self.dead.clone(),
            target.key.clone(),
            target.tenant.clone(),
            may_have_letters,
        )
    }

    /// Pushes the site's dead letters again.
    pub(super) async fn redeliver(
        &self,
        target: &Target,
        cancel: &CancellationToken,
    ) -> Result<CrawlCounters, CrawlError> {
        let letters = self.dead.list(&target.key).await?;
        let epoch = self
            .sites
            .state(&target.key.grant, &target.key.cloud)
            .await?
            .epoch;
        let mut sink = self.upkeep_sink(target, true);
        let mut skipped = 0;
        for letter in letters {
            if cancel.is_cancelled() {
                return Err(CrawlError::Interrupted);
            }
            let queued = match letter.op.as_str() {
                "upsert" => match serde_json::from_str::<Document>(&letter.payload) {
                    Ok(doc) => self.redeliver_upsert(target, &mut sink, doc, epoch).await?,
                    Err(error) => Some(error.to_string()),
                },
                "delete" => match serde_json::from_str::<Delete>(&letter.payload) {
                    Ok(delete) => match delete.id.content_id().map(str::to_owned) {
                        Some(id) => {
                            sink.delete_document(id, delete).await?;
                            None
                        }
                        None => Some("the document id has no content id".to_owned()),
                    },
                    Err(error) => Some(error.to_string()),
                },
                other => Some(format!("unknown operation {other:?}")),
            };
            if let Some(reason) = queued {
                // Left in the list for an operator to see.
                skipped += 1;
                events::letter_not_redelivered(&target.key.cloud, &letter.id, &reason);
            }
        }
        sink.flush().await?;
        let mut counters = sink.counters;
        counters.skipped += skipped;
        Ok(counters)
    }

    /// Queues one refused document again; `Some(reason)` when it cannot be.
    async fn redeliver_upsert(
        &self,
        target: &Target,
        sink: &mut Sink,
        mut doc: Document,
        epoch: u64,
    ) -> Result<Option<String>, CrawlError> {
        let Some(id) = doc.id.content_id().map(str::to_owned) else {
            return Ok(Some("the document id has no content id".into()));
        };
        let known = self.known.get_many(&target.key, &[&id]).await?;
        let doc_sha = fingerprint(&mut doc);
        let entry = match known.into_iter().next().flatten() {
            // What the crawl remembered of it (title, place), now with the
            // version the index will hold.
            Some(known) => KnownEntry {
                version: doc.version,
                doc_sha,
                ..known
            },
            None => KnownEntry {
                kind: doc.kind,
                version: doc.version,
                doc_sha,
                title: if doc.comment.is_some() {
                    String::new()
                } else {
                    doc.title.clone()
                },
                parent: None,
                space: doc.space.as_ref().map(|s| s.id.to_string()),
                container: None,
                epoch,
            },
        };
        sink.upsert(id, doc, entry).await?;
        Ok(None)
    }

    /// Deletes every document of the site from the index and forgets the
    /// site's crawl state.
    pub(super) async fn purge(
        &self,
        target: &Target,
        cancel: &CancellationToken,
    ) -> Result<CrawlCounters, CrawlError> {
        let letters = self.dead.count(&target.key).await?;
        let mut sink = self.upkeep_sink(target, letters > 0);
        let now = self.clock.now();
        let mut cursor = 0;
        loop {
            if cancel.is_cancelled() {
                return Err(CrawlError::Interrupted);
            }
            let (next, entries) = self.known.scan(&target.key, cursor, PURGE_SCAN).await?;
            for (id, entry) in entries {
                sink.counters.seen += 1;
                match entry {
                    Some(entry) => sink.delete(&id, entry.kind, now).await?,
                    // An entry this release cannot read: its kind is unknown,
                    // so delete the item under each kind's document id.
                    None => {
                        for kind in [
                            ContentKind::Page,
                            ContentKind::Blogpost,
                            ContentKind::FooterComment,
                        ] {
                            sink.delete(&id, kind, now).await?;
                        }
                    }
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        sink.flush().await?;
        for kind in ContentKind::ALL {
            self.deferred.clear(&target.key, kind.as_str()).await?;
        }
        let upserts: Vec<String> = self
            .dead
            .list(&target.key)
            .await?
            .into_iter()
            .filter(|letter| letter.op == "upsert")
            .map(|letter| letter.id)
            .collect();
        let upserts: Vec<&str> = upserts.iter().map(String::as_str).collect();
        self.dead.remove_many(&target.key, &upserts).await?;
        self.sites
            .forget_crawl(&target.key.grant, &target.key.cloud)
            .await?;
        Ok(sink.counters)
    }
}
