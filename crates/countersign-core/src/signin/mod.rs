//! Password sign-in: throttling checks, the password check itself, and the sign-in log. Every
//! failure looks the same to the caller (`CoreError::SignInFailed`); the log keeps the real reason
//! for administrators.

pub mod context;
pub mod flow;
pub mod risk;
pub mod session;
pub mod throttle;

use crate::error::{CoreError, CoreResult};
use crate::methods::oath::Tokens;
use crate::methods::password::{self, HARD_MAX_BYTES};
use crate::model::OathKind;
use crate::model::{SignInLogEntry, SignInResult, Tenant, User};
use crate::Deps;
use throttle::{LockoutPolicy, Release};

/// One attempt as the person made it.
#[derive(Debug, Clone, Copy)]
pub struct PasswordAttempt<'a> {
    pub tenant: &'a Tenant,
    pub typed_name: &'a str,
    pub password: &'a str,
    pub client_id: Option<&'a str>,
    pub client_addr: Option<&'a str>,
}

/// Checks a sign-in name as typed at the first step or sent by an application as `login_hint`, and
/// normalises it: 1 to 256 characters without control or bidirectional formatting characters
/// (they would reach the sign-in log and the administrator's terminal).
pub fn typed_name(tenant: &Tenant, typed: &str) -> CoreResult<String> {
    let t = typed.trim();
    if t.is_empty() || t.chars().count() > 256 || crate::text::has_unsafe_chars(t) {
        return Err(CoreError::invalid(
            "sign-in name",
            "1 to 256 printable characters",
        ));
    }
    Ok(normalize_typed_name(tenant, t))
}

/// What the person typed, normalised: trimmed, lowercase, and completed with the tenant's first
/// domain when they typed only the part before '@'.
pub fn normalize_typed_name(tenant: &Tenant, typed: &str) -> String {
    let n = typed.trim().to_lowercase();
    match tenant.domains.first() {
        Some(d) if !n.contains('@') && !n.is_empty() => format!("{n}@{d}"),
        _ => n,
    }
}

/// Where an attempt came from, for the sign-in log.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub tenant: &'a Tenant,
    pub client_id: Option<&'a str>,
    pub client_addr: Option<&'a str>,
}

pub(crate) async fn log_attempt(
    deps: &Deps,
    o: Origin<'_>,
    method: &str,
    name: &str,
    user: Option<&User>,
    result: SignInResult,
    reason: Option<String>,
) -> CoreResult<()> {
    deps.store
        .append_signin(&SignInLogEntry {
            id: deps.new_id(),
            tenant_id: o.tenant.id.clone(),
            at: deps.now(),
            user_id: user.map(|u| u.id.clone()),
            typed_name: name.chars().take(256).collect(),
            client_id: o.client_id.map(str::to_string),
            client_addr: o.client_addr.map(str::to_string),
            method: method.into(),
            result,
            failure_reason: reason,
        })
        .await?;
    Ok(())
}

/// The second factor: a verification code from one of the user's OATH tokens of the `kinds` the
/// policy lets them use. Logged like every attempt; a refusal is `SignInFailed` whatever the
/// reason (wrong, reused, locked, throttled).
pub async fn code_sign_in(
    deps: &Deps,
    o: Origin<'_>,
    user: &User,
    code: &str,
    kinds: &[OathKind],
) -> CoreResult<()> {
    let ok = matches!(
        crate::methods::oath::check_code(deps, o.tenant, user, code, Tokens::Active(kinds)).await?,
        crate::methods::oath::CodeCheck::Accepted(_)
    );
    let (result, reason) = if ok {
        (SignInResult::Success, None)
    } else {
        (
            SignInResult::Failure,
            Some("wrong, reused or locked verification code".to_string()),
        )
    };
    log_attempt(deps, o, "otp", &user.upn, Some(user), result, reason).await?;
    if ok {
        Ok(())
    } else {
        Err(CoreError::SignInFailed)
    }
}

/// The lockout of a first-factor attempt at a name (a password, a Temporary Access Pass): the
/// attempt is counted under the account and the client address before it is checked, and given
/// back when it succeeds. Both methods share it, so alternating them gains a guesser nothing.
pub(crate) struct FirstFactorGuard {
    account: String,
    address: Option<String>,
}

impl FirstFactorGuard {
    pub(crate) fn new(tenant: &Tenant, name: &str, client_addr: Option<&str>) -> Self {
        Self {
            account: throttle::account_key(&tenant.id, name),
            address: client_addr.map(throttle::address_key),
        }
    }

    /// Counts the attempt, or says why it may not be made (locked).
    pub(crate) async fn reserve(&self, deps: &Deps) -> CoreResult<Result<(), String>> {
        let mut keys = vec![(self.account.as_str(), LockoutPolicy::ACCOUNT)];
        keys.extend(self.address.as_deref().map(|k| (k, LockoutPolicy::ADDRESS)));
        throttle::reserve(deps, &keys).await
    }

    /// The success gives its reservation back: the account's run of failures ends, the address
    /// keeps the failures of others.
    pub(crate) async fn release(&self, deps: &Deps) -> CoreResult<()> {
        let mut release = vec![(self.account.as_str(), Release::Clear)];
        release.extend(self.address.as_deref().map(|k| (k, Release::One)));
        deps.store.release_attempt(&release).await?;
        Ok(())
    }
}

/// Checks a password sign-in. On success returns the user (the caller then creates the session).
pub async fn password_sign_in(deps: &Deps, a: PasswordAttempt<'_>) -> CoreResult<User> {
    let name = normalize_typed_name(a.tenant, a.typed_name);
    let origin = Origin {
        tenant: a.tenant,
        client_id: a.client_id,
        client_addr: a.client_addr,
    };
    let guard = FirstFactorGuard::new(a.tenant, &name, a.client_addr);

    // 1. Throttling first, with no hashing: the attempt is counted before it is checked.
    if let Err(reason) = guard.reserve(deps).await? {
        // As slow as a checked attempt, but without the work (a timer, not a hash).
        deps.hasher.pace().await;
        log_attempt(
            deps,
            origin,
            "password",
            &name,
            None,
            SignInResult::Failure,
            Some(reason),
        )
        .await?;
        return Err(CoreError::SignInFailed);
    }

    // 2. The password check. Unknown, disabled and password-less accounts are verified against a
    //    dummy hash so that they take as long to refuse as a wrong password.
    let user = deps.store.user_by_upn(&a.tenant.id, &name).await?;
    let (ok, reason) = if a.password.len() > HARD_MAX_BYTES {
        (false, "password longer than accepted")
    } else {
        match &user {
            Some(u) => match (&u.password_hash, u.enabled) {
                (Some(h), true) => {
                    let ok = deps.hasher.verify(a.password, h).await?;
                    (ok, "wrong password")
                }
                (Some(h), false) => {
                    deps.hasher.verify(a.password, h).await?;
                    (false, "account disabled")
                }
                (None, _) => {
                    deps.hasher
                        .verify(a.password, password::dummy_hash())
                        .await?;
                    (false, "account has no password")
                }
            },
            None => {
                deps.hasher
                    .verify(a.password, password::dummy_hash())
                    .await?;
                (false, "unknown account")
            }
        }
    };

    if ok {
        let user = user.expect("ok implies a user");
        guard.release(deps).await?;
        log_attempt(
            deps,
            origin,
            "password",
            &name,
            Some(&user),
            SignInResult::Success,
            None,
        )
        .await?;
        return Ok(user);
    }
    // The failure was counted by the reservation.
    log_attempt(
        deps,
        origin,
        "password",
        &name,
        user.as_ref(),
        SignInResult::Failure,
        Some(reason.to_string()),
    )
    .await?;
    Err(CoreError::SignInFailed)
}
