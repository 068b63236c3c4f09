//! The lenient tokenizer: quick-xml's streaming reader, configured to accept
//! what real Confluence bodies contain (HTML named entities, unmatched and
//! misnamed end tags, stray `&` and `<`), turned into a flat stream of
//! [`Token`]s that never ends in an error.
//!
//! It must not interpret elements: deciding what a tag means is the
//! converter's job. It must not allocate per token either, except for the
//! rare entity that has to be rebuilt.

use quick_xml::Reader;
use quick_xml::errors::{Error, SyntaxError};
use quick_xml::events::{BytesStart, Event};

/// One piece of the input.
#[derive(Debug)]
pub(crate) enum Token<'a> {
    /// `<name ...>`.
    Start(Tag<'a>),
    /// `<name .../>`.
    Empty(Tag<'a>),
    /// `</name>`, the name exactly as written.
    End(&'a str),
    /// Character data, entities already resolved.
    Text(&'a str),
    /// A numeric character reference.
    Char(char),
    /// A `<![CDATA[...]]>` section's content.
    CData(&'a str),
}

/// A start tag: its name and a way to read its attributes.
#[derive(Debug)]
pub(crate) struct Tag<'a> {
    start: BytesStart<'a>,
}

impl<'a> Tag<'a> {
    pub(crate) fn name(&self) -> &str {
        self.start.name().into_inner()
    }

    /// The value of attribute `key` (exact, case-sensitive match), with
    /// entities resolved. Malformed attributes are skipped, never an error.
    pub(crate) fn attr(&self, key: &str) -> Option<String> {
        self.start
            .html_attributes()
            .with_checks(false)
            .flatten()
            .find(|a| a.key.into_inner() == key)
            .map(|a| decode_entities(&a.value))
    }
}

/// Streams [`Token`]s out of a storage-format body.
pub(crate) struct Lexer<'a> {
    input: &'a str,
    reader: Reader<&'a [u8]>,
    /// Tokens decided but not yet handed out (an unknown entity becomes three).
    queued: Vec<Token<'a>>,
    done: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(input: &'a str) -> Self {
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        // Real pages are not always well-formed: accept what a browser accepts.
        config.allow_dangling_amp = true;
        config.allow_unmatched_ends = true;
        config.check_end_names = false;
        config.check_comments = false;
        config.expand_empty_elements = false;
        Lexer {
            input,
            reader,
            queued: Vec::new(),
            done: false,
        }
    }

    fn offset(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    /// The input from `at` to the end, or nothing if `at` is not a char boundary.
    fn rest_from(&self, at: u64) -> &'a str {
        usize::try_from(at)
            .ok()
            .and_then(|at| self.input.get(at..))
            .unwrap_or("")
    }

    /// Handles a reader error. quick-xml only reports syntax errors when the
    /// input ends inside a construct; whatever is left is then kept as text
    /// (or dropped when it is a comment or a processing instruction, which a
    /// browser would not show either).
    fn recover(&mut self, error: &Error) -> Option<Token<'a>> {
        self.done = true;
        let rest = self.rest_from(self.reader.error_position());
        match error {
            Error::Syntax(
                SyntaxError::UnclosedComment
                | SyntaxError::UnclosedPI
                | SyntaxError::UnclosedXmlDecl
                | SyntaxError::UnclosedDoctype,
            ) => None,
            Error::Syntax(SyntaxError::UnclosedCData) => {
                Some(Token::CData(rest.strip_prefix("<![CDATA[").unwrap_or(rest)))
            }
            _ => (!rest.is_empty()).then_some(Token::Text(rest)),
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if let Some(token) = self.queued.pop() {
            return Some(token);
        }
        while !self.done {
            let before = self.offset();
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(error @ Error::IllFormed(_)) if self.offset() > before => {
                    // Ill-formed but recoverable (e.g. a declaration without a
                    // version): the reader has moved on, so do we.
                    let _ = error;
                    continue;
                }
                Err(error) => return self.recover(&error),
            };
            let raw = || self.input.get(before..self.offset()).unwrap_or("");
            match event {
                Event::Start(start) => {
                    if is_name(start.name().into_inner()) {
                        return Some(Token::Start(Tag { start }));
                    }
                    // `a <3 b>` is text to a browser, not a tag.
                    return Some(Token::Text(raw()));
                }
                Event::Empty(start) => {
                    if is_name(start.name().into_inner()) {
                        return Some(Token::Empty(Tag { start }));
                    }
                    return Some(Token::Text(raw()));
                }
                Event::End(_) => {
                    // The name as written, borrowed from the input.
                    let name = raw().trim_start_matches("</").trim_end_matches('>').trim();
                    if is_name(name) {
                        return Some(Token::End(name));
                    }
                    return Some(Token::Text(raw()));
                }
                Event::Text(text) => match text.into_inner() {
                    std::borrow::Cow::Borrowed(text) => return Some(Token::Text(text)),
                    std::borrow::Cow::Owned(_) => return Some(Token::Text(raw())),
                },
                Event::CData(data) => match data.into_inner() {
                    std::borrow::Cow::Borrowed(data) => return Some(Token::CData(data)),
                    std::borrow::Cow::Owned(_) => {
                        let raw = raw();
                        let inner = raw
                            .strip_prefix("<![CDATA[")
                            .and_then(|r| r.strip_suffix("]]>"))
                            .unwrap_or(raw);
                        return Some(Token::CData(inner));
                    }
                },
                Event::GeneralRef(reference) => {
                    let name: &str = &reference;
                    match resolve_entity(name) {
                        Some(Resolved::Str(s)) => return Some(Token::Text(s)),
                        Some(Resolved::Char(c)) => return Some(Token::Char(c)),
                        None => {
                            // Unknown entity: keep it literally, as browsers do.
                            let name = self
                                .input
                                .get(before + 1..self.offset().saturating_sub(1))
                                .unwrap_or("");
                            self.queued.push(Token::Text(";"));
                            self.queued.push(Token::Text(name));
                            return Some(Token::Text("&"));
                        }
                    }
                }
                Event::Eof => {
                    self.done = true;
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        None
    }
}

/// Whether `name` can be an element name. Anything else after a `<` is text.
fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80);
    first_ok
        && bytes.all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':') || b >= 0x80
        })
}

pub(crate) enum Resolved {
    Str(&'static str),
    Char(char),
}

/// Resolves the name of an entity reference (`amp`, `rsquo`, `#8217`, `#x2019`).
pub(crate) fn resolve_entity(name: &str) -> Option<Resolved> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => number.parse::<u32>().ok(),
        };
        // Like a browser: a reference to NUL, a surrogate or past U+10FFFF
        // becomes the replacement character instead of failing.
        let digits_ok = !number.trim_start_matches(['x', 'X']).is_empty();
        return digits_ok.then(|| {
            Resolved::Char(
                code.filter(|&c| c != 0)
                    .and_then(char::from_u32)
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
            )
        });
    }
    quick_xml::escape::resolve_html5_entity(name).map(Resolved::Str)
}

/// Resolves every entity reference in an attribute value; unknown or
/// malformed references are kept literally.
pub(crate) fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Entity names are short; a `;` further away means a stray `&`.
        let end = after.bytes().take(40).position(|b| b == b';');
        let resolved = end.and_then(|end| resolve_entity(&after[..end]).map(|r| (r, end)));
        match resolved {
            Some((Resolved::Str(s), end)) => {
                out.push_str(s);
                rest = &after[end + 1..];
            }
            Some((Resolved::Char(c), end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &str) -> Vec<String> {
        Lexer::new(input)
            .map(|t| match t {
                Token::Start(tag) => format!("<{}>", tag.name()),
                Token::Empty(tag) => format!("<{}/>", tag.name()),
                Token::End(name) => format!("</{name}>"),
                Token::Text(text) => format!("T:{text}"),
                Token::Char(c) => format!("C:{c}"),
                Token::CData(data) => format!("D:{data}"),
            })
            .collect()
    }

    #[test]
    fn entities_resolve_and_unknown_ones_stay_literal() {
        assert_eq!(
            tokens("&rsquo;&hellip;&#x1F600;&#0;&bogus;AT&T"),
            [
                "T:\u{2019}",
                "T:\u{2026}",
                "C:\u{1F600}",
                "C:\u{FFFD}",
                "T:&",
                "T:bogus",
                "T:;",
                "T:AT",
                "T:&T"
            ]
        );
    }

    #[test]
    fn a_less_than_sign_that_opens_no_tag_is_text() {
        assert_eq!(tokens("x <3 y> z"), ["T:x ", "T:<3 y>", "T: z"]);
        assert_eq!(tokens("a < b"), ["T:a ", "T:< b"]);
        assert_eq!(tokens("<>t</>"), ["T:<>", "T:t", "T:</>"]);
    }

    #[test]
    fn input_ending_inside_a_construct_keeps_its_text() {
        assert_eq!(tokens("<p>x<![CDATA[abc"), ["<p>", "T:x", "D:abc"]);
        assert_eq!(tokens("<p>x<!-- gone"), ["<p>", "T:x"]);
        assert_eq!(tokens("<p class=\"x"), ["T:<p class=\"x"]);
    }

    #[test]
    fn attribute_values_are_decoded_leniently() {
        assert_eq!(decode_entities("a&amp;b&nbsp;c&zz;&"), "a&b\u{a0}c&zz;&");
        let mut lexer = Lexer::new("<a href=\"x?a=1&amp;b=2\" title=t>");
        let Some(Token::Start(tag)) = lexer.next() else {
            panic!("expected a start tag");
        };
        assert_eq!(tag.attr("href").as_deref(), Some("x?a=1&b=2"));
        assert_eq!(tag.attr("title").as_deref(), Some("t"));
        assert_eq!(tag.attr("missing"), None);
    }
}
