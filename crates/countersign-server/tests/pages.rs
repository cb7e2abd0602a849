//! The sign-in and account pages over real HTTP: steps, CSRF, errors that reveal nothing, lockout,
//! cookies and security headers, sessions and sign-out, health and metrics.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::{csrf_of, location, TestServer, WebClient, PASSWORD};

#[tokio::test]
async fn password_sign_in_reaches_the_account_page() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/contoso/");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("cs_session="))
        .unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    assert!(session.contains("Path=/contoso"));
    assert!(
        !session.contains("Secure"),
        "plain-http localhost has no Secure cookies"
    );
    let token = &session["cs_session=".len()..session.find(';').unwrap()];
    assert!(token.len() >= 43, "at least 256 bits of randomness");
    let page = web.get("/contoso/").await.text().await.unwrap();
    assert!(page.contains("My account") && page.contains("alice@contoso.com"));
    s.stop().await;
}

#[tokio::test]
async fn wrong_password_unknown_user_and_lockout_look_the_same() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let wrong = web.sign_in("contoso", "alice", "not-the-password").await;
    assert_eq!(wrong.status(), 401);
    let wrong_body = wrong.text().await.unwrap();
    assert!(wrong_body.contains("Your account or password is incorrect"));
    let web2 = WebClient::new(&s.base);
    let unknown = web2.sign_in("contoso", "nobody", "not-the-password").await;
    assert_eq!(unknown.status(), 401);
    let unknown_body = unknown.text().await.unwrap();
    let message = |b: &str| {
        let i = b.find("role=\"alert\"").unwrap();
        b[i..i + 200].to_string()
    };
    assert_eq!(message(&wrong_body), message(&unknown_body));
    // lock alice out, then the right password gets the very same answer
    for _ in 0..10 {
        WebClient::new(&s.base)
            .sign_in("contoso", "alice", "nope-nope-nope")
            .await;
    }
    let locked = WebClient::new(&s.base)
        .sign_in("contoso", "alice", PASSWORD)
        .await;
    assert_eq!(locked.status(), 401);
    assert_eq!(message(&locked.text().await.unwrap()), message(&wrong_body));
    // after the lock expires the right password works again
    s.clock.advance(61);
    let ok = WebClient::new(&s.base)
        .sign_in("contoso", "alice", PASSWORD)
        .await;
    assert_eq!(ok.status(), 303);
    s.stop().await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(csrf_of(&page).is_some());
    let r = web
        .post_form("/contoso/login/username", &[("username", "alice")])
        .await;
    assert_eq!(r.status(), 403);
    let r = web
        .post_form(
            "/contoso/login/username",
            &[("csrf", "forged"), ("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("csrf_check_failed"));
    // a browser without the flow cookie cannot use someone else's form either
    let other = WebClient::new(&s.base);
    let r = other
        .post_form(
            "/contoso/login/username",
            &[("csrf", &csrf_of(&page).unwrap()), ("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn empty_inputs_get_clear_messages() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let page = web.get("/contoso/login").await.text().await.unwrap();
    let csrf = csrf_of(&page).unwrap();
    let r = web
        .post_form(
            "/contoso/login/username",
            &[("csrf", &csrf), ("username", "  ")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Enter your sign-in name"));
    web.post_form(
        "/contoso/login/username",
        &[("csrf", &csrf), ("username", "alice")],
    )
    .await;
    let csrf = web.csrf("/contoso/login").await;
    let r = web
        .post_form(
            "/contoso/login/password",
            &[("csrf", &csrf), ("password", "")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Please enter your password"));
    // "Back" returns to the first step
    let r = web
        .post_form("/contoso/login/back", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert!(web
        .get("/contoso/login")
        .await
        .text()
        .await
        .unwrap()
        .contains("Email or username"));
    s.stop().await;
}

#[tokio::test]
async fn sessions_time_out_and_sign_out_ends_them_on_the_server() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let page = web.get("/contoso/").await.text().await.unwrap();
    assert!(page.contains("My account"));
    s.clock.advance(8 * 3600);
    let r = web.get("/contoso/").await;
    assert_eq!(r.status(), 303, "idle session is over");
    assert_eq!(location(&r), "/contoso/login");

    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let cookie = set.iter().find(|c| c.starts_with("cs_session=")).unwrap();
    let token = cookie["cs_session=".len()..cookie.find(';').unwrap()].to_string();
    let page = web.get("/contoso/").await.text().await.unwrap();
    let csrf = csrf_of(&page).unwrap();
    let r = web
        .post_form("/contoso/signout", &[("csrf", "wrong")])
        .await;
    assert_eq!(r.status(), 403);
    let r = web.post_form("/contoso/signout", &[("csrf", &csrf)]).await;
    assert!(r.text().await.unwrap().contains("You signed out"));
    // replaying the old cookie from another client does not bring the session back
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/contoso/", s.base))
        .header("cookie", format!("cs_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    s.stop().await;
}

#[tokio::test]
async fn security_headers_health_metrics_and_unknown_tenants() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    let r = web.get("/contoso/login").await;
    let h = r.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    let r = web.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["store"],
        "sqlite"
    );
    web.sign_in("contoso", "alice", "wrong-wrong-wrong").await;
    // metrics are not served with the pages, but on their own listener
    assert_eq!(web.get("/metrics").await.status(), 404);
    let m = countersign_server::metrics::text(&s.state);
    assert!(
        m.contains("countersign_signins_total{method=\"password\",result=\"failure\"} 1"),
        "{m}"
    );
    assert!(m.contains("countersign_http_requests_total"));
    let r = web.get("/fabrikam/login").await;
    assert_eq!(r.status(), 404);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("There is no organisation called"));
    let log = s
        .state
        .deps
        .store
        .list_signins(
            &s.state
                .deps
                .store
                .tenant_by_name("contoso")
                .await
                .unwrap()
                .unwrap()
                .id,
            10,
        )
        .await
        .unwrap();
    assert_eq!(log[0].failure_reason.as_deref(), Some("wrong password"));
    assert_eq!(log[0].client_addr.as_deref(), Some("127.0.0.1"));
    s.stop().await;
}
