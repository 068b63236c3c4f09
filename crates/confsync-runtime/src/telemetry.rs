//! Logs and the metrics registry.
//!
//! Logs: tracing-subscriber, readable text locally and one JSON object per
//! line in production, filtered by `RUST_LOG` when set, else by `log.filter`.
//! Metrics: one prometheus [`Registry`] per process, every family prefixed
//! `confsync_`. Each crate registers its own families in its own `metrics`
//! module; this one only creates the registry and the build-info gauge.

use prometheus::{IntGaugeVec, Opts, Registry};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global tracing subscriber. Calling it again (tests start
/// several servers in one process) keeps the first one.
pub fn init_logging(settings: &LogSettings) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        // The settings filter was validated at load time.
        .unwrap_or_else(|| EnvFilter::new(&settings.filter));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(true))
            .try_init(),
    };
    // Err only means a subscriber is already installed.
    let _ = result;
}

/// A fresh registry whose families all carry the `confsync_` prefix, with
/// `confsync_build_info{version, component}` set to 1.
pub fn new_registry(component: &str) -> Result<Registry, prometheus::Error> {
    let registry = Registry::new_custom(Some("confsync".to_owned()), None)?;
    let build_info = IntGaugeVec::new(
        Opts::new(
            "build_info",
            "Always 1; labels say which build and component is running",
        ),
        &["version", "component"],
    )?;
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), component])
        .set(1);
    registry.register(Box::new(build_info))?;
    Ok(registry)
}
