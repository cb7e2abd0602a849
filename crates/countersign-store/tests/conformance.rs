//! One conformance suite for every `Store` backend: each test runs against SQLite (a temporary
//! directory), PostgreSQL (a schema of its own) and the core's in-memory store (its unit tests'
//! fake must keep the same contract). Atomicity rules are checked under parallel load.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::clock::Timestamp;
use countersign_core::methods::oath::{CodeDecision, OathAlgorithm, OathToken};
use countersign_core::methods::passkey::{PasskeyCredential, PasskeyUse, Recorded};
use countersign_core::methods::push::{self, Activation, Device, PushRequest, PushState};
use countersign_core::methods::tap::TemporaryAccessPass;
use countersign_core::model::OathKind;
use countersign_core::model::*;
use countersign_core::policy::{MethodsPolicy, State};
use countersign_core::secret::Secret;
use countersign_core::signin::flow;
use countersign_core::signin::throttle::{self, LockoutPolicy, Release};
use countersign_core::store::*;
use countersign_core::StoreError;
use countersign_store::SqlStore;
use std::sync::Arc;

const NOW: Timestamp = 1_800_000_000;

fn tenant(id: &str, name: &str, domains: &[&str]) -> Tenant {
    Tenant {
        id: id.into(),
        name: name.into(),
        display_name: format!("{name} Ltd"),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        created_at: NOW,
    }
}

fn user(id: &str, tenant_id: &str, upn: &str) -> User {
    User {
        id: id.into(),
        tenant_id: tenant_id.into(),
        upn: upn.into(),
        display_name: "Some One".into(),
        email: Some("someone@mail.example".into()),
        enabled: true,
        password_hash: Some(Secret::new("$argon2id$v=19$m=19456,t=2,p=1$x$y")),
        created_at: NOW,
        updated_at: NOW,
        tokens_valid_after: 0,
        push_blocked_at: None,
    }
}

fn client(id: &str, tenant_id: &str) -> OidcClient {
    OidcClient {
        id: id.into(),
        tenant_id: tenant_id.into(),
        name: "App".into(),
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://localhost:9/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example/bye".into()],
        secret_digest: Some(Secret::new("abc")),
        id_token_alg: SigningAlg::RS256,
        created_at: NOW,
        require_mfa: true,
    }
}

/// How many of parallel attempts succeeded.
async fn wins(tasks: Vec<tokio::task::JoinHandle<bool>>) -> usize {
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    won
}

/// A tenant "t1" with user "u1" and client "c1".
async fn seed(s: &dyn Store) {
    s.insert_tenant(&tenant("t1", "contoso", &["contoso.com", "contoso.org"]))
        .await
        .unwrap();
    s.insert_user(&user("u1", "t1", "alice@contoso.com"))
        .await
        .unwrap();
    s.insert_client(&client("c1", "t1")).await.unwrap();
}

fn grant(id: &str) -> Grant {
    Grant {
        id: id.into(),
        tenant_id: "t1".into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        scope: "openid offline_access".into(),
        nonce: Some("n".into()),
        auth_time: NOW,
        amr: vec!["pwd".into()],
        created_at: NOW,
        expires_at: NOW + 1000,
        revoked_at: None,
    }
}

fn code(digest: &str) -> AuthCode {
    AuthCode {
        code_digest: digest.into(),
        tenant_id: "t1".into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: "ch".into(),
        auth_time: NOW,
        amr: vec!["pwd".into()],
        session_digest: None,
        created_at: NOW,
        expires_at: NOW + 300,
        used_at: None,
        grant_id: None,
    }
}

fn refresh(digest: &str, grant_id: &str) -> RefreshToken {
    RefreshToken {
        token_digest: digest.into(),
        grant_id: grant_id.into(),
        created_at: NOW,
        expires_at: NOW + 100,
        used_at: None,
    }
}

async fn tenants_roundtrip_and_conflicts(s: Arc<dyn Store>) {
    s.ping().await.expect("the health check's ping answers");
    seed(s.as_ref()).await;
    let t = s.tenant_by_name("contoso").await.unwrap().unwrap();
    assert_eq!(t.domains, vec!["contoso.com", "contoso.org"]);
    assert_eq!(s.tenant_by_id("t1").await.unwrap().unwrap(), t);
    let dup = s.insert_tenant(&tenant("t2", "contoso", &["x.com"])).await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m == "tenant contoso"));
    // a domain belongs to one tenant only, and a failed insert leaves nothing behind
    let dup = s
        .insert_tenant(&tenant("t3", "fabrikam", &["contoso.com"]))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m == "domain contoso.com"));
    assert!(s.tenant_by_name("fabrikam").await.unwrap().is_none());
    let mut t2 = t.clone();
    t2.display_name = "Contoso Pharmaceuticals".into();
    t2.domains = vec!["contoso.org".into(), "contoso.net".into()];
    s.update_tenant(&t2).await.unwrap();
    assert_eq!(s.tenant_by_id("t1").await.unwrap().unwrap(), t2);
    assert_eq!(s.list_tenants().await.unwrap().len(), 1);
}

async fn users_roundtrip_and_uniqueness(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let u = s
        .user_by_upn("t1", "alice@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u, user("u1", "t1", "alice@contoso.com"));
    let dup = s.insert_user(&user("u2", "t1", "alice@contoso.com")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    let mut u2 = user("u2", "t1", "bob@contoso.com");
    u2.password_hash = None;
    u2.email = None;
    s.insert_user(&u2).await.unwrap();
    assert_eq!(s.user_by_id("u2").await.unwrap().unwrap(), u2);
    let mut u3 = u.clone();
    u3.enabled = false;
    u3.display_name = "Alice A.".into();
    s.update_user(&u3).await.unwrap();
    assert_eq!(s.user_by_id("u1").await.unwrap().unwrap(), u3);
    // renaming onto an existing name is a conflict
    u3.upn = "bob@contoso.com".into();
    assert!(matches!(
        s.update_user(&u3).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.list_users("t1").await.unwrap().len(), 2);
    assert!(s.delete_user("u2").await.unwrap());
    assert!(!s.delete_user("u2").await.unwrap());
}

async fn groups_and_roles(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let g = Group {
        id: "g1".into(),
        tenant_id: "t1".into(),
        name: "Sales".into(),
        description: "the sales team".into(),
        created_at: NOW,
    };
    s.insert_group(&g).await.unwrap();
    assert!(matches!(
        s.insert_group(&Group {
            id: "g2".into(),
            ..g.clone()
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.add_member("g1", "u1").await.unwrap());
    assert!(!s.add_member("g1", "u1").await.unwrap());
    assert_eq!(s.group_members("g1").await.unwrap()[0].id, "u1");
    assert_eq!(s.groups_of_user("u1").await.unwrap(), vec![g.clone()]);
    assert!(s.remove_member("g1", "u1").await.unwrap());
    assert!(!s.remove_member("g1", "u1").await.unwrap());
    assert!(s
        .assign_role("u1", AdminRole::GlobalAdministrator)
        .await
        .unwrap());
    assert!(!s
        .assign_role("u1", AdminRole::GlobalAdministrator)
        .await
        .unwrap());
    assert_eq!(
        s.roles_of_user("u1").await.unwrap(),
        vec![AdminRole::GlobalAdministrator]
    );
    assert!(s
        .unassign_role("u1", AdminRole::GlobalAdministrator)
        .await
        .unwrap());
    assert!(s.roles_of_user("u1").await.unwrap().is_empty());
    assert!(s.delete_group("g1").await.unwrap());
}

async fn clients_roundtrip(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let c = s.client_by_id("c1").await.unwrap().unwrap();
    assert_eq!(c, client("c1", "t1"));
    assert!(matches!(
        s.insert_client(&c).await,
        Err(StoreError::Conflict(_))
    ));
    let mut c2 = c.clone();
    c2.secret_digest = None;
    c2.id_token_alg = SigningAlg::ES256;
    c2.redirect_uris = vec!["https://other.example/cb".into()];
    s.update_client(&c2).await.unwrap();
    assert_eq!(s.client_by_id("c1").await.unwrap().unwrap(), c2);
    assert_eq!(s.list_clients("t1").await.unwrap().len(), 1);
    assert!(s.delete_client("c1").await.unwrap());
}

async fn reservations_never_exceed_the_policy_in_parallel(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.reserve_attempt(
                &[
                    ("acct:x", LockoutPolicy::ACCOUNT),
                    ("addr:y", LockoutPolicy::ADDRESS),
                ],
                NOW,
            )
            .await
            .unwrap()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap() as usize;
    }
    assert_eq!(granted, 10, "the account policy allows ten attempts");
    let st = s
        .throttle_states(&["acct:x", "addr:y", "other"])
        .await
        .unwrap();
    assert_eq!((st[0].failures, st[0].last_failure_at), (10, NOW));
    assert_eq!(
        st[1].failures, 10,
        "a refused attempt counts against no key"
    );
    assert_eq!(st[2], ThrottleState::default());
    // released: an address takes back one, an account forgets its run
    s.release_attempt(&[("acct:x", Release::Clear), ("addr:y", Release::One)])
        .await
        .unwrap();
    let st = s.throttle_states(&["acct:x", "addr:y"]).await.unwrap();
    assert_eq!(st[0], ThrottleState::default());
    assert_eq!(st[1].failures, 9);
    s.clear_throttle("addr:y").await.unwrap();
    assert_eq!(
        s.throttle_states(&["addr:y"]).await.unwrap(),
        vec![ThrottleState::default()]
    );
}

/// The store's reservation decides exactly as `LockoutPolicy::lock` does, on a grid of failure
/// counts and ages around every boundary of both policies.
async fn reservation_decides_like_the_policy(s: Arc<dyn Store>) {
    let counting = LockoutPolicy {
        threshold: u32::MAX,
        hard_limit: None,
        decay_after: None,
        ..LockoutPolicy::ACCOUNT
    };
    for (pi, policy) in [LockoutPolicy::ACCOUNT, LockoutPolicy::ADDRESS]
        .iter()
        .enumerate()
    {
        for failures in [0u32, 1, 9, 10, 11, 12, 16, 50, 99, 100] {
            for age in [0i64, 59, 60, 119, 120, 3599, 3600, 3601, 7200, 86400, 86401] {
                let key = format!("grid:{pi}:{failures}:{age}");
                for _ in 0..failures {
                    assert!(s.reserve_attempt(&[(&key, counting)], NOW).await.unwrap());
                }
                let state = ThrottleState {
                    failures,
                    last_failure_at: NOW,
                };
                let expected = !policy.lock(&state, NOW + age).is_locked();
                let granted = s
                    .reserve_attempt(&[(&key, *policy)], NOW + age)
                    .await
                    .unwrap();
                assert_eq!(
                    granted, expected,
                    "policy {pi}, {failures} failures, {age} s later"
                );
            }
        }
    }
}

async fn flows_and_sessions(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let mut f = SignInFlow {
        id: "f1".into(),
        tenant_id: "t1".into(),
        csrf: "c".into(),
        request: Some(AuthorizeRequest {
            client_id: "c1".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: "openid".into(),
            state: Some("st".into()),
            nonce: None,
            code_challenge: "ch".into(),
            prompt: None,
            max_age: Some(10),
            login_hint: None,
            acr_values: Some("urn:countersign:acr:mfa".into()),
        }),
        state: flow::new_state(true),
        return_to: Some("/contoso/security-info".into()),
        created_at: NOW,
        expires_at: NOW + 900,
    };
    s.insert_flow(&f).await.unwrap();
    assert_eq!(s.flow_by_id("f1").await.unwrap().unwrap(), f);
    f.state.username = Some("alice@contoso.com".into());
    f.state.user_id = Some("u1".into());
    f.state.step = flow::Step::Method {
        method: flow::Method::Code,
    };
    f.state
        .proofs
        .push(flow::Proof::new(flow::Method::Password, NOW));
    s.update_flow(&f).await.unwrap();
    assert_eq!(s.flow_by_id("f1").await.unwrap().unwrap(), f);
    f.state.step = flow::Step::Register {
        token_id: "tok".into(),
    };
    s.update_flow(&f).await.unwrap();
    assert_eq!(s.flow_by_id("f1").await.unwrap().unwrap(), f);
    // Only the row read is taken: not one stored again under its id since.
    assert!(!s.delete_flow("f1", "another row's").await.unwrap());
    assert!(s.flow_by_id("f1").await.unwrap().is_some());
    assert!(s.delete_flow("f1", &f.csrf).await.unwrap());
    assert!(s.flow_by_id("f1").await.unwrap().is_none());
    assert!(
        !s.delete_flow("f1", &f.csrf).await.unwrap(),
        "a flow is taken once"
    );

    let sess = |d: &str| Session {
        id_digest: d.into(),
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        csrf: "x".into(),
        auth_time: NOW,
        amr: vec!["pwd".into()],
        created_at: NOW,
        last_seen_at: NOW,
    };
    for d in ["s1", "s2"] {
        s.insert_session(&sess(d), None).await.unwrap();
    }
    // A finished sign-in: its session starts and its flow ends in one write.
    s.insert_flow(&f).await.unwrap();
    s.insert_session(&sess("s3"), Some("f1")).await.unwrap();
    assert!(s.flow_by_id("f1").await.unwrap().is_none());
    assert!(s.session_by_digest("s3").await.unwrap().is_some());
    s.touch_session("s1", NOW + 5).await.unwrap();
    assert_eq!(
        s.session_by_digest("s1")
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        NOW + 5
    );
    assert_eq!(
        s.revoke_user_access("u1", NOW, Some("s1")).await.unwrap(),
        2
    );
    assert!(s.session_by_digest("s1").await.unwrap().is_some());
    s.delete_session("s1").await.unwrap();
    assert!(s.session_by_digest("s1").await.unwrap().is_none());
}

/// An account event ends the user's access in one write: sessions but the kept one, grants (and
/// with them refresh tokens), unredeemed codes; and access tokens by `tokens_valid_after`, which
/// an ordinary update of the user leaves alone.
async fn revoking_a_users_access(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_grant(&grant("g1")).await.unwrap();
    s.insert_refresh(&refresh("r1", "g1")).await.unwrap();
    s.insert_code(&code("c-unused")).await.unwrap();
    s.insert_code(&code("c-used")).await.unwrap();
    s.insert_grant(&grant("g2")).await.unwrap();
    assert!(matches!(
        s.consume_code("c-used", NOW, "g2").await.unwrap(),
        Consumed::Fresh(_)
    ));
    assert_eq!(s.revoke_user_access("u1", NOW + 7, None).await.unwrap(), 0);
    let (_, g) = s.refresh_with_grant("r1").await.unwrap().unwrap();
    assert_eq!(g.revoked_at, Some(NOW + 7));
    assert!(s.code_by_digest("c-unused").await.unwrap().is_none());
    assert!(s.code_by_digest("c-used").await.unwrap().is_some());
    let mut u = s.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(u.tokens_valid_after, NOW + 7);
    u.tokens_valid_after = 0;
    u.display_name = "Renamed".into();
    s.update_user(&u).await.unwrap();
    let u = s.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(
        (u.display_name.as_str(), u.tokens_valid_after),
        ("Renamed", NOW + 7)
    );
    // a later revocation leaves an earlier revocation time of a grant as it was
    s.revoke_user_access("u1", NOW + 9, None).await.unwrap();
    assert_eq!(
        s.grant_by_id("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 7)
    );
}

async fn code_is_consumed_exactly_once_in_parallel(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_code(&code("d1")).await.unwrap();
    assert_eq!(s.code_by_digest("d1").await.unwrap().unwrap(), code("d1"));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_code("d1", NOW + 1, &format!("g{i}"))
                .await
                .unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Consumed::Fresh(c) => {
                fresh += 1;
                assert_eq!(c.used_at, Some(NOW + 1));
            }
            Consumed::Replayed(c) => assert!(c.grant_id.is_some()),
            Consumed::Missing => panic!("code vanished"),
        }
    }
    assert_eq!(fresh, 1);
    assert_eq!(
        s.consume_code("nope", NOW, "g").await.unwrap(),
        Consumed::Missing
    );
}

async fn refresh_rotates_exactly_once_in_parallel(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_grant(&grant("g1")).await.unwrap();
    assert_eq!(s.grant_by_id("g1").await.unwrap().unwrap(), grant("g1"));
    s.insert_refresh(&refresh("r1", "g1")).await.unwrap();
    let (r, g) = s.refresh_with_grant("r1").await.unwrap().unwrap();
    assert_eq!((r, g), (refresh("r1", "g1"), grant("g1")));
    assert!(s.refresh_with_grant("nope").await.unwrap().is_none());
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.rotate_refresh("r1", NOW + 1, &refresh(&format!("r1-{i}"), "g1"))
                .await
                .unwrap()
        }));
    }
    let mut fresh = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if let Consumed::Fresh(_) = t.await.unwrap() {
            fresh.push(i);
        }
    }
    assert_eq!(fresh.len(), 1);
    // only the winner's new token was stored
    for i in 0..30 {
        let stored = s
            .refresh_by_digest(&format!("r1-{i}"))
            .await
            .unwrap()
            .is_some();
        assert_eq!(stored, fresh.contains(&i), "token r1-{i}");
    }
    s.revoke_grant("g1", NOW + 2).await.unwrap();
    s.revoke_grant("g1", NOW + 3).await.unwrap();
    assert_eq!(
        s.grant_by_id("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 2)
    );
    s.delete_grant("g1").await.unwrap();
    assert!(
        s.refresh_by_digest("r1").await.unwrap().is_none(),
        "tokens go with their grant"
    );
}

async fn signing_keys_and_signin_log(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let k = SigningKey {
        kid: "k1".into(),
        alg: SigningAlg::ES256,
        private_pkcs8: Secret::new("AAAA"),
        created_at: NOW,
        retired_at: None,
    };
    s.insert_signing_key(&k).await.unwrap();
    s.retire_signing_key("k1", NOW + 1).await.unwrap();
    assert_eq!(
        s.list_signing_keys().await.unwrap()[0].retired_at,
        Some(NOW + 1)
    );
    s.delete_signing_key("k1").await.unwrap();
    assert!(s.list_signing_keys().await.unwrap().is_empty());

    for i in 0..5 {
        s.append_signin(&SignInLogEntry {
            id: format!("e{i}"),
            tenant_id: "t1".into(),
            at: NOW, // same second: order must still be insertion order
            user_id: (i % 2 == 0).then(|| "u1".to_string()),
            typed_name: "alice@contoso.com".into(),
            client_id: Some("c1".into()),
            client_addr: Some("192.0.2.1".into()),
            method: "password".into(),
            result: if i == 4 {
                SignInResult::Success
            } else {
                SignInResult::Failure
            },
            failure_reason: (i != 4).then(|| "wrong password".to_string()),
        })
        .await
        .unwrap();
    }
    let log = s.list_signins("t1", 3).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e4", "e3", "e2"]
    );
    assert_eq!(log[0].result, SignInResult::Success);
    assert_eq!(log[1].user_id, None);
}

async fn deleting_a_tenant_removes_everything_in_it(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_grant(&grant("g1")).await.unwrap();
    s.insert_refresh(&refresh("r1", "g1")).await.unwrap();
    s.insert_code(&code("d1")).await.unwrap();
    assert!(s.delete_tenant("t1").await.unwrap());
    assert!(s.user_by_id("u1").await.unwrap().is_none());
    assert!(s.client_by_id("c1").await.unwrap().is_none());
    assert!(s.code_by_digest("d1").await.unwrap().is_none());
    assert!(s.refresh_by_digest("r1").await.unwrap().is_none());
    // its domains are free again
    s.insert_tenant(&tenant("t9", "contoso", &["contoso.com"]))
        .await
        .unwrap();
}

async fn purge_removes_only_expired(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_code(&code("d1")).await.unwrap();
    s.insert_grant(&grant("g1")).await.unwrap();
    let mut r = refresh("r1", "g1");
    r.expires_at = NOW + 500;
    s.insert_refresh(&r).await.unwrap();
    assert_eq!(s.purge_expired(NOW, 3600).await.unwrap(), 0);
    s.purge_expired(NOW + 301, 3600).await.unwrap();
    assert!(s.code_by_digest("d1").await.unwrap().is_none());
    assert!(s.refresh_by_digest("r1").await.unwrap().is_some());
    s.purge_expired(NOW + 1001, 3600).await.unwrap();
    assert!(s.grant_by_id("g1").await.unwrap().is_none());

    // Throttle counters: forgotten ones go, whatever their key; permanent locks stay.
    let counting = LockoutPolicy {
        threshold: u32::MAX,
        hard_limit: None,
        decay_after: None,
        ..LockoutPolicy::ACCOUNT
    };
    for (key, n) in [
        ("acct:t1:typed@contoso.com", 3),
        ("acct:t1:perm", 100),
        ("addr:z", 1),
    ] {
        for _ in 0..n {
            assert!(s.reserve_attempt(&[(key, counting)], NOW).await.unwrap());
        }
    }
    let keys = ["acct:t1:typed@contoso.com", "acct:t1:perm", "addr:z"];
    let failures = |st: Vec<ThrottleState>| st.iter().map(|t| t.failures).collect::<Vec<_>>();
    s.purge_expired(NOW + throttle::FORGOTTEN_AFTER, 3600)
        .await
        .unwrap();
    assert_eq!(
        failures(s.throttle_states(&keys).await.unwrap()),
        [3, 100, 1]
    );
    s.purge_expired(NOW + throttle::FORGOTTEN_AFTER + 1, 3600)
        .await
        .unwrap();
    assert_eq!(
        failures(s.throttle_states(&keys).await.unwrap()),
        [0, 100, 0]
    );
}

fn oath(id: &str, serial: Option<&str>) -> OathToken {
    OathToken {
        id: id.into(),
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        kind: if serial.is_some() {
            OathKind::Hardware
        } else {
            OathKind::Software
        },
        name: "Token".into(),
        serial: serial.map(str::to_string),
        manufacturer: Some("Contoso".into()),
        model: Some("T1".into()),
        secret: Secret::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
        algorithm: OathAlgorithm::Sha256,
        digits: 8,
        period: 60,
        active: false,
        created_at: NOW,
        last_used_at: None,
        last_step: 0,
        failures: Default::default(),
    }
}

async fn oath_tokens_roundtrip_and_import_is_all_or_nothing(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_oath_tokens(&[oath("o1", Some("100")), oath("o2", None)])
        .await
        .unwrap();
    assert_eq!(
        s.oath_tokens_of_user("u1").await.unwrap(),
        vec![oath("o1", Some("100")), oath("o2", None)]
    );
    // a duplicate serial fails the whole batch
    let dup = s
        .insert_oath_tokens(&[oath("o3", Some("101")), oath("o4", Some("100"))])
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m == "hardware token 100"));
    // Listed without their secrets, by user and by tenant, in the same order.
    let listed = vec![oath("o1", Some("100")).info(), oath("o2", None).info()];
    assert_eq!(s.oath_token_list("u1").await.unwrap(), listed);
    assert_eq!(s.list_oath_tokens("t1").await.unwrap(), listed);
    assert!(s.oath_token_list("nobody").await.unwrap().is_empty());
    s.set_oath_active("o1", true).await.unwrap();
    assert!(s.oath_tokens_of_user("u1").await.unwrap()[0].active);
    let failed = |step| {
        let s = s.clone();
        async move {
            let d = s
                .decide_code("otp:u1", LockoutPolicy::ACCOUNT, NOW, None, &[("o1", step)])
                .await
                .unwrap();
            assert_eq!(d, CodeDecision::Rejected);
            s.oath_tokens_of_user("u1").await.unwrap().remove(0)
        }
    };
    failed(7).await;
    let o1 = failed(7).await;
    assert_eq!((o1.failures_in(7), o1.failures_in(8)), (2, 0));
    assert_eq!(failed(8).await.failures_in(8), 1);
    assert_eq!(
        s.throttle_states(&["otp:u1"]).await.unwrap()[0].failures,
        3,
        "every wrong code counts against the user"
    );
    assert!(s.delete_oath_token("o2").await.unwrap());
    assert!(!s.delete_oath_token("o2").await.unwrap());
}

async fn a_code_step_is_accepted_exactly_once_in_parallel(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_oath_tokens(&[oath("o1", None)]).await.unwrap();
    let decide = |step: i64| {
        let s = s.clone();
        async move {
            s.decide_code(
                "otp:u1",
                LockoutPolicy::ACCOUNT,
                NOW,
                Some(("o1", step)),
                &[("o1", 1000)],
            )
            .await
            .unwrap()
        }
    };
    let mut tasks = Vec::new();
    for _ in 0..30 {
        tasks.push(tokio::spawn(decide(1000)));
    }
    let mut decisions = Vec::new();
    for t in tasks {
        decisions.push(t.await.unwrap());
    }
    let wins = decisions
        .iter()
        .filter(|d| **d == CodeDecision::Accepted)
        .count();
    assert_eq!(wins, 1, "{decisions:?}");
    // the others were decided as failures, no more than the lockout allows; the rest refused
    let rejected = decisions
        .iter()
        .filter(|d| **d == CodeDecision::Rejected)
        .count();
    assert!(rejected <= 10, "{decisions:?}");
    s.clear_throttle("otp:u1").await.unwrap();
    assert_eq!(
        decide(999).await,
        CodeDecision::Rejected,
        "older steps are replays"
    );
    assert_eq!(s.throttle_states(&["otp:u1"]).await.unwrap()[0].failures, 1);
    assert_eq!(decide(1001).await, CodeDecision::Accepted);
    assert_eq!(
        s.throttle_states(&["otp:u1"]).await.unwrap()[0].failures,
        0,
        "an accepted code gives its reservation back"
    );
    let t = &s.oath_tokens_of_user("u1").await.unwrap()[0];
    assert_eq!((t.last_step, t.last_used_at), (1001, Some(NOW)));
}

fn audit(id: &str, at: Timestamp) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        tenant_id: "t1".into(),
        at,
        actor: "operator:root".into(),
        action: "policy.set".into(),
        target: "authenticationMethodsPolicy".into(),
        before: Some("{}".into()),
        after: None,
    }
}

async fn policy_versions_and_audit(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    assert!(s.methods_policy("t1").await.unwrap().is_none());
    let (u, none) = s.user_with_policy("u1").await.unwrap().unwrap();
    assert_eq!((u.upn.as_str(), none), ("alice@contoso.com", None));
    assert!(s.user_with_policy("nobody").await.unwrap().is_none());
    let mut p = MethodsPolicy::default();
    p.software_oath.state = State::Disabled;
    // Of many changes made from the same version, exactly one is written, with its audit entry.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (s, p) = (s.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            s.save_methods_policy("t1", &p, 0, &audit(&format!("a{i}"), NOW))
                .await
                .unwrap()
        }));
    }
    assert_eq!(wins(tasks).await, 1);
    let stored = s.methods_policy("t1").await.unwrap().unwrap();
    assert_eq!((stored.policy.clone(), stored.version), (p.clone(), 1));
    assert_eq!(s.list_audit("t1", 50).await.unwrap().len(), 1);
    // A stale version is refused and writes no audit entry; the right one moves on.
    assert!(!s
        .save_methods_policy("t1", &MethodsPolicy::default(), 0, &audit("stale", NOW + 1))
        .await
        .unwrap());
    assert!(s
        .save_methods_policy("t1", &MethodsPolicy::default(), 1, &audit("next", NOW + 2))
        .await
        .unwrap());
    let log = s.list_audit("t1", 50).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0],
        audit("next", NOW + 2),
        "newest first, every field kept"
    );
    assert_eq!(s.methods_policy("t1").await.unwrap().unwrap().version, 2);
    // A user is read with their own tenant's policy, not another's.
    let (_, with) = s.user_with_policy("u1").await.unwrap().unwrap();
    assert_eq!(with.map(|p| p.version), Some(2));
    s.insert_tenant(&tenant("t2", "fabrikam", &["fabrikam.com"]))
        .await
        .unwrap();
    s.insert_user(&user("u2", "t2", "bob@fabrikam.com"))
        .await
        .unwrap();
    assert_eq!(s.user_with_policy("u2").await.unwrap().unwrap().1, None);
    // Entries of the same second keep the order they were written in.
    assert!(s
        .save_methods_policy("t1", &p, 2, &audit("third", NOW + 2))
        .await
        .unwrap());
    let ids: Vec<String> = s
        .list_audit("t1", 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids[..2], ["third".to_string(), "next".to_string()]);
    assert!(s.list_audit("other", 50).await.unwrap().is_empty());
}

fn activation(digest: &str, expires_at: Timestamp) -> Activation {
    Activation {
        code_digest: digest.into(),
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        created_at: NOW,
        expires_at,
        with_codes: false,
    }
}

/// The verification codes a registering device offers to take: the store keeps them only when
/// the activation allows codes, for the activation's user.
fn codes(id: &str) -> OathToken {
    OathToken {
        tenant_id: String::new(),
        user_id: String::new(),
        active: true,
        ..oath(id, None)
    }
}

/// A device as it asks to be registered in tenant t1: its user comes from the activation code.
fn device(id: &str) -> Device {
    Device {
        id: id.into(),
        tenant_id: "t1".into(),
        user_id: String::new(),
        name: format!("phone {id}"),
        public_key: "BPub".into(),
        app_version: "1.4.0".into(),
        platform: "linux".into(),
        created_at: NOW,
        last_seen_at: None,
        oath_token_id: None,
        phone_key: None,
        phone_enabled_at: None,
    }
}

async fn devices_register_once_per_activation_code(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_activation(&activation("act1", NOW + 600))
        .await
        .unwrap();
    assert!(matches!(
        s.insert_activation(&activation("act1", NOW + 600)).await,
        Err(StoreError::Conflict(_))
    ));
    // A code of another tenant registers nothing, and stays usable in its own.
    let elsewhere = Device {
        tenant_id: "t2".into(),
        ..device("d-elsewhere")
    };
    assert_eq!(
        s.register_device("act1", NOW + 1, &elsewhere, &codes("c-elsewhere"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.device_by_id("d-elsewhere").await.unwrap(), None);
    // Of many registrations with one code, exactly one is made, bound to the code's user.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.register_device(
                "act1",
                NOW + 1,
                &device(&format!("d{i}")),
                &codes(&format!("c{i}")),
            )
            .await
            .unwrap()
        }));
    }
    let mut made = Vec::new();
    for t in tasks {
        made.extend(t.await.unwrap());
    }
    assert_eq!(made.len(), 1);
    let d = made.pop().unwrap();
    assert_eq!((d.tenant_id.as_str(), d.user_id.as_str()), ("t1", "u1"));
    assert_eq!(d.oath_token_id, None, "this activation gives no codes");
    assert!(s.oath_tokens_of_user("u1").await.unwrap().is_empty());
    assert_eq!(s.device_by_id(&d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(s.devices_of_user("u1").await.unwrap(), vec![d.clone()]);
    // Unknown and expired codes register nothing.
    assert_eq!(
        s.register_device("nope", NOW, &device("x1"), &codes("cx1"))
            .await
            .unwrap(),
        None
    );
    s.insert_activation(&activation("act2", NOW + 10))
        .await
        .unwrap();
    assert_eq!(
        s.register_device("act2", NOW + 10, &device("x2"), &codes("cx2"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.devices_of_user("u1").await.unwrap().len(), 1);
    // A removed device is gone; a user's deletion takes their devices and codes with it.
    assert!(s.delete_device(&d.id).await.unwrap());
    assert!(!s.delete_device(&d.id).await.unwrap());
    assert_eq!(s.device_by_id(&d.id).await.unwrap(), None);
    // With codes: the token is the activation user's, active, named by the device, and goes
    // with it.
    let act = Activation {
        with_codes: true,
        ..activation("act4", NOW + 600)
    };
    s.insert_activation(&act).await.unwrap();
    let both = s
        .register_device("act4", NOW, &device("d-codes"), &codes("c-codes"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(both.oath_token_id.as_deref(), Some("c-codes"));
    let tokens = s.oath_tokens_of_user("u1").await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        (
            tokens[0].id.as_str(),
            tokens[0].user_id.as_str(),
            tokens[0].active
        ),
        ("c-codes", "u1", true)
    );
    assert_eq!(tokens[0].secret, codes("c").secret);
    assert!(s.delete_device("d-codes").await.unwrap());
    assert!(s.oath_tokens_of_user("u1").await.unwrap().is_empty());
    s.insert_activation(&activation("act3", NOW + 600))
        .await
        .unwrap();
    let kept = s
        .register_device("act3", NOW, &device("d-kept"), &codes("c-kept"))
        .await
        .unwrap();
    assert!(kept.is_some());
    assert!(s.delete_user("u1").await.unwrap());
    assert_eq!(s.device_by_id("d-kept").await.unwrap(), None);
}

/// No push fatigue limit.
const ANY: push::Fatigue = push::Fatigue {
    since: 0,
    limit: u64::MAX,
};

/// A request inserted with no reservation and no flow: the ids it withdrew, `None` when the
/// fatigue limit refused it.
async fn send(s: &dyn Store, r: &PushRequest, fatigue: push::Fatigue) -> Option<Vec<String>> {
    match s.insert_push_request(r, fatigue, &[], None).await.unwrap() {
        push::Inserted::Sent { withdrawn } => Some(withdrawn),
        push::Inserted::Fatigued => None,
        push::Inserted::Locked => panic!("no key was reserved"),
    }
}

/// Sending writes the lockout reservation, the request and the waiting flow together, or
/// nothing; an answer settles the request and gives the reservation back together, or neither.
async fn a_request_is_sent_and_settled_with_its_reservation_and_flow(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let mut f = SignInFlow {
        id: "f1".into(),
        tenant_id: "t1".into(),
        csrf: "c".into(),
        request: None,
        state: flow::new_state(false),
        return_to: None,
        created_at: NOW,
        expires_at: NOW + 900,
    };
    s.insert_flow(&f).await.unwrap();
    let before = f.clone();
    f.state.step = flow::Step::Push {
        request_id: "r1".into(),
        passwordless: false,
    };
    let key = "push:t1:alice";
    let two = LockoutPolicy {
        threshold: 2,
        hard_limit: Some(2),
        ..LockoutPolicy::ACCOUNT
    };
    let keys = [(key, two)];
    let failures =
        |s: Arc<dyn Store>| async move { s.throttle_states(&[key]).await.unwrap()[0].failures };
    // The fatigue limit: nothing written, not even the reservation.
    let r1 = push_request("r1", NOW);
    let none = push::Fatigue { since: 0, limit: 0 };
    assert_eq!(
        s.insert_push_request(&r1, none, &keys, Some(&f))
            .await
            .unwrap(),
        push::Inserted::Fatigued
    );
    assert_eq!(failures(s.clone()).await, 0);
    assert_eq!(s.flow_by_id("f1").await.unwrap(), Some(before.clone()));
    assert!(s.push_request("r1").await.unwrap().is_none());
    // Sent: all three written.
    assert_eq!(
        s.insert_push_request(&r1, ANY, &keys, Some(&f))
            .await
            .unwrap(),
        push::Inserted::Sent { withdrawn: vec![] }
    );
    assert_eq!(failures(s.clone()).await, 1);
    assert_eq!(s.flow_by_id("f1").await.unwrap(), Some(f.clone()));
    assert!(s.push_request("r1").await.unwrap().is_some());
    // A locked key: nothing written (r1 stays pending, the flow as it was).
    assert!(s.reserve_attempt(&keys, NOW).await.unwrap());
    let r2 = push_request("r2", NOW + 1);
    let mut moved = f.clone();
    moved.state.step = flow::Step::Push {
        request_id: "r2".into(),
        passwordless: false,
    };
    assert_eq!(
        s.insert_push_request(&r2, ANY, &keys, Some(&moved))
            .await
            .unwrap(),
        push::Inserted::Locked
    );
    assert_eq!(failures(s.clone()).await, 2);
    assert_eq!(s.flow_by_id("f1").await.unwrap(), Some(f.clone()));
    assert!(s.push_request("r2").await.unwrap().is_none());
    assert_eq!(
        s.pending_push_requests("u1", NOW + 1).await.unwrap().len(),
        1
    );
    // A settle that does not happen gives nothing back; one that does, gives back what it names.
    let release = [(key, Release::One)];
    assert!(!s
        .settle_push_request("r1", PushState::Denied, None, r1.expires_at, &release)
        .await
        .unwrap());
    assert_eq!(failures(s.clone()).await, 2);
    assert!(s
        .settle_push_request("r1", PushState::Denied, Some("d1"), NOW + 2, &release)
        .await
        .unwrap());
    assert_eq!(failures(s.clone()).await, 1);
    assert!(!s
        .settle_push_request(
            "r1",
            PushState::Approved,
            None,
            NOW + 3,
            &[(key, Release::Clear)]
        )
        .await
        .unwrap());
    assert_eq!(
        failures(s.clone()).await,
        1,
        "a settled request is settled once"
    );
}

/// Requests older than the window don't count; of parallel sign-ins of one user, no more
/// requests are inserted than the fatigue limit allows.
async fn the_push_fatigue_limit_holds_under_parallel_sign_ins(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let window = |limit| push::Fatigue {
        since: NOW - 600,
        limit,
    };
    for (i, at) in [NOW - 700, NOW - 10].into_iter().enumerate() {
        let r = push_request(&format!("r{i}"), at);
        send(s.as_ref(), &r, ANY).await.unwrap();
    }
    // One in the window: a limit of one refuses the next (writing nothing), two take it.
    let next = push_request("r2", NOW);
    assert_eq!(send(s.as_ref(), &next, window(1)).await, None);
    assert!(s.push_request("r2").await.unwrap().is_none());
    assert!(send(s.as_ref(), &next, window(2)).await.is_some());
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let r = push_request(&format!("p{i}"), NOW);
            let limit = push::Fatigue {
                since: NOW - 600,
                limit: 7,
            };
            send(s.as_ref(), &r, limit).await.is_some()
        }));
    }
    assert_eq!(
        wins(tasks).await,
        5,
        "two in the window already, seven at most"
    );
}

fn push_request(id: &str, created_at: Timestamp) -> PushRequest {
    PushRequest {
        id: id.into(),
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        flow_digest: format!("flow-{id}"),
        number: "42".into(),
        application: Some("Contoso Portal".into()),
        client_id: Some("portal".into()),
        client_addr: Some("203.0.113.7".into()),
        city: None,
        country: Some("Australia".into()),
        created_at,
        expires_at: created_at + 90,
        pushed: true,
        passwordless: false,
        state: PushState::Pending,
        settled_at: None,
        device_id: None,
    }
}

async fn push_requests_supersede_and_settle_once(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let r1 = push_request("r1", NOW);
    assert!(send(s.as_ref(), &r1, ANY).await.unwrap().is_empty());
    assert_eq!(s.push_request("r1").await.unwrap(), Some(r1.clone()));
    // A newer sign-in withdraws the pending one.
    let r2 = push_request("r2", NOW + 5);
    assert_eq!(send(s.as_ref(), &r2, ANY).await.unwrap(), vec!["r1"]);
    let old = s.push_request("r1").await.unwrap().unwrap();
    assert_eq!(
        (old.state, old.settled_at),
        (PushState::Withdrawn, Some(NOW + 5))
    );
    assert_eq!(
        s.pending_push_requests("u1", NOW + 5).await.unwrap(),
        vec![r2.clone()]
    );
    assert!(s
        .pending_push_requests("u1", r2.expires_at)
        .await
        .unwrap()
        .is_empty());
    // Of many answers at once, exactly one settles it.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let dev = format!("d{i}");
            s.settle_push_request("r2", PushState::Approved, Some(&dev), NOW + 6, &[])
                .await
                .unwrap()
        }));
    }
    assert_eq!(wins(tasks).await, 1);
    let done = s.push_request("r2").await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.settled_at),
        (PushState::Approved, Some(NOW + 6))
    );
    assert!(done.device_id.is_some());
    assert!(!s
        .settle_push_request("r2", PushState::Denied, None, NOW + 7, &[])
        .await
        .unwrap());
    // An answer comes before the expiry, the expiry from it on; pending is not an outcome.
    let r3 = push_request("r3", NOW + 10);
    assert!(send(s.as_ref(), &r3, ANY).await.unwrap().is_empty());
    let at = r3.expires_at;
    for (state, when, ok) in [
        (PushState::Pending, NOW + 11, false),
        (PushState::Approved, at, false),
        (PushState::Expired, at - 1, false),
        (PushState::Expired, at, true),
    ] {
        assert_eq!(
            s.settle_push_request("r3", state, None, when, &[])
                .await
                .unwrap(),
            ok,
            "{state:?} at {when}"
        );
    }
    // Requests are kept a while past their expiry (a late answer is told it expired).
    s.purge_expired(at + push::REQUESTS_KEPT_FOR - 1, 3600)
        .await
        .unwrap();
    assert!(s.push_request("r3").await.unwrap().is_some());
    s.purge_expired(at + push::REQUESTS_KEPT_FOR, 3600)
        .await
        .unwrap();
    assert!(s.push_request("r3").await.unwrap().is_none());
    assert!(s.push_request("r1").await.unwrap().is_none());
}

async fn not_me_blocks_pushes_and_challenges_are_single_use(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    for (i, at) in [NOW - 700, NOW - 10, NOW].into_iter().enumerate() {
        send(s.as_ref(), &push_request(&format!("r{i}"), at), ANY)
            .await
            .unwrap();
    }
    // "It's not me" blocks the user in the write that settles the request; a plain denial
    // doesn't.
    assert!(s
        .settle_push_request("r2", PushState::Denied, None, NOW + 1, &[])
        .await
        .unwrap());
    assert_eq!(
        s.user_by_id("u1").await.unwrap().unwrap().push_blocked_at,
        None
    );
    send(s.as_ref(), &push_request("r3", NOW + 2), ANY).await;
    assert!(s
        .settle_push_request("r3", PushState::NotMe, Some("d1"), NOW + 3, &[])
        .await
        .unwrap());
    let u = s.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(u.push_blocked_at, Some(NOW + 3));
    // An update of the user (a rename, a password) keeps the block; only clearing lifts it.
    s.update_user(&User {
        display_name: "Renamed".into(),
        push_blocked_at: None,
        ..u
    })
    .await
    .unwrap();
    let u = s.user_by_id("u1").await.unwrap().unwrap();
    assert_eq!(u.push_blocked_at, Some(NOW + 3));
    assert!(s.set_push_block("u1", None).await.unwrap());
    assert_eq!(
        s.user_by_id("u1").await.unwrap().unwrap().push_blocked_at,
        None
    );
    assert!(!s.set_push_block("nobody", None).await.unwrap());

    // Challenges: one use, by the device they were issued to, before they expire.
    s.insert_activation(&activation("act", NOW + 600))
        .await
        .unwrap();
    let d = s
        .register_device("act", NOW, &device("d1"), &codes("c1"))
        .await
        .unwrap()
        .unwrap();
    s.insert_device_challenge("ch1", &d.id, NOW + 60)
        .await
        .unwrap();
    assert!(!s.take_device_challenge("ch1", "other", NOW).await.unwrap());
    assert!(!s
        .take_device_challenge("ch1", &d.id, NOW + 60)
        .await
        .unwrap());
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (s, id) = (s.clone(), d.id.clone());
        tasks.push(tokio::spawn(async move {
            s.take_device_challenge("ch1", &id, NOW + 59).await.unwrap()
        }));
    }
    assert_eq!(wins(tasks).await, 1);
    s.insert_device_challenge("ch2", &d.id, NOW + 60)
        .await
        .unwrap();
    s.purge_expired(NOW + 60, 3600).await.unwrap();
    assert!(!s.take_device_challenge("ch2", &d.id, NOW).await.unwrap());
    s.touch_device(&d.id, NOW + 99).await.unwrap();
    let seen = s.device_by_id(&d.id).await.unwrap().unwrap().last_seen_at;
    assert_eq!(seen, Some(NOW + 99));
}

fn pass(id: &str, one_time: bool) -> TemporaryAccessPass {
    TemporaryAccessPass {
        id: id.into(),
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        pass_hash: Secret::new("$argon2id$v=19$m=19456,t=2,p=1$x$y"),
        created_at: NOW,
        starts_at: NOW + 10,
        expires_at: NOW + 3600,
        one_time,
        created_by: "operator:test".into(),
        used_at: None,
        revoked_at: None,
    }
}

async fn passes_one_current_per_user_used_once_and_revoked(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    let a = |id: &str| audit(id, NOW);
    assert!(s.tap_of_user("u1").await.unwrap().is_none());
    assert!(s
        .insert_tap(&pass("p1", true), NOW, &a("a1"))
        .await
        .unwrap());
    assert_eq!(s.tap_of_user("u1").await.unwrap(), Some(pass("p1", true)));
    // The current one (waiting for its start) stands: the second is refused, with no audit line.
    assert!(!s
        .insert_tap(&pass("p2", true), NOW, &a("a2"))
        .await
        .unwrap());
    assert_eq!(s.tap_of_user("u1").await.unwrap().unwrap().id, "p1");
    let actions = |s: Arc<dyn Store>| async move {
        let mut ids: Vec<String> = s
            .list_audit("t1", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(actions(s.clone()).await, ["a1"]);

    // Not usable before its start, nor under another id; then exactly once of 20 parallel uses.
    assert!(!s.use_tap("u1", "p1", NOW + 9).await.unwrap());
    assert!(!s.use_tap("u1", "p2", NOW + 10).await.unwrap());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.use_tap("u1", "p1", NOW + 10).await.unwrap()
        }));
    }
    assert_eq!(wins(tasks).await, 1);
    assert_eq!(
        s.tap_of_user("u1").await.unwrap().unwrap().used_at,
        Some(NOW + 10)
    );

    // Used up, it makes room for the next; a multi-use one serves until it expires.
    assert!(s
        .insert_tap(&pass("p3", false), NOW + 11, &a("a3"))
        .await
        .unwrap());
    for at in [NOW + 20, NOW + 30] {
        assert!(s.use_tap("u1", "p3", at).await.unwrap());
    }
    assert!(!s.use_tap("u1", "p3", NOW + 3600).await.unwrap());

    // Revoked once, with its audit line; a revoked pass is never used.
    assert!(s.revoke_tap("u1", NOW + 40, &a("a4")).await.unwrap());
    assert!(!s.revoke_tap("u1", NOW + 41, &a("a5")).await.unwrap());
    assert!(!s.use_tap("u1", "p3", NOW + 42).await.unwrap());
    assert_eq!(
        s.tap_of_user("u1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 40)
    );
    assert_eq!(actions(s.clone()).await, ["a1", "a3", "a4"]);

    // An expired one makes room too; the list shows each user's one row.
    let mut p4 = pass("p4", true);
    p4.expires_at = NOW + 100;
    assert!(s.insert_tap(&p4, NOW + 50, &a("a6")).await.unwrap());
    assert!(s
        .insert_tap(&pass("p5", true), NOW + 100, &a("a7"))
        .await
        .unwrap());
    let listed: Vec<String> = s
        .list_taps("t1")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ["p5"]);
    // Purged a day past its expiry; deleting the user takes it too.
    s.purge_expired(NOW + 3600 + 86_400, 3600).await.unwrap();
    assert!(s.tap_of_user("u1").await.unwrap().is_none());
    // Of parallel issuers, one writes.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("q{i}");
            s.insert_tap(&pass(&id, true), NOW, &audit(&id, NOW))
                .await
                .unwrap()
        }));
    }
    assert_eq!(wins(tasks).await, 1);
    s.delete_user("u1").await.unwrap();
    assert!(s.list_taps("t1").await.unwrap().is_empty());
}

/// A device of u1 registering with phone sign-in (direct registration), with its codes.
fn phone_device(id: &str) -> (Device, OathToken) {
    let c = OathToken {
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        ..codes(&format!("c-{id}"))
    };
    let d = Device {
        tenant_id: "t1".into(),
        user_id: "u1".into(),
        phone_key: Some(format!("PK-{id}")),
        phone_enabled_at: Some(NOW + 10),
        oath_token_id: Some(c.id.clone()),
        ..device(id)
    };
    (d, c)
}

async fn phone_sign_in_is_limited_and_direct_registration_is_all_or_nothing(s: Arc<dyn Store>) {
    use countersign_core::methods::phone::{Enabled, Registered};
    seed(s.as_ref()).await;
    assert!(s
        .insert_tap(&pass("p1", true), NOW, &audit("a1", NOW))
        .await
        .unwrap());
    let (d1, c1) = phone_device("d1");
    let nothing_stored = |s: Arc<dyn Store>, id: &'static str| async move {
        assert_eq!(s.device_by_id(id).await.unwrap(), None);
        let codes = s.oath_tokens_of_user("u1").await.unwrap();
        assert!(!codes.iter().any(|t| t.id == format!("c-{id}")));
    };
    // Before the pass starts, or with another pass's id: refused, nothing stored.
    for (id, at) in [("p1", NOW), ("p9", NOW + 10)] {
        let r = s
            .register_with_pass(id, at, &d1, Some(&c1), 2)
            .await
            .unwrap();
        assert_eq!(r, Registered::PassRefused);
        nothing_stored(s.clone(), "d1").await;
    }
    let r = s
        .register_with_pass("p1", NOW + 10, &d1, Some(&c1), 2)
        .await
        .unwrap();
    assert_eq!(r, Registered::Registered);
    assert_eq!(s.device_by_id("d1").await.unwrap(), Some(d1.clone()));
    assert!(s
        .oath_tokens_of_user("u1")
        .await
        .unwrap()
        .iter()
        .any(|t| t.id == c1.id));
    assert_eq!(
        s.tap_of_user("u1").await.unwrap().unwrap().used_at,
        Some(NOW + 10)
    );
    // The one-time pass is spent.
    let (d2, c2) = phone_device("d2");
    let r = s
        .register_with_pass("p1", NOW + 11, &d2, Some(&c2), 2)
        .await
        .unwrap();
    assert_eq!(r, Registered::PassRefused);
    nothing_stored(s.clone(), "d2").await;

    // With a multi-use pass, up to the limit: the device past it is not stored.
    assert!(s
        .insert_tap(&pass("p2", false), NOW + 12, &audit("a2", NOW))
        .await
        .unwrap());
    let r = s
        .register_with_pass("p2", NOW + 12, &d2, Some(&c2), 2)
        .await
        .unwrap();
    assert_eq!(r, Registered::Registered);
    let (d3, c3) = phone_device("d3");
    let r = s
        .register_with_pass("p2", NOW + 13, &d3, Some(&c3), 2)
        .await
        .unwrap();
    assert_eq!(r, Registered::LimitReached);
    nothing_stored(s.clone(), "d3").await;

    // "Enable phone sign-in" on a device registered for pushes only, within the same limit.
    s.insert_activation(&activation("act", NOW + 600))
        .await
        .unwrap();
    s.register_device("act", NOW + 1, &device("d4"), &codes("c4"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.enable_phone_sign_in("d4", "PK-d4", NOW + 20, 2)
            .await
            .unwrap(),
        Enabled::LimitReached
    );
    assert_eq!(s.device_by_id("d4").await.unwrap().unwrap().phone_key, None);
    assert_eq!(
        s.enable_phone_sign_in("d4", "PK-d4", NOW + 20, 3)
            .await
            .unwrap(),
        Enabled::Enabled
    );
    let d4 = s.device_by_id("d4").await.unwrap().unwrap();
    assert_eq!(
        (d4.phone_key.as_deref(), d4.phone_enabled_at),
        (Some("PK-d4"), Some(NOW + 20))
    );
    // A device counts itself once: enabling again replaces its key.
    assert_eq!(
        s.enable_phone_sign_in("d1", "PK-new", NOW + 21, 3)
            .await
            .unwrap(),
        Enabled::Enabled
    );
    assert_eq!(
        s.enable_phone_sign_in("nope", "PK", NOW + 21, 3)
            .await
            .unwrap(),
        Enabled::UnknownDevice
    );

    // Of parallel enables on fresh devices, no more than the limit allow.
    for i in 0..6 {
        let act = format!("act{i}");
        s.insert_activation(&activation(&act, NOW + 600))
            .await
            .unwrap();
        s.register_device(
            &act,
            NOW + 1,
            &device(&format!("e{i}")),
            &codes(&format!("ce{i}")),
        )
        .await
        .unwrap()
        .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("e{i}");
            s.enable_phone_sign_in(&id, &format!("PK-{id}"), NOW + 30, 5)
                .await
                .unwrap()
                == Enabled::Enabled
        }));
    }
    assert_eq!(
        wins(tasks).await,
        2,
        "d1, d2 and d4 have it: two more fit under 5"
    );

    // A passwordless request says so when read back.
    let r = PushRequest {
        passwordless: true,
        ..push_request("r1", NOW)
    };
    send(s.as_ref(), &r, ANY).await;
    assert!(s.push_request("r1").await.unwrap().unwrap().passwordless);
}

fn passkey(id: &str, user: &str) -> PasskeyCredential {
    PasskeyCredential {
        credential_id: id.into(),
        tenant_id: "t1".into(),
        user_id: user.into(),
        name: "Security key".into(),
        aaguid: Some("cb69481e-8ff7-4039-93ec-0a2729a154a8".into()),
        credential: format!("{{\"cred\":\"{id}\"}}"),
        sign_count: 3,
        backup_eligible: false,
        backup_state: false,
        created_at: NOW,
        last_used_at: None,
    }
}

async fn passkeys_are_unique_across_users_and_their_counters_only_move_on(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_user(&user("u2", "t1", "bob@contoso.com"))
        .await
        .unwrap();
    s.insert_passkey(&passkey("c1", "u1")).await.unwrap();
    // The same credential id, for anyone, is refused (§7.1: not registered to another user).
    for u in ["u1", "u2"] {
        assert!(matches!(
            s.insert_passkey(&passkey("c1", u)).await,
            Err(StoreError::Conflict(_))
        ));
    }
    s.insert_passkey(&passkey("c2", "u1")).await.unwrap();
    assert_eq!(s.passkey("c1").await.unwrap(), Some(passkey("c1", "u1")));
    let ids =
        |v: Vec<PasskeyCredential>| v.into_iter().map(|p| p.credential_id).collect::<Vec<_>>();
    assert_eq!(ids(s.passkeys_of_user("u1").await.unwrap()), ["c1", "c2"]);

    // A use is recorded only when the counter moves on; of parallel uses with one value, one.
    let used = |n: i64, at| PasskeyUse {
        sign_count: n,
        backup_eligible: true,
        backup_state: true,
        at,
    };
    for n in [3, 2] {
        assert_eq!(
            s.record_passkey_use("c1", &used(n, NOW + 1)).await.unwrap(),
            Recorded::CounterRegressed
        );
    }
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        let u = used(4, NOW + 2);
        tasks.push(tokio::spawn(async move {
            s.record_passkey_use("c1", &u).await.unwrap() == Recorded::Recorded
        }));
    }
    assert_eq!(wins(tasks).await, 1);
    let p = s.passkey("c1").await.unwrap().unwrap();
    assert_eq!(
        (
            p.sign_count,
            p.backup_eligible,
            p.backup_state,
            p.credential,
            p.last_used_at
        ),
        (4, true, true, passkey("c1", "u1").credential, Some(NOW + 2))
    );
    assert_eq!(
        s.record_passkey_use("nope", &used(9, NOW)).await.unwrap(),
        Recorded::Unknown
    );
    // An authenticator without a counter says zero every time.
    let mut zero = passkey("c3", "u2");
    zero.sign_count = 0;
    s.insert_passkey(&zero).await.unwrap();
    for at in [NOW + 3, NOW + 4] {
        assert_eq!(
            s.record_passkey_use("c3", &used(0, at)).await.unwrap(),
            Recorded::Recorded
        );
    }

    // Renamed and deleted only by their owner.
    assert!(!s.rename_passkey("u2", "c1", "Mine now").await.unwrap());
    assert!(s.rename_passkey("u1", "c1", "YubiKey 5").await.unwrap());
    assert_eq!(s.passkey("c1").await.unwrap().unwrap().name, "YubiKey 5");
    assert!(!s.delete_passkey("u2", "c1").await.unwrap());
    assert!(s.delete_passkey("u1", "c1").await.unwrap());
    assert!(s.passkey("c1").await.unwrap().is_none());

    // One handle per user, whoever asks first; each handle leads back to its user.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.webauthn_handle("u1", &format!("h{i}")).await.unwrap()
        }));
    }
    let mut handles = Vec::new();
    for t in tasks {
        handles.push(t.await.unwrap());
    }
    handles.dedup();
    assert_eq!(handles.len(), 1, "{handles:?}");
    assert_eq!(s.webauthn_handle("u1", "other").await.unwrap(), handles[0]);
    assert_eq!(
        s.user_of_webauthn_handle(&handles[0])
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert_eq!(s.user_of_webauthn_handle("other").await.unwrap(), None);
    // Deleting the user takes their passkeys and handle.
    s.delete_user("u1").await.unwrap();
    assert!(s.passkey("c2").await.unwrap().is_none());
    assert_eq!(s.user_of_webauthn_handle(&handles[0]).await.unwrap(), None);
}

/// The records behind a name's first-factor methods, read together, are exactly those read one by
/// one, the user's only; and the read leaves the store as it found it (on SQLite a read
/// transaction left open on the write connection would refuse the next write).
async fn first_factor_records_are_the_users_records(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_user(&user("u2", "t1", "bob@contoso.com"))
        .await
        .unwrap();
    let nothing = s.first_factor_records("t1", "u1").await.unwrap();
    assert_eq!(
        nothing,
        FirstFactorRecords {
            tap: None,
            devices: Vec::new(),
            passkeys: Vec::new(),
            policy: None
        }
    );
    assert!(s
        .insert_tap(&pass("p1", false), NOW, &audit("a1", NOW))
        .await
        .unwrap());
    let (d1, c1) = phone_device("d1");
    s.register_with_pass("p1", NOW + 10, &d1, Some(&c1), 2)
        .await
        .unwrap();
    s.insert_passkey(&passkey("k1", "u1")).await.unwrap();
    s.insert_passkey(&passkey("k2", "u2")).await.unwrap();
    assert!(s
        .save_methods_policy("t1", &MethodsPolicy::default(), 0, &audit("a2", NOW))
        .await
        .unwrap());
    let r = s.first_factor_records("t1", "u1").await.unwrap();
    assert_eq!(
        r,
        FirstFactorRecords {
            tap: s.tap_of_user("u1").await.unwrap(),
            devices: s.devices_of_user("u1").await.unwrap(),
            passkeys: s.passkeys_of_user("u1").await.unwrap(),
            policy: s.methods_policy("t1").await.unwrap(),
        }
    );
    assert_eq!(r.tap.map(|p| p.id).as_deref(), Some("p1"));
    assert_eq!(r.devices.len(), 1);
    assert_eq!(r.passkeys, vec![passkey("k1", "u1")]);
    assert_eq!(r.policy.map(|p| p.version), Some(1));
    // Nobody (an unknown name): none of a user's records, the tenant's policy all the same.
    let r = s.first_factor_records("t1", "").await.unwrap();
    assert_eq!((r.tap, r.devices.len(), r.passkeys.len()), (None, 0, 0));
    assert!(r.policy.is_some());
    s.insert_passkey(&passkey("k3", "u1")).await.unwrap();
    assert_eq!(s.passkeys_of_user("u1").await.unwrap().len(), 2);
}

/// What an answer to a passkey ceremony is checked against, read together, is exactly what the
/// single reads find — with a handle sent or not, a credential known or not — and the read
/// leaves the store usable.
async fn passkey_answer_records_are_the_single_reads(s: Arc<dyn Store>) {
    seed(s.as_ref()).await;
    s.insert_user(&user("u2", "t1", "bob@contoso.com"))
        .await
        .unwrap();
    let nothing = s
        .passkey_answer_records("t1", "x1", "k1", Some("h"))
        .await
        .unwrap();
    assert_eq!(
        nothing,
        PasskeyAnswerRecords {
            ceremony: None,
            passkey: None,
            user: None,
            handle_owner: None,
            policy: None,
        }
    );
    let ceremony = SignInFlow {
        id: "x1".into(),
        tenant_id: "t1".into(),
        csrf: "c".into(),
        request: None,
        state: flow::new_state(true),
        return_to: None,
        created_at: NOW,
        expires_at: NOW + 300,
    };
    s.insert_flow(&ceremony).await.unwrap();
    s.insert_passkey(&passkey("k1", "u1")).await.unwrap();
    s.insert_passkey(&passkey("k2", "u2")).await.unwrap();
    let alices = s.webauthn_handle("u1", "h1").await.unwrap();
    assert!(s
        .save_methods_policy("t1", &MethodsPolicy::default(), 0, &audit("a1", NOW))
        .await
        .unwrap());
    let r = s
        .passkey_answer_records("t1", "x1", "k2", Some(&alices))
        .await
        .unwrap();
    assert_eq!(
        r,
        PasskeyAnswerRecords {
            ceremony: s.flow_by_id("x1").await.unwrap(),
            passkey: s.passkey("k2").await.unwrap(),
            user: s.user_by_id("u2").await.unwrap(),
            handle_owner: Some("u1".into()),
            policy: s.methods_policy("t1").await.unwrap(),
        }
    );
    assert_eq!(r.ceremony, Some(ceremony));
    assert_eq!(r.user.map(|u| u.upn).as_deref(), Some("bob@contoso.com"));
    assert_eq!(r.policy.map(|p| p.version), Some(1));
    // No handle sent: no owner; an unknown credential: no passkey and no user.
    let r = s
        .passkey_answer_records("t1", "x1", "nope", None)
        .await
        .unwrap();
    assert_eq!((r.passkey, r.user, r.handle_owner), (None, None, None));
    assert!(r.ceremony.is_some() && r.policy.is_some());
    assert!(s.delete_flow("x1", "c").await.unwrap());
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        /// The core's in-memory store, which its unit tests use, keeps the same contract.
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let s = std::sync::Arc::new(countersign_core::testing::MemStore::default());
                    super::$name(s).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let s = std::sync::Arc::new(
                        countersign_store::SqlStore::open_sqlite(dir.path()).await.unwrap(),
                    );
                    super::$name(s.clone()).await;
                    s.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((s, schema)) = countersign_store::testing::postgres_store().await
                    else {
                        return;
                    };
                    let s = std::sync::Arc::new(s);
                    super::$name(s.clone()).await;
                    s.drop_schema(&schema).await.unwrap();
                    s.close().await;
                }
            )*
        }
    };
}

conformance!(
    first_factor_records_are_the_users_records,
    passkey_answer_records_are_the_single_reads,
    a_request_is_sent_and_settled_with_its_reservation_and_flow,
    passkeys_are_unique_across_users_and_their_counters_only_move_on,
    the_push_fatigue_limit_holds_under_parallel_sign_ins,
    phone_sign_in_is_limited_and_direct_registration_is_all_or_nothing,
    passes_one_current_per_user_used_once_and_revoked,
    policy_versions_and_audit,
    devices_register_once_per_activation_code,
    push_requests_supersede_and_settle_once,
    not_me_blocks_pushes_and_challenges_are_single_use,
    tenants_roundtrip_and_conflicts,
    users_roundtrip_and_uniqueness,
    groups_and_roles,
    clients_roundtrip,
    reservations_never_exceed_the_policy_in_parallel,
    reservation_decides_like_the_policy,
    flows_and_sessions,
    revoking_a_users_access,
    code_is_consumed_exactly_once_in_parallel,
    refresh_rotates_exactly_once_in_parallel,
    signing_keys_and_signin_log,
    deleting_a_tenant_removes_everything_in_it,
    purge_removes_only_expired,
    oath_tokens_roundtrip_and_import_is_all_or_nothing,
    a_code_step_is_accepted_exactly_once_in_parallel,
);

#[tokio::test]
async fn sqlite_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SqlStore::open_sqlite(dir.path()).await.unwrap();
        seed(&s).await;
        s.close().await;
    }
    let s = SqlStore::open_sqlite(dir.path()).await.unwrap();
    assert!(s
        .user_by_upn("t1", "alice@contoso.com")
        .await
        .unwrap()
        .is_some());
}

/// Managed PostgreSQL services require TLS: `sslmode` in the URL is honoured (through rustls),
/// and a certificate that can't be verified is refused when the URL asks for verification.
#[tokio::test]
async fn postgres_connections_use_tls_as_the_url_asks() {
    let Some(url) = countersign_store::testing::postgres_url() else {
        return;
    };
    let with = |mode: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sslmode={mode}")
    };
    let open = |u: String| async move {
        SqlStore::open(&u, None, countersign_store::KeyFile::Ephemeral).await
    };
    let s = open(with("require")).await.expect("sslmode=require");
    assert!(
        countersign_store::testing::uses_tls(&s).await,
        "require: TLS"
    );
    s.close().await;
    let s = open(with("disable")).await.expect("sslmode=disable");
    assert!(
        !countersign_store::testing::uses_tls(&s).await,
        "disable: plain"
    );
    s.close().await;
    // This machine's server has a self-signed certificate: verification must fail, clearly.
    let e = open(with("verify-full"))
        .await
        .err()
        .expect("unverifiable certificate");
    let msg = e.to_string();
    assert!(
        msg.contains("certificate") || msg.contains("tls") || msg.contains("TLS"),
        "{msg}"
    );
}

#[tokio::test]
async fn bad_urls_are_refused_clearly() {
    let e = SqlStore::open("mysql://x", None, countersign_store::KeyFile::Ephemeral)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("unsupported database URL"));
    let e = SqlStore::open(
        "postgres://u:hunter2@127.0.0.1:1/x",
        None,
        countersign_store::KeyFile::Ephemeral,
    )
    .await
    .err()
    .unwrap();
    assert!(!e.to_string().contains("hunter2"), "password leaked: {e}");
}
