//! Token signing keys, their private halves sealed (`KeyStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::model::*;
use countersign_core::secret::Secret;

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_signing_key(&self, k: &SigningKey) -> R<()> {
        query(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.kid)
        .bind(k.alg.as_str())
        .bind(self.seal("signing_keys", &k.kid, k.private_pkcs8.expose()))
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || format!("signing key {}", k.kid)))?;
        Ok(())
    }

    async fn retire_signing_key(&self, kid: &str, at: Timestamp) -> R<()> {
        self.exec(
            query("UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL")
                .bind(kid)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> R<()> {
        self.exec(query("DELETE FROM signing_keys WHERE kid = $1").bind(kid))
            .await?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> R<Vec<SigningKey>> {
        let mut keys = self
            .fetch_all(
                query(
                    "SELECT kid, alg, private_pkcs8, created_at, retired_at FROM signing_keys \
                     ORDER BY created_at, kid",
                ),
                rows::signing_key,
            )
            .await?;
        for k in &mut keys {
            k.private_pkcs8 =
                Secret::new(self.unseal("signing_keys", &k.kid, k.private_pkcs8.expose())?);
        }
        Ok(keys)
    }
}
