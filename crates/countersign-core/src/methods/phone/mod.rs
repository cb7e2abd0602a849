//! Phone sign-in (passwordless): a second P-256 key per account and device — the phone sign-in
//! key — turned on with "Enable phone sign-in" on a registered device, or at once by direct
//! registration with a Temporary Access Pass. Only that key answers a passwordless request, and
//! only with the App Lock (`push::check_answer`). The policy's Authenticator mode decides who may
//! use it (`Any` or `Passwordless`); a user may turn it on for a limited number of devices
//! (`Settings::phone_sign_in_limit`).

use crate::error::DeviceError;
use crate::error::{CoreError, CoreResult};
use crate::methods::oath::{self, OathToken};
use crate::methods::push::{self, Device, DeviceKey, KeyProof};
use crate::methods::tap::{self, PassAttempt};
use crate::model::OathKind;
use crate::model::SignInResult;
use crate::model::{Tenant, User};
use crate::policy::Eligibility;
use crate::signin::{log_attempt, Origin};
use crate::Deps;

/// What turning phone sign-in on for a device did (the store decides it in one transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enabled {
    Enabled,
    /// The user has phone sign-in on as many other devices as allowed.
    LimitReached,
    UnknownDevice,
}

/// What a direct registration did (the store decides it in one transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    Registered,
    /// The pass was no longer live when it was to be used (used by a parallel attempt).
    PassRefused,
    LimitReached,
}

/// A new phone sign-in key as received: parsed, proved by a signature over `signed`, and not the
/// device key.
fn phone_key(key: &str, device_key: &str, signed: &str, signature: &str) -> CoreResult<DeviceKey> {
    let parsed = push::proved_key("phone_key", key, signed, signature)?;
    if parsed.to_base64() == device_key {
        return Err(CoreError::invalid(
            "phone_key",
            "must be a key of its own, not the device key",
        ));
    }
    Ok(parsed)
}

/// A pass attempt's refusal (`SignInFailed`, already logged) as the device protocol says it;
/// any other error as it is.
fn refused_as(e: CoreError, device: DeviceError) -> CoreError {
    match e {
        CoreError::SignInFailed => device.into(),
        other => other,
    }
}

/// "Enable phone sign-in" on a registered device, as received.
#[derive(Debug, Clone)]
pub struct Enable<'a> {
    pub device_id: &'a str,
    pub challenge: &'a str,
    pub phone_key: &'a str,
    /// By the device key and by the phone key, over `signed` (the protocol's phone-sign-in
    /// payload, built from the three fields above).
    pub signature: &'a str,
    pub phone_signature: &'a str,
    pub signed: &'a str,
    pub app_version: &'a str,
}

/// Turns phone sign-in on for a registered device: the device proves its key over a fresh
/// challenge, the new phone key proves itself, the policy must allow phone sign-in for the user
/// (mode `Any` or `Passwordless`), and the user's limit of devices must not be reached.
pub async fn enable(
    deps: &Deps,
    tenant: &Tenant,
    e: &Enable<'_>,
    min_app_version: Option<&str>,
) -> CoreResult<(Device, User)> {
    let proof = KeyProof {
        device_id: e.device_id,
        challenge: e.challenge,
        signature: e.signature,
        signed: e.signed,
        app_version: e.app_version,
    };
    let (device, user) = push::prove(deps, tenant, &proof, min_app_version, false).await?;
    // Refusals are in the sign-in log, as "Enable phone sign-in" attempts of the user.
    let refuse = |e: DeviceError, reason: &str| {
        let origin = Origin {
            tenant,
            client_id: None,
            client_addr: None,
        };
        let reason = format!("Enable phone sign-in refused: {reason}");
        let user = user.clone();
        async move {
            log_attempt(
                deps,
                origin,
                "phone",
                &user.upn,
                Some(&user),
                SignInResult::Failure,
                Some(reason),
            )
            .await?;
            Err::<(Device, User), CoreError>(e.into())
        }
    };
    if !Eligibility::load(deps, tenant, &user).await?.phone() {
        let why = "not allowed by the policy (Authenticator mode Push)";
        return refuse(DeviceError::PhoneSignInNotAllowed, why).await;
    }
    let key = phone_key(e.phone_key, &device.public_key, e.signed, e.phone_signature)?;
    let limit = deps.settings.phone_sign_in_limit;
    match deps
        .store
        .enable_phone_sign_in(&device.id, &key.to_base64(), deps.now(), limit)
        .await?
    {
        Enabled::Enabled => Ok((device, user)),
        Enabled::LimitReached => {
            let why = format!("on {limit} devices already, the limit");
            refuse(DeviceError::PhoneSignInLimit { limit }, &why).await
        }
        Enabled::UnknownDevice => Err(DeviceError::DeviceUnknown.into()),
    }
}

/// Direct phone sign-in registration with a Temporary Access Pass, as received.
#[derive(Debug, Clone)]
pub struct PassRegistration<'a> {
    pub origin: Origin<'a>,
    pub upn: &'a str,
    pub pass: &'a str,
    pub public_key: &'a str,
    pub phone_key: &'a str,
    /// By the device key and by the phone key, over `signed` (the protocol's
    /// register-with-pass payload).
    pub signature: &'a str,
    pub phone_signature: &'a str,
    pub signed: &'a str,
    pub name: &'a str,
    pub app_version: &'a str,
    pub platform: &'a str,
}

/// A registered device and what it got: its user, and verification codes when the policy allows
/// software OATH tokens.
#[derive(Debug)]
pub struct DirectRegistration {
    pub device: Device,
    pub user: User,
    pub codes: Option<OathToken>,
}

/// Direct registration: a person with a Temporary Access Pass registers the device and turns on
/// phone sign-in in one step. Everything that needs no storage is checked first (the sign-in
/// name by the sign-in page's rules, fields, app
/// version, both keys and their signatures); then the pass, exactly as at the sign-in page (the
/// same lockout, every refusal `PassInvalid`); then the policy; then one transaction uses the
/// pass and stores the device with its keys and codes — or nothing.
pub async fn register_with_pass(
    deps: &Deps,
    r: &PassRegistration<'_>,
    min_app_version: Option<&str>,
) -> CoreResult<DirectRegistration> {
    // The sign-in page's rules for a name, before it becomes a lockout key or a log line.
    let upn = crate::signin::typed_name(r.origin.tenant, r.upn)?;
    let (name, app_version, platform) =
        push::device_texts(r.name, r.app_version, r.platform, min_app_version)?;
    let device_key = push::proved_key("public_key", r.public_key, r.signed, r.signature)?;
    let key = phone_key(
        r.phone_key,
        &device_key.to_base64(),
        r.signed,
        r.phone_signature,
    )?;
    let attempt = PassAttempt {
        origin: r.origin,
        name: &upn,
        pass: r.pass,
    };
    let checked = tap::check(deps, attempt)
        .await
        .map_err(|e| refused_as(e, DeviceError::PassInvalid))?;
    let may = Eligibility::load(deps, r.origin.tenant, &checked.user).await?;
    if !may.phone() {
        return checked
            .refuse(deps, "phone sign-in not allowed by the policy")
            .await
            .map_err(|e| refused_as(e, DeviceError::PhoneSignInNotAllowed));
    }
    let now = deps.now();
    let user = &checked.user;
    let codes = may.oath(OathKind::Software).then(|| OathToken {
        name: name.clone(),
        active: true,
        ..oath::new_software_token(deps, &user.tenant_id, &user.id)
    });
    let device = Device {
        id: format!("dev_{}", deps.new_id()),
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        name,
        public_key: device_key.to_base64(),
        app_version,
        platform,
        created_at: now,
        last_seen_at: Some(now),
        oath_token_id: codes.as_ref().map(|c| c.id.clone()),
        phone_key: Some(key.to_base64()),
        phone_enabled_at: Some(now),
    };
    let limit = deps.settings.phone_sign_in_limit;
    match deps
        .store
        .register_with_pass(&checked.pass.id, now, &device, codes.as_ref(), limit)
        .await?
    {
        Registered::Registered => {
            let user = checked.accept(deps).await?;
            Ok(DirectRegistration {
                device,
                user,
                codes,
            })
        }
        Registered::PassRefused => checked
            .refuse(deps, "Temporary Access Pass used meanwhile")
            .await
            .map_err(|e| refused_as(e, DeviceError::PassInvalid)),
        Registered::LimitReached => checked
            .refuse(deps, "phone sign-in limit reached")
            .await
            .map_err(|e| refused_as(e, DeviceError::PhoneSignInLimit { limit })),
    }
}
