//! Unit tests of Temporary Access Passes: issuing within the policy, one current pass per user,
//! every kind of dead pass refused like a wrong one (and logged with its reason), single use under
//! parallel attempts, the shared lockout, and the engine offering and accepting a pass.

use crate::clock::Clock;
use crate::error::CoreError;
use crate::methods::tap::{self, generate, NewPass, PassAttempt, PassState, ALPHABET};
use crate::model::{SignInFlow, SignInResult, Tenant, User};
use crate::policy::{self, Actor, MethodId, State};
use crate::signin::flow::{self, Method, Next};
use crate::signin::{password_sign_in, Origin, PasswordAttempt};
use crate::store::*;
use crate::testing::*;

fn operator() -> Actor {
    Actor::Operator("test".into())
}

/// Contoso with alice (no password) and passes turned on for everyone, as `edit` says.
async fn setup(f: &Fixture, edit: impl Fn(&mut policy::TapConfig)) -> (Tenant, User) {
    let (t, u) = contoso_alice(&f.deps, None).await;
    policy::change(&f.deps, &t, &operator(), "test", |mut p| {
        p.method_mut(MethodId::TemporaryAccessPass).state = State::Enabled;
        edit(&mut p.temporary_access_pass);
        Ok(p)
    })
    .await
    .unwrap();
    (t, u)
}

async fn issue(f: &Fixture, t: &Tenant, u: &User, new: NewPass) -> String {
    let issued = tap::create(&f.deps, t, &operator(), u, new).await.unwrap();
    issued.secret.expose().to_string()
}

async fn sign_in(f: &Fixture, t: &Tenant, pass: &str) -> Result<User, CoreError> {
    let a = PassAttempt {
        origin: Origin {
            tenant: t,
            client_id: None,
            client_addr: Some("192.0.2.9"),
        },
        name: "alice@contoso.com",
        pass,
    };
    tap::sign_in(&f.deps, a).await
}

fn last_reason(f: &Fixture) -> (SignInResult, Option<String>) {
    let e = f.store.signins().last().cloned().unwrap();
    assert_eq!(e.method, "tap");
    (e.result, e.failure_reason)
}

#[tokio::test]
async fn a_pass_is_issued_only_where_the_policy_allows_it_and_within_its_lifetimes() {
    let f = fixture();
    let (t, u) = contoso_alice(&f.deps, None).await;
    // Off by default, as in Entra.
    let r = tap::create(&f.deps, &t, &operator(), &u, NewPass::default()).await;
    assert!(matches!(r, Err(CoreError::MethodNotSupported)), "{r:?}");

    let (t, u) = {
        policy::change(&f.deps, &t, &operator(), "test", |mut p| {
            p.method_mut(MethodId::TemporaryAccessPass).state = State::Enabled;
            p.temporary_access_pass.maximum_lifetime_in_minutes = 120;
            Ok(p)
        })
        .await
        .unwrap();
        (t, u)
    };
    for minutes in [59, 121] {
        let new = NewPass {
            lifetime_minutes: Some(minutes),
            ..NewPass::default()
        };
        let r = tap::create(&f.deps, &t, &operator(), &u, new).await;
        assert!(
            matches!(r, Err(CoreError::Invalid { ref field, .. }) if field == "lifetime"),
            "{r:?}"
        );
    }
    // The policy makes every pass one-time by default.
    let multi = NewPass {
        one_time: Some(false),
        ..NewPass::default()
    };
    let r = tap::create(&f.deps, &t, &operator(), &u, multi).await;
    assert!(
        matches!(r, Err(CoreError::Invalid { ref field, .. }) if field == "pass"),
        "{r:?}"
    );
    // Nothing was stored by the refusals.
    assert!(f.store.tap_of_user(&u.id).await.unwrap().is_none());

    let now = f.clock.now();
    let issued = tap::create(&f.deps, &t, &operator(), &u, NewPass::default())
        .await
        .unwrap();
    let p = &issued.pass;
    assert_eq!(
        (p.starts_at, p.expires_at, p.one_time),
        (now, now + 3600, true)
    );
    assert_eq!(issued.secret.expose().len(), 8);
    // Only its hash is stored, and the audit log names it without the pass.
    let stored = f.store.tap_of_user(&u.id).await.unwrap().unwrap();
    assert_ne!(stored.pass_hash.expose(), issued.secret.expose());
    let audit = f.store.list_audit(&t.id, 10).await.unwrap();
    let entry = audit.iter().find(|a| a.action == "tap.create").unwrap();
    assert_eq!(entry.target, "alice@contoso.com");
    assert!(entry.after.as_ref().unwrap().contains(&p.id));
    assert!(!entry
        .after
        .as_ref()
        .unwrap()
        .contains(issued.secret.expose()));
}

#[tokio::test]
async fn a_user_has_at_most_one_current_pass() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    issue(&f, &t, &u, NewPass::default()).await;
    let r = tap::create(&f.deps, &t, &operator(), &u, NewPass::default()).await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");

    // Revoked, it makes room for a new one (and the revocation is audited).
    assert!(tap::revoke(&f.deps, &t, &operator(), &u).await.unwrap());
    assert!(!tap::revoke(&f.deps, &t, &operator(), &u).await.unwrap());
    let second = issue(&f, &t, &u, NewPass::default()).await;
    let audit = f.store.list_audit(&t.id, 10).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "tap.revoke"));

    // Used up, too.
    sign_in(&f, &t, &second).await.unwrap();
    issue(&f, &t, &u, NewPass::default()).await;

    // And expired.
    f.clock.advance(3600);
    issue(&f, &t, &u, NewPass::default()).await;
}

#[tokio::test]
async fn a_one_time_pass_signs_in_once() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    let pass = issue(&f, &t, &u, NewPass::default()).await;
    // Surrounding blanks (a copied pass) don't matter.
    assert_eq!(
        sign_in(&f, &t, &format!(" {pass} ")).await.unwrap().id,
        u.id
    );
    assert_eq!(last_reason(&f), (SignInResult::Success, None));
    assert!(matches!(
        sign_in(&f, &t, &pass).await,
        Err(CoreError::SignInFailed)
    ));
    assert_eq!(
        last_reason(&f).1.as_deref(),
        Some("Temporary Access Pass used")
    );
}

#[tokio::test]
async fn a_multi_use_pass_signs_in_until_it_expires() {
    let f = fixture();
    let (t, u) = setup(&f, |c| c.is_usable_once = false).await;
    let new = NewPass {
        one_time: Some(false),
        ..NewPass::default()
    };
    let pass = issue(&f, &t, &u, new).await;
    for _ in 0..3 {
        sign_in(&f, &t, &pass).await.unwrap();
        f.clock.advance(1000);
    }
    f.clock.advance(600);
    assert!(sign_in(&f, &t, &pass).await.is_err());
    assert_eq!(
        last_reason(&f).1.as_deref(),
        Some("Temporary Access Pass expired")
    );
}

#[tokio::test]
async fn an_early_a_revoked_and_a_wrong_pass_are_refused_alike_and_logged_apart() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    let start = f.clock.now() + 7200;
    let new = NewPass {
        starts_at: Some(start),
        ..NewPass::default()
    };
    let pass = issue(&f, &t, &u, new).await;
    let stored = f.store.tap_of_user(&u.id).await.unwrap().unwrap();
    assert_eq!(stored.state(f.clock.now()), PassState::Waiting);
    assert!(matches!(
        sign_in(&f, &t, &pass).await,
        Err(CoreError::SignInFailed)
    ));
    assert_eq!(
        last_reason(&f).1.as_deref(),
        Some("Temporary Access Pass not yet valid")
    );
    assert!(matches!(
        sign_in(&f, &t, "ABCDEFGH").await,
        Err(CoreError::SignInFailed)
    ));
    assert_eq!(
        last_reason(&f).1.as_deref(),
        Some("wrong Temporary Access Pass")
    );
    f.clock.advance(7200);
    tap::revoke(&f.deps, &t, &operator(), &u).await.unwrap();
    assert!(matches!(
        sign_in(&f, &t, &pass).await,
        Err(CoreError::SignInFailed)
    ));
    assert_eq!(
        last_reason(&f).1.as_deref(),
        Some("Temporary Access Pass revoked")
    );
}

#[tokio::test]
async fn a_pass_is_refused_once_the_policy_turns_passes_off() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    let pass = issue(&f, &t, &u, NewPass::default()).await;
    policy::change(&f.deps, &t, &operator(), "test", |mut p| {
        p.method_mut(MethodId::TemporaryAccessPass).state = State::Disabled;
        Ok(p)
    })
    .await
    .unwrap();
    assert!(sign_in(&f, &t, &pass).await.is_err());
    // Not used up by the refusal.
    let stored = f.store.tap_of_user(&u.id).await.unwrap().unwrap();
    assert_eq!(stored.state(f.clock.now()), PassState::Live);
}

#[tokio::test]
async fn parallel_attempts_with_one_pass_sign_in_once() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    let pass = issue(&f, &t, &u, NewPass::default()).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (deps, t, pass) = (f.deps.clone(), t.clone(), pass.clone());
        tasks.push(tokio::spawn(async move {
            let a = PassAttempt {
                origin: Origin {
                    tenant: &t,
                    client_id: None,
                    client_addr: None,
                },
                name: "alice@contoso.com",
                pass: &pass,
            };
            tap::sign_in(&deps, a).await.is_ok()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap() as usize;
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn passes_and_passwords_share_one_lockout() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    crate::directory::set_password(&f.deps, &t, &u.upn, Some("violet-tuba-engine"))
        .await
        .unwrap();
    let pass = issue(&f, &t, &u, NewPass::default()).await;
    for i in 0..10 {
        let wrong = if i % 2 == 0 { "wrong-pass" } else { "" };
        if wrong.is_empty() {
            let a = PasswordAttempt {
                tenant: &t,
                typed_name: "alice@contoso.com",
                password: "not-the-password",
                client_id: None,
                client_addr: Some("192.0.2.9"),
            };
            assert!(password_sign_in(&f.deps, a).await.is_err());
        } else {
            assert!(sign_in(&f, &t, wrong).await.is_err());
        }
    }
    // Locked now: the right pass is refused, and not used up.
    assert!(sign_in(&f, &t, &pass).await.is_err());
    let reason = last_reason(&f).1.unwrap();
    assert!(reason.contains("locked"), "{reason}");
    let stored = f.store.tap_of_user(&u.id).await.unwrap().unwrap();
    assert_eq!(stored.used_at, None);
}

fn flow_of(t: &Tenant) -> SignInFlow {
    SignInFlow {
        id: "flow".into(),
        tenant_id: t.id.clone(),
        csrf: "csrf".into(),
        request: None,
        return_to: None,
        state: flow::new_state(false),
        created_at: 0,
        expires_at: i64::MAX,
    }
}

#[tokio::test]
async fn the_engine_offers_a_live_pass_first_and_it_alone_is_multifactor() {
    let f = fixture();
    let (t, u) = setup(&f, |_| {}).await;
    crate::directory::set_password(&f.deps, &t, &u.upn, Some("violet-tuba-engine"))
        .await
        .unwrap();
    let mut fl = flow_of(&t);
    let remembered = [Method::Password];
    let next = flow::identify(&f.deps, &t, &mut fl, "alice", &remembered)
        .await
        .unwrap();
    assert_eq!(next, Next::Method(Method::Password));

    issue(&f, &t, &u, NewPass::default()).await;
    let next = flow::identify(&f.deps, &t, &mut fl, "alice", &remembered)
        .await
        .unwrap();
    // An administrator issued it for a reason: it comes first, whatever the browser used last.
    assert_eq!(next, Next::Method(Method::Tap));
    let (_, account) = flow::account_for(&f.deps, &fl).await.unwrap();
    let offered = flow::outcome(&account, &fl, &[]).offered;
    assert_eq!(offered, vec![Method::Password, Method::Tap]);

    let next = flow::proved(&f.deps, &t, &mut fl, &u, Method::Tap, &[])
        .await
        .unwrap();
    assert_eq!(next, Next::Done);
    assert_eq!(flow::amr(&fl.state.proofs), vec!["tap", "mfa"]);
}

#[test]
fn passes_use_the_whole_alphabet_evenly_and_have_the_asked_length() {
    let h = fixture();
    let mut seen = [0u32; 256];
    for _ in 0..2000 {
        let p = generate(&h.deps, 8);
        assert_eq!(p.len(), 8);
        for b in p.bytes() {
            seen[b as usize] += 1;
        }
    }
    for (b, n) in seen.iter().enumerate() {
        let in_alphabet = ALPHABET.contains(&(b as u8));
        assert_eq!(*n > 0, in_alphabet, "symbol {b}");
        // 16,000 symbols over 56: about 286 each.
        if in_alphabet {
            assert!(
                (180..400).contains(n),
                "symbol {} seen {n} times",
                b as u8 as char
            );
        }
    }
}
