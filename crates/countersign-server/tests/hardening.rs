//! The security rules found missing by an outside review, each tried over HTTP as an attacker
//! would: bursts of parallel guesses against the lockout, the timing of a locked account, tokens
//! that must die with an account event, binding an authenticator with a stolen session, forged
//! names, undecodable forms, and the userinfo endpoint's header and `nbf` handling.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::clock::Clock;
use countersign_core::directory::{self, UserChanges};
use countersign_core::oidc::TokenSigner;
use countersign_core::signin::throttle;
use countersign_testkit::{
    csrf_of, location, oathtool_code, redeem_code, token_request, TestServer, WebClient, PASSWORD,
};

/// A browser whose flow is at the password step for alice; returns the flow's anti-CSRF token.
async fn at_password_step(web: &WebClient) -> String {
    let page = web.get("/contoso/login").await.text().await.unwrap();
    let csrf = csrf_of(&page).unwrap();
    let r = web
        .post_form(
            "/contoso/login/username",
            &[("csrf", &csrf), ("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 303);
    // the flow is stored (under a new id and token) once the name is posted
    web.csrf("/contoso/login").await
}

/// Posts `n` forms at once to `path` of this browser's flow, each with its own `field` value;
/// returns the statuses.
async fn burst(
    web: &WebClient,
    path: &str,
    csrf: &str,
    field: &str,
    values: Vec<String>,
) -> Vec<u16> {
    let mut tasks = Vec::new();
    for v in values {
        let (http, url, csrf, field) = (
            web.http.clone(),
            web.url(path),
            csrf.to_string(),
            field.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .form(&[("csrf", csrf.as_str()), (field.as_str(), v.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// 300 password guesses at once: no more are checked (hashed) than the lockout allows, and the
/// right password afterwards is refused. Keycloak's CVE-2024-4629 is this race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_password_guesses_are_checked_no_more_than_the_lockout_allows() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let csrf = at_password_step(&web).await;
    let before = s.state.hasher.verified();
    let guesses = (0..300).map(|i| format!("guess-number-{i}")).collect();
    let statuses = burst(&web, "/contoso/login/password", &csrf, "password", guesses).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let checked = s.state.hasher.verified() - before;
    assert!(
        (1..=10).contains(&checked),
        "{checked} guesses were hashed; the lockout allows 10"
    );
    let r = web
        .post_form(
            "/contoso/login/password",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 401, "locked: the right password is refused too");
    assert_eq!(
        s.state.hasher.verified() - before,
        checked,
        "and not hashed"
    );
    s.stop().await;
}

/// 200 wrong verification codes at once: no more are checked than the lockout allows, and the
/// right code afterwards is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_code_guesses_are_checked_no_more_than_the_lockout_allows() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let now = s.clock.now();
    let Some(secret) = web
        .enrol_authenticator("contoso", |sec| oathtool_code(sec, now, &[]))
        .await
    else {
        return;
    };
    s.clock.advance(30);
    let signing_in = WebClient::new(&s.base);
    let r = signing_in.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let page = signing_in.get("/contoso/login").await.text().await.unwrap();
    assert!(page.contains("Enter code"));
    let csrf = csrf_of(&page).unwrap();
    let now = s.clock.now();
    let valid: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| oathtool_code(&secret, *t, &[]).unwrap())
        .collect();
    let wrong: Vec<String> = (0..1_000_000)
        .step_by(4999)
        .map(|n| format!("{n:06}"))
        .filter(|c| !valid.contains(c))
        .take(200)
        .collect();
    let statuses = burst(&signing_in, "/contoso/login/code", &csrf, "code", wrong).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let token = &store_tokens(&s, &f.alice.id).await[0];
    let checked = token.failures_in(token.step_at(now));
    assert!(
        (1..=10).contains(&checked),
        "{checked} wrong codes were checked; the lockout allows 10"
    );
    let key = throttle::code_key(&f.tenant.id, &f.alice.upn);
    let st = s.state.deps.store.throttle_states(&[&key]).await.unwrap();
    assert_eq!(st[0].failures, 10);
    let r = signing_in
        .post_form(
            "/contoso/login/code",
            &[("csrf", &csrf), ("code", &valid[1])],
        )
        .await;
    assert_eq!(r.status(), 401, "locked: the right code is refused too");
    s.stop().await;
}

async fn store_tokens(
    s: &TestServer,
    user_id: &str,
) -> Vec<countersign_core::methods::oath::OathToken> {
    s.state
        .deps
        .store
        .oath_tokens_of_user(user_id)
        .await
        .unwrap()
}

/// A locked account answers no sooner than a checked attempt (a timer as long as a typical
/// verification), and computes no hash. Sleeping is never shorter than asked, so this lower bound
/// holds on any machine.
#[tokio::test]
async fn a_locked_account_answers_as_slowly_as_a_checked_one() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let csrf = at_password_step(&web).await;
    for i in 0..10 {
        let r = web
            .post_form(
                "/contoso/login/password",
                &[("csrf", &csrf), ("password", &format!("wrong-{i}"))],
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let typical = s.state.hasher.typical().expect("measured");
    let hashes = s.state.hasher.verified();
    let started = std::time::Instant::now();
    let r = web
        .post_form(
            "/contoso/login/password",
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    let took = started.elapsed();
    assert_eq!(r.status(), 401);
    assert_eq!(
        s.state.hasher.verified(),
        hashes,
        "no hash for a locked account"
    );
    assert!(
        took >= typical,
        "answered in {took:?}, a check takes {typical:?}"
    );
    s.stop().await;
}

/// Signs alice in to the confidential app with `password`; returns (access token, refresh token).
async fn app_tokens(
    s: &TestServer,
    f: &countersign_testkit::Fixture,
    web: &WebClient,
    password: &str,
) -> (String, String) {
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", password).await;
    let (status, body) = redeem_code(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &code,
        &verifier,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn userinfo(s: &TestServer, auth: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/contoso/oidc/userinfo", s.base))
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn refresh(s: &TestServer, f: &countersign_testkit::Fixture, token: &str) -> u16 {
    token_request(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
    .0
}

#[tokio::test]
async fn a_password_change_ends_sessions_and_tokens() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (access, refresh_token) = app_tokens(&s, &f, &web, PASSWORD).await;
    assert_eq!(userinfo(&s, &format!("Bearer {access}")).await, 200);
    s.clock.advance(5);
    directory::set_password(
        &s.state.deps,
        &f.tenant,
        "alice@contoso.com",
        Some("a-brand-new-passphrase"),
    )
    .await
    .unwrap();
    assert_eq!(userinfo(&s, &format!("Bearer {access}")).await, 401);
    assert_eq!(refresh(&s, &f, &refresh_token).await, 400);
    assert_eq!(
        web.get("/contoso/").await.status(),
        303,
        "browser session ended"
    );
    // a new sign-in works at once, in the same second
    let web = WebClient::new(&s.base);
    let (access, _) = app_tokens(&s, &f, &web, "a-brand-new-passphrase").await;
    assert_eq!(userinfo(&s, &format!("Bearer {access}")).await, 200);
    s.stop().await;
}

#[tokio::test]
async fn tokens_from_before_a_disable_stay_dead_after_enable() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (access, refresh_token) = app_tokens(&s, &f, &web, PASSWORD).await;
    for enabled in [false, true] {
        let change = UserChanges {
            enabled: Some(enabled),
            ..Default::default()
        };
        directory::update_user(&s.state.deps, &f.tenant, "alice@contoso.com", change)
            .await
            .unwrap();
    }
    assert_eq!(refresh(&s, &f, &refresh_token).await, 400);
    assert_eq!(userinfo(&s, &format!("Bearer {access}")).await, 401);
    s.stop().await;
}

#[tokio::test]
async fn revoke_sessions_ends_every_session_and_token() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (access, refresh_token) = app_tokens(&s, &f, &web, PASSWORD).await;
    // an authorization code issued but not redeemed yet dies too
    let other = WebClient::new(&s.base);
    let (code, verifier) = other
        .code_flow("contoso", &f.app.id, "alice", PASSWORD)
        .await;
    s.clock.advance(1);
    let ended = directory::revoke_sessions(&s.state.deps, &f.tenant, "alice@contoso.com")
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert_eq!(userinfo(&s, &format!("Bearer {access}")).await, 401);
    assert_eq!(refresh(&s, &f, &refresh_token).await, 400);
    let (status, _) = redeem_code(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &code,
        &verifier,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(web.get("/contoso/").await.status(), 303);
    assert_eq!(other.get("/contoso/").await.status(), 303);
    s.stop().await;
}

/// Adding a method needs a recent sign-in, and the second factor once the user has one: a stolen
/// session (or password) alone cannot bind the attacker's authenticator.
#[tokio::test]
async fn adding_a_method_needs_a_fresh_sign_in_with_the_second_factor() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let csrf = web.csrf("/contoso/security-info").await;
    s.clock.advance(11 * 60);
    let r = web
        .post_form("/contoso/security-info/add", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        location(&r),
        "/contoso/login",
        "an old sign-in must be renewed first"
    );
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let now = s.clock.now();
    if web
        .enrol_authenticator("contoso", |sec| oathtool_code(sec, now, &[]))
        .await
        .is_none()
    {
        return;
    }
    // the session signed in with the password only; alice now has a second factor
    let csrf = web.csrf("/contoso/security-info").await;
    let r = web
        .post_form("/contoso/security-info/add", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        location(&r),
        "/contoso/login",
        "the second factor is asked first"
    );
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(page.contains("Enter password"));
    s.stop().await;
}

#[tokio::test]
async fn forged_names_are_refused_and_hints_with_control_characters_ignored() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (url, _) = web.authorize_url(
        "contoso",
        &f.app.id,
        &[(
            "login_hint",
            "x\u{1b}[2J\r\n2026-11-23 success admin@contoso.com",
        )],
    );
    assert_eq!(web.get(&url).await.status(), 303);
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(
        page.contains("Email or username"),
        "a bad hint is ignored: the name step shows"
    );
    let csrf = csrf_of(&page).unwrap();
    for bad in ["alice\u{202e}moc.osotnoc", "alice\u{1b}[31m", "al\nice"] {
        let r = web
            .post_form(
                "/contoso/login/username",
                &[("csrf", &csrf), ("username", bad)],
            )
            .await;
        assert_eq!(r.status(), 400, "{bad:?}");
    }
    // a good hint goes straight to the password, normalised
    let web = WebClient::new(&s.base);
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[("login_hint", " ALICE ")]);
    web.get(&url).await;
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(page.contains("Enter password") && page.contains("alice@contoso.com"));
    s.stop().await;
}

#[tokio::test]
async fn forms_that_are_not_utf8_are_refused() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let page = web.get("/contoso/login").await.text().await.unwrap();
    let csrf = csrf_of(&page).unwrap();
    let r = web
        .http
        .post(web.url("/contoso/login/username"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&username=alice%FF%FE"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("data-code=\"bad_form\""));
    let r = web
        .http
        .post(web.url("/contoso/login/username"))
        .header("content-type", "text/plain")
        .body(format!("csrf={csrf}&username=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // the token endpoint and the authorization endpoint alike
    let r = reqwest::Client::new()
        .post(format!("{}/contoso/oauth2/v2.0/token", s.base))
        .basic_auth(&f.app.id, Some(&f.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=%C3%28")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[]);
    let r = web.get(&format!("{url}&nonce2=%80")).await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

/// The auth scheme is case-insensitive (RFC 7235 §2.1); a token is not valid before its `nbf`.
#[tokio::test]
async fn userinfo_takes_any_case_bearer_and_honours_nbf() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (access, _) = app_tokens(&s, &f, &web, PASSWORD).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(
            userinfo(&s, &format!("{scheme} {access}")).await,
            200,
            "{scheme}"
        );
    }
    assert_eq!(userinfo(&s, &format!("Basic {access}")).await, 401);
    assert_eq!(userinfo(&s, "Bearer").await, 401);
    // the same claims, signed by the server's own key, with `nbf` in the future, then the past
    let issuer = s.issuer("contoso");
    let mut claims = s
        .state
        .keys
        .verify(&access, &issuer, "at+jwt", s.clock.now())
        .unwrap();
    let now = s.clock.now();
    for (nbf, expected) in [(now + 60, 401), (now - 1, 200)] {
        claims["nbf"] = serde_json::json!(nbf);
        let token = s
            .state
            .keys
            .sign(
                countersign_core::model::SigningAlg::ES256,
                "at+jwt",
                &claims,
            )
            .unwrap();
        assert_eq!(
            userinfo(&s, &format!("Bearer {token}")).await,
            expected,
            "nbf {nbf}"
        );
    }
    s.stop().await;
}
