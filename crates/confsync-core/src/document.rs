//! The Document schema (version 1) that the indexer receives, and the batch
//! request that carries upserts and deletes. This is a wire format shared with
//! AINexLayer: change it only by adding a new schema version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, CloudId, ContentKind, DocumentId, GrantId, SpaceId, TenantId};

/// The schema version written into every document.
pub const SCHEMA_VERSION: u32 = 1;

/// One indexed item: a page, a blog post or a comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: DocumentId,
    pub schema_version: u32,
    pub tenant_id: TenantId,
    pub grant_id: GrantId,
    /// Always `"confluence"`.
    pub source: String,
    pub kind: ContentKind,
    pub site: SiteRef,
    pub space: Option<SpaceRef>,
    pub title: String,
    /// Absolute web URL: the site's `_links.base` joined with the item's `_links.webui`.
    pub url: String,
    pub parent_id: Option<DocumentId>,
    /// Titles from the space down to the parent.
    pub breadcrumbs: Vec<String>,
    pub labels: Vec<String>,
    pub author: Option<Author>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    pub status: ContentStatus,
    pub content_markdown: String,
    /// Hex SHA-256 of what the indexer embeds (title, content, labels).
    pub content_sha256: String,
    pub comment: Option<CommentInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRef {
    pub cloud_id: CloudId,
    pub url: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceRef {
    pub id: SpaceId,
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub account_id: AccountId,
    pub display_name: Option<String>,
}

/// Only current and archived content is indexed; trashed and deleted content
/// becomes a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentStatus {
    Current,
    Archived,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentInfo {
    /// Inline comments only: `open`, `resolved`, `reopened` or `dangling`.
    pub resolution_status: Option<String>,
    /// Inline comments only: the page text the comment is anchored to.
    pub quoted_text: Option<String>,
}

/// A deletion pushed to the indexer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    pub deleted_at: DateTime<Utc>,
}

/// The body of `POST /v1/documents/batch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    pub upserts: Vec<Document>,
    pub deletes: Vec<Delete>,
}

impl BatchRequest {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.upserts.len() + self.deletes.len()
    }
}
