//! Opaque pagination cursors and the `next` links that carry them.
//!
//! A cursor is base64 of a small JSON object shaped like Atlassian's
//! (`{"id","contentOrder","contentOrderValue"}`), plus the limit and a hash of
//! the filters it was issued for, so a cursor replayed with another limit,
//! sort or filter is refused. Keyset positions (sort value, id) make paging
//! stable under mutations. No site data here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::gateway::query::Query;

/// The sort value of the last item of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum KeyValue {
    Int(i64),
    Str(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// Id of the last item returned.
    pub id: String,
    #[serde(rename = "contentOrder")]
    pub order: String,
    #[serde(rename = "contentOrderValue")]
    pub value: KeyValue,
    pub limit: usize,
    #[serde(rename = "filterHash")]
    pub filter: String,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn decode(raw: &str) -> Option<Cursor> {
        if raw.len() > 4096 {
            return None;
        }
        let bytes = STANDARD.decode(raw.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn last_id(&self) -> Option<u64> {
        self.id.parse().ok()
    }
}

/// A hash of what a cursor chain is bound to: the path and every parameter
/// except the cursor itself, the limit (checked separately) and the body
/// format (which does not change the order).
pub(crate) fn fingerprint(path: &str, query: &Query) -> String {
    let mut params: Vec<String> = query
        .pairs()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cursor" | "limit" | "body-format"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    params.sort();
    let digest = Sha256::digest(format!("{path}?{}", params.join("&")));
    hex::encode(&digest[..8])
}

/// The site-relative `next` link: `/wiki` + the API path, the cursor first,
/// then the request's other parameters in their order (with `limit` added
/// when the request had none), so the cursor is never the last parameter.
pub(crate) fn next_link(api_path: &str, query: &Query, cursor: &str, limit: usize) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.append_pair("cursor", cursor);
    let mut has_limit = false;
    for (k, v) in query.pairs() {
        if k == "cursor" {
            continue;
        }
        has_limit |= k == "limit";
        out.append_pair(k, v);
    }
    if !has_limit {
        out.append_pair("limit", &limit.to_string());
    }
    format!("/wiki{api_path}?{}", out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            id: "42".into(),
            order: "-modified-date".into(),
            value: KeyValue::Int(1_700_000_000_000),
            limit: 250,
            filter: "ab".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not base64!"), None);
        assert_eq!(Cursor::decode(&STANDARD.encode("{}")), None);
    }

    #[test]
    fn next_link_puts_the_cursor_first_and_keeps_repeated_params() {
        let q = Query::parse("status=current&status=trashed&sort=-modified-date&cursor=old");
        let link = next_link("/api/v2/pages", &q, "a+b/c=", 25);
        assert_eq!(
            link,
            "/wiki/api/v2/pages?cursor=a%2Bb%2Fc%3D&status=current&status=trashed&sort=-modified-date&limit=25"
        );
    }

    #[test]
    fn fingerprint_ignores_order_cursor_and_limit_but_not_filters() {
        let a = fingerprint("/p", &Query::parse("sort=id&status=current&limit=5"));
        let b = fingerprint("/p", &Query::parse("status=current&cursor=x&sort=id"));
        let c = fingerprint("/p", &Query::parse("status=trashed&sort=id"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            a,
            fingerprint("/q", &Query::parse("sort=id&status=current"))
        );
    }
}
