//! A faithful simulator of auth.atlassian.com, api.atlassian.com (the
//! Confluence Cloud gateway) and the AINexLayer indexer, for tests, the demo
//! and benchmarks. Nothing in confsync calls the real Atlassian.
//!
//! Start one with [`Sim::start`]; the [`SimHandle`] gives its URLs and the
//! control surface ([`Control`]): mutations, faults, quota, clock, token
//! expiry, declines, the request log and the indexer's state. The same
//! operations are served over HTTP under `/_sim/` (see the README).
//!
//! This crate must never be a dependency of production code: the receiver
//! and worker reach it only through their configured URLs.

mod auth;
mod clock;
mod config;
mod control;
mod error;
mod faults;
mod gateway;
mod indexer;
mod quota;
mod reqlog;
mod respond;
mod rng;
mod server;
mod site;
mod state;

pub use auth::{GrantInfo, GrantSelector, TokenResponse};
pub use clock::Clock;
pub use config::{GrantSites, SimConfig};
pub use control::Control;
pub use error::SimError;
pub use faults::{FaultKind, FaultRule, FaultState, Listener};
pub use indexer::validate::Problem;
pub use indexer::{IndexerEvent, IndexerFaultUpdate, IndexerFaults, IndexerOp, IndexerStats};
pub use quota::{LimitReason, QuotaSnapshot, QuotaUpdate};
pub use reqlog::{ApiStats, RequestRecord};
pub use server::{Sim, SimHandle};
pub use site::mutate::{Edit, Move, NewBlogPost, NewComment, NewPage};
pub use site::{
    CommentInfo, CommentKind, ContentInfo, ContentType, Resolution, SiteCounts, SiteInfo, Status,
};
