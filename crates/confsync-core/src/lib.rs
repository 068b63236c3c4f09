//! confsync's domain vocabulary: typed ids, the indexer's Document schema, the
//! job payloads that travel through Redis, and the error classes every failure
//! is sorted into.
//!
//! This crate does no IO of any kind (no network, no Redis, no files, no clock
//! reads outside what callers pass in). Everything here is plain data and pure
//! functions, so every other crate can depend on it without pulling a runtime.

pub mod build;
pub mod content;
pub mod document;
pub mod error;
pub mod ids;
pub mod jobs;
pub mod retry_after;

pub use error::ErrorClass;
pub use ids::{
    AccountId, CloudId, ContentId, ContentKind, DocumentId, GrantId, IdError, SpaceId, TenantId,
};
