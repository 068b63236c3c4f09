//! Redis state.
