//! In-memory fakes for the core's own unit tests: a `Store` on hash maps, a signer that writes
//! readable unsigned tokens, and a cheap password hasher. Never used outside `cfg(test)`.

use crate::clock::{ManualClock, Timestamp};
use crate::error::StoreError;
use crate::methods::oath::OathToken;
use crate::methods::passkey::{PasskeyCredential, PasskeyUse, Recorded};
use crate::methods::password::PasswordHasher;
use crate::methods::push::{Activation, Device, PushRequest, PushState};
use crate::methods::tap::TemporaryAccessPass;
use crate::model::*;
use crate::oidc::TokenSigner;
use crate::random::OsRandom;
use crate::secret::Secret;
use crate::signin::throttle::{LockoutPolicy, Release};
use crate::store::*;
use crate::{CoreResult, Deps, Settings};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Data {
    tenants: HashMap<String, Tenant>,
    users: HashMap<String, User>,
    groups: HashMap<String, Group>,
    members: Vec<(String, String)>,
    roles: Vec<(String, AdminRole)>,
    clients: HashMap<String, OidcClient>,
    throttle: HashMap<String, ThrottleState>,
    flows: HashMap<String, SignInFlow>,
    sessions: HashMap<String, Session>,
    codes: HashMap<String, AuthCode>,
    grants: HashMap<String, Grant>,
    refresh: HashMap<String, RefreshToken>,
    keys: Vec<SigningKey>,
    signins: Vec<SignInLogEntry>,
    policies: HashMap<String, crate::policy::StoredPolicy>,
    audit: Vec<AuditEntry>,
    /// token, (fail step, fail count)
    oath: Vec<OathToken>,
    /// activation, used
    activations: HashMap<String, (Activation, bool)>,
    devices: Vec<Device>,
    pushes: Vec<PushRequest>,
    /// digest → (device id, expiry)
    challenges: HashMap<String, (String, Timestamp)>,
    /// user id → their pass
    taps: HashMap<String, TemporaryAccessPass>,
    passkeys: Vec<PasskeyCredential>,
    /// user id → WebAuthn user handle
    handles: HashMap<String, String>,
}

impl Data {
    /// What a user's deletion takes with it (the SQL schemas' `ON DELETE CASCADE`).
    fn delete_user(&mut self, id: &str) -> bool {
        self.members.retain(|(_, u)| u != id);
        self.roles.retain(|(u, _)| u != id);
        self.sessions.retain(|_, s| s.user_id != id);
        self.codes.retain(|_, c| c.user_id != id);
        self.oath.retain(|t| t.user_id != id);
        self.activations.retain(|_, (a, _)| a.user_id != id);
        self.devices.retain(|d| d.user_id != id);
        self.pushes.retain(|r| r.user_id != id);
        self.taps.remove(id);
        self.passkeys.retain(|p| p.user_id != id);
        self.handles.remove(id);
        let grants: Vec<String> = self
            .grants
            .values()
            .filter(|g| g.user_id == id)
            .map(|g| g.id.clone())
            .collect();
        for g in grants {
            self.delete_grant(&g);
        }
        self.users.remove(id).is_some()
    }

    /// Rows `purge_expired` may remove.
    fn expiring_rows(&self) -> usize {
        self.flows.len()
            + self.sessions.len()
            + self.codes.len()
            + self.grants.len()
            + self.refresh.len()
            + self.throttle.len()
            + self.activations.len()
            + self.pushes.len()
            + self.challenges.len()
            + self.taps.len()
    }

    /// How many of the user's devices have phone sign-in on, `except` one.
    fn phone_devices(&self, user_id: &str, except: Option<&str>) -> usize {
        self.devices
            .iter()
            .filter(|x| x.user_id == user_id && x.phone_key.is_some())
            .filter(|x| Some(x.id.as_str()) != except)
            .count()
    }

    fn delete_grant(&mut self, id: &str) {
        self.refresh.retain(|_, r| r.grant_id != id);
        self.grants.remove(id);
    }

    /// The tenant that already holds one of `domains`, other than `tenant_id`.
    fn domain_taken<'a>(&self, tenant_id: &str, domains: &'a [String]) -> Option<&'a String> {
        domains.iter().find(|d| {
            self.tenants
                .values()
                .any(|t| t.id != tenant_id && t.domains.contains(d))
        })
    }
}

/// The core's in-memory `Store`: what its unit tests use. It passes the same conformance suite
/// as the SQL stores (countersign-store's `tests/conformance.rs`), one mutex making every call
/// atomic.
#[derive(Default)]
pub struct MemStore(Mutex<Data>);

impl MemStore {
    pub fn signins(&self) -> Vec<SignInLogEntry> {
        self.0.lock().unwrap().signins.clone()
    }
}

#[async_trait]
impl DirectoryStore for MemStore {
    async fn insert_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.tenants.values().any(|x| x.name == t.name || x.id == t.id) {
            return Err(StoreError::Conflict(format!("tenant {}", t.name)));
        }
        if let Some(taken) = d.domain_taken(&t.id, &t.domains) {
            return Err(StoreError::Conflict(format!("domain {taken}")));
        }
        d.tenants.insert(t.id.clone(), t.clone());
        Ok(())
    }

    async fn update_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if let Some(taken) = d.domain_taken(&t.id, &t.domains) {
            return Err(StoreError::Conflict(format!("domain {taken}")));
        }
        d.tenants.insert(t.id.clone(), t.clone());
        Ok(())
    }

    async fn delete_tenant(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let users: Vec<String> = d
            .users
            .values()
            .filter(|u| u.tenant_id == id)
            .map(|u| u.id.clone())
            .collect();
        for u in users {
            d.delete_user(&u);
        }
        let groups: Vec<String> = d
            .groups
            .values()
            .filter(|g| g.tenant_id == id)
            .map(|g| g.id.clone())
            .collect();
        d.members.retain(|(g, _)| !groups.contains(g));
        d.groups.retain(|_, g| g.tenant_id != id);
        d.clients.retain(|_, c| c.tenant_id != id);
        d.flows.retain(|_, f| f.tenant_id != id);
        d.policies.remove(id);
        d.audit.retain(|e| e.tenant_id != id);
        d.signins.retain(|e| e.tenant_id != id);
        Ok(d.tenants.remove(id).is_some())
    }

    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>> {
        let d = self.0.lock().unwrap();
        Ok(d.tenants.values().find(|t| t.name == name).cloned())
    }

    async fn tenant_by_id(&self, id: &str) -> StoreResult<Option<Tenant>> {
        Ok(self.0.lock().unwrap().tenants.get(id).cloned())
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        Ok(self.0.lock().unwrap().tenants.values().cloned().collect())
    }

    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.users
            .values()
            .any(|x| x.tenant_id == u.tenant_id && x.upn == u.upn)
        {
            return Err(StoreError::Conflict(format!("user {}", u.upn)));
        }
        d.users.insert(u.id.clone(), u.clone());
        Ok(())
    }

    async fn update_user(&self, u: &User) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.users
            .values()
            .any(|x| x.id != u.id && x.tenant_id == u.tenant_id && x.upn == u.upn)
        {
            return Err(StoreError::Conflict(format!("user {}", u.upn)));
        }
        // like the SQL stores: `tokens_valid_after` is written only by `revoke_user_access`, the
        // push block only by the push store
        let old = d.users.get(&u.id);
        let kept = old.map_or(0, |old| old.tokens_valid_after);
        let blocked = old.and_then(|old| old.push_blocked_at);
        d.users.insert(
            u.id.clone(),
            User {
                tokens_valid_after: kept,
                push_blocked_at: blocked,
                ..u.clone()
            },
        );
        Ok(())
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        Ok(self.0.lock().unwrap().delete_user(id))
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        Ok(self.0.lock().unwrap().users.get(id).cloned())
    }

    async fn user_by_upn(&self, tenant_id: &str, upn: &str) -> StoreResult<Option<User>> {
        let d = self.0.lock().unwrap();
        Ok(d.users
            .values()
            .find(|u| u.tenant_id == tenant_id && u.upn == upn)
            .cloned())
    }

    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>> {
        let d = self.0.lock().unwrap();
        Ok(d.users
            .values()
            .filter(|u| u.tenant_id == tenant_id)
            .cloned()
            .collect())
    }

    async fn insert_group(&self, g: &Group) -> StoreResult<()> {
        if self.0.lock().unwrap().groups.contains_key(&g.id) {
            return Err(StoreError::Conflict(format!("group {}", g.name)));
        }
        self.update_group(g).await
    }

    async fn update_group(&self, g: &Group) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.groups
            .values()
            .any(|x| x.id != g.id && x.tenant_id == g.tenant_id && x.name == g.name)
        {
            return Err(StoreError::Conflict(format!("group {}", g.name)));
        }
        d.groups.insert(g.id.clone(), g.clone());
        Ok(())
    }

    async fn delete_group(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        d.members.retain(|(g, _)| g != id);
        Ok(d.groups.remove(id).is_some())
    }

    async fn group_by_name(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Group>> {
        let d = self.0.lock().unwrap();
        Ok(d.groups
            .values()
            .find(|g| g.tenant_id == tenant_id && g.name == name)
            .cloned())
    }

    async fn list_groups(&self, tenant_id: &str) -> StoreResult<Vec<Group>> {
        let d = self.0.lock().unwrap();
        Ok(d.groups
            .values()
            .filter(|g| g.tenant_id == tenant_id)
            .cloned()
            .collect())
    }

    async fn add_member(&self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let m = (group_id.to_string(), user_id.to_string());
        if d.members.contains(&m) {
            return Ok(false);
        }
        d.members.push(m);
        Ok(true)
    }

    async fn remove_member(&self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.members.len();
        d.members.retain(|(g, u)| !(g == group_id && u == user_id));
        Ok(d.members.len() < before)
    }

    async fn group_members(&self, group_id: &str) -> StoreResult<Vec<User>> {
        let d = self.0.lock().unwrap();
        Ok(d.members
            .iter()
            .filter(|(g, _)| g == group_id)
            .filter_map(|(_, u)| d.users.get(u).cloned())
            .collect())
    }

    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<Group>> {
        let d = self.0.lock().unwrap();
        Ok(d.members
            .iter()
            .filter(|(_, u)| u == user_id)
            .filter_map(|(g, _)| d.groups.get(g).cloned())
            .collect())
    }

    async fn assign_role(&self, user_id: &str, role: AdminRole) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let r = (user_id.to_string(), role);
        if d.roles.contains(&r) {
            return Ok(false);
        }
        d.roles.push(r);
        Ok(true)
    }

    async fn unassign_role(&self, user_id: &str, role: AdminRole) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.roles.len();
        d.roles.retain(|(u, r)| !(u == user_id && *r == role));
        Ok(d.roles.len() < before)
    }

    async fn roles_of_user(&self, user_id: &str) -> StoreResult<Vec<AdminRole>> {
        let d = self.0.lock().unwrap();
        Ok(d.roles
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, r)| *r)
            .collect())
    }

    async fn insert_client(&self, c: &OidcClient) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.clients.contains_key(&c.id) {
            return Err(StoreError::Conflict(format!("application {}", c.id)));
        }
        d.clients.insert(c.id.clone(), c.clone());
        Ok(())
    }

    async fn update_client(&self, c: &OidcClient) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if let Some(old) = d.clients.get_mut(&c.id) {
            *old = c.clone();
        }
        Ok(())
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        d.codes.retain(|_, c| c.client_id != id);
        let grants: Vec<String> = d
            .grants
            .values()
            .filter(|g| g.client_id == id)
            .map(|g| g.id.clone())
            .collect();
        for g in grants {
            d.delete_grant(&g);
        }
        Ok(d.clients.remove(id).is_some())
    }

    async fn client_by_id(&self, id: &str) -> StoreResult<Option<OidcClient>> {
        Ok(self.0.lock().unwrap().clients.get(id).cloned())
    }

    async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<OidcClient>> {
        let d = self.0.lock().unwrap();
        Ok(d.clients
            .values()
            .filter(|c| c.tenant_id == tenant_id)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl MethodStore for MemStore {
    async fn insert_oath_tokens(&self, tokens: &[OathToken]) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        // All or none: every serial is checked (against the stored tokens and the batch) first.
        for (i, t) in tokens.iter().enumerate() {
            let same = |o: &OathToken| {
                o.id == t.id
                    || (t.serial.is_some() && o.tenant_id == t.tenant_id && o.serial == t.serial)
            };
            if d.oath.iter().any(same) || tokens[..i].iter().any(same) {
                let name = t.serial.as_deref().unwrap_or(&t.id);
                return Err(StoreError::Conflict(format!("hardware token {name}")));
            }
        }
        d.oath.extend(tokens.iter().cloned());
        Ok(())
    }

    async fn oath_tokens_of_user(&self, user_id: &str) -> StoreResult<Vec<OathToken>> {
        let d = self.0.lock().unwrap();
        Ok(d.oath
            .iter()
            .filter(|t| t.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn list_oath_tokens(&self, tenant_id: &str) -> StoreResult<Vec<OathToken>> {
        let d = self.0.lock().unwrap();
        Ok(d.oath
            .iter()
            .filter(|t| t.tenant_id == tenant_id)
            .cloned()
            .collect())
    }

    async fn delete_oath_token(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.oath.len();
        d.oath.retain(|t| t.id != id);
        Ok(d.oath.len() < before)
    }

    async fn set_oath_active(&self, id: &str, active: bool) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        for t in d.oath.iter_mut().filter(|t| t.id == id) {
            t.active = active;
        }
        Ok(())
    }

    async fn decide_code(
        &self,
        key: &str,
        policy: LockoutPolicy,
        now: Timestamp,
        matched: Option<(&str, i64)>,
        failed: &[(&str, i64)],
    ) -> StoreResult<crate::methods::oath::CodeDecision> {
        use crate::methods::oath::CodeDecision;
        if !self.reserve_attempt(&[(key, policy)], now).await? {
            return Ok(CodeDecision::Locked);
        }
        let mut d = self.0.lock().unwrap();
        if let Some((id, step)) = matched {
            if let Some(t) = d.oath.iter_mut().find(|t| t.id == id && t.last_step < step) {
                t.last_step = step;
                t.last_used_at = Some(now);
                d.throttle.remove(key);
                return Ok(CodeDecision::Accepted);
            }
        }
        for (id, step) in failed {
            if let Some(t) = d.oath.iter_mut().find(|t| t.id == *id) {
                t.failures.count = t.failures_in(*step) + 1;
                t.failures.step = *step;
            }
        }
        Ok(CodeDecision::Rejected)
    }
}

#[async_trait]
impl ThrottleStore for MemStore {
    async fn throttle_states(&self, keys: &[&str]) -> StoreResult<Vec<ThrottleState>> {
        let d = self.0.lock().unwrap();
        Ok(keys
            .iter()
            .map(|k| d.throttle.get(*k).copied().unwrap_or_default())
            .collect())
    }

    async fn reserve_attempt(
        &self,
        keys: &[(&str, LockoutPolicy)],
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let open = keys.iter().all(|(k, p)| {
            !p.lock(&d.throttle.get(*k).copied().unwrap_or_default(), now)
                .is_locked()
        });
        if open {
            for (k, p) in keys {
                let e = d.throttle.entry(k.to_string()).or_default();
                if p.decay_after.is_some_and(|w| now - e.last_failure_at > w) {
                    e.failures = 0;
                }
                e.failures += 1;
                e.last_failure_at = now;
            }
        }
        Ok(open)
    }

    async fn release_attempt(&self, keys: &[(&str, Release)]) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        for (k, r) in keys {
            match r {
                Release::Clear => {
                    d.throttle.remove(*k);
                }
                Release::One => {
                    if let Some(e) = d.throttle.get_mut(*k) {
                        e.failures = e.failures.saturating_sub(1);
                    }
                }
            }
        }
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> StoreResult<()> {
        self.0.lock().unwrap().throttle.remove(key);
        Ok(())
    }
}

#[async_trait]
impl FlowStore for MemStore {
    async fn insert_flow(&self, f: &SignInFlow) -> StoreResult<()> {
        self.0.lock().unwrap().flows.insert(f.id.clone(), f.clone());
        Ok(())
    }

    async fn update_flow(&self, f: &SignInFlow) -> StoreResult<()> {
        self.insert_flow(f).await
    }

    async fn flow_by_id(&self, id: &str) -> StoreResult<Option<SignInFlow>> {
        Ok(self.0.lock().unwrap().flows.get(id).cloned())
    }

    async fn delete_flow(&self, id: &str, csrf: &str) -> StoreResult<bool> {
        let mut m = self.0.lock().unwrap();
        if m.flows.get(id).is_none_or(|f| f.csrf != csrf) {
            return Ok(false);
        }
        Ok(m.flows.remove(id).is_some())
    }

    async fn insert_session(&self, s: &Session, ending_flow: Option<&str>) -> StoreResult<()> {
        let mut m = self.0.lock().unwrap();
        m.sessions.insert(s.id_digest.clone(), s.clone());
        if let Some(f) = ending_flow {
            m.flows.remove(f);
        }
        Ok(())
    }

    async fn session_by_digest(&self, digest: &str) -> StoreResult<Option<Session>> {
        Ok(self.0.lock().unwrap().sessions.get(digest).cloned())
    }

    async fn touch_session(&self, digest: &str, at: Timestamp) -> StoreResult<()> {
        if let Some(s) = self.0.lock().unwrap().sessions.get_mut(digest) {
            s.last_seen_at = at;
        }
        Ok(())
    }

    async fn delete_session(&self, digest: &str) -> StoreResult<()> {
        self.0.lock().unwrap().sessions.remove(digest);
        Ok(())
    }

    async fn revoke_user_access(
        &self,
        user_id: &str,
        at: Timestamp,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        let mut d = self.0.lock().unwrap();
        let before = d.sessions.len();
        d.sessions
            .retain(|k, s| s.user_id != user_id || Some(k.as_str()) == keep);
        let ended = (before - d.sessions.len()) as u64;
        for g in d.grants.values_mut().filter(|g| g.user_id == user_id) {
            g.revoked_at.get_or_insert(at);
        }
        d.codes
            .retain(|_, c| c.user_id != user_id || c.used_at.is_some());
        if let Some(u) = d.users.get_mut(user_id) {
            u.tokens_valid_after = at;
        }
        Ok(ended)
    }
}

#[async_trait]
impl GrantStore for MemStore {
    async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .codes
            .insert(c.code_digest.clone(), c.clone());
        Ok(())
    }

    async fn code_by_digest(&self, digest: &str) -> StoreResult<Option<AuthCode>> {
        Ok(self.0.lock().unwrap().codes.get(digest).cloned())
    }

    async fn consume_code(
        &self,
        digest: &str,
        now: Timestamp,
        grant_id: &str,
    ) -> StoreResult<Consumed<AuthCode>> {
        let mut d = self.0.lock().unwrap();
        Ok(match d.codes.get_mut(digest) {
            None => Consumed::Missing,
            Some(c) if c.used_at.is_some() => Consumed::Replayed(c.clone()),
            Some(c) => {
                c.used_at = Some(now);
                c.grant_id = Some(grant_id.to_string());
                Consumed::Fresh(c.clone())
            }
        })
    }

    async fn insert_grant(&self, g: &Grant) -> StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .grants
            .insert(g.id.clone(), g.clone());
        Ok(())
    }

    async fn delete_grant(&self, id: &str) -> StoreResult<()> {
        self.0.lock().unwrap().delete_grant(id);
        Ok(())
    }

    async fn grant_by_id(&self, id: &str) -> StoreResult<Option<Grant>> {
        Ok(self.0.lock().unwrap().grants.get(id).cloned())
    }

    async fn revoke_grant(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        if let Some(g) = self.0.lock().unwrap().grants.get_mut(id) {
            g.revoked_at.get_or_insert(at);
        }
        Ok(())
    }

    async fn insert_refresh(&self, r: &RefreshToken) -> StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .refresh
            .insert(r.token_digest.clone(), r.clone());
        Ok(())
    }

    async fn refresh_by_digest(&self, digest: &str) -> StoreResult<Option<RefreshToken>> {
        Ok(self.0.lock().unwrap().refresh.get(digest).cloned())
    }

    async fn refresh_with_grant(&self, digest: &str) -> StoreResult<Option<(RefreshToken, Grant)>> {
        let d = self.0.lock().unwrap();
        Ok(d.refresh
            .get(digest)
            .and_then(|r| d.grants.get(&r.grant_id).map(|g| (r.clone(), g.clone()))))
    }

    async fn consume_refresh(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> StoreResult<Consumed<RefreshToken>> {
        let mut d = self.0.lock().unwrap();
        Ok(match d.refresh.get_mut(digest) {
            None => Consumed::Missing,
            Some(r) if r.used_at.is_some() => Consumed::Replayed(r.clone()),
            Some(r) => {
                r.used_at = Some(now);
                Consumed::Fresh(r.clone())
            }
        })
    }

    async fn rotate_refresh(
        &self,
        old_digest: &str,
        now: Timestamp,
        new: &RefreshToken,
    ) -> StoreResult<Consumed<RefreshToken>> {
        let r = self.consume_refresh(old_digest, now).await?;
        if matches!(r, Consumed::Fresh(_)) {
            self.insert_refresh(new).await?;
        }
        Ok(r)
    }
}

#[async_trait]
impl KeyStore for MemStore {
    async fn insert_signing_key(&self, k: &SigningKey) -> StoreResult<()> {
        self.0.lock().unwrap().keys.push(k.clone());
        Ok(())
    }

    async fn retire_signing_key(&self, kid: &str, at: Timestamp) -> StoreResult<()> {
        for k in self
            .0
            .lock()
            .unwrap()
            .keys
            .iter_mut()
            .filter(|k| k.kid == kid)
        {
            k.retired_at = Some(at);
        }
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()> {
        self.0.lock().unwrap().keys.retain(|k| k.kid != kid);
        Ok(())
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        Ok(self.0.lock().unwrap().keys.clone())
    }
}

#[async_trait]
impl PushStore for MemStore {
    async fn insert_activation(&self, a: &Activation) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.activations.contains_key(&a.code_digest) {
            return Err(StoreError::Conflict("activation code".into()));
        }
        d.activations
            .insert(a.code_digest.clone(), (a.clone(), false));
        Ok(())
    }

    async fn register_device(
        &self,
        code_digest: &str,
        now: Timestamp,
        device: &Device,
        codes: &OathToken,
    ) -> StoreResult<Option<Device>> {
        let mut d = self.0.lock().unwrap();
        if d.devices.iter().any(|x| x.id == device.id) {
            return Err(StoreError::Conflict(format!("device {}", device.id)));
        }
        let Some((a, used)) = d.activations.get_mut(code_digest) else {
            return Ok(None);
        };
        if *used || a.expires_at <= now || a.tenant_id != device.tenant_id {
            return Ok(None);
        }
        *used = true;
        let a = a.clone();
        let token = a.with_codes.then(|| OathToken {
            tenant_id: a.tenant_id.clone(),
            user_id: a.user_id.clone(),
            ..codes.clone()
        });
        let registered = Device {
            tenant_id: a.tenant_id,
            user_id: a.user_id,
            oath_token_id: token.as_ref().map(|t| t.id.clone()),
            ..device.clone()
        };
        if let Some(t) = token {
            d.oath.push(t);
        }
        d.devices.push(registered.clone());
        Ok(Some(registered))
    }

    async fn device_by_id(&self, id: &str) -> StoreResult<Option<Device>> {
        let d = self.0.lock().unwrap();
        Ok(d.devices.iter().find(|x| x.id == id).cloned())
    }

    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        let d = self.0.lock().unwrap();
        let mut out: Vec<Device> = d
            .devices
            .iter()
            .filter(|x| x.user_id == user_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn delete_device(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.devices.len();
        let codes = d
            .devices
            .iter()
            .find(|x| x.id == id)
            .and_then(|x| x.oath_token_id.clone());
        if let Some(t) = codes {
            d.oath.retain(|x| x.id != t);
        }
        d.devices.retain(|x| x.id != id);
        d.challenges.retain(|_, (dev, _)| dev != id);
        Ok(d.devices.len() < before)
    }

    async fn insert_push_request(
        &self,
        r: &PushRequest,
        fatigue: crate::methods::push::Fatigue,
        reserve: &[(&str, LockoutPolicy)],
        flow: Option<&SignInFlow>,
    ) -> StoreResult<crate::methods::push::Inserted> {
        use crate::methods::push::Inserted;
        {
            let d = self.0.lock().unwrap();
            if d.pushes.iter().any(|x| x.id == r.id) {
                return Err(StoreError::Conflict("push request".into()));
            }
            let recent = d
                .pushes
                .iter()
                .filter(|x| x.user_id == r.user_id && x.created_at >= fatigue.since)
                .count();
            if fatigue.reached(recent as u64) {
                return Ok(Inserted::Fatigued);
            }
        }
        // The fake's reservation is a step of its own: its tests run one request at a time.
        if !self.reserve_attempt(reserve, r.created_at).await? {
            return Ok(Inserted::Locked);
        }
        let mut d = self.0.lock().unwrap();
        if let Some(f) = flow {
            d.flows.insert(f.id.clone(), f.clone());
        }
        let mut withdrawn = Vec::new();
        for old in d.pushes.iter_mut() {
            if old.user_id == r.user_id && old.state == PushState::Pending {
                old.state = PushState::Withdrawn;
                old.settled_at = Some(r.created_at);
                withdrawn.push(old.id.clone());
            }
        }
        d.pushes.push(r.clone());
        Ok(Inserted::Sent { withdrawn })
    }

    async fn push_request(&self, id: &str) -> StoreResult<Option<PushRequest>> {
        let d = self.0.lock().unwrap();
        Ok(d.pushes.iter().find(|x| x.id == id).cloned())
    }

    async fn pending_push_requests(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<PushRequest>> {
        let d = self.0.lock().unwrap();
        let mut out: Vec<PushRequest> = d
            .pushes
            .iter()
            .filter(|x| x.user_id == user_id && x.state == PushState::Pending && x.expires_at > now)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn settle_push_request(
        &self,
        id: &str,
        state: PushState,
        device_id: Option<&str>,
        now: Timestamp,
        release: &[(&str, Release)],
    ) -> StoreResult<bool> {
        let settled = {
            let mut d = self.0.lock().unwrap();
            match d.pushes.iter_mut().find(|x| x.id == id) {
                Some(r) if r.state == PushState::Pending && state.may_settle(r.expires_at, now) => {
                    r.state = state;
                    r.settled_at = Some(now);
                    r.device_id = device_id.map(str::to_string);
                    let user_id = r.user_id.clone();
                    if state == PushState::NotMe {
                        if let Some(u) = d.users.get_mut(&user_id) {
                            u.push_blocked_at = Some(now);
                        }
                    }
                    true
                }
                _ => false,
            }
        };
        if settled {
            self.release_attempt(release).await?;
        }
        Ok(settled)
    }

    async fn set_push_block(&self, user_id: &str, at: Option<Timestamp>) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        Ok(d.users
            .get_mut(user_id)
            .map(|u| u.push_blocked_at = at)
            .is_some())
    }

    async fn insert_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.challenges.contains_key(digest) {
            return Err(StoreError::Conflict("device challenge".into()));
        }
        d.challenges
            .insert(digest.into(), (device_id.into(), expires_at));
        Ok(())
    }

    async fn take_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let fits = d
            .challenges
            .get(digest)
            .is_some_and(|(dev, exp)| dev == device_id && *exp > now);
        if fits {
            d.challenges.remove(digest);
        }
        Ok(fits)
    }

    async fn touch_device(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if let Some(x) = d.devices.iter_mut().find(|x| x.id == id) {
            x.last_seen_at = Some(at);
        }
        Ok(())
    }

    async fn enable_phone_sign_in(
        &self,
        device_id: &str,
        phone_key: &str,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<crate::methods::phone::Enabled> {
        use crate::methods::phone::Enabled;
        let mut d = self.0.lock().unwrap();
        let Some(user) = d
            .devices
            .iter()
            .find(|x| x.id == device_id)
            .map(|x| x.user_id.clone())
        else {
            return Ok(Enabled::UnknownDevice);
        };
        if d.phone_devices(&user, Some(device_id)) >= limit as usize {
            return Ok(Enabled::LimitReached);
        }
        let x = d.devices.iter_mut().find(|x| x.id == device_id).unwrap();
        x.phone_key = Some(phone_key.into());
        x.phone_enabled_at = Some(now);
        Ok(Enabled::Enabled)
    }

    async fn register_with_pass(
        &self,
        pass_id: &str,
        now: Timestamp,
        device: &Device,
        codes: Option<&OathToken>,
        limit: u32,
    ) -> StoreResult<crate::methods::phone::Registered> {
        use crate::methods::phone::Registered;
        let mut d = self.0.lock().unwrap();
        let live = d.taps.get(&device.user_id).is_some_and(|p| {
            p.id == pass_id && p.state(now) == crate::methods::tap::PassState::Live
        });
        if !live {
            return Ok(Registered::PassRefused);
        }
        if d.phone_devices(&device.user_id, None) >= limit as usize {
            return Ok(Registered::LimitReached);
        }
        if d.devices.iter().any(|x| x.id == device.id) {
            return Err(StoreError::Conflict(format!("device {}", device.id)));
        }
        d.taps.get_mut(&device.user_id).unwrap().used_at = Some(now);
        d.oath.extend(codes.cloned());
        d.devices.push(device.clone());
        Ok(Registered::Registered)
    }
}

#[async_trait]
impl PolicyStore for MemStore {
    async fn methods_policy(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Option<crate::policy::StoredPolicy>> {
        Ok(self.0.lock().unwrap().policies.get(tenant_id).cloned())
    }

    async fn user_with_policy(
        &self,
        user_id: &str,
    ) -> StoreResult<Option<(User, Option<crate::policy::StoredPolicy>)>> {
        let d = self.0.lock().unwrap();
        Ok(d.users
            .get(user_id)
            .map(|u| (u.clone(), d.policies.get(&u.tenant_id).cloned())))
    }

    async fn save_methods_policy(
        &self,
        tenant_id: &str,
        policy: &crate::policy::MethodsPolicy,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut m = self.0.lock().unwrap();
        let version = m.policies.get(tenant_id).map_or(0, |p| p.version);
        if version != expected_version {
            return Ok(false);
        }
        m.policies.insert(
            tenant_id.into(),
            crate::policy::StoredPolicy {
                policy: policy.clone(),
                version: version + 1,
            },
        );
        m.audit.push(audit.clone());
        Ok(true)
    }
}

#[async_trait]
impl TapStore for MemStore {
    async fn insert_tap(
        &self,
        pass: &TemporaryAccessPass,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        if d.taps.get(&pass.user_id).is_some_and(|p| p.is_current(now)) {
            return Ok(false);
        }
        d.taps.insert(pass.user_id.clone(), pass.clone());
        d.audit.push(audit.clone());
        Ok(true)
    }

    async fn tap_of_user(&self, user_id: &str) -> StoreResult<Option<TemporaryAccessPass>> {
        Ok(self.0.lock().unwrap().taps.get(user_id).cloned())
    }

    async fn list_taps(&self, tenant_id: &str) -> StoreResult<Vec<TemporaryAccessPass>> {
        let d = self.0.lock().unwrap();
        let mut all: Vec<TemporaryAccessPass> = d
            .taps
            .values()
            .filter(|p| p.tenant_id == tenant_id)
            .cloned()
            .collect();
        all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(all)
    }

    async fn use_tap(&self, user_id: &str, id: &str, now: Timestamp) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        match d.taps.get_mut(user_id) {
            Some(p) if p.id == id && p.state(now) == crate::methods::tap::PassState::Live => {
                p.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_tap(
        &self,
        user_id: &str,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        match d.taps.get_mut(user_id) {
            Some(p) if p.is_current(now) => {
                p.revoked_at = Some(now);
                d.audit.push(audit.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl PasskeyStore for MemStore {
    async fn insert_passkey(&self, p: &PasskeyCredential) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.passkeys
            .iter()
            .any(|x| x.credential_id == p.credential_id)
        {
            return Err(StoreError::Conflict(format!("passkey {}", p.credential_id)));
        }
        d.passkeys.push(p.clone());
        Ok(())
    }

    async fn passkey(&self, credential_id: &str) -> StoreResult<Option<PasskeyCredential>> {
        let d = self.0.lock().unwrap();
        Ok(d.passkeys
            .iter()
            .find(|p| p.credential_id == credential_id)
            .cloned())
    }

    async fn passkeys_of_user(&self, user_id: &str) -> StoreResult<Vec<PasskeyCredential>> {
        let d = self.0.lock().unwrap();
        let mut out: Vec<PasskeyCredential> = d
            .passkeys
            .iter()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.credential_id).cmp(&(b.created_at, &b.credential_id)));
        Ok(out)
    }

    async fn record_passkey_use(
        &self,
        credential_id: &str,
        u: &PasskeyUse,
    ) -> StoreResult<Recorded> {
        let mut d = self.0.lock().unwrap();
        let Some(p) = d
            .passkeys
            .iter_mut()
            .find(|p| p.credential_id == credential_id)
        else {
            return Ok(Recorded::Unknown);
        };
        if !crate::methods::passkey::counter_moves_on(p.sign_count, u.sign_count) {
            return Ok(Recorded::CounterRegressed);
        }
        p.sign_count = u.sign_count;
        p.backup_eligible = u.backup_eligible;
        p.backup_state = u.backup_state;
        p.last_used_at = Some(u.at);
        Ok(Recorded::Recorded)
    }

    async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        match d
            .passkeys
            .iter_mut()
            .find(|p| p.credential_id == credential_id && p.user_id == user_id)
        {
            Some(p) => {
                p.name = name.into();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.passkeys.len();
        d.passkeys
            .retain(|p| !(p.credential_id == credential_id && p.user_id == user_id));
        Ok(d.passkeys.len() < before)
    }

    async fn webauthn_handle(&self, user_id: &str, new: &str) -> StoreResult<String> {
        let mut d = self.0.lock().unwrap();
        if d.handles.values().any(|h| h == new) && !d.handles.contains_key(user_id) {
            return Err(StoreError::Conflict("WebAuthn user handle".into()));
        }
        Ok(d.handles
            .entry(user_id.to_string())
            .or_insert_with(|| new.to_string())
            .clone())
    }

    async fn user_of_webauthn_handle(&self, handle: &str) -> StoreResult<Option<String>> {
        let d = self.0.lock().unwrap();
        Ok(d.handles
            .iter()
            .find(|(_, h)| h.as_str() == handle)
            .map(|(u, _)| u.clone()))
    }
}

#[async_trait]
impl LogStore for MemStore {
    async fn append_signin(&self, e: &SignInLogEntry) -> StoreResult<()> {
        self.0.lock().unwrap().signins.push(e.clone());
        Ok(())
    }

    async fn list_signins(&self, tenant_id: &str, limit: u32) -> StoreResult<Vec<SignInLogEntry>> {
        let d = self.0.lock().unwrap();
        Ok(d.signins
            .iter()
            .rev()
            .filter(|e| e.tenant_id == tenant_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn list_audit(&self, tenant_id: &str, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let m = self.0.lock().unwrap();
        Ok(m.audit
            .iter()
            .rev()
            .filter(|e| e.tenant_id == tenant_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl Store for MemStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp, idle: i64) -> StoreResult<u64> {
        let mut d = self.0.lock().unwrap();
        let before = d.expiring_rows();
        d.flows.retain(|_, f| f.expires_at > now);
        d.sessions.retain(|_, s| s.last_seen_at > now - idle);
        d.codes.retain(|_, c| c.expires_at > now);
        let gone: Vec<String> = d
            .grants
            .values()
            .filter(|g| g.expires_at <= now)
            .map(|g| g.id.clone())
            .collect();
        for g in gone {
            d.delete_grant(&g);
        }
        d.refresh.retain(|_, r| r.expires_at > now);
        d.throttle.retain(|_, t| {
            t.last_failure_at >= now - crate::signin::throttle::FORGOTTEN_AFTER
                || t.failures >= crate::signin::throttle::PERMANENT_AT
        });
        d.activations.retain(|_, (a, _)| a.expires_at > now);
        d.challenges.retain(|_, (_, exp)| *exp > now);
        d.pushes
            .retain(|r| r.expires_at + crate::methods::push::REQUESTS_KEPT_FOR > now);
        d.taps
            .retain(|_, p| p.expires_at + crate::methods::tap::PASSES_KEPT_FOR > now);
        Ok((before - d.expiring_rows()) as u64)
    }
}

/// Writes `alg.typ.claims-json`: enough for the core's tests to read back what would be signed.
pub struct PlainSigner;

impl TokenSigner for PlainSigner {
    fn sign(&self, alg: SigningAlg, typ: &str, claims: &serde_json::Value) -> CoreResult<String> {
        Ok(format!("{}.{typ}.{claims}", alg.as_str()))
    }
    fn verify(
        &self,
        token: &str,
        issuer: &str,
        typ: &str,
        now: Timestamp,
    ) -> Option<serde_json::Value> {
        let mut parts = token.splitn(3, '.');
        let (_alg, t, body) = (parts.next()?, parts.next()?, parts.next()?);
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        (t == typ && v["iss"] == issuer && v["exp"].as_i64()? > now).then_some(v)
    }
}

/// A fast stand-in for Argon2 in unit tests: compares with a prefix marker.
pub struct FastHasher;

#[async_trait]
impl PasswordHasher for FastHasher {
    async fn hash(&self, password: &str) -> CoreResult<Secret> {
        Ok(Secret::new(format!("plain:{password}")))
    }
    async fn verify(&self, password: &str, phc: &Secret) -> CoreResult<bool> {
        Ok(phc.expose() == format!("plain:{password}"))
    }
    async fn pace(&self) {}
}

pub struct Fixture {
    pub deps: Deps,
    pub store: Arc<MemStore>,
    pub clock: Arc<ManualClock>,
    /// What the core told the world (`Deps::notifier`).
    pub notices: Arc<crate::notify::Recorder>,
}

/// Tenant "contoso" (contoso.com) with alice@contoso.com, with `password` or none.
pub async fn contoso_alice(deps: &Deps, password: Option<&str>) -> (Tenant, User) {
    use crate::directory::{self, NewUser};
    let t = directory::create_tenant(deps, "contoso", "Contoso", &["contoso.com".into()])
        .await
        .unwrap();
    let u = directory::create_user(
        deps,
        &t,
        NewUser {
            upn: "alice@contoso.com",
            display_name: "Alice",
            email: None,
            password,
            enabled: true,
        },
    )
    .await
    .unwrap();
    (t, u)
}

pub fn fixture() -> Fixture {
    let store = Arc::new(MemStore::default());
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let notices = Arc::new(crate::notify::Recorder::default());
    let deps = Deps {
        store: store.clone(),
        clock: clock.clone(),
        rng: Arc::new(OsRandom),
        hasher: Arc::new(FastHasher),
        notifier: notices.clone(),
        risk: Arc::new([]),
        settings: Settings::default(),
    };
    Fixture {
        deps,
        store,
        clock,
        notices,
    }
}
