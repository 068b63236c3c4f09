//! The AINexLayer indexer client (batched HTTP pushes) and the JSONL sink used
//! for local runs. The only crate that talks to the indexer. Filled by the
//! indexer-push issue; nothing here yet.
