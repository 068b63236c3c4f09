//! Building an indexer: bad configuration fails at once with a message that
//! names the problem and never the token.

use std::time::Duration;

use confsync_indexer::{
    BatchLimits, Indexer, IndexerConfig, IndexerError, IndexerTarget, RetryPolicy,
};

use crate::support::{TOKEN, http_config, metrics};

fn refused(config: IndexerConfig) -> String {
    match Indexer::new(config, metrics()) {
        Err(IndexerError::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn bad_configurations_are_refused() {
    let base = || http_config("http://127.0.0.1:9/");
    let mut no_token = base();
    no_token.token = "".into();
    assert!(refused(no_token).contains("INDEXER_TOKEN"));
    let mut no_attempts = base();
    no_attempts.retry = RetryPolicy {
        max_attempts: 0,
        ..RetryPolicy::default()
    };
    assert!(refused(no_attempts).contains("max_attempts"));
    let mut no_timeout = base();
    no_timeout.request_timeout = Duration::ZERO;
    assert!(refused(no_timeout).contains("request_timeout"));
    let mut empty_batches = base();
    empty_batches.limits = BatchLimits {
        max_documents: 0,
        ..BatchLimits::default()
    };
    assert!(refused(empty_batches).contains("max_documents"));
    let mut credentials = base();
    credentials.target = IndexerTarget::Http("https://u:secret@ix.example/".parse().unwrap());
    assert!(!refused(credentials).contains("secret"));
    let mut no_path = base();
    no_path.target = IndexerTarget::File("".into());
    assert!(refused(no_path).contains("path"));
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let indexer = Indexer::new(http_config("http://127.0.0.1:9/"), metrics()).unwrap();
    let debug = format!("{indexer:?} {:?}", http_config("http://127.0.0.1:9/"));
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("/v1/documents/batch"), "{debug}");
}

#[test]
fn the_defaults_are_the_documented_ones() {
    assert_eq!(
        BatchLimits::default(),
        BatchLimits {
            max_documents: 100,
            max_bytes: 5 * 1024 * 1024
        }
    );
    let retry = RetryPolicy::default();
    assert_eq!(retry.min_delay, Duration::from_millis(500));
    assert_eq!(retry.max_delay, Duration::from_secs(30));
    assert_eq!(retry.max_attempts, 8);
}
