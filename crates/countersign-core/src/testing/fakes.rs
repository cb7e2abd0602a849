//! Fakes of the world for the core's unit tests: a token signer that writes readable unsigned
//! tokens, a cheap password hasher, and a fixture with a manual clock and a notifier that records.

use super::mem::MemStore;
use crate::clock::{ManualClock, Timestamp};
use crate::methods::password::PasswordHasher;
use crate::model::*;
use crate::oidc::TokenSigner;
use crate::random::OsRandom;
use crate::secret::Secret;
use crate::{CoreResult, Deps, Settings};
use async_trait::async_trait;
use std::sync::Arc;

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
