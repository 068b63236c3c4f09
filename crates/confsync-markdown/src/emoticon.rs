//! Confluence emoticons (`<ac:emoticon ac:name=... ac:emoji-fallback=...>`)
//! to the emoji a reader sees. Data only: no parsing, no output.

/// The legacy emoticon names Confluence still writes, and their emoji.
const LEGACY: &[(&str, &str)] = &[
    ("smile", "🙂"),
    ("sad", "🙁"),
    ("cheeky", "😛"),
    ("laugh", "😀"),
    ("wink", "😉"),
    ("thumbs-up", "👍"),
    ("thumbs-down", "👎"),
    ("information", "ℹ️"),
    ("tick", "✅"),
    ("cross", "❌"),
    ("warning", "⚠️"),
    ("plus", "➕"),
    ("minus", "➖"),
    ("question", "❓"),
    ("light-on", "💡"),
    ("light-off", "💡"),
    ("yellow-star", "⭐"),
    ("red-star", "⭐"),
    ("green-star", "⭐"),
    ("heart", "❤️"),
    ("broken-heart", "💔"),
];

/// The text for one emoticon: its emoji when Confluence gives one, else the
/// emoji of a legacy name, else its `:shortname:`.
pub(crate) fn render(
    name: Option<&str>,
    shortname: Option<&str>,
    fallback: Option<&str>,
) -> Option<String> {
    // The fallback is the emoji itself for standard emoji, a `:shortname:` otherwise.
    if let Some(fallback) = fallback.filter(|f| !f.is_empty() && !f.is_ascii()) {
        return Some(fallback.to_owned());
    }
    // `blue-star` is the placeholder name of every emoji without a legacy name,
    // so only the short name tells which one it is.
    if let Some(name) = name.filter(|n| *n != "blue-star")
        && let Some((_, emoji)) = LEGACY.iter().find(|(legacy, _)| *legacy == name)
    {
        return Some((*emoji).to_owned());
    }
    shortname
        .or(fallback)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn emoji_fallback_then_legacy_name_then_shortname() {
        assert_eq!(
            render(Some("blue-star"), Some(":white_check_mark:"), Some("✅")).as_deref(),
            Some("✅")
        );
        assert_eq!(
            render(Some("tick"), Some(":check_mark:"), Some(":check_mark:")).as_deref(),
            Some("✅")
        );
        assert_eq!(
            render(Some("blue-star"), Some(":copy:"), Some(":copy:")).as_deref(),
            Some(":copy:")
        );
        assert_eq!(render(None, None, None), None);
    }
}
