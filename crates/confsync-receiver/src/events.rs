//! The receiver's events: each outcome's log line and metric, side by side,
//! so call sites read `events::connected(..)` and names live in one place.
//! Nothing here logs a code, token or secret.

use confsync_core::jobs::SyncMode;
use confsync_core::{GrantId, TenantId};

use crate::metrics::ReceiverMetrics;

pub(crate) fn connect_started(metrics: &ReceiverMetrics, tenant: &TenantId) {
    metrics.connect.with_label_values(&["add", "started"]).inc();
    tracing::info!(tenant = %tenant, "connect flow started");
}

pub(crate) fn add_refused(metrics: &ReceiverMetrics, code: &'static str) {
    metrics.connect.with_label_values(&["add", code]).inc();
    tracing::warn!(outcome = code, "connect request refused");
}

pub(crate) fn connected(
    metrics: &ReceiverMetrics,
    tenant: &TenantId,
    grant: &GrantId,
    sites: usize,
    created: bool,
) {
    metrics
        .connect
        .with_label_values(&["callback", "connected"])
        .inc();
    tracing::info!(tenant = %tenant, grant = %grant, sites, created, "confluence connected; full sync queued per site");
}

pub(crate) fn callback_failed(metrics: &ReceiverMetrics, code: &'static str, detail: &str) {
    metrics.connect.with_label_values(&["callback", code]).inc();
    tracing::warn!(
        outcome = code,
        detail,
        "connect callback failed; nothing stored"
    );
}

pub(crate) fn resync_queued(
    metrics: &ReceiverMetrics,
    grant: &GrantId,
    mode: SyncMode,
    jobs: usize,
) {
    let operation = match mode {
        SyncMode::Redeliver => "retry_dead_letters",
        SyncMode::Purge => "purge",
        _ => "resync",
    };
    metrics
        .admin
        .with_label_values(&[operation, "queued"])
        .inc();
    tracing::info!(grant = %grant, mode = mode.as_str(), jobs, "operator {operation} queued");
}

pub(crate) fn disconnected(metrics: &ReceiverMetrics, grant: &GrantId) {
    metrics.admin.with_label_values(&["disconnect", "ok"]).inc();
    tracing::info!(grant = %grant, "connection disconnected; its tokens are deleted");
}

pub(crate) fn admin_refused(
    metrics: &ReceiverMetrics,
    operation: &'static str,
    code: &'static str,
) {
    metrics.admin.with_label_values(&[operation, code]).inc();
    tracing::warn!(operation, outcome = code, "operator request refused");
}
