//! In-memory signing keys (`KeyStore`).

use super::*;
use crate::clock::Timestamp;
use async_trait::async_trait;

#[async_trait]
impl KeyStore for MemStore {
    async fn insert_signing_key(&self, k: &SigningKey) -> StoreResult<()> {
        self.0.lock().unwrap().keys.push(k.clone());
        Ok(())
    }

    async fn retire_signing_key(&self, kid: &str, at: Timestamp) -> StoreResult<()> {
        for k in self
            .0
            .lock()
            .unwrap()
            .keys
            .iter_mut()
            .filter(|k| k.kid == kid)
        {
            k.retired_at = Some(at);
        }
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()> {
        self.0.lock().unwrap().keys.retain(|k| k.kid != kid);
        Ok(())
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        Ok(self.0.lock().unwrap().keys.clone())
    }
}
