//! Where an item sits: a page's ancestors (for breadcrumbs, from `parentId`
//! alone, since the app has no ancestors scope) and a comment's page or blog
//! post (a reply may name only its parent comment).
//!
//! [`Lineage`] gathers, for one listing page of items, every entry their
//! placement needs, level by level: from the items themselves, from a
//! bounded per-job cache, and from the known map in Redis (one `HMGET` per
//! level). It then answers whether an item can be placed *exactly*: a chain
//! that ends at an id nobody knows yet is incomplete, and the caller defers
//! the item rather than push wrong breadcrumbs.

use std::collections::{HashMap, HashSet};

use confsync_core::build::{CommentContainer, ParentMap};
use confsync_core::{ContentId, ContentKind};
use confsync_store::SiteKey;
use confsync_store::known::{Container, KnownEntry, KnownMap};

use super::CrawlError;
use super::item::Item;

/// Deeper chains are not followed (real trees are far shallower); the
/// converter and the builder cap breadcrumbs at the same depth.
const MAX_DEPTH: usize = 64;

/// Most entries a job keeps between listing pages; the cache starts over
/// when full.
const CACHE_CAPACITY: usize = 20_000;

/// Entries a job has already read or written, so the few ids every chain
/// passes through (home pages, top-level pages) are not read again.
#[derive(Debug, Default)]
pub(crate) struct EntryCache {
    entries: HashMap<String, KnownEntry>,
}

impl EntryCache {
    pub(crate) fn insert(&mut self, id: String, entry: KnownEntry) {
        if self.entries.len() >= CACHE_CAPACITY {
            self.entries.clear();
        }
        self.entries.insert(id, entry);
    }
}

/// How a comment's page or blog post was found.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    pub container: CommentContainer,
    /// The container's space id.
    pub space_id: Option<String>,
}

/// Everything known about the neighbourhood of one batch of items.
#[derive(Debug, Default)]
pub(crate) struct Lineage {
    entries: HashMap<String, KnownEntry>,
}

impl Lineage {
    /// Gathers what placing `items` needs.
    pub(crate) async fn gather(
        known: &KnownMap,
        site: &SiteKey,
        cache: &mut EntryCache,
        items: &[&Item],
    ) -> Result<Lineage, CrawlError> {
        let mut lineage = Lineage::default();
        for item in items {
            lineage.entries.insert(item.id.clone(), provisional(item));
        }
        let mut wanted: Vec<String> = items.iter().flat_map(|i| next_ids(i)).collect();
        let mut asked: HashSet<String> = HashSet::new();
        for _ in 0..MAX_DEPTH {
            wanted.retain(|id| !lineage.entries.contains_key(id) && asked.insert(id.clone()));
            wanted.sort();
            wanted.dedup();
            if wanted.is_empty() {
                break;
            }
            let mut from_redis = Vec::new();
            for id in wanted.drain(..) {
                match cache.entries.get(&id) {
                    Some(entry) => {
                        lineage.entries.insert(id, entry.clone());
                    }
                    None => from_redis.push(id),
                }
            }
            let ids: Vec<&str> = from_redis.iter().map(String::as_str).collect();
            let found = known.get_many(site, &ids).await?;
            for (id, entry) in from_redis.iter().zip(found) {
                if let Some(entry) = entry {
                    cache.insert(id.clone(), entry.clone());
                    lineage.entries.insert(id.clone(), entry);
                }
            }
            // Every entry may lead further up: parents of pages, containers
            // and parent comments of comments.
            wanted = lineage
                .entries
                .iter()
                .filter(|(id, _)| asked.contains(*id))
                .flat_map(|(_, e)| entry_next(e))
                .collect();
        }
        Ok(lineage)
    }

    /// The page ancestry of every page and blog post gathered, for the
    /// document builder.
    pub(crate) fn parent_map(&self) -> ParentMap {
        let mut map = ParentMap::new();
        for (id, entry) in &self.entries {
            if matches!(entry.kind, ContentKind::Page | ContentKind::Blogpost) {
                map.insert(id.clone(), entry.title.clone(), entry.parent.clone());
            }
        }
        map
    }

    /// Whether every ancestor of the page with parent `parent` is known.
    pub(crate) fn ancestry_complete(&self, parent: Option<&str>) -> bool {
        let mut current = parent;
        let mut depth = 0;
        while let Some(id) = current {
            depth += 1;
            if depth > MAX_DEPTH {
                return true;
            }
            match self.entries.get(id) {
                Some(entry) => current = entry.parent.as_deref(),
                None => return false,
            }
        }
        true
    }

    /// The page or blog post a comment belongs to, when it can be found:
    /// named on the comment, else through its parent comment(s).
    pub(crate) fn place_comment(&self, item: &Item) -> Option<Placement> {
        let (kind, id) = match item.named_container() {
            Some((kind, id)) => (kind, id.to_owned()),
            None => {
                let mut parent = item.parent_comment_id.as_deref();
                let mut found = None;
                for _ in 0..MAX_DEPTH {
                    let Some(entry) = parent.and_then(|id| self.entries.get(id)) else {
                        break;
                    };
                    if let Some(container) = &entry.container {
                        found = Some((container.kind, container.id.clone()));
                        break;
                    }
                    parent = entry.parent.as_deref();
                }
                found?
            }
        };
        let entry = self.entries.get(&id)?;
        if !matches!(entry.kind, ContentKind::Page | ContentKind::Blogpost) {
            return None;
        }
        Some(Placement {
            container: CommentContainer {
                kind,
                id: ContentId::parse(id).ok()?,
                title: entry.title.clone(),
            },
            space_id: entry.space.clone(),
        })
    }
}

/// What an item will be remembered as, before it has a version in the
/// index (used to place other items of the same batch).
fn provisional(item: &Item) -> KnownEntry {
    let comment = matches!(
        item.kind,
        ContentKind::FooterComment | ContentKind::InlineComment
    );
    KnownEntry {
        kind: item.kind,
        version: 0,
        doc_sha: String::new(),
        title: if comment {
            String::new()
        } else {
            item.title.clone()
        },
        parent: if comment {
            item.parent_comment_id.clone()
        } else {
            item.parent_page().map(str::to_owned)
        },
        space: item.space_id.clone(),
        container: item.named_container().map(|(kind, id)| Container {
            kind,
            id: id.to_owned(),
        }),
        epoch: 0,
    }
}

/// Ids an item's placement starts from.
fn next_ids(item: &Item) -> Vec<String> {
    entry_next(&provisional(item))
}

/// Ids an entry leads to: a page's parent; a comment's page or blog post
/// and parent comment.
fn entry_next(entry: &KnownEntry) -> Vec<String> {
    let mut ids: Vec<String> = entry.parent.iter().cloned().collect();
    if let Some(container) = &entry.container {
        ids.push(container.id.clone());
    }
    ids
}
