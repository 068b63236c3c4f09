//! The Markdown writer: everything about how output looks, nothing about
//! what the input means.
//!
//! The converter drives it with a small vocabulary (text, block breaks,
//! containers such as list items and quotes, inline marks, spans, code
//! blocks, tables). The writer owns whitespace collapsing, escaping, line
//! prefixes, lazily opened emphasis and GFM table layout, so that every
//! construct of the converter composes with every other.
//!
//! It must never recurse, never rescan what it already wrote (apart from the
//! content of the one span being closed), and never let input text through
//! unescaped outside code.

use crate::table::Table;

/// Where content currently flows, which decides what a block break becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Top-level Markdown blocks: breaks are newlines, containers prefix lines.
    Block,
    /// Inside a GFM table cell: one line, breaks become `<br>`.
    Cell,
    /// Inside a heading, a link or a code span: one line, breaks become spaces.
    Inline,
}

/// A break requested between two pieces of content. Breaks are lazy: they
/// are written only when content follows, so empty elements leave no trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    /// Nothing to write.
    None,
    /// A hard line break (`<br/>`).
    Hard,
    /// A block boundary: a blank line, or a single newline between the
    /// items of a tight list.
    Block,
    /// The very start of the output (or of a cell): no newline, only prefixes.
    Start,
}

/// Per-target line state (the document and each table cell have their own).
#[derive(Debug, Clone, Copy)]
struct Line {
    pending: Pending,
    /// Whitespace was seen and is owed before the next content.
    space: bool,
    /// Something was written since the last break.
    has_content: bool,
    /// The next character is the first of a Markdown line (after prefixes).
    at_line_start: bool,
    /// The last thing written was an unescaped `]`.
    after_bracket: bool,
    /// An admonition label was written and the next paragraph joins it.
    label_glue: bool,
    /// The line holds only prefixes ending in a task checkbox (`- [ ] `).
    after_checkbox: bool,
    /// Where the current line's content starts in `out` (after its prefixes).
    content_start: usize,
}

impl Line {
    const fn fresh() -> Self {
        Line {
            pending: Pending::Start,
            space: false,
            has_content: false,
            at_line_start: false,
            after_bracket: false,
            label_glue: false,
            after_checkbox: false,
            content_start: 0,
        }
    }
}

/// A block container that prefixes lines: a list item or a quote.
#[derive(Debug)]
struct Container {
    /// Prefix of the container's first line (`- `, `1. `, `> `).
    first: String,
    /// Prefix of its other lines (`  `, `   `, `> `).
    rest: String,
    used: bool,
    /// A list item that follows a sibling or its parent's text: it starts on
    /// the next line without a blank line in between.
    tight: bool,
    quote: bool,
}

/// What an inline stack entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanKind {
    /// Emphasis and friends: opener and closer around the content, closed and
    /// reopened around block breaks.
    Mark,
    /// A line prefix written before the first content (heading `## `, or a
    /// list marker inside a table cell). Inline-only when it is a heading.
    Prefix { inline_only: bool },
    /// A code span: content is raw and fenced when closed.
    Code,
    /// A link: content start is remembered for the converter to wrap.
    Link,
}

#[derive(Debug)]
struct Entry {
    kind: SpanKind,
    open: Opener,
    close: &'static str,
    started: bool,
    /// Byte offset of the content in the target buffer, once started.
    start: usize,
}

#[derive(Debug)]
enum Opener {
    Static(&'static str),
    Owned(String),
}

impl Opener {
    fn as_str(&self) -> &str {
        match self {
            Opener::Static(s) => s,
            Opener::Owned(s) => s,
        }
    }
}

/// Escaping table: bytes that may need a backslash somewhere.
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let specials = b"\\`*_[]<>&~|#+-=!(:.)0123456789 \t\n\r\x0c";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] = true;
        i += 1;
    }
    // NBSP's lead byte (U+00A0 is C2 A0), treated as whitespace.
    table[0xC2] = true;
    table
};

#[derive(Debug)]
pub(crate) struct Writer {
    out: String,
    line: Line,
    containers: Vec<Container>,
    max_containers: usize,
    inline: Vec<Entry>,
    inline_only: usize,
    code: usize,
    link: usize,
    table: Option<Table>,
    /// The document's line state, parked while a table cell is written.
    parked: Option<Line>,
}

impl Writer {
    pub(crate) fn new(capacity: usize, max_containers: usize) -> Self {
        Writer {
            out: String::with_capacity(capacity),
            line: Line::fresh(),
            containers: Vec::new(),
            max_containers,
            inline: Vec::new(),
            inline_only: 0,
            code: 0,
            link: 0,
            table: None,
            parked: None,
        }
    }

    pub(crate) fn finish(mut self) -> String {
        while !self.inline.is_empty() {
            self.close_span();
        }
        if self.table.is_some() {
            self.end_table();
        }
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        self.out
    }

    pub(crate) fn flow(&self) -> Flow {
        if self.inline_only > 0 {
            Flow::Inline
        } else if self.table.is_some() {
            Flow::Cell
        } else {
            Flow::Block
        }
    }

    fn buf(&mut self) -> &mut String {
        match &mut self.table {
            Some(table) => table.buffer(),
            None => &mut self.out,
        }
    }

    // ----- breaks and containers -------------------------------------------------

    /// Ends the current block; what that means depends on the flow.
    pub(crate) fn block_break(&mut self) {
        self.request(Pending::Block);
    }

    /// A block break that an admonition label absorbs (its first paragraph
    /// continues the label's line).
    pub(crate) fn paragraph_break(&mut self) {
        if self.line.label_glue {
            return;
        }
        self.request(Pending::Block);
    }

    /// `<br/>`.
    pub(crate) fn hard_break(&mut self) {
        self.request(Pending::Hard);
    }

    fn request(&mut self, kind: Pending) {
        match self.flow() {
            Flow::Inline => {
                self.line.space = self.line.has_content || self.line.space;
            }
            Flow::Cell => {
                self.line.space = false;
                if self.line.pending != Pending::Start {
                    self.line.pending = self.line.pending.max(kind);
                }
            }
            Flow::Block => {
                self.line.space = false;
                self.line.label_glue = false;
                if self.line.pending != Pending::Start {
                    if kind == Pending::Block {
                        self.close_marks();
                    }
                    self.line.pending = self.line.pending.max(kind);
                }
            }
        }
    }

    /// Closes the emphasis that is open on the current line; it reopens on
    /// the next content.
    fn close_marks(&mut self) {
        let mut closers = String::new();
        for entry in self.inline.iter_mut().rev() {
            if entry.kind == SpanKind::Mark && entry.started {
                entry.started = false;
                closers.push_str(entry.close);
            }
        }
        if !closers.is_empty() {
            self.buf().push_str(&closers);
        }
    }

    /// Pushes a list item (`marker` like `- `, `3. `, `- [x] `) or a quote.
    /// Returns whether a container was pushed: beyond the depth limit the
    /// content is flattened into the enclosing container instead.
    pub(crate) fn push_container(&mut self, marker: &str, quote: bool, tight: bool) -> bool {
        self.block_break();
        if self.flow() != Flow::Block || self.containers.len() >= self.max_containers {
            return false;
        }
        let rest = if quote {
            marker.to_owned()
        } else {
            // Continuation lines align with the item's text; the checkbox of a
            // task is part of the text.
            let width = marker.find('[').unwrap_or(marker.len());
            " ".repeat(width)
        };
        self.containers.push(Container {
            first: marker.to_owned(),
            rest,
            used: false,
            tight,
            quote,
        });
        true
    }

    /// Pops the innermost container; returns whether it wrote its first line.
    pub(crate) fn pop_container(&mut self) -> bool {
        self.block_break();
        self.containers.pop().is_some_and(|c| c.used)
    }

    /// Whether the innermost container is a list item that already has content.
    pub(crate) fn in_used_item(&self) -> bool {
        self.containers.last().is_some_and(|c| !c.quote && c.used)
    }

    /// Writes the pending break and the line prefixes, without opening marks.
    fn begin_line(&mut self) {
        let pending = std::mem::replace(&mut self.line.pending, Pending::None);
        // The break belongs to the target being written (document or cell),
        // whatever inline span has opened since it was requested.
        let target = if self.table.is_some() {
            Flow::Cell
        } else {
            Flow::Block
        };
        match target {
            Flow::Block => match pending {
                Pending::None => {}
                Pending::Start => {
                    self.write_prefixes();
                }
                Pending::Hard => {
                    self.out.push_str("\\\n");
                    self.write_prefixes();
                }
                Pending::Block => {
                    let tight = self
                        .containers
                        .iter()
                        .find(|c| !c.used)
                        .is_some_and(|c| c.tight && !c.quote);
                    self.out.push('\n');
                    if !tight {
                        self.write_blank_line();
                    }
                    self.write_prefixes();
                }
            },
            Flow::Cell => {
                if matches!(pending, Pending::Hard | Pending::Block) {
                    self.buf().push_str("<br>");
                    self.line.has_content = true;
                }
            }
            Flow::Inline => {}
        }
    }

    fn write_prefixes(&mut self) {
        let mut checkbox = false;
        let count = self.containers.len();
        for index in 0..count {
            let Some(c) = self.containers.get_mut(index) else {
                break;
            };
            if c.used {
                self.out.push_str(&c.rest);
                checkbox = false;
                continue;
            }
            self.out.push_str(&c.first);
            c.used = true;
            checkbox = c.first.ends_with("] ");
            if checkbox && index + 1 < count {
                // A task checkbox belongs to a paragraph: a quote or list
                // that opens the task goes on the next line.
                let trimmed = self.out.trim_end_matches(' ').len();
                self.out.truncate(trimmed);
                self.out.push('\n');
                for outer in &self.containers[..=index] {
                    self.out.push_str(&outer.rest);
                }
                checkbox = false;
            }
        }
        self.line.after_checkbox = checkbox;
        self.line.at_line_start = true;
        self.line.content_start = self.out.len();
        self.line.has_content = false;
        self.line.after_bracket = false;
    }

    fn write_blank_line(&mut self) {
        let last_quote = self.containers.iter().rposition(|c| c.quote && c.used);
        if let Some(last) = last_quote {
            for c in &self.containers[..=last] {
                self.out.push_str(&c.rest);
            }
            let trimmed = self.out.trim_end_matches(' ').len();
            self.out.truncate(trimmed);
        }
        self.out.push('\n');
    }

    /// Everything that must precede content: the break, the owed space and
    /// the openers of marks that have not been written yet.
    fn begin_content(&mut self) {
        if self.line.pending != Pending::None {
            self.begin_line();
        }
        if self.line.space {
            self.line.space = false;
            if self.line.has_content {
                self.buf().push(' ');
                self.line.at_line_start = false;
                self.line.after_bracket = false;
            }
        }
        if self.inline.iter().any(|e| !e.started) {
            let mut opened = false;
            // Split borrows: the target buffer lives in `out` or `table`.
            let buf = match &mut self.table {
                Some(table) => table.buffer(),
                None => &mut self.out,
            };
            for entry in &mut self.inline {
                if !entry.started {
                    let open = entry.open.as_str();
                    buf.push_str(open);
                    opened |= !open.is_empty();
                    entry.started = true;
                    entry.start = buf.len();
                }
            }
            if opened {
                self.line.at_line_start = false;
                self.line.after_bracket = false;
            }
        }
        self.line.has_content = true;
        self.line.label_glue = false;
    }

    // ----- inline spans ----------------------------------------------------------

    pub(crate) fn open_mark(&mut self, open: &'static str, close: &'static str) {
        self.push_entry(SpanKind::Mark, Opener::Static(open), close);
    }

    /// A heading: `level` hashes before the first content of the line.
    pub(crate) fn open_heading(&mut self, level: usize) {
        self.block_break();
        let hashes = "######".get(..level.clamp(1, 6)).unwrap_or("#");
        self.push_entry(
            SpanKind::Prefix { inline_only: true },
            Opener::Owned(format!("{hashes} ")),
            "",
        );
    }

    /// A list marker written as text (lists inside table cells and headings).
    pub(crate) fn open_inline_item(&mut self, marker: String) {
        self.block_break();
        self.push_entry(
            SpanKind::Prefix { inline_only: false },
            Opener::Owned(marker),
            "",
        );
    }

    pub(crate) fn open_code(&mut self) {
        self.push_entry(SpanKind::Code, Opener::Static(""), "");
    }

    pub(crate) fn open_link(&mut self) {
        self.push_entry(SpanKind::Link, Opener::Static(""), "");
    }

    fn push_entry(&mut self, kind: SpanKind, open: Opener, close: &'static str) {
        match kind {
            SpanKind::Code => {
                self.code += 1;
                self.inline_only += 1;
            }
            SpanKind::Link => {
                self.link += 1;
                self.inline_only += 1;
            }
            SpanKind::Prefix { inline_only: true } => self.inline_only += 1,
            SpanKind::Mark | SpanKind::Prefix { inline_only: false } => {}
        }
        self.inline.push(Entry {
            kind,
            open,
            close,
            started: false,
            start: 0,
        });
    }

    /// Closes the innermost span. Returns the offset where its content starts
    /// in the current buffer, or `None` when it got no content.
    pub(crate) fn close_span(&mut self) -> Option<usize> {
        let entry = self.inline.pop()?;
        match entry.kind {
            SpanKind::Code => {
                self.code -= 1;
                self.inline_only -= 1;
            }
            SpanKind::Link => {
                self.link -= 1;
                self.inline_only -= 1;
            }
            SpanKind::Prefix { inline_only: true } => self.inline_only -= 1,
            SpanKind::Mark | SpanKind::Prefix { inline_only: false } => {}
        }
        if !entry.started {
            return None;
        }
        match entry.kind {
            SpanKind::Mark => {
                let close = entry.close;
                self.buf().push_str(close);
                self.line.after_bracket = false;
            }
            SpanKind::Code => self.fence_code_span(entry.start),
            SpanKind::Prefix { .. } | SpanKind::Link => {}
        }
        Some(entry.start)
    }

    fn fence_code_span(&mut self, start: usize) {
        let buf = self.buf();
        let Some(content) = buf.get(start..) else {
            return;
        };
        let fence = "`".repeat(longest_run(content, b'`') + 1);
        let pad = if content.starts_with('`') || content.ends_with('`') {
            " "
        } else {
            ""
        };
        let mut tail = String::with_capacity(fence.len() + pad.len());
        tail.push_str(pad);
        tail.push_str(&fence);
        // A fence right after another span's closing backticks would merge
        // with them into one longer, unmatched fence.
        let gap = if buf[..start].ends_with('`') { " " } else { "" };
        buf.insert_str(start, &format!("{gap}{fence}{pad}"));
        buf.push_str(&tail);
        self.line.after_bracket = false;
    }

    /// The content written since `start` (as returned by [`Self::close_span`]).
    pub(crate) fn written_since(&mut self, start: usize) -> &str {
        let buf = self.buf();
        buf.get(start..).unwrap_or("")
    }

    /// Turns the content since `start` into `[content](url)`.
    pub(crate) fn wrap_link(&mut self, start: usize, url: &str) {
        let in_cell = self.table.is_some();
        let in_code = self.code > 0;
        let buf = self.buf();
        if buf.is_char_boundary(start) {
            // Text ending in `!` right before the link would make it an
            // image (inside a code span nothing is a link or an image).
            let mut start = start;
            let escape_bang = !in_code && ends_with_unescaped(&buf[..start], b'!');
            if escape_bang {
                buf.insert(start - 1, '\\');
                start += 1;
            }
            buf.insert(start, '[');
            buf.push_str("](");
            push_url(buf, url, in_cell);
            buf.push(')');
            self.line.after_bracket = false;
            if escape_bang {
                // Spans still open that started after the inserted
                // backslash now start one byte later.
                for entry in &mut self.inline {
                    if entry.started && entry.start >= start - 1 {
                        entry.start += 1;
                    }
                }
            }
        }
    }

    // ----- content ---------------------------------------------------------------

    /// Text from the input: whitespace collapsed, Markdown escaped.
    pub(crate) fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            // Whitespace (including NBSP) collapses to one owed space.
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                self.line.space |= self.line.has_content;
                i += 1;
                continue;
            }
            if b == 0xC2 && bytes.get(i + 1) == Some(&0xA0) {
                self.line.space |= self.line.has_content;
                i += 2;
                continue;
            }
            // A run of non-whitespace.
            let mut end = i;
            while end < bytes.len() {
                let c = bytes[end];
                if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
                    || (c == 0xC2 && bytes.get(end + 1) == Some(&0xA0))
                {
                    break;
                }
                end += 1;
            }
            let word = text.get(i..end).unwrap_or("");
            let next = text.get(end..).unwrap_or("");
            self.begin_content();
            self.write_word(word, next.is_empty());
            i = end;
        }
    }

    /// Writes one whitespace-free run of text, escaped for where it lands.
    fn write_word(&mut self, word: &str, ends_text: bool) {
        let raw = self.code > 0;
        let in_cell = self.table.is_some();
        let in_link = self.link > 0;
        let line_start = self.line.at_line_start && self.table.is_none();
        // Digits that opened the line may be joined by this word into an
        // ordered-list marker (`0` + `1.` = `01.`).
        let digits_so_far = if line_start || self.table.is_some() {
            None
        } else {
            self.out
                .get(self.line.content_start..)
                .and_then(leading_digits_only)
        };
        let after_bracket = self.line.after_bracket;
        self.line.at_line_start = false;
        self.line.after_bracket = false;
        let buf = match &mut self.table {
            Some(table) => table.buffer(),
            None => &mut self.out,
        };
        if raw {
            if in_cell && word.contains('|') {
                buf.push_str(&word.replace('|', "\\|"));
            } else {
                buf.push_str(word);
            }
            return;
        }
        let bytes = word.as_bytes();
        let mut i = 0;
        if after_bracket && matches!(bytes.first(), Some(b'(' | b'[' | b':')) {
            buf.push('\\');
        }
        if line_start {
            i = escape_line_start(buf, word);
        } else if let Some(before) = digits_so_far {
            i = escape_marker_tail(buf, word, before);
        }
        let mut plain_from = i;
        while i < bytes.len() {
            let b = bytes[i];
            if !SPECIAL[b as usize] {
                i += 1;
                continue;
            }
            let next = bytes.get(i + 1).copied();
            let escape = match b {
                b'`' | b'*' | b'<' | b'~' => true,
                b'\\' => next.is_none_or(|n| n.is_ascii_punctuation()),
                b'_' => {
                    let prev_alnum = word
                        .get(..i)
                        .and_then(|s| s.chars().next_back())
                        .or_else(|| buf.chars().next_back())
                        .is_some_and(char::is_alphanumeric);
                    let next_alnum = word
                        .get(i + 1..)
                        .and_then(|s| s.chars().next())
                        .is_some_and(char::is_alphanumeric);
                    !(prev_alnum && next_alnum)
                }
                b'[' => in_link,
                b']' => in_link || matches!(next, Some(b'(' | b'[' | b':')),
                b'|' => in_cell,
                b'&' => looks_like_entity(&bytes[i + 1..]),
                _ => false,
            };
            if escape {
                buf.push_str(word.get(plain_from..i).unwrap_or(""));
                buf.push('\\');
                plain_from = i;
            }
            i += 1;
        }
        buf.push_str(word.get(plain_from..).unwrap_or(""));
        if ends_text && word.ends_with(']') && !in_link {
            self.line.after_bracket = true;
        }
    }

    /// Markdown we generate ourselves (`[STATUS]` brackets, labels): written
    /// as is, after the usual break and space handling.
    pub(crate) fn literal(&mut self, markdown: &str) {
        if markdown.is_empty() {
            return;
        }
        self.begin_content();
        self.line.at_line_start = false;
        self.line.after_bracket = markdown.ends_with(']');
        self.buf().push_str(markdown);
    }

    /// Inline Markdown rendered earlier (a table caption): written as is,
    /// except what would start a block construct at the start of a line.
    fn markdown_line(&mut self, markdown: &str) {
        self.begin_content();
        let line_start = self.line.at_line_start;
        self.line.at_line_start = false;
        let buf = self.buf();
        let skip = if line_start {
            escape_line_start(buf, markdown)
        } else {
            0
        };
        buf.push_str(markdown.get(skip..).unwrap_or(""));
    }

    /// An admonition label such as `**Note:**`. A following paragraph
    /// continues its line; any other block starts below it.
    pub(crate) fn label(&mut self, label: &str) {
        self.literal("**");
        self.text(label);
        self.buf().push_str("**");
        self.line.label_glue = true;
        self.line.space = true;
    }

    /// Lets the next paragraph continue the current line (after a panel icon).
    pub(crate) fn glue(&mut self) {
        self.line.label_glue = true;
        self.line.space = true;
    }

    /// `![alt](url)`.
    pub(crate) fn image(&mut self, alt: &str, url: &str) {
        self.begin_content();
        self.line.at_line_start = false;
        self.line.after_bracket = false;
        let in_cell = self.table.is_some();
        let buf = self.buf();
        buf.push_str("![");
        for c in alt.chars() {
            match c {
                '\\' | '[' | ']' | '*' | '`' | '<' => {
                    buf.push('\\');
                    buf.push(c);
                }
                '|' if in_cell => buf.push_str("\\|"),
                c if c.is_whitespace() => buf.push(' '),
                c => buf.push(c),
            }
        }
        buf.push_str("](");
        push_url(buf, url, in_cell);
        buf.push(')');
    }

    /// A code span around `text`.
    pub(crate) fn code_span(&mut self, text: &str) {
        self.open_code();
        self.text(text);
        self.close_span();
    }

    /// A fenced code block; inside a cell or a heading, code spans instead.
    pub(crate) fn code_block(&mut self, language: Option<&str>, body: &str) {
        let body = trim_blank_lines(body);
        if body.is_empty() {
            return;
        }
        match self.flow() {
            Flow::Block => {
                self.block_break();
                self.begin_block_line();
                let fence = "`".repeat(longest_run(body, b'`').max(2) + 1);
                self.out.push_str(&fence);
                if let Some(language) = language {
                    self.out.push_str(language);
                }
                for line in body.lines() {
                    self.out.push('\n');
                    self.write_prefixes();
                    if line.is_empty() {
                        let trimmed = self.out.trim_end_matches(' ').len();
                        self.out.truncate(trimmed);
                    }
                    self.out.push_str(line);
                }
                self.out.push('\n');
                self.write_prefixes();
                self.out.push_str(&fence);
                self.line.has_content = true;
                self.line.at_line_start = false;
                self.block_break();
            }
            Flow::Cell | Flow::Inline => {
                let separator = if self.flow() == Flow::Cell {
                    "<br>"
                } else {
                    " "
                };
                let mut first = true;
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    if !first {
                        self.literal(separator);
                    }
                    first = false;
                    self.code_span(line);
                }
            }
        }
    }

    /// Starts the first line of a block construct (fence, table, rule). A
    /// task checkbox belongs to a paragraph, so such a block starts on the
    /// line after it.
    fn begin_block_line(&mut self) {
        self.begin_line();
        if self.line.after_checkbox {
            let trimmed = self.out.trim_end_matches(' ').len();
            self.out.truncate(trimmed);
            self.out.push('\n');
            self.write_prefixes();
        }
    }

    /// A thematic break.
    pub(crate) fn rule(&mut self) {
        if self.flow() == Flow::Block {
            self.block_break();
            self.begin_block_line();
            self.out.push_str("---");
            self.line.has_content = true;
            self.line.at_line_start = false;
            self.block_break();
        } else {
            self.block_break();
        }
    }

    // ----- tables ----------------------------------------------------------------

    /// Starts a GFM table. Returns false when a table cannot be laid out here
    /// (inside another table, a heading or a link): the caller flattens it.
    pub(crate) fn start_table(&mut self) -> bool {
        if self.flow() != Flow::Block {
            return false;
        }
        self.block_break();
        self.parked = Some(self.line);
        self.line = Line::fresh();
        self.table = Some(Table::new());
        true
    }

    pub(crate) fn start_row(&mut self) {
        self.end_cell();
        if let Some(table) = &mut self.table {
            table.start_row();
        }
    }

    pub(crate) fn end_row(&mut self) {
        self.end_cell();
        if let Some(table) = &mut self.table {
            table.end_row();
        }
    }

    pub(crate) fn start_cell(&mut self, colspan: usize, rowspan: usize) {
        self.end_cell();
        if let Some(table) = &mut self.table {
            table.start_cell(colspan, rowspan);
        }
    }

    pub(crate) fn end_cell(&mut self) {
        self.close_cell_marks();
        if let Some(table) = &mut self.table {
            table.end_cell();
        }
        self.line = Line::fresh();
    }

    pub(crate) fn start_caption(&mut self) {
        self.end_cell();
        if let Some(table) = &mut self.table {
            table.start_caption();
        }
    }

    pub(crate) fn end_caption(&mut self) {
        self.close_cell_marks();
        if let Some(table) = &mut self.table {
            table.end_caption();
        }
        self.line = Line::fresh();
    }

    /// Ends every started span in the cell being left: marks are closed and
    /// code is fenced here, and all of them reopen in the next cell if they
    /// are still open there (misnested input).
    fn close_cell_marks(&mut self) {
        if self.table.is_none() {
            return;
        }
        for index in (0..self.inline.len()).rev() {
            let Some(entry) = self.inline.get_mut(index) else {
                continue;
            };
            if !entry.started {
                continue;
            }
            entry.started = false;
            let (kind, close, start) = (entry.kind, entry.close, entry.start);
            match kind {
                SpanKind::Mark => self.buf().push_str(close),
                SpanKind::Code => self.fence_code_span(start),
                SpanKind::Link | SpanKind::Prefix { .. } => {}
            }
        }
    }

    pub(crate) fn end_table(&mut self) {
        self.end_cell();
        let Some(table) = self.table.take() else {
            return;
        };
        self.line = self.parked.take().unwrap_or_else(Line::fresh);
        let (caption, lines) = table.render();
        if !caption.is_empty() {
            self.block_break();
            self.markdown_line(&caption);
        }
        if lines.is_empty() {
            return;
        }
        self.block_break();
        self.begin_block_line();
        for (n, line) in lines.iter().enumerate() {
            if n > 0 {
                self.out.push('\n');
                self.write_prefixes();
            }
            self.out.push_str(line);
        }
        self.line.has_content = true;
        self.line.at_line_start = false;
        self.block_break();
    }
}

/// `Some(n)` when `line` is `n` ASCII digits and nothing else, `n` at most
/// 9 (the longest list-marker number). Constant time: longer lines are
/// never markers, so they are not scanned.
fn leading_digits_only(line: &str) -> Option<usize> {
    let n = line.len();
    (n > 0 && n <= 9 && line.bytes().all(|b| b.is_ascii_digit())).then_some(n)
}

/// The rest of a line's first word, after `before` digits already written:
/// escapes the `.` or `)` that would complete an ordered-list marker.
/// Returns how many bytes of `word` it wrote.
fn escape_marker_tail(buf: &mut String, word: &str, before: usize) -> usize {
    let bytes = word.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if before + digits <= 9
        && digits + 1 == bytes.len()
        && matches!(bytes.get(digits), Some(b'.' | b')'))
    {
        buf.push_str(word.get(..digits).unwrap_or(""));
        buf.push('\\');
        return digits;
    }
    0
}

/// Escapes what would start a block construct at the beginning of a line.
/// Returns how many bytes of `word` it wrote.
fn escape_line_start(buf: &mut String, word: &str) -> usize {
    let bytes = word.as_bytes();
    match bytes.first() {
        Some(b'#') => {
            // `#tag` is text; `#` alone or `##...` would open a heading.
            if bytes.iter().all(|&b| b == b'#') {
                buf.push('\\');
            }
            0
        }
        Some(b'>') => {
            buf.push('\\');
            0
        }
        Some(&c @ (b'-' | b'+' | b'=')) => {
            if bytes.iter().all(|&b| b == c) {
                buf.push('\\');
            }
            0
        }
        Some(b'[') => {
            buf.push('\\');
            buf.push('[');
            1
        }
        Some(b'0'..=b'9') => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            // `1.` or `1)` ending the word would open an ordered list.
            if digits <= 9
                && digits + 1 == bytes.len()
                && matches!(bytes.get(digits), Some(b'.' | b')'))
            {
                buf.push_str(word.get(..digits).unwrap_or(""));
                buf.push('\\');
                return digits;
            }
            0
        }
        _ => 0,
    }
}

/// Whether the bytes after a `&` would read as an entity reference.
fn looks_like_entity(after: &[u8]) -> bool {
    let name_len = after
        .iter()
        .take(32)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'#')
        .count();
    name_len > 0 && after.get(name_len) == Some(&b';')
}

/// Whether `text` ends with `byte` not escaped by a backslash (an odd number
/// of backslashes before it escapes it).
fn ends_with_unescaped(text: &str, byte: u8) -> bool {
    let bytes = text.as_bytes();
    if bytes.last() != Some(&byte) {
        return false;
    }
    let backslashes = bytes[..bytes.len() - 1]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count();
    backslashes % 2 == 0
}

/// The longest run of `byte` in `text`.
pub(crate) fn longest_run(text: &str, byte: u8) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for &b in text.as_bytes() {
        if b == byte {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

/// Drops blank lines at both ends of a code body and normalises line ends.
fn trim_blank_lines(body: &str) -> &str {
    let mut start = 0;
    for line in body.split_inclusive('\n') {
        if line.trim().is_empty() {
            start += line.len();
        } else {
            break;
        }
    }
    let body = body.get(start..).unwrap_or("");
    body.trim_end()
}

/// Writes a link destination, percent-encoding what would end or break it.
fn push_url(buf: &mut String, url: &str, in_cell: bool) {
    for c in url.trim().chars() {
        match c {
            ' ' => buf.push_str("%20"),
            '(' => buf.push_str("%28"),
            ')' => buf.push_str("%29"),
            '<' => buf.push_str("%3C"),
            '>' => buf.push_str("%3E"),
            '|' if in_cell => buf.push_str("%7C"),
            c if c.is_control() => {}
            c => buf.push(c),
        }
    }
}
