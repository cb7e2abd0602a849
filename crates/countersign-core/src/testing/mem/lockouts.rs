//! In-memory lockout counters (`ThrottleStore`).

use super::*;
use crate::clock::Timestamp;
use crate::signin::throttle::{LockoutPolicy, Release};
use async_trait::async_trait;

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
