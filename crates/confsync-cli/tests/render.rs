//! Runs the real `confsync` binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn confsync(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confsync"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start confsync");
    let written = child.stdin.take().expect("stdin is piped").write_all(stdin);
    // A command that refuses its arguments exits without reading stdin.
    if let Err(error) = written {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write stdin: {error}"
        );
    }
    child.wait_with_output().expect("wait for confsync")
}

#[test]
fn render_converts_storage_from_stdin() {
    let out = confsync(
        &["render", "--format", "storage"],
        br#"<h2>Plan</h2><ac:structured-macro ac:name="info"><ac:rich-text-body><p>Ship <strong>Friday</strong></p></ac:rich-text-body></ac:structured-macro>"#,
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "## Plan\n\n> **Info:** Ship **Friday**\n"
    );
}

#[test]
fn render_defaults_to_storage() {
    let out = confsync(&["render"], b"<p>hi</p>");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hi\n");
}

#[test]
fn render_refuses_atlas_doc_format_clearly() {
    let out = confsync(&["render", "--format", "atlas_doc_format"], b"{}");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("atlas_doc_format is not supported"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn render_rejects_unknown_formats_and_non_utf8_input() {
    let out = confsync(&["render", "--format", "wiki"], b"");
    assert!(!out.status.success());
    let out = confsync(&["render"], &[0xff, 0xfe]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}
