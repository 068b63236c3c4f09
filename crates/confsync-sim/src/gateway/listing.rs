//! Keyset pagination over in-memory slices: filter, order by (sort key, id),
//! start strictly after the cursor position, take `limit`, and report whether
//! more follow.
//!
//! Generic over the item type; knows nothing about JSON or HTTP. One pass,
//! O(n) per page plus O(limit log limit) to order the page.

use std::cmp::Ordering;

use crate::gateway::cursor::KeyValue;

/// A sort key borrowed from an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SortKey<'a> {
    Int(i64),
    Str(&'a str),
}

impl SortKey<'_> {
    pub(crate) fn to_value(self) -> KeyValue {
        match self {
            SortKey::Int(v) => KeyValue::Int(v),
            SortKey::Str(s) => KeyValue::Str(s.to_owned()),
        }
    }
}

fn key_cmp(a: SortKey<'_>, b: &KeyValue) -> Option<Ordering> {
    match (a, b) {
        (SortKey::Int(x), KeyValue::Int(y)) => Some(x.cmp(y)),
        (SortKey::Str(x), KeyValue::Str(y)) => Some(x.cmp(y.as_str())),
        _ => None,
    }
}

/// One page of results.
#[derive(Debug)]
pub(crate) struct PageOf<'a, T> {
    pub items: Vec<&'a T>,
    /// More items follow the last one.
    pub more: bool,
}

/// Selects the page after `after` (keyset position), ordered by
/// (key, id) ascending or descending. `None` from `after` comparison (a
/// cursor of another key type) is treated as "before everything".
pub(crate) fn select<'a, T>(
    items: impl Iterator<Item = &'a T>,
    id: impl Fn(&T) -> u64,
    key: impl Fn(&'a T) -> SortKey<'a>,
    desc: bool,
    after: Option<(&KeyValue, u64)>,
    limit: usize,
) -> PageOf<'a, T> {
    let order = |a: &(SortKey<'a>, u64, &'a T), b: &(SortKey<'a>, u64, &'a T)| {
        let o = a.0.cmp(&b.0).then(a.1.cmp(&b.1));
        if desc { o.reverse() } else { o }
    };
    let is_after = |k: SortKey<'_>, i: u64| match after {
        None => true,
        Some((value, last_id)) => {
            let o = key_cmp(k, value)
                .unwrap_or(Ordering::Greater)
                .then(i.cmp(&last_id));
            let o = if desc { o.reverse() } else { o };
            o == Ordering::Greater
        }
    };
    let mut candidates: Vec<(SortKey<'a>, u64, &'a T)> = items
        .map(|item| (key(item), id(item), item))
        .filter(|(k, i, _)| is_after(*k, *i))
        .collect();
    let more = candidates.len() > limit;
    if more {
        candidates.select_nth_unstable_by(limit, order);
        candidates.truncate(limit);
    }
    candidates.sort_unstable_by(order);
    PageOf {
        items: candidates.into_iter().map(|(_, _, item)| item).collect(),
        more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_everything_once_in_both_directions() {
        let items: Vec<(u64, i64)> = (1..=103).map(|i| (i, (i % 7) as i64)).collect();
        for desc in [false, true] {
            let mut seen = Vec::new();
            let mut after: Option<(KeyValue, u64)> = None;
            loop {
                let page = select(
                    items.iter(),
                    |x| x.0,
                    |x| SortKey::Int(x.1),
                    desc,
                    after.as_ref().map(|(v, i)| (v, *i)),
                    10,
                );
                seen.extend(page.items.iter().map(|x| x.0));
                let last = page.items.last().unwrap();
                after = Some((KeyValue::Int(last.1), last.0));
                if !page.more {
                    break;
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, (1..=103).collect::<Vec<_>>());
        }
    }

    #[test]
    fn order_is_key_then_id() {
        let items = [(3u64, "b"), (1, "b"), (2, "a")];
        let page = select(items.iter(), |x| x.0, |x| SortKey::Str(x.1), true, None, 10);
        let ids: Vec<u64> = page.items.iter().map(|x| x.0).collect();
        assert_eq!(ids, [3, 1, 2]);
    }
}
