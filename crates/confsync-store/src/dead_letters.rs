//! Dead letters of a site, `deadletter:{grant}:{cloud}`: the upserts and deletes the
//! indexer refused one by one (400/413/422), each with its reason and the
//! item itself, so an operator can see them and push them again. One field
//! per document id: a later refusal of the same document replaces the
//! earlier one, and an accepted push of it removes it.
//!
//! The payload is the item's JSON as the indexer would receive it: a
//! `confsync_core::document::Document` for `upsert`, a `Delete` for `delete`.
//! This module stores letters; it never pushes anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{SiteKey, Store, StoreError};

/// One refused item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Payload version; 1 for this shape.
    pub v: u32,
    /// The document id.
    pub id: String,
    /// `upsert` or `delete`.
    pub op: String,
    /// The Document (upsert) or Delete (delete) JSON.
    pub payload: String,
    /// The indexer's HTTP status.
    pub status: u16,
    /// The indexer's short reason.
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Sites' dead-letter lists. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    store: Store,
}

impl DeadLetters {
    pub fn new(store: Store) -> DeadLetters {
        DeadLetters { store }
    }

    fn key(&self, site: &SiteKey) -> String {
        format!("{}deadletter:{site}", self.store.prefix())
    }

    /// Stores `letters` (replacing earlier letters of the same ids).
    pub async fn put_many(&self, site: &SiteKey, letters: &[DeadLetter]) -> Result<(), StoreError> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut pairs = Vec::with_capacity(letters.len());
        for letter in letters {
            let value = serde_json::to_string(letter).map_err(|e| StoreError::Corrupt {
                what: "dead letter",
                reason: e.to_string(),
            })?;
            pairs.push((letter.id.as_str(), value));
        }
        let mut conn = self.store.connection();
        redis::cmd("HSET")
            .arg(self.key(site))
            .arg(&pairs)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Removes the letters of `ids` (pushed again, or no longer relevant).
    pub async fn remove_many(&self, site: &SiteKey, ids: &[&str]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.store.connection();
        redis::cmd("HDEL")
            .arg(self.key(site))
            .arg(ids)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Every letter of the site, sorted by document id. Unreadable entries
    /// are reported as corrupt rather than skipped.
    pub async fn list(&self, site: &SiteKey) -> Result<Vec<DeadLetter>, StoreError> {
        let mut conn = self.store.connection();
        let values: Vec<String> = redis::cmd("HVALS")
            .arg(self.key(site))
            .query_async(&mut conn)
            .await?;
        let mut letters = values
            .iter()
            .map(|v| {
                serde_json::from_str::<DeadLetter>(v).map_err(|e| StoreError::Corrupt {
                    what: "dead letter",
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        letters.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(letters)
    }

    /// How many letters the site has.
    pub async fn count(&self, site: &SiteKey) -> Result<u64, StoreError> {
        let mut conn = self.store.connection();
        Ok(redis::cmd("HLEN")
            .arg(self.key(site))
            .query_async(&mut conn)
            .await?)
    }
}
