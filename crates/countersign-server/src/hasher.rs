//! Password hashing for the server: Argon2id on blocking threads, at most `limit` at once, so a
//! flood of sign-ins cannot exhaust memory (each hash holds 19 MiB) or starve the async workers.
//! Callers that cannot get a slot within `wait` are turned away with `Busy`.

use async_trait::async_trait;
use countersign_core::password::{self, PasswordHasher};
use countersign_core::random::OsRandom;
use countersign_core::secret::Secret;
use countersign_core::{CoreError, CoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct BoundedHasher {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl BoundedHasher {
    pub fn new(limit: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit.max(1))),
            wait,
        }
    }

    /// Hashes in flight right now (for metrics).
    pub fn in_flight(&self, limit: usize) -> usize {
        limit.saturating_sub(self.slots.available_permits())
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> CoreResult<T> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| CoreError::Busy)?
            .map_err(|_| CoreError::Busy)?;
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| CoreError::Busy)?;
        Ok(out)
    }
}

#[async_trait]
impl PasswordHasher for BoundedHasher {
    async fn hash(&self, password: &str) -> CoreResult<Secret> {
        let p = password.to_string();
        self.run(move || password::hash_password(&p, &OsRandom))
            .await?
    }

    async fn verify(&self, password: &str, phc: &Secret) -> CoreResult<bool> {
        let (p, h) = (password.to_string(), phc.clone());
        self.run(move || password::verify_password(&p, &h)).await
    }
}
