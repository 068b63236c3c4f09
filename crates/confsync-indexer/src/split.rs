//! What to do with a refused batch: dead-letter the documents the indexer
//! named and resend the rest, or, when it named none, cut the batch in two
//! and try each half; a single item still refused is a dead letter.
//!
//! Pure, and every item comes out exactly once: in a dead letter or in a
//! batch to send again. Each batch to send again is strictly smaller than the
//! refused one, so splitting always ends.

use crate::batch::Encoded;
use crate::refusal::Refusal;
use crate::report::DeadLetter;

/// The refused batch, sorted.
#[derive(Debug)]
pub(crate) struct Isolated {
    pub dead: Vec<DeadLetter>,
    /// Batches to send again, in order.
    pub retry: Vec<Vec<Encoded>>,
}

pub(crate) fn isolate(items: Vec<Encoded>, refusal: &Refusal) -> Isolated {
    if items.len() <= 1 {
        return Isolated {
            dead: items
                .into_iter()
                .map(|item| letter(item, refusal))
                .collect(),
            retry: Vec::new(),
        };
    }
    let (named, rest): (Vec<Encoded>, Vec<Encoded>) = items
        .into_iter()
        .partition(|e| refusal.named.contains_key(e.item.id().as_str()));
    if named.is_empty() {
        // The indexer said nothing usable about which items: bisect.
        let mut left = rest;
        let right = left.split_off(left.len() / 2);
        return Isolated {
            dead: Vec::new(),
            retry: vec![left, right],
        };
    }
    Isolated {
        dead: named
            .into_iter()
            .map(|item| letter(item, refusal))
            .collect(),
        retry: if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest]
        },
    }
}

fn letter(entry: Encoded, refusal: &Refusal) -> DeadLetter {
    DeadLetter {
        reason: refusal.reason_for(entry.item.id().as_str()),
        status: refusal.status,
        item: entry.item,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use confsync_core::document::Delete;

    use super::*;
    use crate::batch::BatchItem;

    fn item(n: u32) -> BatchItem {
        let delete: Delete = serde_json::from_value(serde_json::json!({
            "id": format!("confluence:c:page:{n}"),
            "tenant_id": "t",
            "deleted_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        BatchItem::Delete(delete)
    }

    fn delete(n: u32) -> Encoded {
        Encoded::new(item(n))
    }

    fn ids(entries: &[Encoded]) -> Vec<&str> {
        entries.iter().map(|e| e.item.id().as_str()).collect()
    }

    fn refusal(status: u16, named: &[(&str, &str)]) -> Refusal {
        Refusal {
            status,
            reason: "refused".into(),
            named: named
                .iter()
                .map(|(id, reason)| ((*id).to_owned(), (*reason).to_owned()))
                .collect::<HashMap<_, _>>(),
        }
    }

    #[test]
    fn named_items_become_dead_letters_and_the_rest_is_resent_in_order() {
        let items: Vec<Encoded> = (1..=5).map(delete).collect();
        let out = isolate(
            items,
            &refusal(
                422,
                &[
                    ("confluence:c:page:2", "bad"),
                    ("confluence:c:page:4", "worse"),
                ],
            ),
        );
        assert_eq!(out.dead.len(), 2);
        assert_eq!(out.dead[0].item.id().as_str(), "confluence:c:page:2");
        assert_eq!(out.dead[0].reason, "bad");
        assert_eq!(out.dead[1].reason, "worse");
        assert_eq!(out.dead[1].status, 422);
        assert_eq!(out.retry.len(), 1);
        assert_eq!(
            ids(&out.retry[0]),
            [
                "confluence:c:page:1",
                "confluence:c:page:3",
                "confluence:c:page:5"
            ]
        );
    }

    #[test]
    fn without_names_the_batch_is_cut_in_two_halves_in_order() {
        let items: Vec<Encoded> = (1..=5).map(delete).collect();
        let out = isolate(
            items,
            &refusal(413, &[("confluence:c:page:99", "not ours")]),
        );
        assert!(out.dead.is_empty());
        assert_eq!(out.retry.iter().map(Vec::len).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            ids(&out.retry[0]),
            ["confluence:c:page:1", "confluence:c:page:2"]
        );
    }

    #[test]
    fn a_single_refused_item_is_a_dead_letter_with_the_batch_reason() {
        let out = isolate(vec![delete(1)], &refusal(413, &[]));
        assert_eq!(out.dead.len(), 1);
        assert_eq!(out.dead[0].reason, "refused");
        assert_eq!(
            out.dead[0].item,
            item(1),
            "the dead letter carries the item"
        );
        assert!(out.retry.is_empty());
    }

    #[test]
    fn every_item_comes_out_exactly_once_and_batches_shrink() {
        for n in 0..12u32 {
            for named in [vec![], vec![0], vec![0, n.saturating_sub(1)]] {
                let items: Vec<Encoded> = (0..n).map(delete).collect();
                let names: Vec<(String, &str)> = named
                    .iter()
                    .map(|i| (format!("confluence:c:page:{i}"), "x"))
                    .collect();
                let names: Vec<(&str, &str)> =
                    names.iter().map(|(id, r)| (id.as_str(), *r)).collect();
                let out = isolate(items, &refusal(422, &names));
                let mut seen: Vec<String> = out
                    .dead
                    .iter()
                    .map(|d| d.item.id().to_string())
                    .chain(out.retry.iter().flatten().map(|e| e.item.id().to_string()))
                    .collect();
                seen.sort();
                let mut expected: Vec<String> =
                    (0..n).map(|i| format!("confluence:c:page:{i}")).collect();
                expected.sort();
                assert_eq!(seen, expected, "n = {n}, named = {named:?}");
                assert!(
                    out.retry
                        .iter()
                        .all(|b| !b.is_empty() && b.len() < n as usize)
                );
            }
        }
    }
}
