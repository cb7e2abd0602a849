//! Users: names under the tenant's domains, creation, changes, passwords, sessions, lockouts,
//! and an administrator's view and removal of their devices and passkeys.

use super::*;
use crate::error::{CoreError, CoreResult};
use crate::methods::passkey::PasskeyCredential;
use crate::methods::password;
use crate::signin::throttle;
use crate::Deps;

/// Lowercases and checks a user principal name against the tenant's domains.
pub fn normalize_upn(tenant: &Tenant, upn: &str) -> CoreResult<String> {
    let upn = upn.trim().to_lowercase();
    let Some((local, domain)) = upn.split_once('@') else {
        return Err(CoreError::invalid(
            "user principal name",
            "use the form name@domain",
        ));
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+'-".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.');
    if !local_ok {
        return Err(CoreError::invalid(
            "user principal name",
            "the part before @ may use letters, digits and . _ % + ' - (up to 64)",
        ));
    }
    if !tenant.domains.iter().any(|d| d == domain) {
        return Err(CoreError::invalid(
            "user principal name",
            format!(
                "'{domain}' is not a domain of tenant {} (its domains: {})",
                tenant.name,
                tenant.domains.join(", ")
            ),
        ));
    }
    Ok(upn)
}

pub async fn user(deps: &Deps, tenant: &Tenant, upn: &str) -> CoreResult<User> {
    let upn_n = upn.trim().to_lowercase();
    deps.store
        .user_by_upn(&tenant.id, &upn_n)
        .await?
        .ok_or_else(|| CoreError::not_found("user", upn_n))
}

/// What a new user looks like.
#[derive(Debug, Clone, Default)]
pub struct NewUser<'a> {
    pub upn: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub password: Option<&'a str>,
    pub enabled: bool,
}

fn password_context<'a>(tenant: &'a Tenant, upn: &'a str, display_name: &'a str) -> Vec<&'a str> {
    let mut ctx = vec![tenant.name.as_str(), upn.split('@').next().unwrap_or(upn)];
    ctx.extend(display_name.split_whitespace());
    ctx
}

fn validate_email(email: &str) -> CoreResult<String> {
    let e = email.trim().to_lowercase();
    match e.split_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') && e.len() <= 254 && !e.contains(' ') => {
            Ok(e)
        }
        _ => Err(CoreError::invalid(
            "email",
            format!("'{email}' is not an email address"),
        )),
    }
}

pub async fn create_user(deps: &Deps, tenant: &Tenant, new: NewUser<'_>) -> CoreResult<User> {
    let upn = normalize_upn(tenant, new.upn)?;
    let display_name = clean_text("display name", new.display_name, 256)?;
    let email = new.email.map(validate_email).transpose()?;
    let password_hash = match new.password {
        Some(p) => {
            password::check_policy(p, &password_context(tenant, &upn, &display_name))?;
            Some(deps.hasher.hash(p).await?)
        }
        None => None,
    };
    let now = deps.now();
    let u = User {
        id: deps.new_id(),
        tenant_id: tenant.id.clone(),
        upn,
        display_name,
        email,
        enabled: new.enabled,
        password_hash,
        created_at: now,
        updated_at: now,
        tokens_valid_after: 0,
        push_blocked_at: None,
    };
    deps.store.insert_user(&u).await?;
    Ok(u)
}

/// Changes to an existing user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges<'a> {
    pub new_upn: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub email: Option<Option<&'a str>>,
    pub enabled: Option<bool>,
}

pub async fn update_user(
    deps: &Deps,
    tenant: &Tenant,
    upn: &str,
    changes: UserChanges<'_>,
) -> CoreResult<User> {
    let mut u = user(deps, tenant, upn).await?;
    if let Some(n) = changes.new_upn {
        u.upn = normalize_upn(tenant, n)?;
    }
    if let Some(d) = changes.display_name {
        u.display_name = clean_text("display name", d, 256)?;
    }
    if let Some(e) = changes.email {
        u.email = e.map(validate_email).transpose()?;
    }
    if let Some(en) = changes.enabled {
        u.enabled = en;
    }
    u.updated_at = deps.now();
    deps.store.update_user(&u).await?;
    if !u.enabled {
        // A disabled account keeps no session and no token that works again once it is enabled.
        deps.store
            .revoke_user_access(&u.id, deps.now(), None)
            .await?;
    }
    Ok(u)
}

/// Sets (or, with `None`, removes) a user's password. Ends the user's sessions and revokes their
/// tokens either way.
pub async fn set_password(
    deps: &Deps,
    tenant: &Tenant,
    upn: &str,
    password: Option<&str>,
) -> CoreResult<User> {
    let mut u = user(deps, tenant, upn).await?;
    u.password_hash = match password {
        Some(p) => {
            password::check_policy(p, &password_context(tenant, &u.upn, &u.display_name))?;
            Some(deps.hasher.hash(p).await?)
        }
        None => None,
    };
    u.updated_at = deps.now();
    deps.store.update_user(&u).await?;
    deps.store
        .revoke_user_access(&u.id, deps.now(), None)
        .await?;
    Ok(u)
}

/// Entra's "revoke sessions": ends every browser session of the user and revokes every refresh
/// token and access token issued to them until now. Returns the sessions ended.
pub async fn revoke_sessions(deps: &Deps, tenant: &Tenant, upn: &str) -> CoreResult<u64> {
    let u = user(deps, tenant, upn).await?;
    Ok(deps
        .store
        .revoke_user_access(&u.id, deps.now(), None)
        .await?)
}

/// Lifts every lockout (soft or permanent) of an account: password sign-in and verification codes.
pub async fn unlock_user(deps: &Deps, tenant: &Tenant, upn: &str) -> CoreResult<User> {
    let u = user(deps, tenant, upn).await?;
    for (_, key, _) in throttle::account_locks(&tenant.id, &u.upn) {
        deps.store.clear_throttle(&key).await?;
    }
    Ok(u)
}

/// The devices registered to a user for push approvals (`admin user devices`).
pub async fn devices(
    deps: &Deps,
    tenant: &Tenant,
    upn: &str,
) -> CoreResult<(User, Vec<crate::methods::push::Device>)> {
    let u = user(deps, tenant, upn).await?;
    let d = deps.store.devices_of_user(&u.id).await?;
    Ok((u, d))
}

/// Removes one of a user's devices, with the verification codes it got (a lost phone): its
/// signatures are refused from now on and it is sent nothing more.
pub async fn remove_device(
    deps: &Deps,
    tenant: &Tenant,
    upn: &str,
    device_id: &str,
) -> CoreResult<crate::methods::push::Device> {
    let (u, devices) = devices(deps, tenant, upn).await?;
    let d = devices
        .into_iter()
        .find(|d| d.id == device_id)
        .ok_or_else(|| CoreError::not_found("device", device_id))?;
    crate::methods::push::remove_device(deps, &u, &d.id).await?;
    Ok(d)
}

/// A user's passkeys, as an administrator sees them (`admin user passkeys`).
pub async fn passkeys(
    deps: &Deps,
    tenant: &Tenant,
    upn: &str,
) -> CoreResult<(User, Vec<PasskeyCredential>)> {
    let u = user(deps, tenant, upn).await?;
    let p = deps.store.passkeys_of_user(&u.id).await?;
    Ok((u, p))
}

/// The shortest start of a credential id that names a passkey: shorter ones would too easily
/// name the wrong one.
pub const PASSKEY_ID_PREFIX_MIN: usize = 4;

/// Deletes one of a user's passkeys (a lost security key, a phone given away), named by its
/// credential id or a start of it that names only it: it signs no one in from now on. Returns it.
pub async fn remove_passkey(
    deps: &Deps,
    tenant: &Tenant,
    upn: &str,
    id: &str,
) -> CoreResult<PasskeyCredential> {
    let (u, passkeys) = passkeys(deps, tenant, upn).await?;
    let starting: Vec<&PasskeyCredential> = passkeys
        .iter()
        .filter(|p| p.credential_id.starts_with(id))
        .collect();
    let p = match passkeys.iter().find(|p| p.credential_id == id) {
        Some(p) => p,
        None if id.len() < PASSKEY_ID_PREFIX_MIN => {
            return Err(CoreError::invalid(
                "passkey",
                format!("give at least {PASSKEY_ID_PREFIX_MIN} characters of its id"),
            ))
        }
        None => match starting[..] {
            [p] => p,
            [] => return Err(CoreError::not_found("passkey", id)),
            _ => {
                return Err(CoreError::invalid(
                    "passkey",
                    format!(
                        "{id} starts the ids of {} passkeys of {upn}; give more of it",
                        starting.len()
                    ),
                ))
            }
        },
    };
    if !deps.store.delete_passkey(&u.id, &p.credential_id).await? {
        // Deleted meanwhile (by its user in security info).
        return Err(CoreError::not_found("passkey", id));
    }
    Ok(p.clone())
}

/// Lifts the push block a user's "It's not me" set: push requests are sent again. Returns the
/// user as it was (`push_blocked_at` tells whether there was a block).
pub async fn clear_push_block(deps: &Deps, tenant: &Tenant, upn: &str) -> CoreResult<User> {
    let u = user(deps, tenant, upn).await?;
    deps.store.set_push_block(&u.id, None).await?;
    Ok(u)
}

/// One lock of an account as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLock {
    /// What it locks ("password", "verification codes").
    pub what: &'static str,
    pub lock: throttle::Lock,
    /// Consecutive failures counted so far.
    pub failures: u32,
}

/// The state of each lock of an account now (`admin user show`).
pub async fn account_locks(deps: &Deps, user: &User) -> CoreResult<Vec<AccountLock>> {
    let locks = throttle::account_locks(&user.tenant_id, &user.upn);
    let keys: Vec<&str> = locks.iter().map(|(_, k, _)| k.as_str()).collect();
    let states = deps.store.throttle_states(&keys).await?;
    let now = deps.now();
    Ok(locks
        .iter()
        .zip(states)
        .map(|((what, _, policy), st)| AccountLock {
            what,
            lock: policy.lock(&st, now),
            failures: st.failures,
        })
        .collect())
}

pub async fn delete_user(deps: &Deps, tenant: &Tenant, upn: &str) -> CoreResult<()> {
    let u = user(deps, tenant, upn).await?;
    deps.store.delete_user(&u.id).await?;
    Ok(())
}
