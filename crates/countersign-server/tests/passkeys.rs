//! Passkeys over HTTP, answered by a software authenticator (`countersign_testkit::passkey`):
//! registration in security info, sign-in after the name and with no name, through an
//! application whose ID token says how (`amr`), on SQLite and PostgreSQL; then one refusal for
//! each check of WebAuthn §7.1/§7.2 and of the authentication methods policy, each in the
//! sign-in log with its reason.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

mod common;
use common::log_of;
use countersign_core::model::SignInResult;
use countersign_core::policy::{
    self, Actor, EnforcementType, KeyRestrictions, MethodId, PasskeyConfig, State,
};
use countersign_testkit::passkey::{Answer, SoftPasskey};
use countersign_testkit::{
    csrf_of, jwt_claims, location, query_param, redeem_code, Db, Fixture, TestServer, WebClient,
    PASSWORD,
};
use serde_json::Value;

/// Passkeys on for everyone, the other passkey settings at their defaults but as `tweak` sets them.
async fn passkeys_on(s: &TestServer, f: &Fixture, tweak: impl Fn(&mut PasskeyConfig)) {
    let actor = Actor::Operator("test".into());
    policy::change(&s.state.deps, &f.tenant, &actor, "test", |mut p| {
        p.method_mut(MethodId::Passkey).state = State::Enabled;
        p.passkey.is_self_service_registration_allowed = true;
        p.passkey.is_attestation_enforced = false;
        p.passkey.key_restrictions = KeyRestrictions::default();
        p.passkey.method.exclude_targets.clear();
        tweak(&mut p.passkey);
        Ok(p)
    })
    .await
    .unwrap();
}

/// The value of attribute `name` of the first element that has it, unescaped.
fn attr(html: &str, name: &str) -> String {
    let start = format!("{name}=\"");
    let i = html
        .find(&start)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + start.len();
    let rest = &html[i..];
    rest[..rest.find('"').unwrap()]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Security info's "Add sign-in method" → "Passkey" for the signed-in browser: the ceremony and
/// the options the page gives the browser.
async fn begin_registration(web: &WebClient) -> (String, String, Value) {
    let csrf = web.csrf("/contoso/security-info").await;
    let r = add_passkey(web, &csrf).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Create a passkey"), "{html}");
    let options: Value = serde_json::from_str(&attr(&html, "data-passkey-create")).unwrap();
    let ceremony = between_value(&html, "ceremony");
    (csrf, ceremony, options)
}

/// The value of the hidden input `name`.
fn between_value(html: &str, name: &str) -> String {
    let start = format!("name=\"{name}\" value=\"");
    let i = html.find(&start).unwrap() + start.len();
    html[i..i + html[i..].find('"').unwrap()].to_string()
}

/// A signed-in browser (alice, password) that registers a passkey answered as `a` says.
async fn registered(s: &TestServer, a: &Answer) -> (WebClient, SoftPasskey) {
    let web = WebClient::new(&s.base);
    let r = web.sign_in("contoso", "alice@contoso.com", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let (csrf, ceremony, options) = begin_registration(&web).await;
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    let sel = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(sel["residentKey"], "required");
    assert_eq!(sel["userVerification"], "required");
    let (pk, answer) = SoftPasskey::register(&options, &s.base, a);
    let r = post_registration(&web, &csrf, &ceremony, &answer).await;
    assert_eq!(location(&r), "/contoso/security-info?done=passkey");
    (web, pk)
}

/// The CSRF token of the browser's current sign-in page.
async fn login_csrf(web: &WebClient) -> String {
    let html = web.get("/contoso/login").await.text().await.unwrap();
    csrf_of(&html).expect("csrf")
}

/// A passkey ceremony begun from the browser's current sign-in page, as its script does.
struct Ceremony {
    /// The page's anti-CSRF token (a bare visit's page is not reloaded: its flow is the cookie's).
    csrf: String,
    id: String,
    options: Value,
}

/// `…/login/passkey/options` for the browser's flow.
async fn sign_in_options(web: &WebClient) -> Ceremony {
    let csrf = login_csrf(web).await;
    let r = web
        .post_form("/contoso/login/passkey/options", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 200);
    let options: Value = r.json().await.unwrap();
    Ceremony {
        csrf,
        id: options["ceremony"].as_str().unwrap().to_string(),
        options,
    }
}

/// Posts the authenticator's answer to ceremony `c`, as the page's script does.
async fn answer(web: &WebClient, c: &Ceremony, credential: &Value) -> reqwest::Response {
    web.post_form(
        "/contoso/login/passkey",
        &[
            ("csrf", &c.csrf),
            ("ceremony", &c.id),
            ("credential", &credential.to_string()),
        ],
    )
    .await
}

/// Posts a form of the browser's current sign-in page, its anti-CSRF token added.
async fn post_login(web: &WebClient, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let csrf = login_csrf(web).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    web.post_form(path, &all).await
}

/// Answers ceremony `c` rightly with `pk`.
async fn right(
    web: &WebClient,
    s: &TestServer,
    c: &Ceremony,
    pk: &mut SoftPasskey,
) -> reqwest::Response {
    answer(web, c, &pk.assert(&c.options, &s.base, &Answer::default())).await
}

/// The claims of the ID token of a sign-in that ended in `r` (a redirect with a code).
async fn id_token(s: &TestServer, f: &Fixture, r: &reqwest::Response, verifier: &str) -> Value {
    let code = query_param(&location(r), "code").expect("authorization code");
    let basic = Some((f.app.id.as_str(), f.secret.as_str()));
    let (status, body) = redeem_code(&s.base, "contoso", basic, &code, verifier).await;
    assert_eq!(status, 200, "{body}");
    jwt_claims(body["id_token"].as_str().unwrap())
}

/// Security info's "Delete" of the method `id`.
async fn delete(web: &WebClient, csrf: &str, id: &str) -> reqwest::Response {
    let form = [("csrf", csrf), ("id", id)];
    web.post_form("/contoso/security-info/delete", &form).await
}

/// The server's record of the passkey.
async fn stored(
    s: &TestServer,
    pk: &SoftPasskey,
) -> Option<countersign_core::methods::passkey::PasskeyCredential> {
    s.state.deps.store.passkey(&pk.id()).await.unwrap()
}

/// "Add sign-in method" → "Passkey".
async fn add_passkey(web: &WebClient, csrf: &str) -> reqwest::Response {
    let form = [("csrf", csrf), ("method", "passkey")];
    web.post_form("/contoso/security-info/add", &form).await
}

/// The browser's new passkey, posted to security info.
async fn post_registration(
    web: &WebClient,
    csrf: &str,
    ceremony: &str,
    credential: &Value,
) -> reqwest::Response {
    let credential = credential.to_string();
    let form = [
        ("csrf", csrf),
        ("ceremony", ceremony),
        ("credential", &credential),
    ];
    web.post_form("/contoso/security-info/passkey", &form).await
}

/// A browser at alice's passkey step (the name typed, then "Other ways to sign in" → "Face,
/// fingerprint, PIN, or security key" unless it is the default already).
async fn at_passkey_step(s: &TestServer) -> WebClient {
    walk_to_passkey_step(WebClient::new(&s.base)).await
}

/// Walks the browser's flow from the name to the passkey step.
async fn walk_to_passkey_step(web: WebClient) -> WebClient {
    let r = post_login(&web, "/contoso/login/username", &[("username", "alice")]).await;
    assert_eq!(r.status(), 303);
    let r = post_login(&web, "/contoso/login/choose", &[("method", "passkey")]).await;
    assert_eq!(r.status(), 303);
    let html = web.get("/contoso/login").await.text().await.unwrap();
    assert!(html.contains("Sign in with a passkey"), "{html}");
    web
}

/// The sign-in log's passkey lines, once `n` are written (the log is written in batches).
async fn passkey_log(s: &TestServer, f: &Fixture, n: usize) -> Vec<(SignInResult, String)> {
    for _ in 0..100 {
        let log = log_of(s, &f.tenant.id, "passkey").await;
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} passkey lines in the sign-in log");
}

async fn register_and_sign_in(db: Db) {
    let Some(s) = TestServer::start_localhost(db).await else {
        return;
    };
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let (web, mut pk) = registered(&s, &Answer::default()).await;
    let html = web
        .get("/contoso/security-info?done=passkey")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Passkey registered."), "{html}");
    assert!(html.contains("Device-bound"), "{html}");

    // After the name, through an application: the passkey alone is multifactor.
    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    web.get(&url).await;
    let web = walk_to_passkey_step(web).await;
    let c = sign_in_options(&web).await;
    assert_eq!(
        c.options["publicKey"]["allowCredentials"][0]["id"],
        pk.id(),
        "{}",
        c.options
    );
    let r = right(&web, &s, &c, &mut pk).await;
    assert_eq!(r.status(), 303);
    let claims = id_token(&s, &f, &r, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]));

    // The browser remembers: after the name, the passkey is the default now.
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[("prompt", "login")]);
    web.get(&url).await;
    post_login(&web, "/contoso/login/username", &[("username", "alice")]).await;
    let html = web.get("/contoso/login").await.text().await.unwrap();
    assert!(html.contains("Sign in with a passkey"), "{html}");
    assert!(html.contains("data-autostart"), "{html}");

    // With no name at all: the user comes from the credential.
    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    web.get(&url).await;
    let c = sign_in_options(&web).await;
    assert_eq!(
        c.options["publicKey"]["allowCredentials"],
        serde_json::json!([])
    );
    let r = right(&web, &s, &c, &mut pk).await;
    assert_eq!(r.status(), 303);
    let claims = id_token(&s, &f, &r, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]));
    assert_eq!(claims["preferred_username"], "alice@contoso.com");

    // A bare visit, no application: the account page.
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut pk).await;
    assert_eq!(location(&r), "/contoso/");

    let record = stored(&s, &pk).await.unwrap();
    assert_eq!(record.sign_count, 3);
    assert!(record.last_used_at.is_some());
    let log = passkey_log(&s, &f, 3).await;
    assert!(
        log.iter().all(|(r, _)| *r == SignInResult::Success),
        "{log:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_passkey_is_registered_and_signs_in_after_the_name_and_with_no_name_on_sqlite() {
    register_and_sign_in(Db::Sqlite).await;
}

#[tokio::test]
async fn a_passkey_is_registered_and_signs_in_after_the_name_and_with_no_name_on_postgres() {
    register_and_sign_in(Db::Postgres).await;
}

/// Every check of §7.2 refuses its own wrong answer — and the right answer still works after.
#[tokio::test]
async fn each_check_of_an_assertion_refuses_what_it_guards_against() {
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let (_, mut pk) = registered(&s, &Answer::default()).await;
    // Each wrong in one way, with the check that must refuse it (the verifier's logged reason).
    let answer_with = |f: fn(&mut Answer)| {
        let mut a = Answer::default();
        f(&mut a);
        a
    };
    let wrong: Vec<(&str, Answer, &str)> = vec![
        (
            "another origin",
            answer_with(|a| a.origin = Some("http://evil.localhost:1".into())),
            "origin does not match",
        ),
        (
            "another RP ID",
            answer_with(|a| a.rp_id = Some("example.com".into())),
            "relying party id hash does not match",
        ),
        (
            "no user verification",
            answer_with(|a| a.no_uv = true),
            "user verified bit is not set",
        ),
        (
            "no user presence",
            answer_with(|a| a.no_up = true),
            "user present bit is not set",
        ),
        (
            "a tampered signature",
            answer_with(|a| a.tamper_signature = true),
            "the signature does not verify",
        ),
        (
            "another challenge",
            answer_with(|a| a.challenge = Some("A".repeat(43))),
            "challenge differs",
        ),
        (
            "a registration's client data",
            answer_with(|a| a.kind = Some("webauthn.create".into())),
            "not webauthn.get",
        ),
    ];
    let web = at_passkey_step(&s).await;
    for (what, a, _) in &wrong {
        let c = sign_in_options(&web).await;
        let r = answer(&web, &c, &pk.assert(&c.options, &s.base, a)).await;
        assert_eq!(r.status(), 401, "{what}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("We couldn't sign you in with that passkey"),
            "{what}: {html}"
        );
    }
    // Each refused by its own check.
    let log = passkey_log(&s, &f, wrong.len()).await;
    assert_eq!(log.len(), wrong.len());
    for ((result, reason), (what, _, fragment)) in log.iter().zip(&wrong) {
        assert_eq!(*result, SignInResult::Failure);
        assert!(reason.contains(fragment), "{what}: {reason}");
    }

    // The right answer signs in (the refusals used nothing up) — once per challenge.
    let c = sign_in_options(&web).await;
    let good = pk.assert(&c.options, &s.base, &Answer::default());
    let r = answer(&web, &c, &good).await;
    assert_eq!(r.status(), 303);
    let again = at_passkey_step(&s).await;
    let mut replayed = sign_in_options(&again).await;
    replayed.id = c.id.clone();
    let r = answer(&again, &replayed, &good).await;
    assert_eq!(r.status(), 401, "a challenge is answered once");
    let html = r.text().await.unwrap();
    assert!(html.contains("That took too long"), "{html}");

    // A counter that does not move on: a possible clone.
    let web = at_passkey_step(&s).await;
    let c = sign_in_options(&web).await;
    let stale = Answer {
        counter: Some(1),
        ..Answer::default()
    };
    let r = answer(&web, &c, &pk.assert(&c.options, &s.base, &stale)).await;
    assert_eq!(r.status(), 401);
    let log = passkey_log(&s, &f, wrong.len() + 2).await;
    let (result, reason) = log.last().unwrap();
    assert_eq!(*result, SignInResult::Failure);
    assert!(reason.contains("counter"), "{reason}");

    // A challenge expires with its timeout (five minutes).
    let c = sign_in_options(&web).await;
    s.clock.advance(301);
    let late = pk.assert(&c.options, &s.base, &Answer::default());
    let r = answer(&web, &c, &late).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("That took too long"));
    s.stop().await;
}

/// A credential nobody registered, and one of another user, are refused — after the name and
/// with no name, where the user handle must be the credential's owner's.
#[tokio::test]
async fn unknown_credentials_and_other_users_credentials_are_refused() {
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let (_, mut alices) = registered(&s, &Answer::default()).await;
    // bob, with a password, registers one too.
    s.passwordless_user(&f.tenant, "bob@contoso.com", "Bob")
        .await;
    countersign_core::directory::set_password(
        &s.state.deps,
        &f.tenant,
        "bob@contoso.com",
        Some(PASSWORD),
    )
    .await
    .unwrap();
    let web = WebClient::new(&s.base);
    assert_eq!(
        web.sign_in("contoso", "bob@contoso.com", PASSWORD)
            .await
            .status(),
        303
    );
    let (csrf, ceremony, options) = begin_registration(&web).await;
    let (mut bobs, reg) = SoftPasskey::register(&options, &s.base, &Answer::default());
    let r = post_registration(&web, &csrf, &ceremony, &reg).await;
    assert_eq!(r.status(), 303);

    // bob's passkey at alice's step.
    let web = at_passkey_step(&s).await;
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut bobs).await;
    assert_eq!(r.status(), 401);

    // With no name: bob's credential claiming alice's user handle.
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    let claim_alice = Answer {
        user_handle: Some(alices.user_handle.clone()),
        ..Answer::default()
    };
    let r = answer(&web, &c, &bobs.assert(&c.options, &s.base, &claim_alice)).await;
    assert_eq!(r.status(), 401);

    // A credential this server never registered.
    let elsewhere = serde_json::json!({"publicKey": {
        "challenge": "AAAA", "rp": {"id": "localhost"}, "user": {"id": "AAAAAAAAAAAAAAAAAAAAAA"},
    }});
    let (mut stranger, _) = SoftPasskey::register(&elsewhere, &s.base, &Answer::default());
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut stranger).await;
    assert_eq!(r.status(), 401);

    let log = passkey_log(&s, &f, 3).await;
    let reasons: Vec<&str> = log.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "credential of another user",
            "credential of another user",
            "unknown credential"
        ]
    );
    // A ceremony begun at alice's step does not count once the flow is about bob ("Back").
    let web = at_passkey_step(&s).await;
    let c = sign_in_options(&web).await;
    let alices_answer = alices.assert(&c.options, &s.base, &Answer::default());
    post_login(&web, "/contoso/login/back", &[]).await;
    post_login(&web, "/contoso/login/username", &[("username", "bob")]).await;
    let r = post_login(&web, "/contoso/login/choose", &[("method", "passkey")]).await;
    assert_eq!(r.status(), 303);
    let r = answer(&web, &c, &alices_answer).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("That took too long"));

    // alice's own still works (with no name).
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut alices).await;
    assert_eq!(r.status(), 303);

    // Not once her account is disabled.
    let disable = countersign_core::directory::UserChanges {
        enabled: Some(false),
        ..Default::default()
    };
    countersign_core::directory::update_user(
        &s.state.deps,
        &f.tenant,
        "alice@contoso.com",
        disable,
    )
    .await
    .unwrap();
    let logged = log_of(&s, &f.tenant.id, "passkey").await.len();
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut alices).await;
    assert_eq!(r.status(), 401);
    let log = passkey_log(&s, &f, logged + 1).await;
    assert_eq!(
        log.last().unwrap().1,
        "credential of a disabled user or another tenant"
    );
    s.stop().await;
}

/// The passkey settings of the methods policy: off, no self-service, and key restrictions by
/// AAGUID (at registration and at sign-in).
#[tokio::test]
async fn the_policy_decides_who_registers_and_uses_which_passkeys() {
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;

    // Off (the default): not offered, and asking for it is refused with the seeds' words — on
    // the name page too: no autofill, no "Sign-in options", no ceremony with no name.
    let web = WebClient::new(&s.base);
    let html = web.get("/contoso/login").await.text().await.unwrap();
    assert!(
        !html.contains("webauthn") && !html.contains("Sign-in options"),
        "{html}"
    );
    for path in [
        "/contoso/login/passkey/options",
        "/contoso/login/passkey/another-device",
    ] {
        let r = post_login(&web, path, &[]).await;
        assert_eq!(r.status(), 403, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("not supported by your tenant"),
            "{path}: {body}"
        );
    }
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice@contoso.com", PASSWORD).await;
    let csrf = web.csrf("/contoso/security-info").await;
    let r = add_passkey(&web, &csrf).await;
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("This sign-in method is not supported by your tenant."));

    // On, but without self-service registration; or with attestation enforced, which this
    // server cannot check: it fails closed.
    passkeys_on(&s, &f, |p| p.is_self_service_registration_allowed = false).await;
    let r = add_passkey(&web, &csrf).await;
    assert_eq!(r.status(), 403);
    passkeys_on(&s, &f, |p| p.is_attestation_enforced = true).await;
    let r = add_passkey(&web, &csrf).await;
    assert_eq!(r.status(), 403);

    // A block list with this authenticator's AAGUID: registration refused with the reason.
    let blocked = "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a";
    passkeys_on(&s, &f, |p| {
        p.key_restrictions.is_enforced = true;
        p.key_restrictions.enforcement_type = EnforcementType::Block;
        p.key_restrictions.aa_guids = vec![blocked.into()];
    })
    .await;
    let (csrf, ceremony, options) = begin_registration(&web).await;
    let (_, reg) = SoftPasskey::register(&options, &s.base, &Answer::default());
    let r = post_registration(&web, &csrf, &ceremony, &reg).await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your organization doesn't allow this type of passkey."));
    assert!(s
        .state
        .deps
        .store
        .passkeys_of_user(&f.alice.id)
        .await
        .unwrap()
        .is_empty());

    // Allowed again: offered on the name page; registered; then blocked: no longer offered
    // nor accepted.
    passkeys_on(&s, &f, |_| {}).await;
    let html = WebClient::new(&s.base)
        .get("/contoso/login")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("username webauthn") && html.contains("Sign-in options"),
        "{html}"
    );
    let (_, mut pk) = registered(&s, &Answer::default()).await;
    let web = at_passkey_step(&s).await;
    let c = sign_in_options(&web).await;
    passkeys_on(&s, &f, |p| {
        p.key_restrictions.is_enforced = true;
        p.key_restrictions.enforcement_type = EnforcementType::Allow;
        p.key_restrictions.aa_guids = vec!["cb69481e-8ff7-4039-93ec-0a2729a154a8".into()];
    })
    .await;
    let r = right(&web, &s, &c, &mut pk).await;
    assert_eq!(r.status(), 403);
    let log = passkey_log(&s, &f, 1).await;
    assert!(log[0].1.contains("policy"), "{log:?}");
    let web = WebClient::new(&s.base);
    post_login(&web, "/contoso/login/username", &[("username", "alice")]).await;
    let r = post_login(&web, "/contoso/login/choose", &[("method", "passkey")]).await;
    assert_eq!(r.status(), 403, "no longer offered");

    // Excluded by group (while allowed for everyone else): neither offered nor accepted.
    let deps = &s.state.deps;
    let g = countersign_core::directory::create_group(deps, &f.tenant, "Contractors", "")
        .await
        .unwrap();
    countersign_core::directory::add_member(deps, &f.tenant, "Contractors", "alice@contoso.com")
        .await
        .unwrap();
    passkeys_on(&s, &f, |p| {
        p.method.exclude_targets = vec![policy::Target::group(&g.id)]
    })
    .await;
    let web = WebClient::new(&s.base);
    post_login(&web, "/contoso/login/username", &[("username", "alice")]).await;
    let r = post_login(&web, "/contoso/login/choose", &[("method", "passkey")]).await;
    assert_eq!(r.status(), 403, "excluded");
    // With no name too: the passkey verifies, and the policy refuses it.
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut pk).await;
    assert_eq!(r.status(), 403);
    s.stop().await;
}

/// Security info: the passkey's name is editable, and deleting it needs a recent sign-in.
#[tokio::test]
async fn security_info_renames_a_passkey_and_deletes_it_after_a_recent_sign_in() {
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let sync = Answer {
        synced: true,
        aaguid: Some(*b"\xea\x9b\x8d\x66\x4d\x01\x1d\x21\x3c\xe4\xb6\xb4\x8c\xb5\x75\xd4"),
        ..Answer::default()
    };
    let (web, pk) = registered(&s, &sync).await;
    let html = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Google Password Manager · Synced"), "{html}");
    let csrf = csrf_of(&html).unwrap();
    for bad in ["", "  ", &"x".repeat(65)] {
        let r = web
            .post_form(
                "/contoso/security-info/rename",
                &[("csrf", &csrf), ("id", &pk.id()), ("name", bad)],
            )
            .await;
        assert_eq!(r.status(), 400, "{bad:?}");
    }
    let r = web
        .post_form(
            "/contoso/security-info/rename",
            &[("csrf", &csrf), ("id", &pk.id()), ("name", "My phone")],
        )
        .await;
    assert_eq!(location(&r), "/contoso/security-info?done=renamed");
    let r = web
        .post_form(
            "/contoso/security-info/rename",
            &[("csrf", &csrf), ("id", "nope"), ("name", "x")],
        )
        .await;
    assert_eq!(r.status(), 404);
    let html = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("value=\"My phone\""), "{html}");

    // Eleven minutes on, deleting asks for a sign-in first; the passkey stays until then.
    s.clock.advance(11 * 60);
    let r = delete(&web, &csrf, &pk.id()).await;
    assert_eq!(location(&r), "/contoso/login");
    assert!(stored(&s, &pk).await.is_some());
    // The sign-in it asks for, with the passkey itself, allows it.
    let mut pk = pk;
    let r = post_login(&web, "/contoso/login/choose", &[("method", "passkey")]).await;
    assert_eq!(r.status(), 303);
    let c = sign_in_options(&web).await;
    let r = right(&web, &s, &c, &mut pk).await;
    assert_eq!(location(&r), "/contoso/security-info?reauth=1");
    let csrf = web.csrf("/contoso/security-info").await;
    let r = delete(&web, &csrf, &pk.id()).await;
    assert_eq!(location(&r), "/contoso/security-info?done=deleted");
    assert!(stored(&s, &pk).await.is_none());
    s.stop().await;
}

/// The AAGUID as the authenticator data carries it.
fn aaguid_bytes(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// `amr` says how the passkey is kept: a synced one is a software key (`swk`), and one in the
/// Countersign Authenticator is unlocked by its App Lock PIN (`pin`).
#[tokio::test]
async fn amr_says_how_the_passkey_is_kept_and_verified() {
    assert_eq!(
        countersign_core::methods::passkey::COUNTERSIGN_AAGUID,
        countersign_proto::device::PASSKEY_AAGUID,
        "the core and the device protocol name the same authenticator"
    );
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let cases = [
        (
            Answer {
                synced: true,
                ..Answer::default()
            },
            ["swk", "user", "mfa"],
        ),
        (
            Answer {
                aaguid: Some(aaguid_bytes(countersign_proto::device::PASSKEY_AAGUID)),
                ..Answer::default()
            },
            ["swk", "pin", "mfa"],
        ),
    ];
    for (how, amr) in cases {
        let (_, mut pk) = registered(&s, &how).await;
        let web = WebClient::new(&s.base);
        let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
        web.get(&url).await;
        let c = sign_in_options(&web).await;
        let r = right(&web, &s, &c, &mut pk).await;
        let claims = id_token(&s, &f, &r, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(amr));
        // One passkey per test case: the next registers afresh.
        s.state
            .deps
            .store
            .delete_passkey(&f.alice.id, &pk.id())
            .await
            .unwrap();
    }
    s.stop().await;
}

/// The text of the element with id `id` (no markup inside).
fn by_id(html: &str, id: &str) -> String {
    let start = format!("id=\"{id}\"");
    let i = html
        .find(&start)
        .unwrap_or_else(|| panic!("#{id} in {html}"));
    let rest = &html[i..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    rest[..rest.find('<').unwrap()].replace("&amp;", "&")
}

/// "Sign in with a passkey on another device" on the browser's current page: the link and the
/// short code the page shows.
async fn another_device(web: &WebClient) -> (String, String) {
    let r = post_login(web, "/contoso/login/passkey/another-device", &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"qr-code\""), "{html}");
    (by_id(&html, "passkey-link"), by_id(&html, "short-code"))
}

/// The device's side of a link: `…/device/v1/passkey/request` and `…/answer`.
async fn device_post(link: &str, what: &str, body: Value) -> reqwest::Response {
    let u = url::Url::parse(link).unwrap();
    assert_eq!(u.scheme(), "countersign");
    assert_eq!(u.host_str(), Some("passkey"));
    let server = query_param(link, "server").unwrap();
    reqwest::Client::new()
        .post(format!("{server}/device/v1/passkey/{what}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Cross-device: the computer's page shows a one-time link (QR code) and a short code; the
/// device holding the passkey fetches the request, shows the same short code, answers it, and the
/// page finishes — once, within two minutes, verified like a browser's answer.
#[tokio::test]
async fn a_passkey_on_another_device_signs_the_computer_in_through_a_one_time_link() {
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let (_, mut pk) = registered(&s, &Answer::default()).await;

    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    web.get(&url).await;
    let (link, short) = another_device(&web).await;
    let code = query_param(&link, "code").unwrap();
    let r = device_post(&link, "request", serde_json::json!({ "code": code })).await;
    assert_eq!(r.status(), 200);
    let req: Value = r.json().await.unwrap();
    assert_eq!(req["short_code"], short.as_str());
    assert_eq!(req["site"], "Contoso");
    assert_eq!(req["origin"], s.base.as_str());
    let origin = req["origin"].as_str().unwrap();
    let credential = pk.assert(&req["options"], origin, &Answer::default());
    let answer = serde_json::json!({ "code": code, "credential": credential });

    // Another browser can neither see it answered nor finish it.
    let stranger = WebClient::new(&s.base);
    stranger.get("/contoso/login").await;
    let status = format!("/contoso/login/passkey/another-device/status?code={code}");
    let r = device_post(&link, "answer", answer.clone()).await;
    assert_eq!(r.status(), 200);
    let st: Value = stranger.get(&status).await.json().await.unwrap();
    assert_eq!(st["state"], "gone");
    let r = post_login(
        &stranger,
        "/contoso/login/passkey/another-device/finish",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), 400);

    let st: Value = web.get(&status).await.json().await.unwrap();
    assert_eq!(st["state"], "answered");
    let r = post_login(
        &web,
        "/contoso/login/passkey/another-device/finish",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let claims = id_token(&s, &f, &r, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]));

    // Once: the link is gone for the device too.
    let r = device_post(&link, "answer", answer).await;
    assert_eq!(r.status(), 410);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "passkey_link_invalid");
    let r = device_post(&link, "request", serde_json::json!({ "code": code })).await;
    assert_eq!(r.status(), 410);

    // Two minutes: an older link is refused.
    let web = WebClient::new(&s.base);
    let (link, _) = another_device(&web).await;
    let code = query_param(&link, "code").unwrap();
    s.clock.advance(121);
    let r = device_post(&link, "request", serde_json::json!({ "code": code })).await;
    assert_eq!(r.status(), 410);

    // A wrong answer (another origin) is refused, logged, and ends the link.
    let (link, _) = another_device(&web).await;
    let code = query_param(&link, "code").unwrap();
    let req: Value = device_post(&link, "request", serde_json::json!({ "code": code }))
        .await
        .json()
        .await
        .unwrap();
    let wrong = Answer {
        origin: Some("https://phish.example".into()),
        ..Answer::default()
    };
    let credential = pk.assert(&req["options"], &s.base, &wrong);
    let r = device_post(
        &link,
        "answer",
        serde_json::json!({ "code": code, "credential": credential }),
    )
    .await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "passkey_refused");
    let status = format!("/contoso/login/passkey/another-device/status?code={code}");
    let st: Value = web.get(&status).await.json().await.unwrap();
    assert_eq!(st["state"], "gone");
    let log = passkey_log(&s, &f, 2).await;
    assert!(log.last().unwrap().1.contains("origin"), "{log:?}");
    s.stop().await;
}

/// The Countersign Authenticator as a passkey provider (the library behind `passkey register` and
/// `passkey sign-in`, with passkey-rs): it makes a passkey for its account over the device
/// protocol, then signs a computer in from the computer's cross-device link; the passkey is
/// device-bound and unlocked by the App Lock PIN (`swk`, `pin`).
#[tokio::test]
async fn the_authenticator_makes_a_passkey_and_signs_a_computer_in_with_it() {
    use countersign_authenticator::passkeys;
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let device = common::push_device(&s, &f.tenant, &f.alice, "Phone").await;
    let d = device.clone();
    let mut stored = common::blocking(move |c| passkeys::register(c, &d))
        .await
        .unwrap();
    assert_eq!(stored.rp_id, "localhost");
    let listed = s
        .state
        .deps
        .store
        .passkeys_of_user(&f.alice.id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].credential_id, stored.credential_id);
    assert_eq!(
        listed[0].aaguid.as_deref(),
        Some(countersign_proto::device::PASSKEY_AAGUID)
    );
    assert_eq!(
        countersign_core::methods::passkey::kind_label(&listed[0]),
        "Device-bound"
    );

    let web = WebClient::new(&s.base);
    let (url, verifier) = web.authorize_url("contoso", &f.app.id, &[]);
    web.get(&url).await;
    let (link, short) = another_device(&web).await;
    let parsed = passkeys::parse_link(&link).unwrap();
    let p = parsed.clone();
    let request = common::blocking(move |c| passkeys::link_request(c, &p))
        .await
        .unwrap();
    assert_eq!(request.short_code, short);
    assert_eq!(request.site, "Contoso");
    let counter_before = stored.counter;
    stored = common::blocking(move |c| {
        passkeys::answer_link(c, &parsed, &request, &mut stored).map(|()| stored)
    })
    .await
    .unwrap();
    assert!(stored.counter > counter_before, "the counter moves on");
    let code = query_param(&link, "code").unwrap();
    let r = post_login(
        &web,
        "/contoso/login/passkey/another-device/finish",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let claims = id_token(&s, &f, &r, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["swk", "pin", "mfa"]));
    s.stop().await;
}

/// Enforced attestation: only a passkey whose attestation chains to a trusted maker's root (the
/// server's `passkey_attestation`) for that root's model is added — named after the model —, and
/// with no trusted maker configured none is.
#[tokio::test]
async fn enforced_attestation_admits_only_trusted_makers_models() {
    use countersign_server::webauthn::AttestationRoot;
    use countersign_testkit::passkey::attestation_maker;
    use std::sync::Arc;
    let model = [0x11u8; 16];
    let (ca_pem, trusted) = attestation_maker(model);
    let (_, untrusted) = attestation_maker(model);
    let s = TestServer::start_localhost_with(Db::Sqlite, |c| {
        c.passkey_attestation = vec![AttestationRoot {
            ca_pem,
            aaguid: "11111111-1111-1111-1111-111111111111".into(),
            model: "Test Key 5".into(),
        }]
    })
    .await
    .unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |p| p.is_attestation_enforced = true).await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice@contoso.com", PASSWORD).await;

    let refused = [
        ("no attestation", None),
        ("another maker's", Some(Arc::new(untrusted))),
    ];
    for (what, attest) in refused {
        let (csrf, ceremony, options) = begin_registration(&web).await;
        let a = Answer {
            attest,
            aaguid: Some(model),
            ..Answer::default()
        };
        let (_, reg) = SoftPasskey::register(&options, &s.base, &a);
        let r = post_registration(&web, &csrf, &ceremony, &reg).await;
        assert_eq!(r.status(), 400, "{what}");
        let html = r.text().await.unwrap();
        assert!(html.contains("whose maker can be"), "{what}: {html}");
    }
    assert!(s
        .state
        .deps
        .store
        .passkeys_of_user(&f.alice.id)
        .await
        .unwrap()
        .is_empty());

    let (csrf, ceremony, options) = begin_registration(&web).await;
    let a = Answer {
        attest: Some(Arc::new(trusted)),
        aaguid: Some(model),
        ..Answer::default()
    };
    let (mut pk, reg) = SoftPasskey::register(&options, &s.base, &a);
    let r = post_registration(&web, &csrf, &ceremony, &reg).await;
    assert_eq!(location(&r), "/contoso/security-info?done=passkey");
    let record = stored(&s, &pk).await.unwrap();
    assert_eq!(record.name, "Test Key 5");
    assert_eq!(
        record.aaguid.as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    assert_eq!(right(&web, &s, &c, &mut pk).await.status(), 303);
    s.stop().await;

    // No trusted maker configured: nobody may add a passkey while attestation is enforced.
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |p| p.is_attestation_enforced = true).await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice@contoso.com", PASSWORD).await;
    let csrf = web.csrf("/contoso/security-info").await;
    let r = add_passkey(&web, &csrf).await;
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("no list of trusted makers"));
    s.stop().await;
}

/// The options require a discoverable credential; a browser that answers (credProps) that the
/// authenticator did not make one is refused with a message that says what to do, and nothing is
/// stored. One that says it did, or says nothing, is accepted.
#[tokio::test]
async fn a_passkey_the_browser_says_is_not_discoverable_is_refused() {
    let s = TestServer::start_localhost(Db::Sqlite).await.unwrap();
    let f = s.seed().await;
    passkeys_on(&s, &f, |_| {}).await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice@contoso.com", PASSWORD).await;
    let (csrf, ceremony, options) = begin_registration(&web).await;
    assert_eq!(options["publicKey"]["extensions"]["credProps"], true);
    let a = Answer {
        resident_key: Some(false),
        ..Answer::default()
    };
    let (pk, reg) = SoftPasskey::register(&options, &s.base, &a);
    let r = post_registration(&web, &csrf, &ceremony, &reg).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("saved on your device or security key, so it couldn"),
        "{html}"
    );
    assert!(stored(&s, &pk).await.is_none());

    let (csrf, ceremony, options) = begin_registration(&web).await;
    let a = Answer {
        resident_key: Some(true),
        ..Answer::default()
    };
    let (mut pk, reg) = SoftPasskey::register(&options, &s.base, &a);
    let r = post_registration(&web, &csrf, &ceremony, &reg).await;
    assert_eq!(location(&r), "/contoso/security-info?done=passkey");
    let web = WebClient::new(&s.base);
    let c = sign_in_options(&web).await;
    assert_eq!(right(&web, &s, &c, &mut pk).await.status(), 303);
    s.stop().await;
}
