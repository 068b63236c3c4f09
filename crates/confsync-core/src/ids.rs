//! Typed identifiers. Parsed once at the edge (HTTP input, Redis, Atlassian
//! JSON) and trusted inside, so a tenant id can never be passed where a cloud
//! id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string was refused as an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} bytes")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} contains a character outside [A-Za-z0-9._:@-]")]
    BadCharacter { kind: &'static str },
}

/// Longest id we accept from outside. Atlassian's ids are far shorter; the
/// bound keeps hostile input out of Redis keys and logs.
const MAX_ID_LEN: usize = 200;

fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            max: MAX_ID_LEN,
        });
    }
    // Ids end up inside Redis keys (`site:{grant}:{cloud}`) and URLs, so only a
    // conservative character set is allowed.
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(IdError::BadCharacter { kind })
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate($kind, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

string_id!(
    /// An AINexLayer workspace id, opaque to confsync.
    TenantId,
    "tenant id"
);
string_id!(
    /// confsync's id for one OAuth consent (one Atlassian account's token family).
    GrantId,
    "grant id"
);
string_id!(
    /// Atlassian's id of a site (`cloudid` in accessible-resources).
    CloudId,
    "cloud id"
);
string_id!(
    /// Confluence's id of a page, blog post or comment (a decimal string on the wire).
    ContentId,
    "content id"
);
string_id!(
    /// Confluence's id of a space.
    SpaceId,
    "space id"
);
string_id!(
    /// An Atlassian account id.
    AccountId,
    "account id"
);

/// The kinds of content confsync indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Page,
    Blogpost,
    FooterComment,
    InlineComment,
}

impl ContentKind {
    pub const ALL: [ContentKind; 4] = [
        ContentKind::Page,
        ContentKind::Blogpost,
        ContentKind::FooterComment,
        ContentKind::InlineComment,
    ];

    /// The value of the Document's `kind` field and of metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Page => "page",
            ContentKind::Blogpost => "blogpost",
            ContentKind::FooterComment => "footer_comment",
            ContentKind::InlineComment => "inline_comment",
        }
    }

    /// The segment used inside a [`DocumentId`]. Both comment kinds share
    /// `comment`: Confluence comment ids are unique across footer and inline.
    pub fn id_segment(self) -> &'static str {
        match self {
            ContentKind::Page => "page",
            ContentKind::Blogpost => "blogpost",
            ContentKind::FooterComment | ContentKind::InlineComment => "comment",
        }
    }
}

impl fmt::Display for ContentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The indexer's id of a document: `confluence:{cloud_id}:{page|blogpost|comment}:{content_id}`.
///
/// Built only from immutable ids, never from titles or URLs, so a rename or a
/// move keeps the same document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentId(String);

impl DocumentId {
    pub fn new(cloud_id: &CloudId, kind: ContentKind, content_id: &ContentId) -> Self {
        Self(format!(
            "confluence:{cloud_id}:{}:{content_id}",
            kind.id_segment()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Confluence content id inside, when the id has the documented shape.
    pub fn content_id(&self) -> Option<&str> {
        self.0
            .rsplit_once(':')
            .map(|(_, id)| id)
            .filter(|id| !id.is_empty())
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_empty_long_and_hostile_values() {
        assert_eq!(
            TenantId::parse(""),
            Err(IdError::Empty { kind: "tenant id" })
        );
        assert!(matches!(
            CloudId::parse("a".repeat(201)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            GrantId::parse("a b"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            GrantId::parse("x}\r\n"),
            Err(IdError::BadCharacter { .. })
        ));
        assert_eq!(TenantId::parse("acme-01").unwrap().as_str(), "acme-01");
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: CloudId = serde_json::from_str("\"1324a887-45db\"").unwrap();
        assert_eq!(ok.as_str(), "1324a887-45db");
        let err = serde_json::from_str::<CloudId>("\"bad id\"").unwrap_err();
        assert!(err.to_string().contains("cloud id"), "{err}");
    }

    #[test]
    fn document_ids_share_the_comment_segment() {
        let cloud = CloudId::parse("c1").unwrap();
        let id = ContentId::parse("42").unwrap();
        assert_eq!(
            DocumentId::new(&cloud, ContentKind::Page, &id).as_str(),
            "confluence:c1:page:42"
        );
        assert_eq!(
            DocumentId::new(&cloud, ContentKind::InlineComment, &id).as_str(),
            "confluence:c1:comment:42"
        );
        assert_eq!(
            DocumentId::new(&cloud, ContentKind::FooterComment, &id),
            DocumentId::new(&cloud, ContentKind::InlineComment, &id)
        );
    }

    #[test]
    fn a_document_id_gives_back_its_content_id() {
        let cloud = CloudId::parse("c1").unwrap();
        let id = ContentId::parse("42").unwrap();
        let doc = DocumentId::new(&cloud, ContentKind::Blogpost, &id);
        assert_eq!(doc.content_id(), Some("42"));
        let odd: DocumentId = serde_json::from_str("\"no-colon\"").unwrap();
        assert_eq!(odd.content_id(), None);
    }
}
