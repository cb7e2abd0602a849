//! Countersign's domain: tenants, users, groups, roles, OIDC clients, password sign-in with
//! throttling, sessions and the OpenID Connect authorization-code flow. The core performs no I/O:
//! storage, time, randomness, password hashing and token signing arrive through the traits
//! gathered in [`Deps`], so every rule here is unit-tested with fakes and a manual clock.

pub mod clock;
pub mod directory;
pub mod error;
pub mod methods;
pub mod model;
pub mod notify;
pub mod oidc;
pub mod policy;
pub mod random;
pub mod secret;
pub mod signin;
pub mod store;
pub mod text;

#[cfg(test)]
mod props;
#[cfg(any(test, feature = "testing"))]
#[allow(clippy::unwrap_used)] // test support: a poisoned lock or a failing unwrap fails the test
pub mod testing;
#[cfg(test)]
mod tests;

pub use error::{CoreError, CoreResult, OAuthError, OAuthErrorCode, StoreError};

use std::sync::Arc;

/// Lifetimes, in seconds. Defaults follow common practice (OIDC code ≤ 10 min per RFC 6749 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub session_idle: i64,
    pub session_absolute: i64,
    pub flow_ttl: i64,
    pub code_ttl: i64,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub grant_ttl: i64,
    /// How many devices a user may turn phone sign-in on for.
    pub phone_sign_in_limit: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_idle: 8 * 3600,
            session_absolute: 24 * 3600,
            flow_ttl: 15 * 60,
            code_ttl: 5 * 60,
            access_token_ttl: 3600,
            refresh_token_ttl: 14 * 24 * 3600,
            grant_ttl: 90 * 24 * 3600,
            phone_sign_in_limit: 5,
        }
    }
}

/// Everything the core needs from the outside world.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn store::Store>,
    pub clock: Arc<dyn clock::Clock>,
    pub rng: Arc<dyn random::Rng>,
    pub hasher: Arc<dyn methods::password::PasswordHasher>,
    /// Told of requests sent and settled and of devices removed (`notify`).
    pub notifier: Arc<dyn notify::Notifier>,
    /// The risk rules every push request's sign-in is checked against.
    pub risk: Arc<[Box<dyn signin::risk::RiskRule>]>,
    pub settings: Settings,
}

impl Deps {
    pub fn now(&self) -> clock::Timestamp {
        self.clock.now()
    }
    pub fn new_id(&self) -> String {
        random::new_id(self.rng.as_ref())
    }
    pub fn secret_token(&self) -> String {
        random::secret_token(self.rng.as_ref())
    }
}
