//! Atlassian OAuth 2.0 (3LO).
