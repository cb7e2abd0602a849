//! Grants, authorization codes and refresh tokens (`GrantStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, to_json, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::model::*;
use std::sync::LazyLock;

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_code(&self, c: &AuthCode) -> R<()> {
        query(&format!(
            "INSERT INTO auth_codes ({}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            rows::CODE_COLS
        ))
        .bind(&c.code_digest)
        .bind(&c.tenant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(c.auth_time)
        .bind(to_json(&c.amr))
        .bind(&c.session_digest)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.used_at)
        .bind(&c.grant_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn code_by_digest(&self, digest: &str) -> R<Option<AuthCode>> {
        let sql = once!(
            "SELECT {} FROM auth_codes WHERE code_digest = $1",
            rows::CODE_COLS
        );
        self.fetch_opt(query(sql).bind(digest), rows::code).await
    }

    async fn consume_code(
        &self,
        digest: &str,
        now: Timestamp,
        grant_id: &str,
    ) -> R<Consumed<AuthCode>> {
        let first = self
            .consume(
                query(
                    "UPDATE auth_codes SET used_at = $2, grant_id = $3 \
                     WHERE code_digest = $1 AND used_at IS NULL",
                )
                .bind(digest)
                .bind(now)
                .bind(grant_id),
                None,
            )
            .await?;
        Ok(match (first, self.code_by_digest(digest).await?) {
            (_, None) => Consumed::Missing,
            (true, Some(c)) => Consumed::Fresh(c),
            (false, Some(c)) => Consumed::Replayed(c),
        })
    }

    async fn insert_grant(&self, g: &Grant) -> R<()> {
        query(&format!(
            "INSERT INTO grants ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            rows::GRANT_COLS
        ))
        .bind(&g.id)
        .bind(&g.tenant_id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.scope)
        .bind(&g.nonce)
        .bind(g.auth_time)
        .bind(to_json(&g.amr))
        .bind(g.created_at)
        .bind(g.expires_at)
        .bind(g.revoked_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn delete_grant(&self, id: &str) -> R<()> {
        self.exec(query("DELETE FROM grants WHERE id = $1").bind(id))
            .await?;
        Ok(())
    }

    async fn grant_by_id(&self, id: &str) -> R<Option<Grant>> {
        let sql = once!("SELECT {} FROM grants WHERE id = $1", rows::GRANT_COLS);
        self.fetch_opt(query(sql).bind(id), rows::grant).await
    }

    async fn revoke_grant(&self, id: &str, at: Timestamp) -> R<()> {
        self.exec(
            query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn insert_refresh(&self, r: &RefreshToken) -> R<()> {
        query(&format!(
            "INSERT INTO refresh_tokens ({}) VALUES ($1, $2, $3, $4, $5)",
            rows::REFRESH_COLS
        ))
        .bind(&r.token_digest)
        .bind(&r.grant_id)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.used_at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn refresh_by_digest(&self, digest: &str) -> R<Option<RefreshToken>> {
        let sql = once!(
            "SELECT {} FROM refresh_tokens WHERE token_digest = $1",
            rows::REFRESH_COLS
        );
        self.fetch_opt(query(sql).bind(digest), rows::refresh).await
    }

    async fn refresh_with_grant(&self, digest: &str) -> R<Option<(RefreshToken, Grant)>> {
        let sql = once!(
            "SELECT r.token_digest, r.grant_id, r.created_at AS r_created_at, \
             r.expires_at AS r_expires_at, r.used_at, {} \
             FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_digest = $1",
            qualified("g", rows::GRANT_COLS)
        );
        self.fetch_opt(query(sql).bind(digest), rows::refresh_and_grant)
            .await
    }

    async fn consume_refresh(&self, digest: &str, now: Timestamp) -> R<Consumed<RefreshToken>> {
        let first = self
            .consume(
                query(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_digest = $1 AND used_at IS NULL",
                )
                .bind(digest)
                .bind(now),
                None,
            )
            .await?;
        Ok(match (first, self.refresh_by_digest(digest).await?) {
            (_, None) => Consumed::Missing,
            (true, Some(r)) => Consumed::Fresh(r),
            (false, Some(r)) => Consumed::Replayed(r),
        })
    }

    async fn rotate_refresh(
        &self,
        old_digest: &str,
        now: Timestamp,
        new: &RefreshToken,
    ) -> R<Consumed<RefreshToken>> {
        let mut tx = self.db.begin().await?;
        let first = self
            .consume(
                query(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_digest = $1 AND used_at IS NULL",
                )
                .bind(old_digest)
                .bind(now),
                Some(&mut tx),
            )
            .await?;
        if !first {
            tx.rollback().await?;
            return Ok(match self.refresh_by_digest(old_digest).await? {
                Some(r) => Consumed::Replayed(r),
                None => Consumed::Missing,
            });
        }
        query(&format!(
            "INSERT INTO refresh_tokens ({}) VALUES ($1, $2, $3, $4, $5)",
            rows::REFRESH_COLS
        ))
        .bind(&new.token_digest)
        .bind(&new.grant_id)
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(new.used_at)
        .execute_in(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(Consumed::Fresh(RefreshToken {
            token_digest: old_digest.to_string(),
            grant_id: new.grant_id.clone(),
            created_at: now,
            expires_at: now,
            used_at: Some(now),
        }))
    }
}
