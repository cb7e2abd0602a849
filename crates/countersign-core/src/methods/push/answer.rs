//! A device's answer to a sign-in request: the checks it must pass, in order (this user's device,
//! its signature, not answered before, not expired, the right number), and its recording — one
//! answer settles a request, every refusal is in the sign-in log.

use super::*;
use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult, DeviceError};
use crate::model::{SignInResult, Tenant, User};
use crate::policy::Eligibility;
use crate::secret::ct_eq;
use crate::signin::throttle::{self, Release};
use crate::signin::{log_attempt, Origin};
use crate::Deps;

/// What the person decided on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    /// "It's not me": refused, and reported as fraud.
    NotMe,
}

/// A device's answer as received (the device itself is the [`Signer`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub decision: Decision,
    /// The digits typed (approvals only).
    pub number: Option<String>,
    /// The device says its App Lock was used.
    pub pin: bool,
    pub signature: String,
    /// The payload the device signed, built from this answer by the device protocol's rules: as
    /// an answer to a push request, and as one to a passwordless request (another purpose).
    pub signed: String,
    pub signed_passwordless: String,
}

/// The facts about a pending request and its device that an answer is checked against.
#[derive(Debug, Clone)]
pub struct Pending<'a> {
    /// The user the request is for.
    pub user_id: &'a str,
    pub number: &'a str,
    pub expires_at: Timestamp,
    pub answered: bool,
    /// Phone sign-in: only the phone sign-in key answers, and an approval needs the App Lock.
    pub passwordless: bool,
}

/// The answering device as registered.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    pub user_id: &'a str,
    pub key: &'a DeviceKey,
    /// Its phone sign-in key, when phone sign-in is on.
    pub phone_key: Option<&'a DeviceKey>,
}

/// What a checked answer means for the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approved { pin: bool },
    Denied,
    NotMe,
}

/// Checks an answer. The signature comes first, so nothing about the request (answered,
/// expired, its number) is told to whoever does not hold the device's key. Single use is
/// enforced again where the answer is recorded (one conditional write), as two answers may
/// both pass this check at once.
pub fn check_answer(
    pending: &Pending<'_>,
    signer: &Signer<'_>,
    answer: &Answer,
    now: Timestamp,
) -> Result<Verdict, DeviceError> {
    if signer.user_id != pending.user_id {
        return Err(DeviceError::RequestNotFound);
    }
    // A passwordless request is answered with the phone sign-in key over its own payload: the
    // push-only device key can't sign the user in without a password.
    let (key, signed) = if pending.passwordless {
        let key = signer.phone_key.ok_or(DeviceError::PhoneSignInNotEnabled)?;
        (key, &answer.signed_passwordless)
    } else {
        (signer.key, &answer.signed)
    };
    if !key.verifies(signed, &answer.signature) {
        return Err(DeviceError::BadSignature);
    }
    if pending.answered {
        return Err(DeviceError::RequestAnswered);
    }
    if now >= pending.expires_at {
        return Err(DeviceError::RequestExpired);
    }
    Ok(match answer.decision {
        Decision::Approve => {
            let typed = answer.number.as_deref().unwrap_or_default();
            if !ct_eq(typed.as_bytes(), pending.number.as_bytes()) {
                return Err(DeviceError::WrongNumber);
            }
            if pending.passwordless && !answer.pin {
                return Err(DeviceError::PinRequired);
            }
            Verdict::Approved { pin: answer.pin }
        }
        Decision::Deny => Verdict::Denied,
        Decision::NotMe => Verdict::NotMe,
    })
}

/// A device's answer to a request, as received.
#[derive(Debug, Clone)]
pub struct DeviceAnswer<'a> {
    pub device_id: &'a str,
    pub request_id: &'a str,
    pub app_version: &'a str,
    pub answer: Answer,
}

/// Checks and records a device's answer (see [`check_answer`]); exactly one answer settles a
/// request. Every refusal that concerns an existing request is in the sign-in log, against that
/// request's user. An approval gives back the attempt the request counted; a denial or "It's not
/// me" takes back just this one (a person answered); a wrong number keeps it counted.
/// "It's not me" also blocks the user's push requests until an administrator clears it.
pub async fn answer(
    deps: &Deps,
    tenant: &Tenant,
    a: &DeviceAnswer<'_>,
    min_app_version: Option<&str>,
) -> CoreResult<(PushRequest, Verdict)> {
    let request = deps.store.push_request(a.request_id).await?;
    let request = request.filter(|r| r.tenant_id == tenant.id);
    let method = if request.as_ref().is_some_and(|r| r.passwordless) {
        "phone"
    } else {
        "push"
    };
    // Logged against the request's user: the one already read when the device is theirs, read
    // here otherwise.
    let log = |known: Option<&User>, result: SignInResult, reason: String| {
        let request = request.clone();
        let known = known.cloned();
        async move {
            let Some(r) = request else {
                return Ok::<_, CoreError>(());
            };
            let user = match known.filter(|u| u.id == r.user_id) {
                Some(u) => Some(u),
                None => deps.store.user_by_id(&r.user_id).await?,
            };
            let origin = Origin {
                tenant,
                client_id: r.client_id.as_deref(),
                client_addr: r.client_addr.as_deref(),
            };
            let name = user.as_ref().map_or("", |u| u.upn.as_str());
            log_attempt(
                deps,
                origin,
                method,
                name,
                user.as_ref(),
                result,
                Some(reason),
            )
            .await
        }
    };
    let known = known_device(deps, tenant, a.device_id, a.app_version, min_app_version).await;
    let (device, user, policy) = match known {
        Ok(k) => k,
        Err(e) => {
            log(
                None,
                SignInResult::Failure,
                format!("push answer refused: {e}"),
            )
            .await?;
            return Err(e);
        }
    };
    let Some(r) = request.clone() else {
        return Err(DeviceError::RequestNotFound.into());
    };
    let may = Eligibility::of(deps, policy, &user).await?;
    let allowed = if r.passwordless {
        may.phone()
    } else {
        may.push()
    };
    if !allowed {
        log(
            Some(&user),
            SignInResult::Failure,
            format!("{method} not allowed by the policy"),
        )
        .await?;
        return Err(CoreError::MethodNotSupported);
    }
    let key = DeviceKey::parse(&device.public_key).ok_or(DeviceError::DeviceUnknown)?;
    let phone_key = device.phone_key.as_deref().and_then(DeviceKey::parse);
    // A request that expired or was withdrawn (superseded, or its sign-in moved on) is over as
    // if expired; one settled by an answer is answered.
    let over = matches!(r.state, PushState::Expired | PushState::Withdrawn);
    let pending = Pending {
        user_id: &r.user_id,
        number: &r.number,
        expires_at: if over { Timestamp::MIN } else { r.expires_at },
        answered: !over && r.state != PushState::Pending,
        passwordless: r.passwordless,
    };
    let signer = Signer {
        user_id: &device.user_id,
        key: &key,
        phone_key: phone_key.as_ref(),
    };
    let now = deps.now();
    let mut settled_now = false;
    let verdict = match check_answer(&pending, &signer, &a.answer, now) {
        Ok(v) => v,
        Err(e) => {
            let settled = match e {
                DeviceError::WrongNumber => Some(PushState::WrongNumber),
                DeviceError::RequestExpired => Some(PushState::Expired),
                _ => None,
            };
            if let Some(st) = settled {
                let dev = (st == PushState::WrongNumber).then_some(device.id.as_str());
                // A wrong number or the expiry settles the request too: the waiting browser
                // looks again (told once the answer is logged, as for an approval).
                settled_now = deps
                    .store
                    .settle_push_request(&r.id, st, dev, now, &[])
                    .await?;
            }
            let why = match e {
                DeviceError::RequestNotFound => "answer from another user's device".to_string(),
                DeviceError::RequestAnswered => "answer replayed or late".to_string(),
                ref other => format!("push answer refused: {other}"),
            };
            log(Some(&user), SignInResult::Failure, why).await?;
            if settled_now {
                deps.notifier
                    .requests_settled(&r.user_id, std::slice::from_ref(&r.id));
            }
            return Err(e.into());
        }
    };
    let state = match verdict {
        Verdict::Approved { pin: true } => PushState::ApprovedWithPin,
        Verdict::Approved { pin: false } => PushState::Approved,
        Verdict::Denied => PushState::Denied,
        Verdict::NotMe => PushState::NotMe,
    };
    let key = throttle::push_key(&user.tenant_id, &user.upn);
    let (release, result, reason) = match verdict {
        Verdict::Approved { .. } => (Release::Clear, SignInResult::Success, "approved"),
        Verdict::Denied => (Release::One, SignInResult::Failure, "denied on the device"),
        Verdict::NotMe => (
            Release::One,
            SignInResult::Fraud,
            "reported as fraud (\"It's not me\"); push requests blocked",
        ),
    };
    if !deps
        .store
        .settle_push_request(&r.id, state, Some(&device.id), now, &[(&key, release)])
        .await?
    {
        log(
            Some(&user),
            SignInResult::Failure,
            "answer replayed or late".into(),
        )
        .await?;
        return Err(DeviceError::RequestAnswered.into());
    }
    log(Some(&user), result, reason.into()).await?;
    seen(deps, &device, now).await?;
    // Told last, so the browser that wakes finds the answer's writes done: it signs in while
    // this answer no longer holds the store's writer.
    deps.notifier
        .requests_settled(&r.user_id, std::slice::from_ref(&r.id));
    let settled = PushRequest {
        state,
        settled_at: Some(now),
        device_id: Some(device.id),
        ..r
    };
    Ok((settled, verdict))
}
