//! Password hashing for the server: Argon2id on blocking threads, at most `limit` at once, so a
//! flood of sign-ins cannot exhaust memory (each hash holds 19 MiB) or starve the async workers.
//! Callers that cannot get a slot within `wait` are turned away with `Busy`. Each slot keeps its
//! Argon2 working memory between hashes while sign-ins keep coming, and gives it back to the
//! system once the server has been idle for a while.

use async_trait::async_trait;
use countersign_core::password::{self, Argon2Block, PasswordHasher};
use countersign_core::random::OsRandom;
use countersign_core::secret::Secret;
use countersign_core::{CoreError, CoreResult};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct BoundedHasher {
    slots: Arc<Semaphore>,
    wait: Duration,
    /// Working memory of idle slots.
    memory: Arc<Mutex<Vec<Vec<Argon2Block>>>>,
    last_used: Arc<Mutex<Instant>>,
}

impl BoundedHasher {
    pub fn new(limit: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit.max(1))),
            wait,
            memory: Arc::default(),
            last_used: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Frees the kept working memory when no hash ran for `idle`.
    pub fn trim_if_idle(&self, idle: Duration) {
        if self.last_used.lock().expect("hasher").elapsed() >= idle {
            self.memory.lock().expect("hasher").clear();
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
        let (memory, last_used) = (self.memory.clone(), self.last_used.clone());
        self.run(move || {
            let mut mem = memory.lock().expect("hasher").pop().unwrap_or_default();
            let ok = password::verify_password_with(&p, &h, &mut mem);
            memory.lock().expect("hasher").push(mem);
            *last_used.lock().expect("hasher") = Instant::now();
            ok
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_hasher_turns_callers_away_instead_of_queueing_forever() {
        let h = BoundedHasher::new(1, Duration::from_millis(1));
        let phc = password::hash_password("violet-tuba-engine", &OsRandom).unwrap();
        let (a, b) = tokio::join!(
            h.verify("violet-tuba-engine", &phc),
            h.verify("violet-tuba-engine", &phc)
        );
        let busy = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(CoreError::Busy)))
            .count();
        assert_eq!(
            busy, 1,
            "one slot: the second concurrent hash must be refused"
        );
        assert!([a, b].into_iter().any(|r| r.is_ok_and(|ok| ok)));
    }

    #[tokio::test]
    async fn working_memory_is_kept_then_trimmed() {
        let h = BoundedHasher::new(2, Duration::from_secs(5));
        let phc = password::hash_password("violet-tuba-engine", &OsRandom).unwrap();
        assert!(h.verify("violet-tuba-engine", &phc).await.unwrap());
        assert_eq!(h.memory.lock().unwrap().len(), 1);
        h.trim_if_idle(Duration::from_secs(60));
        assert_eq!(h.memory.lock().unwrap().len(), 1, "not idle long enough");
        h.trim_if_idle(Duration::ZERO);
        assert!(h.memory.lock().unwrap().is_empty());
    }
}
