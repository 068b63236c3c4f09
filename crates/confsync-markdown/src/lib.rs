//! Confluence storage format (XHTML with `ac:`/`ri:` elements) to
//! GitHub-flavoured Markdown. Pure: no IO.
