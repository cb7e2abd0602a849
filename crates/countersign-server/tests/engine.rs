//! The sign-in engine and the authentication methods policy over HTTP: what each kind of account
//! is offered, "Other ways to sign in", the MFA requirement of a tenant, an application and
//! `acr_values` (with "More information required" and a step-up from an existing session), the
//! browser's remembered method, and a disabled method refused at sign-in and in security info.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::directory;
use countersign_core::methods::oath;
use countersign_core::oidc::claims::ACR_MFA;
use countersign_core::policy::{self, Actor, MethodId, State};
use countersign_core::{model::User, Deps};
use countersign_testkit::{
    csrf_of, jwt_claims, location, oathtool_code, query_param, redeem_code, Fixture, TestServer,
    WebClient, PASSWORD,
};

fn now(s: &TestServer) -> i64 {
    countersign_core::clock::Clock::now(s.clock.as_ref())
}

/// Gives `user` an active authenticator app; returns its base32 secret.
async fn with_app(s: &TestServer, f: &Fixture, user: &User) -> String {
    let deps = &s.state.deps;
    let tok = oath::begin_enrolment(deps, user).await.unwrap();
    let code = tok.code_at_step(tok.step_at(now(s))).unwrap();
    assert!(oath::activate(deps, &f.tenant, user, &tok.id, &code)
        .await
        .unwrap());
    s.clock.advance(30);
    tok.secret.expose().to_string()
}

async fn set_state(deps: &Deps, f: &Fixture, m: MethodId, state: State) {
    policy::change(
        deps,
        &f.tenant,
        &Actor::Operator("test".into()),
        "test",
        |mut p| {
            p.method_mut(m).state = state;
            Ok(p)
        },
    )
    .await
    .unwrap();
}

async fn page(web: &WebClient) -> String {
    web.get("/contoso/login").await.text().await.unwrap()
}

async fn post(web: &WebClient, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let html = page(web).await;
    let csrf = csrf_of(&html).expect("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    web.post_form(path, &all).await
}

/// Redeems the code as the confidential app; the ID token's claims.
async fn id_claims(s: &TestServer, f: &Fixture, code: &str, verifier: &str) -> serde_json::Value {
    let basic = Some((f.app.id.as_str(), f.secret.as_str()));
    let (status, body) = redeem_code(&s.base, "contoso", basic, code, verifier).await;
    assert_eq!(status, 200, "{body}");
    jwt_claims(body["id_token"].as_str().unwrap())
}

fn code_now(s: &TestServer, secret: &str) -> String {
    oathtool_code(secret, now(s), &[]).expect("oathtool")
}

#[tokio::test]
async fn a_code_follows_the_password_and_other_ways_lists_what_the_account_may_use() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let secret = with_app(&s, &f, &f.alice).await;
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let html = page(&web).await;
    assert!(html.contains("Enter code"), "{html}");
    assert!(html.contains("Other ways to sign in"));
    assert_eq!(post(&web, "/contoso/login/other", &[]).await.status(), 303);
    let html = page(&web).await;
    assert!(html.contains("Verify your identity"), "{html}");
    assert!(html.contains("Use a verification code"));
    assert!(
        !html.contains("Use your password"),
        "the password is proved already"
    );
    // A method not on offer can't be picked by posting its name.
    let r = post(&web, "/contoso/login/choose", &[("method", "password")]).await;
    assert_eq!(r.status(), 403);
    let r = post(&web, "/contoso/login/choose", &[("method", "code")]).await;
    assert_eq!(r.status(), 303);
    assert!(page(&web).await.contains("Enter code"));
    let code = code_now(&s, &secret);
    let r = post(&web, "/contoso/login/code", &[("code", &code)]).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).ends_with("/contoso/"));
    // The browser remembers the methods it used, first factor first.
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cs_method="))
        .unwrap_or_default()
        .to_string();
    assert!(cookie.starts_with("cs_method=password.code;"), "{cookie}");
}

#[tokio::test]
async fn an_account_without_a_password_never_sees_a_password_page() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let bob = s
        .passwordless_user(&f.tenant, "bob@contoso.com", "Bob")
        .await;
    // Even with an authenticator app: codes are never a first factor.
    with_app(&s, &f, &bob).await;
    let web = WebClient::new(&s.base);
    let r = post(&web, "/contoso/login/username", &[("username", "bob")]).await;
    assert_eq!(r.status(), 303);
    let html = page(&web).await;
    assert!(
        html.contains("You can&#39;t sign in here yet")
            || html.contains("You can't sign in here yet"),
        "{html}"
    );
    assert!(!html.contains("type=\"password\""));
    // Nor can it post a password anyway.
    let r = post(&web, "/contoso/login/password", &[("password", "x")]).await;
    assert_eq!(r.status(), 400);

    // An unknown name gets exactly what an account with only a password gets.
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "nobody")]).await;
    let unknown = page(&web).await;
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "alice")]).await;
    let alice = page(&web).await;
    let strip = |h: &str, name: &str| {
        let c = csrf_of(h).unwrap();
        h.replace(&c, "").replace(name, "")
    };
    assert_eq!(
        strip(&unknown, "nobody@contoso.com"),
        strip(&alice, "alice@contoso.com")
    );
}

#[tokio::test]
async fn an_application_that_requires_mfa_sends_a_password_only_user_through_registration() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let deps = &s.state.deps;
    directory::update_client(
        deps,
        &f.tenant,
        &f.app.id,
        directory::ClientChanges {
            require_mfa: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    web.get(&url).await;
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let html = page(&web).await;
    assert!(html.contains("More information required"), "{html}");
    let r = post(&web, "/contoso/login/register", &[]).await;
    assert_eq!(r.status(), 303);
    let html = page(&web).await;
    let i = html.find("id=\"secret-key\">").expect("secret key") + 16;
    let secret = html[i..i + html[i..].find('<').unwrap()].replace(' ', "");
    let r = post(
        &web,
        "/contoso/login/register/verify",
        &[("code", "000000")],
    )
    .await;
    assert_eq!(r.status(), 400, "a wrong code registers nothing");
    let code = code_now(&s, &secret);
    let r = post(&web, "/contoso/login/register/verify", &[("code", &code)]).await;
    assert_eq!(r.status(), 303);
    let code = query_param(&location(&r), "code").expect("authorization code");
    let claims = id_claims(&s, &f, &code, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);
    // The app is registered for good.
    let toks = deps.store.oath_tokens_of_user(&f.alice.id).await.unwrap();
    assert!(toks.iter().all(|t| t.active) && toks.len() == 1);
}

#[tokio::test]
async fn acr_values_asks_for_mfa_and_a_session_without_it_steps_up() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let secret = with_app(&s, &f, &f.alice).await;
    // A session made with the password alone (the app was disabled at the time).
    set_state(&s.state.deps, &f, MethodId::SoftwareOath, State::Disabled).await;
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert!(location(&r).ends_with("/contoso/"), "password only");
    set_state(&s.state.deps, &f, MethodId::SoftwareOath, State::Enabled).await;
    // Without acr_values the session is enough.
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[]);
    let r = web.get(&url).await;
    assert!(query_param(&location(&r), "code").is_some());
    // With it, only the missing second factor is asked for.
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[("acr_values", ACR_MFA)]);
    let r = web.get(&url).await;
    assert!(location(&r).ends_with("/contoso/login"), "{}", location(&r));
    let html = page(&web).await;
    assert!(html.contains("Enter code"), "{html}");
    let code = code_now(&s, &secret);
    let r = post(&web, "/contoso/login/code", &[("code", &code)]).await;
    let code = query_param(&location(&r), "code").expect("authorization code");
    let claims = id_claims(&s, &f, &code, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);
}

#[tokio::test]
async fn the_tenant_can_require_mfa_of_everyone() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    policy::change(
        &s.state.deps,
        &f.tenant,
        &Actor::Operator("test".into()),
        "test",
        |mut p| {
            p.require_mfa_for_everyone = true;
            Ok(p)
        },
    )
    .await
    .unwrap();
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert!(page(&web).await.contains("More information required"));
}

#[tokio::test]
async fn a_disabled_method_stops_working_at_once_and_comes_back_when_enabled() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let secret = with_app(&s, &f, &f.alice).await;
    let deps = &s.state.deps;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    assert!(page(&web).await.contains("Enter code"));
    // Disabled while the code page is open: the code is refused, with Entra's words.
    set_state(deps, &f, MethodId::SoftwareOath, State::Disabled).await;
    let code = code_now(&s, &secret);
    let r = post(&web, "/contoso/login/code", &[("code", &code)]).await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("This sign-in method is not supported by your tenant."),
        "{body}"
    );
    // Security info hides it and refuses to add it.
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice", PASSWORD).await;
    assert!(location(&r).ends_with("/contoso/"), "no code asked for now");
    let html = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Authenticator app"), "{html}");
    // (the session's token, from the account page's sign-out form)
    let csrf = web.csrf("/contoso/").await;
    let r = web
        .post_form(
            "/contoso/security-info/add",
            &[("csrf", &csrf), ("method", "code")],
        )
        .await;
    assert_eq!(r.status(), 403);
    // Nothing was deleted: enabled again, the app is back at sign-in.
    set_state(deps, &f, MethodId::SoftwareOath, State::Enabled).await;
    assert_eq!(
        deps.store
            .oath_tokens_of_user(&f.alice.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    assert!(page(&web).await.contains("Enter code"));
}

fn set_cookie_value(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

#[tokio::test]
async fn visiting_the_sign_in_page_writes_nothing_until_a_name_is_posted() {
    let s = TestServer::start().await;
    s.seed().await;
    let store = &s.state.deps.store;
    let web = WebClient::new(&s.base);
    let r = web.get("/contoso/login").await;
    let visit = set_cookie_value(&r, "cs_flow").expect("a flow cookie");
    let html = r.text().await.unwrap();
    assert!(
        store.flow_by_id(&visit).await.unwrap().is_none(),
        "stored on a visit"
    );
    // A token that is not the visit's is refused, and still nothing is stored.
    let r = web
        .post_form(
            "/contoso/login/username",
            &[("csrf", "forged"), ("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(store.flow_by_id(&visit).await.unwrap().is_none());
    // The name posted with the page's token: stored now, under a new id.
    let csrf = csrf_of(&html).unwrap();
    let r = web
        .post_form(
            "/contoso/login/username",
            &[("csrf", &csrf), ("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let stored = set_cookie_value(&r, "cs_flow").expect("the stored flow's cookie");
    assert_ne!(stored, visit, "a visit's id never carries a sign-in");
    assert!(store.flow_by_id(&visit).await.unwrap().is_none());
    assert!(store.flow_by_id(&stored).await.unwrap().is_some());
    assert!(page(&web).await.contains("Enter password"));
}
