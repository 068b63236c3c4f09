//! `confsync-worker`: loads settings, binds `worker.listen_addr` and runs
//! [`confsync_worker::run`] until SIGTERM or SIGINT.

use std::process::ExitCode;

/// jemalloc, not the system allocator: a crawl allocates and frees listing
/// pages of up to a few MiB each; glibc's malloc kept much of that memory
/// (the worker's peak RSS on a 100,000-page site varied from 88 to 177 MiB
/// between identical runs), jemalloc gives it back (91-95 MiB, `make bench`).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    confsync_runtime::process::serve_main(
        "confsync-worker",
        |settings| ("worker.listen_addr", settings.worker.listen_addr),
        confsync_worker::run,
    )
    .await
}
