//! "Sign in with a passkey on another device": the computer's one-time link, the device's answer
//! to it (verified exactly as a browser's), and the computer finishing its sign-in.

use crate::error::{CoreError, CoreResult};
use crate::model::{SignInFlow, Tenant};
use crate::secret::token_digest;
use crate::signin::flow::Step;
use crate::signin::Origin;
use crate::Deps;
use serde::Deserialize;

use super::ceremony::{bound_row, ceremony_row, take};
use super::sign_in::{take_answered, verify};
use super::*;

/// How long a cross-device link works (and, once answered, how long the computer has to finish).
pub const LINK_TTL: i64 = 120;

/// "Sign in with a passkey on another device": a ceremony for this browser's flow — with no name
/// (any of the person's passkeys), or the flow's user's — whose id is the code of the one-time
/// link the page shows (`countersign://passkey?server=…&code=…`).
pub async fn begin_cross_device(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    flow: &SignInFlow,
) -> CoreResult<String> {
    let at_passkey = matches!(
        flow.state.step,
        Step::Identify
            | Step::Method {
                method: crate::signin::flow::Method::Passkey
            }
    );
    if !at_passkey {
        return Err(CoreError::FlowExpired);
    }
    if flow.state.step == Step::Identify && !on_in_tenant(deps, tenant).await? {
        return Err(CoreError::MethodNotSupported);
    }
    let begun = verifier.start_authentication(&[])?;
    let row = ceremony_row(
        deps,
        tenant,
        Purpose::CrossDevice,
        &begun,
        flow.state.user_id.as_deref(),
        &flow.id,
    );
    deps.store.insert_flow(&row).await?;
    Ok(row.id)
}

/// The short code a link's page and the device both show, so the person can tell that the
/// device signs in the computer in front of them: six digits of the link's digest.
pub fn short_code(code: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("countersign-passkey-link:{code}").as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// What a device gets for a live link: the browser's options and the short code.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub options: serde_json::Value,
    pub short_code: String,
}

/// The request behind a cross-device link, for the device holding it; an unknown, used or
/// expired link is `FlowExpired`. Reading it changes nothing.
pub async fn link_request(deps: &Deps, tenant: &Tenant, code: &str) -> CoreResult<LinkRequest> {
    let row = deps.store.flow_by_id(code).await?;
    let Some(row) = row.filter(|r| r.tenant_id == tenant.id && deps.now() < r.expires_at) else {
        return Err(CoreError::FlowExpired);
    };
    match row.state.step {
        Step::Ceremony {
            purpose: Purpose::CrossDevice,
            options: Some(options),
            ..
        } => Ok(LinkRequest {
            options: serde_json::from_str(&options)
                .map_err(|e| CoreError::Internal(format!("stored options: {e}")))?,
            short_code: short_code(code),
        }),
        _ => Err(CoreError::FlowExpired),
    }
}

/// The device's answer to a cross-device link, verified exactly as a browser's (and logged).
/// Accepted, it leaves the link answered for the computer's page to finish with.
pub async fn answer_link(
    deps: &Deps,
    verifier: &dyn Verifier,
    o: Origin<'_>,
    code: &str,
    response: &str,
) -> CoreResult<()> {
    let purposes = [Purpose::CrossDevice];
    let (answer, taken) =
        take_answered(deps, verifier, o.tenant, code, &purposes, None, response).await?;
    let signed = verify(deps, verifier, o, &taken, None, response, answer).await?;
    let proof = serde_json::json!({"hardware": signed.hardware, "pin": signed.pin}).to_string();
    let purpose = Purpose::Answered;
    let row = bound_row(
        deps,
        o.tenant,
        purpose,
        &proof,
        Some(&signed.user.id),
        taken.bound,
    );
    deps.store
        .insert_flow(&SignInFlow {
            id: code.to_string(),
            ..row
        })
        .await?;
    Ok(())
}

/// Where a cross-device link of this browser's flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not answered yet.
    Waiting,
    /// Answered and verified: the page may finish.
    Answered,
    /// Used, refused or expired: the page starts over.
    Gone,
}

pub async fn link_state(
    deps: &Deps,
    tenant: &Tenant,
    flow: &SignInFlow,
    code: &str,
) -> CoreResult<LinkState> {
    let row = deps.store.flow_by_id(code).await?;
    let live = row.filter(|r| r.tenant_id == tenant.id && deps.now() < r.expires_at);
    Ok(match live.map(|r| r.state.step) {
        Some(Step::Ceremony {
            purpose, bound_to, ..
        }) if crate::secret::ct_eq(bound_to.as_bytes(), token_digest(&flow.id).as_bytes()) => {
            match purpose {
                Purpose::CrossDevice => LinkState::Waiting,
                Purpose::Answered => LinkState::Answered,
                _ => LinkState::Gone,
            }
        }
        _ => LinkState::Gone,
    })
}

/// The computer's page finishes a sign-in its link's device answered: the proof, for this
/// browser's flow only, once; the user read again (still enabled, in this tenant).
pub async fn finish_link(
    deps: &Deps,
    tenant: &Tenant,
    flow: &SignInFlow,
    code: &str,
) -> CoreResult<SignedIn> {
    let taken = take(deps, tenant, code, &[Purpose::Answered], Some(&flow.id)).await?;
    // With a name typed, the passkey must be that user's.
    if flow.state.user_id.is_some() && taken.user_id != flow.state.user_id {
        return Err(CoreError::FlowExpired);
    }
    #[derive(Deserialize)]
    struct Proved {
        hardware: bool,
        pin: bool,
    }
    let proved: Proved = serde_json::from_str(&taken.state)
        .map_err(|e| CoreError::Internal(format!("answered link: {e}")))?;
    let id = taken.user_id.as_deref().unwrap_or_default();
    let user = deps
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.enabled && u.tenant_id == tenant.id)
        .ok_or(CoreError::FlowExpired)?;
    Ok(SignedIn {
        user,
        hardware: proved.hardware,
        pin: proved.pin,
    })
}
