//! Lockout counters: attempts reserved, released and decided inside one write (`ThrottleStore`).

use crate::db::query;
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::model::*;
use countersign_core::signin::throttle::{LockoutPolicy, Release};
use countersign_core::store::*;

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn throttle_states(&self, keys: &[&str]) -> R<Vec<ThrottleState>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT key, failures, last_failure_at FROM throttle WHERE key IN ({})",
            placeholders.join(", ")
        );
        let mut q = query(&sql);
        for k in keys {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(&self.db).await?;
        let mut found = std::collections::HashMap::new();
        for row in &rows {
            let key: String = row.get("key")?;
            found.insert(key, rows::throttle(row)?);
        }
        Ok(keys
            .iter()
            .map(|k| found.get(*k).copied().unwrap_or_default())
            .collect())
    }

    async fn reserve_attempt(&self, keys: &[(&str, LockoutPolicy)], now: Timestamp) -> R<bool> {
        let mut tx = self.db.begin().await?;
        for (key, p) in keys {
            if !Self::reserve_in(&mut tx, key, p, now).await? {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn release_attempt(&self, keys: &[(&str, Release)]) -> R<()> {
        let mut tx = self.db.begin().await?;
        Self::release_in(&mut tx, keys).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> R<()> {
        self.exec(query("DELETE FROM throttle WHERE key = $1").bind(key))
            .await?;
        Ok(())
    }
}
