//! Devices: activation codes and registration (checked before the code is consumed), proofs of a
//! device key over a challenge, and removal (the notifier tells the device's open channel).

use super::*;
use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult, DeviceError};
use crate::model::{OathKind, Tenant, User};
use crate::policy::{Eligibility, MethodsPolicy};
use crate::secret::token_digest;
use crate::Deps;

/// How long an activation code works.
pub const ACTIVATION_TTL: Timestamp = 10 * 60;

/// Starts registering a device to `user` (security info → "Authenticator app"): refused unless
/// the tenant's policy lets the user use the Authenticator app. Returns the one-time activation
/// code; the store keeps only its digest. (A policy change within the code's ten minutes does not
/// undo the registration — like every registration, the device then stays unusable while the
/// policy disallows it, as its every use checks the policy.)
pub async fn begin_activation(deps: &Deps, tenant: &Tenant, user: &User) -> CoreResult<String> {
    let may = Eligibility::load(deps, tenant, user).await?;
    if !may.authenticator() {
        return Err(CoreError::MethodNotSupported);
    }
    let with_codes = may.oath(OathKind::Software);
    let code = deps.secret_token();
    let now = deps.now();
    deps.store
        .insert_activation(&Activation {
            code_digest: token_digest(&code),
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + ACTIVATION_TTL,
            with_codes,
        })
        .await?;
    Ok(code)
}

/// A device asking to be registered, as received.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub code: &'a str,
    pub public_key: &'a str,
    pub signature: &'a str,
    /// The payload the device signed, built from `code` and `public_key` by the protocol's rules.
    pub signed: &'a str,
    pub name: &'a str,
    pub app_version: &'a str,
    pub platform: &'a str,
}

/// Registers a device with an activation code. Everything that needs no storage is checked
/// first — its fields, its app version against `min_app_version`, its key and that it signed
/// with it — so a refused attempt leaves the code usable; then the code is consumed and the
/// device bound to the code's user in one write, which finds nothing (and writes nothing) for a
/// code of another tenant.
pub async fn register(
    deps: &Deps,
    tenant: &Tenant,
    r: &Registration<'_>,
    min_app_version: Option<&str>,
) -> CoreResult<Device> {
    let (name, app_version, platform) =
        device_texts(r.name, r.app_version, r.platform, min_app_version)?;
    let key = proved_key("public_key", r.public_key, r.signed, r.signature)?;
    let now = deps.now();
    let device = Device {
        id: format!("dev_{}", deps.new_id()),
        // The activation code must be this tenant's; the user is the code's.
        tenant_id: tenant.id.clone(),
        user_id: String::new(),
        name,
        public_key: key.to_base64(),
        app_version,
        platform,
        created_at: now,
        last_seen_at: Some(now),
        oath_token_id: None,
        phone_key: None,
        phone_enabled_at: None,
    };
    // Made before the code is known good: the store keeps it only with a registration whose
    // activation allows codes. Its user is the activation's, like the device's.
    let mut codes = crate::methods::oath::new_software_token(deps, "", "");
    codes.name = device.name.clone();
    codes.active = true;
    deps.store
        .register_device(&token_digest(r.code), now, &device, &codes)
        .await?
        .ok_or_else(|| DeviceError::ActivationInvalid.into())
}

/// A registering device's name, app version and platform, checked, and its app version against
/// the server's minimum.
pub(crate) fn device_texts(
    name: &str,
    app_version: &str,
    platform: &str,
    min_app_version: Option<&str>,
) -> CoreResult<(String, String, String)> {
    use crate::directory::clean_text;
    let name = clean_text("name", name, 64)?;
    let app_version = clean_text("app_version", app_version, 32)?;
    let platform = clean_text("platform", platform, 32)?;
    if let Some(min) = min_app_version {
        if !version_at_least(&app_version, min) {
            return Err(DeviceError::AppVersionUnsupported { min: min.into() }.into());
        }
    }
    Ok((name, app_version, platform))
}

/// One installation of the authenticator, registered to one account (a device holding several
/// accounts registers each with its own key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    /// The base64url SEC1 point ([`DeviceKey::parse`] accepted it).
    pub public_key: String,
    pub app_version: String,
    pub platform: String,
    pub created_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    /// The verification codes (software OATH token) it got at registration, if any.
    pub oath_token_id: Option<String>,
    /// The phone sign-in key (another P-256 point, base64url) once phone sign-in is enabled on
    /// this device for this account: only it answers passwordless requests.
    pub phone_key: Option<String>,
    pub phone_enabled_at: Option<Timestamp>,
}

/// A one-time activation code, known to the store only by its digest, bound to the user who
/// asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub code_digest: String,
    pub tenant_id: String,
    pub user_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The policy let the user use software OATH tokens when the code was made: the device also
    /// gets verification codes for offline use.
    pub with_codes: bool,
}

/// How long a device challenge may be answered.
pub const CHALLENGE_TTL: Timestamp = 60;

/// A device's proof of its key over a server challenge, as received.
#[derive(Debug, Clone)]
pub struct KeyProof<'a> {
    pub device_id: &'a str,
    pub challenge: &'a str,
    pub signature: &'a str,
    /// The payload signed, built from `device_id` and `challenge` by the protocol's rules.
    pub signed: &'a str,
    pub app_version: &'a str,
}

/// Issues a single-use challenge to a device. An unknown device gets one too (stored against
/// nothing, it can never be used), so the answer doesn't tell which device ids exist.
pub async fn challenge(deps: &Deps, device_id: &str) -> CoreResult<String> {
    let c = deps.secret_token();
    if deps.store.device_by_id(device_id).await?.is_some() {
        deps.store
            .insert_device_challenge(&token_digest(&c), device_id, deps.now() + CHALLENGE_TTL)
            .await?;
    }
    Ok(c)
}

/// The registered device of `tenant` behind an id, with its user (enabled), refused when the app is older
/// than `min_app_version` (what it says now, or what it registered with).
pub(super) async fn known_device(
    deps: &Deps,
    tenant: &Tenant,
    device_id: &str,
    app_version: &str,
    min_app_version: Option<&str>,
) -> CoreResult<(Device, User, MethodsPolicy)> {
    let device = deps
        .store
        .device_by_id(device_id)
        .await?
        .filter(|d| d.tenant_id == tenant.id)
        .ok_or(DeviceError::DeviceUnknown)?;
    let (user, policy) = deps
        .store
        .user_with_policy(&device.user_id)
        .await?
        .filter(|(u, _)| u.enabled)
        .ok_or(DeviceError::DeviceUnknown)?;
    if let Some(min) = min_app_version {
        if !version_at_least(app_version, min) {
            return Err(DeviceError::AppVersionUnsupported { min: min.into() }.into());
        }
    }
    Ok((device, user, policy.map(|p| p.policy).unwrap_or_default()))
}

/// A device proves its key over a challenge it was given: what the channel's `hello` and a fetch
/// of pending requests start with. A challenge from [`challenge`] is taken from the store (single
/// use, 60 seconds); one the channel issued on its own connection (`on_connection`) is single use
/// by that connection and never stored. Returns the device and its user.
pub async fn prove(
    deps: &Deps,
    tenant: &Tenant,
    p: &KeyProof<'_>,
    min_app_version: Option<&str>,
    on_connection: bool,
) -> CoreResult<(Device, User)> {
    let (device, user, _) =
        known_device(deps, tenant, p.device_id, p.app_version, min_app_version).await?;
    let key = DeviceKey::parse(&device.public_key).ok_or(DeviceError::DeviceUnknown)?;
    if !key.verifies(p.signed, p.signature) {
        return Err(DeviceError::BadSignature.into());
    }
    let now = deps.now();
    if !on_connection
        && !deps
            .store
            .take_device_challenge(&token_digest(p.challenge), &device.id, now)
            .await?
    {
        return Err(DeviceError::BadSignature.into());
    }
    seen(deps, &device, now).await?;
    Ok((device, user))
}

/// How stale a device's last-seen time may get before it is written back: security info shows
/// it to the minute, and a write on every answer would cost each request a commit.
const SEEN_EVERY: Timestamp = 60;

pub(super) async fn seen(deps: &Deps, device: &Device, now: Timestamp) -> CoreResult<()> {
    if device.last_seen_at.is_none_or(|at| now - at >= SEEN_EVERY) {
        deps.store.touch_device(&device.id, now).await?;
    }
    Ok(())
}

/// Removes one of the user's devices (security info, or an administrator): its signatures find no
/// key any more and it is sent nothing. False when the user has no such device.
pub async fn remove_device(deps: &Deps, user: &User, device_id: &str) -> CoreResult<bool> {
    let mine = deps
        .store
        .devices_of_user(&user.id)
        .await?
        .iter()
        .any(|d| d.id == device_id);
    let removed = mine && deps.store.delete_device(device_id).await?;
    if removed {
        deps.notifier.device_removed(&user.id, device_id);
    }
    Ok(removed)
}
