//! Temporary Access Passes (`TapStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::methods::tap::TemporaryAccessPass;
use countersign_core::model::*;
use std::sync::LazyLock;

/// A pass is current (`TemporaryAccessPass::is_current`) at `$now`: not revoked, not a used
/// one-time pass, not expired. The stored row's columns, qualified for the upsert.
const TAP_CURRENT: &str = "temporary_access_passes.revoked_at IS NULL \
     AND NOT (temporary_access_passes.one_time <> 0 AND temporary_access_passes.used_at IS NOT NULL) \
     AND temporary_access_passes.expires_at > $12";

#[async_trait]
impl TapStore for SqlStore {
    async fn insert_tap(
        &self,
        p: &TemporaryAccessPass,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> R<bool> {
        let mut tx = self.db.begin().await?;
        // One conditional upsert: the user's row is replaced only when its pass is no longer
        // current, so of parallel issuers at most one writes.
        let written = tx
            .exec(
                query(&format!(
                    "INSERT INTO temporary_access_passes ({cols}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, \
                     tenant_id = excluded.tenant_id, pass_hash = excluded.pass_hash, \
                     created_at = excluded.created_at, starts_at = excluded.starts_at, \
                     expires_at = excluded.expires_at, one_time = excluded.one_time, \
                     created_by = excluded.created_by, used_at = NULL, revoked_at = NULL \
                     WHERE NOT ({TAP_CURRENT})",
                    cols = rows::TAP_COLS
                ))
                .bind(&p.user_id)
                .bind(&p.id)
                .bind(&p.tenant_id)
                .bind(p.pass_hash.expose())
                .bind(p.created_at)
                .bind(p.starts_at)
                .bind(p.expires_at)
                .bind(p.one_time as i64)
                .bind(&p.created_by)
                .bind(p.used_at)
                .bind(p.revoked_at)
                .bind(now),
            )
            .await
            .map_err(|e| conflict(e, || format!("Temporary Access Pass {}", p.id)))?;
        if written != 1 {
            return Ok(false);
        }
        Self::append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn tap_of_user(&self, user_id: &str) -> R<Option<TemporaryAccessPass>> {
        self.fetch_opt(tap_of_user(user_id), rows::tap).await
    }

    async fn list_taps(&self, tenant_id: &str) -> R<Vec<TemporaryAccessPass>> {
        let sql = once!(
            "SELECT {} FROM temporary_access_passes WHERE tenant_id = $1 \
             ORDER BY created_at DESC, id DESC",
            rows::TAP_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id), rows::tap).await
    }

    async fn use_tap(&self, user_id: &str, id: &str, now: Timestamp) -> R<bool> {
        // The conditional update is the single use of a one-time pass.
        let n = self
            .exec(query(USE_TAP).bind(user_id).bind(id).bind(now))
            .await?;
        Ok(n == 1)
    }

    async fn revoke_tap(&self, user_id: &str, now: Timestamp, audit: &AuditEntry) -> R<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                query(
                    "UPDATE temporary_access_passes SET revoked_at = $2 \
                     WHERE user_id = $1 AND revoked_at IS NULL \
                     AND NOT (one_time <> 0 AND used_at IS NOT NULL) AND expires_at > $2",
                )
                .bind(user_id)
                .bind(now),
            )
            .await?;
        if n != 1 {
            return Ok(false);
        }
        Self::append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
