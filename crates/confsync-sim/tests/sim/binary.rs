//! The `confsync-sim` binary: flags, printed URLs and credentials, the
//! address file, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[tokio::test]
async fn the_binary_serves_writes_its_addresses_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("confsync-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr_file = dir.join("addr.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_confsync-sim"))
        .args([
            "--seed",
            "3",
            "--sites",
            "2",
            "--pages",
            "40",
            "--indexer-token",
            "tok",
        ])
        .args([
            "--quota-points",
            "500",
            "--quota-window-secs",
            "60",
            "--latency-ms",
            "0",
        ])
        .args([
            "--access-token-ttl-secs",
            "120",
            "--reuse-window-secs",
            "30",
        ])
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("control API");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(
        text.contains("client_id=") && text.contains("client_secret="),
        "{text}"
    );
    assert!(
        !text.contains("indexer_token="),
        "given tokens are not printed"
    );
    assert_eq!(text.matches("site cloud_id=").count(), 2);

    let addrs: Value = serde_json::from_str(&std::fs::read_to_string(&addr_file).unwrap()).unwrap();
    let api = addrs["api_url"].as_str().unwrap();
    assert!(text.contains(&format!("api_url={api}")));
    let quota: Value = reqwest::get(format!("{api}/_sim/quota"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (quota["limit"].as_u64(), quota["window_secs"].as_u64()),
        (Some(500), Some(60))
    );
    let auth = addrs["auth_url"].as_str().unwrap();
    let page = reqwest::get(format!("{auth}/authorize")).await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::BAD_REQUEST);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_explains_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_confsync-sim"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--seed",
        "--sites",
        "--pages",
        "--client-id",
        "--client-secret",
        "--access-token-ttl-secs",
        "--reuse-window-secs",
        "--quota-points",
        "--quota-window-secs",
        "--latency-ms",
        "--indexer-token",
        "--addr-file",
        "--auth-addr",
        "--api-addr",
        "--indexer-addr",
        "--callback-url",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
