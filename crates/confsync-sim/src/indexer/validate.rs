//! Schema-v1 validation of an indexer batch (DESIGN.md section 6), done on the
//! raw JSON so the simulator checks what confsync sends independently of the
//! daemon's own types.
//!
//! Pure: takes a `serde_json::Value`, returns the problems found. It never
//! panics on any JSON.

use serde::Serialize;
use serde_json::{Map, Value};

/// One thing wrong with a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `upserts` or `deletes`.
    pub list: &'static str,
    pub index: usize,
    pub id: Option<String>,
    pub field: String,
    pub message: String,
}

const KINDS: &[&str] = &["page", "blogpost", "footer_comment", "inline_comment"];

/// The batch's upserts and deletes, or every problem found.
pub(crate) fn validate(batch: &Value) -> Result<(Vec<&Value>, Vec<&Value>), Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(object) = batch.as_object() else {
        return Err(vec![top("body", "the body must be a JSON object")]);
    };
    if let Some(extra) = object.keys().find(|k| *k != "upserts" && *k != "deletes") {
        problems.push(top(extra, "unknown top-level field"));
    }
    let list = |name: &'static str, problems: &mut Vec<Problem>| -> Vec<&Value> {
        match object.get(name) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(_) => {
                problems.push(top(name, "must be an array"));
                Vec::new()
            }
        }
    };
    let upserts = list("upserts", &mut problems);
    let deletes = list("deletes", &mut problems);
    if !object.contains_key("upserts") && !object.contains_key("deletes") {
        problems.push(top("body", "upserts or deletes is required"));
    }
    for (index, doc) in upserts.iter().enumerate() {
        check_upsert(index, doc, &mut problems);
    }
    for (index, delete) in deletes.iter().enumerate() {
        check_delete(index, delete, &mut problems);
    }
    if problems.is_empty() {
        Ok((upserts, deletes))
    } else {
        Err(problems)
    }
}

fn top(field: &str, message: &str) -> Problem {
    Problem {
        list: "batch",
        index: 0,
        id: None,
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// Collects the problems of one item.
struct Item<'a> {
    list: &'static str,
    index: usize,
    id: Option<String>,
    fields: Option<&'a Map<String, Value>>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Item<'a> {
    fn new(
        list: &'static str,
        index: usize,
        value: &'a Value,
        problems: &'a mut Vec<Problem>,
    ) -> Self {
        let fields = value.as_object();
        let id = fields
            .and_then(|f| f.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut item = Item {
            list,
            index,
            id,
            fields,
            problems,
        };
        if item.fields.is_none() {
            item.problem("", "must be a JSON object");
        }
        item
    }

    fn problem(&mut self, field: &str, message: &str) {
        self.problems.push(Problem {
            list: self.list,
            index: self.index,
            id: self.id.clone(),
            field: field.to_owned(),
            message: message.to_owned(),
        });
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.fields.and_then(|f| f.get(field))
    }

    fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
            Some(Value::String(_)) => {
                self.problem(field, "must not be empty");
                None
            }
            Some(_) => {
                self.problem(field, "must be a string");
                None
            }
            None => {
                self.problem(field, "is required");
                None
            }
        }
    }

    /// A string that may be empty (content, titles of odd pages).
    fn any_string(&mut self, field: &str) {
        if !matches!(self.get(field), Some(Value::String(_))) {
            self.problem(field, "must be a string");
        }
    }

    fn nullable_object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        match self.get(field) {
            Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                self.problem(field, "must be an object or null");
                None
            }
            None => {
                self.problem(field, "is required (null allowed)");
                None
            }
        }
    }

    fn timestamp(&mut self, field: &str) {
        if let Some(value) = self.string(field)
            && chrono::DateTime::parse_from_rfc3339(value).is_err()
        {
            self.problem(field, "must be an RFC 3339 timestamp");
        }
    }

    fn string_array(&mut self, field: &str) {
        match self.get(field) {
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            _ => self.problem(field, "must be an array of strings"),
        }
    }
}

/// `confluence:{cloud}:{page|blogpost|comment}:{digits}` → (cloud, segment).
pub(crate) fn parse_document_id(id: &str) -> Option<(&str, &str)> {
    let mut parts = id.split(':');
    let (source, cloud, segment, content) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let ok = source == "confluence"
        && parts.next().is_none()
        && !cloud.is_empty()
        && cloud
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && matches!(segment, "page" | "blogpost" | "comment")
        && !content.is_empty()
        && content.bytes().all(|b| b.is_ascii_digit());
    ok.then_some((cloud, segment))
}

fn check_upsert(index: usize, doc: &Value, problems: &mut Vec<Problem>) {
    let mut item = Item::new("upserts", index, doc, problems);
    if item.fields.is_none() {
        return;
    }
    let id_parts = item.string("id").and_then(|id| {
        let parts = parse_document_id(id);
        if parts.is_none() {
            item.problem(
                "id",
                "must be confluence:{cloud_id}:{page|blogpost|comment}:{content_id}",
            );
        }
        parts
    });
    if item.get("schema_version").and_then(Value::as_u64) != Some(1) {
        item.problem("schema_version", "must be 1");
    }
    item.string("tenant_id");
    item.string("grant_id");
    if item.string("source").is_some_and(|s| s != "confluence") {
        item.problem("source", "must be \"confluence\"");
    }
    let kind = item.string("kind");
    if let Some(kind) = kind {
        if !KINDS.contains(&kind) {
            item.problem(
                "kind",
                "must be page, blogpost, footer_comment or inline_comment",
            );
        }
        let expected = if kind.ends_with("_comment") {
            "comment"
        } else {
            kind
        };
        if id_parts.is_some_and(|(_, segment)| segment != expected) {
            item.problem("kind", "does not match the id's content segment");
        }
    }
    check_site(&mut item, id_parts.map(|(cloud, _)| cloud));
    if let Some(space) = item.nullable_object("space") {
        for key in ["id", "key", "name"] {
            if !space.get(key).is_some_and(Value::is_string) {
                item.problem(&format!("space.{key}"), "must be a string");
            }
        }
    }
    item.any_string("title");
    if let Some(url) = item.string("url") {
        let absolute = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !absolute {
            item.problem("url", "must be an absolute http(s) URL");
        }
    }
    match item.get("parent_id") {
        Some(Value::Null) => {}
        Some(Value::String(p)) if parse_document_id(p).is_some() => {}
        _ => item.problem("parent_id", "must be a document id or null"),
    }
    item.string_array("breadcrumbs");
    item.string_array("labels");
    if let Some(author) = item.nullable_object("author") {
        if !author.get("account_id").is_some_and(Value::is_string) {
            item.problem("author.account_id", "must be a string");
        }
        if !author
            .get("display_name")
            .is_some_and(|v| v.is_string() || v.is_null())
        {
            item.problem("author.display_name", "must be a string or null");
        }
    }
    item.timestamp("created_at");
    item.timestamp("updated_at");
    if item
        .get("version")
        .and_then(Value::as_u64)
        .is_none_or(|v| v == 0)
    {
        item.problem("version", "must be a positive integer");
    }
    if !matches!(item.string("status"), Some("current" | "archived") | None) {
        item.problem("status", "must be current or archived");
    }
    item.any_string("content_markdown");
    if let Some(hash) = item.string("content_sha256")
        && (hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    {
        item.problem("content_sha256", "must be 64 lowercase hex characters");
    }
    check_comment(&mut item, kind);
}

fn check_site(item: &mut Item<'_>, id_cloud: Option<&str>) {
    let Some(site) = item.get("site").and_then(Value::as_object) else {
        item.problem("site", "must be an object {cloud_id, url, name}");
        return;
    };
    for key in ["cloud_id", "url", "name"] {
        if !site.get(key).is_some_and(Value::is_string) {
            item.problem(&format!("site.{key}"), "must be a string");
        }
    }
    let cloud = site.get("cloud_id").and_then(Value::as_str);
    if let (Some(cloud), Some(id_cloud)) = (cloud, id_cloud)
        && cloud != id_cloud
    {
        item.problem("site.cloud_id", "does not match the id's cloud id");
    }
}

fn check_comment(item: &mut Item<'_>, kind: Option<&str>) {
    let is_comment = kind.is_some_and(|k| k.ends_with("_comment"));
    match item.get("comment") {
        Some(Value::Null) => {}
        Some(Value::Object(c)) if is_comment => {
            for key in ["resolution_status", "quoted_text"] {
                if !c.get(key).is_some_and(|v| v.is_string() || v.is_null()) {
                    item.problem(&format!("comment.{key}"), "must be a string or null");
                }
            }
        }
        Some(Value::Object(_)) => item.problem("comment", "must be null for pages and blog posts"),
        _ => item.problem("comment", "is required (null allowed)"),
    }
}

fn check_delete(index: usize, value: &Value, problems: &mut Vec<Problem>) {
    let mut item = Item::new("deletes", index, value, problems);
    if item.fields.is_none() {
        return;
    }
    if let Some(id) = item.string("id")
        && parse_document_id(id).is_none()
    {
        item.problem(
            "id",
            "must be confluence:{cloud_id}:{page|blogpost|comment}:{content_id}",
        );
    }
    item.string("tenant_id");
    item.timestamp("deleted_at");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn good_doc() -> Value {
        json!({
            "id": "confluence:c-1:page:42", "schema_version": 1, "tenant_id": "t", "grant_id": "g",
            "source": "confluence", "kind": "page",
            "site": {"cloud_id": "c-1", "url": "https://x.atlassian.net", "name": "X"},
            "space": {"id": "1", "key": "K", "name": "N"}, "title": "T",
            "url": "https://x.atlassian.net/wiki/spaces/K/pages/42/T", "parent_id": null,
            "breadcrumbs": [], "labels": ["a"], "author": {"account_id": "a1", "display_name": null},
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-02T00:00:00.123Z",
            "version": 3, "status": "current", "content_markdown": "# T",
            "content_sha256": "a".repeat(64), "comment": null
        })
    }

    #[test]
    fn a_good_batch_passes() {
        let batch = json!({"upserts": [good_doc()], "deletes": [
            {"id": "confluence:c-1:comment:7", "tenant_id": "t", "deleted_at": "2025-01-01T00:00:00Z"}
        ]});
        let (upserts, deletes) = validate(&batch).unwrap();
        assert_eq!((upserts.len(), deletes.len()), (1, 1));
    }

    #[test]
    fn each_broken_field_is_named() {
        let cases = [
            ("id", json!("confluence:c-1:page:abc")),
            ("schema_version", json!(2)),
            ("kind", json!("comment")),
            ("url", json!("/wiki/spaces/K")),
            ("content_sha256", json!("ABC")),
            ("created_at", json!("yesterday")),
            ("status", json!("trashed")),
            (
                "comment",
                json!({"resolution_status": null, "quoted_text": null}),
            ),
        ];
        for (field, value) in cases {
            let mut doc = good_doc();
            doc[field] = value;
            let problems = validate(&json!({"upserts": [doc]})).unwrap_err();
            assert!(
                problems.iter().any(|p| p.field == field),
                "{field}: {problems:?}"
            );
        }
        assert!(validate(&json!([1])).is_err());
        assert!(validate(&json!({"upserts": {}})).is_err());
    }
}
