//! All of confsync's state in Redis: OAuth states, grants with their tokens
//! encrypted, sites and their crawl state, locks, the fleet points budget,
//! dead letters, and the sync job queue.
//!
//! The only crate that talks to Redis. It knows nothing about HTTP, Atlassian
//! or the indexer; every key it writes starts with the configured prefix.

pub mod budget;
mod connection;
pub mod crypto;
pub mod dead_letters;
pub mod deferred;
pub mod directory;
mod error;
pub mod grants;
pub mod known;
pub mod lock;
pub mod metrics;
pub mod oauth_state;
pub mod queue;
mod queue_schedule;
pub mod sites;

pub use connection::{Store, StoreConfig};
pub use error::StoreError;
pub use grants::{Grant, GrantStatus, NewConnection, SiteInfo, StoredConnection, Tokens, Vault};
pub use lock::Lease;
pub use oauth_state::{PendingConnect, StateLookup};
pub use queue::{QueueCounts, SyncQueue};
pub use sites::{SiteKey, SiteState, SiteStore, SiteUpdate};
