//! The incremental poll (the steady state) and the deletion check.
//!
//! Each change stream (pages, blog posts, footer comments, inline comments)
//! is listed newest first (`sort=-modified-date`, bodies included) and read
//! until an item's `version.createdAt` is older than the stream's watermark
//! less `sync.overlap_secs`; items whose `(id, version)` is known are
//! skipped, so the overlap costs no indexer work. A stream's watermark moves
//! to the poll's start only after everything it read is accepted by the
//! indexer (or dead-lettered).
//!
//! A stream's items inside the window are built together (in batches of a
//! listing page), so pages read before the parent they were moved under, or
//! a renamed ancestor, still get the right breadcrumbs.
//!
//! Points: a stream's first request asks for as many items as its last poll
//! read inside the window, plus one (rounded up to a power of two): an idle
//! stream costs one request and one object, 2 points, so an idle poll costs
//! 8. A burst larger than that reads on in the same cursor chain, and after
//! a few pages starts a new chain with a much larger limit (what the first
//! chain handled is then skipped as known).
//!
//! The deletion check lists trashed pages and blog posts (ids only) and
//! deletes the known ones with their comments. Trashing creates no version,
//! so the streams never see it.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confsync_confluence::{Limit, ListQuery, Sort, SortField, StatusFilter};
use confsync_core::ContentKind;
use confsync_core::content::{BlogPost, FooterComment, InlineComment, Page};
use confsync_store::SiteUpdate;
use confsync_store::sites::SiteState;

use super::CrawlError;
use super::item::Item;
use super::session::{Policy, Session, Stream, listing_page};

/// Pages a small-limit chain reads before a larger chain replaces it.
const ESCALATE_AFTER_PAGES: usize = 4;

/// How much larger the replacing chain's limit is.
const ESCALATE_FACTOR: u32 = 16;

/// Entries read per step when looking for a trashed page's comments.
const COMMENT_SCAN: usize = 500;

/// Reads the four change streams past their watermarks; returns how many
/// items changed (pushed or deleted).
pub(crate) async fn poll(
    session: &mut Session<'_>,
    state: &SiteState,
    overlap: Duration,
) -> Result<u64, CrawlError> {
    let started = session.now();
    let before = session.totals();
    for kind in ContentKind::ALL {
        // The caller runs a full crawl instead when a watermark is missing.
        let Some(watermark) = state.watermarks.get(&kind) else {
            continue;
        };
        let threshold = *watermark - chrono::Duration::from_std(overlap).unwrap_or_default();
        let expected = state.window_items.get(&kind).copied().unwrap_or(0);
        let in_window = match kind {
            ContentKind::Page => read::<Page>(session, threshold, expected).await?,
            ContentKind::Blogpost => read::<BlogPost>(session, threshold, expected).await?,
            ContentKind::FooterComment => {
                read::<FooterComment>(session, threshold, expected).await?
            }
            ContentKind::InlineComment => {
                read::<InlineComment>(session, threshold, expected).await?
            }
        };
        session.finish_stream(kind, Policy::Incremental).await?;
        commit(session, kind, started, in_window).await?;
    }
    let after = session.totals();
    Ok((after.pushed + after.deleted + after.dead_lettered)
        - (before.pushed + before.deleted + before.dead_lettered))
}

/// Reads one stream down to `threshold`; returns how many items it read
/// inside the window (which sizes the next poll's first request).
///
/// The window's items are handled together, in batches of a listing page,
/// not page by page: a poll's items are read newest first, so a page may come
/// before the renamed or new parent its breadcrumbs need, and one batch
/// places its items against each other.
async fn read<T: Stream>(
    session: &mut Session<'_>,
    threshold: DateTime<Utc>,
    expected: u32,
) -> Result<u32, CrawlError> {
    let max = session.page_limit();
    let batch = max.get() as usize;
    let mut limit = first_limit(expected, max);
    let mut window: Vec<Item> = Vec::new();
    let mut in_window: u32 = 0;
    'chains: loop {
        let query = ListQuery::new(limit)
            .sort(Sort::desc(SortField::ModifiedDate))
            .body_format(confsync_confluence::BodyFormat::Storage);
        let mut listing = T::first(session, query);
        let mut pages = 0;
        loop {
            let Some(page) = session.guard(listing_page(&mut listing)).await? else {
                break 'chains;
            };
            session.counters.points += 1 + page.results.len() as u64;
            let mut reached = false;
            for raw in page.results {
                let item: Item = raw.into();
                // An item without a date cannot prove the stream is past the
                // watermark: it is read.
                if item.modified_at().is_some_and(|at| at < threshold) {
                    reached = true;
                    break;
                }
                in_window = in_window.saturating_add(1);
                window.push(item);
            }
            if window.len() >= batch {
                session
                    .take(std::mem::take(&mut window), Policy::Incremental, false)
                    .await?;
            }
            if reached || listing.is_done() {
                break 'chains;
            }
            pages += 1;
            if limit < max && pages >= ESCALATE_AFTER_PAGES {
                // The new chain reads the window again from its start: hand
                // over what this one read, so it is skipped as known.
                session
                    .take(std::mem::take(&mut window), Policy::Incremental, false)
                    .await?;
                session.sink.flush().await?;
                in_window = 0;
                limit = Limit::new(limit.get().saturating_mul(ESCALATE_FACTOR).min(max.get()))
                    .unwrap_or(max);
                continue 'chains;
            }
        }
    }
    session.take(window, Policy::Incremental, false).await?;
    session.sink.flush().await?;
    Ok(in_window)
}

/// The first request's limit: what the window held last time, plus the
/// one older item that proves the stream is past it.
fn first_limit(expected: u32, max: Limit) -> Limit {
    let wanted = expected.saturating_add(1).next_power_of_two();
    Limit::new(wanted.min(max.get())).unwrap_or(max)
}

async fn commit(
    session: &mut Session<'_>,
    kind: ContentKind,
    at: DateTime<Utc>,
    in_window: u32,
) -> Result<(), CrawlError> {
    if session.cancel.is_cancelled() {
        return Err(CrawlError::Interrupted);
    }
    let update = SiteUpdate {
        watermarks: vec![(kind, at)],
        window_items: vec![(kind, in_window)],
        ..SiteUpdate::default()
    };
    session
        .crawler
        .sites
        .update(
            &session.target.key.grant,
            &session.target.key.cloud,
            &update,
        )
        .await?;
    Ok(())
}

/// Deletes the known pages and blog posts that are now in the trash, and
/// their comments.
pub(crate) async fn deletion_check(session: &mut Session<'_>) -> Result<u64, CrawlError> {
    let before = session.totals().deleted;
    let mut trashed: HashSet<String> = HashSet::new();
    for kind in [ContentKind::Page, ContentKind::Blogpost] {
        let query = ListQuery::new(session.page_limit()).status(StatusFilter::Trashed);
        let ids = match kind {
            ContentKind::Page => trashed_ids(session, session.client.pages(query)).await?,
            _ => trashed_ids(session, session.client.blog_posts(query)).await?,
        };
        trashed.extend(ids);
    }
    if !trashed.is_empty() {
        delete_comments_of(session, &trashed).await?;
    }
    session.sink.flush().await?;
    Ok(session.totals().deleted - before)
}

/// Reads a trashed-content listing; deletes the known items; returns their ids.
async fn trashed_ids<T: Stream>(
    session: &mut Session<'_>,
    mut listing: confsync_confluence::Listing<T>,
) -> Result<Vec<String>, CrawlError> {
    let mut deleted = Vec::new();
    while let Some(page) = session.guard(listing_page(&mut listing)).await? {
        session.counters.points += 1 + page.results.len() as u64;
        let items: Vec<Item> = page.results.into_iter().map(Into::into).collect();
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let known = session
            .crawler
            .known
            .get_many(&session.target.key, &ids)
            .await?;
        let now = session.now();
        for (item, known) in items.iter().zip(known) {
            if let Some(entry) = known {
                session.sink.delete(&item.id, entry.kind, now).await?;
                deleted.push(item.id.clone());
            }
        }
    }
    Ok(deleted)
}

/// Comments leave the listings with their page: delete the known ones.
async fn delete_comments_of(
    session: &mut Session<'_>,
    containers: &HashSet<String>,
) -> Result<(), CrawlError> {
    let site = session.target.key.clone();
    let mut cursor = 0;
    loop {
        let (next, entries) = session
            .guard(session.crawler.known.scan(&site, cursor, COMMENT_SCAN))
            .await?;
        let now = session.now();
        for (id, entry) in entries {
            let Some(entry) = entry else { continue };
            if entry
                .container
                .as_ref()
                .is_some_and(|c| containers.contains(&c.id))
            {
                session.sink.delete(&id, entry.kind, now).await?;
            }
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_idle_stream_asks_for_one_item_and_bursts_for_more() {
        assert_eq!(first_limit(0, Limit::MAX).get(), 1);
        assert_eq!(first_limit(1, Limit::MAX).get(), 2);
        assert_eq!(first_limit(5, Limit::MAX).get(), 8);
        assert_eq!(first_limit(10_000, Limit::MAX), Limit::MAX);
        assert_eq!(first_limit(3, Limit::new(2).unwrap()).get(), 2);
    }
}
