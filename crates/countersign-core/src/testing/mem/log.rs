//! The in-memory sign-in log (`LogStore`).

use super::*;
use async_trait::async_trait;

#[async_trait]
impl LogStore for MemStore {
    async fn append_signin(&self, e: &SignInLogEntry) -> StoreResult<()> {
        self.0.lock().unwrap().signins.push(e.clone());
        Ok(())
    }

    async fn list_signins(&self, tenant_id: &str, limit: u32) -> StoreResult<Vec<SignInLogEntry>> {
        let d = self.0.lock().unwrap();
        Ok(d.signins
            .iter()
            .rev()
            .filter(|e| e.tenant_id == tenant_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn list_audit(&self, tenant_id: &str, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let m = self.0.lock().unwrap();
        Ok(m.audit
            .iter()
            .rev()
            .filter(|e| e.tenant_id == tenant_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}
