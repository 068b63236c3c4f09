//! The fixed set of Atlassian routes the client calls: their path templates
//! (under the site's gateway base), their names for the `endpoint` metric
//! label, whether they are v1 (which changes the expired-token quirk) and
//! what an object they return costs.
//!
//! One table serves both directions (building a path, recognising a stored
//! next URL), so the two cannot drift apart. No IO, no ids in names.

/// A route of the Confluence API. The name is a metric label: a template,
/// never a path with ids in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Spaces,
    Pages,
    SpacePages,
    Page,
    BlogPosts,
    SpaceBlogPosts,
    BlogPost,
    FooterComments,
    InlineComments,
    PageFooterComments,
    PageInlineComments,
    BlogPostFooterComments,
    BlogPostInlineComments,
    FooterCommentChildren,
    InlineCommentChildren,
    PageLabels,
    BlogPostLabels,
    User,
    UserBulk,
    UserCurrent,
}

/// Every endpoint, for the reverse lookup.
const ALL: [Endpoint; 20] = [
    Endpoint::Spaces,
    Endpoint::Pages,
    Endpoint::SpacePages,
    Endpoint::Page,
    Endpoint::BlogPosts,
    Endpoint::SpaceBlogPosts,
    Endpoint::BlogPost,
    Endpoint::FooterComments,
    Endpoint::InlineComments,
    Endpoint::PageFooterComments,
    Endpoint::PageInlineComments,
    Endpoint::BlogPostFooterComments,
    Endpoint::BlogPostInlineComments,
    Endpoint::FooterCommentChildren,
    Endpoint::InlineCommentChildren,
    Endpoint::PageLabels,
    Endpoint::BlogPostLabels,
    Endpoint::User,
    Endpoint::UserBulk,
    Endpoint::UserCurrent,
];

/// The placeholder of a template's one path id.
const ID: &str = "{id}";

impl Endpoint {
    /// The label of `confsync_api_requests_total{endpoint}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Spaces => "spaces",
            Endpoint::Pages => "pages",
            Endpoint::SpacePages => "space_pages",
            Endpoint::Page => "page",
            Endpoint::BlogPosts => "blogposts",
            Endpoint::SpaceBlogPosts => "space_blogposts",
            Endpoint::BlogPost => "blogpost",
            Endpoint::FooterComments => "footer_comments",
            Endpoint::InlineComments => "inline_comments",
            Endpoint::PageFooterComments => "page_footer_comments",
            Endpoint::PageInlineComments => "page_inline_comments",
            Endpoint::BlogPostFooterComments => "blogpost_footer_comments",
            Endpoint::BlogPostInlineComments => "blogpost_inline_comments",
            Endpoint::FooterCommentChildren => "footer_comment_children",
            Endpoint::InlineCommentChildren => "inline_comment_children",
            Endpoint::PageLabels => "page_labels",
            Endpoint::BlogPostLabels => "blogpost_labels",
            Endpoint::User => "user",
            Endpoint::UserBulk => "user_bulk",
            Endpoint::UserCurrent => "user_current",
        }
    }

    /// The path below the site's gateway base (`{api}/ex/confluence/{cloud}`).
    fn template(self) -> &'static str {
        match self {
            Endpoint::Spaces => "/wiki/api/v2/spaces",
            Endpoint::Pages => "/wiki/api/v2/pages",
            Endpoint::SpacePages => "/wiki/api/v2/spaces/{id}/pages",
            Endpoint::Page => "/wiki/api/v2/pages/{id}",
            Endpoint::BlogPosts => "/wiki/api/v2/blogposts",
            Endpoint::SpaceBlogPosts => "/wiki/api/v2/spaces/{id}/blogposts",
            Endpoint::BlogPost => "/wiki/api/v2/blogposts/{id}",
            Endpoint::FooterComments => "/wiki/api/v2/footer-comments",
            Endpoint::InlineComments => "/wiki/api/v2/inline-comments",
            Endpoint::PageFooterComments => "/wiki/api/v2/pages/{id}/footer-comments",
            Endpoint::PageInlineComments => "/wiki/api/v2/pages/{id}/inline-comments",
            Endpoint::BlogPostFooterComments => "/wiki/api/v2/blogposts/{id}/footer-comments",
            Endpoint::BlogPostInlineComments => "/wiki/api/v2/blogposts/{id}/inline-comments",
            Endpoint::FooterCommentChildren => "/wiki/api/v2/footer-comments/{id}/children",
            Endpoint::InlineCommentChildren => "/wiki/api/v2/inline-comments/{id}/children",
            Endpoint::PageLabels => "/wiki/api/v2/pages/{id}/labels",
            Endpoint::BlogPostLabels => "/wiki/api/v2/blogposts/{id}/labels",
            Endpoint::User => "/wiki/rest/api/user",
            Endpoint::UserBulk => "/wiki/rest/api/user/bulk",
            Endpoint::UserCurrent => "/wiki/rest/api/user/current",
        }
    }

    /// The path of this endpoint for `id` (ignored by routes without one).
    /// `id` must already be validated as a decimal id (see [`numeric_id`]).
    pub(crate) fn path(self, id: &str) -> String {
        self.template().replace(ID, id)
    }

    /// The endpoint whose template matches `path` (below the site base).
    pub(crate) fn from_path(path: &str) -> Option<Endpoint> {
        ALL.into_iter()
            .find(|e| matches_template(e.template(), path))
    }

    /// v1 routes answer an expired token with 403; v2 routes with 404.
    pub(crate) fn is_v1(self) -> bool {
        matches!(
            self,
            Endpoint::User | Endpoint::UserBulk | Endpoint::UserCurrent
        )
    }

    /// Routes that answer a paged list with next links.
    pub(crate) fn is_listing(self) -> bool {
        !matches!(
            self,
            Endpoint::Page
                | Endpoint::BlogPost
                | Endpoint::User
                | Endpoint::UserBulk
                | Endpoint::UserCurrent
        )
    }

    /// Points per object returned: 2 for users, 1 for everything else.
    pub(crate) fn object_weight(self) -> u64 {
        if self.is_v1() { 2 } else { 1 }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn matches_template(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(ID), Some(segment)) if is_numeric(segment) => {}
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

fn is_numeric(value: &str) -> bool {
    !value.is_empty() && value.len() <= 32 && value.bytes().all(|b| b.is_ascii_digit())
}

/// A content or space id fit for a path segment: Confluence's are decimal
/// strings. Anything else (`..`, `/`, `%2e`) could change the route.
pub(crate) fn numeric_id(value: &str) -> Option<&str> {
    is_numeric(value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_recognised_as_its_own_endpoint() {
        for endpoint in ALL {
            let path = endpoint.path("123");
            assert_eq!(
                Endpoint::from_path(&path),
                Some(endpoint),
                "{path} should be {endpoint}"
            );
            assert!(!path.contains("/wiki/wiki"), "{path}");
        }
    }

    #[test]
    fn ids_must_be_decimal() {
        assert_eq!(numeric_id("98304"), Some("98304"));
        for bad in ["", "..", "1/2", "%2e", "12a", "-1"] {
            assert_eq!(numeric_id(bad), None, "{bad}");
        }
        assert_eq!(Endpoint::from_path("/wiki/api/v2/pages/../labels"), None);
        assert_eq!(Endpoint::from_path("/wiki/wiki/api/v2/pages"), None);
    }
}
