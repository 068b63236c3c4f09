//! The Confluence v2 endpoints: spaces, pages, blog posts, comments (site-wide,
//! per container, replies, single) and labels, with Atlassian's filters,
//! sorts and keyset pagination.
//!
//! Each handler validates the query, copies the selected rows out under the
//! site's read lock, releases it, then renders. Auth, scopes, points and
//! faults are the gateway's business, not this module's.

use serde_json::{Value, json};

use crate::gateway::cursor::{Cursor, fingerprint, next_link};
use crate::gateway::listing::{PageOf, SortKey, select};
use crate::gateway::query::{
    DEFAULT_LIMIT, LIST_FORMATS, MAX_LIMIT, Query, SINGLE_FORMATS, Sort, SortField,
};
use crate::gateway::render::{
    self, CommentRow, CommentShape, ContentRow, Shape, comment_json, content_json, label_json,
    space_json,
};
use crate::gateway::routes::{CommentSet, Container, Endpoint, Route};
use crate::gateway::{ApiError, ApiOk};
use crate::site::users::UserPool;
use crate::site::{
    Comment, CommentKind, Content, ContentType, Resolution, SiteData, Space, Status,
};
use crate::state::SiteSlot;

const PAGE_SORTS: &[&str] = &["id", "created-date", "modified-date", "title"];
const BLOGPOST_SORTS: &[&str] = &["id", "created-date", "modified-date"];
const COMMENT_SORTS: &[&str] = &["created-date", "modified-date"];
const SPACE_SORTS: &[&str] = &["id", "key", "name"];
const LABEL_SORTS: &[&str] = &["created-date", "id", "name"];
const PAGE_STATUSES: &[&str] = &["current", "archived", "deleted", "trashed"];
const BLOGPOST_STATUSES: &[&str] = &["current", "deleted", "trashed"];
const COMMENT_STATUSES: &[&str] = &[
    "current",
    "archived",
    "trashed",
    "deleted",
    "historical",
    "draft",
];
const LIVE: &[Status] = &[Status::Current, Status::Archived];

/// What a Confluence handler needs.
pub(crate) struct Request<'a> {
    pub site: &'a SiteSlot,
    pub users: &'a UserPool,
    pub route: &'a Route,
    pub query: &'a Query,
}

impl Request<'_> {
    fn base(&self) -> String {
        self.site.info.base_url()
    }
}

pub(crate) fn handle(req: &Request<'_>) -> Result<ApiOk, ApiError> {
    match req.route.endpoint {
        Endpoint::Spaces => spaces(req),
        Endpoint::Space(id) => space(req, id),
        Endpoint::SpaceContents(space, container) => contents(req, container, Some(space)),
        Endpoint::Contents(container) => contents(req, container, None),
        Endpoint::Content(container, id) => content(req, container, id),
        Endpoint::ContentComments(container, id, set) => {
            container_comments(req, container, id, set)
        }
        Endpoint::ContentLabels(container, id) => labels(req, container, id),
        Endpoint::Comments(set) => site_comments(req, set),
        Endpoint::Comment(set, id) => comment(req, set, id),
        Endpoint::CommentChildren(set, id) => children(req, set, id),
        Endpoint::V1User | Endpoint::V1UserBulk | Endpoint::V1UserCurrent => {
            Err(ApiError::not_found())
        }
    }
}

/// Validated paging parameters of a list request.
struct Paging {
    limit: usize,
    sort: Sort,
    order_name: String,
    fingerprint: String,
    cursor: Option<Cursor>,
}

impl Paging {
    fn parse(
        req: &Request<'_>,
        allowed_sorts: &[&str],
        sort_type: &str,
        default_sort: Sort,
    ) -> Result<Paging, ApiError> {
        let query = req.query;
        let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        let sort = query
            .sort(allowed_sorts, sort_type)?
            .unwrap_or(default_sort);
        let order_name = query
            .first("sort")
            .map_or_else(|| default_sort.name(), str::to_owned);
        let fingerprint = fingerprint(&req.route.api_path, query);
        let cursor = match query.first("cursor") {
            None => None,
            Some(raw) => {
                let cursor = Cursor::decode(raw).ok_or_else(|| invalid_cursor("malformed"))?;
                if cursor.limit != limit {
                    return Err(invalid_cursor("issued for another limit"));
                }
                if cursor.filter != fingerprint || cursor.order != order_name {
                    return Err(invalid_cursor("issued for another sort or filter"));
                }
                if cursor.last_id().is_none() {
                    return Err(invalid_cursor("malformed"));
                }
                Some(cursor)
            }
        };
        Ok(Paging {
            limit,
            sort,
            order_name,
            fingerprint,
            cursor,
        })
    }

    fn after(&self) -> Option<(&crate::gateway::cursor::KeyValue, u64)> {
        self.cursor
            .as_ref()
            .and_then(|c| c.last_id().map(|id| (&c.value, id)))
    }

    /// The next cursor after an item with this key and id.
    fn next(&self, key: SortKey<'_>, id: u64) -> String {
        Cursor {
            id: id.to_string(),
            order: self.order_name.clone(),
            value: key.to_value(),
            limit: self.limit,
            filter: self.fingerprint.clone(),
        }
        .encode()
    }
}

impl Paging {
    /// The cursor after the last item, when more items follow.
    fn next_after<'a, T>(
        &self,
        page: &PageOf<'a, T>,
        key: impl Fn(&'a T) -> (SortKey<'a>, u64),
    ) -> Option<String> {
        if !page.more {
            return None;
        }
        page.items.last().map(|last| {
            let (k, id) = key(last);
            self.next(k, id)
        })
    }
}

fn space_key(field: SortField, s: &Space) -> SortKey<'_> {
    match field {
        SortField::Key => SortKey::Str(s.key.as_str()),
        SortField::Name => SortKey::Str(s.name.as_str()),
        _ => SortKey::Int(s.id as i64),
    }
}

fn label_key(by_name: bool, label: &(u64, String)) -> SortKey<'_> {
    if by_name {
        SortKey::Str(label.1.as_str())
    } else {
        SortKey::Int(label.0 as i64)
    }
}

fn invalid_cursor(why: &str) -> ApiError {
    ApiError::bad_request(&format!("Invalid cursor: {why}"))
}

/// The list envelope, the `Link` header and the object count.
fn list_response(
    req: &Request<'_>,
    results: Vec<Value>,
    next_cursor: Option<String>,
    limit: usize,
) -> ApiOk {
    let base = req.base();
    let next = next_cursor.map(|c| next_link(&req.route.api_path, req.query, &c, limit));
    let mut links = serde_json::Map::new();
    if let Some(next) = &next {
        links.insert("next".into(), next.clone().into());
    }
    links.insert("base".into(), base.clone().into());
    let objects = results.len() as u64;
    let body = json!({"results": results, "_links": links});
    ApiOk {
        body: body.to_string().into_bytes(),
        object_points: objects,
        link: next.map(|n| format!("<{n}>; rel=\"next\", <{base}>; rel=\"base\"")),
    }
}

fn single_response(value: &Value, objects: u64) -> ApiOk {
    ApiOk::json(value, objects)
}

fn content_key<'a>(site: &'a SiteData, field: SortField) -> impl Fn(&'a Content) -> SortKey<'a> {
    move |c| match field {
        SortField::Created => SortKey::Int(c.created_at),
        SortField::Modified => SortKey::Int(c.modified_at),
        SortField::Title => SortKey::Str(site.title(c)),
        _ => SortKey::Int(c.id as i64),
    }
}

fn comment_key<'a>(field: SortField) -> impl Fn(&'a Comment) -> SortKey<'a> {
    move |c| match field {
        SortField::Modified => SortKey::Int(c.modified_at),
        SortField::Created => SortKey::Int(c.created_at),
        _ => SortKey::Int(c.id as i64),
    }
}

// ---- spaces ------------------------------------------------------------

fn spaces(req: &Request<'_>) -> Result<ApiOk, ApiError> {
    let paging = Paging::parse(req, SPACE_SORTS, "SpaceSortOrder", Sort::ID)?;
    let ids = req.query.ids("ids", 250)?;
    let keys = req.query.values("keys");
    let kind = req.query.first("type");
    let status = match req.query.first("status") {
        None => None,
        Some("current") => Some(false),
        Some("archived") => Some(true),
        Some(_) => return Err(ApiError::bad_request("status must be current or archived")),
    };
    let site = req.site.data.read();
    let field = paging.sort.field;
    let page = select(
        site.spaces.iter().filter(|s| {
            (ids.is_empty() || ids.contains(&s.id))
                && (keys.is_empty() || keys.contains(&s.key.as_str()))
                && kind.is_none_or(|k| k == s.kind.as_str())
                && status.is_none_or(|archived| archived == s.archived)
        }),
        |s| s.id,
        |s| space_key(field, s),
        paging.sort.desc,
        paging.after(),
        paging.limit,
    );
    let next = paging.next_after(&page, |s| (space_key(field, s), s.id));
    let results = page
        .items
        .iter()
        .map(|s| space_json(s, req.users, None))
        .collect();
    drop(site);
    Ok(list_response(req, results, next, paging.limit))
}

fn space(req: &Request<'_>, id: u64) -> Result<ApiOk, ApiError> {
    let site = req.site.data.read();
    let space = site
        .space_index(id)
        .map(|i| &site.spaces[i])
        .ok_or_else(ApiError::not_found)?;
    let value = space_json(space, req.users, Some(&req.base()));
    Ok(single_response(&value, 1))
}

// ---- pages and blog posts ---------------------------------------------------

fn content_type(container: Container) -> ContentType {
    match container {
        Container::Page => ContentType::Page,
        Container::BlogPost => ContentType::BlogPost,
    }
}

struct ContentFilter {
    kind: ContentType,
    statuses: Vec<Status>,
    spaces: Vec<u64>,
    ids: Vec<u64>,
    title: Option<String>,
    root_only: bool,
}

impl ContentFilter {
    fn parse(
        req: &Request<'_>,
        container: Container,
        path_space: Option<u64>,
    ) -> Result<Self, ApiError> {
        let query = req.query;
        let (allowed, default): (&[&str], &[Status]) = match container {
            Container::Page => (PAGE_STATUSES, LIVE),
            Container::BlogPost => (BLOGPOST_STATUSES, &[Status::Current]),
        };
        let root_only = match (path_space, container, query.first("depth")) {
            (Some(_), Container::Page, Some("root")) => true,
            (Some(_), Container::Page, None | Some("all")) => false,
            (Some(_), Container::Page, Some(_)) => {
                return Err(ApiError::bad_request("depth must be all or root"));
            }
            _ => false,
        };
        let spaces = match path_space {
            Some(space) => vec![space],
            None => query.ids("space-id", 100)?,
        };
        Ok(ContentFilter {
            kind: content_type(container),
            statuses: query.statuses(allowed, default)?,
            spaces,
            ids: if path_space.is_none() {
                query.ids("id", 250)?
            } else {
                Vec::new()
            },
            title: query.first("title").map(str::to_owned),
            root_only,
        })
    }

    fn keeps(&self, site: &SiteData, c: &Content) -> bool {
        c.kind == self.kind
            && c.status != Status::Purged
            && self.statuses.contains(&c.status)
            && (self.spaces.is_empty() || self.spaces.contains(&site.space_of(c).id))
            && (self.ids.is_empty() || self.ids.contains(&c.id))
            && self.title.as_deref().is_none_or(|t| t == site.title(c))
            && (!self.root_only || c.parent == 0)
    }
}

fn contents(
    req: &Request<'_>,
    container: Container,
    path_space: Option<u64>,
) -> Result<ApiOk, ApiError> {
    let (sorts, sort_type) = match container {
        Container::Page => (PAGE_SORTS, "PageSortOrder"),
        Container::BlogPost => (BLOGPOST_SORTS, "BlogPostSortOrder"),
    };
    let paging = Paging::parse(req, sorts, sort_type, Sort::ID)?;
    let format = req.query.body_format(LIST_FORMATS)?;
    let filter = ContentFilter::parse(req, container, path_space)?;
    let (rows, next) = {
        let site = req.site.data.read();
        if let Some(space) = path_space {
            site.space_index(space).ok_or_else(ApiError::not_found)?;
        }
        let key = content_key(&site, paging.sort.field);
        let page = select(
            site.contents.iter().filter(|c| filter.keeps(&site, c)),
            |c| c.id,
            &key,
            paging.sort.desc,
            paging.after(),
            paging.limit,
        );
        let next = paging.next_after(&page, |c| (key(c), c.id));
        let rows: Vec<ContentRow> = page
            .items
            .iter()
            .map(|c| ContentRow::gather(&site, c, format.is_some(), false))
            .collect();
        (rows, next)
    };
    let base = req.base();
    let results = rows
        .iter()
        .map(|row| content_json(row, req.users, format.as_ref(), Shape::Bulk, &base))
        .collect();
    Ok(list_response(req, results, next, paging.limit))
}

fn content(req: &Request<'_>, container: Container, id: u64) -> Result<ApiOk, ApiError> {
    let query = req.query;
    let format = query.body_format(SINGLE_FORMATS)?;
    let allowed: &[&str] = match container {
        Container::Page => &[
            "current",
            "archived",
            "trashed",
            "deleted",
            "historical",
            "draft",
        ],
        Container::BlogPost => &["current", "trashed", "deleted", "historical", "draft"],
    };
    let statuses = query.statuses(allowed, LIVE)?;
    let include_labels = query.flag("include-labels")?;
    let version = match query.first("version") {
        None => None,
        Some(v) => Some(
            v.parse::<u32>()
                .map_err(|_| ApiError::bad_request("version must be an integer"))?,
        ),
    };
    let site = req.site.data.read();
    let c = site
        .content(id)
        .filter(|c| c.kind == content_type(container) && statuses.contains(&c.status))
        .filter(|c| version.is_none_or(|v| v == c.version))
        .ok_or_else(ApiError::not_found)?;
    let row = ContentRow::gather(&site, c, format.is_some(), include_labels);
    drop(site);
    let objects = 1 + row.labels.len() as u64;
    let value = content_json(&row, req.users, format.as_ref(), Shape::Single, &req.base());
    Ok(single_response(&value, objects))
}

fn labels(req: &Request<'_>, container: Container, id: u64) -> Result<ApiOk, ApiError> {
    let paging = Paging::parse(req, LABEL_SORTS, "LabelSortOrder", Sort::ID)?;
    let prefix = req.query.first("prefix");
    if prefix.is_some_and(|p| !["my", "team", "global", "system"].contains(&p)) {
        return Err(ApiError::bad_request(
            "prefix must be my, team, global or system",
        ));
    }
    let site = req.site.data.read();
    let c = site
        .content(id)
        .filter(|c| c.kind == content_type(container) && c.status.is_live())
        .ok_or_else(ApiError::not_found)?;
    let rows = render::label_rows(&site, c);
    drop(site);
    let by_name = paging.sort.field == SortField::Name;
    let page = select(
        rows.iter().filter(|_| prefix.is_none_or(|p| p == "global")),
        |l| l.0,
        |l| label_key(by_name, l),
        paging.sort.desc,
        paging.after(),
        paging.limit,
    );
    let next = paging.next_after(&page, |l| (label_key(by_name, l), l.0));
    let results = page.items.iter().map(|l| label_json(l.0, &l.1)).collect();
    Ok(list_response(req, results, next, paging.limit))
}

// ---- comments --------------------------------------------------------------

fn kind_of(set: CommentSet) -> CommentKind {
    match set {
        CommentSet::Footer => CommentKind::Footer,
        CommentSet::Inline => CommentKind::Inline,
    }
}

const COMMENT_DEFAULT_SORT: Sort = Sort {
    field: SortField::Created,
    desc: false,
};

fn comment_list(
    req: &Request<'_>,
    shape: CommentShape,
    keep: impl Fn(&SiteData, &Comment) -> bool,
    check: impl FnOnce(&SiteData) -> Result<(), ApiError>,
) -> Result<ApiOk, ApiError> {
    let paging = Paging::parse(req, COMMENT_SORTS, "CommentSortOrder", COMMENT_DEFAULT_SORT)?;
    let format = req.query.body_format(LIST_FORMATS)?;
    let (rows, next) = {
        let site = req.site.data.read();
        check(&site)?;
        let key = comment_key(paging.sort.field);
        let page = select(
            site.comments
                .iter()
                .filter(|c| site.comment_is_visible(c) && keep(&site, c)),
            |c| c.id,
            &key,
            paging.sort.desc,
            paging.after(),
            paging.limit,
        );
        let next = paging.next_after(&page, |c| (key(c), c.id));
        let rows: Vec<CommentRow> = page
            .items
            .iter()
            .map(|c| CommentRow::gather(&site, c, format.is_some()))
            .collect();
        (rows, next)
    };
    let base = req.base();
    let results = rows
        .iter()
        .map(|row| comment_json(row, req.users, format.as_ref(), shape, &base))
        .collect();
    Ok(list_response(req, results, next, paging.limit))
}

fn site_comments(req: &Request<'_>, set: CommentSet) -> Result<ApiOk, ApiError> {
    let kind = kind_of(set);
    comment_list(
        req,
        CommentShape::SiteWide,
        |_, c| c.kind == kind,
        |_| Ok(()),
    )
}

fn container_comments(
    req: &Request<'_>,
    container: Container,
    id: u64,
    set: CommentSet,
) -> Result<ApiOk, ApiError> {
    let kind = kind_of(set);
    let statuses = req.query.statuses(COMMENT_STATUSES, &[Status::Current])?;
    let resolutions: Vec<Resolution> = req
        .query
        .values("resolution-status")
        .into_iter()
        .map(|v| {
            Resolution::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "resolution-status must be resolved, open, dangling or reopened",
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if set == CommentSet::Footer && !resolutions.is_empty() {
        return Err(ApiError::bad_request(
            "resolution-status applies to inline comments",
        ));
    }
    let wanted = content_type(container);
    comment_list(
        req,
        CommentShape::OfContainer,
        |_, c| {
            c.kind == kind
                && c.container == id
                && c.parent == 0
                && statuses.contains(&c.status)
                && (resolutions.is_empty() || resolutions.contains(&c.resolution))
        },
        |site| {
            site.content(id)
                .filter(|c| c.kind == wanted && c.status.is_live())
                .map(|_| ())
                .ok_or_else(ApiError::not_found)
        },
    )
}

fn children(req: &Request<'_>, set: CommentSet, id: u64) -> Result<ApiOk, ApiError> {
    let kind = kind_of(set);
    comment_list(
        req,
        CommentShape::Children,
        |_, c| c.kind == kind && c.parent == id,
        |site| {
            site.visible_comment(id)
                .filter(|c| c.kind == kind)
                .map(|_| ())
                .ok_or_else(ApiError::not_found)
        },
    )
}

fn comment(req: &Request<'_>, set: CommentSet, id: u64) -> Result<ApiOk, ApiError> {
    let format = req.query.body_format(SINGLE_FORMATS)?;
    let site = req.site.data.read();
    let c = site
        .visible_comment(id)
        .filter(|c| c.kind == kind_of(set))
        .ok_or_else(ApiError::not_found)?;
    let row = CommentRow::gather(&site, c, format.is_some());
    drop(site);
    let value = comment_json(
        &row,
        req.users,
        format.as_ref(),
        CommentShape::Single,
        &req.base(),
    );
    Ok(single_response(&value, 1))
}
