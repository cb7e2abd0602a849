//! Verification codes end to end over HTTP: enrolling an authenticator app in security info with
//! codes from Debian's `oathtool`, password + "Enter code" sign-in with `amr` pwd/otp/mfa, replay
//! under parallel requests, parallel wrong codes all counted, a locked token that says nothing,
//! deletion after re-authentication ending other sessions, and the five-token limit.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::{
    csrf_of, location, oathtool_code, query_param, redeem_code, TestServer, WebClient, PASSWORD,
};

/// Signs in with the password; returns the page of the next step.
async fn password_step(web: &WebClient) -> String {
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    web.get("/contoso/login").await.text().await.unwrap()
}

/// Submits the password on the current flow's password page.
async fn password_step_again(web: &WebClient, csrf: &str) -> String {
    let r = web
        .post_form(
            "/contoso/login/password",
            &[("csrf", csrf), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 303);
    web.get("/contoso/login").await.text().await.unwrap()
}

async fn enrolled(s: &TestServer) -> Option<(WebClient, String)> {
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let now = s.clock.now_secs();
    let secret = web
        .enrol_authenticator("contoso", |sec| oathtool_code(sec, now, &[]))
        .await?;
    // the next codes are from a later time step
    s.clock.advance(30);
    Some((web, secret))
}

trait Now {
    fn now_secs(&self) -> i64;
}
impl Now for countersign_core::clock::ManualClock {
    fn now_secs(&self) -> i64 {
        countersign_core::clock::Clock::now(self)
    }
}

#[tokio::test]
async fn enrol_then_sign_in_with_password_and_code() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let Some((_, secret)) = enrolled(&s).await else {
        return;
    };
    assert_eq!(secret.len(), 32, "160-bit secret");
    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    web.get(&url).await;
    let page = password_step(&web).await;
    assert!(page.contains("Enter code"), "{page}");
    let csrf = csrf_of(&page).unwrap();
    let wrong = web
        .post_form(
            "/contoso/login/code",
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("expected verification code"));
    // "Back" forgets the proved password: naming an account again starts from its password
    web.post_form("/contoso/login/back", &[("csrf", &csrf)])
        .await;
    web.post_form(
        "/contoso/login/username",
        &[("csrf", &csrf), ("username", "alice")],
    )
    .await;
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(
        page.contains("Enter password"),
        "back must not skip the password"
    );
    let page = password_step_again(&web, &csrf).await;
    assert!(page.contains("Enter code"));
    let code = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    let r = web
        .post_form("/contoso/login/code", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(r.status(), 303);
    let code = query_param(&location(&r), "code").unwrap();
    let (status, body) = redeem_code(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &code,
        &verifier,
    )
    .await;
    assert_eq!(status, 200);
    let id = body["id_token"].as_str().unwrap();
    let claims = countersign_testkit::jwt_claims(id);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:countersign:acr:mfa");
    s.stop().await;
}

#[tokio::test]
async fn one_valid_code_sent_fifty_times_in_parallel_succeeds_once() {
    let s = TestServer::start().await;
    s.seed().await;
    let Some((_, secret)) = enrolled(&s).await else {
        return;
    };
    let mut flows = Vec::new();
    for _ in 0..50 {
        let web = WebClient::new(&s.base);
        let page = password_step(&web).await;
        let csrf = csrf_of(&page).unwrap();
        flows.push((web, csrf));
    }
    let code = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    let mut tasks = Vec::new();
    for (web, csrf) in flows {
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            web.post_form("/contoso/login/code", &[("csrf", &csrf), ("code", &code)])
                .await
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 303 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    s.stop().await;
}

#[tokio::test]
async fn parallel_wrong_codes_are_all_counted_and_a_locked_token_says_nothing() {
    let s = TestServer::start().await;
    s.seed().await;
    let Some((_, secret)) = enrolled(&s).await else {
        return;
    };
    // three wrong codes in one step lock the token: the right code then gets the same answer
    let web = WebClient::new(&s.base);
    let page = password_step(&web).await;
    let csrf = csrf_of(&page).unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let r = web
            .post_form(
                "/contoso/login/code",
                &[("csrf", &csrf), ("code", "999999")],
            )
            .await;
        answers.push((r.status(), r.text().await.unwrap()));
    }
    let right = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    if right != "999999" {
        let r = web
            .post_form("/contoso/login/code", &[("csrf", &csrf), ("code", &right)])
            .await;
        assert_eq!(r.status(), 401, "locked");
        let body = r.text().await.unwrap();
        let msg = |b: &str| b[b.find("role=\"alert\"").unwrap()..][..120].to_string();
        assert_eq!(msg(&body), msg(&answers[0].1));
    }
    // parallel wrong codes from seven more flows: every one counts towards the per-user limit
    s.clock.advance(30);
    let mut flows = Vec::new();
    for _ in 0..7 {
        let w = WebClient::new(&s.base);
        let page = password_step(&w).await;
        flows.push((w, csrf_of(&page).unwrap()));
    }
    let mut tasks = Vec::new();
    for (w, c) in flows {
        tasks.push(tokio::spawn(async move {
            w.post_form("/contoso/login/code", &[("csrf", &c), ("code", "111111")])
                .await
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    // 3 + 1 + 7 = 11 failures ≥ 10: the user is throttled even with a right code in a new step
    s.clock.advance(30);
    let w = WebClient::new(&s.base);
    let page = password_step(&w).await;
    let c = csrf_of(&page).unwrap();
    let right = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    let r = w
        .post_form("/contoso/login/code", &[("csrf", &c), ("code", &right)])
        .await;
    assert_eq!(r.status(), 401, "per-user limit reached");
    s.stop().await;
}

#[tokio::test]
async fn deleting_a_method_needs_a_recent_sign_in_and_ends_other_sessions() {
    let s = TestServer::start().await;
    s.seed().await;
    let Some((web, secret)) = enrolled(&s).await else {
        return;
    };
    // a second browser, signed in with password + code
    let other = WebClient::new(&s.base);
    let page = password_step(&other).await;
    let code = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    other
        .post_form(
            "/contoso/login/code",
            &[("csrf", &csrf_of(&page).unwrap()), ("code", &code)],
        )
        .await;
    assert!(other
        .get("/contoso/")
        .await
        .text()
        .await
        .unwrap()
        .contains("My account"));

    s.clock.advance(11 * 60);
    let page = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Authenticator app"));
    let csrf = csrf_of(&page).unwrap();
    let i = page.find("name=\"id\" value=\"").unwrap() + 17;
    let id = page[i..i + 32].to_string();
    let r = web
        .post_form(
            "/contoso/security-info/delete",
            &[("csrf", &csrf), ("id", &id)],
        )
        .await;
    assert_eq!(location(&r), "/contoso/login", "sign in again first");
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(
        page.contains("Enter password"),
        "the name is already filled in"
    );
    let r = web
        .post_form(
            "/contoso/login/password",
            &[("csrf", &csrf_of(&page).unwrap()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = web.get("/contoso/login").await.text().await.unwrap();
    s.clock.advance(30);
    let code = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    let r = web
        .post_form(
            "/contoso/login/code",
            &[("csrf", &csrf_of(&page).unwrap()), ("code", &code)],
        )
        .await;
    assert_eq!(location(&r), "/contoso/security-info?reauth=1");
    let page = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    let r = web
        .post_form(
            "/contoso/security-info/delete",
            &[("csrf", &csrf_of(&page).unwrap()), ("id", &id)],
        )
        .await;
    assert_eq!(location(&r), "/contoso/security-info?done=deleted");
    assert!(!web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap()
        .contains("Authenticator app</td>"));
    assert_eq!(
        other.get("/contoso/").await.status(),
        303,
        "other session ended"
    );
    // without a code method, password alone signs in again
    let again = WebClient::new(&s.base);
    let r = again.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(location(&r), "/contoso/");
    s.stop().await;
}

#[tokio::test]
async fn at_most_five_code_methods() {
    let s = TestServer::start().await;
    s.seed().await;
    let Some((_, secret)) = enrolled(&s).await else {
        return;
    };
    // adding more needs a sign-in with the second factor
    let web = WebClient::new(&s.base);
    let page = password_step(&web).await;
    let code = oathtool_code(&secret, s.clock.now_secs(), &[]).unwrap();
    web.post_form(
        "/contoso/login/code",
        &[("csrf", &csrf_of(&page).unwrap()), ("code", &code)],
    )
    .await;
    for _ in 1..5 {
        let now = s.clock.now_secs();
        web.enrol_authenticator("contoso", |sec| oathtool_code(sec, now, &[]))
            .await
            .unwrap();
        s.clock.advance(30);
    }
    let csrf = web.csrf("/contoso/security-info").await;
    let r = web
        .post_form(
            "/contoso/security-info/add",
            &[("csrf", &csrf), ("method", "code")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already have 5"));
    s.stop().await;
}
