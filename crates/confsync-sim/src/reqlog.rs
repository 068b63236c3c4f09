//! The record of every request the auth and API listeners answered, and the
//! counters tests assert on (points, 429s, requests sent too early).
//!
//! Append-only bookkeeping with a bounded history; counters never reset
//! unless asked. It does not decide anything.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::clock::{Millis, format_ms};
use crate::faults::Listener;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Sim time of arrival (RFC 3339).
    pub at: String,
    pub listener: Listener,
    pub method: String,
    /// Path and query, as received.
    pub path: String,
    pub cloud_id: Option<String>,
    pub status: u16,
    /// Points charged against the quota.
    pub points: u64,
    /// Sent while a `Retry-After` announced for its scope was still running.
    pub flagged: bool,
    /// Id of the fault rule that shaped the answer.
    pub fault: Option<u64>,
}

/// Totals since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApiStats {
    pub requests: u64,
    pub api_requests: u64,
    pub auth_requests: u64,
    pub points_spent: u64,
    /// Responses with status 429.
    pub rate_limited: u64,
    /// Requests sent while a `Retry-After` was running.
    pub flagged: u64,
    pub faults_fired: u64,
    /// Successful token grants (code exchanges and refreshes).
    pub tokens_issued: u64,
    pub by_status: BTreeMap<u16, u64>,
}

/// What the server tells the log about a finished request.
#[derive(Debug)]
pub(crate) struct Finished {
    pub listener: Listener,
    pub method: String,
    pub path: String,
    pub cloud_id: Option<String>,
    pub status: u16,
    pub points: u64,
    pub flagged: bool,
    pub fault: Option<u64>,
    pub token_issued: bool,
}

#[derive(Debug)]
pub(crate) struct RequestLog {
    records: VecDeque<RequestRecord>,
    capacity: usize,
    next_seq: u64,
    stats: ApiStats,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        RequestLog {
            records: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 1,
            stats: ApiStats::default(),
        }
    }

    pub(crate) fn record(&mut self, done: Finished, at: Millis) {
        let stats = &mut self.stats;
        stats.requests += 1;
        match done.listener {
            Listener::Api => stats.api_requests += 1,
            Listener::Auth => stats.auth_requests += 1,
        }
        stats.points_spent += done.points;
        stats.rate_limited += u64::from(done.status == 429);
        stats.flagged += u64::from(done.flagged);
        stats.faults_fired += u64::from(done.fault.is_some());
        stats.tokens_issued += u64::from(done.token_issued);
        *stats.by_status.entry(done.status).or_insert(0) += 1;
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(RequestRecord {
            seq: self.next_seq,
            at: format_ms(at),
            listener: done.listener,
            method: done.method,
            path: done.path,
            cloud_id: done.cloud_id,
            status: done.status,
            points: done.points,
            flagged: done.flagged,
            fault: done.fault,
        });
        self.next_seq += 1;
    }

    /// Records with `seq > after`.
    pub(crate) fn since(&self, after: u64) -> Vec<RequestRecord> {
        self.records
            .iter()
            .filter(|r| r.seq > after)
            .cloned()
            .collect()
    }

    pub(crate) fn stats(&self) -> ApiStats {
        self.stats.clone()
    }

    pub(crate) fn reset(&mut self) {
        self.records.clear();
        self.stats = ApiStats::default();
    }
}
