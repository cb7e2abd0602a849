//! Directory administration: creating and changing tenants, users, groups, memberships, admin roles
//! and OIDC clients, with every value validated before anything is written.

use crate::error::{CoreError, CoreResult};
use crate::methods::passkey::PasskeyCredential;
use crate::methods::password;
use crate::model::*;
use crate::secret::{token_digest, Secret};
use crate::signin::throttle;
use crate::Deps;

const RESERVED_TENANT_NAMES: &[&str] = &[
    "static",
    "healthz",
    "metrics",
    "admin",
    "api",
    "common",
    "organizations",
];

pub fn validate_tenant_name(name: &str) -> CoreResult<()> {
    let ok = (2..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return Err(CoreError::invalid(
            "tenant name",
            "use 2 to 63 lowercase letters, digits or '-' (not at either end)",
        ));
    }
    if RESERVED_TENANT_NAMES.contains(&name) {
        return Err(CoreError::invalid(
            "tenant name",
            format!("'{name}' is reserved"),
        ));
    }
    Ok(())
}

pub fn normalize_domain(domain: &str) -> CoreResult<String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if d.len() > 253 || !d.contains('.') || !labels_ok {
        return Err(CoreError::invalid(
            "domain",
            format!("'{domain}' is not a domain name like contoso.com"),
        ));
    }
    Ok(d)
}

/// `value` trimmed, if it is 1 to `max` printable characters (no control or bidirectional
/// characters); otherwise an error naming `field`.
pub(crate) fn clean_text(field: &'static str, value: &str, max: usize) -> CoreResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || crate::text::has_unsafe_chars(v) {
        return Err(CoreError::invalid(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(v.to_string())
}

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

pub async fn tenant(deps: &Deps, name: &str) -> CoreResult<Tenant> {
    deps.store
        .tenant_by_name(name)
        .await?
        .ok_or_else(|| CoreError::not_found("tenant", name))
}

pub async fn create_tenant(
    deps: &Deps,
    name: &str,
    display_name: &str,
    domains: &[String],
) -> CoreResult<Tenant> {
    validate_tenant_name(name)?;
    let display_name = clean_text("display name", display_name, 256)?;
    if domains.is_empty() {
        return Err(CoreError::invalid(
            "domain",
            "a tenant needs at least one domain",
        ));
    }
    let mut ds = Vec::new();
    for d in domains {
        let d = normalize_domain(d)?;
        if !ds.contains(&d) {
            ds.push(d);
        }
    }
    let t = Tenant {
        id: deps.new_id(),
        name: name.to_string(),
        display_name,
        domains: ds,
        created_at: deps.now(),
    };
    deps.store.insert_tenant(&t).await?;
    Ok(t)
}

pub async fn update_tenant(
    deps: &Deps,
    name: &str,
    display_name: Option<&str>,
    add_domains: &[String],
    remove_domains: &[String],
) -> CoreResult<Tenant> {
    let mut t = tenant(deps, name).await?;
    if let Some(dn) = display_name {
        t.display_name = clean_text("display name", dn, 256)?;
    }
    for d in add_domains {
        let d = normalize_domain(d)?;
        if !t.domains.contains(&d) {
            t.domains.push(d);
        }
    }
    for d in remove_domains {
        let d = normalize_domain(d)?;
        if !t.domains.contains(&d) {
            return Err(CoreError::not_found("domain", d));
        }
        let suffix = format!("@{d}");
        if deps
            .store
            .list_users(&t.id)
            .await?
            .iter()
            .any(|u| u.upn.ends_with(&suffix))
        {
            return Err(CoreError::invalid(
                "domain",
                format!("users still sign in with {d}; rename or delete them first"),
            ));
        }
        t.domains.retain(|x| x != &d);
    }
    if t.domains.is_empty() {
        return Err(CoreError::invalid(
            "domain",
            "a tenant needs at least one domain",
        ));
    }
    deps.store.update_tenant(&t).await?;
    Ok(t)
}

pub async fn delete_tenant(deps: &Deps, name: &str) -> CoreResult<()> {
    let t = tenant(deps, name).await?;
    deps.store.delete_tenant(&t.id).await?;
    Ok(())
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

pub async fn group(deps: &Deps, tenant: &Tenant, name: &str) -> CoreResult<Group> {
    deps.store
        .group_by_name(&tenant.id, name.trim())
        .await?
        .ok_or_else(|| CoreError::not_found("group", name.trim()))
}

pub async fn create_group(
    deps: &Deps,
    tenant: &Tenant,
    name: &str,
    description: &str,
) -> CoreResult<Group> {
    let g = Group {
        id: deps.new_id(),
        tenant_id: tenant.id.clone(),
        name: clean_text("group name", name, 128)?,
        description: description.trim().to_string(),
        created_at: deps.now(),
    };
    deps.store.insert_group(&g).await?;
    Ok(g)
}

pub async fn update_group(
    deps: &Deps,
    tenant: &Tenant,
    name: &str,
    new_name: Option<&str>,
    description: Option<&str>,
) -> CoreResult<Group> {
    let mut g = group(deps, tenant, name).await?;
    if let Some(n) = new_name {
        g.name = clean_text("group name", n, 128)?;
    }
    if let Some(d) = description {
        g.description = d.trim().to_string();
    }
    deps.store.update_group(&g).await?;
    Ok(g)
}

pub async fn delete_group(deps: &Deps, tenant: &Tenant, name: &str) -> CoreResult<()> {
    let g = group(deps, tenant, name).await?;
    deps.store.delete_group(&g.id).await?;
    Ok(())
}

pub async fn add_member(
    deps: &Deps,
    tenant: &Tenant,
    group_name: &str,
    upn: &str,
) -> CoreResult<()> {
    let g = group(deps, tenant, group_name).await?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.add_member(&g.id, &u.id).await? {
        return Err(CoreError::Conflict(format!(
            "membership of {} in group {}",
            u.upn, g.name
        )));
    }
    Ok(())
}

pub async fn remove_member(
    deps: &Deps,
    tenant: &Tenant,
    group_name: &str,
    upn: &str,
) -> CoreResult<()> {
    let g = group(deps, tenant, group_name).await?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.remove_member(&g.id, &u.id).await? {
        return Err(CoreError::not_found(
            "membership",
            format!("{} in group {}", u.upn, g.name),
        ));
    }
    Ok(())
}

pub fn parse_role(role: &str) -> CoreResult<AdminRole> {
    AdminRole::parse(role).ok_or_else(|| {
        CoreError::invalid(
            "role",
            format!(
                "'{role}' is not a role; use one of: {}",
                AdminRole::ALL.map(|r| r.as_str()).join(", ")
            ),
        )
    })
}

pub async fn assign_role(deps: &Deps, tenant: &Tenant, upn: &str, role: &str) -> CoreResult<()> {
    let role = parse_role(role)?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.assign_role(&u.id, role).await? {
        return Err(CoreError::Conflict(format!(
            "role {} of {}",
            role.display(),
            u.upn
        )));
    }
    Ok(())
}

pub async fn unassign_role(deps: &Deps, tenant: &Tenant, upn: &str, role: &str) -> CoreResult<()> {
    let role = parse_role(role)?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.unassign_role(&u.id, role).await? {
        return Err(CoreError::not_found(
            "role assignment",
            format!("{} of {}", role.display(), u.upn),
        ));
    }
    Ok(())
}

/// Redirect URIs must be absolute, without fragment (RFC 6749 §3.1.2); plain http only for
/// loopback addresses (RFC 8252 §7.3).
pub fn validate_redirect_uri(uri: &str) -> CoreResult<String> {
    let parsed = url::Url::parse(uri).map_err(|_| {
        CoreError::invalid("redirect URI", format!("'{uri}' is not an absolute URL"))
    })?;
    if parsed.fragment().is_some() {
        return Err(CoreError::invalid(
            "redirect URI",
            "must not contain a fragment (#)",
        ));
    }
    let loopback = matches!(
        parsed.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(CoreError::invalid(
                "redirect URI",
                "plain http is only allowed for localhost; use https",
            ))
        }
        s => {
            return Err(CoreError::invalid(
                "redirect URI",
                format!("scheme '{s}' is not supported; use https"),
            ))
        }
    }
    // Stored as given: matching is exact, character for character.
    Ok(uri.to_string())
}

/// What a new OIDC client looks like.
#[derive(Debug, Clone)]
pub struct NewClient<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub confidential: bool,
    pub id_token_alg: SigningAlg,
    /// Every sign-in to it needs a second factor.
    pub require_mfa: bool,
    /// Use this client_id instead of a random one (demo data, migrations).
    pub client_id: Option<&'a str>,
}

fn validate_client_id(id: &str) -> CoreResult<()> {
    if !(3..=128).contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(CoreError::invalid(
            "client id",
            "use 3 to 128 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// Registers a client; returns the client and, for a confidential client, its secret — shown once.
pub async fn create_client(
    deps: &Deps,
    tenant: &Tenant,
    new: NewClient<'_>,
) -> CoreResult<(OidcClient, Option<String>)> {
    if new.redirect_uris.is_empty() {
        return Err(CoreError::invalid(
            "redirect URI",
            "a client needs at least one redirect URI",
        ));
    }
    let redirect_uris = new
        .redirect_uris
        .iter()
        .map(|u| validate_redirect_uri(u))
        .collect::<CoreResult<Vec<_>>>()?;
    let post_logout_redirect_uris = new
        .post_logout_redirect_uris
        .iter()
        .map(|u| validate_redirect_uri(u))
        .collect::<CoreResult<Vec<_>>>()?;
    let id = match new.client_id {
        Some(id) => {
            validate_client_id(id)?;
            id.to_string()
        }
        None => deps.new_id(),
    };
    let secret = new.confidential.then(|| deps.secret_token());
    let c = OidcClient {
        id,
        tenant_id: tenant.id.clone(),
        name: clean_text("client name", new.name, 128)?,
        redirect_uris,
        post_logout_redirect_uris,
        secret_digest: secret.as_deref().map(|s| Secret::new(token_digest(s))),
        id_token_alg: new.id_token_alg,
        created_at: deps.now(),
        require_mfa: new.require_mfa,
    };
    deps.store.insert_client(&c).await?;
    Ok((c, secret))
}

pub async fn client(deps: &Deps, tenant: &Tenant, client_id: &str) -> CoreResult<OidcClient> {
    match deps.store.client_by_id(client_id).await? {
        Some(c) if c.tenant_id == tenant.id => Ok(c),
        _ => Err(CoreError::not_found("application", client_id)),
    }
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges<'a> {
    pub name: Option<&'a str>,
    pub redirect_uris: Option<&'a [String]>,
    pub post_logout_redirect_uris: Option<&'a [String]>,
    pub id_token_alg: Option<SigningAlg>,
    pub require_mfa: Option<bool>,
    /// Issue a new secret (confidential clients only); the old one stops working at once.
    pub rotate_secret: bool,
}

pub async fn update_client(
    deps: &Deps,
    tenant: &Tenant,
    client_id: &str,
    changes: ClientChanges<'_>,
) -> CoreResult<(OidcClient, Option<String>)> {
    let mut c = client(deps, tenant, client_id).await?;
    if let Some(n) = changes.name {
        c.name = clean_text("client name", n, 128)?;
    }
    if let Some(uris) = changes.redirect_uris {
        if uris.is_empty() {
            return Err(CoreError::invalid(
                "redirect URI",
                "a client needs at least one redirect URI",
            ));
        }
        c.redirect_uris = uris
            .iter()
            .map(|u| validate_redirect_uri(u))
            .collect::<CoreResult<_>>()?;
    }
    if let Some(uris) = changes.post_logout_redirect_uris {
        c.post_logout_redirect_uris = uris
            .iter()
            .map(|u| validate_redirect_uri(u))
            .collect::<CoreResult<_>>()?;
    }
    if let Some(a) = changes.id_token_alg {
        c.id_token_alg = a;
    }
    if let Some(r) = changes.require_mfa {
        c.require_mfa = r;
    }
    let mut secret = None;
    if changes.rotate_secret {
        if !c.is_confidential() {
            return Err(CoreError::invalid(
                "secret",
                "a public client has no secret to rotate",
            ));
        }
        let s = deps.secret_token();
        c.secret_digest = Some(Secret::new(token_digest(&s)));
        secret = Some(s);
    }
    deps.store.update_client(&c).await?;
    Ok((c, secret))
}

pub async fn delete_client(deps: &Deps, tenant: &Tenant, client_id: &str) -> CoreResult<()> {
    let c = client(deps, tenant, client_id).await?;
    deps.store.delete_client(&c.id).await?;
    Ok(())
}
