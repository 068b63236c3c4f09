//! One job's crawl of one site: the context every stage shares (the site's
//! client, its spaces, the sink, counters, the cancellation token) and the
//! pipeline one listing page of items goes through:
//!
//! 1. known lookup: one `HMGET` for the page's ids;
//! 2. triage: non-indexable items become deletes, unchanged `(id, version)`
//!    are skipped (incremental) or marked (reconcile);
//! 3. for the rest: display names (authors, mentions; one `user/bulk` for
//!    the unknown ones), placement ([`Lineage`]), labels (one request per
//!    page or blog post, when `sync.fetch_labels`), conversion to Markdown
//!    on the blocking pool, and the document;
//! 4. a document whose version and hash equal the known entry's is only
//!    marked; others go to the [`Sink`]. Items that cannot be placed exactly
//!    yet are set aside until the end of their stream.
//!
//! Nothing here decides which listings to read or when to checkpoint: that
//! is [`super::full`] and [`super::incremental`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use confsync_confluence::{Limit, ListQuery, Listing, SiteClient};
use confsync_core::build::{BuildContext, ParentMap};
use confsync_core::content::{BlogPost, FooterComment, InlineComment, Label, Page};
use confsync_core::document::{Document, SiteRef, SpaceRef};
use confsync_core::jobs::SyncMode;
use confsync_core::{ContentId, ContentKind, SpaceId, TenantId};
use confsync_store::SiteKey;
use confsync_store::directory::SpaceEntry;
use confsync_store::known::{Container, KnownEntry};
use confsync_store::sites::CrawlCounters;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use super::item::{Item, references};
use super::lineage::{EntryCache, Lineage, Placement};
use super::names::NameMap;
use super::sink::Sink;
use super::{CrawlError, Crawler};
use crate::events;

/// Label requests one job keeps in flight (each reserves its worst case
/// from the budget until it is answered).
const LABEL_CONCURRENCY: usize = 4;

/// Labels per request: items rarely have more, and the budget reserves the
/// worst case (1 + limit points) before each request is sent.
const LABELS_LIMIT: Limit = match Limit::new(10) {
    Some(limit) => limit,
    // Evaluated at compile time: 10 is within 1..=250.
    None => panic!("the labels limit must be within 1..=250"),
};

/// A progress line every this many items.
const PROGRESS_EVERY: u64 = 5_000;

/// What a listing page's items are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Build every item; push those whose document changed.
    Full,
    /// Build items whose `(id, version)` is not known.
    Incremental,
    /// Ids only: mark the known items seen.
    Reconcile,
}

/// The site a session crawls.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub tenant: TenantId,
    /// The grant and the site (`key.grant`, `key.cloud`): the scope of the
    /// crawl state, known map, deferred items and dead letters.
    pub key: SiteKey,
    pub site: SiteRef,
    /// The site's web base (`https://x.atlassian.net/wiki`) for document URLs.
    pub web_base: String,
}

/// One job's crawl of one site.
pub(crate) struct Session<'a> {
    pub(crate) crawler: &'a Crawler,
    pub(crate) client: SiteClient,
    pub(crate) target: Target,
    pub(crate) mode: SyncMode,
    /// The epoch known entries are written with (mark-and-sweep).
    pub(crate) epoch: u64,
    pub(crate) sink: Sink,
    pub(crate) cancel: CancellationToken,
    /// Items seen, skipped and points spent (pushes are the sink's).
    pub(crate) counters: CrawlCounters,
    spaces: HashMap<String, SpaceRef>,
    spaces_listed: bool,
    cache: EntryCache,
    next_progress: u64,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("site", &self.target.key.cloud)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The Markdown converter's and the document builder's lookups for a batch.
struct Lookups {
    names: NameMap,
    titles: HashMap<String, String>,
}

impl confsync_markdown::Lookup for Lookups {
    fn user_display_name(&self, account_id: &str) -> Option<String> {
        self.names.get(account_id).cloned().flatten()
    }

    fn page_title(&self, content_id: &str) -> Option<String> {
        self.titles.get(content_id).cloned()
    }
}

impl confsync_core::build::UserNames for Lookups {
    fn display_name(&self, account_id: &str) -> Option<String> {
        self.names.get(account_id).cloned().flatten()
    }
}

/// An item ready to build: its body converted, its labels fetched.
struct Prepared {
    item: Item,
    known: Option<KnownEntry>,
    markdown: Option<String>,
    labels: Vec<Label>,
}

impl<'a> Session<'a> {
    pub(crate) async fn new(
        crawler: &'a Crawler,
        client: SiteClient,
        target: Target,
        mode: SyncMode,
        epoch: u64,
        cancel: CancellationToken,
    ) -> Result<Session<'a>, CrawlError> {
        let letters = crawler.dead.count(&target.key).await?;
        let sink = Sink::new(
            crawler.indexer.clone(),
            crawler.known.clone(),
            crawler.dead.clone(),
            target.key.clone(),
            target.tenant.clone(),
            letters > 0,
        );
        let spaces = crawler
            .directory
            .spaces(&target.key.cloud)
            .await?
            .into_iter()
            .filter_map(|(id, entry)| Some((id.clone(), space_ref(&id, entry)?)))
            .collect();
        Ok(Session {
            crawler,
            client,
            target,
            mode,
            epoch,
            sink,
            cancel,
            counters: CrawlCounters::default(),
            spaces,
            spaces_listed: false,
            cache: EntryCache::default(),
            next_progress: PROGRESS_EVERY,
        })
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.crawler.clock.now()
    }

    /// The run's figures so far.
    pub(crate) fn totals(&self) -> CrawlCounters {
        let mut totals = self.counters;
        totals.add(&self.sink.counters);
        totals
    }

    /// Awaits `work` unless the job is cancelled first (shutdown, lost lease).
    pub(crate) async fn guard<T, E: Into<CrawlError>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CrawlError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(CrawlError::Interrupted),
            result = work => result.map_err(Into::into),
        }
    }

    /// The listing page size of full crawls and deletion checks.
    pub(crate) fn page_limit(&self) -> Limit {
        self.crawler.settings.page_limit
    }

    /// Lists the site's spaces and remembers them (in Redis and here).
    pub(crate) async fn list_spaces(&mut self) -> Result<(), CrawlError> {
        let mut listing = self
            .client
            .spaces(ListQuery::new(self.crawler.settings.page_limit));
        while let Some(page) = self.guard(listing_page(&mut listing)).await? {
            self.counters.points += 1 + page.results.len() as u64;
            let entries: Vec<(String, SpaceEntry)> = page
                .results
                .into_iter()
                .map(|s| {
                    (
                        s.id,
                        SpaceEntry {
                            key: s.key,
                            name: s.name,
                        },
                    )
                })
                .collect();
            self.crawler
                .directory
                .put_spaces(&self.target.key.cloud, &entries)
                .await?;
            for (id, entry) in entries {
                if let Some(space) = space_ref(&id, entry) {
                    self.spaces.insert(id, space);
                }
            }
        }
        self.spaces_listed = true;
        Ok(())
    }

    /// The space `id`, listing the spaces once per job if it is new.
    async fn space(&mut self, id: Option<&str>) -> Result<Option<SpaceRef>, CrawlError> {
        let Some(id) = id else { return Ok(None) };
        if !self.spaces.contains_key(id) && !self.spaces_listed {
            self.list_spaces().await?;
        }
        Ok(self.spaces.get(id).cloned())
    }

    /// Handles one listing page's items (see the module docs). With
    /// `last_pass`, items are never set aside again: what cannot be placed
    /// exactly is placed as well as the known map allows (pages) or skipped
    /// (comments whose page is not indexed).
    pub(crate) async fn take(
        &mut self,
        items: Vec<Item>,
        policy: Policy,
        last_pass: bool,
    ) -> Result<(), CrawlError> {
        if items.is_empty() {
            return Ok(());
        }
        self.counters.seen += items.len() as u64;
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let known = self.crawler.known.get_many(&self.target.key, &ids).await?;
        let mut to_build = Vec::new();
        let now = self.now();
        for (item, known) in items.into_iter().zip(known) {
            if !item.status.is_indexable() {
                if let Some(known) = known {
                    self.sink.delete(&item.id, known.kind, now).await?;
                }
                continue;
            }
            match policy {
                Policy::Reconcile => {
                    if let Some(known) = known {
                        let entry = KnownEntry {
                            epoch: self.epoch,
                            ..known
                        };
                        self.sink.mark(item.id, entry);
                    }
                }
                Policy::Incremental
                    if known
                        .as_ref()
                        .is_some_and(|k| k.version != 0 && k.version == item.version_number()) =>
                {
                    self.sink.counters.unchanged += 1;
                    events::unchanged(&self.crawler.metrics, 1);
                }
                Policy::Full | Policy::Incremental => to_build.push((item, known)),
            }
        }
        Box::pin(self.build_all(to_build, policy, last_pass)).await?;
        self.progress();
        Ok(())
    }

    async fn build_all(
        &mut self,
        batch: Vec<(Item, Option<KnownEntry>)>,
        policy: Policy,
        last_pass: bool,
    ) -> Result<(), CrawlError> {
        if batch.is_empty() {
            return Ok(());
        }
        let items: Vec<&Item> = batch.iter().map(|(item, _)| item).collect();
        let lineage = Lineage::gather(
            &self.crawler.known,
            &self.target.key,
            &mut self.cache,
            &items,
        )
        .await?;
        let lookups = Arc::new(self.lookups(&items, &lineage).await?);
        let labels = self.labels(&items).await?;
        let prepared = convert(batch, labels, Arc::clone(&lookups)).await?;
        let parents = lineage.parent_map();
        for prepared in prepared {
            self.place_and_build(prepared, &lineage, &parents, &lookups, policy, last_pass)
                .await?;
        }
        Ok(())
    }

    /// Names of the batch's authors and mentioned users, and titles of the
    /// pages its links name by id.
    async fn lookups(&mut self, items: &[&Item], lineage: &Lineage) -> Result<Lookups, CrawlError> {
        let mut accounts = HashSet::new();
        let mut linked = HashSet::new();
        for item in items {
            accounts.extend(item.author_id.as_deref());
            accounts.extend(item.version.as_ref().and_then(|v| v.author_id.as_deref()));
            let (mentioned, pages) = references(&item.body);
            accounts.extend(mentioned);
            linked.extend(pages);
        }
        let (names, points) = self
            .guard(self.crawler.names.resolve(&self.client, accounts))
            .await?;
        self.counters.points += points;
        let titles = self.titles(linked, lineage).await?;
        Ok(Lookups { names, titles })
    }

    async fn titles(
        &self,
        linked: HashSet<&str>,
        lineage: &Lineage,
    ) -> Result<HashMap<String, String>, CrawlError> {
        let parents = lineage.parent_map();
        let mut titles = HashMap::new();
        let mut unknown = Vec::new();
        for id in linked {
            match parents.get(id) {
                Some(entry) => {
                    titles.insert(id.to_owned(), entry.title.clone());
                }
                None => unknown.push(id),
            }
        }
        let found = self
            .crawler
            .known
            .get_many(&self.target.key, &unknown)
            .await?;
        for (id, entry) in unknown.into_iter().zip(found) {
            if let Some(entry) = entry.filter(|e| !e.title.is_empty()) {
                titles.insert(id.to_owned(), entry.title);
            }
        }
        Ok(titles)
    }

    /// Labels of the batch's pages and blog posts (empty for comments, or
    /// when `sync.fetch_labels` is off), a few requests at a time.
    async fn labels(&mut self, items: &[&Item]) -> Result<Vec<Vec<Label>>, CrawlError> {
        let fetch_labels = self.crawler.settings.fetch_labels;
        // Owned inputs and a cloned client: the futures borrow nothing, so
        // the stream stays `Send` for any caller.
        let wanted: Vec<Option<(ContentKind, String)>> = items
            .iter()
            .map(|item| {
                let labelled = matches!(item.kind, ContentKind::Page | ContentKind::Blogpost);
                (fetch_labels && labelled).then(|| (item.kind, item.id.clone()))
            })
            .collect();
        let client = self.client.clone();
        let fetches = futures_util::stream::iter(wanted)
            .map(move |wanted| {
                let client = client.clone();
                async move {
                    match wanted {
                        Some((kind, id)) => item_labels(&client, kind, &id).await,
                        None => Ok((Vec::new(), 0)),
                    }
                }
            })
            .buffered(LABEL_CONCURRENCY)
            .try_collect::<Vec<_>>();
        let fetched = self.guard(fetches).await?;
        self.counters.points += fetched.iter().map(|(_, p)| p).sum::<u64>();
        Ok(fetched.into_iter().map(|(labels, _)| labels).collect())
    }

    async fn place_and_build(
        &mut self,
        prepared: Prepared,
        lineage: &Lineage,
        parents: &ParentMap,
        lookups: &Lookups,
        policy: Policy,
        last_pass: bool,
    ) -> Result<(), CrawlError> {
        let Prepared {
            item,
            known,
            markdown,
            labels,
        } = prepared;
        let Some(markdown) = markdown else {
            return self.skip(&item, "the body could not be converted");
        };
        let placement = match self.place(&item, lineage, last_pass) {
            Place::Ready(placement) => placement,
            Place::Later => return self.defer(&item).await,
            Place::Never => return self.skip(&item, "its page or blog post is not indexed"),
        };
        let item = Item {
            body: String::new(),
            ..item
        };
        let space_id = placement
            .as_ref()
            .map_or(item.space_id.clone(), |p| p.space_id.clone());
        let space = self.space(space_id.as_deref()).await?;
        // The builder's context borrows non-`Sync` lookups: build in a plain
        // scope, before any further `.await`.
        let built = {
            let ctx = BuildContext {
                tenant_id: &self.target.tenant,
                grant_id: &self.target.key.grant,
                site: &self.target.site,
                web_base: &self.target.web_base,
                space: space.as_ref(),
                parents,
                users: lookups,
            };
            let container = placement.as_ref().map(|p| &p.container);
            item.build(&ctx, &labels, container, markdown)
        };
        let mut doc = match built {
            Ok(Some(doc)) => doc,
            // Not indexable: triage already turned it into a delete.
            Ok(None) => return Ok(()),
            Err(error) => return self.skip(&item, &error.to_string()),
        };
        let doc_sha = fingerprint(&mut doc);
        let entry = self.entry(&item, doc_sha, placement.as_ref(), space_id);
        self.cache.insert(item.id.clone(), entry.clone());
        let unchanged = known
            .as_ref()
            .is_some_and(|k| k.version == entry.version && k.doc_sha == entry.doc_sha);
        if unchanged {
            events::unchanged(&self.crawler.metrics, 1);
            self.sink.mark(item.id, entry);
        } else {
            debug_assert!(policy != Policy::Reconcile, "reconciliation builds nothing");
            self.sink.upsert(item.id, doc, entry).await?;
        }
        Ok(())
    }

    fn place(&self, item: &Item, lineage: &Lineage, last_pass: bool) -> Place {
        match item.kind {
            ContentKind::Page if last_pass || lineage.ancestry_complete(item.parent_page()) => {
                Place::Ready(None)
            }
            ContentKind::Page => Place::Later,
            ContentKind::Blogpost => Place::Ready(None),
            ContentKind::FooterComment | ContentKind::InlineComment => {
                match lineage.place_comment(item) {
                    Some(placement) => Place::Ready(Some(placement)),
                    None if last_pass => Place::Never,
                    None => Place::Later,
                }
            }
        }
    }

    /// What the known map will hold for `item` once `doc` is accepted.
    fn entry(
        &self,
        item: &Item,
        doc_sha: String,
        placement: Option<&Placement>,
        space: Option<String>,
    ) -> KnownEntry {
        let comment = placement.is_some();
        KnownEntry {
            kind: item.kind,
            version: item.version_number(),
            doc_sha,
            title: if comment {
                String::new()
            } else {
                item.title.clone()
            },
            parent: if comment {
                item.parent_comment_id.clone()
            } else {
                item.parent_page().map(str::to_owned)
            },
            space,
            container: placement.map(|p| Container {
                kind: p.container.kind,
                id: p.container.id.to_string(),
            }),
            epoch: self.epoch,
        }
    }

    /// Sets `item` aside until the end of its stream.
    async fn defer(&mut self, item: &Item) -> Result<(), CrawlError> {
        let value = serde_json::to_string(item).map_err(|e| CrawlError::Encode(e.to_string()))?;
        self.crawler
            .deferred
            .put(&self.target.key, item.kind.as_str(), &item.id, &value)
            .await?;
        events::deferred(&self.target.key.cloud, item.kind, &item.id);
        Ok(())
    }

    fn skip(&mut self, item: &Item, reason: &str) -> Result<(), CrawlError> {
        self.counters.skipped += 1;
        events::skipped(&self.target.key.cloud, item.kind, &item.id, reason);
        Ok(())
    }

    /// Builds the items of `kind` set aside during the stream, now that the
    /// rest of it is in the known map.
    pub(crate) async fn finish_stream(
        &mut self,
        kind: ContentKind,
        policy: Policy,
    ) -> Result<(), CrawlError> {
        self.sink.flush().await?;
        let site = self.target.key.clone();
        let stream = kind.as_str();
        let stashed = self.crawler.deferred.len(&site, stream).await?;
        if stashed == 0 {
            return Ok(());
        }
        events::building_deferred(&self.target.key.cloud, kind, stashed);
        // A listing page's worth at a time: the stash may be large, and its
        // items carry their bodies.
        let chunk = self.crawler.settings.page_limit.get() as usize;
        let mut cursor = 0;
        loop {
            let (next, values) = self
                .guard(self.crawler.deferred.scan(&site, stream, cursor, chunk))
                .await?;
            let mut items = Vec::with_capacity(values.len());
            for (id, value) in values {
                match serde_json::from_str::<Item>(&value) {
                    Ok(item) => items.push(item),
                    // Written by an older release in another shape: the next
                    // full crawl or reconciliation lists it again.
                    Err(error) => {
                        self.counters.skipped += 1;
                        let reason = format!("its set-aside copy cannot be read: {error}");
                        events::skipped(&self.target.key.cloud, kind, &id, &reason);
                    }
                }
            }
            self.take(items, policy, true).await?;
            self.sink.flush().await?;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.crawler.deferred.clear(&site, stream).await?;
        Ok(())
    }

    fn progress(&mut self) {
        if self.counters.seen >= self.next_progress {
            self.next_progress = self.counters.seen + PROGRESS_EVERY;
            events::progress(&self.target.key.cloud, self.mode, &self.totals());
        }
    }
}

/// Where an item can go now.
enum Place {
    Ready(Option<Placement>),
    /// An ancestor or the parent comment is not known yet.
    Later,
    /// A comment whose page or blog post is not indexed.
    Never,
}

/// A listing the crawl reads: which stage and kind it is, and its first
/// request.
pub(crate) trait Stream: DeserializeOwned + Into<Item> + Send + 'static {
    const KIND: ContentKind;
    fn first(session: &Session<'_>, query: ListQuery) -> Listing<Self>;
}

impl Stream for Page {
    const KIND: ContentKind = ContentKind::Page;
    fn first(session: &Session<'_>, query: ListQuery) -> Listing<Self> {
        session.client.pages(query)
    }
}

impl Stream for BlogPost {
    const KIND: ContentKind = ContentKind::Blogpost;
    fn first(session: &Session<'_>, query: ListQuery) -> Listing<Self> {
        session.client.blog_posts(query)
    }
}

impl Stream for FooterComment {
    const KIND: ContentKind = ContentKind::FooterComment;
    fn first(session: &Session<'_>, query: ListQuery) -> Listing<Self> {
        session.client.footer_comments(query)
    }
}

impl Stream for InlineComment {
    const KIND: ContentKind = ContentKind::InlineComment;
    fn first(session: &Session<'_>, query: ListQuery) -> Listing<Self> {
        session.client.inline_comments(query)
    }
}

/// The next listing page.
pub(crate) async fn listing_page<T>(
    listing: &mut confsync_confluence::Listing<T>,
) -> Result<Option<confsync_core::content::ListResponse<T>>, CrawlError>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    Ok(listing.next_page().await?)
}

/// Every label of one page or blog post, with the points the requests cost.
async fn item_labels(
    client: &SiteClient,
    kind: ContentKind,
    id: &str,
) -> Result<(Vec<Label>, u64), CrawlError> {
    let id = ContentId::parse(id).map_err(|e| CrawlError::Encode(e.to_string()))?;
    let query = ListQuery::new(LABELS_LIMIT);
    let mut listing = match kind {
        ContentKind::Blogpost => client.blog_post_labels(&id, query)?,
        _ => client.page_labels(&id, query)?,
    };
    let mut labels = Vec::new();
    let mut points = 0;
    while let Some(page) = listing.next_page().await? {
        points += 1 + page.results.len() as u64;
        labels.extend(page.results);
    }
    Ok((labels, points))
}

/// Converts the batch's bodies on the blocking pool, in a few chunks so a
/// page of large bodies uses every core; a body the converter chokes on
/// (it must not, but it reads input from outside) yields `None`.
async fn convert(
    batch: Vec<(Item, Option<KnownEntry>)>,
    labels: Vec<Vec<Label>>,
    lookups: Arc<Lookups>,
) -> Result<Vec<Prepared>, CrawlError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_chunk = batch.len().div_ceil(cores).max(1);
    let mut tasks = Vec::new();
    let mut rest = batch.into_iter().zip(labels).peekable();
    while rest.peek().is_some() {
        let chunk: Vec<_> = rest.by_ref().take(per_chunk).collect();
        let lookups = Arc::clone(&lookups);
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|((item, known), labels)| {
                    // The body stays with the item: one set aside is built
                    // again, from it, at the end of its stream.
                    let markdown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        confsync_markdown::to_markdown(&item.body, lookups.as_ref())
                    }))
                    .ok();
                    Prepared {
                        item,
                        known,
                        markdown,
                        labels,
                    }
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut prepared = Vec::new();
    for task in tasks {
        let chunk = task
            .await
            .map_err(|e| CrawlError::Conversion(e.to_string()))?;
        prepared.extend(chunk);
    }
    Ok(prepared)
}

/// Hex SHA-256 of the whole document as the indexer would receive it: any
/// change (content, title, labels, breadcrumbs, names, status) shows. The
/// Markdown is left out of the serialization (taken out and put back, never
/// copied): `content_sha256` already stands for it, and serializing and
/// hashing every body twice was a measurable share of a crawl's CPU.
pub(crate) fn fingerprint(doc: &mut Document) -> String {
    let markdown = std::mem::take(&mut doc.content_markdown);
    // Derived Serialize of Document cannot fail; an empty hash would only
    // make the next sync push the document again.
    let bytes = serde_json::to_vec(&*doc).unwrap_or_default();
    doc.content_markdown = markdown;
    hex::encode(Sha256::digest(&bytes))
}

fn space_ref(id: &str, entry: SpaceEntry) -> Option<SpaceRef> {
    Some(SpaceRef {
        id: SpaceId::parse(id).ok()?,
        key: entry.key,
        name: entry.name,
    })
}
