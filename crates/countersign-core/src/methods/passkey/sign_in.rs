//! Signing in with a passkey, after the name or with no name: the user from the credential and
//! its handle, their tenant, the policy at every use, and a counter that only moves on.

use crate::error::{CoreError, CoreResult};
use crate::model::{SignInFlow, SignInResult, Tenant, User};
use crate::policy::{Eligibility, MethodId};
use crate::signin::flow::Step;
use crate::signin::{log_attempt, Origin};
use crate::store::PasskeyAnswerRecords;
use crate::Deps;

use super::ceremony::{ceremony_row, take_row, Taken};
use super::*;

/// Whether passkeys are on in the tenant's policy at all. Only then does the name page offer them
/// (the name field's autofill, "Sign-in options") and a sign-in with no name begin: who may use
/// them is known once an answer names its user, and is checked then.
pub async fn on_in_tenant(deps: &Deps, tenant: &Tenant) -> CoreResult<bool> {
    let policy = crate::policy::load(deps, tenant).await?.policy;
    Ok(policy.method(MethodId::Passkey).state == crate::policy::State::Enabled)
}

/// Begins a passkey sign-in for the browser whose flow is `flow`: at the first step with no
/// name (discoverable), or at the passkey step with the passkeys of the flow's user. Returns the
/// ceremony's id and the browser's options.
pub async fn begin_sign_in(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    flow: &SignInFlow,
) -> CoreResult<(String, serde_json::Value)> {
    let (purpose, begun) = match &flow.state.step {
        Step::Identify if !on_in_tenant(deps, tenant).await? => {
            return Err(CoreError::MethodNotSupported)
        }
        Step::Identify => (Purpose::Discoverable, verifier.start_authentication(&[])?),
        Step::Method {
            method: crate::signin::flow::Method::Passkey,
        } => {
            let id = flow
                .state
                .user_id
                .as_deref()
                .ok_or(CoreError::FlowExpired)?;
            let user = deps
                .store
                .user_by_id(id)
                .await?
                .filter(|u| u.enabled)
                .ok_or(CoreError::FlowExpired)?;
            let may = Eligibility::load(deps, tenant, &user).await?;
            let passkeys = usable(deps, &may, &user.id).await?;
            if passkeys.is_empty() {
                return Err(CoreError::MethodNotSupported);
            }
            (Purpose::SignIn, verifier.start_authentication(&passkeys)?)
        }
        _ => return Err(CoreError::FlowExpired),
    };
    let row = ceremony_row(
        deps,
        tenant,
        purpose,
        &begun,
        flow.state.user_id.as_deref(),
        &flow.id,
    );
    deps.store.insert_flow(&row).await?;
    Ok((row.id, begun.options))
}

/// A passkey sign-in that succeeded: the user, and what the `amr` says of it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// A hardware-secured key (`hwk`): device-bound and not a software authenticator's.
    pub hardware: bool,
    /// User verification by PIN (`pin`), known for the Countersign Authenticator (its App Lock);
    /// otherwise the authenticator's own verification (`user`).
    pub pin: bool,
}

/// The answer to a sign-in ceremony of the browser whose flow is `flow`. Every refusal is logged
/// with its reason (method `passkey`) and is `SignInFailed` to the caller — but a policy that no
/// longer allows passkeys or this type of passkey, which is `MethodNotSupported`.
pub async fn finish_sign_in(
    deps: &Deps,
    verifier: &dyn Verifier,
    o: Origin<'_>,
    flow: &SignInFlow,
    ceremony: &str,
    response: &str,
) -> CoreResult<SignedIn> {
    let purposes = match flow.state.step {
        Step::Identify => [Purpose::Discoverable],
        Step::Method {
            method: crate::signin::flow::Method::Passkey,
        } => [Purpose::SignIn],
        _ => return Err(CoreError::FlowExpired),
    };
    let (answer, taken) = take_answered(
        deps,
        verifier,
        o.tenant,
        ceremony,
        &purposes,
        Some(&flow.id),
        response,
    )
    .await?;
    // Begun for the user the flow is about now (not one it was about before "Back").
    if taken.user_id != flow.state.user_id {
        return Err(CoreError::FlowExpired);
    }
    verify(
        deps,
        verifier,
        o,
        &taken,
        flow.state.username.as_deref(),
        response,
        answer,
    )
    .await
}

/// An answer to a ceremony, and the records it is checked against, read before the ceremony is
/// taken (together: see `Store::passkey_answer_records`).
pub(super) struct Answer {
    /// Who it claims to be, or why that could not be read.
    claimed: Result<Claimed, Refusal>,
    records: PasskeyAnswerRecords,
}

/// Reads what `response` is checked against, then takes the ceremony it answers (as [`take`]).
pub(super) async fn take_answered(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    ceremony: &str,
    purposes: &[Purpose],
    bound_to: Option<&str>,
    response: &str,
) -> CoreResult<(Answer, Taken)> {
    let claimed = verifier.claimed(response);
    // An unreadable answer names no credential: an empty id matches none.
    let (credential_id, handle) = match &claimed {
        Ok(c) => (c.credential_id.as_str(), c.user_handle.as_deref()),
        Err(_) => ("", None),
    };
    let records = deps
        .store
        .passkey_answer_records(&tenant.id, ceremony, credential_id, handle)
        .await?;
    let row = records.ceremony.clone();
    let taken = take_row(deps, tenant, ceremony, row, purposes, bound_to).await?;
    Ok((Answer { claimed, records }, taken))
}

/// Verifies the answer to a taken ceremony: the credential, its owner (the ceremony's user, or
/// with none the user handle's), their tenant and the policy, then the verifier's checks and the
/// counter. Every outcome is logged.
pub(super) async fn verify(
    deps: &Deps,
    verifier: &dyn Verifier,
    o: Origin<'_>,
    taken: &Taken,
    typed_name: Option<&str>,
    response: &str,
    answer: Answer,
) -> CoreResult<SignedIn> {
    let fail = |user: Option<&User>, reason: String| {
        let name = user.map_or_else(
            || typed_name.unwrap_or_default().to_string(),
            |u| u.upn.clone(),
        );
        let user = user.cloned();
        async move {
            log_attempt(
                deps,
                o,
                "passkey",
                &name,
                user.as_ref(),
                SignInResult::Failure,
                Some(reason),
            )
            .await?;
            Err::<SignedIn, _>(CoreError::SignInFailed)
        }
    };
    let Answer { claimed, records } = answer;
    let claimed = match claimed {
        Ok(c) => c,
        Err(Refusal(r)) => return fail(None, r).await,
    };
    let Some(stored) = records.passkey else {
        return fail(None, "unknown credential".into()).await;
    };
    // The user the ceremony was for: the flow's, or — with no name — the handle's owner; a
    // handle sent with a name must be that user's too (§7.2 step 6).
    let owner = claimed.user_handle.as_ref().map(|_| records.handle_owner);
    let expected = match (&taken.user_id, owner) {
        (None, owner) => owner.flatten(),
        (Some(_), Some(owner)) if owner != taken.user_id => None,
        (Some(user), _) => Some(user.clone()),
    };
    let user = records
        .user
        .filter(|u| u.id == stored.user_id && u.enabled && u.tenant_id == o.tenant.id);
    let Some(user) = user else {
        return fail(
            None,
            "credential of a disabled user or another tenant".into(),
        )
        .await;
    };
    if expected.as_deref() != Some(user.id.as_str()) {
        return fail(Some(&user), "credential of another user".into()).await;
    }
    let asserted = match verifier.finish_authentication(&taken.state, response, &stored) {
        Ok(a) => a,
        Err(Refusal(r)) => return fail(Some(&user), r).await,
    };
    // The policy is applied to answers that verified: a refusal says nothing to a forger.
    let policy = records.policy.map(|p| p.policy).unwrap_or_default();
    if !Eligibility::of(deps, policy, &user)
        .await?
        .passkey(stored.aaguid.as_deref())
    {
        log_attempt(
            deps,
            o,
            "passkey",
            &user.upn,
            Some(&user),
            SignInResult::Failure,
            Some("passkey not allowed by the authentication methods policy".into()),
        )
        .await?;
        return Err(CoreError::MethodNotSupported);
    }
    let used = PasskeyUse {
        sign_count: asserted.sign_count,
        backup_eligible: asserted.backup_eligible,
        backup_state: asserted.backup_state,
        at: deps.now(),
    };
    match deps
        .store
        .record_passkey_use(&stored.credential_id, &used)
        .await?
    {
        Recorded::Recorded => {}
        Recorded::CounterRegressed => {
            return fail(Some(&user), COUNTER_REGRESSED.into()).await;
        }
        Recorded::Unknown => return fail(Some(&user), "credential deleted meanwhile".into()).await,
    }
    log_attempt(
        deps,
        o,
        "passkey",
        &user.upn,
        Some(&user),
        SignInResult::Success,
        None,
    )
    .await?;
    let ours = stored
        .aaguid
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(COUNTERSIGN_AAGUID));
    Ok(SignedIn {
        // As of this use: a passkey that has just become able to sync is no longer device-bound.
        hardware: !used.backup_eligible && !ours,
        pin: ours,
        user,
    })
}
