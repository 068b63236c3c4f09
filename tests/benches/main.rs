//! `make bench`: every figure of DESIGN.md section 8 measured and printed
//! beside its target, and written to `target/bench/results.json`.
//!
//! Each section is a module with `fn run(report: &mut Report)`; sections run in
//! order and never share state.

#![allow(clippy::print_stdout)]

mod converter;
mod crawl;
mod report;

use report::Report;

/// One bench section: measures and records its rows.
type Section = fn(&mut Report) -> anyhow::Result<()>;

fn main() -> anyhow::Result<()> {
    // `cargo bench -- converter` runs this binary with `converter` and `--bench`.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut report = Report::default();
    let sections: &[(&str, Section)] = &[
        ("converter", converter::run),
        ("points", crawl::points),
        ("throughput", crawl::throughput),
    ];
    for (name, run) in sections {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        println!("== {name}");
        run(&mut report)?;
    }
    report.print();
    // Relative to the workspace, whatever directory cargo runs benches from.
    report.write(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/bench/results.json"
    ))?;
    Ok(())
}
