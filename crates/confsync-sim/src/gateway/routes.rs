//! Maps gateway paths (`/ex/confluence/{cloud_id}/wiki/...`) to endpoints,
//! with the OAuth scope each one needs.
//!
//! Pure string parsing: ids must be positive integers, unknown paths are
//! reported, nothing panics on odd input.

/// The scope each endpoint family requires (ATLASSIAN-FACTS.md section 2).
pub(crate) const SCOPE_SPACE: &str = "read:space:confluence";
pub(crate) const SCOPE_PAGE: &str = "read:page:confluence";
pub(crate) const SCOPE_COMMENT: &str = "read:comment:confluence";
pub(crate) const SCOPE_USER: &str = "read:confluence-user";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Page,
    BlogPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommentSet {
    Footer,
    Inline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Spaces,
    Space(u64),
    SpaceContents(u64, Container),
    Contents(Container),
    Content(Container, u64),
    ContentComments(Container, u64, CommentSet),
    ContentLabels(Container, u64),
    Comments(CommentSet),
    Comment(CommentSet, u64),
    CommentChildren(CommentSet, u64),
    V1User,
    V1UserBulk,
    V1UserCurrent,
}

impl Endpoint {
    pub(crate) fn scope(self) -> &'static str {
        match self {
            Endpoint::Spaces | Endpoint::Space(_) => SCOPE_SPACE,
            Endpoint::SpaceContents(..)
            | Endpoint::Contents(_)
            | Endpoint::Content(..)
            | Endpoint::ContentLabels(..) => SCOPE_PAGE,
            Endpoint::ContentComments(..)
            | Endpoint::Comments(_)
            | Endpoint::Comment(..)
            | Endpoint::CommentChildren(..) => SCOPE_COMMENT,
            Endpoint::V1User | Endpoint::V1UserBulk | Endpoint::V1UserCurrent => SCOPE_USER,
        }
    }

    pub(crate) fn is_v1(self) -> bool {
        matches!(
            self,
            Endpoint::V1User | Endpoint::V1UserBulk | Endpoint::V1UserCurrent
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub cloud_id: String,
    /// The path after `/wiki` (e.g. `/api/v2/pages`), for `next` links.
    pub api_path: String,
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// Not under `/ex/confluence/{cloud_id}/wiki`.
    NotGateway,
    /// Under a site, but no such endpoint. Carries the cloud id and whether
    /// the path was a v1 path.
    UnknownEndpoint { cloud_id: String, v1: bool },
    /// A path id that is not a positive integer.
    BadId { cloud_id: String, value: String },
}

pub(crate) fn parse(path: &str) -> Result<Route, RouteError> {
    let rest = path
        .strip_prefix("/ex/confluence/")
        .ok_or(RouteError::NotGateway)?;
    let (cloud_id, rest) = rest.split_once('/').ok_or(RouteError::NotGateway)?;
    if cloud_id.is_empty() {
        return Err(RouteError::NotGateway);
    }
    let cloud_id = cloud_id.to_owned();
    let api_path = rest
        .strip_prefix("wiki")
        .filter(|p| p.starts_with('/'))
        .ok_or(RouteError::NotGateway)?;
    let api_path = api_path.strip_suffix('/').unwrap_or(api_path);
    let segments: Vec<&str> = api_path.split('/').skip(1).collect();
    let unknown = |v1| RouteError::UnknownEndpoint {
        cloud_id: cloud_id.clone(),
        v1,
    };
    let endpoint = match segments.as_slice() {
        ["api", "v2", tail @ ..] => v2(tail, &cloud_id)?.ok_or_else(|| unknown(false))?,
        ["rest", "api", "user"] => Endpoint::V1User,
        ["rest", "api", "user", "bulk"] => Endpoint::V1UserBulk,
        ["rest", "api", "user", "current"] => Endpoint::V1UserCurrent,
        ["rest", ..] => return Err(unknown(true)),
        _ => return Err(unknown(false)),
    };
    Ok(Route {
        api_path: api_path.to_owned(),
        cloud_id,
        endpoint,
    })
}

fn id(value: &str, cloud_id: &str) -> Result<u64, RouteError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| RouteError::BadId {
            cloud_id: cloud_id.to_owned(),
            value: value.chars().take(64).collect(),
        })
}

fn container(segment: &str) -> Option<Container> {
    match segment {
        "pages" => Some(Container::Page),
        "blogposts" => Some(Container::BlogPost),
        _ => None,
    }
}

fn comment_set(segment: &str) -> Option<CommentSet> {
    match segment {
        "footer-comments" => Some(CommentSet::Footer),
        "inline-comments" => Some(CommentSet::Inline),
        _ => None,
    }
}

fn v2(tail: &[&str], cloud: &str) -> Result<Option<Endpoint>, RouteError> {
    Ok(match tail {
        ["spaces"] => Some(Endpoint::Spaces),
        ["spaces", space] => Some(Endpoint::Space(id(space, cloud)?)),
        ["spaces", space, kind] => match container(kind) {
            Some(c) => Some(Endpoint::SpaceContents(id(space, cloud)?, c)),
            None => None,
        },
        [kind] => container(kind)
            .map(Endpoint::Contents)
            .or_else(|| comment_set(kind).map(Endpoint::Comments)),
        [kind, item] => match (container(kind), comment_set(kind)) {
            (Some(c), _) => Some(Endpoint::Content(c, id(item, cloud)?)),
            (_, Some(s)) => Some(Endpoint::Comment(s, id(item, cloud)?)),
            _ => None,
        },
        [kind, item, sub] => match (container(kind), comment_set(kind), *sub) {
            (Some(c), _, "labels") => Some(Endpoint::ContentLabels(c, id(item, cloud)?)),
            (Some(c), _, sub) => match comment_set(sub) {
                Some(s) => Some(Endpoint::ContentComments(c, id(item, cloud)?, s)),
                None => None,
            },
            (_, Some(s), "children") => Some(Endpoint::CommentChildren(s, id(item, cloud)?)),
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(path: &str) -> Result<Endpoint, RouteError> {
        parse(path).map(|r| r.endpoint)
    }

    #[test]
    fn known_paths_map_to_endpoints() {
        let base = "/ex/confluence/abc/wiki";
        assert_eq!(
            endpoint(&format!("{base}/api/v2/pages")),
            Ok(Endpoint::Contents(Container::Page))
        );
        assert_eq!(
            endpoint(&format!("{base}/api/v2/spaces/7/pages/")),
            Ok(Endpoint::SpaceContents(7, Container::Page))
        );
        assert_eq!(
            endpoint(&format!("{base}/api/v2/blogposts/9/inline-comments")),
            Ok(Endpoint::ContentComments(
                Container::BlogPost,
                9,
                CommentSet::Inline
            ))
        );
        assert_eq!(
            endpoint(&format!("{base}/api/v2/footer-comments/3/children")),
            Ok(Endpoint::CommentChildren(CommentSet::Footer, 3))
        );
        assert_eq!(
            endpoint(&format!("{base}/rest/api/user/bulk")),
            Ok(Endpoint::V1UserBulk)
        );
        assert_eq!(
            parse(&format!("{base}/api/v2/pages")).unwrap().api_path,
            "/api/v2/pages"
        );
    }

    #[test]
    fn odd_paths_are_reported() {
        assert_eq!(endpoint("/wiki/api/v2/pages"), Err(RouteError::NotGateway));
        assert_eq!(
            endpoint("/ex/confluence//wiki/api/v2/pages"),
            Err(RouteError::NotGateway)
        );
        assert!(matches!(
            endpoint("/ex/confluence/abc/wiki/wiki/api/v2/pages"),
            Err(RouteError::UnknownEndpoint { .. })
        ));
        assert!(matches!(
            endpoint("/ex/confluence/abc/wiki/api/v2/pages/abc"),
            Err(RouteError::BadId { .. })
        ));
        assert!(matches!(
            endpoint("/ex/confluence/abc/wiki/api/v2/pages/0"),
            Err(RouteError::BadId { .. })
        ));
    }
}
