//! Query parameters of the first request of a listing: `limit`, `sort`,
//! repeated `status`, repeated `space-id` and `body-format`.
//!
//! Only first requests are built here. A listing's later pages come from
//! Atlassian's next links, followed verbatim: nothing in this module may be
//! used to rebuild or amend one.

use std::fmt;

use confsync_core::SpaceId;

/// Items per page: 1..=250 (Atlassian's maximum on every list endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Limit(u32);

impl Limit {
    /// 250: the cheapest in points per object (each request costs 1 point).
    pub const MAX: Limit = Limit(250);

    /// `None` outside 1..=250.
    pub const fn new(value: u32) -> Option<Limit> {
        if value >= 1 && value <= Self::MAX.0 {
            Some(Limit(value))
        } else {
            None
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A sort field. Pages and blog posts accept `id`, `created-date`,
/// `modified-date` and (pages only) `title`; comments `created-date` and
/// `modified-date`; spaces `id`, `key` and `name`. Atlassian answers 400 to
/// the others, which the client reports as a permanent error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    Id,
    CreatedDate,
    ModifiedDate,
    Title,
    Key,
    Name,
}

impl SortField {
    fn as_str(self) -> &'static str {
        match self {
            SortField::Id => "id",
            SortField::CreatedDate => "created-date",
            SortField::ModifiedDate => "modified-date",
            SortField::Title => "title",
            SortField::Key => "key",
            SortField::Name => "name",
        }
    }
}

/// A sort order: a field, ascending or descending (`-field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Sort {
    pub fn asc(field: SortField) -> Sort {
        Sort {
            field,
            descending: false,
        }
    }

    pub fn desc(field: SortField) -> Sort {
        Sort {
            field,
            descending: true,
        }
    }

    fn value(self) -> String {
        let sign = if self.descending { "-" } else { "" };
        format!("{sign}{}", self.field.as_str())
    }
}

/// A `status` filter value. Without any, Atlassian lists `current` and
/// `archived` only: trashed and deleted content must be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFilter {
    Current,
    Archived,
    Trashed,
    Deleted,
    Draft,
    Historical,
}

impl StatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Current => "current",
            StatusFilter::Archived => "archived",
            StatusFilter::Trashed => "trashed",
            StatusFilter::Deleted => "deleted",
            StatusFilter::Draft => "draft",
            StatusFilter::Historical => "historical",
        }
    }
}

/// `body-format`; without it bodies are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyFormat {
    /// Storage XHTML, what the converter reads.
    Storage,
    /// ADF JSON, as a string.
    AtlasDocFormat,
}

impl BodyFormat {
    fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Storage => "storage",
            BodyFormat::AtlasDocFormat => "atlas_doc_format",
        }
    }
}

/// The parameters of a listing's first request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: Limit,
    pub sort: Option<Sort>,
    /// Repeated `status` parameters.
    pub statuses: Vec<StatusFilter>,
    /// Repeated `space-id` parameters (site-wide page and blog post listings).
    pub space_ids: Vec<SpaceId>,
    pub body_format: Option<BodyFormat>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery::new(Limit::MAX)
    }
}

impl ListQuery {
    /// No filter, default sort, no bodies.
    pub fn new(limit: Limit) -> ListQuery {
        ListQuery {
            limit,
            sort: None,
            statuses: Vec::new(),
            space_ids: Vec::new(),
            body_format: None,
        }
    }

    #[must_use]
    pub fn sort(mut self, sort: Sort) -> Self {
        self.sort = Some(sort);
        self
    }

    #[must_use]
    pub fn status(mut self, status: StatusFilter) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    #[must_use]
    pub fn space_id(mut self, space: SpaceId) -> Self {
        self.space_ids.push(space);
        self
    }

    #[must_use]
    pub fn body_format(mut self, format: BodyFormat) -> Self {
        self.body_format = Some(format);
        self
    }

    #[must_use]
    pub fn limit(mut self, limit: Limit) -> Self {
        self.limit = limit;
        self
    }

    /// The query pairs, repeated parameters repeated.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs: Vec<(&'static str, String)> = Vec::new();
        for space in &self.space_ids {
            pairs.push(("space-id", space.to_string()));
        }
        for status in &self.statuses {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(sort) = self.sort {
            pairs.push(("sort", sort.value()));
        }
        if let Some(format) = self.body_format {
            pairs.push(("body-format", format.as_str().to_owned()));
        }
        pairs.push(("limit", self.limit.to_string()));
        pairs
    }
}

/// Options of a single-item read (`GET /pages/{id}`, `/blogposts/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemQuery {
    pub body_format: Option<BodyFormat>,
    /// Without any, only `current` (and `archived` pages) are found.
    pub statuses: Vec<StatusFilter>,
}

impl ItemQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs: Vec<(&'static str, String)> = self
            .statuses
            .iter()
            .map(|s| ("status", s.as_str().to_owned()))
            .collect();
        if let Some(format) = self.body_format {
            pairs.push(("body-format", format.as_str().to_owned()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn limits_outside_the_documented_range_are_refused() {
        assert_eq!(Limit::new(0), None);
        assert_eq!(Limit::new(251), None);
        assert_eq!(Limit::new(1).unwrap().get(), 1);
        assert_eq!(Limit::new(250), Some(Limit::MAX));
    }

    #[test]
    fn statuses_and_spaces_repeat() {
        let query = ListQuery::new(Limit::new(50).unwrap())
            .space_id(SpaceId::parse("1").unwrap())
            .space_id(SpaceId::parse("2").unwrap())
            .status(StatusFilter::Trashed)
            .status(StatusFilter::Deleted)
            .status(StatusFilter::Trashed)
            .sort(Sort::desc(SortField::ModifiedDate))
            .body_format(BodyFormat::Storage);
        let pairs: Vec<String> = query
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            pairs,
            [
                "space-id=1",
                "space-id=2",
                "status=trashed",
                "status=deleted",
                "sort=-modified-date",
                "body-format=storage",
                "limit=50"
            ]
        );
    }
}
