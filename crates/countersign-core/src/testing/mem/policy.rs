//! The in-memory methods policy (`PolicyStore`).

use super::*;
use async_trait::async_trait;

#[async_trait]
impl PolicyStore for MemStore {
    async fn methods_policy(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Option<crate::policy::StoredPolicy>> {
        Ok(self.0.lock().unwrap().policies.get(tenant_id).cloned())
    }

    async fn user_with_policy(
        &self,
        user_id: &str,
    ) -> StoreResult<Option<(User, Option<crate::policy::StoredPolicy>)>> {
        let d = self.0.lock().unwrap();
        Ok(d.users
            .get(user_id)
            .map(|u| (u.clone(), d.policies.get(&u.tenant_id).cloned())))
    }

    async fn save_methods_policy(
        &self,
        tenant_id: &str,
        policy: &crate::policy::MethodsPolicy,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut m = self.0.lock().unwrap();
        let version = m.policies.get(tenant_id).map_or(0, |p| p.version);
        if version != expected_version {
            return Ok(false);
        }
        m.policies.insert(
            tenant_id.into(),
            crate::policy::StoredPolicy {
                policy: policy.clone(),
                version: version + 1,
            },
        );
        m.audit.push(audit.clone());
        Ok(true)
    }
}
