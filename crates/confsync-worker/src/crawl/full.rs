//! The full crawl (first connect, operator request, missing watermark) and
//! reconciliation (the same walk with ids only): spaces, then pages, blog
//! posts, footer comments and inline comments, each listed in one cursor
//! chain at `sync.page_limit` (250), then a mark-and-sweep over the known
//! map that deletes what this crawl did not see.
//!
//! Streaming: a listing page's items are handled and pushed in batches while
//! the next page is already being fetched; after each pushed batch the
//! checkpoint (stage, the page's URL, the batch's last id, counters) is
//! written, so a killed worker re-reads at most the page it was on and
//! redoes at most one batch. Memory is one or two listing pages and one
//! indexer batch, whatever the site's size.
//!
//! Every item seen is marked with the crawl's epoch in the known map; the
//! sweep deletes entries of older epochs. When the crawl completes, every
//! stream's watermark becomes the crawl's start time.

use std::collections::HashSet;

use confsync_confluence::{BodyFormat, ListQuery, Listing, Sort, SortField};
use confsync_core::ContentKind;
use confsync_core::content::{BlogPost, FooterComment, InlineComment, Page};
use confsync_core::jobs::SyncMode;
use confsync_store::SiteUpdate;
use confsync_store::sites::{Checkpoint, CrawlStage};

use super::CrawlError;
use super::item::Item;
use super::session::{Policy, Session, Stream, listing_page};
use crate::events;

/// Entries read per step of the sweep.
const SWEEP_SCAN: usize = 500;

/// Items handled, pushed and checkpointed at a time: what a crawl stopped
/// at any moment may have to do again (besides re-reading its listing page).
/// One indexer batch at the default `indexer.max_batch_documents` (each
/// batch costs a few round trips: 50 took a 100,000-page crawl 39.2 s,
/// 100 took 38.1 s, single `make bench` runs).
const CHECKPOINT_EVERY: usize = 100;

/// Runs (or resumes from `checkpoint`) a full crawl or a reconciliation.
pub(crate) async fn crawl(
    session: &mut Session<'_>,
    mut checkpoint: Checkpoint,
) -> Result<(), CrawlError> {
    let policy = match checkpoint.mode {
        SyncMode::Reconcile => Policy::Reconcile,
        _ => Policy::Full,
    };
    loop {
        events::stage_started(&session.target.key.cloud, checkpoint.mode, checkpoint.stage);
        match checkpoint.stage {
            CrawlStage::Spaces => session.list_spaces().await?,
            CrawlStage::Pages => Box::pin(stream::<Page>(session, &mut checkpoint, policy)).await?,
            CrawlStage::BlogPosts => {
                Box::pin(stream::<BlogPost>(session, &mut checkpoint, policy)).await?
            }
            CrawlStage::FooterComments => {
                Box::pin(stream::<FooterComment>(session, &mut checkpoint, policy)).await?;
            }
            CrawlStage::InlineComments => {
                Box::pin(stream::<InlineComment>(session, &mut checkpoint, policy)).await?;
            }
            CrawlStage::Sweep => sweep(session).await?,
        }
        match checkpoint.stage.next() {
            Some(next) => {
                checkpoint.stage = next;
                checkpoint.next_url = None;
                checkpoint.after_id = None;
                save(session, &mut checkpoint).await?;
            }
            None => return finish(session, &checkpoint).await,
        }
    }
}

/// The first request of a stage: pages and blog posts in id order (parents
/// mostly before children), comments in their default creation order
/// (parents before replies); bodies unless reconciling.
fn first_query<T: Stream>(session: &Session<'_>, policy: Policy) -> ListQuery {
    let mut query = ListQuery::new(session.page_limit());
    if matches!(T::KIND, ContentKind::Page | ContentKind::Blogpost) {
        query = query.sort(Sort::asc(SortField::Id));
    }
    if policy != Policy::Reconcile {
        query = query.body_format(BodyFormat::Storage);
    }
    query
}

/// Reads one stage's listing to its end, from the checkpoint when there is
/// one. Items are handled in batches of [`CHECKPOINT_EVERY`], each pushed and
/// then checkpointed (the page's URL and the batch's last id), while the
/// next listing page is already being fetched.
async fn stream<T: Stream>(
    session: &mut Session<'_>,
    checkpoint: &mut Checkpoint,
    policy: Policy,
) -> Result<(), CrawlError> {
    let mut listing: Listing<T> = match &checkpoint.next_url {
        Some(url) => session.client.resume(url)?,
        None => T::first(session, first_query::<T>(session, policy)),
    };
    let cancel = session.cancel.clone();
    // Where the page being handled was read from (`None`: the first request).
    let mut current_url = checkpoint.next_url.clone();
    let mut page = session.guard(listing_page(&mut listing)).await?;
    while let Some(current) = page {
        session.counters.points += 1 + current.results.len() as u64;
        let after = listing.next_url().map(ToString::to_string);
        let mut items: Vec<Item> = current.results.into_iter().map(Into::into).collect();
        // Resuming inside this page: what was pushed before stays done. When
        // that item is gone, the whole page is handled again (harmless: what
        // did not change is only marked).
        if let Some(done) = checkpoint.after_id.take()
            && let Some(at) = items.iter().position(|item| item.id == done)
        {
            items.drain(..=at);
        }
        let prefetch = async {
            if listing.is_done() {
                Ok(None)
            } else {
                listing_page(&mut listing).await
            }
        };
        let page_url = current_url.clone();
        let handle = async {
            let mut rest = items.into_iter().peekable();
            while rest.peek().is_some() {
                let batch: Vec<Item> = rest.by_ref().take(CHECKPOINT_EVERY).collect();
                let last = batch.last().map(|item| item.id.clone());
                session.take(batch, policy, false).await?;
                session.sink.flush().await?;
                checkpoint.next_url = page_url.clone();
                checkpoint.after_id = last;
                save(session, checkpoint).await?;
            }
            Ok::<(), CrawlError>(())
        };
        let (next, handled) = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(CrawlError::Interrupted),
            both = async { tokio::join!(prefetch, handle) } => both,
        };
        handled?;
        checkpoint.next_url = after.clone();
        checkpoint.after_id = None;
        save(session, checkpoint).await?;
        current_url = after;
        page = next?;
    }
    session.finish_stream(T::KIND, policy).await
}

/// Deletes every known item this crawl did not mark.
async fn sweep(session: &mut Session<'_>) -> Result<(), CrawlError> {
    let site = session.target.key.clone();
    let epoch = session.epoch;
    let mut deleted: HashSet<String> = HashSet::new();
    let mut cursor = 0;
    loop {
        let (next, entries) = session
            .guard(session.crawler.known.scan(&site, cursor, SWEEP_SCAN))
            .await?;
        let now = session.now();
        for (id, entry) in entries {
            match entry {
                Some(entry) if entry.epoch < epoch => {
                    if deleted.insert(id.clone()) {
                        session.sink.delete(&id, entry.kind, now).await?;
                    }
                }
                Some(_) => {}
                // An entry nobody can read back names no document we could
                // delete precisely; drop it so it does not linger.
                None => session.crawler.known.remove_many(&site, &[&id]).await?,
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    session.sink.flush().await
}

async fn save(session: &mut Session<'_>, checkpoint: &mut Checkpoint) -> Result<(), CrawlError> {
    if session.cancel.is_cancelled() {
        // The lease may be gone: another replica may own the site now.
        return Err(CrawlError::Interrupted);
    }
    checkpoint.counters = session.totals();
    let update = SiteUpdate {
        checkpoint: Some(checkpoint.clone()),
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

/// Records the completed crawl: watermarks at its start, checkpoint gone.
async fn finish(session: &mut Session<'_>, checkpoint: &Checkpoint) -> Result<(), CrawlError> {
    let now = session.now();
    let mut update = SiteUpdate {
        clear_checkpoint: true,
        last_reconcile_at: Some(now),
        ..SiteUpdate::default()
    };
    if checkpoint.mode == SyncMode::Full {
        update.watermarks = ContentKind::ALL
            .iter()
            .map(|kind| (*kind, checkpoint.started_at))
            .collect();
        update.last_full_sync_at = Some(now);
        update.last_deletion_check_at = Some(now);
        update.last_poll_at = Some(now);
    }
    session
        .crawler
        .sites
        .update(
            &session.target.key.grant,
            &session.target.key.cloud,
            &update,
        )
        .await?;
    events::crawl_finished(
        &session.target.key.cloud,
        checkpoint.mode,
        &session.totals(),
    );
    Ok(())
}
