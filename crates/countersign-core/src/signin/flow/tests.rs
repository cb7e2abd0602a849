//! Unit tests of the sign-in engine's decisions and of the authentication methods policy: who is
//! offered what, when a second factor is due, what `amr` says, which documents are refused (with
//! the field named), who may change the policy, and the audit entries of changes.

use crate::directory;
use crate::error::CoreError;
use crate::methods::oath;
use crate::model::OathKind;
use crate::model::{AdminRole, SignInFlow, Tenant, User};
use crate::policy::{self, Actor, MethodId, MethodsPolicy, State};
use crate::signin::flow::{self, decide, Account, FlowState, Method, Next, Proof, Step};
use crate::store::*;
use crate::testing::*;

fn account(has_password: bool, usable: &[Method]) -> Account {
    Account {
        has_password,
        usable: usable.to_vec(),
        oath_kinds: vec![OathKind::Software, OathKind::Hardware],
        can_register: vec![Method::Code],
        tenant_requires_mfa: false,
    }
}

fn proofs(methods: &[Method]) -> FlowState {
    FlowState {
        proofs: methods.iter().map(|m| Proof::new(*m, 1)).collect(),
        ..FlowState::default()
    }
}

#[test]
fn a_password_only_account_and_an_unknown_name_are_offered_the_same() {
    let unknown = Account::like_password_only();
    let known = account(true, &[]);
    let fresh = FlowState::default();
    assert_eq!(decide(&unknown, &fresh, &[]), decide(&known, &fresh, &[]));
    let d = decide(&known, &fresh, &[]);
    assert_eq!(d.next, Next::Method(Method::Password));
    assert_eq!(d.offered, vec![Method::Password]);
}

#[test]
fn codes_are_never_a_first_factor() {
    // An account without a password that has only an authenticator app: no way to sign in.
    let d = decide(&account(false, &[Method::Code]), &FlowState::default(), &[]);
    assert_eq!(d.next, Next::NoMethod);
    assert!(d.offered.is_empty());
}

#[test]
fn a_registered_second_factor_is_always_asked_for() {
    let acc = account(true, &[Method::Code]);
    let d = decide(&acc, &proofs(&[Method::Password]), &[]);
    assert_eq!(d.next, Next::Method(Method::Code));
    assert_eq!(d.offered, vec![Method::Code]);
    let done = decide(&acc, &proofs(&[Method::Password, Method::Code]), &[]);
    assert_eq!(done.next, Next::Done);
}

#[test]
fn without_a_second_factor_the_password_is_enough_unless_mfa_is_required() {
    let acc = account(true, &[]);
    assert_eq!(
        decide(&acc, &proofs(&[Method::Password]), &[]).next,
        Next::Done
    );
    let mut by_app = proofs(&[Method::Password]);
    by_app.mfa_required = true;
    assert_eq!(
        decide(&acc, &by_app, &[]).next,
        Next::MoreInformationRequired
    );
    let by_tenant = Account {
        tenant_requires_mfa: true,
        ..acc
    };
    assert_eq!(
        decide(&by_tenant, &proofs(&[Method::Password]), &[]).next,
        Next::MoreInformationRequired
    );
}

#[test]
fn amr_comes_from_the_proofs() {
    assert_eq!(flow::amr(&proofs(&[Method::Password]).proofs), vec!["pwd"]);
    assert_eq!(
        flow::amr(&proofs(&[Method::Password, Method::Code]).proofs),
        vec!["pwd", "otp", "mfa"]
    );
    // Two proofs of one factor are not multifactor.
    assert!(!flow::is_mfa(
        &proofs(&[Method::Password, Method::Password]).proofs
    ));
}

#[test]
fn the_remembered_method_is_the_default_only_when_on_offer() {
    let acc = account(true, &[Method::Code]);
    // The browser last used a code: not on offer as a first factor, so the password it is.
    let d = decide(
        &acc,
        &FlowState::default(),
        &[Method::Code, Method::Password],
    );
    assert_eq!(d.next, Next::Method(Method::Password));
}

async fn setup(f: &Fixture, password: Option<&str>) -> (Tenant, User) {
    contoso_alice(&f.deps, password).await
}

async fn with_app(f: &Fixture, t: &Tenant, u: &User) {
    let tok = oath::begin_enrolment(&f.deps, u).await.unwrap();
    let now = crate::clock::Clock::now(f.clock.as_ref());
    let code = tok.code_at_step(tok.step_at(now)).unwrap();
    assert!(oath::activate(&f.deps, t, u, &tok.id, &code).await.unwrap());
}

fn operator() -> Actor {
    Actor::Operator("test".into())
}

async fn set_state(f: &Fixture, t: &Tenant, m: MethodId, s: State) {
    policy::change(&f.deps, t, &operator(), "test", |mut p| {
        p.method_mut(m).state = s;
        Ok(p)
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn disabling_software_oath_takes_the_app_away_and_enabling_brings_it_back() {
    let f = fixture();
    let (t, u) = setup(&f, Some("violet-tuba-engine")).await;
    with_app(&f, &t, &u).await;
    let acc = flow::account(&f.deps, &t, Some(&u)).await.unwrap();
    assert_eq!(acc.usable, vec![Method::Code]);

    set_state(&f, &t, MethodId::SoftwareOath, State::Disabled).await;
    let acc = flow::account(&f.deps, &t, Some(&u)).await.unwrap();
    assert!(acc.usable.is_empty(), "{acc:?}");
    assert!(!acc.can_register.contains(&Method::Code));
    // Nothing the user registered was deleted.
    assert_eq!(f.store.oath_tokens_of_user(&u.id).await.unwrap().len(), 1);

    set_state(&f, &t, MethodId::SoftwareOath, State::Enabled).await;
    let acc = flow::account(&f.deps, &t, Some(&u)).await.unwrap();
    assert_eq!(acc.usable, vec![Method::Code]);
}

#[tokio::test]
async fn include_and_exclude_groups_decide_per_user() {
    let f = fixture();
    let (t, alice) = setup(&f, Some("violet-tuba-engine")).await;
    with_app(&f, &t, &alice).await;
    directory::create_group(&f.deps, &t, "pilot", "")
        .await
        .unwrap();
    directory::create_group(&f.deps, &t, "contractors", "")
        .await
        .unwrap();
    let doc = r#"{"state":"enabled","includeTargets":[{"id":"pilot"}],"excludeTargets":[{"id":"contractors"}]}"#;
    policy::change(&f.deps, &t, &operator(), "test", |mut p| {
        p.software_oath = serde_json::from_str(doc).unwrap();
        Ok(p)
    })
    .await
    .unwrap();
    let usable = |u: User| {
        let deps = f.deps.clone();
        let t = t.clone();
        async move { flow::account(&deps, &t, Some(&u)).await.unwrap().usable }
    };
    assert!(usable(alice.clone()).await.is_empty(), "not in pilot");
    directory::add_member(&f.deps, &t, "pilot", &alice.upn)
        .await
        .unwrap();
    assert_eq!(usable(alice.clone()).await, vec![Method::Code]);
    directory::add_member(&f.deps, &t, "contractors", &alice.upn)
        .await
        .unwrap();
    assert!(usable(alice).await.is_empty(), "excluded wins");
}

#[test]
fn invalid_documents_are_refused_with_the_field_named() {
    let default = MethodsPolicy::default();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(&default).unwrap();
        f(&mut v);
        MethodsPolicy::from_json(&v.to_string()).and_then(|p| p.validated(&[]))
    };
    let field_of = |r: Result<MethodsPolicy, CoreError>| match r {
        Err(CoreError::Invalid { field, .. }) => field.into_owned(),
        other => panic!("not refused: {other:?}"),
    };
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "softwareOath.state",
            Box::new(|v| v["softwareOath"]["state"] = "on".into()),
        ),
        (
            "softwareOath.stat",
            Box::new(|v| v["softwareOath"]["stat"] = "enabled".into()),
        ),
        (
            "authenticator.featureSettings.numberMatchingDigits",
            Box::new(|v| v["authenticator"]["featureSettings"]["numberMatchingDigits"] = 7.into()),
        ),
        (
            "authenticator.featureSettings.pushFatigueLimit.requests",
            Box::new(|v| {
                v["authenticator"]["featureSettings"]["pushFatigueLimit"] =
                    serde_json::json!({"requests": 21, "windowMinutes": 10})
            }),
        ),
        (
            "authenticator.featureSettings.pushFatigueLimit.windowMinutes",
            Box::new(|v| {
                v["authenticator"]["featureSettings"]["pushFatigueLimit"] =
                    serde_json::json!({"requests": 5, "windowMinutes": 0})
            }),
        ),
        (
            "temporaryAccessPass.maximumLifetimeInMinutes",
            Box::new(|v| v["temporaryAccessPass"]["maximumLifetimeInMinutes"] = 43201.into()),
        ),
        (
            "temporaryAccessPass.minimumLifetimeInMinutes",
            Box::new(|v| v["temporaryAccessPass"]["minimumLifetimeInMinutes"] = 9.into()),
        ),
        (
            "temporaryAccessPass.defaultLifetimeInMinutes",
            Box::new(|v| v["temporaryAccessPass"]["defaultLifetimeInMinutes"] = 500.into()),
        ),
        (
            "temporaryAccessPass.defaultLength",
            Box::new(|v| v["temporaryAccessPass"]["defaultLength"] = 7.into()),
        ),
        (
            "passkey.keyRestrictions.aaGuids[0]",
            Box::new(|v| v["passkey"]["keyRestrictions"]["aaGuids"] = serde_json::json!(["nope"])),
        ),
        (
            "hardwareOath.includeTargets[0].id",
            Box::new(|v| {
                v["hardwareOath"]["includeTargets"] = serde_json::json!([{"id": "ghosts"}])
            }),
        ),
        (
            "hardwareOath.excludeTargets[0].id",
            Box::new(|v| {
                v["hardwareOath"]["excludeTargets"] = serde_json::json!([{"id": "all_users"}])
            }),
        ),
        (
            "softwareOath.includeTargets[0].authenticationMode",
            Box::new(|v| {
                v["softwareOath"]["includeTargets"][0]["authenticationMode"] = "push".into()
            }),
        ),
        (
            "passkey.includeTargets",
            Box::new(|v| v["passkey"]["includeTargets"] = serde_json::json!([])),
        ),
    ];
    for (field, f) in cases {
        assert_eq!(field_of(edit(&*f)), field, "case {field}");
    }
    // The default document itself is valid, and comes back unchanged through its JSON.
    let back = MethodsPolicy::from_json(&default.to_json()).unwrap();
    assert_eq!(back.clone().validated(&[]).unwrap(), back);
}

#[tokio::test]
async fn only_policy_administrators_change_the_policy_and_every_change_is_audited() {
    let f = fixture();
    let (t, alice) = setup(&f, Some("violet-tuba-engine")).await;
    let disable = |p: MethodsPolicy| {
        let mut p = p;
        p.software_oath.state = State::Disabled;
        Ok(p)
    };
    let r = policy::change(&f.deps, &t, &Actor::User(alice.clone()), "disable", disable).await;
    assert!(matches!(r, Err(CoreError::Forbidden(_))), "{r:?}");
    assert!(f.store.list_audit(&t.id, 10).await.unwrap().is_empty());

    f.store
        .assign_role(&alice.id, AdminRole::AuthenticationPolicyAdministrator)
        .await
        .unwrap();
    policy::change(&f.deps, &t, &Actor::User(alice.clone()), "disable", disable)
        .await
        .unwrap();
    // The same change again changes nothing and writes nothing.
    policy::change(&f.deps, &t, &Actor::User(alice.clone()), "disable", disable)
        .await
        .unwrap();
    let log = f.store.list_audit(&t.id, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, "alice@contoso.com");
    assert_eq!(log[0].action, "disable");
    let before = MethodsPolicy::from_json(log[0].before.as_deref().unwrap()).unwrap();
    let after = MethodsPolicy::from_json(log[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(before.software_oath.state, State::Enabled);
    assert_eq!(after.software_oath.state, State::Disabled);
    assert_eq!(policy::load(&f.deps, &t).await.unwrap().version, 1);
}

#[tokio::test]
async fn a_change_made_in_between_is_not_overwritten() {
    let f = fixture();
    let (t, _) = setup(&f, None).await;
    let mut first = true;
    let deps = f.deps.clone();
    // While this edit is being made, someone else disables hardware OATH: the edit is applied
    // again to their document, so both changes are kept.
    let t2 = t.clone();
    policy::change(&f.deps, &t, &operator(), "mine", |mut p| {
        if std::mem::take(&mut first) {
            let deps = deps.clone();
            let t2 = t2.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(set_state_deps(&deps, &t2))
            })
            .join()
            .unwrap();
        }
        p.software_oath.state = State::Disabled;
        Ok(p)
    })
    .await
    .unwrap();
    let p = policy::load(&f.deps, &t).await.unwrap();
    assert_eq!(p.policy.software_oath.state, State::Disabled);
    assert_eq!(p.policy.hardware_oath.state, State::Disabled);
    assert_eq!(p.version, 2);
}

async fn set_state_deps(deps: &crate::Deps, t: &Tenant) {
    policy::change(deps, t, &operator(), "theirs", |mut p| {
        p.hardware_oath.state = State::Disabled;
        Ok(p)
    })
    .await
    .unwrap();
}

/// A flow for an application that requires MFA, for alice, past her password; with the account
/// as it was before the password.
async fn past_the_password(f: &Fixture, t: &Tenant, u: &User) -> (SignInFlow, Account) {
    let mut fl = crate::signin::session::start_flow(&f.deps, t, None, true, &[])
        .await
        .unwrap();
    let next = flow::identify(&f.deps, t, &mut fl, "alice", &[])
        .await
        .unwrap();
    assert_eq!(next, Next::Method(Method::Password));
    let acc = flow::account(&f.deps, t, Some(u)).await.unwrap();
    flow::proved(&f.deps, t, &mut fl, u, Method::Password, &[])
        .await
        .unwrap();
    (fl, acc)
}

#[tokio::test]
async fn more_information_required_registers_an_app_that_counts_as_the_second_factor() {
    let f = fixture();
    let (t, u) = setup(&f, Some("violet-tuba-engine")).await;
    let (mut fl, acc) = past_the_password(&f, &t, &u).await;
    assert_eq!(fl.state.step, Step::MoreInformationRequired);
    let tok = flow::begin_registration(&f.deps, &acc, &mut fl, &u)
        .await
        .unwrap();
    assert_eq!(
        fl.state.step,
        Step::Register {
            token_id: tok.id.clone()
        }
    );
    assert_eq!(
        flow::finish_registration(&f.deps, &t, &mut fl, &u, "000000")
            .await
            .unwrap(),
        None,
        "a wrong code proves nothing"
    );
    let now = crate::clock::Clock::now(f.clock.as_ref());
    let code = tok.code_at_step(tok.step_at(now)).unwrap();
    let next = flow::finish_registration(&f.deps, &t, &mut fl, &u, &code)
        .await
        .unwrap();
    assert_eq!(next, Some(Next::Done));
    assert_eq!(flow::amr(&fl.state.proofs), vec!["pwd", "otp", "mfa"]);
}

#[tokio::test]
async fn registration_is_refused_when_the_policy_disallows_the_app() {
    let f = fixture();
    let (t, u) = setup(&f, Some("violet-tuba-engine")).await;
    set_state(&f, &t, MethodId::SoftwareOath, State::Disabled).await;
    let (mut fl, acc) = past_the_password(&f, &t, &u).await;
    let r = flow::begin_registration(&f.deps, &acc, &mut fl, &u).await;
    assert!(matches!(r, Err(CoreError::MethodNotSupported)), "{r:?}");
}

#[tokio::test]
async fn a_method_not_on_offer_cannot_be_chosen() {
    let f = fixture();
    let (t, _) = setup(&f, Some("violet-tuba-engine")).await;
    let mut fl = crate::signin::session::start_flow(&f.deps, &t, None, false, &[])
        .await
        .unwrap();
    flow::identify(&f.deps, &t, &mut fl, "alice", &[])
        .await
        .unwrap();
    let acc = flow::account(&f.deps, &t, None).await.unwrap();
    let r = flow::choose(&acc, &mut fl, Method::Code);
    assert!(matches!(r, Err(CoreError::MethodNotSupported)));
    assert!(flow::choose(&acc, &mut fl, Method::Password).is_ok());
}

#[tokio::test]
async fn security_info_shows_and_deletes_only_what_the_policy_allows() {
    use crate::methods::{self, Change};
    let f = fixture();
    let (t, u) = setup(&f, Some("violet-tuba-engine")).await;
    with_app(&f, &t, &u).await;
    let (cookie, s) = crate::signin::session::create_session(
        &f.deps,
        &u,
        vec!["pwd".into(), "otp".into(), "mfa".into()],
        crate::clock::Clock::now(f.clock.as_ref()),
        None,
    )
    .await
    .unwrap();
    let m = methods::of_user(&f.deps, &t, &u).await.unwrap();
    assert!(m.can_add_app && m.has_second_factor());
    let id = m.tokens[0].id.clone();

    set_state(&f, &t, MethodId::SoftwareOath, State::Disabled).await;
    let m = methods::of_user(&f.deps, &t, &u).await.unwrap();
    assert!(m.tokens.is_empty() && !m.can_add_app);
    let r = methods::delete(&f.deps, &t, &s, &cookie, &u, &id).await;
    assert!(
        matches!(r, Err(CoreError::NotFound { .. })),
        "hidden, not deletable"
    );
    let r = methods::begin_app(&f.deps, &t, &s, &u).await;
    assert!(matches!(r, Err(CoreError::MethodNotSupported)));

    set_state(&f, &t, MethodId::SoftwareOath, State::Enabled).await;
    // An old sign-in must sign in again first.
    f.clock.advance(crate::signin::session::RECENT_AUTH + 1);
    let r = methods::delete(&f.deps, &t, &s, &cookie, &u, &id).await;
    assert!(matches!(r, Ok(Change::SignInAgain)));
    assert_eq!(f.store.oath_tokens_of_user(&u.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_session_alone_never_registers_a_second_factor() {
    let f = fixture();
    let (t, u) = setup(&f, Some("violet-tuba-engine")).await;
    let (_, s) = crate::signin::session::create_session(
        &f.deps,
        &u,
        vec!["pwd".into()],
        crate::clock::Clock::now(f.clock.as_ref()),
        None,
    )
    .await
    .unwrap();
    // Step-up for an app that needs MFA, from a password session, for a user with no second
    // factor: the password is asked for again rather than registration offered on the session.
    let mut fl = crate::signin::session::start_flow(&f.deps, &t, None, true, &[])
        .await
        .unwrap();
    let next = flow::resume(&f.deps, &t, &mut fl, &s, &u, &[])
        .await
        .unwrap();
    assert_eq!(next, Next::Method(Method::Password));
    assert!(fl.state.proofs.is_empty());
    // And a first factor proved too long ago can't bind one either.
    let (mut fl, acc) = past_the_password(&f, &t, &u).await;
    assert_eq!(fl.state.step, Step::MoreInformationRequired);
    f.clock.advance(crate::signin::session::RECENT_AUTH + 1);
    let r = flow::begin_registration(&f.deps, &acc, &mut fl, &u).await;
    assert!(matches!(r, Err(CoreError::FlowExpired)), "{r:?}");
    // With a user who has one, only the code is asked for.
    with_app(&f, &t, &u).await;
    let mut fl = crate::signin::session::start_flow(&f.deps, &t, None, true, &[])
        .await
        .unwrap();
    let next = flow::resume(&f.deps, &t, &mut fl, &s, &u, &[])
        .await
        .unwrap();
    assert_eq!(next, Next::Method(Method::Code));
}
