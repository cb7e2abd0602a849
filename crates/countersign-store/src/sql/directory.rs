//! Tenants, users, groups, roles, applications and the audit log (`DirectoryStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, to_json, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::model::*;
use countersign_core::StoreError;
use std::sync::LazyLock;

#[async_trait]
impl DirectoryStore for SqlStore {
    async fn insert_tenant(&self, t: &Tenant) -> R<()> {
        let mut tx = self.db.begin().await?;
        query("INSERT INTO tenants (id, name, display_name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.display_name)
            .bind(t.created_at)
            .execute_in(&mut tx)
            .await
            .map_err(|e| conflict(e, || format!("tenant {}", t.name)))?;
        Self::write_domains(&mut tx, t).await?;
        tx.commit().await.map_err(StoreError::from)
    }

    async fn update_tenant(&self, t: &Tenant) -> R<()> {
        let mut tx = self.db.begin().await?;
        query("UPDATE tenants SET display_name = $2 WHERE id = $1")
            .bind(&t.id)
            .bind(&t.display_name)
            .execute_in(&mut tx)
            .await?;
        Self::write_domains(&mut tx, t).await?;
        tx.commit().await.map_err(StoreError::from)
    }

    async fn delete_tenant(&self, id: &str) -> R<bool> {
        Ok(self
            .exec(query("DELETE FROM tenants WHERE id = $1").bind(id))
            .await?
            > 0)
    }

    async fn tenant_by_name(&self, name: &str) -> R<Option<Tenant>> {
        let row = query("SELECT id, name, display_name, created_at FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_opt(&self.db)
            .await?;
        self.tenant_from(row).await
    }

    async fn tenant_by_id(&self, id: &str) -> R<Option<Tenant>> {
        let row = query("SELECT id, name, display_name, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_opt(&self.db)
            .await?;
        self.tenant_from(row).await
    }

    async fn list_tenants(&self) -> R<Vec<Tenant>> {
        let rows = query("SELECT id, name, display_name, created_at FROM tenants ORDER BY name")
            .fetch_all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(t) = self.tenant_from(Some(r)).await? {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn insert_user(&self, u: &User) -> R<()> {
        query(&format!(
            "INSERT INTO users ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            rows::USER_COLS
        ))
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(&u.upn)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(u.enabled as i64)
        .bind(u.password_hash.as_ref().map(|h| h.expose().to_string()))
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(u.tokens_valid_after)
        .bind(u.push_blocked_at)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || format!("user {}", u.upn)))?;
        Ok(())
    }

    async fn update_user(&self, u: &User) -> R<()> {
        query(
            "UPDATE users SET upn = $2, display_name = $3, email = $4, enabled = $5, \
             password_hash = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.upn)
        .bind(&u.display_name)
        .bind(&u.email)
        .bind(u.enabled as i64)
        .bind(u.password_hash.as_ref().map(|h| h.expose().to_string()))
        .bind(u.updated_at)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || format!("user {}", u.upn)))?;
        Ok(())
    }

    async fn delete_user(&self, id: &str) -> R<bool> {
        Ok(self
            .exec(query("DELETE FROM users WHERE id = $1").bind(id))
            .await?
            > 0)
    }

    async fn user_by_id(&self, id: &str) -> R<Option<User>> {
        let sql = once!("SELECT {} FROM users WHERE id = $1", rows::USER_COLS);
        self.fetch_opt(query(sql).bind(id), rows::user).await
    }

    async fn user_by_upn(&self, tenant_id: &str, upn: &str) -> R<Option<User>> {
        let sql = once!(
            "SELECT {} FROM users WHERE tenant_id = $1 AND upn = $2",
            rows::USER_COLS
        );
        self.fetch_opt(query(sql).bind(tenant_id).bind(upn), rows::user)
            .await
    }

    async fn list_users(&self, tenant_id: &str) -> R<Vec<User>> {
        let sql = once!(
            "SELECT {} FROM users WHERE tenant_id = $1 ORDER BY upn",
            rows::USER_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id), rows::user).await
    }

    async fn insert_group(&self, g: &Group) -> R<()> {
        query(&format!(
            "INSERT INTO user_groups ({}) VALUES ($1, $2, $3, $4, $5)",
            rows::GROUP_COLS
        ))
        .bind(&g.id)
        .bind(&g.tenant_id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(g.created_at)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || format!("group {}", g.name)))?;
        Ok(())
    }

    async fn update_group(&self, g: &Group) -> R<()> {
        query("UPDATE user_groups SET name = $2, description = $3 WHERE id = $1")
            .bind(&g.id)
            .bind(&g.name)
            .bind(&g.description)
            .execute(&self.db)
            .await
            .map_err(|e| conflict(e, || format!("group {}", g.name)))?;
        Ok(())
    }

    async fn delete_group(&self, id: &str) -> R<bool> {
        Ok(self
            .exec(query("DELETE FROM user_groups WHERE id = $1").bind(id))
            .await?
            > 0)
    }

    async fn group_by_name(&self, tenant_id: &str, name: &str) -> R<Option<Group>> {
        let sql = once!(
            "SELECT {} FROM user_groups WHERE tenant_id = $1 AND name = $2",
            rows::GROUP_COLS
        );
        self.fetch_opt(query(sql).bind(tenant_id).bind(name), rows::group)
            .await
    }

    async fn list_groups(&self, tenant_id: &str) -> R<Vec<Group>> {
        let sql = once!(
            "SELECT {} FROM user_groups WHERE tenant_id = $1 ORDER BY name",
            rows::GROUP_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id), rows::group)
            .await
    }

    async fn add_member(&self, group_id: &str, user_id: &str) -> R<bool> {
        Ok(self
            .exec(
                query(
                    "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(group_id)
                .bind(user_id),
            )
            .await?
            == 1)
    }

    async fn remove_member(&self, group_id: &str, user_id: &str) -> R<bool> {
        Ok(self
            .exec(
                query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(group_id)
                    .bind(user_id),
            )
            .await?
            == 1)
    }

    async fn group_members(&self, group_id: &str) -> R<Vec<User>> {
        let sql = once!(
            "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id \
             WHERE m.group_id = $1 ORDER BY u.upn",
            qualified("u", rows::USER_COLS)
        );
        self.fetch_all(query(sql).bind(group_id), rows::user).await
    }

    async fn groups_of_user(&self, user_id: &str) -> R<Vec<Group>> {
        let sql = once!(
            "SELECT {} FROM user_groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name",
            qualified("g", rows::GROUP_COLS)
        );
        self.fetch_all(query(sql).bind(user_id), rows::group).await
    }

    async fn assign_role(&self, user_id: &str, role: AdminRole) -> R<bool> {
        Ok(self
            .exec(
                query(
                    "INSERT INTO role_assignments (user_id, role) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(role.as_str()),
            )
            .await?
            == 1)
    }

    async fn unassign_role(&self, user_id: &str, role: AdminRole) -> R<bool> {
        Ok(self
            .exec(
                query("DELETE FROM role_assignments WHERE user_id = $1 AND role = $2")
                    .bind(user_id)
                    .bind(role.as_str()),
            )
            .await?
            == 1)
    }

    async fn roles_of_user(&self, user_id: &str) -> R<Vec<AdminRole>> {
        query("SELECT role FROM role_assignments WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(|r| rows::role(&r.first::<String>()?))
            .collect()
    }

    async fn insert_client(&self, c: &OidcClient) -> R<()> {
        query(&format!(
            "INSERT INTO oidc_clients ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            rows::CLIENT_COLS
        ))
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.name)
        .bind(to_json(&c.redirect_uris))
        .bind(to_json(&c.post_logout_redirect_uris))
        .bind(c.secret_digest.as_ref().map(|s| s.expose().to_string()))
        .bind(c.id_token_alg.as_str())
        .bind(c.created_at)
        .bind(c.require_mfa as i64)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || format!("application {}", c.id)))?;
        Ok(())
    }

    async fn update_client(&self, c: &OidcClient) -> R<()> {
        query(
            "UPDATE oidc_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, \
             secret_digest = $5, id_token_alg = $6, require_mfa = $7 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(to_json(&c.redirect_uris))
        .bind(to_json(&c.post_logout_redirect_uris))
        .bind(c.secret_digest.as_ref().map(|s| s.expose().to_string()))
        .bind(c.id_token_alg.as_str())
        .bind(c.require_mfa as i64)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn delete_client(&self, id: &str) -> R<bool> {
        Ok(self
            .exec(query("DELETE FROM oidc_clients WHERE id = $1").bind(id))
            .await?
            > 0)
    }

    async fn client_by_id(&self, id: &str) -> R<Option<OidcClient>> {
        let sql = once!(
            "SELECT {} FROM oidc_clients WHERE id = $1",
            rows::CLIENT_COLS
        );
        self.fetch_opt(query(sql).bind(id), rows::client).await
    }

    async fn list_clients(&self, tenant_id: &str) -> R<Vec<OidcClient>> {
        let sql = once!(
            "SELECT {} FROM oidc_clients WHERE tenant_id = $1 ORDER BY name, id",
            rows::CLIENT_COLS
        );
        self.fetch_all(query(sql).bind(tenant_id), rows::client)
            .await
    }
}
