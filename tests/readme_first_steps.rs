//! The README's "First steps in the dashboard", followed as a new user would, in a real
//! headless Chromium against the real `credledger serve` process on a fresh data directory:
//! the first start prints the admin token and the dashboard's address; the browser opens that
//! address, signs in with the token, searches the catalog for Airtable, creates
//! "Airtable prod" in "Default organization" with "Save even if the service cannot confirm the
//! material" ticked, and the page's "Use it in a workflow step" command, pasted into a shell
//! with `TOKEN` set, resolves the value typed in. Nothing here is told to the server beyond
//! where its data lives and which port to take.

mod dashboard_support;
mod http_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dashboard_support::browser::{
    browser, click_button, click_on, screenshot, start_driver, type_into, wait_for,
    wait_for_heading,
};
use fantoccini::Locator;

/// The running server; killed whatever happens to the test.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `credledger serve` on a fresh directory and answers it with the lines it printed
/// before the dashboard's address, by label (`admin token`, `dashboard at`, …).
fn first_start(dir: &std::path::Path) -> (Served, HashMap<String, String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--key-file")
        .arg(dir.join("master.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start credledger serve");
    let stdout = child.stdout.take().expect("stdout");
    let served = Served(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // Drains stdout for the server's whole life, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = HashMap::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the first start prints the dashboard's address");
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("admin token") {
            let token = rest.split_whitespace().next().expect("the token");
            printed.insert("admin token".to_owned(), token.to_owned());
        }
        if let Some(rest) = trimmed.strip_prefix("credledger: dashboard at ") {
            let address = rest.split_whitespace().next().expect("the address");
            printed.insert("dashboard at".to_owned(), address.to_owned());
            return (served, printed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_signs_in_creates_and_resolves_as_the_readme_says() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (_served, printed) = first_start(dir.path());
    let token = printed.get("admin token").expect("step 1: the admin token");
    assert!(token.starts_with("clt_"), "{token}");
    let dashboard = &printed["dashboard at"];
    assert!(dashboard.ends_with("/ui"), "{dashboard}");

    // 2. Open the dashboard address, paste the admin token into "API token", "Sign in".
    let c = browser(&driver, &binary).await;
    c.goto(dashboard).await.expect("open the dashboard");
    wait_for_heading(&c, "Sign in").await;
    type_into(&c, "token", token).await;
    click_button(&c, "Sign in").await;
    wait_for_heading(&c, "Authentications").await;

    // 3. "Create new authentication", search the catalog for airtable, "Choose" on its row.
    click_on(&c, Locator::LinkText("Create new authentication")).await;
    wait_for_heading(&c, "Create new authentication").await;
    type_into(&c, "q", "airtable").await;
    click_button(&c, "Search").await;
    click_on(&c, Locator::Css("a[aria-label='Choose Airtable']")).await;

    // 4. Name, workspace "Default organization", the token, "Save even if…", "Create".
    type_into(&c, "name", "Airtable prod").await;
    dashboard_support::browser::choose(&c, "workspace", "Default organization").await;
    type_into(&c, "field-token", "pat123").await;
    click_on(
        &c,
        Locator::XPath("//label[contains(., 'Save even if the service cannot confirm')]/input"),
    )
    .await;
    click_button(&c, "Create").await;
    wait_for_heading(&c, "Airtable prod").await;
    let page = c.source().await.expect("source");
    assert!(!page.contains("pat123"), "the token shows only as set");
    assert!(page.contains("fp:"), "with a fingerprint");
    screenshot(&c, "readme-created").await;

    // 5. The page's resolve command, pasted into a shell with TOKEN set.
    let command = wait_for(&c, Locator::Css("pre.command code"))
        .await
        .text()
        .await
        .expect("the command");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env("TOKEN", token)
        .output()
        .expect("run the pasted command (sh and curl)");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command}\n{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(answer["resolved"], "pat123", "{answer}");
    c.close().await.expect("close the browser");
}
