//! The end-to-end harness: a fresh Redis key prefix per test, the simulator on
//! port 0, and the receiver and worker started in-process.
