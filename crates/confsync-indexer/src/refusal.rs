//! Reading a refusal (400, 413, 422): which documents the indexer named, and a
//! short, printable reason for each dead letter.
//!
//! The body comes from outside: any bytes give an answer, nothing here panics,
//! and every string kept is bounded. Reasons are stored with dead letters,
//! never logged (an indexer may quote a document's fields in them).

use std::collections::HashMap;

use serde_json::Value;

/// Longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 200;

/// A refusal of a whole batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    /// The batch-level reason: the body's `error` (and `message`), or its text.
    pub reason: String,
    /// Document id → reason, for the documents the body names: 422
    /// `{"rejected": [{"id", "reason"}]}` and 400 `{"problems": [{"id", "field", "message"}]}`.
    pub named: HashMap<String, String>,
}

impl Refusal {
    pub(crate) fn parse(status: u16, body: &[u8]) -> Refusal {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let reason = json
            .as_ref()
            .and_then(error_summary)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        let reason = bounded(&reason);
        Refusal {
            status,
            reason: if reason.is_empty() {
                format!("http {status}")
            } else {
                reason
            },
            named: json.as_ref().map(named_ids).unwrap_or_default(),
        }
    }

    /// The reason to record for one document of the refused batch.
    pub(crate) fn reason_for(&self, id: &str) -> String {
        self.named
            .get(id)
            .cloned()
            .unwrap_or_else(|| self.reason.clone())
    }
}

/// `error`, with `: message` when there is one.
fn error_summary(json: &Value) -> Option<String> {
    let error = json.get("error")?.as_str()?;
    Some(match json.get("message").and_then(Value::as_str) {
        Some(message) => format!("{error}: {message}"),
        None => error.to_owned(),
    })
}

fn named_ids(json: &Value) -> HashMap<String, String> {
    let mut named: HashMap<String, String> = HashMap::new();
    let entries = |list: &str| {
        json.get(list)
            .and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| Some((entry.get("id")?.as_str()?, entry)))
            .collect::<Vec<_>>()
    };
    for (id, entry) in entries("rejected") {
        let reason = entry
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("rejected");
        add_reason(&mut named, id, reason);
    }
    for (id, entry) in entries("problems") {
        let text = |f: &str| entry.get(f).and_then(Value::as_str).unwrap_or_default();
        let reason = match (text("field"), text("message")) {
            ("", "") => "invalid".to_owned(),
            ("", message) => message.to_owned(),
            (field, message) => format!("{field}: {message}"),
        };
        add_reason(&mut named, id, &reason);
    }
    named
}

fn add_reason(named: &mut HashMap<String, String>, id: &str, reason: &str) {
    let entry = named.entry(id.to_owned()).or_default();
    if !entry.is_empty() {
        entry.push_str("; ");
    }
    entry.push_str(reason);
    *entry = bounded(entry);
}

/// At most [`MAX_REASON_CHARS`] characters, control characters as spaces,
/// trimmed: fit for a one-line admin API field.
fn bounded(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_REASON_CHARS).is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_422_names_the_rejected_documents() {
        let body = br#"{"error": "rejected_documents", "rejected": [
            {"id": "confluence:c:page:1", "reason": "rejected by the indexer"},
            {"id": "confluence:c:page:2"}, {"reason": "no id"}, {"id": 7}]}"#;
        let refusal = Refusal::parse(422, body);
        assert_eq!(refusal.reason, "rejected_documents");
        assert_eq!(refusal.named.len(), 2, "{:?}", refusal.named);
        assert_eq!(
            refusal.reason_for("confluence:c:page:1"),
            "rejected by the indexer"
        );
        assert_eq!(refusal.reason_for("confluence:c:page:2"), "rejected");
        assert_eq!(refusal.reason_for("other"), "rejected_documents");
    }

    #[test]
    fn a_400_names_the_invalid_documents_with_every_problem() {
        let body = br#"{"error": "invalid_batch", "problems": [
            {"list": "upserts", "index": 0, "id": "confluence:c:page:1", "field": "url", "message": "must be absolute"},
            {"list": "upserts", "index": 0, "id": "confluence:c:page:1", "field": "version", "message": "must be positive"},
            {"list": "batch", "index": 0, "id": null, "field": "body", "message": "x"}]}"#;
        let refusal = Refusal::parse(400, body);
        assert_eq!(
            refusal.named.get("confluence:c:page:1").map(String::as_str),
            Some("url: must be absolute; version: must be positive")
        );
        assert_eq!(refusal.named.len(), 1);
    }

    #[test]
    fn any_body_gives_a_bounded_printable_reason() {
        assert_eq!(Refusal::parse(413, b"").reason, "http 413");
        assert_eq!(
            Refusal::parse(413, br#"{"error":"payload_too_large","max_bytes":10}"#).reason,
            "payload_too_large"
        );
        assert_eq!(
            Refusal::parse(400, br#"{"error":"invalid_json","message":"eof"}"#).reason,
            "invalid_json: eof"
        );
        let hostile = format!("line\r\nbreak\u{0}{}", "é".repeat(1000));
        let refusal = Refusal::parse(400, hostile.as_bytes());
        assert!(
            refusal.reason.starts_with("line  break"),
            "{}",
            refusal.reason
        );
        assert!(!refusal.reason.chars().any(char::is_control));
        assert_eq!(refusal.reason.chars().count(), MAX_REASON_CHARS + 1);
        let invalid_utf8 = Refusal::parse(422, &[0xff, 0xfe, b'x']);
        assert!(invalid_utf8.named.is_empty());
        assert!(invalid_utf8.reason.ends_with('x'));
    }

    #[test]
    fn a_flood_of_problems_for_one_id_stays_bounded() {
        let problems: Vec<Value> = (0..1000)
            .map(|i| serde_json::json!({"id": "d", "field": "f", "message": format!("m{i}")}))
            .collect();
        let body =
            serde_json::to_vec(&serde_json::json!({"problems": problems})).unwrap_or_default();
        let reason = Refusal::parse(400, &body).reason_for("d");
        assert!(reason.chars().count() <= MAX_REASON_CHARS + 1, "{reason}");
    }
}
