//! The crawl's state in a real Redis (`REDIS_URL`, default 127.0.0.1:6379):
//! site state, the known-content map, dead letters, the directory of names,
//! deferred items and delayed jobs, each test under its own random prefix.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use confsync_core::jobs::{SyncJob, SyncMode, SyncTrigger};
use confsync_core::{CloudId, ContentKind, GrantId};
use confsync_store::dead_letters::{DeadLetter, DeadLetters};
use confsync_store::deferred::Deferred;
use confsync_store::directory::{Directory, SpaceEntry};
use confsync_store::known::{Container, KnownEntry, KnownMap};
use confsync_store::sites::{Checkpoint, CrawlCounters, CrawlStage, RunSummary};
use confsync_store::{SiteKey, SiteStore, SiteUpdate, Store, StoreConfig, SyncQueue};
use secrecy::SecretString;

/// A store under a fresh prefix; tests end with [`done`], which deletes its keys.
fn scratch() -> Store {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    Store::open(&StoreConfig {
        url: SecretString::from(url),
        key_prefix: format!("confsync-test:{}:", uuid::Uuid::new_v4().simple()),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
        reconnect_min_delay: Duration::from_millis(20),
        reconnect_max_delay: Duration::from_millis(200),
    })
    .unwrap()
}

async fn done(store: Store) {
    store.delete_all_keys().await.unwrap();
}

fn ids() -> (GrantId, CloudId) {
    (
        GrantId::parse("g-1").unwrap(),
        CloudId::parse("c-1").unwrap(),
    )
}

fn entry(kind: ContentKind, version: u64) -> KnownEntry {
    KnownEntry {
        kind,
        version,
        doc_sha: "ab".repeat(32),
        title: "Title".into(),
        parent: Some("7".into()),
        space: Some("1".into()),
        container: None,
        epoch: 1,
    }
}

#[tokio::test]
async fn site_state_round_trips_and_failures_count_until_a_success() {
    let store = scratch();
    let sites = SiteStore::new(store.clone());
    let (grant, cloud) = ids();
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    assert_eq!(sites.state(&grant, &cloud).await.unwrap().epoch, 0);
    assert_eq!(sites.next_epoch(&grant, &cloud).await.unwrap(), 1);

    let checkpoint = Checkpoint {
        v: 1,
        mode: SyncMode::Full,
        epoch: 1,
        started_at: at,
        stage: CrawlStage::FooterComments,
        next_url: Some(
            "https://api.example/ex/confluence/c-1/wiki/api/v2/footer-comments?cursor=x".into(),
        ),
        after_id: Some("42".into()),
        counters: CrawlCounters {
            seen: 10,
            ..CrawlCounters::default()
        },
    };
    let update = SiteUpdate {
        watermarks: vec![(ContentKind::Page, at), (ContentKind::InlineComment, at)],
        window_items: vec![(ContentKind::Page, 3)],
        checkpoint: Some(checkpoint.clone()),
        last_sync: Some((at, SyncMode::Full)),
        poll_interval_secs: Some(120),
        failure: Some(("indexer unavailable".into(), at)),
        add_totals: Some(CrawlCounters {
            pushed: 5,
            ..CrawlCounters::default()
        }),
        ..SiteUpdate::default()
    };
    sites.update(&grant, &cloud, &update).await.unwrap();
    sites.update(&grant, &cloud, &update).await.unwrap();

    let state = sites.state(&grant, &cloud).await.unwrap();
    assert_eq!(state.epoch, 1);
    assert_eq!(state.watermarks[&ContentKind::Page], at);
    assert_eq!(state.window_items[&ContentKind::Page], 3);
    assert!(!state.has_all_watermarks());
    assert_eq!(state.checkpoint, Some(checkpoint));
    assert_eq!(state.last_sync_mode, Some(SyncMode::Full));
    assert_eq!(state.poll_interval_secs, Some(120));
    assert_eq!(state.failures, 2);
    assert_eq!(state.last_error.as_deref(), Some("indexer unavailable"));
    assert_eq!(state.totals.pushed, 10);

    let succeeded = SiteUpdate {
        clear_checkpoint: true,
        succeeded: true,
        last_run: Some(RunSummary {
            v: 1,
            mode: SyncMode::Full,
            finished_at: at,
            duration_ms: 5,
            counters: CrawlCounters::default(),
        }),
        ..SiteUpdate::default()
    };
    sites.update(&grant, &cloud, &succeeded).await.unwrap();
    let state = sites.state(&grant, &cloud).await.unwrap();
    assert_eq!(state.checkpoint, None);
    assert_eq!((state.failures, state.last_error), (0, None));
    assert!(state.last_run.is_some());
    done(store).await;
}

#[tokio::test]
async fn the_strongest_follow_up_is_kept_and_taken_once() {
    let store = scratch();
    let sites = SiteStore::new(store.clone());
    let (grant, cloud) = ids();
    sites
        .set_followup(&grant, &cloud, SyncMode::Incremental)
        .await
        .unwrap();
    sites
        .set_followup(&grant, &cloud, SyncMode::Full)
        .await
        .unwrap();
    sites
        .set_followup(&grant, &cloud, SyncMode::Reconcile)
        .await
        .unwrap();
    assert_eq!(
        sites.take_followup(&grant, &cloud).await.unwrap(),
        Some(SyncMode::Full)
    );
    assert_eq!(sites.take_followup(&grant, &cloud).await.unwrap(), None);
    done(store).await;
}

#[tokio::test]
async fn a_plan_guard_admits_one_planner() {
    let store = scratch();
    let sites = SiteStore::new(store.clone());
    let (grant, cloud) = ids();
    let site = SiteKey::new(grant, cloud);
    assert!(
        sites
            .claim_plan(&site, Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !sites
            .claim_plan(&site, Duration::from_secs(60))
            .await
            .unwrap()
    );
    done(store).await;
}

#[tokio::test]
async fn the_known_map_reads_writes_scans_and_forgets_in_batches() {
    let store = scratch();
    let known = KnownMap::new(store.clone());
    let (grant, cloud) = ids();
    let site = SiteKey::new(grant, cloud);
    let comment = KnownEntry {
        container: Some(Container {
            kind: ContentKind::Page,
            id: "10".into(),
        }),
        title: String::new(),
        ..entry(ContentKind::FooterComment, 2)
    };
    let entries: Vec<(String, KnownEntry)> = (0..1200)
        .map(|i| (i.to_string(), entry(ContentKind::Page, i)))
        .chain([("c-1".to_owned(), comment.clone())])
        .collect();
    known.put_many(&site, &entries).await.unwrap();

    let got = known.get_many(&site, &["5", "c-1", "nope"]).await.unwrap();
    assert_eq!(got[0].as_ref().unwrap().version, 5);
    assert_eq!(got[1].as_ref(), Some(&comment));
    assert_eq!(got[2], None);
    assert_eq!(known.len(&site).await.unwrap(), 1201);
    assert_eq!(known.all(&site).await.unwrap().len(), 1201);

    known.remove_many(&site, &["5", "6"]).await.unwrap();
    assert_eq!(known.len(&site).await.unwrap(), 1199);
    assert_eq!(known.get_many(&site, &["5"]).await.unwrap(), [None]);

    // Another grant reaching the same site has a map of its own.
    let other = SiteKey::new(GrantId::parse("g-other").unwrap(), site.cloud.clone());
    assert_eq!(known.len(&other).await.unwrap(), 0);
    assert_eq!(known.get_many(&other, &["7"]).await.unwrap(), [None]);
    done(store).await;
}

#[tokio::test]
async fn dead_letters_replace_by_id_and_are_listed_sorted() {
    let store = scratch();
    let dead = DeadLetters::new(store.clone());
    let (grant, cloud) = ids();
    let site = SiteKey::new(grant, cloud);
    let letter = |id: &str, reason: &str| DeadLetter {
        v: 1,
        id: id.into(),
        op: "upsert".into(),
        payload: "{}".into(),
        status: 422,
        reason: reason.into(),
        at: Utc::now(),
    };
    dead.put_many(&site, &[letter("b", "first"), letter("a", "x")])
        .await
        .unwrap();
    dead.put_many(&site, &[letter("b", "second")])
        .await
        .unwrap();
    let letters = dead.list(&site).await.unwrap();
    assert_eq!(
        letters
            .iter()
            .map(|l| (l.id.as_str(), l.reason.as_str()))
            .collect::<Vec<_>>(),
        [("a", "x"), ("b", "second")]
    );
    dead.remove_many(&site, &["a"]).await.unwrap();
    assert_eq!(dead.count(&site).await.unwrap(), 1);
    done(store).await;
}

#[tokio::test]
async fn the_directory_keeps_spaces_and_caches_names_including_unknown_ones() {
    let store = scratch();
    let directory = Directory::new(store.clone());
    let (_, cloud) = ids();
    directory
        .put_spaces(
            &cloud,
            &[(
                "1".into(),
                SpaceEntry {
                    key: "ENG".into(),
                    name: "Engineering".into(),
                },
            )],
        )
        .await
        .unwrap();
    assert_eq!(directory.spaces(&cloud).await.unwrap()["1"].key, "ENG");

    directory
        .put_user_names(&[("a-1", "Ada"), ("a-2", "")], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        directory.user_names(&["a-1", "a-2", "a-3"]).await.unwrap(),
        [Some("Ada".into()), Some(String::new()), None]
    );
    done(store).await;
}

#[tokio::test]
async fn deferred_items_are_kept_per_stream_until_cleared() {
    let store = scratch();
    let deferred = Deferred::new(store.clone());
    let (grant, cloud) = ids();
    let site = SiteKey::new(grant, cloud);
    deferred.put(&site, "page", "2", "{\"b\":1}").await.unwrap();
    deferred.put(&site, "page", "1", "{\"a\":1}").await.unwrap();
    deferred
        .put(&site, "footer_comment", "9", "{}")
        .await
        .unwrap();
    assert_eq!(
        deferred.all(&site, "page").await.unwrap(),
        [
            ("1".to_owned(), "{\"a\":1}".to_owned()),
            ("2".to_owned(), "{\"b\":1}".to_owned())
        ]
    );
    deferred.clear(&site, "page").await.unwrap();
    assert!(deferred.all(&site, "page").await.unwrap().is_empty());
    assert_eq!(
        deferred.all(&site, "footer_comment").await.unwrap().len(),
        1
    );
    done(store).await;
}

#[tokio::test]
async fn delayed_jobs_wait_and_due_ones_are_counted() {
    let store = scratch();
    let queue = SyncQueue::new(&store);
    let (grant, cloud) = ids();
    let job = SyncJob::new(grant, cloud, SyncMode::Incremental, SyncTrigger::Schedule);
    queue
        .push_after(job.clone(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(queue.due().await.unwrap(), 0);
    assert_eq!(queue.pending().await.unwrap(), std::slice::from_ref(&job));
    queue.push_after(job, Duration::ZERO).await.unwrap();
    assert_eq!(queue.due().await.unwrap(), 1);
    done(store).await;
}
