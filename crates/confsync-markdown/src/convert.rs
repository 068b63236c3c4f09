//! The converter: reads the token stream once and tells the writer what each
//! element means (a paragraph, a list item, a macro, a mention...).
//!
//! Nesting lives in an explicit stack of frames, never in the Rust call
//! stack, so hostile depth cannot overflow it. Every search of that stack is
//! bounded to a small window, which keeps the whole pass linear in the input.
//! This module must not format Markdown itself: escaping, prefixes and layout
//! belong to the writer.

use std::borrow::Cow;

use crate::Lookup;
use crate::emoticon;
use crate::lexer::{Lexer, Tag, Token};
use crate::writer::{Flow, Writer};

/// How a mention of a user the lookup does not know is written. The raw
/// account id is never shown: it means nothing to a reader and is personal data.
pub(crate) const UNKNOWN_USER: &str = "@unknown-user";

/// How far up the frame stack an end tag, an auto-close or a reference looks
/// for its element. Well-formed input always finds it at the top; the window
/// only matters for misnested input, and keeps that linear.
const SEARCH_WINDOW: usize = 64;

pub(crate) fn convert(input: &str, lookup: &dyn Lookup, max_depth: usize) -> String {
    let mut converter = Converter {
        lookup,
        // Frames are cheap heap entries; past this depth elements keep only
        // their text and their block boundaries.
        max_frames: max_depth.saturating_mul(8).max(8),
        // Output is usually a little shorter than the input.
        w: Writer::new(input.len() / 2 + 16, max_depth),
        frames: Vec::new(),
        text: String::new(),
        skip: 0,
        capture: None,
        marks: [0; MARK_KINDS],
        real_tables: 0,
        flat_tables: 0,
    };
    for token in Lexer::new(input) {
        converter.token(token);
    }
    converter.finish()
}

const MARK_KINDS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkKind {
    Strong = 0,
    Emphasis = 1,
    Strike = 2,
    Sub = 3,
    Sup = 4,
    Code = 5,
}

impl MarkKind {
    fn delimiters(self) -> (&'static str, &'static str) {
        match self {
            MarkKind::Strong => ("**", "**"),
            MarkKind::Emphasis => ("*", "*"),
            MarkKind::Strike => ("~~", "~~"),
            MarkKind::Sub => ("<sub>", "</sub>"),
            MarkKind::Sup => ("<sup>", "</sup>"),
            MarkKind::Code => ("", ""),
        }
    }
}

/// What a captured piece of raw text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureKind {
    Param(Param),
    PlainBody,
    Pre,
    TaskStatus,
    PanelType,
    ImageCaption,
}

/// The macro parameters the converter uses; others are not visible text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Title,
    Language,
    Key,
    Icon,
    Body,
}

/// A resource a link, an image or a macro points at (`ri:*` elements).
#[derive(Debug, Clone)]
enum Target {
    Page {
        title: Option<String>,
        id: Option<String>,
    },
    Attachment(String),
    Url(String),
    User(Option<String>),
    Space(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacroKind {
    Code,
    NoFormat,
    Admonition(&'static str),
    Panel,
    Quote,
    Expand,
    Status,
    Jira,
    Include,
    ViewFile,
    Math { inline: bool },
    Other,
}

impl MacroKind {
    fn classify(name: &str) -> MacroKind {
        match name {
            "code" | "code-block" | "sourcecode" => MacroKind::Code,
            "noformat" | "preformatted" => MacroKind::NoFormat,
            "info" => MacroKind::Admonition("Info"),
            "note" => MacroKind::Admonition("Note"),
            "warning" => MacroKind::Admonition("Warning"),
            "tip" => MacroKind::Admonition("Tip"),
            "panel" => MacroKind::Panel,
            "quote" => MacroKind::Quote,
            "expand" | "ui-expand" => MacroKind::Expand,
            "status" => MacroKind::Status,
            "jira" | "jiraissue" => MacroKind::Jira,
            "include" | "excerpt-include" => MacroKind::Include,
            "view-file" | "viewfile" | "viewpdf" | "viewdoc" | "viewxls" | "viewppt" => {
                MacroKind::ViewFile
            }
            // Formula macros of the marketplace apps keep LaTeX in a `body` parameter.
            _ if name.contains("math") || name.contains("latex") => MacroKind::Math {
                inline: name.contains("inline"),
            },
            // Everything else, `excerpt` and content-less macros such as
            // `toc`, `children` and `anchor` included: the bodies are kept,
            // the parameters dropped, so a macro without a body vanishes.
            _ => MacroKind::Other,
        }
    }

    /// Which parameter values this macro shows.
    fn wants(self, param: &str) -> Option<Param> {
        let param = match param {
            "title" => Param::Title,
            "language" => Param::Language,
            "key" => Param::Key,
            "body" => Param::Body,
            "panelicontext" => Param::Icon,
            _ => return None,
        };
        let wanted = match self {
            MacroKind::Code => matches!(param, Param::Title | Param::Language),
            MacroKind::Admonition(_) | MacroKind::Expand | MacroKind::Status => {
                param == Param::Title
            }
            MacroKind::Panel => matches!(param, Param::Title | Param::Icon),
            MacroKind::Jira => param == Param::Key,
            MacroKind::Math { .. } => param == Param::Body,
            _ => false,
        };
        wanted.then_some(param)
    }
}

#[derive(Debug)]
struct Macro {
    kind: MacroKind,
    name: String,
    title: Option<String>,
    language: Option<String>,
    key: Option<String>,
    icon: Option<String>,
    target: Option<Target>,
    plain: Option<String>,
    header_done: bool,
}

#[derive(Debug)]
struct AcLink {
    target: Option<Target>,
    anchor: Option<String>,
}

#[derive(Debug)]
struct AcImage {
    alt: Option<String>,
    title: Option<String>,
    target: Option<Target>,
    caption: Option<String>,
    block: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemRender {
    /// A Markdown list item container.
    Container,
    /// A marker written as text (inside a table cell or a heading).
    Inline,
    /// Too deep: just a block.
    Flat,
}

#[derive(Debug)]
enum Kind {
    Transparent,
    /// Content suppressed (text only: references inside still count).
    Skip,
    Block {
        paragraph: bool,
    },
    Heading,
    Quote {
        pushed: bool,
    },
    List {
        ordered: bool,
        next: u64,
        items: u64,
    },
    Item(ItemRender),
    Task {
        complete: bool,
    },
    Mark(MarkKind),
    Link {
        href: Option<String>,
    },
    AcLink(Box<AcLink>),
    AcImage(Box<AcImage>),
    Capture(CaptureKind),
    Table,
    Row,
    Cell,
    Caption,
    FlatTable,
    FlatRow {
        cells: u32,
    },
    Macro(Box<Macro>),
    RichBody {
        pushed: bool,
    },
    AdfExtension {
        content: bool,
    },
    AdfNode {
        panel: bool,
        panel_type: Option<String>,
    },
    AdfContent {
        pushed: bool,
    },
}

#[derive(Debug)]
struct Frame {
    key: u64,
    kind: Kind,
}

struct Converter<'l> {
    lookup: &'l dyn Lookup,
    max_frames: usize,
    w: Writer,
    frames: Vec<Frame>,
    /// Text not yet handed on: consecutive text tokens (split by entities)
    /// are joined so escaping sees whole words.
    text: String,
    skip: usize,
    capture: Option<String>,
    marks: [u32; MARK_KINDS],
    real_tables: u32,
    flat_tables: u32,
}

/// FNV-1a, enough to tell element names apart when matching end tags.
fn name_key(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Elements that never have content, whatever the markup says.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "hr"
            | "img"
            | "col"
            | "wbr"
            | "input"
            | "meta"
            | "link"
            | "area"
            | "base"
            | "source"
            | "track"
            | "embed"
            | "ac:emoticon"
    )
}

/// Whether a link target is safe to keep: relative, or a known scheme.
fn safe_href(href: &str) -> bool {
    let href = href.trim();
    match href.find(':') {
        Some(colon) if !href[..colon].contains(['/', '?', '#']) => {
            let scheme = href[..colon].to_ascii_lowercase();
            matches!(
                scheme.as_str(),
                "http" | "https" | "mailto" | "ftp" | "ftps" | "sftp" | "tel"
            )
        }
        _ => true,
    }
}

/// A code fence info string: one word of safe characters, or nothing.
fn sanitize_language(language: &str) -> Option<String> {
    let word = language.split_whitespace().next()?;
    let clean: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '-' | '_' | '.'))
        .take(32)
        .collect();
    match clean.to_ascii_lowercase().as_str() {
        "" | "none" | "text" | "plain" | "plaintext" => None,
        _ => Some(clean),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Converter<'_> {
    fn token(&mut self, token: Token<'_>) {
        match token {
            Token::Text(text) | Token::CData(text) => self.text.push_str(text),
            Token::Char(c) => self.text.push(c),
            Token::Start(tag) => {
                self.flush_text();
                self.start(&tag, false);
            }
            Token::Empty(tag) => {
                self.flush_text();
                self.start(&tag, true);
            }
            Token::End(name) => {
                self.flush_text();
                self.end(name);
            }
        }
    }

    fn finish(mut self) -> String {
        self.flush_text();
        while let Some(frame) = self.frames.pop() {
            self.close(frame);
        }
        self.w.finish()
    }

    fn flush_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        if self.skip == 0 {
            match &mut self.capture {
                Some(capture) => capture.push_str(&self.text),
                None => self.w.text(&self.text),
            }
        }
        self.text.clear();
    }

    fn push(&mut self, name: &str, kind: Kind) {
        if matches!(kind, Kind::Skip) {
            self.skip += 1;
        }
        self.frames.push(Frame {
            key: name_key(name),
            kind,
        });
    }

    // ----- start tags ------------------------------------------------------------

    fn start(&mut self, tag: &Tag<'_>, empty: bool) {
        let name = lowercase(tag.name());
        let name = name.as_ref();
        let pushed_before = self.frames.len();

        if name.starts_with("ri:") {
            self.reference(name, tag);
            if !empty {
                self.push(name, Kind::Transparent);
            }
            return;
        }
        if self.skip > 0 || self.capture.is_some() {
            if name == "br"
                && self.skip == 0
                && let Some(capture) = &mut self.capture
            {
                capture.push('\n');
            }
            if !empty && !is_void(name) {
                self.push(name, Kind::Transparent);
            }
            return;
        }
        if self.frames.len() >= self.max_frames {
            // Too deep to honour: keep the text, and keep words apart.
            if !empty && !is_void(name) {
                self.w.block_break();
                self.push(name, Kind::Block { paragraph: false });
            } else if name == "br" {
                self.w.hard_break();
            }
            return;
        }

        self.auto_close(name);
        let kind = self.open(name, tag, empty);
        if let Some(kind) = kind {
            if empty || is_void(name) {
                // `<p/>`, `<ac:task-list/>`: open and close at once.
                let key = name_key(name);
                self.close(Frame { key, kind });
            } else {
                self.push(name, kind);
            }
        }
        debug_assert!(self.frames.len() <= pushed_before + 1);
    }

    /// Closes elements that HTML closes implicitly, so sloppy markup such as
    /// `<li>a<li>b` or `<td>a<td>b` still lays out.
    fn auto_close(&mut self, name: &str) {
        let (closes, stops): (&[&str], &[&str]) = match name {
            "li" => (&["li"], &["ul", "ol"]),
            "td" | "th" => (&["td", "th"], &["tr", "table"]),
            "tr" => (&["tr"], &["table", "thead", "tbody", "tfoot"]),
            "p" => (&["p"], &[]),
            _ => return,
        };
        let window = if name == "p" { 1 } else { 4 };
        let closes: Vec<u64> = closes.iter().map(|n| name_key(n)).collect();
        let stops: Vec<u64> = stops.iter().map(|n| name_key(n)).collect();
        let found = self
            .frames
            .iter()
            .rev()
            .take(window)
            .take_while(|f| !stops.contains(&f.key))
            .position(|f| closes.contains(&f.key));
        if let Some(depth) = found {
            for _ in 0..=depth {
                if let Some(frame) = self.frames.pop() {
                    self.close(frame);
                }
            }
        }
    }

    /// What an element opens; `None` when it is handled on the spot.
    fn open(&mut self, name: &str, tag: &Tag<'_>, empty: bool) -> Option<Kind> {
        let kind = match name {
            "p" | "div" => {
                self.w.paragraph_break();
                Kind::Block { paragraph: true }
            }
            "section" | "article" | "aside" | "header" | "footer" | "nav" | "main" | "figure"
            | "figcaption" | "address" | "center" | "details" | "summary" | "dl" | "dt" | "dd"
            | "form" | "fieldset" | "legend" | "ac:layout" | "ac:layout-section"
            | "ac:layout-cell" => {
                self.w.block_break();
                Kind::Block { paragraph: false }
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = usize::from(name.as_bytes()[1] - b'0');
                if self.w.flow() == Flow::Block {
                    self.w.open_heading(level);
                    Kind::Heading
                } else {
                    self.w.block_break();
                    Kind::Block { paragraph: false }
                }
            }
            "blockquote" => Kind::Quote {
                pushed: self.w.push_container("> ", true, false),
            },
            "pre" => self.capture_kind(CaptureKind::Pre),
            "hr" => {
                self.w.rule();
                return None;
            }
            "br" => {
                self.w.hard_break();
                return None;
            }
            "ul" | "ol" | "ac:task-list" => {
                self.w.block_break();
                let start = tag
                    .attr("start")
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(999_999_999);
                Kind::List {
                    ordered: name == "ol",
                    next: start,
                    items: 0,
                }
            }
            "li" => self.open_item(None),
            "ac:task" => Kind::Task { complete: false },
            "ac:task-status" => self.capture_kind(CaptureKind::TaskStatus),
            "ac:task-id" | "ac:task-uuid" | "ac:placeholder" | "script" | "style" | "template"
            | "head" | "colgroup" => Kind::Skip,
            "ac:task-body" => {
                let complete = self
                    .frames
                    .iter()
                    .rev()
                    .take(2)
                    .any(|f| matches!(f.kind, Kind::Task { complete: true }));
                self.open_item(Some(complete))
            }
            "table" => {
                if self.flat_tables == 0 && self.w.start_table() {
                    self.real_tables += 1;
                    Kind::Table
                } else {
                    self.flat_tables += 1;
                    self.w.block_break();
                    Kind::FlatTable
                }
            }
            "tr" => {
                if self.in_real_table() {
                    self.w.start_row();
                    Kind::Row
                } else {
                    self.w.block_break();
                    Kind::FlatRow { cells: 0 }
                }
            }
            "td" | "th" => {
                if self.in_real_table() {
                    let span = |attr: &str| {
                        tag.attr(attr)
                            .and_then(|s| s.trim().parse::<usize>().ok())
                            .unwrap_or(1)
                    };
                    self.w.start_cell(span("colspan"), span("rowspan"));
                    Kind::Cell
                } else {
                    let first = match self.frames.last_mut() {
                        Some(Frame {
                            kind: Kind::FlatRow { cells },
                            ..
                        }) => {
                            *cells += 1;
                            *cells == 1
                        }
                        _ => true,
                    };
                    if !first {
                        self.w.text(" | ");
                    }
                    Kind::Transparent
                }
            }
            "caption" => {
                if self.in_real_table() {
                    self.w.start_caption();
                    Kind::Caption
                } else {
                    self.w.block_break();
                    Kind::Block { paragraph: false }
                }
            }
            "strong" | "b" => self.mark(MarkKind::Strong),
            "em" | "i" | "cite" | "dfn" => self.mark(MarkKind::Emphasis),
            "del" | "s" | "strike" => self.mark(MarkKind::Strike),
            "sub" => self.mark(MarkKind::Sub),
            "sup" => self.mark(MarkKind::Sup),
            "code" | "tt" | "kbd" | "samp" => {
                if self.marks[MarkKind::Code as usize] > 0 {
                    Kind::Transparent
                } else {
                    self.marks[MarkKind::Code as usize] += 1;
                    self.w.open_code();
                    Kind::Mark(MarkKind::Code)
                }
            }
            "a" => match tag.attr("href") {
                Some(href) if !self.in_link() => {
                    self.w.open_link();
                    Kind::Link { href: Some(href) }
                }
                _ => Kind::Transparent,
            },
            "img" => {
                let src = tag.attr("src").unwrap_or_default();
                let alt = tag.attr("alt").or_else(|| tag.attr("title"));
                if !src.trim().is_empty() || alt.is_some() {
                    self.w.image(alt.as_deref().unwrap_or(""), &src);
                }
                return None;
            }
            "time" => {
                if empty && let Some(datetime) = tag.attr("datetime") {
                    self.w.text(&datetime);
                }
                Kind::Transparent
            }
            "ac:structured-macro" | "ac:macro" => {
                let name = tag
                    .attr("ac:name")
                    .map(|n| n.trim().to_ascii_lowercase())
                    .unwrap_or_default();
                let kind = MacroKind::classify(&name);
                Kind::Macro(Box::new(Macro {
                    kind,
                    name,
                    title: None,
                    language: None,
                    key: None,
                    icon: None,
                    target: None,
                    plain: None,
                    header_done: false,
                }))
            }
            "ac:parameter" | "ac:default-parameter" => {
                let param_name = tag
                    .attr("ac:name")
                    .map(|n| n.to_ascii_lowercase())
                    .unwrap_or_default();
                match self.parent_macro().map(|m| m.kind.wants(&param_name)) {
                    Some(Some(param)) => self.capture_kind(CaptureKind::Param(param)),
                    _ => Kind::Skip,
                }
            }
            "ac:plain-text-body" => {
                if self.parent_macro().is_some() {
                    self.capture_kind(CaptureKind::PlainBody)
                } else {
                    Kind::Transparent
                }
            }
            "ac:rich-text-body" => self.open_rich_body(),
            "ac:link" => {
                if self.in_link() {
                    Kind::Transparent
                } else {
                    self.w.open_link();
                    Kind::AcLink(Box::new(AcLink {
                        target: None,
                        anchor: tag.attr("ac:anchor"),
                    }))
                }
            }
            "ac:image" => {
                let block = tag.attr("ac:align").is_some() || tag.attr("ac:layout").is_some();
                if block {
                    self.w.block_break();
                }
                Kind::AcImage(Box::new(AcImage {
                    alt: non_empty(tag.attr("ac:alt")),
                    title: non_empty(tag.attr("ac:title")),
                    target: None,
                    caption: None,
                    block,
                }))
            }
            "ac:emoticon" => {
                let emoji = emoticon::render(
                    tag.attr("ac:name").as_deref(),
                    tag.attr("ac:emoji-shortname").as_deref(),
                    tag.attr("ac:emoji-fallback").as_deref(),
                );
                if let Some(emoji) = emoji {
                    self.w.text(&emoji);
                }
                return None;
            }
            "ac:adf-extension" => Kind::AdfExtension { content: false },
            "ac:adf-node" => {
                self.w.block_break();
                Kind::AdfNode {
                    panel: tag.attr("type").as_deref() == Some("panel"),
                    panel_type: None,
                }
            }
            "ac:adf-attribute" => {
                let is_panel_type = tag.attr("key").as_deref() == Some("panel-type");
                if is_panel_type
                    && matches!(
                        self.frames.last(),
                        Some(Frame {
                            kind: Kind::AdfNode { .. },
                            ..
                        })
                    )
                {
                    self.capture_kind(CaptureKind::PanelType)
                } else {
                    Kind::Skip
                }
            }
            "ac:adf-content" => self.open_adf_content(),
            "ac:adf-fallback" => {
                let rendered = self
                    .frames
                    .iter()
                    .rev()
                    .take(2)
                    .any(|f| matches!(f.kind, Kind::AdfExtension { content: true }));
                if rendered {
                    Kind::Skip
                } else {
                    self.w.block_break();
                    Kind::Block { paragraph: false }
                }
            }
            "ac:caption" => {
                // An image caption is text for the image, not for the page.
                if matches!(
                    self.frames.last(),
                    Some(Frame {
                        kind: Kind::AcImage(_),
                        ..
                    })
                ) {
                    self.capture_kind(CaptureKind::ImageCaption)
                } else {
                    self.w.block_break();
                    Kind::Block { paragraph: false }
                }
            }
            _ => Kind::Transparent,
        };
        Some(kind)
    }

    fn capture_kind(&mut self, kind: CaptureKind) -> Kind {
        if self.capture.is_some() {
            return Kind::Transparent;
        }
        self.capture = Some(String::new());
        Kind::Capture(kind)
    }

    fn mark(&mut self, kind: MarkKind) -> Kind {
        // Nested emphasis of the same kind adds nothing and `****` misreads;
        // inside code, emphasis is literal.
        if self.marks[kind as usize] > 0 || self.marks[MarkKind::Code as usize] > 0 {
            return Kind::Transparent;
        }
        self.marks[kind as usize] += 1;
        let (open, close) = kind.delimiters();
        self.w.open_mark(open, close);
        Kind::Mark(kind)
    }

    fn in_link(&self) -> bool {
        self.frames
            .iter()
            .rev()
            .take(SEARCH_WINDOW)
            .any(|f| matches!(f.kind, Kind::Link { .. } | Kind::AcLink(_)))
    }

    fn in_real_table(&self) -> bool {
        self.real_tables > 0 && self.flat_tables == 0
    }

    fn parent_macro(&mut self) -> Option<&mut Macro> {
        match self.frames.last_mut() {
            Some(Frame {
                kind: Kind::Macro(m),
                ..
            }) => Some(m),
            _ => None,
        }
    }

    /// The list an item belongs to: `(ordered, next number, items that wrote
    /// a list line so far)`.
    fn enclosing_list(&mut self) -> Option<(&mut bool, &mut u64, &mut u64)> {
        self.frames
            .iter_mut()
            .rev()
            .take(4)
            .find_map(|f| match &mut f.kind {
                Kind::List {
                    ordered,
                    next,
                    items,
                } => Some((ordered, next, items)),
                _ => None,
            })
    }

    fn open_item(&mut self, task: Option<bool>) -> Kind {
        let (marker, follows_sibling) = match self.enclosing_list() {
            Some((ordered, next, items)) => {
                let marker = if *ordered {
                    let marker = format!("{next}. ");
                    *next = next.saturating_add(1).min(999_999_999);
                    marker
                } else {
                    "- ".to_owned()
                };
                // Only a sibling that wrote a list line lets this item follow
                // it directly; one flattened into text, or empty, does not.
                (marker, *items > 0)
            }
            None => ("- ".to_owned(), false),
        };
        let marker = match task {
            Some(true) => format!("{marker}[x] "),
            Some(false) => format!("{marker}[ ] "),
            None => marker,
        };
        // A list may start right under its parent item's text only where
        // CommonMark lets a list interrupt a paragraph: bullets, or ordered
        // lists starting at 1. `4. ` there would read as more paragraph text.
        let interrupts_paragraph =
            !marker.starts_with(|c: char| c.is_ascii_digit()) || marker.starts_with("1. ");
        let tight = follows_sibling || (self.w.in_used_item() && interrupts_paragraph);
        if self.w.flow() == Flow::Block {
            if self.w.push_container(&marker, false, tight) {
                Kind::Item(ItemRender::Container)
            } else {
                Kind::Item(ItemRender::Flat)
            }
        } else {
            self.w.open_inline_item(marker);
            Kind::Item(ItemRender::Inline)
        }
    }

    fn open_rich_body(&mut self) -> Kind {
        let Some(m) = self.parent_macro() else {
            // A body outside a macro (seen in generated pages) is just content.
            return Kind::Transparent;
        };
        m.header_done = true;
        let kind = m.kind;
        match kind {
            MacroKind::Admonition(label) => {
                let title = m.title.take();
                let pushed = self.w.push_container("> ", true, false);
                match title {
                    Some(title) => {
                        self.w.label(&format!("{label}: {title}"));
                        self.w.block_break();
                    }
                    None => self.w.label(&format!("{label}:")),
                }
                Kind::RichBody { pushed }
            }
            MacroKind::Panel | MacroKind::Quote => {
                let (title, icon) = (m.title.take(), m.icon.take());
                let pushed = self.w.push_container("> ", true, false);
                if let Some(icon) = icon.filter(|i| !i.is_ascii()) {
                    self.w.text(&icon);
                    self.w.glue();
                }
                if let Some(title) = title {
                    self.w.label(&title);
                    self.w.block_break();
                }
                Kind::RichBody { pushed }
            }
            MacroKind::Expand => {
                let title = m.title.take();
                self.w.block_break();
                if let Some(title) = title {
                    self.w.label(&title);
                    self.w.block_break();
                }
                Kind::RichBody { pushed: false }
            }
            _ => {
                self.w.block_break();
                Kind::RichBody { pushed: false }
            }
        }
    }

    fn open_adf_content(&mut self) -> Kind {
        for frame in self.frames.iter_mut().rev().take(2) {
            if let Kind::AdfExtension { content } = &mut frame.kind {
                *content = true;
            }
        }
        let panel = match self.frames.last_mut() {
            Some(Frame {
                kind:
                    Kind::AdfNode {
                        panel: true,
                        panel_type,
                    },
                ..
            }) => Some(panel_type.take()),
            _ => None,
        };
        match panel {
            Some(panel_type) => {
                let label = match panel_type.as_deref().map(str::trim) {
                    Some("info") => Some("Info:"),
                    Some("note") => Some("Note:"),
                    Some("warning") => Some("Warning:"),
                    Some("tip") => Some("Tip:"),
                    Some("success") => Some("Success:"),
                    Some("error") => Some("Error:"),
                    _ => None,
                };
                let pushed = self.w.push_container("> ", true, false);
                if let Some(label) = label {
                    self.w.label(label);
                }
                Kind::AdfContent { pushed }
            }
            None => {
                self.w.block_break();
                Kind::AdfContent { pushed: false }
            }
        }
    }

    /// An `ri:*` element: attaches what it points at to the nearest link,
    /// image or macro (the first reference wins).
    fn reference(&mut self, name: &str, tag: &Tag<'_>) {
        let target = match name {
            "ri:page" | "ri:blogpost" | "ri:content-entity" => Target::Page {
                title: non_empty(tag.attr("ri:content-title")),
                id: non_empty(tag.attr("ri:content-id")),
            },
            "ri:attachment" => match non_empty(tag.attr("ri:filename")) {
                Some(filename) => Target::Attachment(filename),
                None => return,
            },
            "ri:url" => match non_empty(tag.attr("ri:value")) {
                Some(url) => Target::Url(url),
                None => return,
            },
            "ri:user" => Target::User(
                non_empty(tag.attr("ri:account-id"))
                    .or_else(|| non_empty(tag.attr("ri:userkey")))
                    .or_else(|| non_empty(tag.attr("ri:username"))),
            ),
            "ri:space" => match non_empty(tag.attr("ri:space-key")) {
                Some(key) => Target::Space(key),
                None => return,
            },
            _ => return,
        };
        for frame in self.frames.iter_mut().rev().take(6) {
            let slot = match &mut frame.kind {
                Kind::AcLink(link) => &mut link.target,
                Kind::AcImage(image) => &mut image.target,
                Kind::Macro(m) => &mut m.target,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(target);
            }
            return;
        }
    }

    // ----- end tags --------------------------------------------------------------

    fn end(&mut self, name: &str) {
        let key = name_key(name);
        let found = self
            .frames
            .iter()
            .rev()
            .take(SEARCH_WINDOW)
            .position(|f| f.key == key);
        // An end tag with no open element nearby is dropped.
        let Some(depth) = found else {
            return;
        };
        for _ in 0..=depth {
            if let Some(frame) = self.frames.pop() {
                self.close(frame);
            }
        }
    }

    fn close(&mut self, frame: Frame) {
        match frame.kind {
            Kind::Transparent => {}
            Kind::Skip => self.skip = self.skip.saturating_sub(1),
            Kind::Block { paragraph } => {
                if paragraph {
                    self.w.paragraph_break();
                } else {
                    self.w.block_break();
                }
            }
            Kind::Heading => {
                self.w.close_span();
                self.w.block_break();
            }
            Kind::Quote { pushed } | Kind::RichBody { pushed } | Kind::AdfContent { pushed } => {
                if pushed {
                    self.w.pop_container();
                } else {
                    self.w.block_break();
                }
            }
            Kind::List { .. } | Kind::AdfNode { .. } | Kind::FlatTable | Kind::FlatRow { .. } => {
                if matches!(frame.kind, Kind::FlatTable) {
                    self.flat_tables = self.flat_tables.saturating_sub(1);
                }
                self.w.block_break();
            }
            Kind::Item(render) => match render {
                ItemRender::Container => {
                    // Counted once it wrote its marker line: a list line
                    // above lets the next item follow without a blank line.
                    if self.w.pop_container()
                        && let Some((_, _, items)) = self.enclosing_list()
                    {
                        *items += 1;
                    }
                }
                ItemRender::Inline => {
                    self.w.close_span();
                    self.w.block_break();
                }
                ItemRender::Flat => self.w.block_break(),
            },
            Kind::Task { .. } | Kind::AdfExtension { .. } => {}
            Kind::Mark(kind) => {
                self.marks[kind as usize] = self.marks[kind as usize].saturating_sub(1);
                self.w.close_span();
            }
            Kind::Link { href } => self.close_link(href.as_deref()),
            Kind::AcLink(link) => self.close_ac_link(*link),
            Kind::AcImage(image) => self.close_ac_image(*image),
            Kind::Capture(kind) => {
                let text = self.capture.take().unwrap_or_default();
                self.close_capture(kind, text);
            }
            Kind::Table => {
                self.real_tables = self.real_tables.saturating_sub(1);
                self.w.end_table();
            }
            Kind::Row => self.w.end_row(),
            Kind::Cell => self.w.end_cell(),
            Kind::Caption => self.w.end_caption(),
            Kind::Macro(m) => self.close_macro(*m),
        }
    }

    fn close_capture(&mut self, kind: CaptureKind, text: String) {
        match kind {
            CaptureKind::Pre => self.w.code_block(None, &text),
            CaptureKind::TaskStatus => {
                let complete = text.trim().eq_ignore_ascii_case("complete");
                if let Some(Frame {
                    kind: Kind::Task { complete: c },
                    ..
                }) = self.frames.last_mut()
                {
                    *c = complete;
                }
            }
            CaptureKind::PanelType => {
                if let Some(Frame {
                    kind: Kind::AdfNode { panel_type, .. },
                    ..
                }) = self.frames.last_mut()
                {
                    *panel_type = Some(text);
                }
            }
            CaptureKind::ImageCaption => {
                if let Some(Frame {
                    kind: Kind::AcImage(image),
                    ..
                }) = self.frames.last_mut()
                {
                    image.caption = non_empty(Some(text));
                }
            }
            CaptureKind::PlainBody => {
                if let Some(m) = self.parent_macro() {
                    m.plain = Some(text);
                }
            }
            CaptureKind::Param(param) => {
                let value = non_empty(Some(text));
                if let Some(m) = self.parent_macro() {
                    let slot = match param {
                        Param::Title => &mut m.title,
                        Param::Language => &mut m.language,
                        Param::Key => &mut m.key,
                        Param::Icon => &mut m.icon,
                        Param::Body => &mut m.plain,
                    };
                    if value.is_some() {
                        *slot = value;
                    }
                }
            }
        }
    }

    fn close_link(&mut self, href: Option<&str>) {
        let href = href.map(str::trim).unwrap_or("");
        let linkable = !href.is_empty() && safe_href(href);
        match self.w.close_span() {
            Some(start) => {
                let text = self.w.written_since(start);
                let same = text == href || href.strip_prefix("mailto:") == Some(text);
                if linkable && !same {
                    self.w.wrap_link(start, href);
                }
            }
            None => {
                if linkable && !href.starts_with('#') {
                    self.w.text(href);
                }
            }
        }
    }

    fn close_ac_link(&mut self, link: AcLink) {
        let start = self.w.close_span();
        match (start, link.target) {
            (Some(start), Some(Target::Attachment(file))) => self.w.wrap_link(start, &file),
            (Some(start), Some(Target::Url(url))) if safe_href(&url) => {
                self.w.wrap_link(start, &url)
            }
            (Some(_), _) => {}
            (None, Some(Target::User(account))) => {
                let name = account
                    .as_deref()
                    .and_then(|id| self.lookup.user_display_name(id))
                    .filter(|n| !n.trim().is_empty());
                match name {
                    Some(name) => self.w.text(&format!("@{}", name.trim())),
                    None => self.w.text(UNKNOWN_USER),
                }
            }
            (None, Some(Target::Page { title, id })) => {
                let title = title.or_else(|| id.and_then(|id| self.lookup.page_title(&id)));
                if let Some(title) = title.or(link.anchor) {
                    self.w.text(&title);
                }
            }
            (None, Some(Target::Attachment(file))) => self.link_to(&file, &file),
            (None, Some(Target::Url(url))) => self.w.text(&url),
            (None, Some(Target::Space(key))) => self.w.text(&key),
            (None, None) => {
                if let Some(anchor) = link.anchor {
                    self.w.text(&anchor);
                }
            }
        }
    }

    /// `[text](url)` with `text` escaped.
    fn link_to(&mut self, text: &str, url: &str) {
        self.w.open_link();
        self.w.text(text);
        if let Some(start) = self.w.close_span() {
            self.w.wrap_link(start, url);
        }
    }

    fn close_ac_image(&mut self, image: AcImage) {
        let url = match &image.target {
            Some(Target::Attachment(file)) => file.as_str(),
            Some(Target::Url(url)) if safe_href(url) => url.as_str(),
            _ => "",
        };
        let filename = match &image.target {
            Some(Target::Attachment(file)) => file.as_str(),
            _ => "",
        };
        // The caption is visible text, so it follows the image; the
        // description repeats neither it nor nothing.
        let caption = image.caption.as_deref();
        let alt = [image.alt.as_deref(), image.title.as_deref()]
            .into_iter()
            .flatten()
            .find(|alt| Some(*alt) != caption)
            .unwrap_or(filename);
        if !url.is_empty() || !alt.is_empty() {
            self.w.image(alt, url);
        }
        if let Some(caption) = caption {
            self.w.text(" ");
            self.w.text(caption);
        }
        if image.block {
            self.w.block_break();
        }
    }

    fn close_macro(&mut self, m: Macro) {
        match m.kind {
            MacroKind::Math { inline } => {
                let Some(body) = m.plain.as_deref() else {
                    return;
                };
                if inline {
                    self.w.code_span(body);
                } else {
                    self.w.code_block(Some("math"), body);
                }
            }
            MacroKind::Code | MacroKind::NoFormat | MacroKind::Other => {
                let Some(body) = m.plain.as_deref() else {
                    return;
                };
                let language = match m.kind {
                    MacroKind::Code => m.language.as_deref().and_then(sanitize_language),
                    MacroKind::NoFormat => None,
                    _ => sanitize_language(&m.name),
                };
                if let Some(title) = &m.title {
                    self.w.block_break();
                    self.w.label(title);
                    self.w.block_break();
                }
                self.w.code_block(language.as_deref(), body);
            }
            MacroKind::Admonition(label) => {
                if !m.header_done {
                    let pushed = self.w.push_container("> ", true, false);
                    match (&m.title, m.plain.as_deref()) {
                        (Some(title), _) => self.w.label(&format!("{label}: {title}")),
                        (None, Some(_)) => self.w.label(&format!("{label}:")),
                        (None, None) => {}
                    }
                    if let Some(body) = m.plain.as_deref() {
                        self.w.text(body);
                    }
                    if pushed {
                        self.w.pop_container();
                    }
                }
            }
            MacroKind::Panel | MacroKind::Quote | MacroKind::Expand => {
                if !m.header_done
                    && let Some(title) = &m.title
                {
                    self.w.block_break();
                    self.w.label(title);
                    self.w.block_break();
                }
                if let Some(body) = m.plain.as_deref() {
                    self.w.text(body);
                }
            }
            MacroKind::Status => {
                if let Some(title) = &m.title {
                    self.w.literal("[");
                    self.w.text(&title.to_uppercase());
                    self.w.literal("]");
                }
            }
            MacroKind::Jira => {
                if let Some(key) = &m.key {
                    self.w.text(key);
                }
            }
            MacroKind::Include => {
                let title = match m.target {
                    Some(Target::Page { title, id }) => {
                        title.or_else(|| id.and_then(|id| self.lookup.page_title(&id)))
                    }
                    _ => None,
                };
                if let Some(title) = title {
                    self.w.block_break();
                    self.w.open_mark("*", "*");
                    self.w.text("Included page: ");
                    self.w.text(&title);
                    self.w.close_span();
                    self.w.block_break();
                }
            }
            MacroKind::ViewFile => {
                if let Some(Target::Attachment(file)) = &m.target {
                    self.link_to(file, file);
                }
            }
        }
    }
}
