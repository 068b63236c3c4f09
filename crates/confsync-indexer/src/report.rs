//! What a push did: the accepted items counted by kind, and the dead letters,
//! each with the item itself so it can be pushed again later. Every item of a
//! successful push is in exactly one of the two.
//!
//! Plain data: storing dead letters is the caller's business, not this crate's.

use std::collections::BTreeMap;

use confsync_core::ContentKind;

use crate::batch::{BatchItem, DeleteKind};

/// The outcome of a push that did not fail as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushReport {
    /// Accepted upserts, by content kind.
    pub upserts: BTreeMap<ContentKind, usize>,
    /// Accepted deletes, by the kind their id names.
    pub deletes: BTreeMap<DeleteKind, usize>,
    /// Items the indexer refused one by one, in the order they were found.
    pub dead_letters: Vec<DeadLetter>,
}

/// An item the indexer refused on its own (400, 413 or 422).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub item: BatchItem,
    /// The HTTP status of the refusal.
    pub status: u16,
    /// A short, printable reason taken from the indexer's answer.
    pub reason: String,
}

impl PushReport {
    pub fn accepted_upserts(&self) -> usize {
        self.upserts.values().sum()
    }

    pub fn accepted_deletes(&self) -> usize {
        self.deletes.values().sum()
    }

    /// Upserts and deletes accepted.
    pub fn accepted(&self) -> usize {
        self.accepted_upserts() + self.accepted_deletes()
    }

    pub(crate) fn record_accepted<'a>(&mut self, items: impl IntoIterator<Item = &'a BatchItem>) {
        for item in items {
            match item {
                BatchItem::Upsert(doc) => *self.upserts.entry(doc.kind).or_default() += 1,
                BatchItem::Delete(delete) => {
                    *self.deletes.entry(DeleteKind::of(&delete.id)).or_default() += 1;
                }
            }
        }
    }
}
