//! All of confsync's state in Redis: OAuth states, grants with their tokens
//! encrypted, sites and their crawl state, locks, the fleet points budget,
//! dead letters, and the apalis job queues' connection.
//!
//! The only crate that talks to Redis. It knows nothing about HTTP, Atlassian
//! or the indexer; every key it writes starts with the configured prefix.

mod connection;
mod error;
pub mod metrics;

pub use connection::{Store, StoreConfig};
pub use error::StoreError;
