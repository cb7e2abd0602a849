//! The sign-in engine. A flow is a state machine: a [`Step`] (identify, a method's own step,
//! "Other ways to sign in", no way to sign in, more information required, registering a method),
//! the [`Proof`]s collected so far, and one function, [`decide`], that from the account, the
//! authentication methods policy and the proofs gives the next step and the methods on offer.
//! Pages render a step and post a method's answer; the transitions here decide everything else,
//! and `amr`/`acr` come from the proofs (RFC 8176).
//!
//! A method plugs in as a [`Method`] variant (its factor, whether it may come first or second,
//! its `amr`), its check, and its page. Its own state lives in its `Step` variant: the whole
//! [`FlowState`] is stored as one serialised value, so a new method needs no migration.

use crate::error::{CoreError, CoreResult};
use crate::methods::oath;
use crate::model::{Session, SignInFlow, Tenant, User};
use crate::policy::MethodsPolicy;
use crate::Deps;

mod decide;
mod state;

pub use decide::*;
pub use state::*;

fn enter(flow: &mut SignInFlow, d: &Outcome) -> Next {
    flow.state.step = match d.next {
        Next::Method(method) => Step::Method { method },
        Next::NoMethod => Step::NoMethod,
        Next::MoreInformationRequired => Step::MoreInformationRequired,
        Next::Done => flow.state.step.clone(),
    };
    d.next
}

/// The first step: the name. Finds the account (an unknown or disabled one goes on exactly as
/// an account with only a password) and moves to its default method.
pub async fn identify(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    typed: &str,
    remembered: &[Method],
) -> CoreResult<Next> {
    let name = crate::signin::typed_name(tenant, typed)?;
    let user = deps
        .store
        .user_by_upn(&tenant.id, &name)
        .await?
        .filter(|u| u.enabled);
    let account = first_factor_account(deps, &tenant.id, user.as_ref()).await?;
    flow.state.username = Some(name);
    flow.state.user_id = user.map(|u| u.id);
    flow.state.proofs.clear();
    Ok(enter(flow, &decide(&account, &flow.state, remembered)))
}

/// Back to the first step: whatever the earlier name had proved is forgotten.
pub fn restart(flow: &mut SignInFlow) {
    flow.state.step = Step::Identify;
    flow.state.username = None;
    flow.state.user_id = None;
    flow.state.proofs.clear();
}

/// The decision for the flow as it stands (for the chooser and the pages' links).
pub fn outcome(account: &Account, flow: &SignInFlow, remembered: &[Method]) -> Outcome {
    decide(account, &flow.state, remembered)
}

/// The person picked `method` in "Other ways to sign in": allowed only if it is on offer now.
pub fn choose(account: &Account, flow: &mut SignInFlow, method: Method) -> CoreResult<()> {
    if !decide(account, &flow.state, &[]).offered.contains(&method) {
        return Err(CoreError::MethodNotSupported);
    }
    flow.state.step = Step::Method { method };
    Ok(())
}

/// Checks that the flow is at `method`'s own step before its answer is checked.
pub fn require_step(flow: &SignInFlow, method: Method) -> CoreResult<()> {
    if flow.state.step == (Step::Method { method }) {
        Ok(())
    } else {
        Err(CoreError::FlowExpired)
    }
}

/// `method` succeeded for `user`: the proof is recorded and the engine decides what follows.
/// Proofs of two factors end the sign-in whatever the account holds (as `decide` says), so the
/// account is read only when they don't.
pub async fn proved(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    method: Method,
    remembered: &[Method],
) -> CoreResult<Next> {
    add_proof(
        deps,
        tenant,
        flow,
        user,
        Proof::new(method, deps.now()),
        remembered,
    )
    .await
}

/// A passkey sign-in succeeded for `user` (`crate::methods::passkey::finish_sign_in`): with no name typed
/// (discoverable), the flow now knows it from the credential.
pub async fn passkey_proved(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    signed_in: &crate::methods::passkey::SignedIn,
    remembered: &[Method],
) -> CoreResult<Next> {
    let user = &signed_in.user;
    if flow.state.username.is_none() {
        flow.state.username = Some(user.upn.clone());
    }
    let proof = Proof {
        pin: signed_in.pin,
        hardware: signed_in.hardware,
        ..Proof::new(Method::Passkey, deps.now())
    };
    add_proof(deps, tenant, flow, user, proof, remembered).await
}

async fn add_proof(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    proof: Proof,
    remembered: &[Method],
) -> CoreResult<Next> {
    flow.state.user_id = Some(user.id.clone());
    flow.state.proofs.push(proof);
    if is_mfa(&flow.state.proofs) {
        return Ok(Next::Done);
    }
    let account = account(deps, tenant, Some(user)).await?;
    Ok(enter(flow, &decide(&account, &flow.state, remembered)))
}

/// The method whose request the flow is about to send, at its own step: a push approval or
/// phone sign-in.
pub fn sending(flow: &SignInFlow) -> Option<Method> {
    match flow.state.step {
        Step::Method {
            method: m @ (Method::Push | Method::Phone),
        } => Some(m),
        _ => None,
    }
}

/// The request sent at the push (or phone sign-in) step: the flow now waits on it ("Approve
/// sign-in request").
pub fn push_sent(flow: &mut SignInFlow, request_id: &str) -> CoreResult<()> {
    let method = sending(flow).ok_or(CoreError::FlowExpired)?;
    flow.state.step = Step::Push {
        request_id: request_id.into(),
        passwordless: method == Method::Phone,
    };
    Ok(())
}

/// The request the flow waits on, at "Approve sign-in request".
pub fn waiting_on(flow: &SignInFlow) -> CoreResult<&str> {
    match &flow.state.step {
        Step::Push { request_id, .. } => Ok(request_id),
        _ => Err(CoreError::FlowExpired),
    }
}

/// The method of the request the flow sends or waits on: phone sign-in or a push approval.
pub fn request_method(flow: &SignInFlow) -> Option<Method> {
    match &flow.state.step {
        Step::Push { passwordless, .. } => Some(if *passwordless {
            Method::Phone
        } else {
            Method::Push
        }),
        _ => sending(flow),
    }
}

/// No request could be sent (too many lately, a fraud block): on to "Other ways to sign in".
pub fn push_not_sent(flow: &mut SignInFlow) -> CoreResult<()> {
    sending(flow).ok_or(CoreError::FlowExpired)?;
    flow.state.step = Step::Choose;
    Ok(())
}

/// "Send another request": back to the push (or phone sign-in) step, which sends a new one.
pub fn push_again(flow: &mut SignInFlow) -> CoreResult<()> {
    let method = request_method(flow).ok_or(CoreError::FlowExpired)?;
    flow.state.step = Step::Method { method };
    Ok(())
}

/// The request the flow waits on was approved on `user`'s device: a push proof (with `pin` when
/// the device's App Lock was used), then the engine decides what follows. Only the flow's own
/// request, approved, counts.
pub async fn push_approved(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    request: &crate::methods::push::PushRequest,
    remembered: &[Method],
) -> CoreResult<Next> {
    use crate::methods::push::PushState;
    let pin = match request.state {
        PushState::Approved => false,
        PushState::ApprovedWithPin => true,
        _ => return Err(CoreError::FlowExpired),
    };
    let method = request_method(flow).ok_or(CoreError::FlowExpired)?;
    if waiting_on(flow)? != request.id
        || request.user_id != user.id
        || request.passwordless != (method == Method::Phone)
        // Phone sign-in is multifactor only with the App Lock (the device checks it too).
        || (method == Method::Phone && !pin)
    {
        return Err(CoreError::FlowExpired);
    }
    let proof = Proof {
        pin,
        ..Proof::new(method, deps.now())
    };
    add_proof(deps, tenant, flow, user, proof, remembered).await
}

/// "Other ways to sign in", from a method's own step.
pub fn other_ways(flow: &mut SignInFlow) -> CoreResult<()> {
    if !matches!(flow.state.step, Step::Method { .. } | Step::Push { .. }) {
        return Err(CoreError::FlowExpired);
    }
    flow.state.step = Step::Choose;
    Ok(())
}

/// Continues from a live session that is not enough for this sign-in (an application needs a
/// second factor the session was made without): the session's proofs stand, and only the second
/// factor is asked for (step-up). When the user has no second factor yet, the sign-in starts
/// over at the password instead: registering a first second factor needs a fresh first factor,
/// never a session alone (which may be stolen, or hours old).
pub async fn resume(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    session: &Session,
    user: &User,
    remembered: &[Method],
) -> CoreResult<Next> {
    let account = account(deps, tenant, Some(user)).await?;
    flow.state.username = Some(user.upn.clone());
    flow.state.user_id = Some(user.id.clone());
    flow.state.proofs = proofs_of(session);
    let d = decide(&account, &flow.state, remembered);
    if d.next == Next::MoreInformationRequired {
        flow.state.proofs.clear();
        return Ok(enter(flow, &decide(&account, &flow.state, remembered)));
    }
    Ok(enter(flow, &d))
}

/// The methods of a finished sign-in, first factor first: remembered by the browser as its
/// defaults for next time.
pub fn used_methods(flow: &SignInFlow) -> Vec<Method> {
    flow.state.proofs.iter().map(|p| p.method).collect()
}

/// The user a push or phone sign-in step sends its request to, with the tenant's policy: the user
/// the flow proved, or — for phone sign-in, which comes first — the one behind the name typed.
pub async fn request_user(
    deps: &Deps,
    flow: &SignInFlow,
) -> CoreResult<Option<(User, MethodsPolicy)>> {
    if request_method(flow) != Some(Method::Phone) || !flow.state.proofs.is_empty() {
        return proved_user(deps, flow).await;
    }
    match &flow.state.user_id {
        Some(id) => enabled_with_policy(deps, id).await,
        None => Ok(None),
    }
}

/// An enabled user with their tenant's policy, in one read.
async fn enabled_with_policy(deps: &Deps, id: &str) -> CoreResult<Option<(User, MethodsPolicy)>> {
    Ok(deps
        .store
        .user_with_policy(id)
        .await?
        .filter(|(u, _)| u.enabled)
        .map(|(u, p)| (u, p.map(|p| p.policy).unwrap_or_default())))
}

/// The user of a flow that has proved who it is (after its first method), if still enabled,
/// with the tenant's methods policy: both are read together, as every later step needs both.
pub async fn proved_user(
    deps: &Deps,
    flow: &SignInFlow,
) -> CoreResult<Option<(User, MethodsPolicy)>> {
    if flow.state.proofs.is_empty() {
        return Ok(None);
    }
    match &flow.state.user_id {
        Some(id) => enabled_with_policy(deps, id).await,
        None => Ok(None),
    }
}

/// "More information required" → "Next": starts registering an authenticator app, the one
/// method a person can add alone today. Allowed only at that step, and only if the policy lets
/// the user use it.
pub async fn begin_registration(
    deps: &Deps,
    account: &Account,
    flow: &mut SignInFlow,
    user: &User,
) -> CoreResult<oath::OathToken> {
    // Binding a first second factor rests on the first one alone: it must be recent.
    let fresh = flow
        .state
        .proofs
        .iter()
        .all(|p| deps.now() - p.at <= crate::signin::session::RECENT_AUTH);
    if flow.state.step != Step::MoreInformationRequired || !fresh {
        return Err(CoreError::FlowExpired);
    }
    if !account.can_register.contains(&Method::Code) {
        return Err(CoreError::MethodNotSupported);
    }
    let token = oath::begin_enrolment(deps, user).await?;
    flow.state.step = Step::Register {
        token_id: token.id.clone(),
    };
    Ok(token)
}

/// The code that proves the new authenticator app: it activates the token and counts as the
/// second factor of this sign-in. `None` when the code is wrong.
pub async fn finish_registration(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    code: &str,
) -> CoreResult<Option<Next>> {
    let Step::Register { token_id } = flow.state.step.clone() else {
        return Err(CoreError::FlowExpired);
    };
    if !oath::activate(deps, tenant, user, &token_id, code).await? {
        return Ok(None);
    }
    Ok(Some(
        proved(deps, tenant, flow, user, Method::Code, &[]).await?,
    ))
}

#[cfg(test)]
mod tests;
