//! Passkeys in a real headless Chromium with a virtual platform authenticator (CTAP2, internal
//! transport, discoverable credentials, user verification), driven over WebDriver's WebAuthn
//! extension: a person registers a passkey in security info, then signs in to an application
//! built on a standard OIDC client library with it — after typing their name, and with no name
//! at all — and the application's ID token says `hwk`, `user`, `mfa`.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

mod common;
use common::app;
use countersign_core::model::SigningAlg;
use countersign_core::policy::{self, Actor, MethodId, State};
use countersign_testkit::browser::Browser;
use countersign_testkit::{Db, TestServer, PASSWORD};
use fantoccini::Locator;

/// Passkeys on for everyone in `tenant`.
async fn passkeys_on(s: &TestServer, tenant: &countersign_core::model::Tenant) {
    let actor = Actor::Operator("test".into());
    policy::change(&s.state.deps, tenant, &actor, "test", |mut p| {
        p.method_mut(MethodId::Passkey).state = State::Enabled;
        Ok(p)
    })
    .await
    .unwrap();
}

async fn sign_out(browser: &Browser, s: &TestServer) {
    browser.goto(&format!("{}/contoso/", s.base)).await;
    browser.click("Sign out").await;
    browser
        .wait_text("h1", "You signed out of your account")
        .await;
}

#[tokio::test]
async fn a_passkey_made_in_security_info_signs_in_with_the_name_and_without_it() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f.tenant).await;
    let rp = app(&s, "Demo app", false, SigningAlg::ES256).await;
    let authenticator = browser.add_virtual_authenticator().await;

    // Register: sign in with the password, then security info → Add sign-in method → Passkey.
    browser.goto(&format!("{}/contoso/login", s.base)).await;
    browser.fill("Email or username", "alice@contoso.com").await;
    browser.click("Next").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_text("h1", "My account").await;
    browser
        .goto(&format!("{}/contoso/security-info", s.base))
        .await;
    browser.click("Add sign-in method").await;
    browser.click("Passkey").await;
    browser.wait_text("h1", "Create a passkey").await;
    browser.click("Next").await;
    browser.wait_text(".notice", "Passkey registered.").await;
    let creds = browser.virtual_credentials(&authenticator).await;
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(
        creds[0]["isResidentCredential"], true,
        "a discoverable credential"
    );
    assert_eq!(creds[0]["rpId"], "localhost");
    sign_out(&browser, &s).await;

    // With no name, from the name field's autofill (conditional UI): automation answers the
    // browser's pending request at once, as a person picking their passkey would.
    browser.goto(&format!("{}/login", rp.base)).await;
    browser.wait_text("#who", "Signed in as Alice Smith").await;
    let last = rp.signed_in().last().unwrap().clone();
    assert_eq!(last.amr, ["hwk", "user", "mfa"]);
    assert_eq!(
        last.preferred_username.as_deref(),
        Some("alice@contoso.com")
    );
    sign_out(&browser, &s).await;

    // With the name. While the device refuses to verify the user, the autofill request fails
    // quietly and the passkey step (the default now) says what went wrong; then it verifies.
    browser.set_user_verified(&authenticator, false).await;
    browser.goto(&format!("{}/login", rp.base)).await;
    browser.fill("Email or username", "alice@contoso.com").await;
    browser.click("Next").await;
    browser.wait_text("h1", "Sign in with a passkey").await;
    let err = browser.text("#passkey-error:not([hidden])").await;
    assert!(err.contains("cancelled or timed out"), "{err}");
    assert_eq!(rp.signed_in().len(), 1);
    browser.set_user_verified(&authenticator, true).await;
    browser
        .click("Face, fingerprint, PIN, or security key")
        .await;
    browser.wait_text("#who", "Signed in as Alice Smith").await;
    assert_eq!(rp.signed_in().last().unwrap().amr, ["hwk", "user", "mfa"]);
    assert_eq!(rp.signed_in().len(), 2);
    sign_out(&browser, &s).await;

    // With no name, for people who don't use autofill: "Sign-in options" → "Face,
    // fingerprint, PIN, or security key" (the autofill request is aborted for it).
    browser.set_user_verified(&authenticator, false).await;
    browser.goto(&format!("{}/login", rp.base)).await;
    let options = browser
        .client
        .wait()
        .for_element(Locator::Css("details.sign-in-options summary"))
        .await
        .unwrap();
    browser.set_user_verified(&authenticator, true).await;
    options.click().await.unwrap();
    browser
        .click("Face, fingerprint, PIN, or security key")
        .await;
    browser.wait_text("#who", "Signed in as Alice Smith").await;
    assert_eq!(rp.signed_in().len(), 3);
    browser.close().await;
    s.stop().await;
}

/// Cross-device: a passkey kept in `countersign-authenticator` signs Chromium in. The page shows
/// a QR code and a short code; the terminal app reads the QR code from a screenshot, shows the
/// site and the same code, asks for its PIN, answers — and the page finishes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_in_the_terminal_authenticator_signs_the_browser_in_from_its_qr_code() {
    use countersign_testkit::process::{authenticator, authenticator_bin};
    let Some(bin) = authenticator_bin() else {
        return;
    };
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f.tenant).await;
    let rp = app(&s, "Demo app", false, SigningAlg::ES256).await;

    // The terminal app: registered for alice, then a passkey made for her.
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    assert!(authenticator(&bin, home, "135790\n", &["init"]).0);
    let code =
        countersign_core::methods::push::begin_activation(&s.state.deps, &f.tenant, &f.alice)
            .await
            .unwrap();
    let link = countersign_server::web::security_info::activation_link(&s.state, &f.tenant, &code);
    let (ok, _, err) = authenticator(&bin, home, "135790\n", &["add", &link]);
    assert!(ok, "{err}");
    let (ok, out, err) = authenticator(&bin, home, "135790\n", &["passkey", "register", "alice"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("Passkey registered: alice@contoso.com on localhost"),
        "{out}"
    );
    let (_, out, _) = authenticator(&bin, home, "135790\n", &["passkey", "list"]);
    assert!(out.contains("alice@contoso.com on localhost"), "{out}");

    // The computer: Sign-in options → Sign in with a passkey on another device.
    browser.goto(&format!("{}/login", rp.base)).await;
    browser
        .client
        .wait()
        .for_element(Locator::Css("details.sign-in-options summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .click("Sign in with a passkey on another device")
        .await;
    browser
        .wait_text("h1", "Sign in with a passkey on another device")
        .await;
    let short = browser.text("#short-code").await;
    let png = browser
        .client
        .find(Locator::Css("#qr-code"))
        .await
        .unwrap()
        .screenshot()
        .await
        .unwrap();
    let qr = home.join("qr.png");
    std::fs::write(&qr, png).unwrap();
    let qr = qr.to_string_lossy().to_string();
    let (ok, out, err) =
        authenticator(&bin, home, "135790\n", &["passkey", "sign-in", "--qr", &qr]);
    assert!(ok, "{err}");
    assert!(out.contains("Sign in to Contoso"), "{out}");
    assert!(out.contains(&format!("shows the code {short}")), "{out}");
    browser.wait_text("#who", "Signed in as Alice Smith").await;
    assert_eq!(rp.signed_in().last().unwrap().amr, ["swk", "pin", "mfa"]);

    // The link worked once.
    let (ok, _, err) = authenticator(&bin, home, "135790\n", &["passkey", "sign-in", "--qr", &qr]);
    assert!(!ok);
    assert!(err.contains("used already or has expired"), "{err}");
    browser.close().await;
    s.stop().await;
}
