//! The document builder: one Confluence item (wire model) plus what the
//! crawl knows around it (site, space, parent map, labels, user names) in,
//! one indexer [`Document`] out.
//!
//! Pure: no IO, no clock, and no Markdown conversion either. The caller
//! converts the body first (`confsync_markdown::to_markdown`) and passes the
//! Markdown in, which keeps this crate free of the converter. Trashed,
//! deleted and draft items are not built: they become deletes elsewhere.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::content::{BlogPost, FooterComment, InlineComment, Label, Page, Status, Version};
use crate::document::{
    Author, CommentInfo, ContentStatus, Document, SCHEMA_VERSION, SiteRef, SpaceRef,
};
use crate::ids::{AccountId, ContentId, ContentKind, DocumentId, GrantId, IdError, TenantId};

/// Breadcrumbs stop after this many ancestors; real trees are far shallower.
const MAX_BREADCRUMB_DEPTH: usize = 64;

/// Why an item could not be built. The item is malformed: retrying will not
/// help, so the worker dead-letters it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("invalid id in content item: {0}")]
    Id(#[from] IdError),
    #[error("content item has no {0}")]
    Missing(&'static str),
}

impl crate::error::Classify for BuildError {
    fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::Permanent
    }
}

/// Display names of Atlassian accounts, answered from the caller's cache.
pub trait UserNames {
    fn display_name(&self, account_id: &str) -> Option<String>;
}

/// A [`UserNames`] that knows nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUserNames;

impl UserNames for NoUserNames {
    fn display_name(&self, _account_id: &str) -> Option<String> {
        None
    }
}

/// What the crawl knows of a page's ancestors: content id → title and parent.
#[derive(Debug, Clone, Default)]
pub struct ParentMap {
    entries: HashMap<String, ParentEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentEntry {
    pub title: String,
    pub parent_id: Option<String>,
}

impl ParentMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(
        &mut self,
        id: impl Into<String>,
        title: impl Into<String>,
        parent_id: Option<String>,
    ) {
        self.entries.insert(
            id.into(),
            ParentEntry {
                title: title.into(),
                parent_id,
            },
        );
    }

    pub fn get(&self, id: &str) -> Option<&ParentEntry> {
        self.entries.get(id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Titles from the root down to `parent_id` itself. Stops at an unknown
    /// id (a folder the app cannot read, a page not crawled yet), at a cycle
    /// and after [`MAX_BREADCRUMB_DEPTH`] ancestors.
    pub fn ancestry(&self, parent_id: Option<&str>) -> Vec<String> {
        let mut titles = Vec::new();
        let mut seen = HashSet::new();
        let mut current = parent_id;
        while let Some(id) = current {
            if titles.len() >= MAX_BREADCRUMB_DEPTH || !seen.insert(id) {
                break;
            }
            let Some(entry) = self.entries.get(id) else {
                break;
            };
            titles.push(entry.title.clone());
            current = entry.parent_id.as_deref();
        }
        titles.reverse();
        titles
    }
}

/// Everything shared by the items of one site and space.
#[derive(Clone, Copy)]
pub struct BuildContext<'a> {
    pub tenant_id: &'a TenantId,
    pub grant_id: &'a GrantId,
    pub site: &'a SiteRef,
    /// The site's web base, `https://example.atlassian.net/wiki`, to which
    /// each item's `_links.webui` is appended.
    pub web_base: &'a str,
    pub space: Option<&'a SpaceRef>,
    pub parents: &'a ParentMap,
    pub users: &'a dyn UserNames,
}

impl std::fmt::Debug for BuildContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("site", &self.site.cloud_id)
            .field("space", &self.space.map(|s| &s.key))
            .finish_non_exhaustive()
    }
}

/// The page or blog post a comment belongs to, as resolved by the caller
/// (a reply may name only its parent comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentContainer {
    /// [`ContentKind::Page`] or [`ContentKind::Blogpost`].
    pub kind: ContentKind,
    pub id: ContentId,
    pub title: String,
}

/// Builds a page's document; `None` when the page is not indexable
/// (trashed, deleted, draft).
pub fn build_page(
    ctx: &BuildContext<'_>,
    page: &Page,
    labels: &[Label],
    content_markdown: String,
) -> Result<Option<Document>, BuildError> {
    let Some(status) = indexable(page.status) else {
        return Ok(None);
    };
    let id = ContentId::parse(page.id.as_str())?;
    // Only a page parent is a document; folders and whiteboards are not indexed.
    let parent_is_page = page.parent_type.as_deref().is_none_or(|t| t == "page");
    let parent_id = match page.parent_id.as_deref() {
        Some(parent) if parent_is_page => Some(DocumentId::new(
            &ctx.site.cloud_id,
            ContentKind::Page,
            &ContentId::parse(parent)?,
        )),
        _ => None,
    };
    let item = Item {
        kind: ContentKind::Page,
        id: &id,
        title: page.title.clone(),
        webui: page.links.webui.as_deref(),
        parent_id,
        breadcrumbs: breadcrumbs(ctx, page.parent_id.as_deref()),
        labels: label_names(labels),
        author_id: page.author_id.as_deref(),
        created_at: page.created_at,
        version: page.version.as_ref(),
        status,
        comment: None,
    };
    item.build(ctx, content_markdown).map(Some)
}

/// Builds a blog post's document; `None` when it is not indexable.
pub fn build_blog_post(
    ctx: &BuildContext<'_>,
    post: &BlogPost,
    labels: &[Label],
    content_markdown: String,
) -> Result<Option<Document>, BuildError> {
    let Some(status) = indexable(post.status) else {
        return Ok(None);
    };
    let id = ContentId::parse(post.id.as_str())?;
    let item = Item {
        kind: ContentKind::Blogpost,
        id: &id,
        title: post.title.clone(),
        webui: post.links.webui.as_deref(),
        parent_id: None,
        breadcrumbs: breadcrumbs(ctx, None),
        labels: label_names(labels),
        author_id: post.author_id.as_deref(),
        created_at: post.created_at,
        version: post.version.as_ref(),
        status,
        comment: None,
    };
    item.build(ctx, content_markdown).map(Some)
}

/// Builds a footer comment's document. Its `comment` field is
/// `{resolution_status: null, quoted_text: null}`: present, so every comment
/// document has one, but empty, as footer comments are anchored to nothing.
pub fn build_footer_comment(
    ctx: &BuildContext<'_>,
    comment: &FooterComment,
    container: &CommentContainer,
    content_markdown: String,
) -> Result<Option<Document>, BuildError> {
    let Some(status) = indexable(comment.status) else {
        return Ok(None);
    };
    let info = CommentInfo {
        resolution_status: None,
        quoted_text: None,
    };
    let id = ContentId::parse(comment.id.as_str())?;
    let item = comment_item(
        ctx,
        ContentKind::FooterComment,
        &id,
        container,
        comment.links.webui.as_deref(),
        comment.version.as_ref(),
        status,
        info,
    );
    item.build(ctx, content_markdown).map(Some)
}

/// Builds an inline comment's document, with its resolution status and the
/// page text it is anchored to.
pub fn build_inline_comment(
    ctx: &BuildContext<'_>,
    comment: &InlineComment,
    container: &CommentContainer,
    content_markdown: String,
) -> Result<Option<Document>, BuildError> {
    let Some(status) = indexable(comment.status) else {
        return Ok(None);
    };
    let info = CommentInfo {
        resolution_status: comment.resolution_status.clone(),
        quoted_text: comment.properties.inline_original_selection.clone(),
    };
    let id = ContentId::parse(comment.id.as_str())?;
    let item = comment_item(
        ctx,
        ContentKind::InlineComment,
        &id,
        container,
        comment.links.webui.as_deref(),
        comment.version.as_ref(),
        status,
        info,
    );
    item.build(ctx, content_markdown).map(Some)
}

#[allow(clippy::too_many_arguments)]
fn comment_item<'a>(
    ctx: &BuildContext<'_>,
    kind: ContentKind,
    id: &'a ContentId,
    container: &CommentContainer,
    webui: Option<&'a str>,
    version: Option<&'a Version>,
    status: ContentStatus,
    info: CommentInfo,
) -> Item<'a> {
    let mut crumbs = breadcrumbs(
        ctx,
        ctx.parents
            .get(container.id.as_str())
            .and_then(|e| e.parent_id.as_deref()),
    );
    crumbs.push(container.title.clone());
    Item {
        kind,
        id,
        title: format!("Comment on {}", container.title),
        webui,
        parent_id: Some(DocumentId::new(
            &ctx.site.cloud_id,
            container.kind,
            &container.id,
        )),
        breadcrumbs: crumbs,
        labels: Vec::new(),
        // A comment's author is the author of its first version.
        author_id: version.and_then(|v| v.author_id.as_deref()),
        created_at: None,
        version,
        status,
        comment: Some(info),
    }
}

/// Current and archived content is indexed; everything else becomes a delete.
fn indexable(status: Status) -> Option<ContentStatus> {
    match status {
        Status::Current => Some(ContentStatus::Current),
        Status::Archived => Some(ContentStatus::Archived),
        Status::Trashed | Status::Deleted | Status::Draft | Status::Historical | Status::Other => {
            None
        }
    }
}

/// The space name, then the ancestors from the root down to the parent.
fn breadcrumbs(ctx: &BuildContext<'_>, parent_id: Option<&str>) -> Vec<String> {
    let mut crumbs: Vec<String> = ctx.space.map(|s| s.name.clone()).into_iter().collect();
    crumbs.extend(ctx.parents.ancestry(parent_id));
    crumbs
}

/// Label names, sorted and without duplicates.
fn label_names(labels: &[Label]) -> Vec<String> {
    let mut names: Vec<String> = labels.iter().map(|l| l.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// The absolute web URL: the site base joined with `webui`, never doubling
/// `/wiki` nor the slash between them.
pub fn web_url(web_base: &str, webui: &str) -> String {
    if webui.starts_with("https://") || webui.starts_with("http://") {
        return webui.to_owned();
    }
    let base = web_base.trim_end_matches('/');
    let path = webui.trim_start_matches('/');
    let path = if base.ends_with("/wiki") {
        path.strip_prefix("wiki/").unwrap_or(path)
    } else {
        path
    };
    format!("{base}/{path}")
}

/// SHA-256 (hex) of what the indexer embeds: title, content and sorted
/// labels, each length-prefixed so no two inputs encode alike.
pub fn content_sha256(title: &str, content_markdown: &str, sorted_labels: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"confsync-document-v1\0");
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(title.as_bytes());
    field(content_markdown.as_bytes());
    field(&(sorted_labels.len() as u64).to_be_bytes());
    for label in sorted_labels {
        field(label.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The parts every kind shares, before they become a [`Document`].
struct Item<'a> {
    kind: ContentKind,
    id: &'a ContentId,
    title: String,
    webui: Option<&'a str>,
    parent_id: Option<DocumentId>,
    breadcrumbs: Vec<String>,
    labels: Vec<String>,
    author_id: Option<&'a str>,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    version: Option<&'a Version>,
    status: ContentStatus,
    comment: Option<CommentInfo>,
}

impl Item<'_> {
    fn build(
        self,
        ctx: &BuildContext<'_>,
        content_markdown: String,
    ) -> Result<Document, BuildError> {
        let version = self.version.ok_or(BuildError::Missing("version"))?;
        let updated_at = version
            .created_at
            .or(self.created_at)
            .ok_or(BuildError::Missing("version.createdAt"))?;
        let created_at = self.created_at.unwrap_or(updated_at);
        let url = match self.webui {
            Some(webui) => web_url(ctx.web_base, webui),
            None => web_url(
                ctx.web_base,
                &format!("/pages/viewpage.action?pageId={}", self.id),
            ),
        };
        // An author id Atlassian sends but we cannot parse is dropped, not fatal.
        let author = self
            .author_id
            .or(version.author_id.as_deref())
            .and_then(|id| AccountId::parse(id).ok())
            .map(|account_id| Author {
                display_name: ctx.users.display_name(account_id.as_str()),
                account_id,
            });
        let content_sha256 = content_sha256(&self.title, &content_markdown, &self.labels);
        Ok(Document {
            id: DocumentId::new(&ctx.site.cloud_id, self.kind, self.id),
            schema_version: SCHEMA_VERSION,
            tenant_id: ctx.tenant_id.clone(),
            grant_id: ctx.grant_id.clone(),
            source: "confluence".to_owned(),
            kind: self.kind,
            site: ctx.site.clone(),
            space: ctx.space.cloned(),
            title: self.title,
            url,
            parent_id: self.parent_id,
            breadcrumbs: self.breadcrumbs,
            labels: self.labels,
            author,
            created_at,
            updated_at,
            version: version.number,
            status: self.status,
            content_markdown,
            content_sha256,
            comment: self.comment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_url_never_doubles_wiki_or_slashes() {
        let base = "https://x.atlassian.net/wiki";
        assert_eq!(
            web_url(base, "/spaces/DOCS/pages/1/T"),
            "https://x.atlassian.net/wiki/spaces/DOCS/pages/1/T"
        );
        assert_eq!(
            web_url("https://x.atlassian.net/wiki/", "/wiki/spaces/DOCS"),
            "https://x.atlassian.net/wiki/spaces/DOCS"
        );
        assert_eq!(web_url(base, "https://elsewhere/x"), "https://elsewhere/x");
    }

    #[test]
    fn ancestry_walks_up_and_stops_at_cycles_and_unknown_ids() {
        let mut map = ParentMap::new();
        map.insert("3", "Child", Some("2".into()));
        map.insert("2", "Parent", Some("1".into()));
        map.insert("1", "Root", Some("404".into()));
        assert_eq!(map.ancestry(Some("3")), ["Root", "Parent", "Child"]);
        map.insert("1", "Root", Some("3".into()));
        assert_eq!(map.ancestry(Some("3")), ["Root", "Parent", "Child"]);
        assert!(map.ancestry(None).is_empty());
    }

    #[test]
    fn ancestry_is_capped() {
        let mut map = ParentMap::new();
        for i in 0..1000 {
            map.insert(i.to_string(), format!("p{i}"), Some((i + 1).to_string()));
        }
        assert_eq!(map.ancestry(Some("0")).len(), MAX_BREADCRUMB_DEPTH);
    }

    #[test]
    fn content_hash_separates_fields() {
        let a = content_sha256("ab", "c", &[]);
        let b = content_sha256("a", "bc", &[]);
        assert_ne!(a, b);
        assert_ne!(
            content_sha256("t", "c", &["x".into(), "y".into()]),
            content_sha256("t", "c", &["xy".into()])
        );
        assert_eq!(a.len(), 64);
    }
}
