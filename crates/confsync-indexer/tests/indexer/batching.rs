//! The Batcher: count and byte bounds measured exactly as the body is sent,
//! order kept, oversized items alone, and two operations on one document never
//! in the same batch.

use confsync_core::ContentKind;
use confsync_core::document::BatchRequest;
use confsync_indexer::{BatchLimits, Batcher};

use crate::support::{delete, doc_of, page, page_of_size};

fn limits(max_documents: usize, max_bytes: usize) -> BatchLimits {
    BatchLimits {
        max_documents,
        max_bytes,
    }
}

/// Every batch the batcher closes, then the last one.
fn run(limits: BatchLimits, ops: Vec<Op>) -> Vec<BatchRequest> {
    let mut batcher = Batcher::new(limits);
    let mut out: Vec<BatchRequest> = ops
        .into_iter()
        .filter_map(|op| match op {
            Op::Upsert(n) => batcher.upsert(page(n)),
            Op::Delete(n) => batcher.delete(delete(ContentKind::Page, n)),
        })
        .collect();
    out.extend(batcher.finish());
    assert!(batcher.is_empty(), "finish empties the batcher");
    out
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Upsert(u64),
    Delete(u64),
}

fn ids(batches: &[BatchRequest]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.upserts
                .iter()
                .map(|d| format!("u{}", d.id))
                .chain(b.deletes.iter().map(|d| format!("d{}", d.id)))
        })
        .collect()
}

#[test]
fn body_length_is_exactly_the_serialized_body() {
    let hostile = "quote \" backslash \\ newline \n tab \t nul \u{0} emoji 🦀 ünïcödé \u{2028}";
    let mixes: Vec<(Vec<u64>, Vec<u64>)> = vec![
        (vec![1], vec![]),
        (vec![], vec![1]),
        (vec![1, 2, 3], vec![4, 5]),
        (vec![7], vec![8, 9, 10]),
    ];
    for (upserts, deletes) in mixes {
        let mut batcher = Batcher::new(BatchLimits::default());
        for n in &upserts {
            assert!(
                batcher
                    .upsert(doc_of(ContentKind::InlineComment, *n, hostile))
                    .is_none()
            );
        }
        for n in &deletes {
            assert!(
                batcher
                    .delete(delete(ContentKind::FooterComment, *n))
                    .is_none()
            );
        }
        let measured = batcher.body_len();
        let batch = batcher.finish().unwrap();
        let sent = serde_json::to_vec(&batch).unwrap();
        assert_eq!(
            measured,
            sent.len(),
            "upserts {upserts:?}, deletes {deletes:?}"
        );
    }
    let empty = Batcher::new(BatchLimits::default());
    assert_eq!(
        empty.body_len(),
        serde_json::to_vec(&BatchRequest::default()).unwrap().len()
    );
}

#[test]
fn batches_hold_at_most_max_documents_in_order() {
    let ops: Vec<Op> = (0..250).map(Op::Upsert).collect();
    let batches = run(limits(100, usize::MAX), ops);
    let sizes: Vec<usize> = batches.iter().map(BatchRequest::len).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let expected: Vec<String> = (0..250).map(|n| format!("u{}", page(n).id)).collect();
    assert_eq!(ids(&batches), expected);
}

#[test]
fn batches_stay_within_max_bytes_and_fill_up() {
    let max_bytes = 8 * 1024;
    let mut batcher = Batcher::new(limits(100, max_bytes));
    let mut batches = Vec::new();
    for n in 0..60 {
        let doc = page_of_size(n, 300 + (n as usize * 37) % 900);
        batches.extend(batcher.upsert(doc));
    }
    batches.extend(batcher.finish());
    assert!(
        batches.len() > 3,
        "60 documents of ~1 KiB make several 8 KiB batches"
    );
    for (i, batch) in batches.iter().enumerate() {
        let len = serde_json::to_vec(batch).unwrap().len();
        assert!(
            len <= max_bytes,
            "batch {i} is {len} bytes, over {max_bytes}"
        );
        if let Some(next) = batches.get(i + 1) {
            let mut grown = batch.clone();
            grown.upserts.push(next.upserts[0].clone());
            let grown_len = serde_json::to_vec(&grown).unwrap().len();
            assert!(
                grown_len > max_bytes,
                "batch {i} was closed although the next document fit ({grown_len} bytes)"
            );
        }
    }
    assert_eq!(batches.iter().map(BatchRequest::len).sum::<usize>(), 60);
}

#[test]
fn a_document_over_the_byte_bound_goes_alone_in_order() {
    let mut batcher = Batcher::new(limits(100, 4096));
    let mut batches = Vec::new();
    batches.extend(batcher.upsert(page(1)));
    batches.extend(batcher.upsert(page_of_size(2, 10_000)));
    batches.extend(batcher.upsert(page(3)));
    batches.extend(batcher.finish());
    let contents: Vec<Vec<String>> = batches
        .iter()
        .map(|b| b.upserts.iter().map(|d| d.id.to_string()).collect())
        .collect();
    assert_eq!(
        contents,
        [
            vec![page(1).id.to_string()],
            vec![page(2).id.to_string()],
            vec![page(3).id.to_string()]
        ]
    );
}

#[test]
fn two_operations_on_one_document_never_share_a_batch() {
    use Op::{Delete, Upsert};
    let batches = run(
        limits(100, usize::MAX),
        vec![
            Upsert(1),
            Upsert(2),
            Delete(1),
            Delete(3),
            Upsert(3),
            Upsert(4),
            Upsert(4),
        ],
    );
    let sizes: Vec<usize> = batches.iter().map(BatchRequest::len).collect();
    // [u1 u2] [d1 d3] [u3 u4 u4]: the repeated upsert of 4 may share one.
    assert_eq!(sizes, [2, 2, 3]);
    let p = |n| page(n).id.to_string();
    assert_eq!(
        ids(&batches),
        [
            format!("u{}", p(1)),
            format!("u{}", p(2)),
            format!("d{}", p(1)),
            format!("d{}", p(3)),
            format!("u{}", p(3)),
            format!("u{}", p(4)),
            format!("u{}", p(4)),
        ]
    );
}
