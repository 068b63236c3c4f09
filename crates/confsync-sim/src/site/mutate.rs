//! Mutations tests apply to a site between polls: create, edit, rename, move,
//! trash, restore, archive, purge, labels and comments.
//!
//! Each follows Confluence's rules as documented (or, where the docs are
//! silent, the choice written in the README): edits, renames and restores
//! create a version stamped with the sim clock; trashing, archiving and
//! labelling do not. This module only changes [`SiteData`]; it knows nothing
//! about HTTP.

use std::sync::Arc;

use serde::Deserialize;

use crate::clock::Millis;
use crate::error::SimError;
use crate::site::{
    Comment, CommentInfo, CommentKind, Content, ContentInfo, ContentType, Label, Resolution,
    SiteData, Status,
};

/// The account that makes every simulated edit: the site admin.
const EDITOR: u32 = 0;

/// A new page. Defaults: the first space, under its home page, a generated title.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPage {
    pub space_id: Option<String>,
    pub parent_id: Option<String>,
    pub title: Option<String>,
    /// Storage-format body; generated when absent.
    pub body: Option<String>,
}

/// A new blog post. Defaults: the first space, a generated title.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBlogPost {
    pub space_id: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
}

/// A new version of a page or blog post.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// New title (a rename); unchanged when absent.
    pub title: Option<String>,
    /// New storage body; when absent the body is regenerated for the new
    /// version (so its content changes) and any earlier override is dropped.
    pub body: Option<String>,
    #[serde(default)]
    pub minor_edit: bool,
}

/// A move to another parent and/or space.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// New parent page; the target space's home page when absent.
    pub parent_id: Option<String>,
    /// New space; the parent's space (or unchanged) when absent.
    pub space_id: Option<String>,
    /// Whether the move creates a version (Atlassian does not document it;
    /// default false: the move is invisible to `modified-date` ordering).
    #[serde(default)]
    pub new_version: bool,
}

/// A new comment: on a page or blog post, or a reply to a comment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub kind: CommentKind,
    /// Page or blog post; required unless `parent_comment_id` is given.
    pub container_id: Option<String>,
    pub parent_comment_id: Option<String>,
    pub body: Option<String>,
    /// Inline comments: the highlighted text.
    pub selection: Option<String>,
}

pub(crate) fn parse_id(value: &str) -> Result<u64, SimError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| SimError::invalid(format!("not a content id: {value:?}")))
}

fn live_index(site: &SiteData, id: &str) -> Result<usize, SimError> {
    let id = parse_id(id)?;
    site.content_index(id)
        .filter(|i| site.contents[*i].status != Status::Purged)
        .ok_or_else(|| SimError::not_found(format!("content {id}")))
}

fn space_index(site: &SiteData, space_id: Option<&str>) -> Result<usize, SimError> {
    match space_id {
        None => Ok(0),
        Some(id) => {
            let id = parse_id(id)?;
            site.space_index(id)
                .ok_or_else(|| SimError::not_found(format!("space {id}")))
        }
    }
}

fn check_title(title: &str) -> Result<(), SimError> {
    if title.trim().is_empty() || title.len() > 255 {
        return Err(SimError::invalid("a title must have 1 to 255 bytes"));
    }
    Ok(())
}

pub(crate) fn create_page(
    site: &mut SiteData,
    new: NewPage,
    now: Millis,
) -> Result<ContentInfo, SimError> {
    let (space, parent) = match new.parent_id.as_deref() {
        Some(parent_id) => {
            let parent = &site.contents[live_index(site, parent_id)?];
            if parent.kind != ContentType::Page {
                return Err(SimError::invalid("a page's parent must be a page"));
            }
            (parent.space as usize, parent.id)
        }
        None => {
            let space = space_index(site, new.space_id.as_deref())?;
            (space, site.spaces[space].homepage)
        }
    };
    let title = new
        .title
        .unwrap_or_else(|| format!("New page {}", site.next_id));
    check_title(&title)?;
    let id = push_new(site, ContentType::Page, space, parent, &title, now);
    if let Some(body) = new.body {
        site.body_overrides.insert(id, Arc::from(body));
    }
    info(site, id)
}

pub(crate) fn create_blogpost(
    site: &mut SiteData,
    new: NewBlogPost,
    now: Millis,
) -> Result<ContentInfo, SimError> {
    let space = space_index(site, new.space_id.as_deref())?;
    let title = new
        .title
        .unwrap_or_else(|| format!("New blog post {}", site.next_id));
    check_title(&title)?;
    let id = push_new(site, ContentType::BlogPost, space, 0, &title, now);
    if let Some(body) = new.body {
        site.body_overrides.insert(id, Arc::from(body));
    }
    info(site, id)
}

fn push_new(
    site: &mut SiteData,
    kind: ContentType,
    space: usize,
    parent: u64,
    title: &str,
    now: Millis,
) -> u64 {
    let id = site.alloc_id(3);
    let (title_off, title_len) = site.intern_title(title);
    let position = next_position(site, parent);
    site.contents.push(Content {
        id,
        parent,
        created_at: now,
        modified_at: now,
        labels: Box::new([]),
        title_off,
        title_len,
        space: space as u32,
        position,
        author: EDITOR,
        owner: EDITOR,
        version_author: EDITOR,
        version: 1,
        kind,
        status: Status::Current,
        minor_edit: false,
    });
    id
}

fn next_position(site: &SiteData, parent: u64) -> u32 {
    if parent == 0 {
        return 0;
    }
    site.contents
        .iter()
        .filter(|c| c.parent == parent)
        .map(|c| c.position)
        .max()
        .map_or(16, |p| p + 16)
}

fn info(site: &SiteData, id: u64) -> Result<ContentInfo, SimError> {
    site.content_index(id)
        .map(|i| site.content_info(&site.contents[i]))
        .ok_or_else(|| SimError::not_found(format!("content {id}")))
}

fn bump_version(content: &mut Content, now: Millis, minor: bool) {
    content.version += 1;
    content.modified_at = now.max(content.modified_at + 1);
    content.version_author = EDITOR;
    content.minor_edit = minor;
}

pub(crate) fn edit(
    site: &mut SiteData,
    id: &str,
    edit: Edit,
    now: Millis,
) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    if site.contents[index].status == Status::Trashed {
        return Err(SimError::invalid(
            "a trashed item cannot be edited; restore it first",
        ));
    }
    if let Some(title) = &edit.title {
        check_title(title)?;
        let (off, len) = site.intern_title(title);
        site.contents[index].title_off = off;
        site.contents[index].title_len = len;
    }
    let content_id = site.contents[index].id;
    match edit.body {
        Some(body) => {
            site.body_overrides.insert(content_id, Arc::from(body));
        }
        None => {
            site.body_overrides.remove(&content_id);
        }
    }
    bump_version(&mut site.contents[index], now, edit.minor_edit);
    info(site, content_id)
}

pub(crate) fn rename(
    site: &mut SiteData,
    id: &str,
    title: &str,
    now: Millis,
) -> Result<ContentInfo, SimError> {
    // A rename is a new version with the same body.
    let index = live_index(site, id)?;
    let content_id = site.contents[index].id;
    let body = site.body_overrides.get(&content_id).map(|b| b.to_string());
    let keep_body = body.is_some();
    let result = self::edit(
        site,
        id,
        Edit {
            title: Some(title.to_owned()),
            body,
            minor_edit: false,
        },
        now,
    );
    if !keep_body {
        // Without an override the generated body would change with the
        // version; freeze the previous version's body instead.
        freeze_previous_body(site, content_id);
    }
    result
}

fn freeze_previous_body(site: &mut SiteData, id: u64) {
    let Some(index) = site.content_index(id) else {
        return;
    };
    let content = &site.contents[index];
    let body = site.generated_storage(content, content.version.saturating_sub(1).max(1));
    site.body_overrides.insert(id, Arc::from(body));
}

pub(crate) fn move_content(
    site: &mut SiteData,
    id: &str,
    mv: Move,
    now: Millis,
) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    let content_id = site.contents[index].id;
    if site.contents[index].kind != ContentType::Page {
        return Err(SimError::invalid(
            "only pages have parents; blog posts cannot move",
        ));
    }
    let (space, parent) = match mv.parent_id.as_deref() {
        Some(parent_id) => {
            let parent = &site.contents[live_index(site, parent_id)?];
            if parent.kind != ContentType::Page {
                return Err(SimError::invalid("a page's parent must be a page"));
            }
            (parent.space as usize, parent.id)
        }
        None => {
            let space = match mv.space_id.as_deref() {
                Some(_) => space_index(site, mv.space_id.as_deref())?,
                None => site.contents[index].space as usize,
            };
            (space, site.spaces[space].homepage)
        }
    };
    if is_self_or_descendant(site, parent, content_id) {
        return Err(SimError::invalid(
            "a page cannot move under itself or its descendants",
        ));
    }
    let position = next_position(site, parent);
    let old_space = site.contents[index].space;
    {
        let content = &mut site.contents[index];
        content.parent = parent;
        content.position = position;
        content.space = space as u32;
        if mv.new_version {
            bump_version(content, now, false);
        }
    }
    if old_space != space as u32 {
        move_subtree_space(site, content_id, space as u32);
    }
    info(site, content_id)
}

fn is_self_or_descendant(site: &SiteData, mut candidate: u64, ancestor: u64) -> bool {
    // Bounded walk up from the candidate parent.
    for _ in 0..10_000 {
        if candidate == ancestor {
            return true;
        }
        match site.content_index(candidate) {
            Some(i) if site.contents[i].parent != 0 => candidate = site.contents[i].parent,
            _ => return false,
        }
    }
    true
}

fn move_subtree_space(site: &mut SiteData, root: u64, space: u32) {
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for content in site.contents.iter_mut().filter(|c| c.parent == parent) {
            content.space = space;
            frontier.push(content.id);
        }
    }
}

pub(crate) fn trash(site: &mut SiteData, id: &str) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    let content = &site.contents[index];
    if content.status == Status::Trashed {
        return Err(SimError::invalid("already trashed"));
    }
    if content.parent == 0 && content.kind == ContentType::Page {
        return Err(SimError::invalid("a space's home page cannot be trashed"));
    }
    let (content_id, parent) = (content.id, content.parent);
    // Trashing creates no version. Like Confluence, the children move up to
    // the trashed page's parent (again without a version).
    site.contents[index].status = Status::Trashed;
    for child in site.contents.iter_mut().filter(|c| c.parent == content_id) {
        child.parent = parent;
    }
    info(site, content_id)
}

pub(crate) fn restore(site: &mut SiteData, id: &str, now: Millis) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    if site.contents[index].status == Status::Current {
        return Err(SimError::invalid("not trashed or archived"));
    }
    let content_id = site.contents[index].id;
    let parent = site.contents[index].parent;
    if parent != 0
        && site
            .content(parent)
            .is_none_or(|p| p.status == Status::Trashed)
    {
        // The old parent is gone: restore under the space home page.
        let space = site.contents[index].space as usize;
        site.contents[index].parent = site.spaces[space].homepage;
    }
    let content = &mut site.contents[index];
    content.status = Status::Current;
    bump_version(content, now, false);
    info(site, content_id)
}

pub(crate) fn archive(site: &mut SiteData, id: &str) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    let content = &mut site.contents[index];
    if content.kind != ContentType::Page {
        return Err(SimError::invalid("only pages can be archived"));
    }
    if content.status != Status::Current {
        return Err(SimError::invalid("only current pages can be archived"));
    }
    content.status = Status::Archived;
    let content_id = content.id;
    info(site, content_id)
}

pub(crate) fn purge(site: &mut SiteData, id: &str) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    let content = &site.contents[index];
    if content.parent == 0 && content.kind == ContentType::Page {
        return Err(SimError::invalid("a space's home page cannot be purged"));
    }
    let (content_id, parent) = (content.id, content.parent);
    let snapshot = site.content_info(&site.contents[index]);
    site.contents[index].status = Status::Purged;
    site.body_overrides.remove(&content_id);
    for child in site.contents.iter_mut().filter(|c| c.parent == content_id) {
        child.parent = parent;
    }
    for comment in site
        .comments
        .iter_mut()
        .filter(|c| c.container == content_id)
    {
        comment.status = Status::Purged;
    }
    Ok(ContentInfo {
        status: Status::Purged,
        ..snapshot
    })
}

pub(crate) fn add_label(
    site: &mut SiteData,
    id: &str,
    name: &str,
) -> Result<ContentInfo, SimError> {
    let name = name.trim().to_lowercase();
    if name.is_empty() || name.len() > 255 || name.contains(char::is_whitespace) {
        return Err(SimError::invalid("a label is one word of 1 to 255 bytes"));
    }
    let index = live_index(site, id)?;
    let label = match site.label_index(&name) {
        Some(label) => label,
        None => {
            let id = site.next_label_id;
            site.next_label_id += 7;
            site.labels.push(Label { id, name });
            (site.labels.len() - 1) as u32
        }
    };
    let content = &mut site.contents[index];
    if !content.labels.contains(&label) {
        let mut labels = content.labels.to_vec();
        labels.push(label);
        content.labels = labels.into_boxed_slice();
    }
    let content_id = content.id;
    info(site, content_id)
}

pub(crate) fn remove_label(
    site: &mut SiteData,
    id: &str,
    name: &str,
) -> Result<ContentInfo, SimError> {
    let index = live_index(site, id)?;
    let label = site
        .label_index(name)
        .ok_or_else(|| SimError::not_found(format!("label {name}")))?;
    let content = &mut site.contents[index];
    content.labels = content
        .labels
        .iter()
        .copied()
        .filter(|l| *l != label)
        .collect();
    let content_id = content.id;
    info(site, content_id)
}

pub(crate) fn add_comment(
    site: &mut SiteData,
    new: NewComment,
    now: Millis,
) -> Result<CommentInfo, SimError> {
    let (container, container_type, parent, resolution) = match &new.parent_comment_id {
        Some(parent_id) => {
            let parent_id = parse_id(parent_id)?;
            let parent = site
                .visible_comment(parent_id)
                .ok_or_else(|| SimError::not_found(format!("comment {parent_id}")))?;
            if parent.kind != new.kind {
                return Err(SimError::invalid("a reply has its parent's kind"));
            }
            (
                parent.container,
                parent.container_type,
                parent.id,
                parent.resolution,
            )
        }
        None => {
            let container_id = new.container_id.as_deref().ok_or_else(|| {
                SimError::invalid("container_id or parent_comment_id is required")
            })?;
            let content = &site.contents[live_index(site, container_id)?];
            if !content.status.is_live() {
                return Err(SimError::invalid("cannot comment on trashed content"));
            }
            (content.id, content.kind, 0, Resolution::Open)
        }
    };
    let id = site.alloc_id(2);
    site.comments.push(Comment {
        id,
        container,
        parent,
        created_at: now,
        modified_at: now,
        resolution_at: 0,
        version_author: EDITOR,
        version: 1,
        resolution_by: 0,
        kind: new.kind,
        container_type,
        status: Status::Current,
        resolution,
        parent_only: false,
    });
    if let Some(body) = new.body {
        site.body_overrides.insert(id, Arc::from(body));
    }
    if let Some(selection) = new.selection {
        site.selection_overrides.insert(id, Arc::from(selection));
    }
    comment_info(site, id)
}

fn comment_index(site: &SiteData, id: &str) -> Result<usize, SimError> {
    let id = parse_id(id)?;
    site.comment_index(id)
        .filter(|i| site.comments[*i].status != Status::Purged)
        .ok_or_else(|| SimError::not_found(format!("comment {id}")))
}

fn comment_info(site: &SiteData, id: u64) -> Result<CommentInfo, SimError> {
    site.comment_index(id)
        .map(|i| site.comment_info(&site.comments[i]))
        .ok_or_else(|| SimError::not_found(format!("comment {id}")))
}

pub(crate) fn edit_comment(
    site: &mut SiteData,
    id: &str,
    body: Option<String>,
    now: Millis,
) -> Result<CommentInfo, SimError> {
    let index = comment_index(site, id)?;
    let comment = &mut site.comments[index];
    comment.version += 1;
    comment.modified_at = now.max(comment.modified_at + 1);
    comment.version_author = EDITOR;
    let comment_id = comment.id;
    match body {
        Some(body) => site.body_overrides.insert(comment_id, Arc::from(body)),
        None => site.body_overrides.remove(&comment_id),
    };
    comment_info(site, comment_id)
}

pub(crate) fn resolve_comment(
    site: &mut SiteData,
    id: &str,
    resolution: Resolution,
    now: Millis,
) -> Result<CommentInfo, SimError> {
    let index = comment_index(site, id)?;
    let comment = &mut site.comments[index];
    if comment.kind != CommentKind::Inline {
        return Err(SimError::invalid("only inline comments have a resolution"));
    }
    // Changing the resolution creates no comment version.
    comment.resolution = resolution;
    comment.resolution_at = now;
    comment.resolution_by = EDITOR;
    let comment_id = comment.id;
    comment_info(site, comment_id)
}

pub(crate) fn delete_comment(site: &mut SiteData, id: &str) -> Result<CommentInfo, SimError> {
    // Deleting a comment is permanent in Confluence, and so are its replies.
    let index = comment_index(site, id)?;
    let comment_id = site.comments[index].id;
    let snapshot = site.comment_info(&site.comments[index]);
    let mut doomed = vec![comment_id];
    while let Some(parent) = doomed.pop() {
        for comment in site
            .comments
            .iter_mut()
            .filter(|c| c.id == parent || c.parent == parent)
        {
            if comment.status != Status::Purged {
                comment.status = Status::Purged;
                if comment.id != parent {
                    doomed.push(comment.id);
                }
            }
        }
        site.body_overrides.remove(&parent);
    }
    Ok(CommentInfo {
        status: Status::Purged,
        ..snapshot
    })
}
