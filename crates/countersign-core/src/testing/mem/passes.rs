//! In-memory Temporary Access Passes (`TapStore`).

use super::*;
use crate::clock::Timestamp;
use crate::methods::tap::TemporaryAccessPass;
use async_trait::async_trait;

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
