//! The sign-in pages in a real headless Chromium: a person opens an application built on a
//! standard OIDC client library, types their name, clicks Next, types their password, clicks
//! Sign in, and lands back in the application signed in (the application validated the ID token
//! against the JWKS).

use countersign_core::directory::{self, NewClient};
use countersign_core::model::SigningAlg;
use countersign_testkit::browser::Browser;
use countersign_testkit::rp::RelyingParty;
use countersign_testkit::{TestServer, PASSWORD};

#[tokio::test]
async fn password_sign_in_in_chromium_lands_back_in_the_application() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    let (listener, rp_base) = RelyingParty::bind().await;
    let t = directory::tenant(&s.state.deps, "contoso").await.unwrap();
    let (c, secret) = directory::create_client(
        &s.state.deps,
        &t,
        NewClient {
            name: "Demo app",
            redirect_uris: &[format!("{rp_base}/callback")],
            post_logout_redirect_uris: &[],
            confidential: true,
            id_token_alg: SigningAlg::RS256,
            client_id: None,
        },
    )
    .await
    .unwrap();
    let rp = RelyingParty::start(listener, &s.issuer("contoso"), &c.id, secret.as_deref())
        .await
        .unwrap();

    browser.goto(&format!("{}/login", rp.base)).await;
    browser.fill("Email or username", "alice@contoso.com").await;
    browser.click("Next").await;
    // a wrong password first: the page says so and stays
    browser.fill("Password", "not-my-password").await;
    browser.click("Sign in").await;
    let err = browser.text("#password-error").await;
    assert!(
        err.contains("Your account or password is incorrect"),
        "{err}"
    );
    browser.fill("Password", PASSWORD).await;
    if let Ok(dir) = std::env::var("COUNTERSIGN_SCREENSHOTS") {
        browser
            .screenshot(&std::path::Path::new(&dir).join("password-page.png"))
            .await;
    }
    browser.click("Sign in").await;
    let who = browser.text("#who").await;
    assert_eq!(who, "Signed in as Alice Smith");
    assert!(browser.url().await.starts_with(&rp.base));
    assert_eq!(rp.signed_in().len(), 1);
    browser.close().await;
    s.stop().await;
}

/// Security info in Chromium: add the authenticator app by scanning the QR code on the page
/// (decoded from a screenshot by `countersign-authenticator`, which then holds the account; the
/// Python `pyotp` library, a third-party peer, must compute the same code from the same URI),
/// then sign in with password + a code from `countersign-authenticator`.
#[tokio::test]
async fn enrol_an_authenticator_from_the_qr_code_and_sign_in_with_a_code() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    browser.goto(&format!("{}/contoso/login", s.base)).await;
    browser.fill("Email or username", "alice").await;
    browser.click("Next").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_text("h1", "My account").await;
    browser
        .goto(&format!("{}/contoso/security-info", s.base))
        .await;
    browser.click("Add sign-in method").await;
    let uri = browser.read_qr("#qr-code").await;
    assert!(
        uri.starts_with("otpauth://totp/Contoso:alice%40contoso.com?secret="),
        "{uri}"
    );
    let account = countersign_authenticator::uri::parse_otpauth(&uri).unwrap();
    let now = countersign_core::clock::Clock::now(s.clock.as_ref());
    let code = account.code(now as u64).code;
    let Some(py) = countersign_testkit::pyotp_code(&uri, now) else {
        browser.close().await;
        return;
    };
    assert_eq!(py, code, "pyotp and the authenticator agree");
    browser.fill("Code", &code).await;
    browser.click("Next").await;
    let notice = browser.text(".notice").await;
    assert!(notice.contains("successfully registered"), "{notice}");

    // sign out, then sign in again: now a code is asked for
    browser.goto(&format!("{}/contoso/", s.base)).await;
    browser.click("Sign out").await;
    browser
        .wait_text("h1", "You signed out of your account")
        .await;
    s.clock.advance(30);
    browser.goto(&format!("{}/contoso/login", s.base)).await;
    browser.fill("Email or username", "alice").await;
    browser.click("Next").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_text("h1", "Enter code").await;
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let now = countersign_core::clock::Clock::now(s.clock.as_ref());
    let Some(code) = countersign_testkit::oathtool_code(secret, now, &[]) else {
        browser.close().await;
        return;
    };
    browser.fill("Code", &code).await;
    browser.click("Verify").await;
    browser.wait_text("h1", "My account").await;
    browser.close().await;
    s.stop().await;
}

/// The error page's "Go back" link works under the server's own CSP (no `javascript:` URL).
#[tokio::test]
async fn the_error_pages_go_back_link_returns_to_the_previous_page() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    browser.goto(&format!("{}/contoso/login", s.base)).await;
    browser.wait_text("h1", "Sign in").await;
    browser
        .goto(&format!("{}/no-such-organisation/login", s.base))
        .await;
    browser.wait_text("h1", "We couldn't do that").await;
    browser.follow("Go back").await;
    browser.wait_text("h1", "Sign in").await;
    assert!(browser.url().await.ends_with("/contoso/login"));
    browser.close().await;
    s.stop().await;
}
