//! The Confluence Cloud REST client (v2 listings and v1 users) through the
//! Atlassian API gateway. The only crate besides `confsync-oauth` that talks to
//! Atlassian. Filled by the Confluence-client issue; nothing here yet.
