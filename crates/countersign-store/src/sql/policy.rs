//! The authentication methods policy, one versioned row per tenant (`PolicyStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, to_json, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::model::*;
use countersign_core::policy::{MethodsPolicy, StoredPolicy};
use std::sync::LazyLock;

#[async_trait]
impl PolicyStore for SqlStore {
    async fn methods_policy(&self, tenant_id: &str) -> R<Option<StoredPolicy>> {
        self.fetch_opt(policy_of_tenant(tenant_id), rows::policy)
            .await
    }

    async fn user_with_policy(&self, user_id: &str) -> R<Option<(User, Option<StoredPolicy>)>> {
        let sql = once!(
            "SELECT {}, p.document, p.version FROM users u \
             LEFT JOIN methods_policies p ON p.tenant_id = u.tenant_id WHERE u.id = $1",
            qualified("u", rows::USER_COLS)
        );
        self.fetch_opt(query(sql).bind(user_id), rows::user_with_policy)
            .await
    }

    async fn save_methods_policy(
        &self,
        tenant_id: &str,
        policy: &MethodsPolicy,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> R<bool> {
        let mut tx = self.db.begin().await?;
        // The version check and the write are one statement: of two changes made from the same
        // version, the second matches no row (or conflicts on the key) and is refused.
        let written = if expected_version == 0 {
            tx.exec(
                query(
                    "INSERT INTO methods_policies (tenant_id, document, version, updated_at) \
                     VALUES ($1, $2, 1, $3) ON CONFLICT (tenant_id) DO NOTHING",
                )
                .bind(tenant_id)
                .bind(to_json(policy))
                .bind(audit.at),
            )
            .await?
        } else {
            tx.exec(
                query(
                    "UPDATE methods_policies SET document = $2, version = version + 1, \
                     updated_at = $3 WHERE tenant_id = $1 AND version = $4",
                )
                .bind(tenant_id)
                .bind(to_json(policy))
                .bind(audit.at)
                .bind(expected_version),
            )
            .await?
        };
        if written != 1 {
            return Ok(false);
        }
        Self::append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
