//! Properties over generated input: the converter never panics, never lets
//! markup through, keeps the visible text of well-formed pages, and stays
//! bounded and linear on hostile shapes (100,000-deep nesting, huge tables).
//! No test here measures time: complexity is asserted through output size.

mod support;

use confsync_markdown::{Converter, NoLookup, to_markdown};
use proptest::prelude::*;

// ----- well-formed pages -----------------------------------------------------

/// Words with Markdown specials, entities and non-ASCII text.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,8}",
        "[가-힣]{1,4}",
        "[a-z]{1,4}[_*#>`|~\\[\\]()!=+-][a-z0-9]{0,4}",
        Just("&lt;ac:link&gt;".to_owned()),
        Just("&amp;".to_owned()),
        Just("&nbsp;".to_owned()),
        Just("&rsquo;".to_owned()),
        Just("1.".to_owned()),
        Just("#".to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..6).prop_map(|w| w.join(" "))
}

/// A well-formed storage-format fragment, built from every construct.
fn node() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        text(),
        text().prop_map(|t| format!("<strong>{t}</strong>")),
        text().prop_map(|t| format!("<code>{t}</code>")),
        text().prop_map(|t| format!(r#"<a href="https://example.com/{t}">{t}</a>"#)),
        Just(r#"<ac:link><ri:user ri:account-id="557058:x"/></ac:link>"#.to_owned()),
        text().prop_map(|t| format!(r#"<ac:link><ri:page ri:content-title="P"/><ac:link-body>{t}</ac:link-body></ac:link>"#)),
        Just(r#"<ac:image ac:alt="a"><ri:attachment ri:filename="f.png"/></ac:image>"#.to_owned()),
        Just(r#"<ac:emoticon ac:name="tick"/>"#.to_owned()),
        Just("<br/>".to_owned()),
        text().prop_map(|t| format!(r#"<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">{t}</ac:parameter></ac:structured-macro>"#)),
        "[a-z<>&`\\]\n ]{0,40}".prop_map(|code| format!(
            r#"<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">sh</ac:parameter><ac:plain-text-body><![CDATA[{code}]]></ac:plain-text-body></ac:structured-macro>"#
        )),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let children = prop::collection::vec(inner, 1..4).prop_map(|c| c.join(""));
        (children, 0..16usize).prop_map(|(c, kind)| match kind {
            0 => format!("<p>{c}</p>"),
            1 => format!("<h2>{c}</h2>"),
            2 => format!("<ul><li>{c}</li><li>{c}</li></ul>"),
            3 => format!(r#"<ol start="4"><li>{c}</li></ol>"#),
            4 => format!("<blockquote>{c}</blockquote>"),
            5 => format!("<table><tr><th>{c}</th><th>h</th></tr><tr><td colspan=\"2\">{c}</td></tr></table>"),
            6 => format!(r#"<ac:structured-macro ac:name="info"><ac:rich-text-body>{c}</ac:rich-text-body></ac:structured-macro>"#),
            7 => format!(r#"<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">T</ac:parameter><ac:rich-text-body>{c}</ac:rich-text-body></ac:structured-macro>"#),
            8 => format!("<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>{c}</ac:task-body></ac:task></ac:task-list>"),
            9 => format!("<ac:layout><ac:layout-section><ac:layout-cell>{c}</ac:layout-cell></ac:layout-section></ac:layout>"),
            10 => format!(r#"<ac:structured-macro ac:name="unknown-thing"><ac:parameter ac:name="x">hidden</ac:parameter><ac:rich-text-body>{c}</ac:rich-text-body></ac:structured-macro>"#),
            11 => format!("<em>{c}</em>"),
            12 => format!("<div>{c}</div>"),
            13 => format!(r#"<ac:adf-extension><ac:adf-node type="panel"><ac:adf-attribute key="panel-type">note</ac:adf-attribute><ac:adf-content>{c}</ac:adf-content></ac:adf-node><ac:adf-fallback>{c}</ac:adf-fallback></ac:adf-extension>"#),
            14 => format!("<pre>{c}</pre>"),
            _ => format!("<del>{c}</del>"),
        })
    })
}

// ----- anything at all ---------------------------------------------------------

/// Tag soup: fragments in any order, unclosed, misnested, truncated.
fn soup() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        "[a-z <>&;#/\"'=!\\[\\]-]{0,12}",
        prop::sample::select(vec![
            "<p>",
            "</p>",
            "<ul>",
            "<li>",
            "</li>",
            "</ul>",
            "<ol>",
            "<table>",
            "<tr>",
            "<td>",
            "<th colspan=\"999999\">",
            "<td rowspan=\"99\">",
            "</td>",
            "</table>",
            "<strong>",
            "</strong>",
            "<code>",
            "</code>",
            "<a href=\"x\">",
            "</a>",
            "<blockquote>",
            "<h1>",
            "</h1>",
            "<pre>",
            "</pre>",
            "<br/>",
            "<hr/>",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<ac:structured-macro ac:name=\"code\">",
            "<ac:structured-macro ac:name=\"info\">",
            "<ac:structured-macro ac:name=\"status\">",
            "</ac:structured-macro>",
            "<ac:parameter ac:name=\"title\">",
            "</ac:parameter>",
            "<ac:rich-text-body>",
            "</ac:rich-text-body>",
            "<ac:plain-text-body>",
            "</ac:plain-text-body>",
            "<ac:link>",
            "</ac:link>",
            "<ri:user ri:account-id=\"a\"/>",
            "<ri:page ri:content-title=\"t\"/>",
            "<ac:image>",
            "</ac:image>",
            "<ac:caption>",
            "<ac:task-list>",
            "<ac:task>",
            "<ac:task-body>",
            "<ac:adf-extension>",
            "<ac:adf-node type=\"panel\">",
            "<ac:adf-content>",
            "<ac:adf-fallback>",
            "<ac:emoticon ac:name=\"x\"/>",
            "&nbsp;",
            "&bogus;",
            "&#0;",
            "&#x110000;",
            "<",
            "&",
            "<ac:",
            "</",
            "<x:y a='1' a='2'>",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(fragment, 0..80).prop_map(|f| f.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn well_formed_pages_keep_text_and_leak_nothing(page in prop::collection::vec(node(), 1..4)) {
        let storage = page.concat();
        let markdown = to_markdown(&storage, &NoLookup);
        let leaks = support::leaks(&markdown);
        prop_assert!(leaks.is_empty(), "leaked {leaks:?} from {storage}\n{markdown}");
        if let Some(missing) = support::missing_word(&storage, &markdown) {
            prop_assert!(false, "{missing}\ninput: {storage}\noutput:\n{markdown}");
        }
    }

    #[test]
    fn any_input_converts_without_leaks_and_stays_linear(storage in soup(), depth in 1usize..6) {
        for converter in [Converter::default(), Converter::default().with_max_depth(depth)] {
            let markdown = converter.convert(&storage, &NoLookup);
            let leaks = support::leaks(&markdown);
            prop_assert!(leaks.is_empty(), "leaked {leaks:?} from {storage:?}\n{markdown}");
            prop_assert!(markdown.len() <= 64 * storage.len() + 1024);
            prop_assert_eq!(&markdown, &converter.convert(&storage, &NoLookup));
        }
    }
}

// ----- hostile shapes ------------------------------------------------------------

const DEEP: usize = 100_000;

fn nested(open: &str, inner: &str, close: &str) -> String {
    let mut s = String::with_capacity((open.len() + close.len()) * DEEP + inner.len());
    for _ in 0..DEEP {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..DEEP {
        s.push_str(close);
    }
    s
}

/// Converts hostile input on a thread with a small stack: any recursion on
/// input depth would overflow it.
fn convert_on_small_stack(storage: String) -> String {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || to_markdown(&storage, &NoLookup))
        .expect("spawn converter thread")
        .join()
        .expect("converter thread panicked")
}

#[test]
fn a_hundred_thousand_nested_lists_are_flattened() {
    let storage = nested("<ul><li>x ", "deepest", "</li></ul>");
    let markdown = convert_on_small_stack(storage.clone());
    assert!(
        markdown.ends_with("deepest"),
        "{}",
        &markdown[markdown.len().saturating_sub(200)..]
    );
    // Indentation stops at the depth limit: every line is short.
    let widest = markdown.lines().map(str::len).max().unwrap_or(0);
    assert!(
        widest <= 2 * Converter::DEFAULT_MAX_DEPTH + 16,
        "a line of {widest} bytes"
    );
    assert!(markdown.len() <= 4 * storage.len());
}

#[test]
fn a_hundred_thousand_nested_blocks_inline_marks_and_macros_convert() {
    let shapes = [
        nested("<div>", "core", "</div>"),
        nested("<blockquote>", "core", "</blockquote>"),
        nested("<strong><em>", "core", "</em></strong>"),
        nested("<table><tr><td>", "core", "</td></tr></table>"),
        nested(
            r#"<ac:structured-macro ac:name="info"><ac:rich-text-body>"#,
            "core",
            "</ac:rich-text-body></ac:structured-macro>",
        ),
        nested(r#"<a href="x">"#, "core", "</a>"),
        nested("<p>", "core", ""),
        nested("<span>", "core", "</p>"),
    ];
    for storage in shapes {
        let len = storage.len();
        let markdown = convert_on_small_stack(storage);
        assert!(markdown.contains("core"), "text lost");
        assert!(
            markdown.len() <= 4 * len,
            "{} bytes out for {len} in",
            markdown.len()
        );
    }
}

#[test]
fn huge_tables_stay_linear() {
    // One very wide row, then many narrow ones: padding every row to the
    // widest would be quadratic; the column cap keeps it linear.
    let mut storage = String::from("<table><tr>");
    for i in 0..20_000 {
        storage.push_str(&format!("<td>c{i}</td>"));
    }
    storage.push_str("</tr>");
    for i in 0..20_000 {
        storage.push_str(&format!("<tr><td>r{i}</td></tr>"));
    }
    storage.push_str("</table>");
    let markdown = to_markdown(&storage, &NoLookup);
    assert!(markdown.contains("c19999") && markdown.contains("r19999"));
    assert!(
        markdown.len() <= 16 * storage.len(),
        "{} bytes out for {} in",
        markdown.len(),
        storage.len()
    );
}

#[test]
fn unmatched_end_tags_cost_nothing() {
    let mut storage = nested("<div>", "core", "");
    for _ in 0..DEEP {
        storage.push_str("</span>");
    }
    let markdown = convert_on_small_stack(storage);
    assert_eq!(markdown, "core");
}

/// Inputs the fuzzer once crashed on (`fixtures/fuzz/`): they must convert.
#[test]
fn fuzzer_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz fixtures directory") {
        let bytes = std::fs::read(entry.expect("directory entry").path()).expect("fixture");
        let input = String::from_utf8_lossy(&bytes);
        for converter in [Converter::default(), Converter::default().with_max_depth(2)] {
            let markdown = converter.convert(&input, &NoLookup);
            assert!(support::leaks(&markdown).is_empty());
        }
        seen += 1;
    }
    assert!(seen > 0, "no fixtures in {}", dir.display());
}
