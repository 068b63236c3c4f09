//! A site's API base (`{api_url}/ex/confluence/{cloud_id}`) and the one
//! place where URLs are joined to it or checked against it.
//!
//! Next links are relative to the SITE and already start with `/wiki`, so
//! they are appended to the base (which has no `/wiki`) verbatim: never
//! `/wiki/wiki`, never a rebuilt query. Any URL about to carry the token,
//! including a checkpointed one, must pass [`SiteBase::resolve`]: same
//! scheme, host and port as the API, and under this site's `/wiki/`.

use std::fmt;

use confsync_core::CloudId;
use url::Url;

use crate::error::ConfluenceError;

/// An absolute URL of the next page of a listing, checked to belong to the
/// site's API base. What a crawler checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextUrl(Url);

impl NextUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn url(&self) -> &Url {
        &self.0
    }

    /// The chain's `limit`, when the link carries one.
    pub(crate) fn limit(&self) -> Option<u32> {
        self.0
            .query_pairs()
            .find(|(k, _)| k == "limit")
            .and_then(|(_, v)| v.parse().ok())
    }
}

impl fmt::Display for NextUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// `{api_url}/ex/confluence/{cloud_id}` of one site.
#[derive(Debug, Clone)]
pub(crate) struct SiteBase {
    /// The base as a string, without a trailing slash.
    base: String,
    api: Url,
    /// The path every URL of the site starts with: `…/ex/confluence/{cloud}/wiki/`.
    wiki_prefix: String,
    /// The length of the base's path, to cut the route path out of a URL.
    base_path_len: usize,
}

impl SiteBase {
    pub(crate) fn new(api_url: &Url, cloud_id: &CloudId) -> Result<SiteBase, ConfluenceError> {
        if api_url.cannot_be_a_base() || api_url.host_str().is_none() {
            return Err(ConfluenceError::Config(
                "the atlassian api url must be an absolute http(s) url".into(),
            ));
        }
        let api_path = api_url.path().trim_end_matches('/');
        let base_path = format!("{api_path}/ex/confluence/{cloud_id}");
        let wiki_prefix = format!("{base_path}/wiki/");
        let mut probe = api_url.clone();
        probe.set_path(&wiki_prefix);
        // A cloud id such as `..` would be normalised away by the URL parser
        // and point the base elsewhere; refuse it rather than follow it.
        if probe.path() != wiki_prefix {
            return Err(ConfluenceError::Config(format!(
                "cloud id {cloud_id} does not make a clean api path"
            )));
        }
        probe.set_path(&base_path);
        probe.set_query(None);
        probe.set_fragment(None);
        Ok(SiteBase {
            base: probe.as_str().trim_end_matches('/').to_owned(),
            api: api_url.clone(),
            base_path_len: base_path.len(),
            wiki_prefix,
        })
    }

    /// The URL of a first request: `path` (starting with `/wiki/`) and query.
    pub(crate) fn url(&self, path: &str, pairs: &[(&str, String)]) -> Result<Url, ConfluenceError> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| ConfluenceError::InvalidLink(format!("cannot build a url: {e}")))?;
        if !pairs.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.check(url)
    }

    /// Resolves a next link (`/wiki/...`, relative to the site) or a stored
    /// absolute URL, and checks it belongs to this site's API base.
    pub(crate) fn resolve(&self, link: &str) -> Result<NextUrl, ConfluenceError> {
        if link.is_empty() || link.len() > 16 * 1024 || link.chars().any(char::is_control) {
            return Err(ConfluenceError::InvalidLink(
                "empty, huge or with control characters".into(),
            ));
        }
        let url = if link.starts_with("/wiki/") {
            Url::parse(&format!("{}{link}", self.base))
        } else {
            Url::parse(link)
        }
        .map_err(|_| {
            ConfluenceError::InvalidLink("neither a /wiki/ path nor an absolute url".into())
        })?;
        self.check(url).map(NextUrl)
    }

    /// The route path of a URL of this site (`/wiki/api/v2/pages`).
    pub(crate) fn route_path<'a>(&self, url: &'a Url) -> &'a str {
        url.path().get(self.base_path_len..).unwrap_or_default()
    }

    fn check(&self, url: Url) -> Result<Url, ConfluenceError> {
        let same_origin = url.scheme() == self.api.scheme()
            && url.host_str() == self.api.host_str()
            && url.port_or_known_default() == self.api.port_or_known_default();
        if !same_origin || !url.username().is_empty() || url.password().is_some() {
            return Err(ConfluenceError::ForeignUrl);
        }
        if !url.path().starts_with(&self.wiki_prefix) || url.fragment().is_some() {
            return Err(ConfluenceError::ForeignUrl);
        }
        if url.path().contains("/wiki/wiki") {
            return Err(ConfluenceError::InvalidLink(
                "the path repeats /wiki".into(),
            ));
        }
        Ok(url)
    }
}

/// The target of `rel="next"` in a `Link` header
/// (`<…>; rel="next", <…>; rel="base"`).
pub(crate) fn next_from_link_header(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after_open = &rest[open + 1..];
        let close = after_open.find('>')?;
        let target = &after_open[..close];
        let params_end = after_open[close + 1..]
            .find('<')
            .map_or(after_open.len(), |i| close + 1 + i);
        let params = &after_open[close + 1..params_end];
        if is_rel_next(params) {
            return Some(target.to_owned());
        }
        rest = &after_open[params_end..];
    }
    None
}

fn is_rel_next(params: &str) -> bool {
    params.split(';').any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn base() -> SiteBase {
        SiteBase::new(
            &Url::parse("https://api.atlassian.com").unwrap(),
            &CloudId::parse("c-1").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn relative_next_links_join_without_repeating_wiki() {
        let next = base()
            .resolve("/wiki/api/v2/pages?cursor=abc%3D&limit=250&sort=-modified-date")
            .unwrap();
        assert_eq!(
            next.as_str(),
            "https://api.atlassian.com/ex/confluence/c-1/wiki/api/v2/pages?cursor=abc%3D&limit=250&sort=-modified-date"
        );
        assert_eq!(next.limit(), Some(250));
        assert_eq!(base().route_path(next.url()), "/wiki/api/v2/pages");
    }

    #[test]
    fn api_urls_with_a_trailing_slash_or_a_path_work() {
        let cloud = CloudId::parse("c-1").unwrap();
        let slash = SiteBase::new(&Url::parse("http://127.0.0.1:9/").unwrap(), &cloud).unwrap();
        assert_eq!(
            slash.resolve("/wiki/api/v2/spaces").unwrap().as_str(),
            "http://127.0.0.1:9/ex/confluence/c-1/wiki/api/v2/spaces"
        );
        let proxied =
            SiteBase::new(&Url::parse("https://proxy.example/atl/").unwrap(), &cloud).unwrap();
        let url = proxied
            .url("/wiki/api/v2/pages", &[("limit", "5".into())])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://proxy.example/atl/ex/confluence/c-1/wiki/api/v2/pages?limit=5"
        );
        assert_eq!(proxied.route_path(&url), "/wiki/api/v2/pages");
    }

    #[test]
    fn other_hosts_sites_and_tricks_are_refused() {
        let site = base();
        for foreign in [
            "https://evil.example/ex/confluence/c-1/wiki/api/v2/pages",
            "http://api.atlassian.com/ex/confluence/c-1/wiki/api/v2/pages",
            "https://api.atlassian.com:8443/ex/confluence/c-1/wiki/api/v2/pages",
            "https://api.atlassian.com/ex/confluence/c-2/wiki/api/v2/pages",
            "https://user@api.atlassian.com/ex/confluence/c-1/wiki/api/v2/pages",
            "/wiki/../../c-2/wiki/api/v2/pages",
            "/wiki/%2e%2e/%2e%2e/c-2/wiki/api/v2/pages",
            "https://c-1.atlassian.net/wiki/api/v2/pages",
        ] {
            assert!(
                matches!(site.resolve(foreign), Err(ConfluenceError::ForeignUrl)),
                "{foreign} must be refused as foreign"
            );
        }
        for invalid in [
            "//evil.example/wiki/api/v2/pages",
            "api/v2/pages",
            "",
            "/wiki/x\n",
        ] {
            assert!(
                matches!(site.resolve(invalid), Err(ConfluenceError::InvalidLink(_))),
                "{invalid:?} must be refused as invalid"
            );
        }
        assert!(matches!(
            site.resolve("/wiki/wiki/api/v2/pages"),
            Err(ConfluenceError::InvalidLink(_))
        ));
    }

    #[test]
    fn hostile_cloud_ids_are_refused() {
        let api = Url::parse("https://api.atlassian.com").unwrap();
        assert!(SiteBase::new(&api, &CloudId::parse("..").unwrap()).is_err());
    }

    #[test]
    fn link_headers_yield_the_next_target() {
        assert_eq!(
            next_from_link_header(
                "</wiki/api/v2/pages?cursor=a,b&limit=2>; rel=\"next\", <https://x.atlassian.net/wiki>; rel=\"base\""
            )
            .as_deref(),
            Some("/wiki/api/v2/pages?cursor=a,b&limit=2")
        );
        assert_eq!(
            next_from_link_header(
                "<https://x.atlassian.net/wiki>; rel=\"base\", </wiki/n>; rel=next"
            )
            .as_deref(),
            Some("/wiki/n")
        );
        assert_eq!(
            next_from_link_header("<https://x/wiki>; rel=\"base\""),
            None
        );
        assert_eq!(next_from_link_header("garbage <unclosed"), None);
    }
}
