//! The known-content map of a site, `known:{grant}:{cloud}`: one hash field per
//! content id the index holds (or holds a dead letter for), with what a
//! crawl needs to know about it without asking Atlassian again: its kind and
//! version, the hash of the document last pushed, and what breadcrumbs and
//! comment titles are built from (title, parent page, space, a comment's
//! page or blog post), plus the mark-and-sweep epoch it was last seen in.
//!
//! It lives in Redis so a worker's memory does not grow with a site's size;
//! callers read and write it in batches (one round trip per listing page).
//! This module stores entries; it never decides what is unchanged or deleted.

use std::collections::HashMap;

use confsync_core::ContentKind;
use serde::{Deserialize, Serialize};

use crate::{SiteKey, Store, StoreError};

/// What the crawl remembers of one content item. Stored as compact JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownEntry {
    #[serde(rename = "k")]
    pub kind: ContentKind,
    /// The version whose document the indexer holds; 0 when it holds none
    /// (the document was dead-lettered), so the next sync rebuilds it.
    #[serde(rename = "v")]
    pub version: u64,
    /// Hex SHA-256 of the document last accepted (empty with version 0).
    #[serde(rename = "h", default)]
    pub doc_sha: String,
    /// Pages and blog posts: the title (breadcrumbs, comment titles).
    #[serde(rename = "t", default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Pages: the parent page's content id.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The space id (for comments, their page's space).
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// Comments: the page or blog post they belong to.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// The mark-and-sweep epoch in which the item was last seen.
    #[serde(rename = "e", default)]
    pub epoch: u64,
}

/// The page or blog post a comment belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    #[serde(rename = "k")]
    pub kind: ContentKind,
    #[serde(rename = "i")]
    pub id: String,
}

/// Sites' known-content maps. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KnownMap {
    store: Store,
}

impl KnownMap {
    pub fn new(store: Store) -> KnownMap {
        KnownMap { store }
    }

    fn key(&self, site: &SiteKey) -> String {
        format!("{}known:{site}", self.store.prefix())
    }

    /// The entries of `ids`, in order (`None` for unknown ids). An entry
    /// that cannot be read back counts as unknown: the item is rebuilt.
    pub async fn get_many(
        &self,
        site: &SiteKey,
        ids: &[&str],
    ) -> Result<Vec<Option<KnownEntry>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.store.connection();
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key(site))
            .arg(ids)
            .query_async(&mut conn)
            .await?;
        Ok(values
            .into_iter()
            .map(|value| value.and_then(|v| serde_json::from_str(&v).ok()))
            .collect())
    }

    /// Writes `entries` (replacing what the ids had).
    pub async fn put_many(
        &self,
        site: &SiteKey,
        entries: &[(String, KnownEntry)],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pairs = Vec::with_capacity(entries.len());
        for (id, entry) in entries {
            let value = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt {
                what: "known entry",
                reason: e.to_string(),
            })?;
            pairs.push((id.as_str(), value));
        }
        let mut conn = self.store.connection();
        redis::cmd("HSET")
            .arg(self.key(site))
            .arg(&pairs)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Forgets `ids`.
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

    /// One step of a scan over every entry: the next cursor (0 at the end)
    /// and about `count` entries. Unreadable entries come back as `None`.
    pub async fn scan(
        &self,
        site: &SiteKey,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<(String, Option<KnownEntry>)>), StoreError> {
        let mut conn = self.store.connection();
        let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(self.key(site))
            .arg(cursor)
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut conn)
            .await?;
        let entries = flat
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), serde_json::from_str(&pair[1]).ok()))
            .collect();
        Ok((next, entries))
    }

    /// How many items the site's index holds (or dead-lettered).
    pub async fn len(&self, site: &SiteKey) -> Result<u64, StoreError> {
        let mut conn = self.store.connection();
        Ok(redis::cmd("HLEN")
            .arg(self.key(site))
            .query_async(&mut conn)
            .await?)
    }

    /// Every entry, for tests and tools on small sites (reads the whole map).
    pub async fn all(&self, site: &SiteKey) -> Result<HashMap<String, KnownEntry>, StoreError> {
        let mut all = HashMap::new();
        let mut cursor = 0;
        loop {
            let (next, entries) = self.scan(site, cursor, 1000).await?;
            all.extend(entries.into_iter().filter_map(|(id, e)| Some((id, e?))));
            if next == 0 {
                return Ok(all);
            }
            cursor = next;
        }
    }
}
