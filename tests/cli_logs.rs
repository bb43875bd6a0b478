//! The binary's log lines, written to a file, are plain text: no ANSI colour codes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_logs_to_a_file_without_colour_codes() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let keys = tempfile::TempDir::new().expect("key dir");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--key-file")
        .arg(keys.path().join("master.key"))
        // A development flag that logs a warning at start-up: there is a line to look at.
        .arg("--oauth-allow-insecure-endpoints")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut logged = String::new();
    while Instant::now() < deadline {
        logged = std::fs::read_to_string(&log_path).unwrap_or_default();
        if logged.contains("development flag") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    assert!(
        logged.contains("WARN") && logged.contains("development flag"),
        "the warning was logged: {logged:?} (stdout {out:?})"
    );
    assert!(!logged.contains('\u{1b}'), "colour codes in {logged:?}");
}
