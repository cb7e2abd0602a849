//! Sign-in flows and browser sessions (`FlowStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, to_json, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::model::*;
use countersign_core::secret::token_digest;
use std::sync::LazyLock;

#[async_trait]
impl FlowStore for SqlStore {
    async fn insert_flow(&self, f: &SignInFlow) -> R<()> {
        let request = f
            .request
            .as_ref()
            .map(|r| serde_json::to_string(r).unwrap_or_default());
        query(&format!(
            "INSERT INTO signin_flows ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            rows::FLOW_COLS
        ))
        .bind(token_digest(&f.id))
        .bind(&f.tenant_id)
        .bind(&f.csrf)
        .bind(request)
        .bind(to_json(&f.state))
        .bind(&f.return_to)
        .bind(f.created_at)
        .bind(f.expires_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn update_flow(&self, f: &SignInFlow) -> R<()> {
        self.exec(flow_update(f)).await?;
        Ok(())
    }

    async fn flow_by_id(&self, id: &str) -> R<Option<SignInFlow>> {
        flow_found(&flow_of_id(id).fetch_all(&self.db).await?, id)
    }

    async fn delete_flow(&self, id: &str, csrf: &str) -> R<bool> {
        let n = self
            .exec(
                query("DELETE FROM signin_flows WHERE id = $1 AND csrf = $2")
                    .bind(token_digest(id))
                    .bind(csrf),
            )
            .await?;
        Ok(n == 1)
    }

    async fn insert_session(&self, s: &Session, ending_flow: Option<&str>) -> R<()> {
        let mut tx = self.db.begin().await?;
        query(&format!(
            "INSERT INTO sessions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            rows::SESSION_COLS
        ))
        .bind(&s.id_digest)
        .bind(&s.tenant_id)
        .bind(&s.user_id)
        .bind(&s.csrf)
        .bind(s.auth_time)
        .bind(to_json(&s.amr))
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .execute_in(&mut tx)
        .await?;
        if let Some(id) = ending_flow {
            query("DELETE FROM signin_flows WHERE id = $1")
                .bind(token_digest(id))
                .execute_in(&mut tx)
                .await?;
        }
        Ok(tx.commit().await?)
    }

    async fn session_by_digest(&self, digest: &str) -> R<Option<Session>> {
        let sql = once!(
            "SELECT {} FROM sessions WHERE id_digest = $1",
            rows::SESSION_COLS
        );
        self.fetch_opt(query(sql).bind(digest), rows::session).await
    }

    async fn touch_session(&self, digest: &str, at: Timestamp) -> R<()> {
        self.exec(
            query("UPDATE sessions SET last_seen_at = $2 WHERE id_digest = $1")
                .bind(digest)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, digest: &str) -> R<()> {
        self.exec(query("DELETE FROM sessions WHERE id_digest = $1").bind(digest))
            .await?;
        Ok(())
    }

    async fn revoke_user_access(
        &self,
        user_id: &str,
        at: Timestamp,
        keep_session: Option<&str>,
    ) -> R<u64> {
        let mut tx = self.db.begin().await?;
        let ended = query("DELETE FROM sessions WHERE user_id = $1 AND id_digest <> $2")
            .bind(user_id)
            .bind(keep_session.unwrap_or(""))
            .execute_in(&mut tx)
            .await?;
        query("UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(at)
            .execute_in(&mut tx)
            .await?;
        query("DELETE FROM auth_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .execute_in(&mut tx)
            .await?;
        query("UPDATE users SET tokens_valid_after = $2 WHERE id = $1")
            .bind(user_id)
            .bind(at)
            .execute_in(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(ended)
    }
}
