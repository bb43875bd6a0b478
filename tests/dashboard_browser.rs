//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver): sign in
//! by typing a token into the form, find an authentication by searching, open it, create one
//! through the form, and sign out. Screenshots of the pages go to `target/dashboard-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian's packages; `.ci/run` installs them). Without
//! them the test says so and passes, except under `CI`, where it fails.

mod http_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use http_support::Server;
use serde_json::json;

const CANARY: &str = "canary-browser-3a9f60d1";

/// A chromedriver process, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Starts chromedriver on a free port, or says why it cannot (`None` outside CI).
async fn start_driver() -> Option<(Driver, PathBuf)> {
    let driver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let browser = find_binary(
        "CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let (Some(driver_path), Some(browser)) = (driver, browser) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium / chromedriver are missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium or chromedriver not installed");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    // Owned by the guard at once, so any panic below still stops it.
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((driver, browser));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start listening on {}", driver.url);
}

async fn browser(driver: &Driver, binary: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    // Several rustls providers are linked in; the WebDriver client uses ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn screenshot(client: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// Waits until the page's heading starts with `text` (a click navigates asynchronously: the
/// old page's heading is still there for a moment).
async fn wait_for_heading(client: &Client, text: &str) {
    let xpath = format!("//h1[starts-with(normalize-space(.), '{text}')]");
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no heading {text:?}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_finds_an_authentication_and_signs_out() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    s.create_personal("slack", json!({"access_token": "xoxb-browser"}))
        .await;
    let c = browser(&driver, &binary).await;

    c.goto(&s.base).await.expect("open the dashboard");
    wait_for_heading(&c, "Sign in").await;
    screenshot(&c, "sign-in").await;

    // A wrong token: the message is beside the field, and the field is marked invalid.
    c.find(Locator::Id("token"))
        .await
        .expect("the token field")
        .send_keys("cl_wrong")
        .await
        .expect("type");
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("submit");
    let error = c
        .wait()
        .for_element(Locator::Id("token-error"))
        .await
        .expect("the message beside the field");
    assert!(error.text().await.expect("text").contains("not valid"));
    let field = c.find(Locator::Id("token")).await.expect("field");
    assert_eq!(
        field.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true")
    );
    screenshot(&c, "sign-in-refused").await;

    // The admin token opens the list.
    field.send_keys(&s.owner.token).await.expect("type");
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    wait_for_heading(&c, "Authentications").await;
    let listed = c.source().await.expect("source");
    assert!(listed.contains("2 authentications"), "{listed}");
    screenshot(&c, "authentications").await;

    // Search, by typing and pressing Enter.
    c.find(Locator::Id("q"))
        .await
        .expect("search field")
        .send_keys("airtable\u{E007}")
        .await
        .expect("search");
    c.wait()
        .for_element(Locator::XPath(
            "//p[@class='count'][contains(., '1 authentication ')]",
        ))
        .await
        .expect("one match");
    c.find(Locator::Css("tbody a"))
        .await
        .expect("the match's link")
        .click()
        .await
        .expect("open it");
    wait_for_heading(&c, "airtable").await;
    assert!(c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .ends_with(&format!("/ui/authentications/{id}")));
    let page = c.source().await.expect("source");
    assert!(
        page.contains("fp:"),
        "the secret shows as set with its fingerprint"
    );
    for html in [&listed, &page] {
        assert!(!html.contains(CANARY), "a secret reached the page");
    }
    screenshot(&c, "authentication").await;

    // Create one: choose the service, fill in its form, and land on its page.
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    c.find(Locator::LinkText("Create new authentication"))
        .await
        .expect("the create link")
        .click()
        .await
        .expect("open the form");
    wait_for_heading(&c, "Create new authentication").await;
    c.find(Locator::Css("#service option[value=airtable]"))
        .await
        .expect("Airtable in the catalog")
        .click()
        .await
        .expect("choose it");
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .expect("continue")
        .click()
        .await
        .expect("continue");
    let name = c
        .wait()
        .for_element(Locator::Id("name"))
        .await
        .expect("the name field");
    name.send_keys("Made in the browser").await.expect("type");
    c.find(Locator::Css(&format!(
        "#workspace option[value='{}']",
        s.shared
    )))
    .await
    .expect("the shared workspace")
    .click()
    .await
    .expect("choose it");
    c.find(Locator::Id("field-token"))
        .await
        .expect("the token field")
        .send_keys(&format!("{CANARY}-created"))
        .await
        .expect("type");
    screenshot(&c, "create").await;
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("create")
        .click()
        .await
        .expect("create");
    wait_for_heading(&c, "Made in the browser").await;
    let created = c.source().await.expect("source");
    assert!(!created.contains(CANARY), "a secret reached the page");

    // Sign out: back to the form, and the list is closed to this browser.
    c.find(Locator::Css("form.sign-out button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("sign out");
    wait_for_heading(&c, "Sign in").await;
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    wait_for_heading(&c, "Sign in").await;

    c.close().await.expect("close the browser");
    s.stop().await;
}
