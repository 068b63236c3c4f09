//! Wire models of the Confluence Cloud JSON the crawler reads: REST v2
//! pages, blog posts, spaces, footer and inline comments, labels, the list
//! envelope, and the v1 user.
//!
//! These are Atlassian's shapes, kept explicit and separate from the domain
//! [`Document`](crate::document::Document): lenient on input (unknown fields
//! ignored, optional fields `Option`, ids as strings even when sent as
//! numbers, a malformed date read as absent), and never used for anything
//! but reading. Building documents from them is [`crate::build`]'s job.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A page of a v2 listing: `{"results": [...], "_links": {"next", "base"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct ListResponse<T> {
    #[serde(default)]
    pub results: Vec<T>,
    #[serde(default, rename = "_links")]
    pub links: ListLinks,
}

/// `_links` of a listing. `next` is relative to the site and already starts
/// with `/wiki`; follow it verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ListLinks {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub base: Option<String>,
}

/// Content status as Atlassian sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Current,
    Archived,
    Trashed,
    Deleted,
    Draft,
    Historical,
    /// A status this version of confsync does not know.
    #[serde(other)]
    Other,
}

/// `version` of a page, blog post or comment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub number: u64,
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub author_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub minor_edit: Option<bool>,
}

/// `body`: present only when the request asked for a `body-format`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Body {
    #[serde(default)]
    pub storage: Option<BodyValue>,
    #[serde(default)]
    pub atlas_doc_format: Option<BodyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BodyValue {
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub representation: Option<String>,
}

/// `_links` of one item. `webui` is relative to the site's `/wiki` base;
/// `base` is only present on single-item responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ContentLinks {
    #[serde(default)]
    pub webui: Option<String>,
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub tinyui: Option<String>,
}

/// A page, from `GET /pages`, `/spaces/{id}/pages` or `/pages/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub space_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub parent_id: Option<String>,
    /// `page`, `folder`, `whiteboard`, `database`, `embed`...
    #[serde(default)]
    pub parent_type: Option<String>,
    #[serde(default)]
    pub author_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: Option<Version>,
    #[serde(default)]
    pub body: Option<Body>,
    #[serde(default, rename = "_links")]
    pub links: ContentLinks,
}

/// A blog post, from `GET /blogposts` or `/spaces/{id}/blogposts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlogPost {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub space_id: Option<String>,
    #[serde(default)]
    pub author_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: Option<Version>,
    #[serde(default)]
    pub body: Option<Body>,
    #[serde(default, rename = "_links")]
    pub links: ContentLinks,
}

/// A space, from `GET /spaces`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Space {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub name: String,
    /// `global`, `personal`, `knowledge_base`...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default, rename = "_links")]
    pub links: ContentLinks,
}

/// A footer comment, from `GET /footer-comments`, `/pages/{id}/footer-comments`
/// or `/footer-comments/{id}/children`. A reply may name only its parent
/// comment, not its page: resolve the page through the parent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FooterComment {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub page_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub blog_post_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub parent_comment_id: Option<String>,
    #[serde(default)]
    pub version: Option<Version>,
    #[serde(default)]
    pub body: Option<Body>,
    #[serde(default, rename = "_links")]
    pub links: ContentLinks,
}

/// An inline comment: a footer comment anchored to a text selection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineComment {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub page_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub blog_post_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub parent_comment_id: Option<String>,
    /// `open`, `resolved`, `reopened` or `dangling`.
    #[serde(default)]
    pub resolution_status: Option<String>,
    #[serde(default)]
    pub properties: InlineProperties,
    #[serde(default)]
    pub version: Option<Version>,
    #[serde(default)]
    pub body: Option<Body>,
    #[serde(default, rename = "_links")]
    pub links: ContentLinks,
}

/// `properties` of an inline comment. Atlassian has been seen sending the
/// camelCase keys, the kebab-case keys, or both; either fills the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "RawInlineProperties")]
pub struct InlineProperties {
    /// The page text the comment is anchored to.
    pub inline_original_selection: Option<String>,
    pub inline_marker_ref: Option<String>,
}

#[derive(Deserialize)]
struct RawInlineProperties {
    #[serde(default, rename = "inlineOriginalSelection")]
    camel_selection: Option<String>,
    #[serde(default, rename = "inline-original-selection")]
    kebab_selection: Option<String>,
    #[serde(default, rename = "inlineMarkerRef")]
    camel_marker: Option<String>,
    #[serde(default, rename = "inline-marker-ref")]
    kebab_marker: Option<String>,
}

impl From<RawInlineProperties> for InlineProperties {
    fn from(raw: RawInlineProperties) -> Self {
        InlineProperties {
            inline_original_selection: raw.camel_selection.or(raw.kebab_selection),
            inline_marker_ref: raw.camel_marker.or(raw.kebab_marker),
        }
    }
}

/// A label, from `GET /pages/{id}/labels`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub name: String,
    /// `global`, `my`, `team`.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A user, from v1 `GET /wiki/rest/api/user?accountId=` (and `/user/bulk`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub account_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub public_name: Option<String>,
    /// `atlassian`, `app`, `customer`.
    #[serde(default)]
    pub account_type: Option<String>,
    /// `known`, `unknown`, `anonymous`, `user`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl User {
    /// The name to show: the display name, else the public name.
    pub fn name(&self) -> Option<&str> {
        usable(self.display_name.as_deref()).or_else(|| usable(self.public_name.as_deref()))
    }
}

fn usable(name: Option<&str>) -> Option<&str> {
    name.map(str::trim).filter(|n| !n.is_empty())
}

/// A JSON string or number, as a string (ids are strings in v2, numbers in
/// some older payloads).
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

impl From<StringOrNumber> for String {
    fn from(value: StringOrNumber) -> String {
        match value {
            StringOrNumber::String(s) => s,
            StringOrNumber::Number(n) => n.to_string(),
        }
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    StringOrNumber::deserialize(deserializer).map(String::from)
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(deserializer)?.map(String::from))
}

/// An RFC 3339 timestamp; anything else (null, garbage) reads as absent so
/// one odd field does not fail a whole page of results.
fn lenient_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_and_numeric_ids_are_accepted() {
        let page: Page = serde_json::from_str(
            r#"{"id": 42, "status": "someday", "title": "t", "parentId": 7, "createdAt": "not a date"}"#,
        )
        .unwrap();
        assert_eq!(page.id, "42");
        assert_eq!(page.parent_id.as_deref(), Some("7"));
        assert_eq!(page.status, Status::Other);
        assert_eq!(page.created_at, None);
    }

    #[test]
    fn inline_properties_accept_either_spelling() {
        let kebab: InlineProperties =
            serde_json::from_str(r#"{"inline-original-selection": "sel"}"#).unwrap();
        assert_eq!(kebab.inline_original_selection.as_deref(), Some("sel"));
        let both: InlineProperties = serde_json::from_str(
            r#"{"inlineOriginalSelection": "camel", "inline-original-selection": "kebab"}"#,
        )
        .unwrap();
        assert_eq!(both.inline_original_selection.as_deref(), Some("camel"));
    }

    #[test]
    fn user_name_prefers_the_display_name() {
        let user: User =
            serde_json::from_str(r#"{"accountId": "a", "displayName": " ", "publicName": "Pub"}"#)
                .unwrap();
        assert_eq!(user.name(), Some("Pub"));
    }
}
