//! Shared checks for the converter's integration tests: the leak and recall
//! properties, judged on the output as a GFM renderer reads it
//! (pulldown-cmark), not on its bytes.

#![allow(dead_code)]

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use quick_xml::Reader;
use quick_xml::events::Event as Xml;

/// The only HTML the converter may emit: its own, never the input's.
const ALLOWED_HTML: &[&str] = &["<br>", "<sub>", "</sub>", "<sup>", "</sup>"];

fn gfm(markdown: &str) -> Parser<'_> {
    Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS,
    )
}

/// Raw HTML a GFM renderer would find in `markdown`, other than ours.
pub fn leaks(markdown: &str) -> Vec<String> {
    gfm(markdown)
        .filter_map(|event| match event {
            Event::Html(html) | Event::InlineHtml(html) => {
                let html = html.trim().to_owned();
                (!ALLOWED_HTML.contains(&html.as_str())).then_some(html)
            }
            _ => None,
        })
        .collect()
}

/// The text a reader of the rendered Markdown sees (text and code, not
/// link targets, image descriptions or our own HTML), reduced to lowercase
/// letters and digits.
pub fn rendered_alnum(markdown: &str) -> String {
    let mut out = String::new();
    let mut in_image = 0usize;
    for event in gfm(markdown) {
        match event {
            Event::Start(Tag::Image { .. }) => in_image += 1,
            Event::End(TagEnd::Image) => in_image = in_image.saturating_sub(1),
            Event::Text(text) | Event::Code(text) if in_image == 0 => push_alnum(&mut out, &text),
            _ => {}
        }
    }
    out
}

fn push_alnum(out: &mut String, text: &str) {
    for c in text.chars().filter(|c| c.is_alphanumeric()) {
        out.extend(c.to_lowercase());
    }
}

/// Elements whose text is not visible on the page (or, for the ADF fallback,
/// is a copy of content shown elsewhere).
const HIDDEN: &[&str] = &[
    "ac:parameter",
    "ac:default-parameter",
    "ac:task-id",
    "ac:task-uuid",
    "ac:task-status",
    "ac:placeholder",
    "ac:adf-attribute",
    "script",
    "style",
    "template",
    "head",
    "colgroup",
];

/// Formatting elements that do not separate words.
const INLINE: &[&str] = &[
    "strong",
    "b",
    "em",
    "i",
    "u",
    "ins",
    "s",
    "del",
    "strike",
    "code",
    "tt",
    "kbd",
    "samp",
    "var",
    "span",
    "font",
    "small",
    "big",
    "mark",
    "abbr",
    "cite",
    "dfn",
    "q",
    "bdi",
    "bdo",
    "ac:inline-comment-marker",
];

/// The words of the input's visible text, in order: an independent reading
/// of the storage format, for well-formed input.
pub fn visible_words(storage: &str) -> Vec<String> {
    let mut reader = Reader::from_str(storage);
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.allow_unmatched_ends = true;
    config.check_end_names = false;
    let mut words = Vec::new();
    let mut word = String::new();
    let mut hidden = 0usize;
    // One flag per open `ac:adf-extension`: whether its node had content.
    let mut extensions: Vec<bool> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    let add_text = |text: &str, word: &mut String, words: &mut Vec<String>| {
        for c in text.chars() {
            if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else {
                flush(word, words);
            }
        }
    };
    loop {
        let event = match reader.read_event() {
            Ok(Xml::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        match event {
            Xml::Start(start) => {
                let name = start.name().into_inner().to_ascii_lowercase();
                if !INLINE.contains(&name.as_str()) {
                    flush(&mut word, &mut words);
                }
                let skip_fallback =
                    name == "ac:adf-fallback" && extensions.last().copied().unwrap_or(false);
                if name == "ac:adf-extension" {
                    extensions.push(false);
                }
                if name == "ac:adf-content"
                    && let Some(seen) = extensions.last_mut()
                {
                    *seen = true;
                }
                if hidden > 0 || HIDDEN.contains(&name.as_str()) || skip_fallback {
                    hidden += 1;
                }
                stack.push(name);
            }
            Xml::Empty(start) => {
                let name = start.name().into_inner().to_ascii_lowercase();
                if !INLINE.contains(&name.as_str()) {
                    flush(&mut word, &mut words);
                }
            }
            Xml::End(_) => {
                if let Some(name) = stack.pop() {
                    if !INLINE.contains(&name.as_str()) {
                        flush(&mut word, &mut words);
                    }
                    if name == "ac:adf-extension" {
                        extensions.pop();
                    }
                }
                hidden = hidden.saturating_sub(1);
            }
            Xml::Text(text) if hidden == 0 => add_text(&text, &mut word, &mut words),
            Xml::CData(text) if hidden == 0 => add_text(&text, &mut word, &mut words),
            Xml::GeneralRef(reference) if hidden == 0 => {
                let name: &str = &reference;
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_html5_entity(name)
                        .unwrap_or("")
                        .to_owned(),
                };
                add_text(&resolved, &mut word, &mut words);
            }
            _ => {}
        }
    }
    flush(&mut word, &mut words);
    words
}

/// The first visible word of `storage` that the rendered `markdown` lacks
/// (each word must be found after the previous one), with some context.
pub fn missing_word(storage: &str, markdown: &str) -> Option<String> {
    let rendered = rendered_alnum(markdown);
    let mut cursor = 0;
    for (index, word) in visible_words(storage).iter().enumerate() {
        match rendered
            .get(cursor..)
            .and_then(|rest| rest.find(word.as_str()))
        {
            Some(at) => cursor += at + word.len(),
            None => {
                return Some(format!(
                    "word #{index} {word:?} not found after byte {cursor} of the rendered text"
                ));
            }
        }
    }
    None
}
