//! The simulator's own test suite: one binary, one module per behaviour.
//! Every test starts its own simulators on port 0 with a frozen clock, moves
//! time with `advance_clock` (never sleeps), and talks HTTP with reqwest.

// Test code may unwrap (house rule); helpers outside `#[test]` functions are
// test code too.
#![allow(clippy::unwrap_used)]

mod support;

mod binary;
mod control_http;
mod faults;
mod gateway;
mod generator;
mod hostile;
mod indexer;
mod mutations;
mod oauth;
mod pagination;
mod quota;
mod shapes;
