//! The browser half of the dashboard's test harness: chromedriver and a headless Chromium
//! session, screenshots under `target/dashboard-screenshots/`, and waiting for a page.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver process, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Starts chromedriver on a free port, or says why it cannot (`None` outside CI).
pub async fn start_driver() -> Option<(Driver, PathBuf)> {
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

/// A headless Chromium session.
pub async fn browser(driver: &Driver, binary: &Path) -> Client {
    session(driver, binary, None).await
}

/// A headless Chromium session that saves downloads into `downloads` without asking.
pub async fn browser_downloading_to(driver: &Driver, binary: &Path, downloads: &Path) -> Client {
    session(driver, binary, Some(downloads)).await
}

async fn session(driver: &Driver, binary: &Path, downloads: Option<&Path>) -> Client {
    let mut options = json!({
        "binary": binary,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--window-size=1280,900"],
    });
    if let Some(dir) = downloads {
        options["prefs"] = json!({
            "download.default_directory": dir,
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": false,
        });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    // Several rustls providers are linked in; the WebDriver client uses ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

pub async fn screenshot(client: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// Waits (up to 20 s) for the element `locator` finds. Any answer short of it is retried,
/// not only "no such element": while a click or a submit navigates, the driver may answer
/// "aborted by navigation" or a stale document, and that is a moment, not a failure.
pub async fn wait_for(client: &Client, locator: Locator<'_>) -> Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match client.find(locator).await {
            Ok(element) => return element,
            Err(e) if std::time::Instant::now() >= deadline => panic!("no {locator:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Chooses the option labelled `label` of the select whose id is `id`.
pub async fn choose(client: &Client, id: &str, label: &str) {
    wait_for(client, Locator::Id(id))
        .await
        .select_by_label(label)
        .await
        .unwrap_or_else(|e| panic!("choose {label:?} in #{id}: {e}"));
}

/// Waits until the page's heading starts with `text` (a click navigates asynchronously: the
/// old page's heading is still there for a moment).
pub async fn wait_for_heading(client: &Client, text: &str) {
    let xpath = format!("//h1[starts-with(normalize-space(.), '{text}')]");
    wait_for(client, Locator::XPath(&xpath)).await;
}

/// Waits (up to 20 s) for an `<h1>` that is exactly `text`: unlike [`wait_for_heading`], a
/// longer heading that starts with it (the page before, say "… as of version 1") does not
/// count.
pub async fn wait_for_exact_heading(client: &Client, text: &str) {
    let xpath = format!("//h1[normalize-space(.) = '{text}']");
    wait_for(client, Locator::XPath(&xpath)).await;
}

/// Waits (up to 20 s) until the browser is on an address containing `part`: a form that
/// submits on Enter navigates asynchronously, and the old page may already show what the new
/// one is awaited for.
pub async fn wait_for_url_containing(client: &Client, part: &str) {
    for _ in 0..200 {
        let url = client.current_url().await.expect("current url");
        if url.as_str().contains(part) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser never reached an address containing {part:?}");
}

/// Clicks the element `locator` finds, once it is on the page. An element that went stale
/// before the click (the page it was on was being replaced) was not clicked: it is found
/// again on the new page and clicked there.
pub async fn click_on(client: &Client, locator: Locator<'_>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match wait_for(client, locator).await.click().await {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() >= deadline => panic!("click {locator:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Clicks the button whose text is `text`.
pub async fn click_button(client: &Client, text: &str) {
    let xpath = format!("//button[normalize-space(.)='{text}']");
    click_on(client, Locator::XPath(&xpath)).await;
}

/// Types `text` into the field whose id is `id` (the id its label names); a field that went
/// stale before the keys reached it is found again, as in [`click_on`].
pub async fn type_into(client: &Client, id: &str, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match wait_for(client, Locator::Id(id))
            .await
            .send_keys(text)
            .await
        {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() >= deadline => panic!("type into #{id}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Signs in at `base` by typing an API token into the form; waits for the list.
pub async fn sign_in_with_token(client: &Client, base: &str, token: &str) {
    client
        .goto(&format!("{base}/ui/sign-in"))
        .await
        .expect("open sign-in");
    wait_for_heading(client, "Sign in").await;
    type_into(client, "token", token).await;
    click_on(client, Locator::Css("main button[type=submit]")).await;
    wait_for_heading(client, "Authentications").await;
}

/// Waits for the refusal the page shows beside field `id` (`#{id}-error`), checks the field
/// is marked invalid, and answers the message.
pub async fn refusal_beside(client: &Client, id: &str) -> String {
    let message = wait_for(client, Locator::Id(&format!("{id}-error")))
        .await
        .text()
        .await
        .expect("text");
    let field = client.find(Locator::Id(id)).await.expect("the field");
    assert_eq!(
        field.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true"),
        "#{id} is marked invalid"
    );
    message
}
