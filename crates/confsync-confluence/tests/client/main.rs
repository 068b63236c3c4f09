//! The Confluence client against the in-process simulator: one binary, one
//! module per behaviour. Every test starts its own frozen-clock simulator on
//! port 0; waits move the simulator's clock (`SimClock`) and never sleep.

// Test code may unwrap (house rule); helpers outside `#[test]` functions are
// test code too.
#![allow(clippy::unwrap_used)]

mod support;

mod models;
mod paging;
mod points;
mod rate_limits;
mod retries;
mod tokens;
