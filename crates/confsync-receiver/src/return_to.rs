//! The `return_to` allow-list: where a finished connect flow may send the
//! browser. An entry matches a URL with the same scheme, host and port whose
//! path starts with the entry's path at a segment boundary, so
//! `https://app.example/` never admits `https://app.example.evil/` or
//! `https://app.example@evil/`, and `https://app.example/cb` never admits
//! `https://app.example/cbx`.

use url::Url;

/// The allowed prefixes, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Allowlist {
    entries: Vec<Url>,
}

impl Allowlist {
    /// Entries that do not parse are skipped: settings validation already
    /// refused them at start-up.
    pub(crate) fn new(entries: &[String]) -> Allowlist {
        Allowlist {
            entries: entries.iter().filter_map(|e| Url::parse(e).ok()).collect(),
        }
    }

    /// The parsed URL when `candidate` is allowed.
    pub(crate) fn check(&self, candidate: &str) -> Option<Url> {
        let url = Url::parse(candidate).ok()?;
        if !matches!(url.scheme(), "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return None;
        }
        self.entries
            .iter()
            .any(|entry| matches(entry, &url))
            .then_some(url)
    }
}

fn matches(entry: &Url, url: &Url) -> bool {
    if entry.scheme() != url.scheme()
        || entry.host_str() != url.host_str()
        || entry.port_or_known_default() != url.port_or_known_default()
    {
        return false;
    }
    let prefix = entry.path();
    let path = url.path();
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_urls_under_an_entry_path_pass() {
        let list = Allowlist::new(&[
            "https://app.example/".into(),
            "http://localhost:3000/connect".into(),
        ]);
        for ok in [
            "https://app.example/",
            "https://app.example/settings/integrations?tab=confluence",
            "https://app.example:443/x",
            "http://localhost:3000/connect",
            "http://localhost:3000/connect/done",
        ] {
            assert!(list.check(ok).is_some(), "{ok} should pass");
        }
        for bad in [
            "https://app.example.evil/",
            "https://app.example@evil.example/",
            "https://user:pw@app.example/",
            "http://app.example/",
            "https://app.example:8443/",
            "http://localhost:3001/connect",
            "http://localhost:3000/connectx",
            "http://localhost:3000/",
            "javascript:alert(1)//https://app.example/",
            "//app.example/",
            "/relative",
            "",
        ] {
            assert!(list.check(bad).is_none(), "{bad} should be refused");
        }
    }

    #[test]
    fn an_empty_allowlist_allows_nothing() {
        assert!(Allowlist::new(&[]).check("https://app.example/").is_none());
    }
}
