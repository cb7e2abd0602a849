//! Unit tests of the core's rules with in-memory fakes and a manual clock: lockouts, expiry,
//! single-use codes, refresh-token rotation and replay, PKCE and client authentication.

use crate::directory::{self, NewClient, NewUser};
use crate::error::{CoreError, OAuthErrorCode};
use crate::methods::password::PasswordHasher;
use crate::model::*;
use crate::oidc::{self, AuthorizeError, AuthorizeParams, ClientAuth};
use crate::secret::Secret;
use crate::signin::session;
use crate::signin::{password_sign_in, PasswordAttempt};
use crate::store::*;
use crate::testing::*;
use crate::{CoreResult, Deps};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const ISS: &str = "http://localhost/contoso/v2.0";
const PW: &str = "violet-tuba-engine";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

async fn setup(deps: &Deps) -> (Tenant, User, OidcClient, String) {
    let t = directory::create_tenant(deps, "contoso", "Contoso", &["contoso.com".into()])
        .await
        .unwrap();
    let u = directory::create_user(
        deps,
        &t,
        NewUser {
            upn: "Alice@Contoso.com",
            display_name: "Alice Example",
            email: None,
            password: Some(PW),
            enabled: true,
        },
    )
    .await
    .unwrap();
    let (c, secret) = directory::create_client(
        deps,
        &t,
        NewClient {
            require_mfa: false,
            name: "App",
            redirect_uris: &["https://app.example/cb".into()],
            post_logout_redirect_uris: &[],
            confidential: true,
            id_token_alg: SigningAlg::RS256,
            client_id: None,
        },
    )
    .await
    .unwrap();
    (t, u, c, secret.unwrap())
}

fn attempt<'a>(t: &'a Tenant, name: &'a str, pw: &'a str) -> PasswordAttempt<'a> {
    PasswordAttempt {
        tenant: t,
        typed_name: name,
        password: pw,
        client_id: None,
        client_addr: Some("192.0.2.7"),
    }
}

#[tokio::test]
async fn password_sign_in_accepts_right_and_refuses_wrong() {
    let f = fixture();
    let (t, u, _, _) = setup(&f.deps).await;
    let ok = password_sign_in(&f.deps, attempt(&t, " ALICE@contoso.com ", PW)).await;
    assert_eq!(ok.unwrap().id, u.id);
    // short name is completed with the tenant's domain
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_ok());
    let bad = password_sign_in(&f.deps, attempt(&t, "alice@contoso.com", "nope")).await;
    assert!(matches!(bad, Err(CoreError::SignInFailed)));
    let log = f.store.signins();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].failure_reason.as_deref(), Some("wrong password"));
}

/// Counts verifications so tests can prove that locked attempts do no hashing, and the paced
/// waits of refused ones. A verification takes `delay` of real time, so that parallel attempts
/// are all in flight at once.
#[derive(Default)]
struct CountingHasher {
    verified: AtomicUsize,
    paced: AtomicUsize,
    delay: std::time::Duration,
}

impl CountingHasher {
    fn verified(&self) -> usize {
        self.verified.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, p: &str) -> CoreResult<Secret> {
        FastHasher.hash(p).await
    }
    async fn verify(&self, p: &str, h: &Secret) -> CoreResult<bool> {
        self.verified.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        FastHasher.verify(p, h).await
    }
    async fn pace(&self) {
        self.paced.fetch_add(1, Ordering::SeqCst);
    }
}

/// Hundreds of guesses at once, the right one last: only as many are checked as the lockout
/// allows, and the right password comes after the limit, so it is refused (CVE-2024-4629's race).
#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_lockout() {
    let mut f = fixture();
    let counter = Arc::new(CountingHasher {
        delay: std::time::Duration::from_millis(20),
        ..Default::default()
    });
    f.deps.hasher = counter.clone();
    let (t, _, _, _) = setup(&f.deps).await;
    let t = Arc::new(t);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (deps, t) = (f.deps.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let pw = if i == 299 {
                PW.to_string()
            } else {
                format!("guess-{i}")
            };
            password_sign_in(&deps, attempt(&t, "alice", &pw))
                .await
                .is_ok()
        }));
    }
    let mut signed_in = 0;
    for task in tasks {
        signed_in += task.await.unwrap() as usize;
    }
    assert_eq!(
        counter.verified(),
        10,
        "only the lockout's ten tries are checked"
    );
    assert_eq!(signed_in, 0, "the right password came after the limit");
    assert_eq!(
        counter.paced.load(Ordering::SeqCst),
        290,
        "refusals wait like checks"
    );
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_err());
}

#[tokio::test]
async fn a_success_gives_back_its_address_reservation_only() {
    let f = fixture();
    let (t, _, _, _) = setup(&f.deps).await;
    let addr = crate::signin::throttle::address_key("192.0.2.7");
    let acct = crate::signin::throttle::account_key(&t.id, "alice@contoso.com");
    let _ = password_sign_in(&f.deps, attempt(&t, "someone-else", "wrong")).await;
    let _ = password_sign_in(&f.deps, attempt(&t, "alice", "wrong")).await;
    for _ in 0..60 {
        // 60 sign-ins from one office address: successes never count against it
        assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
            .await
            .is_ok());
    }
    let st = f.store.throttle_states(&[&addr, &acct]).await.unwrap();
    assert_eq!(
        st[0].failures, 2,
        "the two failures stand, the successes are given back"
    );
    assert_eq!(
        st[1].failures, 0,
        "a success ends the account's run of failures"
    );
}

#[tokio::test]
async fn lockout_after_ten_failures_grows_and_never_hashes() {
    let mut f = fixture();
    let counter = Arc::new(CountingHasher::default());
    f.deps.hasher = counter.clone();
    let (t, _, _, _) = setup(&f.deps).await;
    for _ in 0..10 {
        assert!(password_sign_in(&f.deps, attempt(&t, "alice", "wrong"))
            .await
            .is_err());
    }
    assert_eq!(counter.verified(), 10);
    // Locked: even the right password fails, and no hash is computed.
    let r = password_sign_in(&f.deps, attempt(&t, "alice", PW)).await;
    assert!(matches!(r, Err(CoreError::SignInFailed)));
    assert_eq!(counter.verified(), 10);
    f.clock.advance(59);
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_err());
    f.clock.advance(1);
    // One more failure after the first lock doubles the next one to two minutes.
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", "wrong"))
        .await
        .is_err());
    f.clock.advance(119);
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_err());
    f.clock.advance(1);
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_ok());
    // Success resets the count.
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", "wrong"))
        .await
        .is_err());
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_ok());
}

#[tokio::test]
async fn hard_limit_locks_until_an_administrator_unlocks() {
    let f = fixture();
    let (t, _, _, _) = setup(&f.deps).await;
    for _ in 0..100 {
        let _ = password_sign_in(&f.deps, attempt(&t, "alice", "wrong")).await;
        f.clock.advance(3601); // let every soft lock expire
    }
    f.clock.advance(365 * 24 * 3600);
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_err());
    directory::unlock_user(&f.deps, &t, "alice@contoso.com")
        .await
        .unwrap();
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_ok());
}

#[tokio::test]
async fn unknown_accounts_lock_like_real_ones() {
    let mut f = fixture();
    let counter = Arc::new(CountingHasher::default());
    f.deps.hasher = counter.clone();
    let (t, _, _, _) = setup(&f.deps).await;
    for _ in 0..10 {
        let _ = password_sign_in(&f.deps, attempt(&t, "ghost", "wrong")).await;
    }
    // an unknown name costs a (dummy) hash like a real one, so timing reveals nothing
    assert_eq!(counter.verified(), 10);
    let log = f.store.signins();
    assert_eq!(
        log.last().unwrap().failure_reason.as_deref(),
        Some("unknown account")
    );
    let _ = password_sign_in(&f.deps, attempt(&t, "ghost", "wrong")).await;
    let last = f.store.signins().last().unwrap().clone();
    assert!(last.failure_reason.unwrap().starts_with("account locked"));
}

#[tokio::test]
async fn client_address_is_throttled_across_accounts() {
    let f = fixture();
    let (t, _, _, _) = setup(&f.deps).await;
    for i in 0..50 {
        let name = format!("user{i}");
        let _ = password_sign_in(&f.deps, attempt(&t, &name, "wrong")).await;
    }
    // alice never failed, but her attempt comes from the throttled address
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_err());
    let mut other = attempt(&t, "alice", PW);
    other.client_addr = Some("198.51.100.1");
    assert!(password_sign_in(&f.deps, other).await.is_ok());
}

#[tokio::test]
async fn disabled_and_passwordless_accounts_cannot_use_a_password() {
    let f = fixture();
    let (t, _, _, _) = setup(&f.deps).await;
    directory::update_user(
        &f.deps,
        &t,
        "alice@contoso.com",
        directory::UserChanges {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(password_sign_in(&f.deps, attempt(&t, "alice", PW))
        .await
        .is_err());
    directory::create_user(
        &f.deps,
        &t,
        NewUser {
            upn: "bob@contoso.com",
            display_name: "Bob",
            email: None,
            password: None,
            enabled: true,
        },
    )
    .await
    .unwrap();
    assert!(password_sign_in(&f.deps, attempt(&t, "bob", ""))
        .await
        .is_err());
}

/// With the shortest idle timeout allowed (60 s), a session used every 50 s stays alive: its
/// last-seen time is written back often enough (a tenth of the timeout), not once a minute.
#[tokio::test]
async fn a_short_idle_timeout_keeps_active_sessions() {
    let mut f = fixture();
    f.deps.settings.session_idle = session::MIN_IDLE_TIMEOUT;
    let (t, u, _, _) = setup(&f.deps).await;
    let (cookie, _) = session::create_session(&f.deps, &u, vec!["pwd".into()], f.deps.now(), None)
        .await
        .unwrap();
    for _ in 0..12 {
        f.clock.advance(50);
        assert!(session::load_session(&f.deps, &t, &cookie)
            .await
            .unwrap()
            .is_some());
    }
    f.clock.advance(60);
    assert!(session::load_session(&f.deps, &t, &cookie)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn sessions_expire_when_idle_and_absolutely() {
    let f = fixture();
    let (t, u, _, _) = setup(&f.deps).await;
    let (cookie, _) = session::create_session(&f.deps, &u, vec!["pwd".into()], f.deps.now(), None)
        .await
        .unwrap();
    assert!(session::load_session(&f.deps, &t, &cookie)
        .await
        .unwrap()
        .is_some());
    // keep it active just under the idle limit, until the absolute limit ends it
    for _ in 0..3 {
        f.clock.advance(8 * 3600 - 10);
        assert!(session::load_session(&f.deps, &t, &cookie)
            .await
            .unwrap()
            .is_some());
    }
    f.clock.advance(8 * 3600 - 10);
    assert!(session::load_session(&f.deps, &t, &cookie)
        .await
        .unwrap()
        .is_none());

    let (cookie, _) = session::create_session(&f.deps, &u, vec!["pwd".into()], f.deps.now(), None)
        .await
        .unwrap();
    f.clock.advance(8 * 3600);
    assert!(session::load_session(&f.deps, &t, &cookie)
        .await
        .unwrap()
        .is_none());

    let (cookie, _) = session::create_session(&f.deps, &u, vec!["pwd".into()], f.deps.now(), None)
        .await
        .unwrap();
    session::end_session(&f.deps, &cookie).await.unwrap();
    assert!(session::load_session(&f.deps, &t, &cookie)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn flows_expire() {
    let f = fixture();
    let (t, _, _, _) = setup(&f.deps).await;
    let flow = session::start_flow(&f.deps, &t, None, false, &[])
        .await
        .unwrap();
    assert!(session::load_flow(&f.deps, &t, &flow.id).await.is_ok());
    f.clock.advance(15 * 60);
    assert!(matches!(
        session::load_flow(&f.deps, &t, &flow.id).await,
        Err(CoreError::FlowExpired)
    ));
}

fn params(c: &OidcClient) -> AuthorizeParams {
    AuthorizeParams {
        client_id: Some(c.id.clone()),
        redirect_uri: Some("https://app.example/cb".into()),
        response_type: Some("code".into()),
        scope: Some("openid profile offline_access".into()),
        state: Some("xyz".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some(challenge(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn authorize_refuses_bad_requests() {
    let f = fixture();
    let (t, _, c, _) = setup(&f.deps).await;
    assert!(oidc::validate_authorize(&f.deps, &t, &params(&c))
        .await
        .is_ok());

    let mut p = params(&c);
    p.client_id = Some("unknown".into());
    assert!(matches!(
        oidc::validate_authorize(&f.deps, &t, &p).await,
        Err(AuthorizeError::NoRedirect(_))
    ));
    for bad in [
        "https://app.example/cb/",
        "https://app.example/cb?x=1",
        "https://APP.example/cb",
        "https://app.example/c",
        "https://evil.example/cb",
    ] {
        let mut p = params(&c);
        p.redirect_uri = Some(bad.into());
        assert!(
            matches!(
                oidc::validate_authorize(&f.deps, &t, &p).await,
                Err(AuthorizeError::NoRedirect(_))
            ),
            "{bad} must not be redirected to"
        );
    }
    let expect_redirect = |r: Result<_, AuthorizeError>, code: OAuthErrorCode| match r {
        Err(AuthorizeError::Redirect { error, .. }) => assert_eq!(error.code, code),
        other => panic!("expected redirect error, got {other:?}"),
    };
    let mut p = params(&c);
    p.code_challenge_method = Some("plain".into());
    expect_redirect(
        oidc::validate_authorize(&f.deps, &t, &p).await,
        OAuthErrorCode::InvalidRequest,
    );
    let mut p = params(&c);
    p.code_challenge = None;
    p.code_challenge_method = None;
    expect_redirect(
        oidc::validate_authorize(&f.deps, &t, &p).await,
        OAuthErrorCode::InvalidRequest,
    );
    let mut p = params(&c);
    p.code_challenge_method = None;
    expect_redirect(
        oidc::validate_authorize(&f.deps, &t, &p).await,
        OAuthErrorCode::InvalidRequest,
    );
    let mut p = params(&c);
    p.response_type = Some("token".into());
    expect_redirect(
        oidc::validate_authorize(&f.deps, &t, &p).await,
        OAuthErrorCode::UnsupportedResponseType,
    );
    let mut p = params(&c);
    p.scope = Some("profile".into());
    expect_redirect(
        oidc::validate_authorize(&f.deps, &t, &p).await,
        OAuthErrorCode::InvalidScope,
    );
}

/// Signs alice in and returns a fresh authorization code for the app.
async fn code_for(f: &Fixture, t: &Tenant, u: &User, c: &OidcClient) -> String {
    let (_, req) = oidc::validate_authorize(&f.deps, t, &params(c))
        .await
        .unwrap();
    let (_, s) = session::create_session(&f.deps, u, vec!["pwd".into()], f.deps.now(), None)
        .await
        .unwrap();
    let url = oidc::issue_code(&f.deps, &req, &s, ISS).await.unwrap();
    let url = url::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["iss"], ISS);
    q["code"].clone()
}

/// Redeems `code` as the app would, with the right redirect URI and verifier.
async fn exchange(
    f: &Fixture,
    t: &Tenant,
    c: &OidcClient,
    code: &str,
) -> CoreResult<oidc::IssuedTokens> {
    oidc::exchange_code(
        &f.deps,
        &PlainSigner,
        t,
        ISS,
        c,
        code,
        Some("https://app.example/cb"),
        Some(VERIFIER),
    )
    .await
}

fn oauth_code(r: CoreResult<oidc::IssuedTokens>) -> OAuthErrorCode {
    match r {
        Err(CoreError::OAuth(e)) => e.code,
        other => panic!("expected OAuth error, got {other:?}"),
    }
}

#[tokio::test]
async fn code_exchange_issues_tokens_with_claims() {
    let f = fixture();
    let (t, u, c, _) = setup(&f.deps).await;
    let code = code_for(&f, &t, &u, &c).await;
    let toks = exchange(&f, &t, &c, &code).await.unwrap();
    assert!(toks.refresh_token.is_some());
    let id = toks.id_token.unwrap();
    assert!(id.starts_with("RS256.JWT."));
    let claims: serde_json::Value =
        serde_json::from_str(id.splitn(3, '.').nth(2).unwrap()).unwrap();
    assert_eq!(claims["sub"], u.id.as_str());
    assert_eq!(claims["aud"], c.id.as_str());
    assert_eq!(claims["tid"], t.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["preferred_username"], "alice@contoso.com");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], oidc::claims::ACR_1FA);
    let ui = oidc::userinfo(&f.deps, &PlainSigner, &t, ISS, &toks.access_token)
        .await
        .unwrap();
    assert_eq!(ui["name"], "Alice Example");
}

#[tokio::test]
async fn code_reuse_fails_and_revokes_what_was_issued() {
    let f = fixture();
    let (t, u, c, _) = setup(&f.deps).await;
    let code = code_for(&f, &t, &u, &c).await;
    let first = exchange(&f, &t, &c, &code).await.unwrap();
    assert_eq!(
        oauth_code(exchange(&f, &t, &c, &code).await),
        OAuthErrorCode::InvalidGrant
    );
    // everything issued from the code is dead now
    let r = oidc::refresh(
        &f.deps,
        &PlainSigner,
        &t,
        ISS,
        &c,
        first.refresh_token.as_deref().unwrap(),
        None,
    )
    .await;
    assert_eq!(oauth_code(r), OAuthErrorCode::InvalidGrant);
    assert!(
        oidc::userinfo(&f.deps, &PlainSigner, &t, ISS, &first.access_token)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn code_expires_and_needs_matching_pkce_and_redirect() {
    let f = fixture();
    let (t, u, c, _) = setup(&f.deps).await;
    let code = code_for(&f, &t, &u, &c).await;
    let try_ex = |redirect: &'static str, verifier: Option<&'static str>| {
        let (f, t, c, code) = (&f, &t, &c, code.clone());
        async move {
            oidc::exchange_code(
                &f.deps,
                &PlainSigner,
                t,
                ISS,
                c,
                &code,
                Some(redirect),
                verifier,
            )
            .await
        }
    };
    let wrong_verifier = "x".repeat(43);
    let wv: &'static str = Box::leak(wrong_verifier.into_boxed_str());
    assert_eq!(
        oauth_code(try_ex("https://app.example/cb", Some(wv)).await),
        OAuthErrorCode::InvalidGrant
    );
    assert_eq!(
        oauth_code(try_ex("https://app.example/cb", None).await),
        OAuthErrorCode::InvalidGrant
    );
    assert_eq!(
        oauth_code(try_ex("https://app.example/cb/", Some(VERIFIER)).await),
        OAuthErrorCode::InvalidGrant
    );
    // failed attempts did not consume the code; expiry does
    f.clock.advance(5 * 60);
    assert_eq!(
        oauth_code(try_ex("https://app.example/cb", Some(VERIFIER)).await),
        OAuthErrorCode::InvalidGrant
    );
    f.clock.advance(-1);
    assert!(try_ex("https://app.example/cb", Some(VERIFIER))
        .await
        .is_ok());
}

#[tokio::test]
async fn refresh_rotates_and_replay_revokes_the_family() {
    let f = fixture();
    let (t, u, c, _) = setup(&f.deps).await;
    let code = code_for(&f, &t, &u, &c).await;
    let first = exchange(&f, &t, &c, &code).await.unwrap();
    let r1 = first.refresh_token.unwrap();
    let second = oidc::refresh(&f.deps, &PlainSigner, &t, ISS, &c, &r1, None)
        .await
        .unwrap();
    let r2 = second.refresh_token.unwrap();
    assert_ne!(r1, r2);
    // narrowing is fine, widening is not
    let r = oidc::refresh(
        &f.deps,
        &PlainSigner,
        &t,
        ISS,
        &c,
        &r2,
        Some("openid email"),
    )
    .await;
    assert_eq!(oauth_code(r), OAuthErrorCode::InvalidScope);
    let third = oidc::refresh(&f.deps, &PlainSigner, &t, ISS, &c, &r2, Some("openid"))
        .await
        .unwrap();
    assert_eq!(third.scope, "openid");
    let r3 = third.refresh_token.unwrap();
    // replay of r1: refused, and the live r3 dies with its family
    let r = oidc::refresh(&f.deps, &PlainSigner, &t, ISS, &c, &r1, None).await;
    assert_eq!(oauth_code(r), OAuthErrorCode::InvalidGrant);
    let r = oidc::refresh(&f.deps, &PlainSigner, &t, ISS, &c, &r3, None).await;
    assert_eq!(oauth_code(r), OAuthErrorCode::InvalidGrant);
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let f = fixture();
    let (t, u, c, _) = setup(&f.deps).await;
    let code = code_for(&f, &t, &u, &c).await;
    let first = exchange(&f, &t, &c, &code).await.unwrap();
    f.clock.advance(14 * 24 * 3600);
    let r = oidc::refresh(
        &f.deps,
        &PlainSigner,
        &t,
        ISS,
        &c,
        &first.refresh_token.unwrap(),
        None,
    )
    .await;
    assert_eq!(oauth_code(r), OAuthErrorCode::InvalidGrant);
}

#[tokio::test]
async fn client_authentication_rules() {
    let f = fixture();
    let (t, _, c, secret) = setup(&f.deps).await;
    let auth = |id: &str, s: Option<&str>| ClientAuth {
        client_id: Some(id.into()),
        client_secret: s.map(str::to_string),
    };
    assert!(
        oidc::authenticate_client(&f.deps, &t, &auth(&c.id, Some(&secret)))
            .await
            .is_ok()
    );
    assert!(
        oidc::authenticate_client(&f.deps, &t, &auth(&c.id, Some("wrong")))
            .await
            .is_err()
    );
    assert!(oidc::authenticate_client(&f.deps, &t, &auth(&c.id, None))
        .await
        .is_err());
    assert!(oidc::authenticate_client(&f.deps, &t, &auth("nope", None))
        .await
        .is_err());
    let (public, _) = directory::create_client(
        &f.deps,
        &t,
        NewClient {
            require_mfa: false,
            name: "SPA",
            redirect_uris: &["http://localhost:3000/cb".into()],
            post_logout_redirect_uris: &[],
            confidential: false,
            id_token_alg: SigningAlg::RS256,
            client_id: None,
        },
    )
    .await
    .unwrap();
    assert!(
        oidc::authenticate_client(&f.deps, &t, &auth(&public.id, None))
            .await
            .is_ok()
    );
    assert!(
        oidc::authenticate_client(&f.deps, &t, &auth(&public.id, Some("x")))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn directory_validates_values() {
    let f = fixture();
    let (t, _, _, _) = setup(&f.deps).await;
    assert!(
        directory::create_tenant(&f.deps, "Bad Name", "x", &["x.com".into()])
            .await
            .is_err()
    );
    assert!(
        directory::create_tenant(&f.deps, "contoso", "x", &["x.com".into()])
            .await
            .is_err()
    );
    let new = |upn| NewUser {
        upn,
        display_name: "X",
        email: None,
        password: None,
        enabled: true,
    };
    assert!(matches!(
        directory::create_user(&f.deps, &t, new("alice@contoso.com")).await,
        Err(CoreError::Conflict(_))
    ));
    assert!(directory::create_user(&f.deps, &t, new("x@other.com"))
        .await
        .is_err());
    assert!(directory::create_user(&f.deps, &t, new("no-at-sign"))
        .await
        .is_err());
    assert!(directory::validate_redirect_uri("http://app.example/cb").is_err());
    assert!(directory::validate_redirect_uri("http://localhost:8080/cb").is_ok());
    assert!(directory::validate_redirect_uri("https://a.example/cb#frag").is_err());
}

/// A bare visit's id is known for one without a read: a row stored under such an id (none is:
/// stored flows get `secret_token` ids) would not be loaded; a stored visit gets an ordinary id.
#[tokio::test]
async fn a_bare_visit_is_known_without_a_read_and_stored_under_a_new_id() {
    let f = fixture();
    let (t, _) = contoso_alice(&f.deps, None).await;
    let visit = session::visit(&f.deps, &t);
    f.deps.store.insert_flow(&visit).await.unwrap();
    assert!(matches!(
        session::load_flow(&f.deps, &t, &visit.id).await,
        Err(CoreError::FlowExpired)
    ));
    let stored = session::store_visit(&f.deps, visit.clone()).await.unwrap();
    assert_ne!(stored.id, visit.id);
    assert_eq!(
        session::load_flow(&f.deps, &t, &stored.id).await.unwrap(),
        stored
    );
}
