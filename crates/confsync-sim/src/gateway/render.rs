//! JSON shapes of the Confluence v2 API, with the field sets of Atlassian's
//! real responses (reference/atlassian/fixtures): string ids, camelCase,
//! `version{…}`, `_links.webui/editui/edituiv2/tinyui`, `body` keyed by
//! representation (`{}` without `body-format`).
//!
//! Rows are owned snapshots taken under the site lock; rendering (including
//! body generation) happens after the lock is released. No HTTP here.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::clock::{Millis, format_ms};
use crate::gateway::query::BodyFormat;
use crate::rng::{Rng, hash};
use crate::site::body::{self, BodyKind, BodySpec};
use crate::site::users::UserPool;
use crate::site::{
    BodyContext, Comment, CommentKind, Content, ContentType, Resolution, SiteData, Space, Status,
};

/// Where a body comes from.
#[derive(Debug, Clone)]
pub(crate) enum BodySource {
    Override(Arc<str>),
    Generated(BodyContext),
}

fn body_source(site: &SiteData, id: u64) -> BodySource {
    match site.body_overrides.get(&id) {
        Some(body) => BodySource::Override(Arc::clone(body)),
        None => BodySource::Generated(site.body_context(id)),
    }
}

/// A page or blog post, copied out of the site.
#[derive(Debug, Clone)]
pub(crate) struct ContentRow {
    pub id: u64,
    pub kind: ContentType,
    pub status: Status,
    pub space_id: u64,
    pub space_key: String,
    pub is_home: bool,
    pub parent: u64,
    pub position: u32,
    pub author: u32,
    pub owner: u32,
    pub version_author: u32,
    pub created_at: Millis,
    pub modified_at: Millis,
    pub version: u32,
    pub minor_edit: bool,
    pub title: String,
    pub body: Option<BodySource>,
    pub labels: Vec<(u64, String)>,
    pub seed: u64,
}

impl ContentRow {
    pub(crate) fn gather(site: &SiteData, c: &Content, with_body: bool, with_labels: bool) -> Self {
        let space = site.space_of(c);
        ContentRow {
            id: c.id,
            kind: c.kind,
            status: c.status,
            space_id: space.id,
            space_key: space.key.clone(),
            is_home: space.homepage == c.id,
            parent: c.parent,
            position: c.position,
            author: c.author,
            owner: c.owner,
            version_author: c.version_author,
            created_at: c.created_at,
            modified_at: c.modified_at,
            version: c.version,
            minor_edit: c.minor_edit,
            title: site.title(c).to_owned(),
            body: with_body.then(|| body_source(site, c.id)),
            labels: if with_labels {
                label_rows(site, c)
            } else {
                Vec::new()
            },
            seed: site.seed,
        }
    }

    pub(crate) fn webui(&self) -> String {
        content_webui(
            self.kind,
            &self.space_key,
            self.id,
            &self.title,
            self.is_home,
            self.created_at,
        )
    }
}

pub(crate) fn label_rows(site: &SiteData, c: &Content) -> Vec<(u64, String)> {
    c.labels
        .iter()
        .map(|l| {
            let label = &site.labels[*l as usize];
            (label.id, label.name.clone())
        })
        .collect()
}

pub(crate) fn content_webui(
    kind: ContentType,
    space_key: &str,
    id: u64,
    title: &str,
    is_home: bool,
    created_at: Millis,
) -> String {
    let title: String = url::form_urlencoded::byte_serialize(title.as_bytes()).collect();
    match kind {
        ContentType::Page if is_home => format!("/spaces/{space_key}/overview"),
        ContentType::Page => format!("/spaces/{space_key}/pages/{id}/{title}"),
        ContentType::BlogPost => {
            let date = crate::clock::to_datetime(created_at).format("%Y/%m/%d");
            format!("/spaces/{space_key}/blog/{date}/{id}/{title}")
        }
    }
}

/// Confluence's short link: the id's little-endian bytes, base64url.
pub(crate) fn tinyui(id: u64) -> String {
    let bytes = id.to_le_bytes();
    let len = bytes.iter().rposition(|b| *b != 0).map_or(1, |i| i + 1);
    format!("/x/{}", URL_SAFE_NO_PAD.encode(&bytes[..len]))
}

fn version_message(seed: u64, id: u64, version: u32) -> &'static str {
    const MESSAGES: &[&str] = &[
        "Updated the overview",
        "Fixed typos",
        "Added details",
        "msg",
    ];
    if version > 1 && hash(seed, &[0x3E55, id, u64::from(version)]).is_multiple_of(4) {
        MESSAGES[(hash(seed, &[id]) % MESSAGES.len() as u64) as usize]
    } else {
        ""
    }
}

fn version_json(
    users: &UserPool,
    number: u32,
    created_at: Millis,
    author: u32,
    minor: bool,
    message: &str,
    ncs: Option<u64>,
) -> Value {
    let mut v = json!({
        "number": number,
        "message": message,
        "minorEdit": minor,
        "authorId": users.get(author).account_id,
        "createdAt": format_ms(created_at),
    });
    if let (Some(ncs), Some(map)) = (ncs, v.as_object_mut()) {
        map.insert("ncsStepVersion".into(), Value::String(ncs.to_string()));
    }
    v
}

fn body_json(
    source: Option<&BodySource>,
    format: Option<&BodyFormat>,
    spec: impl FnOnce(&BodyContext) -> String,
    adf: impl FnOnce(&BodyContext) -> String,
) -> Value {
    let (Some(source), Some(format)) = (source, format) else {
        return json!({});
    };
    let value = match (source, format) {
        (BodySource::Override(text), BodyFormat::AtlasDocFormat) => adf_of_text(text),
        (BodySource::Override(text), _) => text.to_string(),
        (BodySource::Generated(ctx), BodyFormat::AtlasDocFormat) => adf(ctx),
        (BodySource::Generated(ctx), _) => spec(ctx),
    };
    let key = format.key();
    json!({ key: {"representation": key, "value": value} })
}

fn adf_of_text(text: &str) -> String {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
    .to_string()
}

/// How a page or blog post is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An item of a list (`PageBulk`, `BlogPostBulk`).
    Bulk,
    /// `GET /pages/{id}`: adds `_links.base` and `ncsStepVersion`.
    Single,
}

pub(crate) fn content_json(
    row: &ContentRow,
    users: &UserPool,
    format: Option<&BodyFormat>,
    shape: Shape,
    base: &str,
) -> Value {
    let body_kind = match row.kind {
        ContentType::Page => BodyKind::Page,
        ContentType::BlogPost => BodyKind::BlogPost,
    };
    let make_spec = |ctx: &BodyContext, f: fn(&BodySpec<'_>) -> String| {
        f(&BodySpec {
            seed: row.seed,
            id: row.id,
            version: row.version,
            kind: body_kind,
            title: &row.title,
            mentions: &ctx.mentions,
            links: &ctx.links,
        })
    };
    let body = body_json(
        row.body.as_ref(),
        format,
        |ctx| make_spec(ctx, body::storage),
        |ctx| make_spec(ctx, body::adf),
    );
    let ncs = (shape == Shape::Single && row.kind == ContentType::Page)
        .then_some(u64::from(row.version) * 3 + row.id % 3);
    let version = version_json(
        users,
        row.version,
        row.modified_at,
        row.version_author,
        row.minor_edit,
        version_message(row.seed, row.id, row.version),
        ncs,
    );
    let mut links = Map::new();
    let edit_segment = if row.kind == ContentType::Page {
        "pages"
    } else {
        "blog"
    };
    links.insert(
        "editui".into(),
        format!("/pages/resumedraft.action?draftId={}", row.id).into(),
    );
    links.insert("webui".into(), row.webui().into());
    links.insert(
        "edituiv2".into(),
        format!(
            "/spaces/{}/{edit_segment}/edit-v2/{}",
            row.space_key, row.id
        )
        .into(),
    );
    links.insert("tinyui".into(), tinyui(row.id).into());
    if shape == Shape::Single {
        links.insert("base".into(), base.into());
    }
    let mut out = Map::new();
    out.insert("id".into(), row.id.to_string().into());
    out.insert("status".into(), row.status.as_str().into());
    out.insert("title".into(), row.title.clone().into());
    out.insert("spaceId".into(), row.space_id.to_string().into());
    if row.kind == ContentType::Page {
        let has_parent = row.parent != 0;
        out.insert(
            "parentId".into(),
            if has_parent {
                row.parent.to_string().into()
            } else {
                Value::Null
            },
        );
        out.insert(
            "parentType".into(),
            if has_parent {
                "page".into()
            } else {
                Value::Null
            },
        );
        out.insert("position".into(), row.position.into());
        out.insert(
            "ownerId".into(),
            users.get(row.owner).account_id.clone().into(),
        );
        out.insert("lastOwnerId".into(), Value::Null);
    }
    out.insert(
        "authorId".into(),
        users.get(row.author).account_id.clone().into(),
    );
    out.insert("createdAt".into(), format_ms(row.created_at).into());
    out.insert("version".into(), version);
    out.insert("body".into(), body);
    if shape == Shape::Single && !row.labels.is_empty() {
        out.insert("labels".into(), labels_field(&row.labels));
    }
    out.insert("_links".into(), Value::Object(links));
    Value::Object(out)
}

/// The `labels` field of a single item with `include-labels=true`.
fn labels_field(labels: &[(u64, String)]) -> Value {
    json!({
        "results": labels.iter().map(|(id, name)| label_json(*id, name)).collect::<Vec<_>>(),
        "meta": {"hasMore": false, "cursor": null},
        "_links": {},
    })
}

pub(crate) fn label_json(id: u64, name: &str) -> Value {
    json!({"prefix": "global", "name": name, "id": id.to_string()})
}

pub(crate) fn space_json(space: &Space, users: &UserPool, base: Option<&str>) -> Value {
    let mut links = json!({"webui": format!("/spaces/{}", space.key)});
    if let (Some(base), Some(map)) = (base, links.as_object_mut()) {
        map.insert("base".into(), base.into());
    }
    json!({
        "id": space.id.to_string(),
        "key": space.key,
        "name": space.name,
        "type": space.kind.as_str(),
        "status": if space.archived { "archived" } else { "current" },
        "authorId": users.get(space.author).account_id,
        "createdAt": format_ms(space.created_at),
        "homepageId": space.homepage.to_string(),
        "description": null,
        "icon": null,
        "currentActiveAlias": space.key,
        "_links": links,
    })
}

/// A comment, copied out of the site.
#[derive(Debug, Clone)]
pub(crate) struct CommentRow {
    pub id: u64,
    pub kind: CommentKind,
    pub container: u64,
    pub container_type: ContentType,
    pub parent: u64,
    pub parent_only: bool,
    pub version_author: u32,
    pub modified_at: Millis,
    pub version: u32,
    pub resolution: Resolution,
    pub resolution_at: Millis,
    pub resolution_by: u32,
    pub container_title: String,
    pub container_webui: String,
    pub body: Option<BodySource>,
    pub selection: String,
    pub seed: u64,
}

impl CommentRow {
    pub(crate) fn gather(site: &SiteData, c: &Comment, with_body: bool) -> Self {
        let (title, webui) = match site.content(c.container) {
            Some(container) => {
                let space = site.space_of(container);
                let title = site.title(container).to_owned();
                let webui = content_webui(
                    container.kind,
                    &space.key,
                    container.id,
                    &title,
                    space.homepage == container.id,
                    container.created_at,
                );
                (title, webui)
            }
            None => (String::new(), String::new()),
        };
        let selection = match site.selection_overrides.get(&c.id) {
            Some(text) => text.to_string(),
            None if c.kind == CommentKind::Inline => body::inline_selection(site.seed, c.id),
            None => String::new(),
        };
        CommentRow {
            id: c.id,
            kind: c.kind,
            container: c.container,
            container_type: c.container_type,
            parent: c.parent,
            parent_only: c.parent_only,
            version_author: c.version_author,
            modified_at: c.modified_at,
            version: c.version,
            resolution: c.resolution,
            resolution_at: c.resolution_at,
            resolution_by: c.resolution_by,
            container_title: title,
            container_webui: webui,
            body: with_body.then(|| body_source(site, c.id)),
            selection,
            seed: site.seed,
        }
    }
}

/// Which comment model a response uses (they carry different fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommentShape {
    /// `/footer-comments`, `/inline-comments`: replies carry
    /// `parentCommentId`, some only that.
    SiteWide,
    /// `/pages/{id}/footer-comments`: top-level comments of one container.
    OfContainer,
    /// `/footer-comments/{id}/children`.
    Children,
    /// `/footer-comments/{id}`: adds `_links.base`.
    Single,
}

pub(crate) fn comment_json(
    row: &CommentRow,
    users: &UserPool,
    format: Option<&BodyFormat>,
    shape: CommentShape,
    base: &str,
) -> Value {
    let make = |ctx: &BodyContext, f: fn(&BodySpec<'_>) -> String| {
        f(&BodySpec {
            seed: row.seed,
            id: row.id,
            version: row.version,
            kind: BodyKind::Comment,
            title: &row.container_title,
            mentions: &ctx.mentions,
            links: &ctx.links,
        })
    };
    let body = body_json(
        row.body.as_ref(),
        format,
        |ctx| make(ctx, body::storage),
        |ctx| make(ctx, body::adf),
    );
    let mut out = Map::new();
    out.insert("id".into(), row.id.to_string().into());
    out.insert("status".into(), "current".into());
    out.insert(
        "title".into(),
        format!("Re: {}", row.container_title).into(),
    );
    let container_key = match row.container_type {
        ContentType::Page => "pageId",
        ContentType::BlogPost => "blogPostId",
    };
    let show_container = match shape {
        CommentShape::OfContainer | CommentShape::Single => true,
        CommentShape::SiteWide => !(row.parent != 0 && row.parent_only),
        CommentShape::Children => false,
    };
    if show_container {
        out.insert(container_key.into(), row.container.to_string().into());
    }
    let show_parent = matches!(
        shape,
        CommentShape::SiteWide | CommentShape::Single | CommentShape::Children
    );
    if show_parent && row.parent != 0 {
        out.insert("parentCommentId".into(), row.parent.to_string().into());
    }
    out.insert(
        "version".into(),
        version_json(
            users,
            row.version,
            row.modified_at,
            row.version_author,
            false,
            "",
            None,
        ),
    );
    out.insert("body".into(), body);
    if row.kind == CommentKind::Inline {
        inline_fields(&mut out, row, users, shape);
    }
    let mut links = Map::new();
    links.insert(
        "webui".into(),
        format!("{}?focusedCommentId={}", row.container_webui, row.id).into(),
    );
    if shape == CommentShape::Single {
        links.insert("base".into(), base.into());
    }
    out.insert("_links".into(), Value::Object(links));
    Value::Object(out)
}

fn inline_fields(
    out: &mut Map<String, Value>,
    row: &CommentRow,
    users: &UserPool,
    shape: CommentShape,
) {
    out.insert("resolutionStatus".into(), row.resolution.as_str().into());
    let marker = Rng::for_parts(row.seed, &[0x3A4C, row.id]).uuid();
    let mut props = Map::new();
    props.insert("inlineMarkerRef".into(), marker.clone().into());
    props.insert(
        "inlineOriginalSelection".into(),
        row.selection.clone().into(),
    );
    if shape != CommentShape::Children {
        // Observed in real responses: kebab-case twins of the two keys.
        props.insert("inline-marker-ref".into(), marker.into());
        props.insert(
            "inline-original-selection".into(),
            row.selection.clone().into(),
        );
        if row.resolution_at != 0 {
            out.insert(
                "resolutionLastModifierId".into(),
                users.get(row.resolution_by).account_id.clone().into(),
            );
            out.insert(
                "resolutionLastModifiedAt".into(),
                format_ms(row.resolution_at).into(),
            );
        }
    }
    out.insert("properties".into(), Value::Object(props));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tinyui_matches_confluence() {
        // Pairs observed in real responses (text2confl fixtures).
        assert_eq!(tinyui(1_441_795), "/x/AwAW");
        assert_eq!(tinyui(2_719_745), "/x/AYAp");
        assert_eq!(tinyui(98_581), "/x/FYEB");
    }

    #[test]
    fn webui_encodes_titles() {
        assert_eq!(
            content_webui(ContentType::Page, "DOCS", 7, "Page title & more", false, 0),
            "/spaces/DOCS/pages/7/Page+title+%26+more"
        );
        assert_eq!(
            content_webui(ContentType::Page, "DOCS", 7, "x", true, 0),
            "/spaces/DOCS/overview"
        );
        assert_eq!(
            content_webui(
                ContentType::BlogPost,
                "ENG",
                9,
                "News",
                false,
                1_763_530_000_000
            ),
            "/spaces/ENG/blog/2025/11/19/9/News"
        );
    }
}
