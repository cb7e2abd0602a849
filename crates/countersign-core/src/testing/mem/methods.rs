//! In-memory OATH tokens and the code decision (`MethodStore`).

use super::*;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::methods::oath::{OathToken, OathTokenInfo};
use crate::signin::throttle::LockoutPolicy;
use async_trait::async_trait;

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

    async fn oath_token_list(&self, user_id: &str) -> StoreResult<Vec<OathTokenInfo>> {
        let d = self.0.lock().unwrap();
        Ok(d.oath
            .iter()
            .filter(|t| t.user_id == user_id)
            .map(OathToken::info)
            .collect())
    }

    async fn list_oath_tokens(&self, tenant_id: &str) -> StoreResult<Vec<OathTokenInfo>> {
        let d = self.0.lock().unwrap();
        Ok(d.oath
            .iter()
            .filter(|t| t.tenant_id == tenant_id)
            .map(OathToken::info)
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
