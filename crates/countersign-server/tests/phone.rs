//! Passwordless phone sign-in over HTTP, with the authenticator's own device client as the
//! device: direct registration with a Temporary Access Pass (all or nothing, the pass used once),
//! "Enable phone sign-in" on a push-only device, signing in with no password ("Approve a request
//! on my Authenticator app", the number, `amr` swk + pin + mfa), and the refusals — the policy's
//! Push mode, a wrong number, an answer without the App Lock, a push-only key, the device limit —
//! each in the sign-in log. Two tenants' accounts on one device each sign in.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

mod common;
use common::{activation_link, between, blocking, log_of, pending, push_device, refused_with};
use countersign_authenticator::protocol::{self, DeviceAccount, DeviceError};
use countersign_core::directory;
use countersign_core::methods::tap::{self, NewPass};
use countersign_core::model::{SignInResult, Tenant, User};
use countersign_core::policy::{self, Actor, AuthenticationMode, MethodId, State};
use countersign_proto::device::{AnswerResult, Decision, SignInRequest};
use countersign_testkit::{
    csrf_of, jwt_claims, location, query_param, redeem_code, Fixture, TestServer, WebClient,
    PASSWORD,
};

fn operator() -> Actor {
    Actor::Operator("test".into())
}

/// Passes on, and the Authenticator app in `mode` for everyone, in `tenant`.
async fn policy(s: &TestServer, tenant: &Tenant, mode: AuthenticationMode) {
    policy::change(&s.state.deps, tenant, &operator(), "test", |mut p| {
        p.method_mut(MethodId::TemporaryAccessPass).state = State::Enabled;
        p.authenticator.method.include_targets[0].authentication_mode = Some(mode);
        Ok(p)
    })
    .await
    .unwrap();
}

/// A user of `tenant` created without a password, with a one-time pass; the pass.
async fn newcomer(s: &TestServer, tenant: &Tenant, upn: &str) -> (User, String) {
    let deps = &s.state.deps;
    let user = s.passwordless_user(tenant, upn, "New Person").await;
    let pass = tap::create(deps, tenant, &operator(), &user, NewPass::default())
        .await
        .unwrap()
        .secret
        .expose()
        .to_string();
    (user, pass)
}

async fn register_with_pass(
    s: &TestServer,
    tenant: &str,
    upn: &str,
    pass: &str,
) -> Result<DeviceAccount, DeviceError> {
    let (server, upn, pass) = (
        format!("{}/{tenant}", s.base),
        upn.to_string(),
        pass.to_string(),
    );
    blocking(move |c| c.register_with_pass(&server, &upn, &pass, "Phone"))
        .await
        .map(|(a, _)| a)
}

async fn answer(
    a: &DeviceAccount,
    r: &SignInRequest,
    number: &str,
    pin: bool,
) -> Result<AnswerResult, DeviceError> {
    let (a, id, number, passwordless) =
        (a.clone(), r.id.clone(), number.to_string(), r.passwordless);
    blocking(move |c| c.answer(&a, &id, Decision::Approve, Some(&number), pin, passwordless)).await
}

async fn page(web: &WebClient, tenant: &str) -> String {
    let path = format!("/{tenant}/login");
    web.get(&path).await.text().await.unwrap()
}

/// Types `name` at "Sign in" of `tenant`: the page that follows.
async fn after_name(web: &WebClient, tenant: &str, name: &str) -> String {
    let csrf = csrf_of(&page(web, tenant).await).unwrap();
    let path = format!("/{tenant}/login/username");
    let r = web
        .post_form(&path, &[("csrf", &csrf), ("username", name)])
        .await;
    assert_eq!(r.status(), 303);
    page(web, tenant).await
}

fn number_of(html: &str) -> String {
    assert!(html.contains("Approve sign-in request"), "{html}");
    between(
        html,
        "id=\"push-number\" aria-label=\"Number to enter in the app\">",
        '<',
    )
    .to_string()
}

async fn finish(web: &WebClient, tenant: &str) -> reqwest::Response {
    let csrf = csrf_of(&page(web, tenant).await).unwrap();
    web.post_form(&format!("/{tenant}/login/push"), &[("csrf", &csrf)])
        .await
}

/// The reasons the sign-in log gives for phone sign-in attempts, oldest first.
async fn phone_log(s: &TestServer, tenant: &Tenant) -> Vec<(SignInResult, String)> {
    log_of(s, &tenant.id, "phone").await
}

#[tokio::test]
async fn a_newcomer_registers_with_a_pass_and_signs_in_with_no_password() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    policy(&s, &f.tenant, AuthenticationMode::Any).await;
    let (bob, pass) = newcomer(&s, &f.tenant, "bob@contoso.com").await;

    // A wrong pass registers nothing.
    let r = register_with_pass(&s, "contoso", "bob@contoso.com", "WRONGPASS").await;
    refused_with(r, "pass_invalid");
    // A name the sign-in page would refuse is refused before it is stored anywhere (it would be a
    // lockout key and a log line): too long, or with control or bidirectional characters.
    let logged = log_of(&s, &f.tenant.id, "tap").await.len();
    for bad in [
        "b".repeat(2_000_000),
        "bob\n@contoso.com".into(),
        "bo\u{202e}b".into(),
    ] {
        let r = register_with_pass(&s, "contoso", &bad, &pass).await;
        let message = refused_with(r, "bad_request");
        assert!(
            message.contains("name") || message.contains("upn"),
            "{message}"
        );
    }
    assert_eq!(
        log_of(&s, &f.tenant.id, "tap").await.len(),
        logged,
        "nothing logged"
    );
    let phone = register_with_pass(&s, "contoso", "bob", &pass)
        .await
        .unwrap();
    assert!(phone.phone_sign_in());
    assert_eq!(phone.upn, "bob@contoso.com");
    let devices = s.state.deps.store.devices_of_user(&bob.id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].phone_key.is_some() && devices[0].oath_token_id.is_some());
    // The one-time pass is spent: the same answer as a wrong one, and nothing more registered.
    let again = register_with_pass(&s, "contoso", "bob", &pass).await;
    refused_with(again, "pass_invalid");
    assert_eq!(
        s.state
            .deps
            .store
            .devices_of_user(&bob.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // Security info calls it by Entra's name.
    let web = WebClient::new(&s.base);

    // Through an application: the name, then the number, and no password anywhere.
    let (url, verifier) = web.authorize_url(
        "contoso",
        &f.app.id,
        &[("acr_values", countersign_core::oidc::claims::ACR_MFA)],
    );
    web.get(&url).await;
    let html = after_name(&web, "contoso", "bob").await;
    assert!(!html.contains("type=\"password\""), "{html}");
    let number = number_of(&html);
    let requests = pending(&phone).await;
    assert_eq!(requests.len(), 1);
    assert!(requests[0].passwordless);
    assert_eq!(
        answer(&phone, &requests[0], &number, true).await.unwrap(),
        AnswerResult::Approved
    );
    let r = finish(&web, "contoso").await;
    let code = query_param(&location(&r), "code").expect("authorization code");
    let basic = Some((f.app.id.as_str(), f.secret.as_str()));
    let (status, body) = redeem_code(&s.base, "contoso", basic, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["swk", "pin", "mfa"]));

    let html = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Passwordless phone sign-in"), "{html}");
    let log = phone_log(&s, &f.tenant).await;
    assert_eq!(
        log.last().unwrap(),
        &(SignInResult::Success, "approved".into())
    );
}

#[tokio::test]
async fn a_push_only_device_turns_phone_sign_in_on_and_the_push_mode_refuses_it() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    policy(&s, &f.tenant, AuthenticationMode::Push).await;
    // alice registers a device for pushes from security info.
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let link = protocol::parse_activation(&activation_link(&web).await).unwrap();
    let (mut phone, _) = blocking(move |c| c.register(&link, "Phone")).await.unwrap();
    assert!(!phone.phone_sign_in());

    // Push mode: refused, with a clear message.
    let a = phone.clone();
    let r = blocking(move |c| {
        let mut a = a;
        c.enable_phone_sign_in(&mut a).map(|_| a)
    })
    .await;
    let message = refused_with(r, "method_not_supported");
    assert!(message.contains("doesn't allow phone sign-in"), "{message}");
    let log = phone_log(&s, &f.tenant).await;
    assert!(
        log.iter()
            .any(|(_, r)| r.contains("Enable phone sign-in refused: not allowed")),
        "{log:?}"
    );

    policy(&s, &f.tenant, AuthenticationMode::Any).await;
    phone = blocking(move |c| {
        let mut a = phone;
        c.enable_phone_sign_in(&mut a).map(|_| a)
    })
    .await
    .unwrap();
    assert!(phone.phone_sign_in());

    // alice has a password and phone sign-in: the password first, phone sign-in one choice away.
    let web = WebClient::new(&s.base);
    let html = after_name(&web, "contoso", "alice").await;
    assert!(html.contains("Enter password"), "{html}");
    let csrf = csrf_of(&html).unwrap();
    let r = web
        .post_form(
            "/contoso/login/choose",
            &[("csrf", &csrf), ("method", "phone")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let html = page(&web, "contoso").await;
    assert!(html.contains("Use your password instead"), "{html}");
    number_of(&html);

    // Back to Push mode: existing phone sign-in is no longer offered.
    policy(&s, &f.tenant, AuthenticationMode::Push).await;
    let web = WebClient::new(&s.base);
    after_name(&web, "contoso", "alice").await;
    let csrf = csrf_of(&page(&web, "contoso").await).unwrap();
    let r = web
        .post_form(
            "/contoso/login/choose",
            &[("csrf", &csrf), ("method", "phone")],
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn wrong_numbers_answers_without_the_app_lock_and_push_only_keys_are_refused_and_logged() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    policy(&s, &f.tenant, AuthenticationMode::Any).await;
    let (bob, pass) = newcomer(&s, &f.tenant, "bob@contoso.com").await;
    let phone = register_with_pass(&s, "contoso", "bob", &pass)
        .await
        .unwrap();
    // A second device of bob's for pushes only (an administrator-made activation).
    let push_only = push_device(&s, &f.tenant, &bob, "Tablet").await;

    let web = WebClient::new(&s.base);
    let number = number_of(&after_name(&web, "contoso", "bob").await);
    // The push-only device is not shown the request, and can't answer it.
    assert!(pending(&push_only).await.is_empty());
    let r = pending(&phone).await.remove(0);
    let forged = {
        let (a, id, n) = (push_only.clone(), r.id.clone(), number.clone());
        blocking(move |c| c.answer(&a, &id, Decision::Approve, Some(&n), true, false)).await
    };
    refused_with(forged, "phone_sign_in_not_enabled");
    // Without the App Lock: refused, and the request still waits for a proper answer.
    refused_with(answer(&phone, &r, &number, false).await, "pin_required");
    // A wrong number ends it.
    let wrong = if number == "00" { "01" } else { "00" };
    refused_with(answer(&phone, &r, wrong, true).await, "wrong_number");
    let html = finish(&web, "contoso").await.text().await.unwrap();
    assert!(
        html.contains("didn&#39;t match") || html.contains("didn't match"),
        "{html}"
    );
    let reasons: Vec<String> = phone_log(&s, &f.tenant)
        .await
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("isn't turned on")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("App Lock")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("number doesn't match")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn an_unanswered_request_never_traps_the_user() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    policy(&s, &f.tenant, AuthenticationMode::Any).await;
    let (_, pass) = newcomer(&s, &f.tenant, "bob@contoso.com").await;
    let phone = register_with_pass(&s, "contoso", "bob", &pass)
        .await
        .unwrap();
    let first = WebClient::new(&s.base);
    number_of(&after_name(&first, "contoso", "bob").await);
    let old = pending(&phone).await.remove(0);
    // A new attempt (another browser) offers phone sign-in again and withdraws the old request.
    let web = WebClient::new(&s.base);
    let number = number_of(&after_name(&web, "contoso", "bob").await);
    let now = pending(&phone).await;
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, old.id);
    refused_with(answer(&phone, &old, &number, true).await, "request_expired");
    assert_eq!(
        answer(&phone, &now[0], &number, true).await.unwrap(),
        AnswerResult::Approved
    );
    let r = finish(&web, "contoso").await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn accounts_of_two_tenants_on_one_device_each_sign_in() {
    let s = TestServer::start().await;
    let f: Fixture = s.seed().await;
    let deps = &s.state.deps;
    let fabrikam = directory::create_tenant(deps, "fabrikam", "Fabrikam", &["fabrikam.com".into()])
        .await
        .unwrap();
    let mut device_accounts = Vec::new();
    for (tenant, upn) in [
        (&f.tenant, "bob@contoso.com"),
        (&fabrikam, "bob@fabrikam.com"),
    ] {
        policy(&s, tenant, AuthenticationMode::Any).await;
        let (_, pass) = newcomer(&s, tenant, upn).await;
        device_accounts.push(
            register_with_pass(&s, &tenant.name, upn, &pass)
                .await
                .unwrap(),
        );
    }
    for (a, tenant) in device_accounts.iter().zip(["contoso", "fabrikam"]) {
        let web = WebClient::new(&s.base);
        let number = number_of(&after_name(&web, tenant, "bob").await);
        let r = pending(a).await.remove(0);
        assert_eq!(r.tenant, tenant);
        assert_eq!(
            answer(a, &r, &number, true).await.unwrap(),
            AnswerResult::Approved
        );
        let r = finish(&web, tenant).await;
        assert_eq!(r.status(), 303);
        assert!(
            location(&r).ends_with(&format!("/{tenant}/")),
            "{}",
            location(&r)
        );
    }
}

#[tokio::test]
async fn the_device_limit_refuses_a_further_phone_sign_in_and_leaves_the_pass_unused() {
    use countersign_testkit::Db;
    let s = TestServer::start_with(Db::Sqlite, |c| c.settings.phone_sign_in_limit = 1)
        .await
        .unwrap();
    let f = s.seed().await;
    policy(&s, &f.tenant, AuthenticationMode::Any).await;
    let (bob, pass) = newcomer(&s, &f.tenant, "bob@contoso.com").await;
    register_with_pass(&s, "contoso", "bob", &pass)
        .await
        .unwrap();

    // A second device, push only, may not turn phone sign-in on.
    let deps = &s.state.deps;
    let tablet = push_device(&s, &f.tenant, &bob, "Tablet").await;
    let r = blocking(move |c| {
        let mut a = tablet;
        c.enable_phone_sign_in(&mut a).map(|_| a)
    })
    .await;
    let message = refused_with(r, "phone_sign_in_limit");
    assert!(message.contains("on 1 devices"), "{message}");

    // Nor may a direct registration with a new pass: nothing is stored, the pass stays unused.
    tap::revoke(deps, &f.tenant, &operator(), &bob)
        .await
        .unwrap();
    let pass = tap::create(deps, &f.tenant, &operator(), &bob, NewPass::default())
        .await
        .unwrap()
        .secret
        .expose()
        .to_string();
    let r = register_with_pass(&s, "contoso", "bob", &pass).await;
    refused_with(r, "phone_sign_in_limit");
    assert_eq!(deps.store.devices_of_user(&bob.id).await.unwrap().len(), 2);
    let stored = deps.store.tap_of_user(&bob.id).await.unwrap().unwrap();
    assert_eq!(stored.used_at, None);
    let log = phone_log(&s, &f.tenant).await;
    assert!(log.iter().any(|(_, r)| r.contains("the limit")), "{log:?}");
}
