//! Nothing secret reaches the logs: the whole connect flow runs with every
//! log line captured (confsync at TRACE, its dependencies at DEBUG), and no
//! authorization code, state, token or client secret may appear in them.
//!
//! nextest runs each test in its own process, so installing the global
//! subscriber here touches no other test.

use std::io::Write;
use std::sync::{Arc, Mutex};

use confsync_core::GrantId;
use confsync_sim::SimConfig;
use confsync_tests::app::{Outcome, RETURN_TO, TestApp};
use secrecy::ExposeSecret as _;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer lock")).into_owned()
    }
}

#[tokio::test]
async fn logs_never_carry_codes_states_tokens_or_the_client_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("debug,confsync=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("this process installs the only subscriber");

    let app = TestApp::spawn_with(SimConfig::default().sites(2).pages(5), &[]).await;
    let auth_url = app.start_connect("acme", Some(RETURN_TO)).await;
    let state = auth_url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let callback = app.consent(&auth_url).await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let Outcome::Connected { grant_id } = app.callback(&callback).await else {
        panic!("the connect flow failed");
    };
    // A replay and a forged code exercise the failure paths' logging too.
    assert!(matches!(
        app.callback(&callback).await,
        Outcome::Refused { .. }
    ));
    let tokens = app
        .vault()
        .tokens(&GrantId::parse(grant_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let secret = app.sim.control().client_secret();

    let logs = captured.text();
    assert!(
        logs.contains("confluence connected"),
        "the capture works:\n{logs}"
    );
    for (what, value) in [
        ("authorization code", code.as_str()),
        ("oauth state", state.as_str()),
        ("access token", tokens.access_token.expose_secret()),
        (
            "refresh token",
            tokens.refresh_token.as_ref().unwrap().expose_secret(),
        ),
        ("client secret", secret.as_str()),
    ] {
        assert!(!logs.contains(value), "the logs carry the {what}:\n{logs}");
    }
    app.stop().await;
}
