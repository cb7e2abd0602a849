//! Temporary Access Passes over HTTP: a user with no password signs in to an application with a
//! pass ("Enter Temporary Access Pass" comes first), gets `amr` `tap` + `mfa`, may register a
//! method in security info at once, and the used one-time pass is refused afterwards, like a
//! wrong, revoked, expired or early one — each logged with its reason.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

mod common;
use common::activation_link;
use countersign_core::methods::tap::{self, NewPass};
use countersign_core::model::{SignInResult, User};
use countersign_core::oidc::claims::ACR_MFA;
use countersign_core::policy::{self, Actor, MethodId, State};
use countersign_testkit::{
    csrf_of, jwt_claims, location, query_param, redeem_code, Fixture, TestServer, WebClient,
};

fn operator() -> Actor {
    Actor::Operator("test".into())
}

/// Passes on for everyone, and bob@contoso.com created without a password.
async fn setup(s: &TestServer, f: &Fixture) -> User {
    let deps = &s.state.deps;
    policy::change(deps, &f.tenant, &operator(), "test", |mut p| {
        p.method_mut(MethodId::TemporaryAccessPass).state = State::Enabled;
        Ok(p)
    })
    .await
    .unwrap();
    s.passwordless_user(&f.tenant, "bob@contoso.com", "Bob")
        .await
}

async fn issue(s: &TestServer, f: &Fixture, user: &User, new: NewPass) -> String {
    let issued = tap::create(&s.state.deps, &f.tenant, &operator(), user, new)
        .await
        .unwrap();
    issued.secret.expose().to_string()
}

async fn page(web: &WebClient) -> String {
    web.get("/contoso/login").await.text().await.unwrap()
}

async fn post(web: &WebClient, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let csrf = csrf_of(&page(web).await).expect("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    web.post_form(path, &all).await
}

/// A browser at bob's pass step.
async fn at_pass_step(s: &TestServer) -> WebClient {
    let web = WebClient::new(&s.base);
    let r = post(&web, "/contoso/login/username", &[("username", "bob")]).await;
    assert_eq!(r.status(), 303);
    let html = page(&web).await;
    assert!(html.contains("Enter Temporary Access Pass"), "{html}");
    web
}

async fn last_signin(s: &TestServer, f: &Fixture) -> (SignInResult, Option<String>) {
    // The log is written in batches: wait for the line of the attempt just made.
    for _ in 0..100 {
        let e = s
            .state
            .deps
            .store
            .list_signins(&f.tenant.id, 1)
            .await
            .unwrap();
        if let Some(e) = e.first().filter(|e| e.method == "tap") {
            return (e.result, e.failure_reason.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no sign-in log line for the pass");
}

#[tokio::test]
async fn a_user_without_a_password_signs_in_with_a_pass_once_and_may_add_methods() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let bob = setup(&s, &f).await;
    let pass = issue(&s, &f, &bob, NewPass::default()).await;

    // Through an application that requires nothing more: the pass alone is multifactor.
    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[("acr_values", ACR_MFA)]);
    web.get(&url).await;
    let r = post(&web, "/contoso/login/username", &[("username", "bob")]).await;
    assert_eq!(r.status(), 303);
    let html = page(&web).await;
    assert!(html.contains("Enter Temporary Access Pass"), "{html}");
    assert!(html.contains("label for=\"pass\""), "{html}");

    let r = post(&web, "/contoso/login/tap", &[("pass", "")]).await;
    assert_eq!(r.status(), 400);
    let r = post(&web, "/contoso/login/tap", &[("pass", "WRONGPASS")]).await;
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("That Temporary Access Pass isn"), "{html}");

    let r = post(&web, "/contoso/login/tap", &[("pass", &pass)]).await;
    assert_eq!(r.status(), 303);
    let code = query_param(&location(&r), "code").expect("authorization code");
    let basic = Some((f.app.id.as_str(), f.secret.as_str()));
    let (status, body) = redeem_code(&s.base, "contoso", basic, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["tap", "mfa"]));
    assert_eq!(claims["acr"], ACR_MFA);
    assert_eq!(last_signin(&s, &f).await, (SignInResult::Success, None));

    // Security info lets this fresh, strong sign-in add the Authenticator app at once.
    assert!(activation_link(&web)
        .await
        .starts_with("countersign://activate?"));

    // Used: the name now leads nowhere (no password, no pass), and a post is refused.
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "bob")]).await;
    let html = page(&web).await;
    assert!(html.contains("sign in here yet"), "{html}");
    let r = post(&web, "/contoso/login/tap", &[("pass", &pass)]).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn an_early_a_revoked_and_an_expired_pass_are_refused_like_a_wrong_one() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let bob = setup(&s, &f).await;
    let deps = &s.state.deps;
    let now = countersign_core::clock::Clock::now(s.clock.as_ref());
    let early = NewPass {
        starts_at: Some(now + 600),
        ..NewPass::default()
    };
    let pass = issue(&s, &f, &bob, early).await;
    // Not valid yet: not offered, so the name leads nowhere yet.
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "bob")]).await;
    assert!(page(&web).await.contains("sign in here yet"));

    s.clock.advance(600);
    let web = at_pass_step(&s).await;
    tap::revoke(deps, &f.tenant, &operator(), &bob)
        .await
        .unwrap();
    let r = post(&web, "/contoso/login/tap", &[("pass", &pass)]).await;
    assert_eq!(r.status(), 401);
    let wrong = r.text().await.unwrap();
    assert_eq!(
        last_signin(&s, &f).await.1.as_deref(),
        Some("Temporary Access Pass revoked")
    );

    let pass = issue(&s, &f, &bob, NewPass::default()).await;
    s.clock.advance(3590);
    let web = at_pass_step(&s).await;
    s.clock.advance(10);
    let r = post(&web, "/contoso/login/tap", &[("pass", &pass)]).await;
    assert_eq!(r.status(), 401);
    let expired = r.text().await.unwrap();
    assert_eq!(
        last_signin(&s, &f).await.1.as_deref(),
        Some("Temporary Access Pass expired")
    );
    // The person sees the same answer whatever the reason.
    let strip = |h: &str| h.replace(&csrf_of(h).unwrap(), "");
    assert_eq!(strip(&wrong), strip(&expired));
}

#[tokio::test]
async fn a_pass_is_not_offered_when_the_policy_turns_passes_off() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let bob = setup(&s, &f).await;
    issue(&s, &f, &bob, NewPass::default()).await;
    // alice has a password and a pass: the pass comes first, the password is one click away.
    issue(&s, &f, &f.alice, NewPass::default()).await;
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "alice")]).await;
    let html = page(&web).await;
    assert!(html.contains("Enter Temporary Access Pass"), "{html}");
    assert!(html.contains("Use your password instead"), "{html}");

    policy::change(&s.state.deps, &f.tenant, &operator(), "test", |mut p| {
        p.method_mut(MethodId::TemporaryAccessPass).state = State::Disabled;
        Ok(p)
    })
    .await
    .unwrap();
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "alice")]).await;
    let html = page(&web).await;
    assert!(html.contains("Enter password"), "{html}");
    assert!(!html.contains("Temporary Access Pass"), "{html}");
    let web = WebClient::new(&s.base);
    post(&web, "/contoso/login/username", &[("username", "bob")]).await;
    assert!(page(&web).await.contains("sign in here yet"));
}
