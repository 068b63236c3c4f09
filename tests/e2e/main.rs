//! End-to-end tests: one binary, one module per capability. Real Redis, the
//! simulator, and the receiver and worker in-process (or as child processes
//! where process behaviour itself is under test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod budget;
mod chaos;
mod connect;
mod crawl;
mod ops;
mod scheduler;
mod secrets;
mod tokens;
