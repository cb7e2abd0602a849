//! In-memory sign-in flows and sessions (`FlowStore`).

use super::*;
use crate::clock::Timestamp;
use async_trait::async_trait;

#[async_trait]
impl FlowStore for MemStore {
    async fn insert_flow(&self, f: &SignInFlow) -> StoreResult<()> {
        self.0.lock().unwrap().flows.insert(f.id.clone(), f.clone());
        Ok(())
    }

    async fn update_flow(&self, f: &SignInFlow) -> StoreResult<()> {
        self.insert_flow(f).await
    }

    async fn flow_by_id(&self, id: &str) -> StoreResult<Option<SignInFlow>> {
        Ok(self.0.lock().unwrap().flows.get(id).cloned())
    }

    async fn delete_flow(&self, id: &str, csrf: &str) -> StoreResult<bool> {
        let mut m = self.0.lock().unwrap();
        if m.flows.get(id).is_none_or(|f| f.csrf != csrf) {
            return Ok(false);
        }
        Ok(m.flows.remove(id).is_some())
    }

    async fn insert_session(&self, s: &Session, ending_flow: Option<&str>) -> StoreResult<()> {
        let mut m = self.0.lock().unwrap();
        m.sessions.insert(s.id_digest.clone(), s.clone());
        if let Some(f) = ending_flow {
            m.flows.remove(f);
        }
        Ok(())
    }

    async fn session_by_digest(&self, digest: &str) -> StoreResult<Option<Session>> {
        Ok(self.0.lock().unwrap().sessions.get(digest).cloned())
    }

    async fn touch_session(&self, digest: &str, at: Timestamp) -> StoreResult<()> {
        if let Some(s) = self.0.lock().unwrap().sessions.get_mut(digest) {
            s.last_seen_at = at;
        }
        Ok(())
    }

    async fn delete_session(&self, digest: &str) -> StoreResult<()> {
        self.0.lock().unwrap().sessions.remove(digest);
        Ok(())
    }

    async fn revoke_user_access(
        &self,
        user_id: &str,
        at: Timestamp,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        let mut d = self.0.lock().unwrap();
        let before = d.sessions.len();
        d.sessions
            .retain(|k, s| s.user_id != user_id || Some(k.as_str()) == keep);
        let ended = (before - d.sessions.len()) as u64;
        for g in d.grants.values_mut().filter(|g| g.user_id == user_id) {
            g.revoked_at.get_or_insert(at);
        }
        d.codes
            .retain(|_, c| c.user_id != user_id || c.used_at.is_some());
        if let Some(u) = d.users.get_mut(user_id) {
            u.tokens_valid_after = at;
        }
        Ok(ended)
    }
}
