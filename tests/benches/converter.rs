//! Converter throughput (DESIGN.md section 8: at least 50 MB/s of storage
//! XHTML per core, release build).
//!
//! Builds a deterministic corpus of more than 50 MB from the 80 real bodies
//! and synthesized pages that use every construct (mostly 2 to 20 KB, a few
//! of about 1 MB), converts it on this one thread, and reports the
//! throughput, the slowest 1 MB page and the corpus size. It measures only;
//! correctness is the converter's own tests' job.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use confsync_markdown::{NoLookup, to_markdown};

use crate::report::{Goal, Report};

/// Corpus size to reach, in bytes.
const CORPUS_BYTES: usize = 52 * 1024 * 1024;
/// Size of the large pages.
const LARGE_PAGE_BYTES: usize = 1024 * 1024;
/// Timed passes over the corpus; the best one is reported (the others only
/// differ by what else the machine was doing).
const PASSES: usize = 3;

pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let real = real_bodies()?;
    let (corpus, large) = corpus(&real);
    let total: usize = corpus.iter().map(String::len).sum();
    println!(
        "corpus: {} pages, {:.1} MB ({} real bodies, {} large pages)",
        corpus.len(),
        total as f64 / 1e6,
        real.len(),
        large.len()
    );

    // Warm-up: page faults, allocator pools, caches.
    for page in corpus.iter().take(200) {
        black_box(to_markdown(black_box(page), &NoLookup));
    }

    let mut best = Duration::MAX;
    for pass in 0..PASSES {
        let start = Instant::now();
        let mut out_bytes = 0usize;
        for page in &corpus {
            out_bytes += black_box(to_markdown(black_box(page), &NoLookup)).len();
        }
        let elapsed = start.elapsed();
        println!(
            "pass {}: {:.3} s, {:.1} MB/s, {:.1} MB of Markdown",
            pass + 1,
            elapsed.as_secs_f64(),
            total as f64 / 1e6 / elapsed.as_secs_f64(),
            out_bytes as f64 / 1e6
        );
        best = best.min(elapsed);
    }
    let throughput = total as f64 / 1e6 / best.as_secs_f64();

    let mut worst = Duration::ZERO;
    for (name, page) in &large {
        let start = Instant::now();
        black_box(to_markdown(black_box(page), &NoLookup));
        let elapsed = start.elapsed();
        println!(
            "large page {name}: {:.2} MB in {:.1} ms",
            page.len() as f64 / 1e6,
            elapsed.as_secs_f64() * 1e3
        );
        worst = worst.max(elapsed);
    }

    report.check(
        "converter_throughput",
        throughput,
        "MB/s",
        Goal::AtLeast(50.0),
    );
    report.info("converter_worst_1mb_page", worst.as_secs_f64() * 1e3, "ms");
    report.info("converter_corpus", total as f64 / 1e6, "MB");
    Ok(())
}

/// The real bodies, from the converter's own fixtures.
fn real_bodies() -> anyhow::Result<Vec<String>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/confsync-markdown/tests/fixtures/bodies");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "xhtml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .collect()
}

/// The timed corpus, and the large pages (also part of it) by shape.
fn corpus(real: &[String]) -> (Vec<String>, Vec<(&'static str, String)>) {
    let mut rng = Rng(0x5eed_c0f5_1234_abcd);
    let large: Vec<(&'static str, String)> = vec![
        ("mixed", page(&mut rng, LARGE_PAGE_BYTES, real)),
        ("table", large_table(&mut rng)),
        ("nested-lists", nested_lists(&mut rng)),
        ("code", large_code(&mut rng)),
        ("real-bodies", concat_real(real)),
    ];
    let mut corpus: Vec<String> = large.iter().map(|(_, p)| p.clone()).collect();
    let mut total: usize = corpus.iter().map(String::len).sum();
    let mut index = 0usize;
    while total < CORPUS_BYTES {
        let page = if index.is_multiple_of(4) && !real.is_empty() {
            real[(index / 4) % real.len()].clone()
        } else {
            // Mostly 2-20 KB, sometimes up to 100 KB.
            let size = if rng.below(10) == 0 {
                20_000 + rng.below(80_000)
            } else {
                2_000 + rng.below(18_000)
            };
            page(&mut rng, size, real)
        };
        total += page.len();
        corpus.push(page);
        index += 1;
    }
    (corpus, large)
}

/// SplitMix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "sync",
    "page",
    "index",
    "worker",
    "token",
    "refresh",
    "crawl",
    "space",
    "budget",
    "points",
    "site",
    "tenant",
    "grant",
    "Confluence",
    "release",
    "deploy",
    "cluster",
    "policy",
    "approval",
    "workflow",
    "database",
    "connection",
    "server",
    "설정",
    "사용자",
    "권한",
    "승인",
    "configuration",
    "snake_case",
    "v1.2.3",
    "a*b",
    "x<y",
    "50%",
    "#42",
    "[draft]",
    "C:\\path",
    "AT&amp;T",
    "&nbsp;",
    "&rsquo;s",
    "&hellip;",
    "e.g.",
    "(see",
    "below)",
    "don't",
    "API",
];

fn words(rng: &mut Rng, out: &mut String, n: usize) {
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
}

/// One construct of DESIGN.md section 7, with random text.
fn construct(rng: &mut Rng, out: &mut String) {
    let n = 4 + rng.below(20);
    match rng.below(24) {
        0..=5 => {
            out.push_str("<p>");
            words(rng, out, n);
            out.push_str(" <strong>");
            words(rng, out, 2);
            out.push_str("</strong> and <em>");
            words(rng, out, 2);
            out.push_str("</em>, <code>");
            words(rng, out, 1);
            out.push_str("</code> <a href=\"https://example.com/docs?id=1&amp;x=2\">");
            words(rng, out, 2);
            out.push_str("</a> <del>old</del> H<sub>2</sub>O x<sup>2</sup> <u>u</u>.<br/>");
            words(rng, out, n);
            out.push_str("</p>");
        }
        6 => {
            out.push_str("<h2>");
            words(rng, out, 4);
            out.push_str("</h2>");
        }
        7 => {
            out.push_str("<ul><li>");
            words(rng, out, n);
            out.push_str("<ol start=\"3\"><li><p>");
            words(rng, out, n);
            out.push_str("</p></li><li>");
            words(rng, out, 5);
            out.push_str("<ul><li>");
            words(rng, out, 5);
            out.push_str("</li></ul></li></ol></li><li>");
            words(rng, out, n);
            out.push_str("</li></ul>");
        }
        8 => {
            out.push_str("<table><tbody><tr><th>");
            words(rng, out, 2);
            out.push_str("</th><th colspan=\"2\">");
            words(rng, out, 2);
            out.push_str("</th></tr>");
            for _ in 0..4 {
                out.push_str("<tr><td rowspan=\"1\"><p>");
                words(rng, out, 3);
                out.push_str("</p></td><td>");
                words(rng, out, 6);
                out.push_str(" | pipe</td><td><ul><li>a</li><li>b</li></ul></td></tr>");
            }
            out.push_str("</tbody></table>");
        }
        9 => {
            out.push_str("<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:parameter ac:name=\"language\">rust</ac:parameter><ac:plain-text-body><![CDATA[");
            for _ in 0..(3 + rng.below(12)) {
                out.push_str("    let value = compute(\"x\", 42)?; // ");
                words(rng, out, 3);
                out.push('\n');
            }
            out.push_str("]]></ac:plain-text-body></ac:structured-macro>");
        }
        10 => {
            let kind = rng.pick(&["info", "note", "warning", "tip", "panel"]);
            out.push_str("<ac:structured-macro ac:name=\"");
            out.push_str(kind);
            out.push_str("\"><ac:parameter ac:name=\"icon\">true</ac:parameter><ac:rich-text-body><p>");
            words(rng, out, n);
            out.push_str("</p></ac:rich-text-body></ac:structured-macro>");
        }
        11 => {
            out.push_str("<ac:structured-macro ac:name=\"expand\"><ac:parameter ac:name=\"title\">");
            words(rng, out, 3);
            out.push_str("</ac:parameter><ac:rich-text-body><p>");
            words(rng, out, n);
            out.push_str("</p></ac:rich-text-body></ac:structured-macro>");
        }
        12 => {
            out.push_str("<p>State: <ac:structured-macro ac:name=\"status\"><ac:parameter ac:name=\"colour\">Green</ac:parameter><ac:parameter ac:name=\"title\">");
            words(rng, out, 2);
            out.push_str("</ac:parameter></ac:structured-macro> ");
            words(rng, out, 4);
            out.push_str("</p>");
        }
        13 => {
            out.push_str("<ac:task-list>");
            for (i, status) in ["complete", "incomplete"].iter().enumerate() {
                out.push_str(&format!("<ac:task><ac:task-id>{i}</ac:task-id><ac:task-status>{status}</ac:task-status><ac:task-body>"));
                words(rng, out, 5);
                out.push_str("</ac:task-body></ac:task>");
            }
            out.push_str("</ac:task-list>");
        }
        14 => {
            out.push_str("<p>Ask <ac:link><ri:user ri:account-id=\"557058:0000\"/></ac:link> about <ac:link><ri:page ri:content-title=\"Runbook\" ri:space-key=\"OPS\"/><ac:plain-text-link-body><![CDATA[the runbook]]></ac:plain-text-link-body></ac:link> and <ac:link><ri:attachment ri:filename=\"plan v2.pdf\"/></ac:link> ");
            words(rng, out, 4);
            out.push_str(" <ac:emoticon ac:name=\"tick\" ac:emoji-fallback=\"✅\"/></p>");
        }
        15 => out.push_str("<ac:image ac:align=\"center\" ac:layout=\"center\" ac:alt=\"diagram.png\"><ri:attachment ri:filename=\"diagram.png\"/><ac:caption><p>Architecture</p></ac:caption></ac:image>"),
        16 => {
            out.push_str("<ac:layout><ac:layout-section ac:type=\"two_equal\"><ac:layout-cell><p>");
            words(rng, out, n);
            out.push_str("</p></ac:layout-cell><ac:layout-cell><p>");
            words(rng, out, n);
            out.push_str("</p></ac:layout-cell></ac:layout-section></ac:layout>");
        }
        17 => out.push_str("<p>Tracked in <ac:structured-macro ac:name=\"jira\"><ac:parameter ac:name=\"server\">System JIRA</ac:parameter><ac:parameter ac:name=\"key\">OPS-1234</ac:parameter></ac:structured-macro>.</p>"),
        18 => {
            out.push_str("<ac:structured-macro ac:name=\"excerpt\"><ac:rich-text-body><p>");
            words(rng, out, n);
            out.push_str("</p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name=\"excerpt-include\"><ac:parameter ac:name=\"\"><ac:link><ri:page ri:content-title=\"Glossary\"/></ac:link></ac:parameter></ac:structured-macro>");
        }
        19 => out.push_str("<ac:structured-macro ac:name=\"toc\"><ac:parameter ac:name=\"maxLevel\">3</ac:parameter></ac:structured-macro><ac:structured-macro ac:name=\"children\"/>"),
        20 => {
            out.push_str("<ac:adf-extension><ac:adf-node type=\"panel\"><ac:adf-attribute key=\"panel-type\">note</ac:adf-attribute><ac:adf-content><p>");
            words(rng, out, n);
            out.push_str("</p></ac:adf-content></ac:adf-node><ac:adf-fallback><div class=\"panel\"><p>fallback</p></div></ac:adf-fallback></ac:adf-extension>");
        }
        21 => {
            out.push_str("<pre>");
            words(rng, out, n);
            out.push_str("\n  indented &lt;tag&gt;</pre>");
        }
        22 => {
            out.push_str("<ac:structured-macro ac:name=\"vendor-widget\"><ac:parameter ac:name=\"mode\">x</ac:parameter><ac:rich-text-body><p>");
            words(rng, out, n);
            out.push_str("</p></ac:rich-text-body></ac:structured-macro>");
        }
        _ => {
            out.push_str("<blockquote><p>");
            words(rng, out, n);
            out.push_str("</p></blockquote><hr/>");
        }
    }
}

/// A synthesized page of about `size` bytes, sometimes embedding a real body.
fn page(rng: &mut Rng, size: usize, real: &[String]) -> String {
    let mut out = String::with_capacity(size + 4096);
    while out.len() < size {
        if rng.below(40) == 0 && !real.is_empty() {
            out.push_str(&real[rng.below(real.len())]);
        } else {
            construct(rng, &mut out);
        }
    }
    out
}

fn large_table(rng: &mut Rng) -> String {
    let mut out = String::from("<table><tbody><tr><th>Key</th><th>Owner</th><th>Notes</th></tr>");
    while out.len() < LARGE_PAGE_BYTES {
        out.push_str("<tr><td><p>");
        words(rng, &mut out, 2);
        out.push_str(
            "</p></td><td><ac:link><ri:user ri:account-id=\"557058:0000\"/></ac:link></td><td>",
        );
        words(rng, &mut out, 12);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn nested_lists(rng: &mut Rng) -> String {
    let mut out = String::new();
    while out.len() < LARGE_PAGE_BYTES {
        for _ in 0..30 {
            out.push_str("<ul><li>");
            words(rng, &mut out, 4);
        }
        for _ in 0..30 {
            out.push_str("</li></ul>");
        }
    }
    out
}

fn large_code(rng: &mut Rng) -> String {
    let mut out = String::from(
        "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">sql</ac:parameter><ac:plain-text-body><![CDATA[",
    );
    while out.len() < LARGE_PAGE_BYTES {
        out.push_str("SELECT id, name FROM accounts WHERE note = '```' AND x < 10; -- ");
        words(rng, &mut out, 4);
        out.push('\n');
    }
    out.push_str("]]></ac:plain-text-body></ac:structured-macro>");
    out
}

fn concat_real(real: &[String]) -> String {
    let mut out = String::with_capacity(LARGE_PAGE_BYTES + 100_000);
    while out.len() < LARGE_PAGE_BYTES && !real.is_empty() {
        for body in real {
            out.push_str(body);
        }
    }
    out
}
