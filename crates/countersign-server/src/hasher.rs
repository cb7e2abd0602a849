//! Password hashing for the server: Argon2id on blocking threads, at most `limit` at once, so a
//! flood of sign-ins cannot exhaust memory (each hash holds 19 MiB) or starve the async workers.
//! Callers that cannot get a slot within `wait` are turned away with `Busy`. Each slot keeps its
//! Argon2 working memory between hashes while sign-ins keep coming, and gives it back to the
//! system once the server has been idle for a while.
//!
//! It also keeps a running average of how long a verification takes from the caller's side
//! (waiting for a slot included), so that a refused attempt can wait as long (`pace`) and answer
//! no sooner than a checked one, at the cost of a timer instead of a hash.

use crate::sync::lock;
use async_trait::async_trait;
use countersign_core::methods::password::{self, Argon2Block, PasswordHasher};
use countersign_core::random::OsRandom;
use countersign_core::secret::Secret;
use countersign_core::{CoreError, CoreResult};
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Running average of a verification as its caller waits for it, in microseconds (0: none
    /// measured yet).
    typical_us: Arc<AtomicU64>,
    /// Verifications computed (a metric, and what tests count).
    verified: Counter,
}

impl BoundedHasher {
    pub fn new(limit: usize, wait: Duration, verified: Counter) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit.max(1))),
            wait,
            memory: Arc::default(),
            last_used: Arc::new(Mutex::new(Instant::now())),
            typical_us: Arc::default(),
            verified,
        }
    }

    /// Frees the kept working memory when no hash ran for `idle`.
    pub fn trim_if_idle(&self, idle: Duration) {
        // A panic elsewhere while a lock was held leaves plain data behind: keep serving.
        if lock(&self.last_used).elapsed() >= idle {
            lock(&self.memory).clear();
        }
    }

    /// Verifications computed since start.
    pub fn verified(&self) -> u64 {
        self.verified.get()
    }

    /// How long a verification typically takes its caller now (`None` before the first).
    pub fn typical(&self) -> Option<Duration> {
        match self.typical_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Verifies a password against a dummy hash once, to measure how long verifications take.
    pub async fn calibrate(&self) -> CoreResult<()> {
        self.verify("calibration", password::dummy_hash()).await?;
        Ok(())
    }

    /// Folds one measured verification into the running average (weight 1/8).
    fn observe(&self, took: Duration) {
        let sample = (took.as_micros() as u64).max(1);
        let _ = self
            .typical_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    old - old / 8 + sample / 8
                })
            });
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
        let started = Instant::now();
        let (p, h) = (password.to_string(), phc.clone());
        let (memory, last_used) = (self.memory.clone(), self.last_used.clone());
        let ok = self
            .run(move || {
                let mut mem = lock(&memory).pop().unwrap_or_default();
                let ok = password::verify_password_with(&p, &h, &mut mem);
                lock(&memory).push(mem);
                *lock(&last_used) = Instant::now();
                ok
            })
            .await?;
        self.verified.inc();
        self.observe(started.elapsed());
        Ok(ok)
    }

    async fn pace(&self) {
        match self.typical() {
            Some(d) => tokio::time::sleep(d).await,
            // Nothing measured yet: one real verification, which also gives the first measure.
            None => {
                let _ = self.verify("", password::dummy_hash()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_hasher_turns_callers_away_instead_of_queueing_forever() {
        let h = BoundedHasher::new(1, Duration::from_millis(1), Counter::default());
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
        let h = BoundedHasher::new(2, Duration::from_secs(5), Counter::default());
        let phc = password::hash_password("violet-tuba-engine", &OsRandom).unwrap();
        assert!(h.verify("violet-tuba-engine", &phc).await.unwrap());
        assert_eq!(h.memory.lock().unwrap().len(), 1);
        h.trim_if_idle(Duration::from_secs(60));
        assert_eq!(h.memory.lock().unwrap().len(), 1, "not idle long enough");
        h.trim_if_idle(Duration::ZERO);
        assert!(h.memory.lock().unwrap().is_empty());
    }

    /// A refusal waits as long as verifications have been taking, on a timer: with time paused,
    /// `pace` advances the clock by the running average and computes nothing.
    #[tokio::test(start_paused = true)]
    async fn pace_waits_as_long_as_a_verification_takes() {
        let h = BoundedHasher::new(2, Duration::from_secs(5), Counter::default());
        h.observe(Duration::from_millis(24));
        for _ in 0..40 {
            h.observe(Duration::from_millis(40));
        }
        let typical = h.typical().unwrap();
        assert!(typical > Duration::from_millis(39) && typical <= Duration::from_millis(40));
        let before = tokio::time::Instant::now();
        h.pace().await;
        // the timer wheel counts whole milliseconds
        let waited = tokio::time::Instant::now() - before;
        assert!(
            waited >= typical && waited <= typical + Duration::from_millis(1),
            "{waited:?}"
        );
        assert_eq!(h.verified(), 0, "a timer, not a hash");
    }

    #[tokio::test]
    async fn before_any_measure_pace_computes_one_verification() {
        let h = BoundedHasher::new(2, Duration::from_secs(5), Counter::default());
        h.pace().await;
        assert_eq!(h.verified(), 1);
        assert!(h.typical().is_some());
        h.calibrate().await.unwrap();
        assert_eq!(h.verified(), 2);
    }
}
