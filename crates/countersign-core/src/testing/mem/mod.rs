//! The core's in-memory `Store`, one file per store trait: what its unit tests use. It passes
//! the same conformance suite as the SQL stores (countersign-store's `tests/conformance.rs`), one
//! mutex making every call atomic; where it must restate a core rule it calls the core's function.

use crate::clock::Timestamp;
use crate::methods::oath::OathToken;
use crate::methods::passkey::PasskeyCredential;
use crate::methods::push::{Activation, Device, PushRequest};
use crate::methods::tap::TemporaryAccessPass;
use crate::model::*;
use crate::store::*;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

mod directory;
mod flows;
mod grants;
mod keys;
mod lockouts;
mod log;
mod methods;
mod passes;
mod passkeys;
mod policy;
mod push;

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
