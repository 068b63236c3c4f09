//! Pushes that go through: every upsert and delete lands in the simulated
//! indexer as sent, by bounded batches, in order.

use std::collections::{BTreeMap, BTreeSet};

use confsync_core::ContentKind;
use confsync_core::document::BatchRequest;
use confsync_indexer::{BatchLimits, Batcher, DeleteKind};

use crate::support::{
    Proxy, delete, doc_of, http_config, indexer, metrics, page, page_of_size, pages, pushed,
    requests, sim, sim_config,
};

#[tokio::test]
async fn a_push_lands_every_upsert_and_delete() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);
    let mut upserts = pages(1..11);
    upserts.extend((11..16).map(|n| doc_of(ContentKind::Blogpost, n, "Release notes")));
    upserts.extend((16..21).map(|n| doc_of(ContentKind::FooterComment, n, "LGTM")));
    upserts.extend((21..24).map(|n| doc_of(ContentKind::InlineComment, n, "Typo here")));

    let report = indexer
        .push(BatchRequest {
            upserts: upserts.clone(),
            deletes: vec![],
        })
        .await
        .unwrap();

    let expected_kinds = BTreeMap::from([
        (ContentKind::Page, 10),
        (ContentKind::Blogpost, 5),
        (ContentKind::FooterComment, 5),
        (ContentKind::InlineComment, 3),
    ]);
    assert_eq!(report.upserts, expected_kinds);
    assert!(report.dead_letters.is_empty());
    let indexed = sim.indexed_documents();
    assert_eq!(indexed.len(), 23);
    for doc in &upserts {
        assert_eq!(
            indexed.get(doc.id.as_str()),
            Some(&serde_json::to_value(doc).unwrap()),
            "{} is indexed exactly as sent",
            doc.id
        );
    }

    // Then: delete four pages and two comments, and update a page.
    let mut edited = page(1);
    edited.version = 2;
    edited.title = "Runbook, revised".into();
    let deletes = vec![
        delete(ContentKind::Page, 2),
        delete(ContentKind::Page, 3),
        delete(ContentKind::Page, 4),
        delete(ContentKind::Page, 5),
        delete(ContentKind::FooterComment, 16),
        delete(ContentKind::InlineComment, 21),
    ];
    let report = indexer
        .push(BatchRequest {
            upserts: vec![edited.clone()],
            deletes: deletes.clone(),
        })
        .await
        .unwrap();

    assert_eq!(report.upserts, BTreeMap::from([(ContentKind::Page, 1)]));
    assert_eq!(
        report.deletes,
        BTreeMap::from([(DeleteKind::Page, 4), (DeleteKind::Comment, 2)])
    );
    assert_eq!(report.accepted(), 7);
    let indexed = sim.indexed_documents();
    let gone: BTreeSet<String> = deletes.iter().map(|d| d.id.to_string()).collect();
    let expected: BTreeSet<String> = upserts
        .iter()
        .map(|d| d.id.to_string())
        .filter(|id| !gone.contains(id))
        .collect();
    assert_eq!(indexed.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(indexed[edited.id.as_str()]["version"], 2);
    assert_eq!(pushed(&metrics, "page", "upsert"), 11);
    assert_eq!(pushed(&metrics, "inline_comment", "upsert"), 3);
    assert_eq!(pushed(&metrics, "page", "delete"), 4);
    assert_eq!(pushed(&metrics, "comment", "delete"), 2);
    assert_eq!(requests(&metrics, "ok"), 2);
    assert_eq!(sim.indexer_stats().without_idempotency_key, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn batches_hold_at_most_max_documents_and_arrive_in_order() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let mut config = http_config(&sim.indexer_url());
    config.limits = BatchLimits {
        max_documents: 100,
        ..BatchLimits::default()
    };
    let (indexer, _) = indexer(config, &metrics);
    let docs = pages(0..250);

    let report = indexer
        .push(BatchRequest {
            upserts: docs.clone(),
            deletes: vec![],
        })
        .await
        .unwrap();

    assert_eq!(report.accepted(), 250);
    let events = sim.indexer_events();
    let mut per_batch: BTreeMap<u64, usize> = BTreeMap::new();
    for event in &events {
        *per_batch.entry(event.batch).or_default() += 1;
    }
    assert_eq!(
        per_batch.values().copied().collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let arrived: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let sent: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(arrived, sent);
    sim.shutdown().await;
}

#[tokio::test]
async fn bodies_stay_within_max_bytes_as_measured_on_the_wire() {
    let sim = sim(sim_config()).await;
    let proxy = Proxy::start(sim.indexer_url(), 0).await;
    let metrics = metrics();
    let limits = BatchLimits {
        max_documents: 100,
        max_bytes: 16 * 1024,
    };
    let mut config = http_config(&proxy.url);
    config.limits = limits;
    let (indexer, _) = indexer(config, &metrics);
    let docs: Vec<_> = (0..40)
        .map(|n| page_of_size(n, 1000 + n as usize * 50))
        .collect();

    let report = indexer
        .push(BatchRequest {
            upserts: docs.clone(),
            deletes: vec![],
        })
        .await
        .unwrap();

    assert_eq!(report.accepted(), 40);
    // What the Batcher plans is exactly what goes on the wire.
    let mut batcher = Batcher::new(limits);
    let mut planned: Vec<BatchRequest> = docs
        .iter()
        .filter_map(|d| batcher.upsert(d.clone()))
        .collect();
    planned.extend(batcher.finish());
    let seen = proxy.seen();
    assert!(
        seen.len() > 2,
        "40 documents of 1-3 KiB need several 16 KiB batches"
    );
    assert_eq!(seen.len(), planned.len());
    for (sent, plan) in seen.iter().zip(&planned) {
        assert!(
            sent.body.len() <= limits.max_bytes,
            "{} bytes sent",
            sent.body.len()
        );
        assert_eq!(sent.body, serde_json::to_vec(plan).unwrap());
        let key = sent.idempotency_key.as_deref().unwrap_or_default();
        assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let keys: std::collections::HashSet<_> =
        seen.iter().map(|s| s.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), seen.len(), "one key per batch");
    let arrived: Vec<String> = sim.indexer_events().into_iter().map(|e| e.id).collect();
    let pushed: Vec<String> = docs.iter().map(|d| d.id.to_string()).collect();
    assert_eq!(arrived, pushed);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_delete_and_a_later_upsert_of_one_document_leave_it_indexed() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);
    let mut batcher = Batcher::new(indexer.limits());
    let mut batches = Vec::new();
    batches.extend(batcher.delete(delete(ContentKind::Page, 1)));
    batches.extend(batcher.upsert(page(1)));
    batches.extend(batcher.finish());

    for batch in batches {
        indexer.push(batch).await.unwrap();
    }

    assert!(
        sim.indexed_document(page(1).id.as_str()).is_some(),
        "the re-created page stays"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_push_sends_nothing() {
    let sim = sim(sim_config()).await;
    let metrics = metrics();
    let (indexer, _) = indexer(http_config(&sim.indexer_url()), &metrics);

    let report = indexer.push(BatchRequest::default()).await.unwrap();

    assert_eq!(report, Default::default());
    assert_eq!(sim.indexer_stats().requests, 0);
    assert_eq!(requests(&metrics, "ok"), 0);
    sim.shutdown().await;
}
