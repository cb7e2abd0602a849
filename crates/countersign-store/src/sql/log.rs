//! The sign-in log (`LogStore`).

use crate::db::query;
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::model::*;
use countersign_core::store::*;
use countersign_core::StoreError;
use std::sync::LazyLock;

#[async_trait]
impl LogStore for SqlStore {
    async fn append_signin(&self, e: &SignInLogEntry) -> R<()> {
        if self.log.append(e.clone()).await {
            Ok(())
        } else {
            Err(StoreError::Backend(
                "the sign-in log writer has stopped".into(),
            ))
        }
    }

    async fn list_signins(&self, tenant_id: &str, limit: u32) -> R<Vec<SignInLogEntry>> {
        self.log.flush().await;
        let sql = once!(
            "SELECT {} FROM signin_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2",
            rows::SIGNIN_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id).bind(limit as i64), rows::signin)
            .await
    }

    async fn list_audit(&self, tenant_id: &str, limit: u32) -> R<Vec<AuditEntry>> {
        let sql = once!(
            "SELECT {} FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2",
            rows::AUDIT_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id).bind(limit as i64), rows::audit)
            .await
    }
}
