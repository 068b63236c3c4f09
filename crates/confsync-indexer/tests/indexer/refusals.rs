//! Refused batches: the documents the indexer will not take are isolated
//! (named ones pulled out, otherwise by bisection) and dead-lettered with
//! their payload while the rest lands; a refused token stops the push.

use confsync_core::ContentKind;
use confsync_core::ErrorClass;
use confsync_core::document::BatchRequest;
use confsync_core::error::Classify;
use confsync_indexer::{BatchItem, BatchLimits, IndexerError};
use confsync_sim::IndexerFaultUpdate;

use crate::support::{
    delete, http_config, indexer, metrics, page, page_of_size, pages, requests, sim, sim_config,
};

fn arrived(sim: &confsync_sim::SimHandle) -> Vec<String> {
    sim.indexer_events().into_iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn one_rejected_document_among_50_is_dead_lettered_and_49_land() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);
    let docs = pages(0..50);
    let refused = docs[17].clone();
    sim.set_indexer_faults(IndexerFaultUpdate {
        reject_ids: Some(vec![refused.id.to_string()]),
        ..Default::default()
    });

    let report = indexer
        .push(BatchRequest {
            upserts: docs.clone(),
            deletes: vec![],
        })
        .await
        .unwrap();

    assert_eq!(report.accepted(), 49);
    assert_eq!(report.dead_letters.len(), 1);
    let letter = &report.dead_letters[0];
    assert_eq!(letter.status, 422);
    assert_eq!(letter.reason, "rejected by the indexer");
    assert_eq!(
        letter.item,
        BatchItem::Upsert(refused.clone()),
        "the payload, for a later retry"
    );
    let expected: Vec<String> = docs
        .iter()
        .filter(|d| d.id != refused.id)
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(arrived(&sim), expected, "the other 49, in order");
    assert!(sim.indexed_document(refused.id.as_str()).is_none());
    // The 422 named the document: one refusal, then the other 49 in one batch.
    let stats = sim.indexer_stats();
    assert_eq!((stats.requests, stats.rejected, stats.batches), (2, 1, 1));
    assert_eq!(requests(&metrics, "rejected"), 1);
    assert_eq!(requests(&metrics, "ok"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rejected_delete_is_dead_lettered_with_its_payload() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);
    let refused = delete(ContentKind::Blogpost, 8);
    sim.set_indexer_faults(IndexerFaultUpdate {
        reject_ids: Some(vec![refused.id.to_string()]),
        ..Default::default()
    });

    let report = indexer
        .push(BatchRequest {
            upserts: pages(0..3),
            deletes: vec![delete(ContentKind::Page, 9), refused.clone()],
        })
        .await
        .unwrap();

    assert_eq!(
        (report.accepted_upserts(), report.accepted_deletes()),
        (3, 1)
    );
    assert_eq!(report.dead_letters.len(), 1);
    assert_eq!(report.dead_letters[0].item, BatchItem::Delete(refused));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_oversized_document_goes_alone_and_its_413_is_a_dead_letter() {
    let sim = sim(sim_config().indexer_max_batch_bytes(64 * 1024)).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.limits = BatchLimits {
        max_documents: 100,
        max_bytes: 32 * 1024,
    };
    let (indexer, _) = indexer(config, &metrics);
    let big = page_of_size(2, 100 * 1024);
    let docs = vec![page(0), page(1), big.clone(), page(3)];

    let report = indexer
        .push(BatchRequest {
            upserts: docs,
            deletes: vec![],
        })
        .await
        .unwrap();

    assert_eq!(report.accepted(), 3);
    assert_eq!(report.dead_letters.len(), 1);
    let letter = &report.dead_letters[0];
    assert_eq!(
        (letter.status, letter.reason.as_str()),
        (413, "payload_too_large")
    );
    assert_eq!(letter.item, BatchItem::Upsert(big));
    let expected: Vec<String> = [0, 1, 3].map(|n| page(n).id.to_string()).into();
    assert_eq!(arrived(&sim), expected);
    // [0 1] [big] [3]: the big one never held the others back.
    let stats = sim.indexer_stats();
    assert_eq!((stats.requests, stats.rejected, stats.batches), (3, 1, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refusal_naming_nobody_is_bisected_down_to_the_culprit() {
    // Our byte bound is far above the indexer's, so the whole batch is refused
    // with a 413 that names no document.
    let sim = sim(sim_config().indexer_max_batch_bytes(64 * 1024)).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);
    let big = page_of_size(5, 100 * 1024);
    let mut docs = pages(0..8);
    docs[5] = big.clone();

    let report = indexer
        .push(BatchRequest {
            upserts: docs.clone(),
            deletes: vec![],
        })
        .await
        .unwrap();

    assert_eq!(report.accepted(), 7);
    assert_eq!(report.dead_letters.len(), 1);
    assert_eq!(report.dead_letters[0].status, 413);
    assert_eq!(report.dead_letters[0].item, BatchItem::Upsert(big.clone()));
    let expected: Vec<String> = docs
        .iter()
        .filter(|d| d.id != big.id)
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(arrived(&sim), expected, "in order");
    // [0..8) refused → [0..4) ok, [4..8) refused → [4 5] refused → [4] ok,
    // [5] refused → [6 7] ok.
    let stats = sim.indexer_stats();
    assert_eq!((stats.requests, stats.rejected, stats.batches), (7, 4, 3));
    assert_eq!(requests(&metrics, "rejected"), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_document_is_dead_lettered_with_the_indexers_reason() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);
    let mut invalid = page(3);
    invalid.url = "wiki/spaces/ENG/pages/3".into();
    let mut docs = pages(0..6);
    docs[3] = invalid.clone();

    let report = indexer
        .push(BatchRequest {
            upserts: docs,
            deletes: vec![],
        })
        .await
        .unwrap();

    assert_eq!(report.accepted(), 5);
    assert_eq!(report.dead_letters.len(), 1);
    let letter = &report.dead_letters[0];
    assert_eq!(letter.status, 400);
    assert!(
        letter.reason.starts_with("url"),
        "the problem is named: {}",
        letter.reason
    );
    assert_eq!(letter.item, BatchItem::Upsert(invalid));
    assert_eq!(sim.indexed_documents().len(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_stops_the_push_without_dead_letters() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.token = "not-the-token".into();
    let (indexer, timer) = indexer(config, &metrics);

    let error = indexer
        .push(BatchRequest {
            upserts: pages(0..5),
            deletes: vec![],
        })
        .await
        .unwrap_err();

    assert!(
        matches!(error, IndexerError::TokenRefused { status: 401 }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert!(!error.to_string().contains("not-the-token"));
    let stats = sim.indexer_stats();
    assert_eq!(
        (stats.requests, stats.unauthorized),
        (1, 1),
        "never retried, never split"
    );
    assert!(timer.waits().is_empty());
    assert!(sim.indexed_documents().is_empty());
    assert_eq!(requests(&metrics, "failed"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_url_that_is_not_the_indexer_stops_the_push_as_permanent() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, timer) = indexer(
        http_config(&format!("{}/elsewhere", sim.indexer_url())),
        &metrics,
    );

    let error = indexer
        .push(BatchRequest {
            upserts: pages(0..2),
            deletes: vec![],
        })
        .await
        .unwrap_err();

    assert!(
        matches!(error, IndexerError::UnexpectedStatus { status: 404 }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert!(timer.waits().is_empty(), "not retried");
    assert_eq!(requests(&metrics, "failed"), 1);
    sim.shutdown().await;
}
