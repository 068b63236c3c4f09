//! The 80 real storage bodies in `fixtures/bodies/` (sources and licences in
//! its SOURCES.md): one reviewed snapshot each, and the leak and recall
//! properties on every one of them.

mod support;

use std::path::PathBuf;

use confsync_markdown::{NoLookup, to_markdown};

fn bodies() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bodies");
    let mut bodies: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "xhtml"))
        .map(|path| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("fixture names are UTF-8")
                .to_owned();
            let body = std::fs::read_to_string(&path).expect("fixture is UTF-8");
            (name, body)
        })
        .collect();
    bodies.sort();
    bodies
}

#[test]
fn the_corpus_is_complete() {
    assert_eq!(
        bodies().len(),
        80,
        "expected the 80 bodies listed in SOURCES.md"
    );
}

#[test]
fn every_body_matches_its_reviewed_snapshot() {
    for (name, body) in bodies() {
        insta::assert_snapshot!(name, to_markdown(&body, &NoLookup));
    }
}

#[test]
fn no_body_leaks_markup() {
    for (name, body) in bodies() {
        let markdown = to_markdown(&body, &NoLookup);
        let leaks = support::leaks(&markdown);
        assert!(
            leaks.is_empty(),
            "{name}: raw HTML in the output: {leaks:?}"
        );
    }
}

#[test]
fn every_body_keeps_its_visible_text_in_order() {
    for (name, body) in bodies() {
        let markdown = to_markdown(&body, &NoLookup);
        if let Some(missing) = support::missing_word(&body, &markdown) {
            panic!("{name}: {missing}\n--- markdown ---\n{markdown}");
        }
    }
}

#[test]
fn output_is_deterministic() {
    for (name, body) in bodies() {
        assert_eq!(
            to_markdown(&body, &NoLookup),
            to_markdown(&body, &NoLookup),
            "{name}: two conversions differ"
        );
    }
}
