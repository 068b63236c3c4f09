//! Process plumbing shared by confsync's binaries: settings loading and
//! validation, telemetry (logs and the metrics registry), the ops HTTP
//! endpoints (`/healthz`, `/readyz`, `/metrics`) and shutdown signals.
//!
//! This crate holds no business logic and talks to nothing outside the
//! process: readiness checks are passed in by the binaries, so Redis stays the
//! business of `confsync-store`.

pub mod ops;
pub mod process;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod wiring;

pub use settings::Settings;
