//! Process plumbing.
