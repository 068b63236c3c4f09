//! The simulated Confluence sites: compact metadata for spaces, pages, blog
//! posts, comments and labels, the generator that fills them, and the
//! mutations tests apply between polls.
//!
//! Bodies are not stored (see [`body`]); only explicit overrides set by a
//! mutation are. Ids are integers, titles live in one append-only arena. This
//! module knows nothing about HTTP, tokens or quotas.

pub(crate) mod body;
pub(crate) mod generate;
pub(crate) mod mutate;
pub(crate) mod users;
pub(crate) mod words;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::clock::{Millis, to_datetime};
use crate::rng::hash;
use crate::site::body::{BodyKind, BodySpec};
use crate::site::users::UserPool;

/// A site as the outside world sees it (accessible-resources, tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteInfo {
    /// Atlassian's cloud id (a UUID).
    pub cloud_id: String,
    /// `https://<name>.atlassian.net`, no trailing slash.
    pub url: String,
    pub name: String,
}

impl SiteInfo {
    /// `_links.base` of every response: the site URL plus `/wiki`.
    pub fn base_url(&self) -> String {
        format!("{}/wiki", self.url)
    }
}

/// Pages and blog posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Page,
    #[serde(rename = "blogpost")]
    BlogPost,
}

impl ContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Page => "page",
            ContentType::BlogPost => "blogpost",
        }
    }
}

/// Lifecycle status of a page, blog post or comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Current,
    Archived,
    Trashed,
    /// Purged (or a deleted comment): gone from every listing and lookup.
    Purged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Archived => "archived",
            Status::Trashed => "trashed",
            Status::Purged => "deleted",
        }
    }

    /// Visible in default listings and single-item lookups.
    pub(crate) fn is_live(self) -> bool {
        matches!(self, Status::Current | Status::Archived)
    }
}

/// Footer or inline comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentKind {
    Footer,
    Inline,
}

/// An inline comment's resolution status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Open,
    Resolved,
    Reopened,
    Dangling,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Open => "open",
            Resolution::Resolved => "resolved",
            Resolution::Reopened => "reopened",
            Resolution::Dangling => "dangling",
        }
    }

    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "open" => Some(Resolution::Open),
            "resolved" => Some(Resolution::Resolved),
            "reopened" => Some(Resolution::Reopened),
            "dangling" => Some(Resolution::Dangling),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpaceType {
    Global,
    Personal,
}

impl SpaceType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SpaceType::Global => "global",
            SpaceType::Personal => "personal",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Space {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub kind: SpaceType,
    pub archived: bool,
    pub author: u32,
    pub created_at: Millis,
    pub homepage: u64,
}

/// A page or blog post: about 90 bytes, no body.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub id: u64,
    /// Parent page id; 0 for none (space home pages and blog posts).
    pub parent: u64,
    pub created_at: Millis,
    /// `version.createdAt`: the last edit.
    pub modified_at: Millis,
    /// Indexes into [`SiteData::labels`].
    pub labels: Box<[u32]>,
    pub title_off: u32,
    pub title_len: u32,
    /// Index into [`SiteData::spaces`].
    pub space: u32,
    pub position: u32,
    pub author: u32,
    pub owner: u32,
    pub version_author: u32,
    pub version: u32,
    pub kind: ContentType,
    pub status: Status,
    pub minor_edit: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    /// The page or blog post the comment is on.
    pub container: u64,
    /// Parent comment id; 0 for a top-level comment.
    pub parent: u64,
    pub created_at: Millis,
    pub modified_at: Millis,
    /// 0 until the resolution changed.
    pub resolution_at: Millis,
    /// Author of the latest version (comments have no separate creator field).
    pub version_author: u32,
    pub version: u32,
    pub resolution_by: u32,
    pub kind: CommentKind,
    pub container_type: ContentType,
    pub status: Status,
    pub resolution: Resolution,
    /// In the site-wide listings this reply names only its parent comment,
    /// not its page or blog post (both shapes exist in the wild).
    pub parent_only: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub id: u64,
    pub name: String,
}

/// One site's mutable state.
#[derive(Debug)]
pub(crate) struct SiteData {
    /// Seed of this site's bodies.
    pub seed: u64,
    pub users: Arc<UserPool>,
    pub spaces: Vec<Space>,
    /// Sorted by id (new content always gets a higher id).
    pub contents: Vec<Content>,
    /// Sorted by id.
    pub comments: Vec<Comment>,
    pub labels: Vec<Label>,
    titles: String,
    pub body_overrides: HashMap<u64, Arc<str>>,
    pub selection_overrides: HashMap<u64, Arc<str>>,
    pub next_id: u64,
    pub next_label_id: u64,
}

impl SiteData {
    pub(crate) fn new(seed: u64, users: Arc<UserPool>, first_id: u64, first_label_id: u64) -> Self {
        SiteData {
            seed,
            users,
            spaces: Vec::new(),
            contents: Vec::new(),
            comments: Vec::new(),
            labels: Vec::new(),
            titles: String::new(),
            body_overrides: HashMap::new(),
            selection_overrides: HashMap::new(),
            next_id: first_id,
            next_label_id: first_label_id,
        }
    }

    pub(crate) fn alloc_id(&mut self, gap: u64) -> u64 {
        let id = self.next_id;
        self.next_id += gap.max(1);
        id
    }

    /// Stores a title in the arena; returns (offset, length).
    pub(crate) fn intern_title(&mut self, title: &str) -> (u32, u32) {
        let off = self.titles.len() as u32;
        self.titles.push_str(title);
        (off, title.len() as u32)
    }

    pub(crate) fn title(&self, content: &Content) -> &str {
        let start = content.title_off as usize;
        let end = start + content.title_len as usize;
        self.titles.get(start..end).unwrap_or("")
    }

    pub(crate) fn content_index(&self, id: u64) -> Option<usize> {
        self.contents.binary_search_by_key(&id, |c| c.id).ok()
    }

    /// A page or blog post that has not been purged.
    pub(crate) fn content(&self, id: u64) -> Option<&Content> {
        self.content_index(id)
            .map(|i| &self.contents[i])
            .filter(|c| c.status != Status::Purged)
    }

    pub(crate) fn comment_index(&self, id: u64) -> Option<usize> {
        self.comments.binary_search_by_key(&id, |c| c.id).ok()
    }

    /// A comment that exists and whose page or blog post is live.
    pub(crate) fn visible_comment(&self, id: u64) -> Option<&Comment> {
        self.comment_index(id)
            .map(|i| &self.comments[i])
            .filter(|c| self.comment_is_visible(c))
    }

    pub(crate) fn comment_is_visible(&self, comment: &Comment) -> bool {
        comment.status == Status::Current
            && self
                .content(comment.container)
                .is_some_and(|c| c.status.is_live())
    }

    pub(crate) fn space_index(&self, id: u64) -> Option<usize> {
        self.spaces.iter().position(|s| s.id == id)
    }

    pub(crate) fn space_of(&self, content: &Content) -> &Space {
        &self.spaces[content.space as usize]
    }

    pub(crate) fn label_index(&self, name: &str) -> Option<u32> {
        self.labels
            .iter()
            .position(|l| l.name == name)
            .map(|i| i as u32)
    }

    pub(crate) fn content_info(&self, content: &Content) -> ContentInfo {
        ContentInfo {
            id: content.id.to_string(),
            content_type: content.kind,
            status: content.status,
            title: self.title(content).to_owned(),
            space_id: self.space_of(content).id.to_string(),
            space_key: self.space_of(content).key.clone(),
            parent_id: (content.parent != 0).then(|| content.parent.to_string()),
            version: content.version,
            created_at: to_datetime(content.created_at),
            modified_at: to_datetime(content.modified_at),
            labels: content
                .labels
                .iter()
                .map(|l| self.labels[*l as usize].name.clone())
                .collect(),
        }
    }

    pub(crate) fn comment_info(&self, comment: &Comment) -> CommentInfo {
        CommentInfo {
            id: comment.id.to_string(),
            kind: comment.kind,
            status: comment.status,
            container_id: comment.container.to_string(),
            container_type: comment.container_type,
            parent_comment_id: (comment.parent != 0).then(|| comment.parent.to_string()),
            version: comment.version,
            created_at: to_datetime(comment.created_at),
            modified_at: to_datetime(comment.modified_at),
            resolution: (comment.kind == CommentKind::Inline).then_some(comment.resolution),
        }
    }
}

/// A snapshot of a page or blog post, for tests and the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentInfo {
    pub id: String,
    pub content_type: ContentType,
    pub status: Status,
    pub title: String,
    pub space_id: String,
    pub space_key: String,
    pub parent_id: Option<String>,
    pub version: u32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub modified_at: chrono::DateTime<chrono::Utc>,
    pub labels: Vec<String>,
}

/// A snapshot of a comment, for tests and the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentInfo {
    pub id: String,
    pub kind: CommentKind,
    pub status: Status,
    pub container_id: String,
    pub container_type: ContentType,
    pub parent_comment_id: Option<String>,
    pub version: u32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub modified_at: chrono::DateTime<chrono::Utc>,
    pub resolution: Option<Resolution>,
}

/// Counts of a site's objects, for start-up output and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SiteCounts {
    pub spaces: usize,
    pub pages: usize,
    pub blogposts: usize,
    pub footer_comments: usize,
    pub inline_comments: usize,
    pub labels: usize,
}

impl SiteData {
    pub(crate) fn counts(&self) -> SiteCounts {
        let live = |kind| {
            self.contents
                .iter()
                .filter(|c| c.kind == kind && c.status != Status::Purged)
                .count()
        };
        let comments = |kind| {
            self.comments
                .iter()
                .filter(|c| c.kind == kind && c.status != Status::Purged)
                .count()
        };
        SiteCounts {
            spaces: self.spaces.len(),
            pages: live(ContentType::Page),
            blogposts: live(ContentType::BlogPost),
            footer_comments: comments(CommentKind::Footer),
            inline_comments: comments(CommentKind::Inline),
            labels: self.labels.len(),
        }
    }
}

/// What a generated body mentions and links to, chosen deterministically
/// from the content id among the site's users and pages.
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyContext {
    pub mentions: Vec<String>,
    pub links: Vec<(String, String)>,
}

impl SiteData {
    pub(crate) fn body_context(&self, id: u64) -> BodyContext {
        let mut ctx = BodyContext::default();
        for k in 0..3u64 {
            let h = hash(self.seed, &[0xC0C0, id, k]);
            if !self.users.is_empty() {
                let user = self.users.get((h % self.users.len() as u64) as u32);
                ctx.mentions.push(user.account_id.clone());
            }
            if !self.contents.is_empty() {
                let target = &self.contents[(h >> 20) as usize % self.contents.len()];
                if target.status != Status::Purged && target.kind == ContentType::Page {
                    ctx.links.push((
                        self.title(target).to_owned(),
                        self.space_of(target).key.clone(),
                    ));
                }
            }
        }
        ctx
    }

    /// The generated storage body of `content` at `version`.
    pub(crate) fn generated_storage(&self, content: &Content, version: u32) -> String {
        let ctx = self.body_context(content.id);
        body::storage(&BodySpec {
            seed: self.seed,
            id: content.id,
            version,
            kind: match content.kind {
                ContentType::Page => BodyKind::Page,
                ContentType::BlogPost => BodyKind::BlogPost,
            },
            title: self.title(content),
            mentions: &ctx.mentions,
            links: &ctx.links,
        })
    }
}
