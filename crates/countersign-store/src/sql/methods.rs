//! OATH tokens and the single-use decision on a code (`MethodStore`).

use crate::db::query;
use crate::rows::{self, R};
use crate::{Backend, SqlStore};
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::methods::oath::{CodeDecision, OathToken, OathTokenInfo};
use countersign_core::signin::throttle::LockoutPolicy;
use countersign_core::store::*;
use countersign_core::StoreError;
use std::sync::LazyLock;

#[async_trait]
impl MethodStore for SqlStore {
    async fn insert_oath_tokens(&self, tokens: &[OathToken]) -> R<()> {
        let mut tx = self.db.begin().await?;
        for t in tokens {
            self.insert_oath_in(&mut tx, t).await?;
        }
        tx.commit().await.map_err(StoreError::from)
    }

    async fn oath_tokens_of_user(&self, user_id: &str) -> R<Vec<OathToken>> {
        let sql = once!(
            "SELECT {} FROM oath_tokens WHERE user_id = $1 ORDER BY created_at, id",
            rows::OATH_COLS
        );
        let rows = self.fetch_all(query(sql).bind(user_id), rows::oath).await?;
        self.unseal_oath(rows)
    }

    async fn oath_token_list(&self, user_id: &str) -> R<Vec<OathTokenInfo>> {
        let sql = once!(
            "SELECT {} FROM oath_tokens WHERE user_id = $1 ORDER BY created_at, id",
            rows::OATH_INFO_COLS
        );
        self.fetch_all(query(sql).bind(user_id), rows::oath_info)
            .await
    }

    async fn list_oath_tokens(&self, tenant_id: &str) -> R<Vec<OathTokenInfo>> {
        let sql = once!(
            "SELECT {} FROM oath_tokens WHERE tenant_id = $1 ORDER BY created_at, id",
            rows::OATH_INFO_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id), rows::oath_info)
            .await
    }

    async fn delete_oath_token(&self, id: &str) -> R<bool> {
        Ok(self
            .exec(query("DELETE FROM oath_tokens WHERE id = $1").bind(id))
            .await?
            > 0)
    }

    async fn set_oath_active(&self, id: &str, active: bool) -> R<()> {
        self.exec(
            query("UPDATE oath_tokens SET active = $2 WHERE id = $1")
                .bind(id)
                .bind(active as i64),
        )
        .await?;
        Ok(())
    }

    async fn decide_code(
        &self,
        key: &str,
        policy: LockoutPolicy,
        now: Timestamp,
        matched: Option<(&str, i64)>,
        failed: &[(&str, i64)],
    ) -> R<CodeDecision> {
        let mut tx = self.db.begin().await?;
        // The reservation: on PostgreSQL the conditional upsert, which row-locks the key against
        // concurrent deciders. SQLite runs one write transaction at a time, so reading the key in
        // this transaction decides as atomically, and an accepted code then leaves the throttle
        // table unwritten (a page fewer per accepted code) unless it has failures to clear.
        let counted = match self.backend {
            Backend::Postgres => {
                if !Self::reserve_in(&mut tx, key, &policy, now).await? {
                    tx.rollback().await?;
                    return Ok(CodeDecision::Locked);
                }
                true
            }
            Backend::Sqlite => {
                let state = match tx
                    .fetch_all(
                        query("SELECT failures, last_failure_at FROM throttle WHERE key = $1")
                            .bind(key),
                    )
                    .await?
                    .first()
                {
                    Some(row) => Some(rows::throttle(row)?),
                    None => None,
                };
                if state.is_some_and(|st| policy.lock(&st, now).is_locked()) {
                    tx.rollback().await?;
                    return Ok(CodeDecision::Locked);
                }
                state.is_some()
            }
        };
        if let Some((id, step)) = matched {
            let accepted = self
                .consume(
                    query(
                        "UPDATE oath_tokens SET last_step = $2, last_used_at = $3 \
                         WHERE id = $1 AND last_step < $2",
                    )
                    .bind(id)
                    .bind(step)
                    .bind(now),
                    Some(&mut tx),
                )
                .await?;
            if accepted {
                if counted {
                    query("DELETE FROM throttle WHERE key = $1")
                        .bind(key)
                        .execute_in(&mut tx)
                        .await?;
                }
                tx.commit().await?;
                return Ok(CodeDecision::Accepted);
            }
        }
        if self.backend == Backend::Sqlite {
            // the attempt failed: count it, as the reservation would have
            Self::reserve_in(&mut tx, key, &policy, now).await?;
        }
        for (id, step) in failed {
            query(
                "UPDATE oath_tokens SET \
                   fail_count = CASE WHEN fail_step = $2 THEN fail_count + 1 ELSE 1 END, \
                   fail_step = $2 \
                 WHERE id = $1",
            )
            .bind(*id)
            .bind(*step)
            .execute_in(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(CodeDecision::Rejected)
    }
}
