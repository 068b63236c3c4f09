//! `confsync render`: converts one body read on stdin with the same
//! converter the worker uses, for operators debugging how a page is indexed.
//! Mentions render as `@unknown-user`: the CLI has no user cache.

use std::io::{Read, Write};

use anyhow::{Context, bail};
use confsync_markdown::{NoLookup, to_markdown};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Representation of the body on stdin.
    #[arg(long, value_enum, default_value_t = Format::Storage)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Confluence storage format (XHTML with `ac:`/`ri:` elements).
    Storage,
    /// Atlassian Document Format (JSON); not supported yet.
    #[value(name = "atlas_doc_format")]
    AtlasDocFormat,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.format == Format::AtlasDocFormat {
        bail!(
            "format atlas_doc_format is not supported: confsync indexes storage bodies; \
             fetch the page with body-format=storage and pass --format storage"
        );
    }
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("reading the body from stdin")?;
    let body = String::from_utf8(input).context("the body on stdin is not UTF-8")?;
    let markdown = to_markdown(&body, &NoLookup);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(markdown.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .context("writing the Markdown to stdout")?;
    Ok(())
}
