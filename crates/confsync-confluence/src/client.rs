//! The client's public face: [`Confluence`] (one per process: HTTP pool,
//! hooks, metrics, the `Retry-After` gate) and [`SiteClient`] (one site of
//! one grant), with a method per Atlassian route the crawler needs.
//!
//! Methods here only build first requests and pick result types; sending,
//! retrying, refreshing and metering are [`crate::transport`]'s, paging is
//! [`crate::listing`]'s. Nothing here follows a URL that did not pass
//! [`SiteBase`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use confsync_core::content::{
    BlogPost, FooterComment, InlineComment, Label, ListResponse, Page, Space, User,
};
use confsync_core::{AccountId, CloudId, ContentId, SpaceId};
use serde::de::DeserializeOwned;

use crate::auth::TokenSource;
use crate::budget::{PointsBudget, Priority, cost};
use crate::clock::Clock;
use crate::config::ClientConfig;
use crate::endpoint::{Endpoint, numeric_id};
use crate::error::ConfluenceError;
use crate::gate::RateGate;
use crate::listing::Listing;
use crate::metrics::ApiMetrics;
use crate::query::{ItemQuery, ListQuery};
use crate::site::SiteBase;
use crate::transport::{self, Metered};

/// The most account ids v1 `user/bulk` accepts in one request.
pub const USER_BULK_MAX: usize = 200;

/// What every site client of the process shares.
pub(crate) struct Shared {
    pub http: reqwest::Client,
    pub config: ClientConfig,
    pub clock: Arc<dyn Clock>,
    pub budget: Arc<dyn PointsBudget>,
    pub metrics: ApiMetrics,
    pub gate: RateGate,
}

/// The Confluence API client of a process. Cheap to clone.
#[derive(Clone)]
pub struct Confluence {
    shared: Arc<Shared>,
}

impl fmt::Debug for Confluence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Confluence")
            .field("api_url", &self.shared.config.api_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Confluence {
    /// Builds the HTTP client (no redirects: a token must never follow one)
    /// and validates `config`.
    pub fn new(
        config: ClientConfig,
        metrics: ApiMetrics,
        clock: Arc<dyn Clock>,
        budget: Arc<dyn PointsBudget>,
    ) -> Result<Confluence, ConfluenceError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("confsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfluenceError::Config(format!("http client: {e}")))?;
        Ok(Confluence {
            shared: Arc::new(Shared {
                http,
                config,
                clock,
                budget,
                metrics,
                gate: RateGate::default(),
            }),
        })
    }

    /// A client for one site, authenticated by its grant's token source.
    /// Requests default to [`Priority::Full`].
    pub fn site(
        &self,
        cloud_id: CloudId,
        tokens: Arc<dyn TokenSource>,
    ) -> Result<SiteClient, ConfluenceError> {
        let base = SiteBase::new(&self.shared.config.api_url, &cloud_id)?;
        Ok(SiteClient {
            shared: Arc::clone(&self.shared),
            site: Arc::new(Site {
                cloud_id,
                base,
                tokens,
            }),
            priority: Priority::Full,
        })
    }
}

pub(crate) struct Site {
    pub cloud_id: CloudId,
    pub base: SiteBase,
    pub tokens: Arc<dyn TokenSource>,
}

/// The client of one Confluence site. Cheap to clone; clones share the
/// token source and the process's gate and budget.
#[derive(Clone)]
pub struct SiteClient {
    pub(crate) shared: Arc<Shared>,
    pub(crate) site: Arc<Site>,
    pub(crate) priority: Priority,
}

impl fmt::Debug for SiteClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteClient")
            .field("cloud_id", &self.site.cloud_id)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl SiteClient {
    pub fn cloud_id(&self) -> &CloudId {
        &self.site.cloud_id
    }

    /// The same client, reserving points at `priority`.
    #[must_use]
    pub fn with_priority(&self, priority: Priority) -> SiteClient {
        SiteClient {
            priority,
            ..self.clone()
        }
    }

    pub fn priority(&self) -> Priority {
        self.priority
    }

    // ---- listings ----------------------------------------------------------

    /// `GET /spaces`.
    pub fn spaces(&self, query: ListQuery) -> Listing<Space> {
        self.listing(Endpoint::Spaces, "", query)
    }

    /// `GET /pages`, site-wide (filter spaces with [`ListQuery::space_id`]).
    pub fn pages(&self, query: ListQuery) -> Listing<Page> {
        self.listing(Endpoint::Pages, "", query)
    }

    /// `GET /spaces/{id}/pages`.
    pub fn space_pages(
        &self,
        space: &SpaceId,
        query: ListQuery,
    ) -> Result<Listing<Page>, ConfluenceError> {
        let id = path_id(space.as_str(), "space")?;
        Ok(self.listing(Endpoint::SpacePages, id, query))
    }

    /// `GET /blogposts`, site-wide.
    pub fn blog_posts(&self, query: ListQuery) -> Listing<BlogPost> {
        self.listing(Endpoint::BlogPosts, "", query)
    }

    /// `GET /spaces/{id}/blogposts`.
    pub fn space_blog_posts(
        &self,
        space: &SpaceId,
        query: ListQuery,
    ) -> Result<Listing<BlogPost>, ConfluenceError> {
        let id = path_id(space.as_str(), "space")?;
        Ok(self.listing(Endpoint::SpaceBlogPosts, id, query))
    }

    /// `GET /footer-comments`, site-wide (replies included, some naming only
    /// their parent comment).
    pub fn footer_comments(&self, query: ListQuery) -> Listing<FooterComment> {
        self.listing(Endpoint::FooterComments, "", query)
    }

    /// `GET /inline-comments`, site-wide.
    pub fn inline_comments(&self, query: ListQuery) -> Listing<InlineComment> {
        self.listing(Endpoint::InlineComments, "", query)
    }

    /// `GET /pages/{id}/footer-comments` (top-level comments).
    pub fn page_footer_comments(
        &self,
        page: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<FooterComment>, ConfluenceError> {
        self.content_listing(Endpoint::PageFooterComments, page, query)
    }

    /// `GET /pages/{id}/inline-comments` (top-level comments).
    pub fn page_inline_comments(
        &self,
        page: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<InlineComment>, ConfluenceError> {
        self.content_listing(Endpoint::PageInlineComments, page, query)
    }

    /// `GET /blogposts/{id}/footer-comments`.
    pub fn blog_post_footer_comments(
        &self,
        post: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<FooterComment>, ConfluenceError> {
        self.content_listing(Endpoint::BlogPostFooterComments, post, query)
    }

    /// `GET /blogposts/{id}/inline-comments`.
    pub fn blog_post_inline_comments(
        &self,
        post: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<InlineComment>, ConfluenceError> {
        self.content_listing(Endpoint::BlogPostInlineComments, post, query)
    }

    /// `GET /footer-comments/{id}/children`: the replies to a comment.
    pub fn footer_comment_replies(
        &self,
        comment: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<FooterComment>, ConfluenceError> {
        self.content_listing(Endpoint::FooterCommentChildren, comment, query)
    }

    /// `GET /inline-comments/{id}/children`.
    pub fn inline_comment_replies(
        &self,
        comment: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<InlineComment>, ConfluenceError> {
        self.content_listing(Endpoint::InlineCommentChildren, comment, query)
    }

    /// `GET /pages/{id}/labels`.
    pub fn page_labels(
        &self,
        page: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<Label>, ConfluenceError> {
        self.content_listing(Endpoint::PageLabels, page, query)
    }

    /// `GET /blogposts/{id}/labels`.
    pub fn blog_post_labels(
        &self,
        post: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<Label>, ConfluenceError> {
        self.content_listing(Endpoint::BlogPostLabels, post, query)
    }

    /// Continues a listing from a checkpointed [`crate::NextUrl`] string.
    /// The URL must belong to this site's API base and be a listing route,
    /// else it is refused without any request.
    pub fn resume<T: DeserializeOwned + Send + 'static>(
        &self,
        stored_next_url: &str,
    ) -> Result<Listing<T>, ConfluenceError> {
        let next = self.site.base.resolve(stored_next_url)?;
        let endpoint = Endpoint::from_path(self.site.base.route_path(next.url()))
            .filter(|e| e.is_listing())
            .ok_or_else(|| ConfluenceError::InvalidLink("not a listing route".into()))?;
        Ok(Listing::resume(self.clone(), endpoint, next))
    }

    // ---- single items ------------------------------------------------------

    /// `GET /pages/{id}`. A 404 well before the token's expiry is
    /// [`ConfluenceError::NotFound`]: purged, or not visible to the user.
    pub async fn page(&self, id: &ContentId, query: &ItemQuery) -> Result<Page, ConfluenceError> {
        self.item(Endpoint::Page, id, query).await
    }

    /// `GET /blogposts/{id}`.
    pub async fn blog_post(
        &self,
        id: &ContentId,
        query: &ItemQuery,
    ) -> Result<BlogPost, ConfluenceError> {
        self.item(Endpoint::BlogPost, id, query).await
    }

    // ---- users (v1) --------------------------------------------------------

    /// v1 `GET /user/bulk` for any number of account ids: deduplicated and
    /// sent in chunks of [`USER_BULK_MAX`]. Unknown accounts are left out.
    pub async fn users(&self, ids: &[AccountId]) -> Result<Vec<User>, ConfluenceError> {
        let mut seen = HashSet::new();
        let unique: Vec<&AccountId> = ids.iter().filter(|id| seen.insert(*id)).collect();
        let mut users = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(USER_BULK_MAX) {
            let mut pairs: Vec<(&str, String)> = chunk
                .iter()
                .map(|id| ("accountId", id.to_string()))
                .collect();
            pairs.push(("limit", chunk.len().to_string()));
            let page: ListResponse<User> = self
                .get(Endpoint::UserBulk, "", &pairs, chunk.len() as u64)
                .await?;
            users.extend(page.results);
        }
        Ok(users)
    }

    /// v1 `GET /user?accountId=`; `None` when Atlassian does not know the
    /// account.
    pub async fn user(&self, id: &AccountId) -> Result<Option<User>, ConfluenceError> {
        let pairs = [("accountId", id.to_string())];
        match self.get(Endpoint::User, "", &pairs, 1).await {
            Ok(user) => Ok(Some(user)),
            Err(ConfluenceError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// v1 `GET /user/current`: the account behind the grant.
    pub async fn current_user(&self) -> Result<User, ConfluenceError> {
        self.get(Endpoint::UserCurrent, "", &[], 1).await
    }

    // ---- plumbing ----------------------------------------------------------

    fn listing<T>(&self, endpoint: Endpoint, id: &str, query: ListQuery) -> Listing<T> {
        Listing::first(self.clone(), endpoint, endpoint.path(id), query)
    }

    fn content_listing<T>(
        &self,
        endpoint: Endpoint,
        id: &ContentId,
        query: ListQuery,
    ) -> Result<Listing<T>, ConfluenceError> {
        let id = path_id(id.as_str(), "content")?;
        Ok(self.listing(endpoint, id, query))
    }

    async fn item<T: Metered>(
        &self,
        endpoint: Endpoint,
        id: &ContentId,
        query: &ItemQuery,
    ) -> Result<T, ConfluenceError> {
        let id = path_id(id.as_str(), "content")?;
        self.get(endpoint, id, &query.pairs(), 1).await
    }

    /// One request whose answer holds at most `max_objects` objects.
    async fn get<T: Metered>(
        &self,
        endpoint: Endpoint,
        id: &str,
        pairs: &[(&str, String)],
        max_objects: u64,
    ) -> Result<T, ConfluenceError> {
        let url = self.site.base.url(&endpoint.path(id), pairs)?;
        let worst_case = cost(max_objects, endpoint.object_weight());
        transport::fetch(self, endpoint, &url, worst_case)
            .await
            .map(|fetched| fetched.value)
    }
}

fn path_id<'a>(value: &'a str, kind: &'static str) -> Result<&'a str, ConfluenceError> {
    numeric_id(value).ok_or(ConfluenceError::InvalidId { kind })
}
