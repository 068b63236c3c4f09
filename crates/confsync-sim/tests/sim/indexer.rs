//! The indexer contract: bearer auth, idempotency keys, schema validation,
//! size limit, rejected documents, injected 503s and downtime, and the
//! recorded state.

use std::time::Duration;

use confsync_sim::{IndexerFaultUpdate, IndexerOp, SimHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, client};

fn doc(id: u64, version: u64) -> Value {
    json!({
        "id": format!("confluence:c-1:page:{id}"), "schema_version": 1, "tenant_id": "t1",
        "grant_id": "g1", "source": "confluence", "kind": "page",
        "site": {"cloud_id": "c-1", "url": "https://acme.atlassian.net", "name": "Acme"},
        "space": {"id": "9", "key": "ENG", "name": "Engineering"}, "title": "Runbook",
        "url": format!("https://acme.atlassian.net/wiki/spaces/ENG/pages/{id}/Runbook"),
        "parent_id": null, "breadcrumbs": ["Engineering"], "labels": ["runbook"],
        "author": {"account_id": "5b10ac8d82e05b22cc7d4ef5", "display_name": "Mia"},
        "created_at": "2025-11-18T20:10:12.198Z", "updated_at": "2025-11-19T05:44:33.959Z",
        "version": version, "status": "current", "content_markdown": "# Runbook\n\nSteps.",
        "content_sha256": format!("{:064x}", id * 1000 + version), "comment": null
    })
}

fn delete(id: u64) -> Value {
    json!({"id": format!("confluence:c-1:page:{id}"), "tenant_id": "t1", "deleted_at": "2026-01-01T10:30:00Z"})
}

struct Sent {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

async fn send(sim: &SimHandle, token: &str, key: Option<&str>, body: &Value) -> Sent {
    let mut request = client()
        .post(format!("{}/v1/documents/batch", sim.indexer_url()))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    Sent {
        status: response.status(),
        retry_after: response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.json().await.unwrap(),
    }
}

#[tokio::test]
async fn batches_need_the_indexer_token() {
    let sim = support::start(support::config().indexer_token("secret-token")).await;
    let batch = json!({"upserts": [doc(1, 1)], "deletes": []});
    assert_eq!(
        send(&sim, "wrong", None, &batch).await.status,
        StatusCode::UNAUTHORIZED
    );
    let anonymous = client()
        .post(format!("{}/v1/documents/batch", sim.indexer_url()))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(sim.indexed_documents().is_empty());
    assert_eq!(
        send(&sim, "secret-token", None, &batch).await.status,
        StatusCode::OK
    );
    assert_eq!(sim.indexer_stats().unauthorized, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn accepted_batches_update_the_state_in_arrival_order() {
    let sim = support::start(support::config()).await;
    let token = sim.indexer_token();
    let first = send(
        &sim,
        &token,
        Some("k1"),
        &json!({"upserts": [doc(1, 1), doc(2, 1)], "deletes": []}),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["upserts"], 2);
    let second = send(
        &sim,
        &token,
        Some("k2"),
        &json!({"upserts": [doc(1, 2)], "deletes": [delete(2)]}),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK);
    let docs = sim.indexed_documents();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs["confluence:c-1:page:1"]["version"], 2);
    let events: Vec<(IndexerOp, String, u64)> = sim
        .indexer_events()
        .into_iter()
        .map(|e| (e.op, e.id, e.batch))
        .collect();
    assert_eq!(
        events,
        [
            (IndexerOp::Upsert, "confluence:c-1:page:1".into(), 1),
            (IndexerOp::Upsert, "confluence:c-1:page:2".into(), 1),
            (IndexerOp::Upsert, "confluence:c-1:page:1".into(), 2),
            (IndexerOp::Delete, "confluence:c-1:page:2".into(), 2),
        ]
    );
    // The same state over HTTP, on the indexer listener.
    let state: Value = client()
        .get(format!("{}/_sim/indexer/documents", sim.indexer_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["confluence:c-1:page:1"]["version"], 2);
    let one = client()
        .get(format!(
            "{}/_sim/indexer/documents/confluence:c-1:page:2",
            sim.indexer_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer_and_refuse_other_bodies() {
    let sim = support::start(support::config()).await;
    let token = sim.indexer_token();
    let batch = json!({"upserts": [doc(7, 1)], "deletes": []});
    let first = send(&sim, &token, Some("same-key"), &batch).await;
    let again = send(&sim, &token, Some("same-key"), &batch).await;
    assert_eq!(
        (first.status, again.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(first.body, again.body);
    let stats = sim.indexer_stats();
    assert_eq!((stats.batches, stats.upserts, stats.duplicates), (1, 1, 1));
    assert_eq!(sim.indexer_events().len(), 1, "not applied twice");

    let other = send(
        &sim,
        &token,
        Some("same-key"),
        &json!({"upserts": [doc(7, 2)], "deletes": []}),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.body["error"], "idempotency_key_reused");
    assert_eq!(
        sim.indexed_documents()["confluence:c-1:page:7"]["version"],
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_documents_are_a_400_naming_the_problem() {
    let sim = support::start(support::config()).await;
    let token = sim.indexer_token();
    let mut bad = doc(3, 1);
    bad["content_sha256"] = json!("not-a-hash");
    bad.as_object_mut().unwrap().remove("tenant_id");
    let reply = send(
        &sim,
        &token,
        Some("k"),
        &json!({"upserts": [doc(4, 1), bad], "deletes": []}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let problems = reply.body["problems"].as_array().unwrap();
    let fields: Vec<&str> = problems
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"content_sha256") && fields.contains(&"tenant_id"),
        "{fields:?}"
    );
    assert!(
        problems
            .iter()
            .all(|p| p["index"] == 1 && p["id"] == "confluence:c-1:page:3")
    );
    assert!(
        sim.indexed_documents().is_empty(),
        "nothing of a bad batch is applied"
    );

    let not_json = client()
        .post(format!("{}/v1/documents/batch", sim.indexer_url()))
        .bearer_auth(&token)
        .body("{\"upserts\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn oversized_batches_are_a_413() {
    let sim = support::start(support::config().indexer_max_batch_bytes(2_000)).await;
    let token = sim.indexer_token();
    let mut big = doc(5, 1);
    big["content_markdown"] = json!("x".repeat(3_000));
    let reply = send(
        &sim,
        &token,
        None,
        &json!({"upserts": [big], "deletes": []}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.body["max_bytes"], 2_000);
    assert_eq!(
        send(&sim, &token, None, &json!({"upserts": [doc(5, 1)]}))
            .await
            .status,
        StatusCode::OK
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rejected_document_fails_its_whole_batch_with_a_422() {
    let sim = support::start(support::config()).await;
    let token = sim.indexer_token();
    sim.set_indexer_faults(IndexerFaultUpdate {
        reject_ids: Some(vec!["confluence:c-1:page:9".into()]),
        ..IndexerFaultUpdate::default()
    });
    let reply = send(
        &sim,
        &token,
        Some("k"),
        &json!({"upserts": [doc(8, 1), doc(9, 1)], "deletes": [delete(1)]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.body["rejected"][0]["id"], "confluence:c-1:page:9");
    assert_eq!(reply.body["rejected"].as_array().unwrap().len(), 1);
    assert!(sim.indexed_documents().is_empty());
    assert!(sim.indexer_events().is_empty());
    // Without the offending document the rest goes through.
    assert_eq!(
        send(&sim, &token, Some("k2"), &json!({"upserts": [doc(8, 1)]}))
            .await
            .status,
        StatusCode::OK
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_503s_and_downtime_follow_the_sim_clock() {
    let sim = support::start(support::config()).await;
    let token = sim.indexer_token();
    let batch = json!({"upserts": [doc(1, 1)], "deletes": []});
    sim.set_indexer_faults(IndexerFaultUpdate {
        fail_next: Some(2),
        retry_after_secs: Some(7),
        ..IndexerFaultUpdate::default()
    });
    for _ in 0..2 {
        let reply = send(&sim, &token, Some("k"), &batch).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.retry_after.as_deref(), Some("7"));
    }
    assert_eq!(
        send(&sim, &token, Some("k"), &batch).await.status,
        StatusCode::OK
    );

    sim.set_indexer_faults(IndexerFaultUpdate {
        down_for_secs: Some(30),
        ..IndexerFaultUpdate::default()
    });
    assert_eq!(
        send(&sim, &token, Some("k3"), &batch).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    sim.advance_clock(Duration::from_secs(29));
    assert_eq!(
        send(&sim, &token, Some("k3"), &batch).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    sim.advance_clock(Duration::from_secs(1));
    assert_eq!(
        send(&sim, &token, Some("k3"), &batch).await.status,
        StatusCode::OK
    );
    assert_eq!(sim.indexer_stats().failed, 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refusing_indexer_drops_new_connections() {
    let sim = support::start(support::config()).await;
    let token = sim.indexer_token();
    sim.set_indexer_faults(IndexerFaultUpdate {
        down_for_secs: Some(60),
        refuse_connections: Some(true),
        ..IndexerFaultUpdate::default()
    });
    let batch = json!({"upserts": [doc(1, 1)]});
    let error = client()
        .post(format!("{}/v1/documents/batch", sim.indexer_url()))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect() || error.is_request(), "{error}");
    sim.advance_clock(Duration::from_secs(60));
    assert_eq!(
        send(&sim, &token, None, &batch).await.status,
        StatusCode::OK
    );
    sim.shutdown().await;
}
