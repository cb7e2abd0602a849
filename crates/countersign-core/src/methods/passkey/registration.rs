//! Adding a passkey (security info, or a device over the protocol): the policy, self-service,
//! attestation where enforced, the key's type by AAGUID, a credential id unique across all users.

use crate::error::{CoreError, CoreResult};
use crate::methods::{self, Change};
use crate::model::{Session, Tenant, User};
use crate::Deps;

use super::ceremony::{ceremony_row, take};
use super::*;

/// Why a passkey cannot be added where the policy enforces attestation and the server trusts no
/// maker's root (`passkey_attestation` in its configuration).
pub const ATTESTATION_UNAVAILABLE: &str =
    "Your organization only allows passkeys whose maker can be verified, and this server has no \
     list of trusted makers yet. Ask your administrator.";

/// Who adds a passkey for a user.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The user's browser session in security info: it must be recent, with the second factor
    /// when the user has one (`session::may_change_methods`).
    Session(&'a Session),
    /// A device registered to the user for push approvals, proved by its key just now, whose app
    /// opened its vault with the App Lock PIN: possession and knowledge (the Countersign
    /// Authenticator's `passkey register`).
    Device,
}

impl By<'_> {
    fn may_add(&self, deps: &Deps, m: &methods::UserMethods) -> bool {
        match self {
            By::Session(s) => {
                crate::signin::session::may_change_methods(deps, s, m.has_second_factor())
            }
            By::Device => true,
        }
    }
}

/// "Add sign-in method" → "Passkey": refused when the policy does not let the user register a
/// passkey themselves, postponed when the session must sign in again. Returns the ceremony's id
/// and the browser's options.
pub async fn begin_registration(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    by: By<'_>,
    user: &User,
) -> CoreResult<Change<(String, serde_json::Value)>> {
    let m = methods::of_user(deps, tenant, user).await?;
    if !m.can_add_passkey {
        return Err(CoreError::MethodNotSupported);
    }
    if !by.may_add(deps, &m) {
        return Ok(Change::SignInAgain);
    }
    let attested = crate::policy::load(deps, tenant)
        .await?
        .policy
        .passkey
        .is_attestation_enforced;
    if attested && !verifier.can_attest() {
        return Err(CoreError::Forbidden(ATTESTATION_UNAVAILABLE.into()));
    }
    let handle = deps
        .store
        .webauthn_handle(&user.id, &verifier.new_user_handle())
        .await?;
    // Every passkey of the user is excluded, those the policy hides too: one authenticator holds
    // one passkey of an account.
    let exclude: Vec<String> = deps
        .store
        .passkeys_of_user(&user.id)
        .await?
        .into_iter()
        .map(|p| p.credential_id)
        .collect();
    let begun =
        verifier.start_registration(&handle, &user.upn, &user.display_name, &exclude, attested)?;
    let row = ceremony_row(
        deps,
        tenant,
        Purpose::Register,
        &begun,
        Some(&user.id),
        &user.id,
    );
    deps.store.insert_flow(&row).await?;
    Ok(Change::Done((row.id, begun.options)))
}

/// Why a new passkey was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAdded {
    /// The browser's answer did not verify (the reason is for the log).
    Refused(Refusal),
    /// The policy's key restrictions do not allow this type of passkey.
    TypeNotAllowed,
    /// The policy enforces attestation and this passkey's did not chain to a trusted maker (with
    /// the verifier's reason, when it refused).
    NotAttested(Option<Refusal>),
    /// This credential is registered already (to this user or, impossibly, another).
    Duplicate,
    /// The browser says the authenticator did not keep it as a discoverable credential, though
    /// the options required one: it could not sign in without the name typed first.
    NotDiscoverable,
}

/// The browser's answer to a registration: verified, checked against the policy (read again: a
/// change applies at once), and stored under `name` (or the authenticator model's name).
pub async fn finish_registration(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    by: By<'_>,
    user: &User,
    ceremony: &str,
    response: &str,
) -> CoreResult<Change<Result<PasskeyCredential, NotAdded>>> {
    let taken = take(deps, tenant, ceremony, &[Purpose::Register], Some(&user.id)).await?;
    if taken.user_id.as_deref() != Some(user.id.as_str()) {
        return Err(CoreError::FlowExpired);
    }
    let m = methods::of_user(deps, tenant, user).await?;
    if !m.can_add_passkey {
        return Err(CoreError::MethodNotSupported);
    }
    if !by.may_add(deps, &m) {
        return Ok(Change::SignInAgain);
    }
    let policy = crate::policy::load(deps, tenant).await?.policy;
    let enforced = policy.passkey.is_attestation_enforced;
    let new = match verifier.finish_registration(&taken.state, response) {
        Ok(n) if enforced && !n.attested => {
            return Ok(Change::Done(Err(NotAdded::NotAttested(None))))
        }
        Ok(n) => n,
        // Where attestation is enforced, a refusal is (most likely) of the attestation.
        Err(r) if enforced => return Ok(Change::Done(Err(NotAdded::NotAttested(Some(r))))),
        Err(r) => return Ok(Change::Done(Err(NotAdded::Refused(r)))),
    };
    // An unsigned hint from the browser, but the only one there is: a browser that says the
    // key is not discoverable is believed (one that says nothing, or yes, cannot be checked).
    if new.discoverable == Some(false) {
        return Ok(Change::Done(Err(NotAdded::NotDiscoverable)));
    }
    if !policy.allows_passkey_model(new.aaguid.as_deref()) {
        return Ok(Change::Done(Err(NotAdded::TypeNotAllowed)));
    }
    let p = PasskeyCredential {
        credential_id: new.credential_id,
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        name: new
            .model
            .clone()
            .or_else(|| model(new.aaguid.as_deref()).map(str::to_string))
            .unwrap_or_else(|| "Passkey".into()),
        aaguid: new.aaguid,
        credential: new.credential,
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
        backup_state: new.backup_state,
        created_at: deps.now(),
        last_used_at: None,
    };
    match deps.store.insert_passkey(&p).await {
        Ok(()) => Ok(Change::Done(Ok(p))),
        Err(crate::error::StoreError::Conflict(_)) => Ok(Change::Done(Err(NotAdded::Duplicate))),
        Err(e) => Err(e.into()),
    }
}
