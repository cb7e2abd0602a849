//! Security info's rules: which of a user's sign-in methods are shown and usable (the tenant's
//! authentication methods policy applied — a disabled method's registrations are kept, hidden),
//! what may be added, and when a session may add or delete one (a recent sign-in, with the second
//! factor when the user has one); deleting one ends the user's other sessions and tokens.

pub mod oath;
pub mod passkey;
pub mod password;
pub mod phone;
pub mod push;
pub mod tap;

use crate::error::{CoreError, CoreResult};
use crate::methods::passkey::PasskeyCredential;
use crate::model::OathKind;
use crate::model::{Session, Tenant, User};
use crate::policy::{Eligibility, MethodId};
use crate::signin::session;
use crate::Deps;
use oath::{OathToken, OathTokenInfo};
use push::Device;

/// A user's methods as security info shows them.
#[derive(Debug, Clone)]
pub struct UserMethods {
    /// OATH tokens of the kinds the policy lets the user use (pending ones included), but those
    /// a device got at registration: they are shown with their device.
    pub tokens: Vec<OathTokenInfo>,
    /// Devices registered for push approvals, when the policy lets the user use the
    /// Authenticator app, each with whether it also has verification codes the policy allows.
    pub devices: Vec<(Device, bool)>,
    /// Whether the user may add an authenticator app (software OATH) themselves.
    pub can_add_app: bool,
    /// Whether the user may register a device for push approvals themselves.
    pub can_add_device: bool,
    /// Whether the policy lets the user approve sign-ins on a device (mode Any or Push).
    pub push_allowed: bool,
    /// Passkeys the policy lets the user use (its key restrictions applied).
    pub passkeys: Vec<PasskeyCredential>,
    /// Whether the user may register a passkey themselves (passkeys allowed, self-service on).
    pub can_add_passkey: bool,
}

impl UserMethods {
    /// Whether the user has a second factor they can use now.
    pub fn has_second_factor(&self) -> bool {
        self.tokens.iter().any(|t| t.active)
            || self.devices.iter().any(|(_, codes)| *codes)
            || (self.push_allowed && !self.devices.is_empty())
            || !self.passkeys.is_empty()
    }
}

/// The outcome of a change that needs a recent, strong enough sign-in.
#[derive(Debug)]
pub enum Change<T> {
    Done(T),
    /// The session is too old, or lacks the second factor: sign in again first.
    SignInAgain,
}

pub async fn of_user(deps: &Deps, tenant: &Tenant, user: &User) -> CoreResult<UserMethods> {
    let may = Eligibility::load(deps, tenant, user).await?;
    let allowed = |k: OathKind| may.oath(k);
    let authenticator = may.authenticator();
    let all_devices = deps.store.devices_of_user(&user.id).await?;
    let tokens: Vec<OathTokenInfo> = deps
        .store
        .oath_token_list(&user.id)
        .await?
        .into_iter()
        .filter(|t| allowed(t.kind))
        .collect();
    let of_device = |t: &OathTokenInfo| {
        all_devices
            .iter()
            .any(|d| d.oath_token_id.as_deref() == Some(&t.id))
    };
    let devices = if authenticator {
        all_devices
            .iter()
            .map(|d| {
                let codes = tokens
                    .iter()
                    .any(|t| t.active && d.oath_token_id.as_deref() == Some(&t.id));
                (d.clone(), codes)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(UserMethods {
        tokens: tokens.iter().filter(|t| !of_device(t)).cloned().collect(),
        devices,
        can_add_app: allowed(OathKind::Software),
        can_add_device: authenticator,
        push_allowed: may.push(),
        passkeys: passkey::usable(deps, &may, &user.id).await?,
        can_add_passkey: may.allows(MethodId::Passkey)
            && may.policy().passkey.is_self_service_registration_allowed,
    })
}

/// Starts registering a device for push approvals: refused when the policy does not allow the
/// Authenticator app, postponed when the session must sign in again. Returns the activation code.
pub async fn begin_device(
    deps: &Deps,
    tenant: &Tenant,
    s: &Session,
    user: &User,
) -> CoreResult<Change<String>> {
    let m = of_user(deps, tenant, user).await?;
    if !m.can_add_device {
        return Err(CoreError::MethodNotSupported);
    }
    if !session::may_change_methods(deps, s, m.has_second_factor()) {
        return Ok(Change::SignInAgain);
    }
    Ok(Change::Done(
        push::begin_activation(deps, tenant, user).await?,
    ))
}

/// Starts adding an authenticator app: refused when the policy does not allow it, postponed when
/// the session must sign in again.
pub async fn begin_app(
    deps: &Deps,
    tenant: &Tenant,
    s: &Session,
    user: &User,
) -> CoreResult<Change<OathToken>> {
    let m = of_user(deps, tenant, user).await?;
    if !m.can_add_app {
        return Err(CoreError::MethodNotSupported);
    }
    if !session::may_change_methods(deps, s, m.has_second_factor()) {
        return Ok(Change::SignInAgain);
    }
    Ok(Change::Done(oath::begin_enrolment(deps, user).await?))
}

/// Deletes one of the user's shown methods (an OATH token, a device with its codes, a passkey).
/// Other access ends first (every other session, every token): should the deletion then fail,
/// nothing was left open by it. `keep_cookie` is the session making the change.
pub async fn delete(
    deps: &Deps,
    tenant: &Tenant,
    s: &Session,
    keep_cookie: &str,
    user: &User,
    token_id: &str,
) -> CoreResult<Change<()>> {
    let m = of_user(deps, tenant, user).await?;
    let token = m.tokens.iter().find(|t| t.id == token_id);
    let device = m.devices.iter().find(|(d, _)| d.id == token_id);
    let passkey = m.passkeys.iter().find(|p| p.credential_id == token_id);
    if token.is_none() && device.is_none() && passkey.is_none() {
        return Err(CoreError::not_found("sign-in method", token_id));
    }
    if !session::may_change_methods(deps, s, m.has_second_factor()) {
        return Ok(Change::SignInAgain);
    }
    session::end_other_access(deps, user, keep_cookie).await?;
    if let Some(t) = token {
        deps.store.delete_oath_token(&t.id).await?;
    }
    if let Some((d, _)) = device {
        // Its signatures find no key any more, and its codes go with it.
        push::remove_device(deps, user, &d.id).await?;
    }
    if let Some(p) = passkey {
        deps.store
            .delete_passkey(&user.id, &p.credential_id)
            .await?;
    }
    Ok(Change::Done(()))
}

/// Renames one of the user's shown passkeys (1–64 characters, no control characters). A name is
/// not a credential: no recent sign-in is needed.
pub async fn rename_passkey(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    credential_id: &str,
    name: &str,
) -> CoreResult<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "name",
            "a passkey's name is 1 to 64 characters, without control characters",
        ));
    }
    let m = of_user(deps, tenant, user).await?;
    if !m.passkeys.iter().any(|p| p.credential_id == credential_id)
        || !deps
            .store
            .rename_passkey(&user.id, credential_id, name)
            .await?
    {
        return Err(CoreError::not_found("passkey", credential_id));
    }
    Ok(())
}
