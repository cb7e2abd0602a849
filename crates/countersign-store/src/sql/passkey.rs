//! Passkeys and WebAuthn user handles (`PasskeyStore`).

use super::*;
use crate::db::{query, Row};
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::methods::passkey::{PasskeyCredential, PasskeyUse, Recorded};
use countersign_core::StoreError;

#[async_trait]
impl PasskeyStore for SqlStore {
    async fn insert_passkey(&self, p: &PasskeyCredential) -> R<()> {
        query(&format!(
            "INSERT INTO passkeys ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            rows::PASSKEY_COLS
        ))
        .bind(&p.credential_id)
        .bind(&p.tenant_id)
        .bind(&p.user_id)
        .bind(&p.name)
        .bind(&p.aaguid)
        .bind(&p.credential)
        .bind(p.sign_count)
        .bind(p.backup_eligible as i64)
        .bind(p.backup_state as i64)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || format!("passkey {}", p.credential_id)))?;
        Ok(())
    }

    async fn passkey(&self, credential_id: &str) -> R<Option<PasskeyCredential>> {
        self.fetch_opt(passkey_of_id(credential_id), rows::passkey)
            .await
    }

    async fn passkeys_of_user(&self, user_id: &str) -> R<Vec<PasskeyCredential>> {
        self.fetch_all(passkeys_of_user(user_id), rows::passkey)
            .await
    }

    async fn record_passkey_use(&self, credential_id: &str, u: &PasskeyUse) -> R<Recorded> {
        // The counter rule of `passkey::counter_moves_on`, inside the write.
        let n = self
            .exec(
                query(
                    "UPDATE passkeys SET sign_count = $2, backup_state = $3, \
                     last_used_at = $4, backup_eligible = $5 WHERE credential_id = $1 \
                     AND ((sign_count = 0 AND $2 = 0) OR $2 > sign_count)",
                )
                .bind(credential_id)
                .bind(u.sign_count)
                .bind(u.backup_state as i64)
                .bind(u.at)
                .bind(u.backup_eligible as i64),
            )
            .await?;
        if n == 1 {
            return Ok(Recorded::Recorded);
        }
        Ok(match self.passkey(credential_id).await? {
            Some(_) => Recorded::CounterRegressed,
            None => Recorded::Unknown,
        })
    }

    async fn rename_passkey(&self, user_id: &str, credential_id: &str, name: &str) -> R<bool> {
        let n = self
            .exec(
                query("UPDATE passkeys SET name = $3 WHERE user_id = $1 AND credential_id = $2")
                    .bind(user_id)
                    .bind(credential_id)
                    .bind(name),
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> R<bool> {
        let n = self
            .exec(
                query("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2")
                    .bind(user_id)
                    .bind(credential_id),
            )
            .await?;
        Ok(n == 1)
    }

    async fn webauthn_handle(&self, user_id: &str, new: &str) -> R<String> {
        query(
            "INSERT INTO webauthn_handles (user_id, handle) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(new)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || "WebAuthn user handle".into()))?;
        let row = query("SELECT handle FROM webauthn_handles WHERE user_id = $1")
            .bind(user_id)
            .fetch_opt(&self.db)
            .await?
            .ok_or_else(|| StoreError::Backend(format!("no WebAuthn handle for {user_id}")))?;
        row.first()
    }

    async fn user_of_webauthn_handle(&self, handle: &str) -> R<Option<String>> {
        self.fetch_opt(owner_of_handle(handle), Row::first::<String>)
            .await
    }
}
