//! The sign-in pages in a real headless Chromium: a person opens an application built on a
//! standard OIDC client library, types their name, clicks Next, types their password, clicks
//! Sign in, and lands back in the application signed in (the application validated the ID token
//! against the JWKS).

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

mod common;
use common::app;
use countersign_core::directory;
use countersign_core::model::SigningAlg;
use countersign_testkit::browser::Browser;
use countersign_testkit::{TestServer, PASSWORD};

/// Temporary Access Passes turned on in `tenant`, a user created there without a password, and
/// a one-time pass issued to them: the pass.
async fn newcomer_with_pass(
    s: &TestServer,
    tenant: &countersign_core::model::Tenant,
    upn: &str,
    display_name: &str,
) -> countersign_core::secret::Secret {
    use countersign_core::methods::tap;
    use countersign_core::policy::{self, Actor, MethodId, State};
    let deps = &s.state.deps;
    let operator = Actor::Operator("test".into());
    policy::change(deps, tenant, &operator, "test", |mut p| {
        p.method_mut(MethodId::TemporaryAccessPass).state = State::Enabled;
        Ok(p)
    })
    .await
    .unwrap();
    let user = s.passwordless_user(tenant, upn, display_name).await;
    tap::create(deps, tenant, &operator, &user, tap::NewPass::default())
        .await
        .unwrap()
        .secret
}

/// Opens `login_url` and signs in as `name` with the seeded password (the steps that follow are
/// the test's).
async fn password_steps(browser: &Browser, login_url: &str, name: &str) {
    browser.goto(login_url).await;
    browser.fill("Email or username", name).await;
    browser.click("Next").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
}

#[tokio::test]
async fn password_sign_in_in_chromium_lands_back_in_the_application() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    let rp = app(&s, "Demo app", false, SigningAlg::RS256).await;

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
    password_steps(&browser, &format!("{}/contoso/login", s.base), "alice").await;
    browser.wait_text("h1", "My account").await;
    browser
        .goto(&format!("{}/contoso/security-info", s.base))
        .await;
    browser.click("Add sign-in method").await;
    browser
        .wait_text("h1", "Set up your account in the app")
        .await;
    browser
        .click("I want to use a different authenticator app")
        .await;
    // The page before had a QR code too (the activation link): wait for the codes page's key.
    browser.text("#secret-key").await;
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
    password_steps(&browser, &format!("{}/contoso/login", s.base), "alice").await;
    browser.wait_text("h1", "Enter code").await;
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    if !verify_with_oathtool(&browser, &s, secret).await {
        browser.close().await;
        return;
    }

    // "Delete" asks first: Cancel keeps the method, OK deletes it.
    browser
        .goto(&format!("{}/contoso/security-info", s.base))
        .await;
    browser.wait_text("h1", "Security info").await;
    let rows = "//tr[td[normalize-space()='Authenticator app'] and \
                td[normalize-space()='Time-based one-time password (TOTP)']]";
    assert_eq!(browser.count_xpath(rows).await, 1);
    browser.click("Delete Authenticator app").await;
    let asked = browser.answer_dialog(false).await;
    assert_eq!(
        asked,
        countersign_server::web::security_info::DELETE_CONFIRM
    );
    assert_eq!(browser.count_xpath(rows).await, 1, "kept after Cancel");
    browser.click("Delete Authenticator app").await;
    browser.answer_dialog(true).await;
    browser.wait_text("h1", "Security info").await;
    for _ in 0..50 {
        if browser.count_xpath(rows).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(browser.count_xpath(rows).await, 0, "deleted after OK");
    browser.close().await;
    s.stop().await;
}

/// On "Enter code": a code from `oathtool` for `secret`, then "Verify" lands on the account page;
/// false (skipped, as `oathtool_code` says) where oathtool is missing.
async fn verify_with_oathtool(browser: &Browser, s: &TestServer, secret: &str) -> bool {
    let now = countersign_core::clock::Clock::now(s.clock.as_ref());
    let Some(code) = countersign_testkit::oathtool_code(secret, now, &[]) else {
        return false;
    };
    browser.fill("Code", &code).await;
    browser.click("Verify").await;
    browser.wait_text("h1", "My account").await;
    true
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

/// Gives `user` an active authenticator app through the core; returns its base32 secret.
async fn with_app(s: &TestServer, user: &countersign_core::model::User) -> String {
    use countersign_core::methods::oath;
    let deps = &s.state.deps;
    let t = directory::tenant(deps, "contoso").await.unwrap();
    let tok = oath::begin_enrolment(deps, user).await.unwrap();
    let now = countersign_core::clock::Clock::now(s.clock.as_ref());
    let code = tok.code_at_step(tok.step_at(now)).unwrap();
    assert!(oath::activate(deps, &t, user, &tok.id, &code)
        .await
        .unwrap());
    s.clock.advance(30);
    tok.secret.expose().to_string()
}

/// Password + code: the code page follows the password; "Other ways to sign in" lists the
/// methods the account may use at this step, and choosing one comes back to it.
#[tokio::test]
async fn after_the_password_the_code_is_asked_for_and_other_ways_can_switch() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    let f = s.seed().await;
    let secret = with_app(&s, &f.alice).await;
    password_steps(&browser, &format!("{}/contoso/login", s.base), "alice").await;
    browser.wait_text("h1", "Enter code").await;
    browser.click("Other ways to sign in").await;
    browser.wait_text("h1", "Verify your identity").await;
    browser.click("Use a verification code").await;
    browser.wait_text("h1", "Enter code").await;
    verify_with_oathtool(&browser, &s, &secret).await;
    browser.close().await;
    s.stop().await;
}

/// An account created without a password never sees a password page: with no passwordless
/// method yet it is told it has no way to sign in (codes are never a first factor).
#[tokio::test]
async fn an_account_without_a_password_is_told_it_has_no_way_to_sign_in_yet() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    let f = s.seed().await;
    let bob = directory::create_user(
        &s.state.deps,
        &f.tenant,
        directory::NewUser {
            upn: "bob@contoso.com",
            display_name: "Bob",
            email: None,
            password: None,
            enabled: true,
        },
    )
    .await
    .unwrap();
    with_app(&s, &bob).await;
    browser.goto(&format!("{}/contoso/login", s.base)).await;
    browser.fill("Email or username", "bob").await;
    browser.click("Next").await;
    browser.wait_text("h1", "You can't sign in here yet").await;
    let alert = browser.text("[role=alert]").await;
    assert!(alert.contains("Ask your administrator"), "{alert}");
    assert_eq!(browser.count("input[type=password]").await, 0);
    browser.close().await;
    s.stop().await;
}

/// An application registered with `--require-mfa`: a password-only user goes through "More
/// information required", adds an authenticator app from the QR code, and lands in the
/// application with `amr` containing `mfa`.
#[tokio::test]
async fn an_app_that_requires_mfa_has_a_password_only_user_register_an_authenticator() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    let rp = app(&s, "Payroll", true, SigningAlg::ES256).await;
    password_steps(&browser, &format!("{}/login", rp.base), "alice@contoso.com").await;
    browser.wait_text("h1", "More information required").await;
    browser.click("Next").await;
    browser
        .wait_text("h1", "Set up your account in the app")
        .await;
    let uri = browser.read_qr("#qr-code").await;
    let account = countersign_authenticator::uri::parse_otpauth(&uri).unwrap();
    let now = countersign_core::clock::Clock::now(s.clock.as_ref());
    browser.fill("Code", &account.code(now as u64).code).await;
    browser.click("Next").await;
    let who = browser.text("#who").await;
    assert_eq!(who, "Signed in as Alice Smith");
    let amr = browser.text("#amr").await;
    assert!(amr.split(' ').any(|a| a == "mfa"), "{amr}");
    assert_eq!(rp.signed_in()[0].amr, vec!["pwd", "otp", "mfa"]);
    browser.close().await;
    s.stop().await;
}

/// The whole push approval as a person does it, in Chromium with the real
/// `countersign-authenticator` binary as a separate process: the activation link from security
/// info registers the terminal; at the next sign-in the page shows the number; the
/// authenticator approves with that number (and the App Lock PIN); the waiting page continues
/// by itself, and the application (a standard OIDC client library) gets an ID token whose `amr`
/// says multifactor. (Multi-threaded: the server answers the authenticator while the test waits
/// for the process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_approval_from_the_terminal_authenticator_signs_the_browser_in() {
    use countersign_testkit::process::{authenticator, authenticator_bin};
    let Some(bin) = authenticator_bin() else {
        return;
    };
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    s.seed().await;
    let rp = app(&s, "Demo app", false, SigningAlg::RS256).await;

    // Register the terminal from security info.
    password_steps(&browser, &format!("{}/contoso/login", s.base), "alice").await;
    browser.wait_text("h1", "My account").await;
    browser
        .goto(&format!("{}/contoso/security-info", s.base))
        .await;
    browser.click("Add sign-in method").await;
    browser
        .wait_text("h1", "Set up your account in the app")
        .await;
    // The QR code, as a phone's camera would read it.
    let link = browser.read_qr("#qr-code").await;
    assert!(link.starts_with("countersign://activate?server="), "{link}");
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let pin = "246810\n";
    assert!(authenticator(&bin, home, pin, &["init"]).0);
    let (ok, out, err) = authenticator(&bin, home, pin, &["add", &link, "--name", "CI terminal"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Added alice@contoso.com (contoso) for sign-in requests and codes"),
        "{out}"
    );
    browser.follow("Next").await;
    browser.wait_text("h1", "Security info").await;
    assert_eq!(
        browser.text("tbody tr:nth-child(2) td").await,
        "Authenticator app — Notification and code"
    );
    browser.goto(&format!("{}/contoso/", s.base)).await;
    browser.click("Sign out").await;
    browser
        .wait_text("h1", "You signed out of your account")
        .await;

    // Sign in to the application: the password, then the number.
    password_steps(&browser, &format!("{}/login", rp.base), "alice@contoso.com").await;
    browser.wait_text("h1", "Approve sign-in request").await;
    let number = browser.text("#push-number").await;
    let (ok, out, err) = authenticator(&bin, home, pin, &["requests", "--json"]);
    assert!(ok, "{err}");
    let requests: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = requests[0]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(requests[0]["request"]["application"], "Demo app");
    let (ok, out, err) = authenticator(
        &bin,
        home,
        pin,
        &["approve", &id[..10], "--number", &number],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("Approved"), "{out}");
    // No reload: the page's script sees the approval and continues to the application.
    let who = browser.text("#who").await;
    assert_eq!(who, "Signed in as Alice Smith");
    let amr = rp.signed_in().last().unwrap().amr.clone();
    assert_eq!(amr, ["pwd", "swk", "pin", "mfa"]);
    browser.close().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_access_pass_signs_in_without_a_password_and_adds_a_second_authenticator_account(
) {
    use countersign_core::methods::push;
    use countersign_testkit::process::{authenticator, authenticator_bin};
    let Some(bin) = authenticator_bin() else {
        return;
    };
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    let f = s.seed().await;
    let deps = &s.state.deps;
    let pass = newcomer_with_pass(&s, &f.tenant, "bob@contoso.com", "Bob Jones").await;

    // The terminal already holds alice's account.
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let pin = "246810\n";
    assert!(authenticator(&bin, home, pin, &["init"]).0);
    let code = push::begin_activation(deps, &f.tenant, &f.alice)
        .await
        .unwrap();
    let link = countersign_server::web::security_info::activation_link(&s.state, &f.tenant, &code);
    let (ok, _, err) = authenticator(&bin, home, pin, &["add", &link, "--name", "CI terminal"]);
    assert!(ok, "{err}");

    // Bob has no password: after his name, the pass is asked for.
    browser.goto(&format!("{}/contoso/login", s.base)).await;
    browser.fill("Email or username", "bob").await;
    browser.click("Next").await;
    browser.wait_text("h1", "Enter Temporary Access Pass").await;
    browser.fill("Temporary Access Pass", "NOTMYPASS").await;
    browser.click("Sign in").await;
    browser
        .wait_text("#pass-error", "That Temporary Access Pass isn't valid. Check it and try again, or ask your administrator for a new one.")
        .await;
    browser.fill("Temporary Access Pass", pass.expose()).await;
    browser.click("Sign in").await;
    browser.wait_text("h1", "My account").await;

    // Strong enough to add the Authenticator app straight away.
    browser
        .goto(&format!("{}/contoso/security-info", s.base))
        .await;
    browser.click("Add sign-in method").await;
    browser
        .wait_text("h1", "Set up your account in the app")
        .await;
    let link = browser.read_qr("#qr-code").await;
    let (ok, out, err) = authenticator(&bin, home, pin, &["add", &link, "--name", "CI terminal"]);
    assert!(ok, "{err}");
    assert!(out.contains("Added bob@contoso.com (contoso)"), "{out}");
    browser.follow("Next").await;
    browser.wait_text("h1", "Security info").await;
    // (No password row: his first method.)
    assert_eq!(
        browser.text("tbody tr:nth-child(1) td").await,
        "Authenticator app — Notification and code"
    );
    // Two accounts on one device.
    let (ok, out, err) = authenticator(&bin, home, pin, &["list", "--json"]);
    assert!(ok, "{err}");
    let accounts: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("alice@contoso.com"))
            && names.iter().any(|n| n.contains("bob@contoso.com")),
        "{out}"
    );
    // "Enable phone sign-in" for bob's account on it.
    let (ok, out, err) = authenticator(&bin, home, pin, &["phone-sign-in", "enable", "bob"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Phone sign-in is on for bob@contoso.com"),
        "{out}"
    );
    let (_, out, _) = authenticator(&bin, home, pin, &["list"]);
    assert!(
        out.lines()
            .any(|l| l.contains("bob@contoso.com") && l.ends_with("phone sign-in on")),
        "{out}"
    );
    browser.close().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_registers_the_terminal_with_a_pass_and_signs_in_to_an_app_with_no_password() {
    use countersign_testkit::process::{authenticator, authenticator_bin};
    let Some(bin) = authenticator_bin() else {
        return;
    };
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let s = TestServer::start().await;
    let f = s.seed().await;
    let rp = app(&s, "Demo app", true, SigningAlg::RS256).await;
    // 1. A user created without a password gets a Temporary Access Pass.
    let pass = newcomer_with_pass(&s, &f.tenant, "carol@contoso.com", "Carol Diaz").await;

    // 2. Direct registration: the PIN, then the pass, on standard input.
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    assert!(authenticator(&bin, home, "246810\n", &["init"]).0);
    let server = format!("{}/contoso", s.base);
    let input = format!("246810\n{}\n", pass.expose());
    let args = ["add", "--server", &server, "--user", "carol", "--tap"];
    let (ok, out, err) = authenticator(&bin, home, &input, &args);
    assert!(ok, "{err}");
    assert!(
        out.contains("Added carol@contoso.com (contoso) with phone sign-in"),
        "{out}"
    );

    // 3. Sign in to the application: the name, then the number — no password.
    browser.goto(&format!("{}/login", rp.base)).await;
    browser.fill("Email or username", "carol@contoso.com").await;
    browser.click("Next").await;
    browser.wait_text("h1", "Approve sign-in request").await;
    let number = browser.text("#push-number").await;
    let (ok, out, err) = authenticator(&bin, home, "246810\n", &["requests"]);
    assert!(ok, "{err}");
    assert!(out.contains("without a password (phone sign-in)"), "{out}");
    let (ok, out, err) = authenticator(&bin, home, "246810\n", &["requests", "--json"]);
    assert!(ok, "{err}");
    let requests: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = requests[0]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(requests[0]["request"]["passwordless"], true);
    let (ok, out, err) = authenticator(
        &bin,
        home,
        "246810\n",
        // Without the "req_" every id starts with, as a person may copy it.
        &["approve", &id[4..12], "--number", &number],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("Approved"), "{out}");
    assert_eq!(browser.text("#who").await, "Signed in as Carol Diaz");
    let amr = rp.signed_in().last().unwrap().amr.clone();
    assert_eq!(amr, ["swk", "pin", "mfa"]);

    // 4. The one-time pass no longer works.
    let other = tempfile::tempdir().unwrap();
    assert!(authenticator(&bin, other.path(), "246810\n", &["init"]).0);
    let (ok, _, err) = authenticator(&bin, other.path(), &input, &args);
    assert!(!ok);
    assert!(err.contains("Temporary Access Pass isn't valid"), "{err}");
    browser.close().await;
    s.stop().await;
}
