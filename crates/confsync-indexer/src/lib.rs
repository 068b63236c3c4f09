//! The AINexLayer indexer client (batched HTTP pushes) and the JSONL sink for
//! local runs. The only crate that talks to the indexer.
//!
//! The client arrives with the indexer-push issue; today the crate holds the
//! metric families it will feed.

pub mod metrics;
