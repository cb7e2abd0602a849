//! In-memory grants, codes and refresh tokens (`GrantStore`).

use super::*;
use crate::clock::Timestamp;
use async_trait::async_trait;

#[async_trait]
impl GrantStore for MemStore {
    async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .codes
            .insert(c.code_digest.clone(), c.clone());
        Ok(())
    }

    async fn code_by_digest(&self, digest: &str) -> StoreResult<Option<AuthCode>> {
        Ok(self.0.lock().unwrap().codes.get(digest).cloned())
    }

    async fn consume_code(
        &self,
        digest: &str,
        now: Timestamp,
        grant_id: &str,
    ) -> StoreResult<Consumed<AuthCode>> {
        let mut d = self.0.lock().unwrap();
        Ok(match d.codes.get_mut(digest) {
            None => Consumed::Missing,
            Some(c) if c.used_at.is_some() => Consumed::Replayed(c.clone()),
            Some(c) => {
                c.used_at = Some(now);
                c.grant_id = Some(grant_id.to_string());
                Consumed::Fresh(c.clone())
            }
        })
    }

    async fn insert_grant(&self, g: &Grant) -> StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .grants
            .insert(g.id.clone(), g.clone());
        Ok(())
    }

    async fn delete_grant(&self, id: &str) -> StoreResult<()> {
        self.0.lock().unwrap().delete_grant(id);
        Ok(())
    }

    async fn grant_by_id(&self, id: &str) -> StoreResult<Option<Grant>> {
        Ok(self.0.lock().unwrap().grants.get(id).cloned())
    }

    async fn revoke_grant(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        if let Some(g) = self.0.lock().unwrap().grants.get_mut(id) {
            g.revoked_at.get_or_insert(at);
        }
        Ok(())
    }

    async fn insert_refresh(&self, r: &RefreshToken) -> StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .refresh
            .insert(r.token_digest.clone(), r.clone());
        Ok(())
    }

    async fn refresh_by_digest(&self, digest: &str) -> StoreResult<Option<RefreshToken>> {
        Ok(self.0.lock().unwrap().refresh.get(digest).cloned())
    }

    async fn refresh_with_grant(&self, digest: &str) -> StoreResult<Option<(RefreshToken, Grant)>> {
        let d = self.0.lock().unwrap();
        Ok(d.refresh
            .get(digest)
            .and_then(|r| d.grants.get(&r.grant_id).map(|g| (r.clone(), g.clone()))))
    }

    async fn consume_refresh(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> StoreResult<Consumed<RefreshToken>> {
        let mut d = self.0.lock().unwrap();
        Ok(match d.refresh.get_mut(digest) {
            None => Consumed::Missing,
            Some(r) if r.used_at.is_some() => Consumed::Replayed(r.clone()),
            Some(r) => {
                r.used_at = Some(now);
                Consumed::Fresh(r.clone())
            }
        })
    }

    async fn rotate_refresh(
        &self,
        old_digest: &str,
        now: Timestamp,
        new: &RefreshToken,
    ) -> StoreResult<Consumed<RefreshToken>> {
        let r = self.consume_refresh(old_digest, now).await?;
        if matches!(r, Consumed::Fresh(_)) {
            self.insert_refresh(new).await?;
        }
        Ok(r)
    }
}
