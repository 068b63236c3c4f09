//! The indexer client's tests: one binary, one module per behaviour. Every
//! test pushes to its own in-process simulator (port 0, frozen clock), moves
//! time with `advance_clock`, and never sleeps: retries wait on a recording
//! timer or on millisecond backoffs, and no assertion reads a clock.

// Test code may unwrap (house rule); helpers outside `#[test]` functions are
// test code too.
#![allow(clippy::unwrap_used)]

mod support;

mod batching;
mod config;
mod delivery;
mod jsonl;
mod refusals;
mod retries;
