//! One content item as the crawl handles it, whatever its kind: the four
//! Confluence wire models (page, blog post, footer and inline comment) are
//! turned into an [`Item`] as soon as they are listed, so the pipeline
//! (filter, names, labels, conversion, placement) is written once. An item
//! is also what a crawl sets aside in Redis when it cannot be placed yet,
//! hence `Serialize` (a versioned wire format of the `deferred:` keys).
//!
//! Building the indexer document goes back through the wire model and
//! `confsync_core::build`, so the document rules stay in one place. This
//! module does no IO.

use chrono::{DateTime, Utc};
use confsync_core::ContentKind;
use confsync_core::build::{self, BuildContext, BuildError, CommentContainer};
use confsync_core::content::{
    BlogPost, ContentLinks, FooterComment, InlineComment, InlineProperties, Label, Page, Status,
    Version,
};
use confsync_core::document::Document;
use serde::{Deserialize, Serialize};

/// The lifecycle states an item can be listed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ItemStatus {
    Current,
    Archived,
    Trashed,
    Deleted,
    Draft,
    Historical,
    Other,
}

impl ItemStatus {
    fn of(status: Status) -> ItemStatus {
        match status {
            Status::Current => ItemStatus::Current,
            Status::Archived => ItemStatus::Archived,
            Status::Trashed => ItemStatus::Trashed,
            Status::Deleted => ItemStatus::Deleted,
            Status::Draft => ItemStatus::Draft,
            Status::Historical => ItemStatus::Historical,
            Status::Other => ItemStatus::Other,
        }
    }

    fn wire(self) -> Status {
        match self {
            ItemStatus::Current => Status::Current,
            ItemStatus::Archived => Status::Archived,
            ItemStatus::Trashed => Status::Trashed,
            ItemStatus::Deleted => Status::Deleted,
            ItemStatus::Draft => Status::Draft,
            ItemStatus::Historical => Status::Historical,
            ItemStatus::Other => Status::Other,
        }
    }

    /// Current and archived items are indexed; the others are deletes.
    pub(crate) fn is_indexable(self) -> bool {
        matches!(self, ItemStatus::Current | ItemStatus::Archived)
    }
}

/// A version as the crawl needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ItemVersion {
    pub number: u64,
    pub created_at: Option<DateTime<Utc>>,
    pub author_id: Option<String>,
}

/// A page, blog post or comment, with its body (storage XHTML, empty when
/// the listing asked for none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Item {
    /// Shape version of the deferred-item wire format.
    pub v: u32,
    pub kind: ContentKind,
    pub id: String,
    pub status: ItemStatus,
    pub title: String,
    pub space_id: Option<String>,
    /// Pages: the parent's id and type (`page`, `folder`, ...).
    pub parent_id: Option<String>,
    pub parent_type: Option<String>,
    pub author_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub version: Option<ItemVersion>,
    pub body: String,
    pub webui: Option<String>,
    /// Comments: what they are attached to, as listed.
    pub page_id: Option<String>,
    pub blog_post_id: Option<String>,
    pub parent_comment_id: Option<String>,
    /// Inline comments.
    pub resolution_status: Option<String>,
    pub selection: Option<String>,
}

fn version_of(version: Option<Version>) -> Option<ItemVersion> {
    version.map(|v| ItemVersion {
        number: v.number,
        created_at: v.created_at,
        author_id: v.author_id,
    })
}

fn storage(body: Option<confsync_core::content::Body>) -> String {
    body.and_then(|b| b.storage)
        .map(|s| s.value)
        .unwrap_or_default()
}

impl Item {
    fn blank(kind: ContentKind, id: String, status: Status) -> Item {
        Item {
            v: 1,
            kind,
            id,
            status: ItemStatus::of(status),
            title: String::new(),
            space_id: None,
            parent_id: None,
            parent_type: None,
            author_id: None,
            created_at: None,
            version: None,
            body: String::new(),
            webui: None,
            page_id: None,
            blog_post_id: None,
            parent_comment_id: None,
            resolution_status: None,
            selection: None,
        }
    }

    pub(crate) fn version_number(&self) -> u64 {
        self.version.as_ref().map_or(0, |v| v.number)
    }

    /// When the item last changed: its version's date.
    pub(crate) fn modified_at(&self) -> Option<DateTime<Utc>> {
        self.version
            .as_ref()
            .and_then(|v| v.created_at)
            .or(self.created_at)
    }

    /// Pages only: the parent when it is a page (folders, whiteboards and
    /// the like are not documents and end the breadcrumbs).
    pub(crate) fn parent_page(&self) -> Option<&str> {
        let is_page = self.parent_type.as_deref().is_none_or(|t| t == "page");
        self.parent_id.as_deref().filter(|_| is_page)
    }

    /// Comments: the page or blog post named on the comment itself.
    pub(crate) fn named_container(&self) -> Option<(ContentKind, &str)> {
        self.page_id
            .as_deref()
            .map(|id| (ContentKind::Page, id))
            .or_else(|| {
                self.blog_post_id
                    .as_deref()
                    .map(|id| (ContentKind::Blogpost, id))
            })
    }

    fn links(&self) -> ContentLinks {
        ContentLinks {
            webui: self.webui.clone(),
            base: None,
            tinyui: None,
        }
    }

    fn wire_version(&self) -> Option<Version> {
        self.version.as_ref().map(|v| Version {
            number: v.number,
            created_at: v.created_at,
            author_id: v.author_id.clone(),
            message: None,
            minor_edit: None,
        })
    }

    /// The indexer document, or `None` when the item is not indexable.
    /// `container` is required for comments (resolved by the caller).
    pub(crate) fn build(
        &self,
        ctx: &BuildContext<'_>,
        labels: &[Label],
        container: Option<&CommentContainer>,
        markdown: String,
    ) -> Result<Option<Document>, BuildError> {
        match self.kind {
            ContentKind::Page => build::build_page(ctx, &self.page(), labels, markdown),
            ContentKind::Blogpost => {
                build::build_blog_post(ctx, &self.blog_post(), labels, markdown)
            }
            ContentKind::FooterComment => {
                let container = container.ok_or(BuildError::Missing("page of the comment"))?;
                build::build_footer_comment(ctx, &self.footer_comment(), container, markdown)
            }
            ContentKind::InlineComment => {
                let container = container.ok_or(BuildError::Missing("page of the comment"))?;
                build::build_inline_comment(ctx, &self.inline_comment(), container, markdown)
            }
        }
    }

    fn page(&self) -> Page {
        Page {
            id: self.id.clone(),
            status: self.status.wire(),
            title: self.title.clone(),
            space_id: self.space_id.clone(),
            parent_id: self.parent_id.clone(),
            parent_type: self.parent_type.clone(),
            author_id: self.author_id.clone(),
            created_at: self.created_at,
            version: self.wire_version(),
            body: None,
            links: self.links(),
        }
    }

    fn blog_post(&self) -> BlogPost {
        BlogPost {
            id: self.id.clone(),
            status: self.status.wire(),
            title: self.title.clone(),
            space_id: self.space_id.clone(),
            author_id: self.author_id.clone(),
            created_at: self.created_at,
            version: self.wire_version(),
            body: None,
            links: self.links(),
        }
    }

    fn footer_comment(&self) -> FooterComment {
        FooterComment {
            id: self.id.clone(),
            status: self.status.wire(),
            title: self.title.clone(),
            page_id: self.page_id.clone(),
            blog_post_id: self.blog_post_id.clone(),
            parent_comment_id: self.parent_comment_id.clone(),
            version: self.wire_version(),
            body: None,
            links: self.links(),
        }
    }

    fn inline_comment(&self) -> InlineComment {
        InlineComment {
            id: self.id.clone(),
            status: self.status.wire(),
            title: self.title.clone(),
            page_id: self.page_id.clone(),
            blog_post_id: self.blog_post_id.clone(),
            parent_comment_id: self.parent_comment_id.clone(),
            resolution_status: self.resolution_status.clone(),
            properties: InlineProperties {
                inline_original_selection: self.selection.clone(),
                inline_marker_ref: None,
            },
            version: self.wire_version(),
            body: None,
            links: self.links(),
        }
    }
}

impl From<Page> for Item {
    fn from(page: Page) -> Item {
        Item {
            title: page.title,
            space_id: page.space_id,
            parent_id: page.parent_id,
            parent_type: page.parent_type,
            author_id: page.author_id,
            created_at: page.created_at,
            version: version_of(page.version),
            body: storage(page.body),
            webui: page.links.webui,
            ..Item::blank(ContentKind::Page, page.id, page.status)
        }
    }
}

impl From<BlogPost> for Item {
    fn from(post: BlogPost) -> Item {
        Item {
            title: post.title,
            space_id: post.space_id,
            author_id: post.author_id,
            created_at: post.created_at,
            version: version_of(post.version),
            body: storage(post.body),
            webui: post.links.webui,
            ..Item::blank(ContentKind::Blogpost, post.id, post.status)
        }
    }
}

impl From<FooterComment> for Item {
    fn from(comment: FooterComment) -> Item {
        Item {
            title: comment.title,
            version: version_of(comment.version),
            body: storage(comment.body),
            webui: comment.links.webui,
            page_id: comment.page_id,
            blog_post_id: comment.blog_post_id,
            parent_comment_id: comment.parent_comment_id,
            ..Item::blank(ContentKind::FooterComment, comment.id, comment.status)
        }
    }
}

impl From<InlineComment> for Item {
    fn from(comment: InlineComment) -> Item {
        Item {
            title: comment.title,
            version: version_of(comment.version),
            body: storage(comment.body),
            webui: comment.links.webui,
            page_id: comment.page_id,
            blog_post_id: comment.blog_post_id,
            parent_comment_id: comment.parent_comment_id,
            resolution_status: comment.resolution_status,
            selection: comment.properties.inline_original_selection,
            ..Item::blank(ContentKind::InlineComment, comment.id, comment.status)
        }
    }
}

/// Account ids and content ids a storage body refers to (`ri:account-id`,
/// `ri:content-id`), for the converter's lookups. A linear scan; ids are
/// kept only when they look like ids.
pub(crate) fn references(body: &str) -> (Vec<&str>, Vec<&str>) {
    (
        attribute_values(body, "ri:account-id=\""),
        attribute_values(body, "ri:content-id=\""),
    )
}

fn attribute_values<'a>(body: &'a str, marker: &str) -> Vec<&'a str> {
    body.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &body[at + marker.len()..];
            let end = rest.find('"')?;
            let value = &rest[..end];
            let plausible = !value.is_empty()
                && value.len() <= 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'));
            plausible.then_some(value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn references_are_found_and_junk_is_dropped() {
        let body = r#"<p><ac:link><ri:user ri:account-id="557058:abc-1" /></ac:link>
            <ri:page ri:content-id="12345" /><ri:user ri:account-id="<script>" />
            <ri:user ri:account-id="" /><ri:user ri:account-id="unterminated"#;
        let (accounts, contents) = references(body);
        assert_eq!(accounts, ["557058:abc-1"]);
        assert_eq!(contents, ["12345"]);
    }

    #[test]
    fn items_survive_their_deferred_wire_format() {
        let page: Page = serde_json::from_value(serde_json::json!({
            "id": "42", "status": "archived", "title": "T", "spaceId": "7",
            "parentId": "41", "parentType": "page", "authorId": "a-1",
            "createdAt": "2026-01-01T00:00:00Z",
            "version": {"number": 3, "createdAt": "2026-02-01T00:00:00Z", "authorId": "a-2"},
            "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}},
            "_links": {"webui": "/spaces/S/pages/42/T"}
        }))
        .unwrap();
        let item = Item::from(page);
        let again: Item = serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
        assert_eq!(again, item);
        assert_eq!(item.body, "<p>x</p>");
        assert_eq!(item.parent_page(), Some("41"));
        assert_eq!(item.version_number(), 3);
        assert_eq!(
            item.modified_at().unwrap().to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        assert!(item.status.is_indexable());
    }

    #[test]
    fn only_page_parents_are_parents() {
        let mut item = Item::blank(ContentKind::Page, "1".into(), Status::Current);
        item.parent_id = Some("9".into());
        item.parent_type = Some("folder".into());
        assert_eq!(item.parent_page(), None);
        item.parent_type = None;
        assert_eq!(item.parent_page(), Some("9"));
    }
}
