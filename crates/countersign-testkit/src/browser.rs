//! A real headless Chromium for page tests, driven over WebDriver by ChromeDriver (Debian's
//! `chromium` and `chromium-driver`). Elements are found the way people find them: inputs by their
//! label's text, buttons by their accessible name.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(p) = std::env::var(env) {
        return Some(p);
    }
    candidates
        .iter()
        .find(|c| Path::new(c).exists())
        .map(|c| c.to_string())
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium; `None` (skipped) when they are not installed,
    /// a failure under `COUNTERSIGN_REQUIRE_ALL=1`.
    pub async fn launch() -> Option<Self> {
        // Several rustls providers are linked in (reqwest's ring, aws-lc-rs); pick one.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let Some(chrome) = find_binary(
            "CHROME_BIN",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        ) else {
            return crate::skip(
                "browser test",
                "Chromium is not installed (apt-get install chromium)",
            );
        };
        let Some(driver_bin) = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]) else {
            return crate::skip(
                "browser test",
                "ChromeDriver is not installed (apt-get install chromium-driver)",
            );
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_bin}: {e}"));
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chrome,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_err = String::new();
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .expect("rustls")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        _profile: profile,
                    })
                }
                Err(e) => {
                    last_err = e.to_string();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("ChromeDriver did not start: {last_err}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Types into the input labelled `label`, waiting for it to appear.
    pub async fn fill(&self, label: &str, value: &str) {
        let xpath = format!("//input[@id=//label[normalize-space()='{label}']/@for]");
        let el = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no input labelled '{label}': {e}"));
        el.send_keys(value).await.unwrap();
    }

    /// Clicks the button whose accessible name is `name`.
    pub async fn click(&self, name: &str) {
        let xpath = format!("//button[normalize-space()='{name}' or @aria-label='{name}']");
        self.click_xpath(&xpath, &format!("button '{name}'")).await;
    }

    /// Follows the link whose text is `name`.
    pub async fn follow(&self, name: &str) {
        let xpath = format!("//a[normalize-space()='{name}']");
        self.click_xpath(&xpath, &format!("link '{name}'")).await;
    }

    /// Waits (up to 10 s) for the element at `xpath` and clicks it.
    async fn click_xpath(&self, xpath: &str, what: &str) {
        let el = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("no {what}: {e}"));
        el.click().await.unwrap();
    }

    /// Waits for an element with the given CSS selector and returns its text. Survives the
    /// page changing under it (a navigation that a click started).
    pub async fn text(&self, css: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                match el.text().await {
                    Ok(t) => return t,
                    Err(e) => last = e.to_string(),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element '{css}': {last}");
    }

    /// Waits until the element with the given CSS selector shows `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        let mut seen = String::new();
        for _ in 0..100 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if t == expected {
                        return;
                    }
                    seen = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("'{css}' never showed '{expected}' (last: '{seen}')");
    }

    /// Answers the dialog the page opened (`confirm`), waiting up to 10 s for it: OK when
    /// `accept`, Cancel otherwise. Returns its text.
    pub async fn answer_dialog(&self, accept: bool) -> String {
        for _ in 0..100 {
            if let Ok(text) = self.client.get_alert_text().await {
                match accept {
                    true => self.client.accept_alert().await.unwrap(),
                    false => self.client.dismiss_alert().await.unwrap(),
                }
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page opened no dialog");
    }

    /// How many elements the current page has that match the CSS selector.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |v| v.len())
    }

    /// How many elements the current page has that match the XPath expression.
    pub async fn count_xpath(&self, xpath: &str) -> usize {
        self.client
            .find_all(Locator::XPath(xpath))
            .await
            .map_or(0, |v| v.len())
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Saves a screenshot (PNG) for a person to look at.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(path, png).unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Screenshots the element matching `css` and decodes the QR code in it. Survives the page
    /// changing under it, as [`Browser::text`] does; wait for the page first when the one before
    /// it had such an element too.
    pub async fn read_qr(&self, css: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                match el.screenshot().await {
                    Ok(png) => return crate::decode_qr(&png),
                    Err(e) => last = e.to_string(),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element '{css}': {last}");
    }
}

/// A WebAuthn command of the WebDriver extension (W3C WebAuthn §"WebDriver Extension
/// Capability"), which ChromeDriver implements: Chromium's virtual authenticators.
#[derive(Debug)]
struct WebAuthnCommand {
    method: axum::http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(|b| b.to_string()),
        )
    }
}

impl Browser {
    async fn webauthn(
        &self,
        method: axum::http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let cmd = WebAuthnCommand {
            method,
            path: path.to_string(),
            body,
        };
        self.client
            .issue_cmd(cmd)
            .await
            .unwrap_or_else(|e| panic!("WebDriver webauthn/{path}: {e}"))
    }

    /// Adds a virtual platform authenticator (CTAP2, internal transport) that keeps discoverable
    /// credentials, verifies the user and consents without a prompt; returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        let v = self
            .webauthn(axum::http::Method::POST, "authenticator", Some(body))
            .await;
        v.as_str().expect("authenticator id").to_string()
    }

    /// The credentials a virtual authenticator holds.
    pub async fn virtual_credentials(&self, authenticator: &str) -> Vec<serde_json::Value> {
        let v = self
            .webauthn(
                axum::http::Method::GET,
                &format!("authenticator/{authenticator}/credentials"),
                None,
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Whether the virtual authenticator's user verification succeeds from now on.
    pub async fn set_user_verified(&self, authenticator: &str, verified: bool) {
        self.webauthn(
            axum::http::Method::POST,
            &format!("authenticator/{authenticator}/uv"),
            Some(serde_json::json!({ "isUserVerified": verified })),
        )
        .await;
    }
}
