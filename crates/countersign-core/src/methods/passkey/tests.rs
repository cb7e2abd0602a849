//! Unit tests of passkeys: registration, sign-in, counters and links over the in-memory store.

use super::ceremony::take;
use super::*;
use crate::error::{CoreError, CoreResult};
use crate::policy::MethodId;
use crate::testing::{contoso_alice, fixture};

/// The ceremony's part of a verifier: options and a state; no answer is ever accepted.
struct Challenges;

impl Verifier for Challenges {
    fn new_user_handle(&self) -> String {
        "handle".into()
    }
    fn start_registration(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &[String],
        _: bool,
    ) -> CoreResult<Begun> {
        self.start_authentication(&[])
    }
    fn can_attest(&self) -> bool {
        false
    }
    fn finish_registration(&self, _: &str, _: &str) -> Result<NewPasskey, Refusal> {
        Err(Refusal("fake".into()))
    }
    fn start_authentication(&self, _: &[PasskeyCredential]) -> CoreResult<Begun> {
        Ok(Begun {
            options: serde_json::json!({"publicKey": {}}),
            state: "verifier state".into(),
        })
    }
    fn claimed(&self, _: &str) -> Result<Claimed, Refusal> {
        Err(Refusal("fake".into()))
    }
    fn finish_authentication(
        &self,
        _: &str,
        _: &str,
        _: &PasskeyCredential,
    ) -> Result<Asserted, Refusal> {
        Err(Refusal("fake".into()))
    }
}

/// A ceremony is taken once, only by the flow it is bound to, only for its purpose, only in
/// time — and its row is never a browser's flow (its id is the browser's to post back).
#[tokio::test]
async fn a_ceremony_is_taken_once_by_its_own_flow_in_time_and_is_no_flow() {
    let f = fixture();
    let (t, _) = contoso_alice(&f.deps, None).await;
    let flow = crate::signin::session::visit(&f.deps, &t);
    let begin = || begin_sign_in(&f.deps, &Challenges, &t, &flow);
    // Off in the tenant (the default): no ceremony with no name at all.
    assert!(matches!(begin().await, Err(CoreError::MethodNotSupported)));
    let on = |mut p: crate::policy::MethodsPolicy| {
        p.method_mut(MethodId::Passkey).state = crate::policy::State::Enabled;
        Ok(p)
    };
    let operator = crate::policy::Actor::Operator("test".into());
    crate::policy::change(&f.deps, &t, &operator, "test", on)
        .await
        .unwrap();

    let (id, _) = begin().await.unwrap();
    assert!(matches!(
        crate::signin::session::load_flow(&f.deps, &t, &id).await,
        Err(CoreError::FlowExpired)
    ));
    let other = crate::signin::session::visit(&f.deps, &t);
    let taken = |id: String, by: String, p: Purpose| {
        let (deps, t) = (f.deps.clone(), t.clone());
        async move { take(&deps, &t, &id, &[p], Some(&by)).await.map(|k| k.state) }
    };
    let (d, fid) = (Purpose::Discoverable, flow.id.clone());
    assert!(
        taken(id.clone(), other.id.clone(), d).await.is_err(),
        "another flow"
    );
    // (the wrong taker used it up: a new one for the rest)
    let (id, _) = begin().await.unwrap();
    assert!(
        taken(id.clone(), fid.clone(), Purpose::SignIn)
            .await
            .is_err(),
        "purpose"
    );
    let (id, _) = begin().await.unwrap();
    assert_eq!(
        taken(id.clone(), fid.clone(), d).await.unwrap(),
        "verifier state"
    );
    assert!(taken(id, fid.clone(), d).await.is_err(), "once");
    let (id, _) = begin().await.unwrap();
    f.clock.advance(CEREMONY_TTL);
    assert!(taken(id, fid, d).await.is_err(), "expired");
}

#[test]
fn a_counter_must_count_up_unless_the_authenticator_has_none() {
    assert!(counter_moves_on(0, 0));
    assert!(counter_moves_on(0, 1));
    assert!(counter_moves_on(5, 6));
    assert!(!counter_moves_on(5, 5));
    assert!(!counter_moves_on(5, 4));
    assert!(!counter_moves_on(5, 0));
}
