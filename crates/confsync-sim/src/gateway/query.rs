//! Query-string parsing and validation for the Confluence endpoints: repeated
//! and comma-separated parameters, `limit`, `sort`, `status`, `body-format`,
//! id lists, with Atlassian's 400 bodies for bad values.
//!
//! Never panics on hostile input: every value is parsed, bounded and either
//! accepted or turned into an [`ApiError`].

use crate::gateway::ApiError;
use crate::site::Status;

/// Atlassian's default and maximum page sizes.
pub(crate) const DEFAULT_LIMIT: usize = 25;
pub(crate) const MAX_LIMIT: usize = 250;

#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: &str) -> Self {
        Query {
            pairs: url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, also split on commas.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// `limit`: 1..=`max`, `default` when absent.
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.first("limit") {
            None => Ok(default),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| type_error(raw, "limit", "LimitedPageSize")),
        }
    }

    /// `sort`, one of `allowed` (each also with a leading `-`).
    pub(crate) fn sort(&self, allowed: &[&str], type_name: &str) -> Result<Option<Sort>, ApiError> {
        let Some(raw) = self.first("sort") else {
            return Ok(None);
        };
        let (desc, field) = match raw.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, raw),
        };
        if !allowed.contains(&field) {
            return Err(type_error(raw, "sort", type_name));
        }
        let field = match field {
            "id" => SortField::Id,
            "created-date" => SortField::Created,
            "modified-date" => SortField::Modified,
            "title" => SortField::Title,
            "key" => SortField::Key,
            "name" => SortField::Name,
            _ => return Err(type_error(raw, "sort", type_name)),
        };
        Ok(Some(Sort { field, desc }))
    }

    /// The repeated `status` filter: each value must be in `allowed`;
    /// `default` when absent. `deleted` maps to purged content.
    pub(crate) fn statuses(
        &self,
        allowed: &[&str],
        default: &[Status],
    ) -> Result<Vec<Status>, ApiError> {
        let values = self.values("status");
        if values.is_empty() {
            return match self.first("status") {
                // Present but empty: not a valid status.
                Some(raw) => Err(type_error(raw, "status", "ContentStatus")),
                None => Ok(default.to_vec()),
            };
        }
        let mut statuses = Vec::new();
        for value in values {
            if !allowed.contains(&value) {
                return Err(type_error(value, "status", "ContentStatus"));
            }
            let status = match value {
                "current" => Some(Status::Current),
                "archived" => Some(Status::Archived),
                "trashed" => Some(Status::Trashed),
                "deleted" => Some(Status::Purged),
                // historical and draft: valid values that match nothing here.
                _ => None,
            };
            statuses.extend(status);
        }
        Ok(statuses)
    }

    pub(crate) fn body_format(&self, allowed: &[&str]) -> Result<Option<BodyFormat>, ApiError> {
        match self.first("body-format") {
            None => Ok(None),
            Some(raw) if !allowed.contains(&raw) => {
                Err(type_error(raw, "body-format", "PrimaryBodyRepresentation"))
            }
            Some("atlas_doc_format") => Ok(Some(BodyFormat::AtlasDocFormat)),
            Some("storage") => Ok(Some(BodyFormat::Storage)),
            Some(other) => Ok(Some(BodyFormat::View(other.to_owned()))),
        }
    }

    /// A list of integer ids (`id`, `space-id`, `ids`): at most `max`.
    pub(crate) fn ids(&self, name: &str, max: usize) -> Result<Vec<u64>, ApiError> {
        let values = self.values(name);
        if values.len() > max {
            return Err(ApiError::bad_request(&format!(
                "'{name}' accepts at most {max} values"
            )));
        }
        values
            .into_iter()
            .map(|v| v.parse::<u64>().map_err(|_| type_error(v, name, "Long")))
            .collect()
    }

    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.first(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(type_error(other, name, "Boolean")),
        }
    }
}

fn type_error(value: &str, name: &str, type_name: &str) -> ApiError {
    // Echoing hostile input back is harmless in JSON, but keep it short.
    let shown: String = value.chars().take(100).collect();
    ApiError::bad_request(&format!(
        "Provided value {{{shown}}} for '{name}' is not the correct type. Expected type is {type_name}"
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortField {
    Id,
    Created,
    Modified,
    Title,
    Key,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort {
    pub field: SortField,
    pub desc: bool,
}

impl Sort {
    pub(crate) const ID: Sort = Sort {
        field: SortField::Id,
        desc: false,
    };

    /// The `sort` parameter value that selects this order.
    pub(crate) fn name(self) -> String {
        let field = match self.field {
            SortField::Id => "id",
            SortField::Created => "created-date",
            SortField::Modified => "modified-date",
            SortField::Title => "title",
            SortField::Key => "key",
            SortField::Name => "name",
        };
        if self.desc {
            format!("-{field}")
        } else {
            field.to_owned()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    Storage,
    AtlasDocFormat,
    /// `view`, `export_view`, …: single-item endpoints only; served from the
    /// storage body (a simplification).
    View(String),
}

impl BodyFormat {
    pub(crate) fn key(&self) -> &str {
        match self {
            BodyFormat::Storage => "storage",
            BodyFormat::AtlasDocFormat => "atlas_doc_format",
            BodyFormat::View(name) => name,
        }
    }
}

/// `body-format` values of list endpoints.
pub(crate) const LIST_FORMATS: &[&str] = &["storage", "atlas_doc_format"];
/// `body-format` values of single-item endpoints.
pub(crate) const SINGLE_FORMATS: &[&str] = &[
    "storage",
    "atlas_doc_format",
    "view",
    "export_view",
    "anonymous_export_view",
    "styled_view",
    "editor",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_rejects_zero_too_large_and_junk() {
        assert_eq!(Query::parse("").limit(25, 250).unwrap(), 25);
        assert_eq!(Query::parse("limit=250").limit(25, 250).unwrap(), 250);
        for bad in [
            "limit=0",
            "limit=251",
            "limit=abc",
            "limit=-1",
            "limit=%FF",
            "limit=",
        ] {
            assert!(Query::parse(bad).limit(25, 250).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_is_repeatable_and_validated() {
        let q = Query::parse("status=current&status=trashed");
        let allowed = ["current", "archived", "trashed", "deleted"];
        assert_eq!(
            q.statuses(&allowed, &[]).unwrap(),
            vec![Status::Current, Status::Trashed]
        );
        assert!(
            Query::parse("status=draft")
                .statuses(&allowed, &[])
                .is_err()
        );
        assert_eq!(
            Query::parse("")
                .statuses(&allowed, &[Status::Current])
                .unwrap(),
            vec![Status::Current]
        );
    }

    #[test]
    fn sort_accepts_descending_and_rejects_unknown() {
        let s = Query::parse("sort=-modified-date")
            .sort(&["id", "modified-date"], "PageSortOrder")
            .unwrap()
            .unwrap();
        assert_eq!((s.field, s.desc), (SortField::Modified, true));
        assert!(Query::parse("sort=title").sort(&["id"], "X").is_err());
        assert!(Query::parse("sort=--id").sort(&["id"], "X").is_err());
    }
}
