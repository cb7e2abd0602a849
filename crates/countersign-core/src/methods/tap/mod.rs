//! Temporary Access Passes: a time-limited pass an administrator issues to a user (a new employee
//! with no method yet, someone who lost their phone), within the tenant's policy. Issuing shows it
//! once and keeps only its hash; a user has at most one current pass. Signing in with one is a
//! first factor that alone counts as strong authentication: the user may then register methods.
//! A used one-time pass, an expired, revoked or not-yet-valid one are all refused as a wrong one.

use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult};
use crate::methods::password::{self, HARD_MAX_BYTES};
use crate::model::{AuditEntry, SignInResult, Tenant, User};
use crate::policy::{self, Actor, Eligibility};
use crate::secret::Secret;
use crate::signin::{log_attempt, normalize_typed_name, FirstFactorGuard, Origin};
use crate::Deps;

/// What a pass is made of: letters and digits without those people mix up (0/O, 1/l/I), so it can
/// be read out over the phone. 56 symbols: about 5.8 bits each, 46 bits for the default 8.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// How long a pass stays listed after it expires (then `purge_expired` removes it).
pub const PASSES_KEPT_FOR: Timestamp = 24 * 3600;

/// A user's Temporary Access Pass as stored (the pass itself only as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryAccessPass {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub pass_hash: Secret,
    pub created_at: Timestamp,
    pub starts_at: Timestamp,
    pub expires_at: Timestamp,
    pub one_time: bool,
    /// Who issued it (`Actor::describe`).
    pub created_by: String,
    /// The last use (of a one-time pass: its only one).
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// Where a pass stands at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassState {
    /// Not valid yet: its start time is ahead.
    Waiting,
    Live,
    Used,
    Expired,
    Revoked,
}

impl PassState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "not yet valid",
            Self::Live => "valid",
            Self::Used => "used",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl TemporaryAccessPass {
    pub fn state(&self, now: Timestamp) -> PassState {
        if self.revoked_at.is_some() {
            PassState::Revoked
        } else if self.one_time && self.used_at.is_some() {
            PassState::Used
        } else if now >= self.expires_at {
            PassState::Expired
        } else if now < self.starts_at {
            PassState::Waiting
        } else {
            PassState::Live
        }
    }

    /// Whether it would sign its user in at `now` (the policy aside).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.state(now) == PassState::Live
    }

    /// Whether it still counts as the user's pass: live or waiting for its start. A new one may
    /// be issued only when the current one is not.
    pub fn is_current(&self, now: Timestamp) -> bool {
        matches!(self.state(now), PassState::Live | PassState::Waiting)
    }
}

/// What an administrator asks for; anything left out comes from the policy.
#[derive(Debug, Clone, Default)]
pub struct NewPass {
    pub lifetime_minutes: Option<u32>,
    /// `Some(false)`: usable more than once (only if the policy allows it).
    pub one_time: Option<bool>,
    /// When it becomes valid (default: now; a time in the past means now).
    pub starts_at: Option<Timestamp>,
}

/// A pass just issued, with the pass itself: shown once, never stored.
#[derive(Debug)]
pub struct Issued {
    pub pass: TemporaryAccessPass,
    pub secret: Secret,
}

fn generate(deps: &Deps, len: usize) -> String {
    // Rejection sampling keeps every symbol equally likely (256 is not a multiple of 56).
    let limit = 256 - 256 % ALPHABET.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        deps.rng.fill(&mut buf);
        for b in buf {
            if (b as usize) < limit && out.len() < len {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

fn audit(deps: &Deps, tenant: &Tenant, actor: &Actor, action: &str, user: &User) -> AuditEntry {
    AuditEntry {
        id: deps.new_id(),
        tenant_id: tenant.id.clone(),
        at: deps.now(),
        actor: actor.describe(),
        action: action.into(),
        target: user.upn.clone(),
        before: None,
        after: None,
    }
}

/// The pass as the audit log records it: never the pass or its hash.
fn describe(p: &TemporaryAccessPass) -> String {
    serde_json::json!({
        "id": p.id, "starts_at": p.starts_at, "expires_at": p.expires_at, "one_time": p.one_time,
    })
    .to_string()
}

/// Issues a pass to `user`, within the tenant's policy: the method must be enabled for the user
/// (`MethodNotSupported` otherwise), the lifetime within the policy's bounds, and a pass usable
/// more than once only when the policy allows it. Refused (`Conflict`) while the user has a
/// current pass. Recorded in the audit log with the pass.
pub async fn create(
    deps: &Deps,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
    new: NewPass,
) -> CoreResult<Issued> {
    policy::authorize(deps, tenant, actor).await?;
    let may = Eligibility::load(deps, tenant, user).await?;
    if !may.tap() {
        return Err(CoreError::MethodNotSupported);
    }
    let c = &may.policy().temporary_access_pass;
    let minutes = new
        .lifetime_minutes
        .unwrap_or(c.default_lifetime_in_minutes);
    if !(c.minimum_lifetime_in_minutes..=c.maximum_lifetime_in_minutes).contains(&minutes) {
        return Err(CoreError::invalid(
            "lifetime",
            format!(
                "must be {} to {} minutes under the policy",
                c.minimum_lifetime_in_minutes, c.maximum_lifetime_in_minutes
            ),
        ));
    }
    let one_time = match new.one_time {
        Some(false) if c.is_usable_once => {
            return Err(CoreError::invalid(
                "pass",
                "a pass usable more than once needs temporaryAccessPass.isUsableOnce false in \
                 the policy",
            ))
        }
        Some(v) => v,
        // Where the policy leaves the choice, a pass is one-time unless asked otherwise: it is
        // meant to bootstrap a method, once.
        None => true,
    };
    let now = deps.now();
    let starts_at = new.starts_at.unwrap_or(now).max(now);
    let secret = generate(deps, c.default_length as usize);
    let pass = TemporaryAccessPass {
        id: format!("tap_{}", deps.new_id()),
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        pass_hash: deps.hasher.hash(&secret).await?,
        created_at: now,
        starts_at,
        expires_at: starts_at + i64::from(minutes) * 60,
        one_time,
        created_by: actor.describe(),
        used_at: None,
        revoked_at: None,
    };
    let mut entry = audit(deps, tenant, actor, "tap.create", user);
    entry.after = Some(describe(&pass));
    if !deps.store.insert_tap(&pass, now, &entry).await? {
        return Err(CoreError::Conflict(format!(
            "a current Temporary Access Pass for {}",
            user.upn
        )));
    }
    Ok(Issued {
        pass,
        secret: Secret::new(secret),
    })
}

/// Revokes the user's current pass; false when they have none. Recorded in the audit log.
pub async fn revoke(deps: &Deps, tenant: &Tenant, actor: &Actor, user: &User) -> CoreResult<bool> {
    policy::authorize(deps, tenant, actor).await?;
    let Some(current) = deps
        .store
        .tap_of_user(&user.id)
        .await?
        .filter(|p| p.is_current(deps.now()))
    else {
        return Ok(false);
    };
    let mut entry = audit(deps, tenant, actor, "tap.revoke", user);
    entry.before = Some(describe(&current));
    Ok(deps.store.revoke_tap(&user.id, deps.now(), &entry).await?)
}

/// Whether the user (by id) has a pass they could sign in with now (the policy aside).
pub async fn live(deps: &Deps, user_id: &str) -> CoreResult<bool> {
    Ok(deps
        .store
        .tap_of_user(user_id)
        .await?
        .is_some_and(|p| p.is_live(deps.now())))
}

/// One attempt at signing in with a pass, as the person made it.
#[derive(Debug, Clone, Copy)]
pub struct PassAttempt<'a> {
    pub origin: Origin<'a>,
    /// The sign-in name (normalised).
    pub name: &'a str,
    pub pass: &'a str,
}

/// Checks a pass sign-in: counted against the same lockout as passwords before it is checked
/// (a guesser gains nothing by alternating), verified against its hash, and a one-time pass used
/// up in the same conditional write that accepts it (of parallel attempts with one pass, one
/// signs in). Every refusal is `SignInFailed`; the sign-in log keeps the reason.
pub async fn sign_in(deps: &Deps, a: PassAttempt<'_>) -> CoreResult<User> {
    let c = check(deps, a).await?;
    if !deps
        .store
        .use_tap(&c.user.id, &c.pass.id, deps.now())
        .await?
    {
        return c.refuse(deps, "Temporary Access Pass used meanwhile").await;
    }
    c.accept(deps).await
}

/// A pass that checked out, not used yet: its user, the pass, and the attempt's reservation
/// (given back once the pass is used).
pub(crate) struct Checked<'a> {
    pub user: User,
    pub pass: TemporaryAccessPass,
    name: String,
    origin: Origin<'a>,
    guard: FirstFactorGuard,
}

impl Checked<'_> {
    /// The pass was used: the attempt's reservation is given back and the success logged.
    pub(crate) async fn accept(self, deps: &Deps) -> CoreResult<User> {
        self.guard.release(deps).await?;
        log_attempt(
            deps,
            self.origin,
            "tap",
            &self.name,
            Some(&self.user),
            SignInResult::Success,
            None,
        )
        .await?;
        Ok(self.user)
    }

    /// The pass could not be used after all (used meanwhile): refused and logged.
    pub(crate) async fn refuse<T>(self, deps: &Deps, reason: &str) -> CoreResult<T> {
        refused(deps, self.origin, &self.name, Some(&self.user), reason).await
    }
}

async fn refused<T>(
    deps: &Deps,
    origin: Origin<'_>,
    name: &str,
    user: Option<&User>,
    reason: &str,
) -> CoreResult<T> {
    log_attempt(
        deps,
        origin,
        "tap",
        name,
        user,
        SignInResult::Failure,
        Some(reason.to_string()),
    )
    .await?;
    Err(CoreError::SignInFailed)
}

/// Everything about a pass attempt but its use: the lockout reservation, the hash, the pass's
/// state and the policy. Refusals are logged and `SignInFailed`.
pub(crate) async fn check<'a>(deps: &Deps, a: PassAttempt<'a>) -> CoreResult<Checked<'a>> {
    let o = a.origin;
    let name = normalize_typed_name(o.tenant, a.name);
    let guard = FirstFactorGuard::new(o.tenant, &name, o.client_addr);
    if let Err(reason) = guard.reserve(deps).await? {
        deps.hasher.pace().await;
        return refused(deps, o, &name, None, &reason).await;
    }
    let typed = a.pass.trim();
    let user = deps
        .store
        .user_by_upn(&o.tenant.id, &name)
        .await?
        .filter(|u| u.enabled);
    let pass = match &user {
        Some(u) => deps.store.tap_of_user(&u.id).await?,
        None => None,
    };
    // Every refusal costs one hash, as a wrong pass does: timing tells nothing.
    let hash = pass
        .as_ref()
        .map_or(password::dummy_hash(), |p| &p.pass_hash);
    let matches = typed.len() <= HARD_MAX_BYTES && deps.hasher.verify(typed, hash).await?;
    let Some(user) = user else {
        return refused(deps, o, &name, None, "unknown or disabled account").await;
    };
    let why = match &pass {
        None => Some("no Temporary Access Pass".to_string()),
        Some(_) if !matches => Some("wrong Temporary Access Pass".into()),
        Some(p) => match p.state(deps.now()) {
            PassState::Live => None,
            state => Some(format!("Temporary Access Pass {}", state.as_str())),
        },
    };
    let why = match why {
        Some(why) => Some(why),
        None => {
            let may = Eligibility::load(deps, o.tenant, &user).await?;
            (!may.tap()).then(|| "Temporary Access Pass not allowed by the policy".to_string())
        }
    };
    let (None, Some(pass)) = (&why, pass) else {
        let why = why.unwrap_or_default();
        return refused(deps, o, &name, Some(&user), &why).await;
    };
    Ok(Checked {
        user,
        pass,
        name,
        origin: o,
        guard,
    })
}

#[cfg(test)]
mod tests;
