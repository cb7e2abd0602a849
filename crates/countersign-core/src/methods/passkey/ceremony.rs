//! A ceremony kept server side in its own one-time row ([`Step::Ceremony`]), bound to the
//! browser's flow or the user, and taken — deleted, by exactly one caller — before its answer is
//! verified: a challenge is answered once, within [`CEREMONY_TTL`].

use crate::error::{CoreError, CoreResult};
use crate::model::{SignInFlow, Tenant};
use crate::secret::token_digest;
use crate::signin::flow::{FlowState, Step};
use crate::Deps;

use super::*;

/// How long a browser has to answer a ceremony: the timeout the browser is given too.
pub const CEREMONY_TTL: i64 = 300;

/// A ceremony waiting for its answer, stored as its own one-time flow row.
pub(super) fn ceremony_row(
    deps: &Deps,
    tenant: &Tenant,
    purpose: Purpose,
    begun: &Begun,
    user_id: Option<&str>,
    bound_to: &str,
) -> SignInFlow {
    let mut row = bound_row(
        deps,
        tenant,
        purpose,
        &begun.state,
        user_id,
        token_digest(bound_to),
    );
    if purpose == Purpose::CrossDevice {
        row.state.step = match row.state.step {
            Step::Ceremony {
                purpose,
                state,
                bound_to,
                ..
            } => Step::Ceremony {
                purpose,
                state,
                bound_to,
                options: Some(begun.options.to_string()),
            },
            other => other,
        };
    }
    row
}

/// A ceremony's row: `state` for `purpose`, bound to `bound` (a digest), expiring after the
/// purpose's time (a cross-device link's two minutes, or the browser's timeout).
pub(super) fn bound_row(
    deps: &Deps,
    tenant: &Tenant,
    purpose: Purpose,
    state: &str,
    user_id: Option<&str>,
    bound: String,
) -> SignInFlow {
    let now = deps.now();
    let ttl = match purpose {
        Purpose::CrossDevice | Purpose::Answered => LINK_TTL,
        _ => CEREMONY_TTL,
    };
    SignInFlow {
        id: deps.secret_token(),
        tenant_id: tenant.id.clone(),
        // Never posted to (it is no browser's flow): a token nobody knows.
        csrf: deps.secret_token(),
        request: None,
        state: FlowState {
            step: Step::Ceremony {
                purpose,
                state: state.to_string(),
                bound_to: bound,
                options: None,
            },
            user_id: user_id.map(str::to_string),
            ..FlowState::default()
        },
        return_to: None,
        created_at: now,
        expires_at: now + ttl,
    }
}

/// A ceremony taken for its answer: the verifier's state and the user it was begun for.
pub(super) struct Taken {
    pub(super) state: String,
    pub(super) user_id: Option<String>,
    /// The digest it was bound to.
    pub(super) bound: String,
}

/// Takes the ceremony `id` of this tenant, begun for `purpose` and bound to `bound_to` (the
/// browser's flow id, or the user; `None`: a cross-device link, which its holder answers):
/// deleted before its answer is verified, so that of two answers to one challenge at most one is
/// verified; an unknown, foreign, expired or already answered one is `FlowExpired`.
pub(super) async fn take(
    deps: &Deps,
    tenant: &Tenant,
    id: &str,
    purposes: &[Purpose],
    bound_to: Option<&str>,
) -> CoreResult<Taken> {
    let row = deps.store.flow_by_id(id).await?;
    take_row(deps, tenant, id, row, purposes, bound_to).await
}

/// [`take`] with the ceremony's row read already (`row`: what `flow_by_id(id)` found).
pub(super) async fn take_row(
    deps: &Deps,
    tenant: &Tenant,
    id: &str,
    row: Option<SignInFlow>,
    purposes: &[Purpose],
    bound_to: Option<&str>,
) -> CoreResult<Taken> {
    let Some(row) = row else {
        return Err(CoreError::FlowExpired);
    };
    // Everything is checked before the row is taken, so that a wrong taker (another browser, a
    // sign-in flow's id posted here) uses nothing up; the delete then decides who takes it.
    let Step::Ceremony {
        purpose,
        state,
        bound_to: bound,
        ..
    } = row.state.step
    else {
        return Err(CoreError::FlowExpired);
    };
    let ok = row.tenant_id == tenant.id
        && deps.now() < row.expires_at
        && purposes.contains(&purpose)
        && bound_to
            .is_none_or(|b| crate::secret::ct_eq(bound.as_bytes(), token_digest(b).as_bytes()));
    if !ok || !deps.store.delete_flow(id, &row.csrf).await? {
        return Err(CoreError::FlowExpired);
    }
    Ok(Taken {
        state,
        user_id: row.state.user_id,
        bound,
    })
}
