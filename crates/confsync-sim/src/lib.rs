//! A faithful simulator of auth.atlassian.com, api.atlassian.com and the
//! AINexLayer indexer, for tests, the demo and benchmarks.
