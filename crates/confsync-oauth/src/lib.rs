//! Atlassian OAuth 2.0 (3LO): the authorize URL, code exchange, refresh, and
//! accessible-resources. With `confsync-confluence`, the only crate that talks
//! to Atlassian. It never stores anything: callers persist what it returns.

pub mod metrics;
