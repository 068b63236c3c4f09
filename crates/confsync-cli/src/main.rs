//! `confsync`, the operator CLI.

fn main() {}
