//! Resumable paging: a [`Listing`] fetches one page of results at a time,
//! follows Atlassian's next link verbatim, and exposes where the next page
//! will be read from, so a crawler can checkpoint it after each pushed batch
//! and resume in another process with [`crate::SiteClient::resume`].
//!
//! The query is built only for the first request. After that, nothing is
//! rebuilt: not the cursor, not the order of parameters, not the `limit`.
//! The one exception is documented on [`Listing::next_page`]: a 504 on the
//! FIRST page may start a NEW chain with a smaller limit; never mid-chain.

use std::marker::PhantomData;

use confsync_core::content::ListResponse;
use serde::de::DeserializeOwned;

use crate::budget::cost;
use crate::client::SiteClient;
use crate::endpoint::Endpoint;
use crate::error::ConfluenceError;
use crate::events;
use crate::query::{Limit, ListQuery};
use crate::site::NextUrl;
use crate::transport;

/// Where the next page comes from.
#[derive(Debug, Clone)]
enum Position {
    /// Nothing read yet: the first request is built from the query.
    First { path: String, query: ListQuery },
    /// A next link, resolved against the site's base and checked.
    Next(NextUrl),
    /// The last page was read.
    Done,
}

/// A paged listing of `T`. Reads nothing until [`Listing::next_page`].
#[derive(Debug)]
pub struct Listing<T> {
    client: SiteClient,
    endpoint: Endpoint,
    position: Position,
    /// The first page already fell back to a smaller limit once.
    fell_back: bool,
    items: PhantomData<fn() -> T>,
}

impl<T> Listing<T> {
    pub(crate) fn first(
        client: SiteClient,
        endpoint: Endpoint,
        path: String,
        query: ListQuery,
    ) -> Self {
        Listing {
            client,
            endpoint,
            position: Position::First { path, query },
            fell_back: false,
            items: PhantomData,
        }
    }

    pub(crate) fn resume(client: SiteClient, endpoint: Endpoint, next: NextUrl) -> Self {
        Listing {
            client,
            endpoint,
            position: Position::Next(next),
            fell_back: false,
            items: PhantomData,
        }
    }

    /// The URL the next page will be read from: checkpoint it after the
    /// current page's items are safely handled. `None` before the first page
    /// (restart from the query) and after the last one.
    pub fn next_url(&self) -> Option<&NextUrl> {
        match &self.position {
            Position::Next(next) => Some(next),
            Position::First { .. } | Position::Done => None,
        }
    }

    /// The last page was read.
    pub fn is_done(&self) -> bool {
        matches!(self.position, Position::Done)
    }

    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }
}

impl<T: DeserializeOwned + Send + 'static> Listing<T> {
    /// Fetches the next page, or `None` once the listing is exhausted. On an
    /// error the position does not move, so calling again retries the same
    /// page.
    ///
    /// A first page that still fails with 504 after its retries, at a limit
    /// above the configured fallback, is asked again once with the fallback
    /// limit: a NEW cursor chain, which is safe because nothing was read yet.
    /// Later pages never change their limit (a cursor is bound to it).
    pub async fn next_page(&mut self) -> Result<Option<ListResponse<T>>, ConfluenceError> {
        loop {
            let (url, limit) = match &self.position {
                Position::Done => return Ok(None),
                Position::First { path, query } => (
                    self.client.site.base.url(path, &query.pairs())?,
                    query.limit.get(),
                ),
                // A link without `limit` gets Atlassian's default (25); the
                // maximum is reserved so the worst case stays an upper bound.
                Position::Next(next) => {
                    (next.url().clone(), next.limit().unwrap_or(Limit::MAX.get()))
                }
            };
            let worst_case = cost(u64::from(limit), self.endpoint.object_weight());
            let result =
                transport::fetch::<ListResponse<T>>(&self.client, self.endpoint, &url, worst_case)
                    .await;
            match result {
                Ok(fetched) => {
                    let link = fetched.value.links.next.clone().or(fetched.link_next);
                    self.advance(link.as_deref(), url.as_str())?;
                    return Ok(Some(fetched.value));
                }
                Err(error) if error.is_gateway_timeout() && self.fall_back() => continue,
                Err(error) => return Err(error),
            }
        }
    }

    /// Moves to the page `link` names (body `_links.next`, else the `Link`
    /// header), or to the end.
    fn advance(&mut self, link: Option<&str>, current: &str) -> Result<(), ConfluenceError> {
        let Some(link) = link else {
            self.position = Position::Done;
            return Ok(());
        };
        let base = &self.client.site.base;
        let next = base.resolve(link)?;
        if Endpoint::from_path(base.route_path(next.url())) != Some(self.endpoint) {
            return Err(ConfluenceError::InvalidLink(format!(
                "the next link of {} leaves its route",
                self.endpoint
            )));
        }
        if next.as_str() == current {
            return Err(ConfluenceError::Protocol {
                endpoint: self.endpoint,
                detail: "the next link repeats the current page".into(),
            });
        }
        self.position = Position::Next(next);
        Ok(())
    }

    /// Switches an unread listing to the fallback limit; false when that is
    /// not allowed (mid-chain, already done, or the limit is small already).
    fn fall_back(&mut self) -> bool {
        let fallback = self.client.shared.config.gateway_timeout_fallback_limit;
        let Position::First { query, .. } = &mut self.position else {
            return false;
        };
        if self.fell_back || query.limit <= fallback {
            return false;
        }
        events::page_size_fallback(
            &self.client.site.cloud_id,
            self.endpoint,
            query.limit.get(),
            fallback.get(),
        );
        query.limit = fallback;
        self.fell_back = true;
        true
    }
}
