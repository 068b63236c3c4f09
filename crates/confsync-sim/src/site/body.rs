//! Storage-format (XHTML) and minimal ADF bodies, generated on demand.
//!
//! A body is a pure function of (seed, content id, version) plus the few names
//! it mentions (users, linked pages), so the simulator never stores bodies:
//! it regenerates them per request in time linear in their size. Bodies
//! exercise every construct the converter must handle (DESIGN.md section 7)
//! with real Confluence markup (see reference/confluence-bodies/). This module
//! must not touch site state or locks: callers pass everything in.

use std::fmt::Write as _;

use crate::rng::{Rng, hash};
use crate::site::words::{
    CODE_LANGUAGES, EMOTICONS, ENTITIES, LABELS, MACRO_PANELS, STATUS_LOZENGES, WORDS,
};

const BODY_PURPOSE: u64 = 0xB0D1;
const SIZE_PURPOSE: u64 = 0x517E;

/// What a body belongs to; it decides the size distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Page,
    BlogPost,
    Comment,
}

/// Everything a body depends on.
#[derive(Debug)]
pub(crate) struct BodySpec<'a> {
    pub seed: u64,
    pub id: u64,
    pub version: u32,
    pub kind: BodyKind,
    pub title: &'a str,
    /// Account ids that may be mentioned.
    pub mentions: &'a [String],
    /// Pages that may be linked: (title, space key).
    pub links: &'a [(String, String)],
}

/// The body's target size in bytes: most pages 2–20 KB, some tiny, some
/// 20–200 KB, and about one in 2,000 over 1 MB. It depends on the content id
/// only, so a page keeps its size class across edits.
pub(crate) fn target_size(seed: u64, id: u64, kind: BodyKind) -> usize {
    let mut rng = Rng::for_parts(seed, &[SIZE_PURPOSE, id]);
    match kind {
        BodyKind::Comment => rng.range(40, 900) as usize,
        BodyKind::Page | BodyKind::BlogPost => {
            let bucket = rng.below(10_000);
            if kind == BodyKind::Page && bucket < 5 {
                rng.range(1_050_000, 2_500_000) as usize
            } else if bucket < 500 {
                rng.range(200, 2_000) as usize
            } else if bucket < 9_500 {
                log_uniform(&mut rng, 2_000, 20_000)
            } else {
                log_uniform(&mut rng, 20_000, 200_000)
            }
        }
    }
}

fn log_uniform(rng: &mut Rng, lo: u64, hi: u64) -> usize {
    let span = (hi as f64 / lo as f64).ln();
    let unit = rng.below(1 << 20) as f64 / f64::from(1u32 << 20);
    (lo as f64 * (span * unit).exp()) as usize
}

/// The storage-format body.
pub(crate) fn storage(spec: &BodySpec<'_>) -> String {
    let target = target_size(spec.seed, spec.id, spec.kind);
    let mut w = Writer {
        out: String::with_capacity(target + 2048),
        rng: Rng::for_parts(spec.seed, &[BODY_PURPOSE, spec.id, u64::from(spec.version)]),
        spec,
    };
    if spec.kind == BodyKind::Comment {
        w.comment(target);
    } else if w.rng.chance(15, 100) {
        w.layout_document(target);
    } else {
        w.blocks_until(target);
    }
    w.out
}

/// A minimal Atlas Document Format body, serialized as Confluence does (a
/// JSON string inside `body.atlas_doc_format.value`).
pub(crate) fn adf(spec: &BodySpec<'_>) -> String {
    let mut rng = Rng::for_parts(
        spec.seed,
        &[BODY_PURPOSE, spec.id, u64::from(spec.version), 2],
    );
    let paragraphs = (target_size(spec.seed, spec.id, spec.kind) / 600).clamp(1, 20);
    let mut content = vec![serde_json::json!({
        "type": "heading",
        "attrs": {"level": 1},
        "content": [{"type": "text", "text": spec.title}],
    })];
    for _ in 0..paragraphs {
        let mut text = String::new();
        for i in 0..rng.range(8, 30) {
            if i > 0 {
                text.push(' ');
            }
            let word = *rng.pick(WORDS);
            text.push_str(word);
        }
        text.push('.');
        content.push(serde_json::json!({
            "type": "paragraph",
            "content": [{"type": "text", "text": text}],
        }));
    }
    serde_json::json!({"type": "doc", "version": 1, "content": content}).to_string()
}

/// Escapes text for an XML attribute or text node.
pub(crate) fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

const STARTERS: &[&str] = &[
    "The", "We", "This", "Every", "Our", "Each", "Then", "Before", "Note:",
];
const BLOCK_KINDS: u64 = 23;

struct Writer<'a> {
    out: String,
    rng: Rng,
    spec: &'a BodySpec<'a>,
}

impl Writer<'_> {
    /// Every block kind once in a shuffled order, then weighted picks, until
    /// the target size is reached.
    fn blocks_until(&mut self, target: usize) {
        let mut order: Vec<u64> = (0..BLOCK_KINDS).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.index(i + 1);
            order.swap(i, j);
        }
        let mut next = 0;
        while self.out.len() < target {
            let kind = if next < order.len() {
                next += 1;
                order[next - 1]
            } else {
                self.weighted_kind()
            };
            self.block(kind);
        }
    }

    fn weighted_kind(&mut self) -> u64 {
        // Prose dominates real pages; rarer constructs keep appearing.
        match self.rng.below(20) {
            0..=6 => 1,
            7..=8 => 0,
            9..=10 => 2,
            11 => 3,
            12..=13 => 4,
            14 => 5,
            _ => self.rng.below(BLOCK_KINDS),
        }
    }

    /// Confluence's layout editor puts the whole body inside sections.
    fn layout_document(&mut self, target: usize) {
        self.out.push_str("<ac:layout>");
        let sections = self.rng.range(1, 3);
        let per_section = target / sections as usize + 1;
        for _ in 0..sections {
            let (kind, cells) = *self.rng.pick(&[
                ("fixed-width", 1usize),
                ("two_equal", 2),
                ("two_right_sidebar", 2),
                ("three_equal", 3),
            ]);
            let _ = write!(
                self.out,
                "<ac:layout-section ac:type=\"{kind}\" ac:breakout-mode=\"default\">"
            );
            for _ in 0..cells {
                self.out.push_str("<ac:layout-cell>");
                let cell_target = self.out.len() + per_section / cells;
                while self.out.len() < cell_target {
                    let kind = self.weighted_kind();
                    self.block(kind);
                }
                self.out.push_str("</ac:layout-cell>");
            }
            self.out.push_str("</ac:layout-section>");
        }
        self.out.push_str("</ac:layout>");
    }

    fn comment(&mut self, target: usize) {
        while self.out.len() < target {
            self.out.push_str("<p>");
            self.rich_sentence();
            self.out.push_str("</p>");
        }
    }

    fn block(&mut self, kind: u64) {
        match kind {
            0 => self.heading(),
            1 => self.paragraph(),
            2 => self.list(false, 0),
            3 => self.list(true, 0),
            4 => self.table(),
            5 => self.code(),
            6 => self.noformat(),
            7 => self.panel(),
            8 => self.expand(),
            9 => self.status_paragraph(),
            10 => self.task_list(),
            11 => self.page_link_paragraph(),
            12 => self.image(),
            13 => self.jira(),
            14 => self.excerpt_or_include(),
            15 => self.toc_or_children(),
            16 => self.unknown_macro(),
            17 => self.blockquote(),
            18 => self.preformatted(),
            19 => self.anchor_and_rule(),
            20 => self.mention_paragraph(),
            21 => self.inline_comment_paragraph(),
            _ => self.styles_paragraph(),
        }
    }

    fn words(&mut self, count: u64) {
        for i in 0..count {
            if i > 0 {
                self.out.push(' ');
            }
            let word = self.rng.pick(WORDS);
            self.out.push_str(word);
        }
    }

    fn sentence(&mut self) {
        let starter = self.rng.pick(STARTERS);
        self.out.push_str(starter);
        self.out.push(' ');
        let n = self.rng.range(4, 16);
        self.words(n);
        if self.rng.chance(1, 4) {
            let entity = self.rng.pick(ENTITIES);
            self.out.push(' ');
            self.out.push_str(entity);
            self.out.push(' ');
            self.words(2);
        }
        self.out.push_str(". ");
    }

    /// A sentence with inline styles, links, mentions and emoticons mixed in.
    fn rich_sentence(&mut self) {
        self.sentence();
        match self.rng.below(12) {
            0 => self.styled("strong"),
            1 => self.styled("em"),
            2 => self.styled("code"),
            3 => self.styled("u"),
            4 => self.styled("s"),
            5 => {
                self.out.push_str("<span style=\"color: rgb(255,86,48);\">");
                self.words(3);
                self.out.push_str("</span> ");
            }
            6 => self.external_link(),
            7 => self.mention(),
            8 => self.emoticon(),
            9 => {
                self.out.push_str("H<sub>2</sub>O and x<sup>2</sup> ");
            }
            10 => self.out.push_str("<br />"),
            _ => {}
        }
        self.sentence();
    }

    /// Every inline style in one paragraph.
    fn styles_paragraph(&mut self) {
        self.out.push_str("<p>");
        self.sentence();
        for tag in ["strong", "em", "u", "s", "code", "sub", "sup"] {
            self.styled(tag);
        }
        self.out.push_str("<strong><em>");
        self.words(2);
        self.out
            .push_str("</em></strong> <span style=\"color: rgb(255,86,48);\">");
        self.words(2);
        self.out.push_str("</span>");
        self.external_link();
        self.emoticon();
        self.sentence();
        self.out.push_str("</p>");
    }

    fn styled(&mut self, tag: &str) {
        let _ = write!(self.out, "<{tag}>");
        let n = self.rng.range(1, 4);
        self.words(n);
        let _ = write!(self.out, "</{tag}> ");
    }

    fn external_link(&mut self) {
        let n = self.rng.below(1000);
        let _ = write!(
            self.out,
            "<a href=\"https://docs.example.com/guide/{n}?lang=en&amp;ref=wiki\">"
        );
        self.words(2);
        self.out.push_str("</a> ");
    }

    fn mention(&mut self) {
        if self.spec.mentions.is_empty() {
            return;
        }
        let idx = self.rng.index(self.spec.mentions.len());
        let account = &self.spec.mentions[idx];
        let _ = write!(
            self.out,
            "<ac:link><ri:user ri:account-id=\"{account}\" /></ac:link> "
        );
    }

    fn emoticon(&mut self) {
        let (name, short, id, fallback) = *self.rng.pick(EMOTICONS);
        let _ = write!(
            self.out,
            "<ac:emoticon ac:name=\"{name}\" ac:emoji-shortname=\"{short}\" ac:emoji-id=\"{id}\" ac:emoji-fallback=\"{fallback}\" /> "
        );
    }

    fn uuid(&mut self) -> String {
        self.rng.uuid()
    }

    fn heading(&mut self) {
        let level = self.rng.range(1, 4);
        let _ = write!(self.out, "<h{level}>");
        let n = self.rng.range(2, 6);
        self.words(n);
        let _ = write!(self.out, "</h{level}>");
    }

    fn paragraph(&mut self) {
        self.out.push_str("<p>");
        for _ in 0..self.rng.range(1, 3) {
            self.rich_sentence();
        }
        self.out.push_str("</p>");
    }

    fn list(&mut self, ordered: bool, depth: u32) {
        let tag = if ordered { "ol" } else { "ul" };
        if ordered && depth == 0 {
            self.out.push_str("<ol start=\"1\">");
        } else {
            let _ = write!(self.out, "<{tag}>");
        }
        for _ in 0..self.rng.range(2, 5) {
            self.out.push_str("<li><p>");
            self.sentence();
            self.out.push_str("</p>");
            if depth < 3 && self.rng.chance(1, 3) {
                let nested_ordered = self.rng.chance(1, 2);
                self.list(nested_ordered, depth + 1);
            }
            self.out.push_str("</li>");
        }
        let _ = write!(self.out, "</{tag}>");
    }

    fn cell(&mut self, tag: &str, attrs: &str) {
        let _ = write!(self.out, "<{tag}{attrs}><p>");
        let n = self.rng.range(1, 6);
        self.words(n);
        let _ = write!(self.out, "</p></{tag}>");
    }

    fn table(&mut self) {
        self.out.push_str(
            "<table data-table-width=\"760\" data-layout=\"default\"><colgroup><col style=\"width: 240.0px;\" /><col style=\"width: 260.0px;\" /><col style=\"width: 260.0px;\" /></colgroup><tbody>",
        );
        self.out.push_str("<tr>");
        for _ in 0..3 {
            self.cell("th", "");
        }
        self.out.push_str("</tr><tr>");
        self.cell("td", " rowspan=\"2\"");
        self.cell("td", "");
        self.out.push_str("<td><p>");
        self.status_macro();
        self.out.push_str("</p></td></tr><tr>");
        self.cell("td", " colspan=\"2\"");
        self.out.push_str("</tr>");
        for _ in 0..self.rng.range(1, 6) {
            self.out.push_str("<tr>");
            for _ in 0..3 {
                self.cell("td", "");
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</tbody></table>");
    }

    fn code(&mut self) {
        let language = *self.rng.pick(CODE_LANGUAGES);
        let id = self.uuid();
        let _ = write!(
            self.out,
            "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"language\">{language}</ac:parameter><ac:parameter ac:name=\"breakoutMode\">wide</ac:parameter><ac:plain-text-body><![CDATA["
        );
        for line in 0..self.rng.range(2, 12) {
            let _ = writeln!(
                self.out,
                "let value_{line} = compute(\"{}\") && x < {line} || y > 0; // <tag> & more",
                self.rng.pick(WORDS)
            );
        }
        if self.rng.chance(1, 8) {
            // A literal "]]>" inside code must be split across two CDATA sections.
            self.out.push_str("let s = \"]]]]><![CDATA[>\";");
        }
        self.out
            .push_str("]]></ac:plain-text-body></ac:structured-macro>");
    }

    fn noformat(&mut self) {
        let id = self.uuid();
        let _ = write!(
            self.out,
            "<ac:structured-macro ac:name=\"noformat\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:plain-text-body><![CDATA["
        );
        for _ in 0..self.rng.range(2, 6) {
            self.words(6);
            self.out.push('\n');
        }
        self.out
            .push_str("]]></ac:plain-text-body></ac:structured-macro>");
    }

    fn panel(&mut self) {
        let name = *self.rng.pick(MACRO_PANELS);
        let id = self.uuid();
        let _ = write!(
            self.out,
            "<ac:structured-macro ac:name=\"{name}\" ac:schema-version=\"1\" ac:macro-id=\"{id}\">"
        );
        if name == "panel" {
            self.out.push_str(
                "<ac:parameter ac:name=\"bgColor\">#deebff</ac:parameter><ac:parameter ac:name=\"panelIcon\">:slight_smile:</ac:parameter>",
            );
        } else if self.rng.chance(1, 2) {
            self.out.push_str("<ac:parameter ac:name=\"title\">");
            self.words(3);
            self.out.push_str("</ac:parameter>");
        }
        self.out.push_str("<ac:rich-text-body>");
        self.paragraph();
        self.out
            .push_str("</ac:rich-text-body></ac:structured-macro>");
    }

    fn expand(&mut self) {
        let id = self.uuid();
        let _ = write!(
            self.out,
            "<ac:structured-macro ac:name=\"expand\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"title\">"
        );
        self.words(3);
        self.out.push_str("</ac:parameter><ac:rich-text-body>");
        self.paragraph();
        self.list(false, 1);
        self.out
            .push_str("</ac:rich-text-body></ac:structured-macro>");
    }

    fn status_macro(&mut self) {
        let (colour, title) = *self.rng.pick(STATUS_LOZENGES);
        let id = self.uuid();
        let _ = write!(
            self.out,
            "<ac:structured-macro ac:name=\"status\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"title\">{title}</ac:parameter><ac:parameter ac:name=\"colour\">{colour}</ac:parameter></ac:structured-macro>"
        );
    }

    fn status_paragraph(&mut self) {
        self.out.push_str("<p>Status: ");
        self.status_macro();
        self.out.push(' ');
        self.sentence();
        self.out.push_str("</p>");
    }

    fn task_list(&mut self) {
        self.out.push_str("<ac:task-list>");
        for _ in 0..self.rng.range(2, 5) {
            let task_id = self.rng.range(1, 999);
            let uuid = self.uuid();
            let status = if self.rng.chance(1, 2) {
                "complete"
            } else {
                "incomplete"
            };
            let _ = write!(
                self.out,
                "<ac:task><ac:task-id>{task_id}</ac:task-id><ac:task-uuid>{uuid}</ac:task-uuid><ac:task-status>{status}</ac:task-status><ac:task-body><span class=\"placeholder-inline-tasks\">"
            );
            self.words(5);
            self.out.push(' ');
            self.mention();
            self.out.push_str("</span></ac:task-body></ac:task>");
        }
        self.out.push_str("</ac:task-list>");
    }

    fn page_ref(&mut self) -> Option<(String, String)> {
        if self.spec.links.is_empty() {
            return None;
        }
        let idx = self.rng.index(self.spec.links.len());
        let (title, key) = &self.spec.links[idx];
        let mut attrs = String::new();
        attrs.push_str("ri:space-key=\"");
        escape(key, &mut attrs);
        attrs.push_str("\" ri:content-title=\"");
        escape(title, &mut attrs);
        attrs.push('"');
        Some((attrs, title.clone()))
    }

    fn page_link_paragraph(&mut self) {
        self.out.push_str("<p>See ");
        if let Some((attrs, _)) = self.page_ref() {
            let version = self.rng.range(1, 40);
            match self.rng.below(3) {
                0 => {
                    let _ = write!(
                        self.out,
                        "<ac:link><ri:page {attrs} ri:version-at-save=\"{version}\" /></ac:link>"
                    );
                }
                1 => {
                    let _ = write!(
                        self.out,
                        "<ac:link><ri:page {attrs} /><ac:link-body>the <strong>linked</strong> page</ac:link-body></ac:link>"
                    );
                }
                _ => {
                    let _ = write!(
                        self.out,
                        "<ac:link><ri:page {attrs} /><ac:plain-text-link-body><![CDATA[related page]]></ac:plain-text-link-body></ac:link>"
                    );
                }
            }
        }
        self.out.push_str(" for details. ");
        self.sentence();
        self.out.push_str("</p>");
    }

    fn image(&mut self) {
        let n = self.rng.below(100);
        if self.rng.chance(1, 5) {
            let _ = write!(
                self.out,
                "<p><ac:image ac:height=\"250\"><ri:url ri:value=\"https://images.example.com/chart-{n}.png\" /></ac:image></p>"
            );
            return;
        }
        let _ = write!(
            self.out,
            "<ac:image ac:align=\"center\" ac:layout=\"center\" ac:alt=\"diagram-{n}.png\" ac:width=\"760\"><ri:attachment ri:filename=\"diagram-{n}.png\" ri:version-at-save=\"1\" /><ac:caption><p>"
        );
        self.words(4);
        self.out.push_str("</p></ac:caption></ac:image>");
    }

    fn jira(&mut self) {
        let id = self.uuid();
        let key = self.rng.range(1, 9999);
        let _ = write!(
            self.out,
            "<p><ac:structured-macro ac:name=\"jira\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"server\">System Jira</ac:parameter><ac:parameter ac:name=\"serverId\">8f3c1e2a-1d4b-3c5e-9f7a-0b1c2d3e4f5a</ac:parameter><ac:parameter ac:name=\"key\">ENG-{key}</ac:parameter></ac:structured-macro> tracks this.</p>"
        );
    }

    fn excerpt_or_include(&mut self) {
        let id = self.uuid();
        match (self.rng.below(3), self.page_ref()) {
            (1, Some((attrs, _))) => {
                let _ = write!(
                    self.out,
                    "<ac:structured-macro ac:name=\"include\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"\"><ac:link><ri:page {attrs} /></ac:link></ac:parameter></ac:structured-macro>"
                );
            }
            (2, Some((attrs, _))) => {
                let _ = write!(
                    self.out,
                    "<ac:structured-macro ac:name=\"excerpt-include\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"nopanel\">true</ac:parameter><ac:parameter ac:name=\"\"><ac:link><ri:page {attrs} /></ac:link></ac:parameter></ac:structured-macro>"
                );
            }
            _ => {
                let _ = write!(
                    self.out,
                    "<ac:structured-macro ac:name=\"excerpt\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"atlassian-macro-output-type\">BLOCK</ac:parameter><ac:rich-text-body>"
                );
                self.paragraph();
                self.out
                    .push_str("</ac:rich-text-body></ac:structured-macro>");
            }
        }
    }

    fn toc_or_children(&mut self) {
        let id = self.uuid();
        if self.rng.chance(1, 2) {
            let _ = write!(
                self.out,
                "<ac:structured-macro ac:name=\"toc\" ac:schema-version=\"1\" data-layout=\"default\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"maxLevel\">3</ac:parameter><ac:parameter ac:name=\"minLevel\">1</ac:parameter><ac:parameter ac:name=\"outline\">false</ac:parameter><ac:parameter ac:name=\"style\">default</ac:parameter><ac:parameter ac:name=\"type\">list</ac:parameter><ac:parameter ac:name=\"printable\">true</ac:parameter></ac:structured-macro>"
            );
        } else {
            let _ = write!(
                self.out,
                "<ac:structured-macro ac:name=\"children\" ac:schema-version=\"2\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"all\">true</ac:parameter><ac:parameter ac:name=\"sort\">title</ac:parameter></ac:structured-macro>"
            );
        }
    }

    fn unknown_macro(&mut self) {
        let id = self.uuid();
        let _ = write!(
            self.out,
            "<ac:structured-macro ac:name=\"roadmap-planner-x\" ac:schema-version=\"1\" ac:macro-id=\"{id}\"><ac:parameter ac:name=\"mode\">timeline</ac:parameter><ac:parameter ac:name=\"source\">%7B%22lanes%22%3A3%7D</ac:parameter><ac:rich-text-body><p>"
        );
        self.sentence();
        self.out
            .push_str("</p></ac:rich-text-body></ac:structured-macro>");
    }

    fn blockquote(&mut self) {
        self.out.push_str("<blockquote><p>");
        self.sentence();
        self.out.push_str("</p></blockquote>");
    }

    fn preformatted(&mut self) {
        self.out.push_str("<pre>");
        self.words(8);
        self.out.push_str("\n  ");
        self.words(5);
        self.out.push_str(" &lt;kept&gt;</pre>");
    }

    fn anchor_and_rule(&mut self) {
        let label = *self.rng.pick(LABELS);
        let _ = write!(
            self.out,
            "<p><ac:structured-macro ac:name=\"anchor\" ac:schema-version=\"1\"><ac:parameter ac:name=\"\">{label}</ac:parameter></ac:structured-macro></p><hr />"
        );
    }

    fn mention_paragraph(&mut self) {
        self.out.push_str("<p>Owner: ");
        self.mention();
        self.out.push_str("&nbsp;&mdash; reviewers: ");
        self.mention();
        self.mention();
        self.sentence();
        self.out.push_str("</p>");
    }

    fn inline_comment_paragraph(&mut self) {
        let reference = self.uuid();
        self.out.push_str("<p>");
        self.sentence();
        let _ = write!(
            self.out,
            "<ac:inline-comment-marker ac:ref=\"{reference}\">"
        );
        self.words(4);
        self.out.push_str("</ac:inline-comment-marker> ");
        self.sentence();
        self.out.push_str("</p>");
    }
}

/// A short text for an inline comment's `inlineOriginalSelection`.
pub(crate) fn inline_selection(seed: u64, comment_id: u64) -> String {
    let mut rng = Rng::for_parts(seed, &[hash(seed, &[comment_id]), 0x5E1]);
    let mut text = String::new();
    for i in 0..rng.range(2, 6) {
        if i > 0 {
            text.push(' ');
        }
        let word = *rng.pick(WORDS);
        text.push_str(word);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: u64, version: u32, kind: BodyKind) -> BodySpec<'static> {
        static MENTIONS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        static LINKS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
        BodySpec {
            seed: 3,
            id,
            version,
            kind,
            title: "Title",
            mentions: MENTIONS.get_or_init(|| vec!["5b10ac8d82e05b22cc7d4ef5".to_owned()]),
            links: LINKS.get_or_init(|| vec![("People & \"Culture\"".to_owned(), "HR".to_owned())]),
        }
    }

    #[test]
    fn bodies_are_deterministic_and_change_with_the_version() {
        let a = storage(&spec(1000, 3, BodyKind::Page));
        assert_eq!(a, storage(&spec(1000, 3, BodyKind::Page)));
        assert_ne!(a, storage(&spec(1000, 4, BodyKind::Page)));
        assert!(a.len() >= target_size(3, 1000, BodyKind::Page));
    }

    #[test]
    fn a_mid_sized_body_contains_every_construct() {
        let id = (1..10_000u64)
            .find(|id| {
                let size = target_size(3, *id, BodyKind::Page);
                (16_000..20_000).contains(&size)
            })
            .unwrap();
        // Try a few versions: a layout-wrapped body mixes blocks at random.
        let body = (1..20)
            .map(|v| storage(&spec(id, v, BodyKind::Page)))
            .find(|b| !b.starts_with("<ac:layout>"))
            .unwrap();
        for needle in [
            "<h",
            "<strong>",
            "<ul>",
            "<ol start=",
            "<table",
            "colspan=",
            "rowspan=",
            "<th>",
            "ac:name=\"code\"",
            "<![CDATA[",
            "ac:name=\"noformat\"",
            "ac:name=\"expand\"",
            "ac:name=\"status\"",
            "<ac:task-list>",
            "<ri:user ri:account-id=",
            "<ri:page ",
            "<ac:image",
            "ac:name=\"jira\"",
            "ac:name=\"toc\"",
            "ac:name=\"children\"",
            "roadmap-planner-x",
            "&",
            "<ac:inline-comment-marker",
            "<pre>",
            "<blockquote>",
        ]
        .into_iter()
        .filter(|n| *n != "ac:name=\"toc\"" && *n != "ac:name=\"children\"")
        {
            assert!(body.contains(needle), "missing {needle}");
        }
        assert!(body.contains("ac:name=\"toc\"") || body.contains("ac:name=\"children\""));
        assert!(body.contains("People &amp; &quot;Culture&quot;"));
    }

    #[test]
    fn size_distribution_is_mostly_2_to_20_kb_with_rare_giants() {
        let sizes: Vec<usize> = (0..20_000u64)
            .map(|id| target_size(9, id, BodyKind::Page))
            .collect();
        let mid = sizes
            .iter()
            .filter(|s| (2_000..=20_000).contains(*s))
            .count();
        let huge = sizes.iter().filter(|s| **s > 1_000_000).count();
        assert!(mid > 17_000, "{mid}");
        assert!((2..=30).contains(&huge), "{huge}");
    }

    #[test]
    fn adf_is_json() {
        let value: serde_json::Value =
            serde_json::from_str(&adf(&spec(5, 1, BodyKind::Page))).unwrap();
        assert_eq!(value["type"], "doc");
    }
}
