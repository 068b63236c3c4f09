//! Transient failures: 503s and 429s retried with the same body and key,
//! `Retry-After` honoured, the retry policy's caps, downtime, refused
//! connections, timeouts, and an answer lost after the indexer applied it.

use std::time::Duration;

use confsync_core::document::BatchRequest;
use confsync_core::error::Classify;
use confsync_core::{ContentKind, ErrorClass};
use confsync_indexer::{IndexerError, RetryPolicy};
use confsync_sim::IndexerFaultUpdate;

use crate::support::{
    Proxy, delete, http_config, indexer, metrics, pages, pushed, requests, sim, sim_config,
};

fn upserts(range: std::ops::Range<u64>) -> BatchRequest {
    BatchRequest {
        upserts: pages(range),
        deletes: vec![],
    }
}

#[tokio::test]
async fn a_batch_is_retried_through_503s_then_applied_once() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, timer) = indexer(http_config(&sim.indexer_url()), &metrics);
    sim.set_indexer_faults(IndexerFaultUpdate {
        fail_next: Some(3),
        ..Default::default()
    });

    let report = indexer.push(upserts(0..10)).await.unwrap();

    assert_eq!(report.accepted(), 10);
    let stats = sim.indexer_stats();
    assert_eq!((stats.requests, stats.failed, stats.batches), (4, 3, 1));
    assert_eq!(sim.indexer_events().len(), 10, "applied once");
    assert_eq!(timer.waits().len(), 3);
    assert_eq!(requests(&metrics, "retried"), 3);
    assert_eq!(requests(&metrics, "ok"), 1);
    assert_eq!(requests(&metrics, "failed"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_and_503() {
    for status in [429, 503] {
        let sim = sim(sim_config()).await;
        let metrics = metrics();
        let (indexer, timer) = indexer(http_config(&sim.indexer_url()), &metrics);
        sim.set_indexer_faults(IndexerFaultUpdate {
            fail_next: Some(2),
            fail_status: Some(status),
            retry_after_secs: Some(7),
            ..Default::default()
        });

        let report = indexer.push(upserts(0..3)).await.unwrap();

        assert_eq!(report.accepted(), 3);
        // The policy's own backoff is milliseconds: each wait is the indexer's 7 s.
        assert_eq!(
            timer.waits(),
            [Duration::from_secs(7); 2],
            "status {status}"
        );
        assert_eq!(sim.indexer_stats().requests, 3);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn without_retry_after_the_waits_follow_the_backoff() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, timer) = indexer(http_config(&sim.indexer_url()), &metrics);
    sim.set_indexer_faults(IndexerFaultUpdate {
        fail_next: Some(2),
        fail_status: Some(429),
        ..Default::default()
    });

    indexer.push(upserts(0..3)).await.unwrap();

    let waits = timer.waits();
    assert_eq!(waits.len(), 2);
    // fast_retry: 1 ms then 2 ms, each plus up to as much jitter.
    assert!(
        waits[0] >= Duration::from_millis(1) && waits[0] <= Duration::from_millis(2),
        "{waits:?}"
    );
    assert!(
        waits[1] >= Duration::from_millis(2) && waits[1] <= Duration::from_millis(4),
        "{waits:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_beyond_the_wait_cap_ends_the_push_at_once() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.retry.max_total_wait = Duration::from_secs(10);
    let (indexer, timer) = indexer(config, &metrics);
    sim.set_indexer_faults(IndexerFaultUpdate {
        fail_next: Some(1),
        retry_after_secs: Some(30),
        ..Default::default()
    });

    let error = indexer.push(upserts(0..3)).await.unwrap_err();

    assert!(
        matches!(error, IndexerError::Unavailable { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.class(),
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(30))
        },
        "the caller learns when to come back"
    );
    assert!(timer.waits().is_empty());
    assert_eq!(sim.indexer_stats().requests, 1);
    assert!(sim.indexer_events().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn an_indexer_that_stays_down_fails_the_push_after_the_capped_retries() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.retry = RetryPolicy {
        max_attempts: 4,
        ..config.retry
    };
    let (indexer, timer) = indexer(config, &metrics);
    sim.set_indexer_faults(IndexerFaultUpdate {
        down_for_secs: Some(600),
        ..Default::default()
    });

    let error = indexer.push(upserts(0..10)).await.unwrap_err();

    assert!(
        matches!(&error, IndexerError::Unavailable { attempts: 4, reason, retry_after: None } if reason == "http 503"),
        "{error:?}"
    );
    assert!(error.class().is_transient());
    assert_eq!(sim.indexer_stats().requests, 4);
    assert!(sim.indexer_events().is_empty(), "nothing accepted");
    assert_eq!(timer.waits().len(), 3);
    assert_eq!(requests(&metrics, "retried"), 3);
    assert_eq!(requests(&metrics, "failed"), 1);
    assert_eq!(pushed(&metrics, "page", "upsert"), 0);

    // Nothing was lost: once the indexer is back, the same push lands.
    sim.advance_clock(Duration::from_secs(601));
    let report = indexer.push(upserts(0..10)).await.unwrap();
    assert_eq!(report.accepted(), 10);
    assert_eq!(sim.indexed_documents().len(), 10);
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported_as_transient() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.retry.max_attempts = 3;
    let (indexer, timer) = indexer(config, &metrics);
    sim.set_indexer_faults(IndexerFaultUpdate {
        down_for_secs: Some(600),
        refuse_connections: Some(true),
        ..Default::default()
    });

    let error = indexer.push(upserts(0..2)).await.unwrap_err();

    assert!(
        matches!(error, IndexerError::Unavailable { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(error.class().is_transient());
    assert_eq!(timer.waits().len(), 2);
    assert!(sim.indexer_events().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn timeouts_are_retried_then_reported_as_transient() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.request_timeout = Duration::from_millis(100);
    config.retry.max_attempts = 2;
    let (indexer, timer) = indexer(config, &metrics);
    // Far longer than the timeout: the indexer answers after the client gave up.
    sim.set_indexer_faults(IndexerFaultUpdate {
        latency_ms: Some(5_000),
        ..Default::default()
    });

    let error = indexer.push(upserts(0..2)).await.unwrap_err();

    assert!(
        matches!(&error, IndexerError::Unavailable { attempts: 2, reason, .. } if reason == "timed out"),
        "{error:?}"
    );
    assert_eq!(timer.waits().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_key_and_applied_once() {
    let sim = sim(sim_config()).await;
    let proxy = Proxy::start(sim.indexer_url(), 1).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&proxy.url), &metrics);

    let report = indexer.push(upserts(0..10)).await.unwrap();

    assert_eq!(report.accepted(), 10);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2, "the batch, its answer lost, then the retry");
    assert_eq!(seen[0].status, None);
    assert_eq!(seen[1].status, Some(200));
    assert!(seen[0].idempotency_key.is_some());
    assert_eq!(seen[0].idempotency_key, seen[1].idempotency_key);
    assert_eq!(seen[0].body, seen[1].body);
    let stats = sim.indexer_stats();
    assert_eq!((stats.batches, stats.duplicates), (1, 1));
    assert_eq!(sim.indexer_events().len(), 10, "applied once");
    assert_eq!(requests(&metrics, "retried"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_later_push_of_the_same_batch_is_applied_again_under_a_new_key() {
    let sim = sim(sim_config()).await;
    let proxy = Proxy::start(sim.indexer_url(), 0).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&proxy.url), &metrics);

    // The documents are pushed, deleted (a purge), and pushed again (a
    // reconnect's full crawl): the second push must not be answered from
    // the indexer's idempotency store.
    indexer.push(upserts(0..5)).await.unwrap();
    let deletes = BatchRequest {
        upserts: vec![],
        deletes: (0..5).map(|i| delete(ContentKind::Page, i)).collect(),
    };
    indexer.push(deletes).await.unwrap();
    indexer.push(upserts(0..5)).await.unwrap();

    let keys: Vec<String> = proxy
        .seen()
        .into_iter()
        .map(|s| s.idempotency_key.unwrap())
        .collect();
    assert_eq!(keys.len(), 3);
    assert_ne!(keys[0], keys[2]);
    assert_eq!(proxy.seen()[0].body, proxy.seen()[2].body);
    let stats = sim.indexer_stats();
    assert_eq!((stats.batches, stats.duplicates), (3, 0));
    assert_eq!(sim.indexed_documents().len(), 5, "indexed again");
    sim.shutdown().await;
}
