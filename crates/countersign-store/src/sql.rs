//! The `Store` implementation in SQL common to SQLite and PostgreSQL (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`). Single-use credentials are consumed with a conditional UPDATE, so
//! exactly one of any number of parallel callers sees `Fresh`.

use crate::db::{query, DbError, Query, Row, Tx};
use crate::rows::{self, to_json, R};
use crate::{Backend, SqlStore};
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::model::*;
use countersign_core::oath::{CodeDecision, OathToken};
use countersign_core::passkey::{PasskeyCredential, PasskeyUse, Recorded};
use countersign_core::phone;
use countersign_core::policy::{MethodsPolicy, StoredPolicy};
use countersign_core::push::{self, Activation, Device, PushRequest, PushState};
use countersign_core::secret::{token_digest, Secret};
use countersign_core::store::*;
use countersign_core::tap::{self, TemporaryAccessPass};
use countersign_core::throttle::{self, LockoutPolicy, Release};
use countersign_core::StoreError;
use std::sync::LazyLock;

/// Maps a unique-constraint violation to `Conflict(what)`, anything else to `Backend`.
fn conflict(e: DbError, what: impl FnOnce() -> String) -> StoreError {
    match e {
        DbError::Unique(_) => StoreError::Conflict(what()),
        e => e.into(),
    }
}

/// A statement built by `format!` on first use and kept: its column lists are constants, so
/// every call would build the same text (and some run several times per sign-in).
macro_rules! once {
    ($($format:tt)*) => {{
        static SQL: LazyLock<String> = LazyLock::new(|| format!($($format)*));
        SQL.as_str()
    }};
}

/// `cols` (a `rows::*_COLS` list) each prefixed with a table alias, for joins.
fn qualified(alias: &str, cols: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

// The reads `first_factor_records` and `passkey_answer_records` take together; each is also a
// method of its own.

fn devices_of_user(user_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM devices WHERE user_id = $1 ORDER BY created_at, id",
        rows::DEVICE_COLS
    );
    query(sql).bind(user_id)
}

fn policy_of_tenant(tenant_id: &str) -> Query {
    query("SELECT document, version FROM methods_policies WHERE tenant_id = $1").bind(tenant_id)
}

fn tap_of_user(user_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM temporary_access_passes WHERE user_id = $1",
        rows::TAP_COLS
    );
    query(sql).bind(user_id)
}

fn passkeys_of_user(user_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id",
        rows::PASSKEY_COLS
    );
    query(sql).bind(user_id)
}

fn flow_of_id(id: &str) -> Query {
    let sql = once!("SELECT {} FROM signin_flows WHERE id = $1", rows::FLOW_COLS);
    query(sql).bind(token_digest(id))
}

/// The flow read by `flow_of_id(id)`: only the digest is stored, the flow's id is the cookie
/// value it was found by.
fn flow_found(rows: &[Row], id: &str) -> R<Option<SignInFlow>> {
    Ok(first(rows, rows::flow)?.map(|f| SignInFlow {
        id: id.to_string(),
        ..f
    }))
}

fn passkey_of_id(credential_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM passkeys WHERE credential_id = $1",
        rows::PASSKEY_COLS
    );
    query(sql).bind(credential_id)
}

fn owner_of_handle(handle: &str) -> Query {
    query("SELECT user_id FROM webauthn_handles WHERE handle = $1").bind(handle)
}

/// The first row of a read, mapped.
fn first<T>(rows: &[Row], map: fn(&Row) -> R<T>) -> R<Option<T>> {
    rows.first().map(map).transpose()
}

/// Every row of a read, mapped.
fn all<T>(rows: &[Row], map: fn(&Row) -> R<T>) -> R<Vec<T>> {
    rows.iter().map(map).collect()
}

impl SqlStore {
    async fn fetch_opt<T>(&self, q: Query, map: fn(&Row) -> R<T>) -> R<Option<T>> {
        first(&q.fetch_all(&self.db).await?, map)
    }

    async fn fetch_all<T>(&self, q: Query, map: fn(&Row) -> R<T>) -> R<Vec<T>> {
        all(&q.fetch_all(&self.db).await?, map)
    }

    async fn exec(&self, q: Query) -> R<u64> {
        Ok(q.execute(&self.db).await?)
    }

    async fn domains_of(&self, tenant_id: &str) -> R<Vec<String>> {
        query("SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY position")
            .bind(tenant_id)
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(Row::first)
            .collect()
    }

    async fn tenant_from(&self, row: Option<Row>) -> R<Option<Tenant>> {
        let Some(row) = row else { return Ok(None) };
        let id: String = row.get("id")?;
        Ok(Some(Tenant {
            domains: self.domains_of(&id).await?,
            name: row.get("name")?,
            display_name: row.get("display_name")?,
            created_at: row.get("created_at")?,
            id,
        }))
    }

    async fn write_domains(tx: &mut Tx<'_>, t: &Tenant) -> R<()> {
        query("DELETE FROM tenant_domains WHERE tenant_id = $1")
            .bind(&t.id)
            .execute_in(tx)
            .await?;
        for (i, d) in t.domains.iter().enumerate() {
            query("INSERT INTO tenant_domains (domain, tenant_id, position) VALUES ($1, $2, $3)")
                .bind(d)
                .bind(&t.id)
                .bind(i as i64)
                .execute_in(tx)
                .await
                .map_err(|e| conflict(e, || format!("domain {d}")))?;
        }
        Ok(())
    }

    /// `RESERVE_ATTEMPT` for one key inside `tx`; whether it was granted.
    async fn insert_device_in(tx: &mut Tx<'_>, d: &Device) -> R<()> {
        query(&format!(
            "INSERT INTO devices ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            rows::DEVICE_COLS
        ))
        .bind(&d.id)
        .bind(&d.tenant_id)
        .bind(&d.user_id)
        .bind(&d.name)
        .bind(&d.public_key)
        .bind(&d.app_version)
        .bind(&d.platform)
        .bind(d.created_at)
        .bind(d.last_seen_at)
        .bind(&d.oath_token_id)
        .bind(&d.phone_key)
        .bind(d.phone_enabled_at)
        .execute_in(tx)
        .await
        .map_err(|e| conflict(e, || format!("device {}", d.id)))?;
        Ok(())
    }

    /// Takes the user's row lock so that what this transaction decides from the user's rows —
    /// the phone sign-in limit, the push fatigue limit — sees every other such decision. On
    /// PostgreSQL a `FOR UPDATE` read; SQLite needs nothing: its write transaction (`BEGIN
    /// IMMEDIATE`) already excludes every other writer.
    async fn lock_user_in(&self, tx: &mut Tx<'_>, user_id: &str) -> R<()> {
        if self.backend == Backend::Postgres {
            query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .fetch_in(tx)
                .await?;
        }
        Ok(())
    }

    /// The number a `SELECT COUNT(*) …` gives, inside the transaction.
    async fn count_in(tx: &mut Tx<'_>, q: Query) -> R<u64> {
        let row = q
            .fetch_in(tx)
            .await?
            .ok_or_else(|| StoreError::Backend("COUNT returned no row".into()))?;
        Ok(row.first::<i64>()? as u64)
    }

    /// How many of the user's devices have phone sign-in on, other than `except`.
    async fn phone_devices_in(tx: &mut Tx<'_>, user_id: &str, except: &str) -> R<u64> {
        Self::count_in(
            tx,
            query(
                "SELECT COUNT(*) FROM devices \
                 WHERE user_id = $1 AND phone_key IS NOT NULL AND id <> $2",
            )
            .bind(user_id)
            .bind(except),
        )
        .await
    }

    /// Appends to the audit log inside the transaction of the change it records.
    async fn append_audit_in(tx: &mut Tx<'_>, audit: &AuditEntry) -> R<()> {
        tx.exec(
            query(&format!(
                "INSERT INTO audit_log ({}, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log WHERE tenant_id = $2))",
                rows::AUDIT_COLS
            ))
            .bind(&audit.id)
            .bind(&audit.tenant_id)
            .bind(audit.at)
            .bind(&audit.actor)
            .bind(&audit.action)
            .bind(&audit.target)
            .bind(&audit.before)
            .bind(&audit.after),
        )
        .await?;
        Ok(())
    }

    /// Gives back attempts (see `ThrottleStore::release_attempt`) inside the transaction.
    async fn release_in(tx: &mut Tx<'_>, keys: &[(&str, Release)]) -> R<()> {
        for (key, r) in keys {
            let sql = match r {
                Release::Clear => "DELETE FROM throttle WHERE key = $1",
                Release::One => {
                    "UPDATE throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0"
                }
            };
            query(sql).bind(*key).execute_in(tx).await?;
        }
        Ok(())
    }

    async fn reserve_in(tx: &mut Tx<'_>, key: &str, p: &LockoutPolicy, now: Timestamp) -> R<bool> {
        Ok(query(RESERVE_ATTEMPT)
            .bind(key)
            .bind(now)
            .bind(p.decay_after.unwrap_or(-1))
            .bind(p.threshold as i64)
            .bind(p.base_delay)
            .bind(p.max_delay)
            .bind(p.hard_limit.map_or(-1, i64::from))
            .fetch_in(tx)
            .await?
            .is_some())
    }

    /// OATH tokens as stored, with their seeds opened.
    fn unseal_oath(&self, mut tokens: Vec<OathToken>) -> R<Vec<OathToken>> {
        for t in &mut tokens {
            t.secret = Secret::new(self.unseal("oath_tokens", &t.id, t.secret.expose())?);
        }
        Ok(tokens)
    }

    /// Inserts one OATH token inside `tx`, its secret sealed.
    async fn insert_oath_in(&self, tx: &mut Tx<'_>, t: &OathToken) -> R<()> {
        let sql = once!(
            "INSERT INTO oath_tokens ({}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            rows::OATH_COLS
        );
        query(sql)
            .bind(&t.id)
            .bind(&t.tenant_id)
            .bind(&t.user_id)
            .bind(t.kind.as_str())
            .bind(&t.name)
            .bind(&t.serial)
            .bind(&t.manufacturer)
            .bind(&t.model)
            .bind(self.seal("oath_tokens", &t.id, t.secret.expose()))
            .bind(t.algorithm.as_str())
            .bind(t.digits as i64)
            .bind(t.period as i64)
            .bind(t.active as i64)
            .bind(t.created_at)
            .bind(t.last_used_at)
            .bind(t.last_step)
            .bind(t.failures.step)
            .bind(t.failures.count)
            .execute_in(tx)
            .await
            .map_err(|e| {
                conflict(e, || {
                    format!("hardware token {}", t.serial.as_deref().unwrap_or(&t.id))
                })
            })?;
        Ok(())
    }

    async fn consume(&self, update: Query, tx: Option<&mut Tx<'_>>) -> R<bool> {
        let n = match tx {
            Some(tx) => update.execute_in(tx).await,
            None => update.execute(&self.db).await,
        }?;
        Ok(n == 1)
    }
}

/// Counts one attempt against a throttling key only if `LockoutPolicy::lock` leaves the key open:
/// the same decision, in the same order (hard limit, decay, threshold, doubling delay capped at
/// the maximum), made inside the write so that parallel attempts are decided one after another.
/// No row comes back when the key is locked. Parameters: key, now, decay_after (-1: none),
/// threshold, base_delay, max_delay, hard_limit (-1: none). The conformance suite checks this
/// against `LockoutPolicy::lock` on a grid of states.
const RESERVE_ATTEMPT: &str = "\
    INSERT INTO throttle (key, failures, last_failure_at) VALUES ($1, 1, $2) \
    ON CONFLICT (key) DO UPDATE SET \
      failures = CASE WHEN $3 >= 0 AND $2 - throttle.last_failure_at > $3 \
                      THEN 1 ELSE throttle.failures + 1 END, \
      last_failure_at = $2 \
    WHERE ($7 < 0 OR throttle.failures < $7) \
      AND (($3 >= 0 AND $2 - throttle.last_failure_at > $3) \
           OR throttle.failures < $4 \
           OR $2 >= throttle.last_failure_at + CASE \
                WHEN ($5 << CAST(CASE WHEN throttle.failures - $4 > 30 THEN 30 \
                                      ELSE throttle.failures - $4 END AS INTEGER)) > $6 \
                THEN $6 \
                ELSE ($5 << CAST(CASE WHEN throttle.failures - $4 > 30 THEN 30 \
                                      ELSE throttle.failures - $4 END AS INTEGER)) \
              END) \
    RETURNING failures";

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

    async fn list_oath_tokens(&self, tenant_id: &str) -> R<Vec<OathToken>> {
        let sql = once!(
            "SELECT {} FROM oath_tokens WHERE tenant_id = $1 ORDER BY created_at, id",
            rows::OATH_COLS
        );
        let rows = self
            .fetch_all(query(sql).bind(tenant_id), rows::oath)
            .await?;
        self.unseal_oath(rows)
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

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn throttle_states(&self, keys: &[&str]) -> R<Vec<ThrottleState>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT key, failures, last_failure_at FROM throttle WHERE key IN ({})",
            placeholders.join(", ")
        );
        let mut q = query(&sql);
        for k in keys {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(&self.db).await?;
        let mut found = std::collections::HashMap::new();
        for row in &rows {
            let key: String = row.get("key")?;
            found.insert(key, rows::throttle(row)?);
        }
        Ok(keys
            .iter()
            .map(|k| found.get(*k).copied().unwrap_or_default())
            .collect())
    }

    async fn reserve_attempt(&self, keys: &[(&str, LockoutPolicy)], now: Timestamp) -> R<bool> {
        let mut tx = self.db.begin().await?;
        for (key, p) in keys {
            if !Self::reserve_in(&mut tx, key, p, now).await? {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn release_attempt(&self, keys: &[(&str, Release)]) -> R<()> {
        let mut tx = self.db.begin().await?;
        Self::release_in(&mut tx, keys).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> R<()> {
        self.exec(query("DELETE FROM throttle WHERE key = $1").bind(key))
            .await?;
        Ok(())
    }
}

/// The write that saves a flow's changes (`FlowStore::update_flow`, or inside another write).
fn flow_update(f: &SignInFlow) -> Query {
    let request = f
        .request
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    query(
        "UPDATE signin_flows SET csrf = $2, request = $3, state = $4, expires_at = $5, \
         return_to = $6 WHERE id = $1",
    )
    .bind(token_digest(&f.id))
    .bind(&f.csrf)
    .bind(request)
    .bind(to_json(&f.state))
    .bind(f.expires_at)
    .bind(&f.return_to)
}

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

#[async_trait]
impl PushStore for SqlStore {
    async fn insert_activation(&self, a: &Activation) -> R<()> {
        query(
            "INSERT INTO device_activations \
             (code_digest, tenant_id, user_id, created_at, expires_at, with_codes) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.code_digest)
        .bind(&a.tenant_id)
        .bind(&a.user_id)
        .bind(a.created_at)
        .bind(a.expires_at)
        .bind(a.with_codes as i64)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || "activation code".into()))?;
        Ok(())
    }

    async fn register_device(
        &self,
        code_digest: &str,
        now: Timestamp,
        device: &Device,
        codes: &OathToken,
    ) -> R<Option<Device>> {
        let mut tx = self.db.begin().await?;
        // The conditional update is the single use: of parallel registrations with one code,
        // one finds the row unused.
        let Some(row) = query(
            "UPDATE device_activations SET used_at = $2 \
             WHERE code_digest = $1 AND tenant_id = $3 AND used_at IS NULL AND expires_at > $2 \
             RETURNING tenant_id, user_id, with_codes",
        )
        .bind(code_digest)
        .bind(now)
        .bind(&device.tenant_id)
        .fetch_in(&mut tx)
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (tenant_id, user_id): (String, String) = (row.get("tenant_id")?, row.get("user_id")?);
        let mut oath_token_id = None;
        if row.get::<i64>("with_codes")? != 0 {
            let t = OathToken {
                tenant_id: tenant_id.clone(),
                user_id: user_id.clone(),
                ..codes.clone()
            };
            self.insert_oath_in(&mut tx, &t).await?;
            oath_token_id = Some(t.id);
        }
        let registered = Device {
            tenant_id,
            user_id,
            oath_token_id,
            ..device.clone()
        };
        Self::insert_device_in(&mut tx, &registered).await?;
        tx.commit().await?;
        Ok(Some(registered))
    }

    async fn device_by_id(&self, id: &str) -> R<Option<Device>> {
        let sql = once!("SELECT {} FROM devices WHERE id = $1", rows::DEVICE_COLS);
        self.fetch_opt(query(sql).bind(id), rows::device).await
    }

    async fn devices_of_user(&self, user_id: &str) -> R<Vec<Device>> {
        self.fetch_all(devices_of_user(user_id), rows::device).await
    }

    async fn delete_device(&self, id: &str) -> R<bool> {
        let mut tx = self.db.begin().await?;
        query(
            "DELETE FROM oath_tokens WHERE id = (SELECT oath_token_id FROM devices WHERE id = $1)",
        )
        .bind(id)
        .execute_in(&mut tx)
        .await?;
        let n = query("DELETE FROM devices WHERE id = $1")
            .bind(id)
            .execute_in(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn insert_push_request(
        &self,
        r: &PushRequest,
        fatigue: push::Fatigue,
        reserve: &[(&str, LockoutPolicy)],
        flow: Option<&SignInFlow>,
    ) -> R<push::Inserted> {
        let mut tx = self.db.begin().await?;
        // The fatigue count and the insert in one transaction, the user's row locked: parallel
        // sign-ins can't pass the limit together. An early return rolls back.
        self.lock_user_in(&mut tx, &r.user_id).await?;
        let recent = Self::count_in(
            &mut tx,
            query("SELECT COUNT(*) FROM push_requests WHERE user_id = $1 AND created_at >= $2")
                .bind(&r.user_id)
                .bind(fatigue.since),
        )
        .await?;
        if recent >= fatigue.limit {
            return Ok(push::Inserted::Fatigued);
        }
        for (key, p) in reserve {
            if !Self::reserve_in(&mut tx, key, p, r.created_at).await? {
                return Ok(push::Inserted::Locked);
            }
        }
        if let Some(f) = flow {
            flow_update(f).execute_in(&mut tx).await?;
        }
        let withdrawn = tx
            .fetch_all(
                query(
                    "UPDATE push_requests SET state = $3, settled_at = $4 \
                     WHERE user_id = $1 AND state = $2 RETURNING id",
                )
                .bind(&r.user_id)
                .bind(PushState::Pending.as_str())
                .bind(PushState::Withdrawn.as_str())
                .bind(r.created_at),
            )
            .await?
            .iter()
            .map(|row| row.first::<String>())
            .collect::<R<Vec<String>>>()?;
        query(&format!(
            "INSERT INTO push_requests ({}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            rows::PUSH_COLS
        ))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.user_id)
        .bind(&r.flow_digest)
        .bind(&r.number)
        .bind(&r.application)
        .bind(&r.client_addr)
        .bind(&r.city)
        .bind(&r.country)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.pushed as i64)
        .bind(r.state.as_str())
        .bind(r.settled_at)
        .bind(&r.device_id)
        .bind(r.passwordless as i64)
        .bind(&r.client_id)
        .execute_in(&mut tx)
        .await
        .map_err(|e| conflict(e, || "push request".into()))?;
        tx.commit().await?;
        Ok(push::Inserted::Sent { withdrawn })
    }

    async fn push_request(&self, id: &str) -> R<Option<PushRequest>> {
        let sql = once!(
            "SELECT {} FROM push_requests WHERE id = $1",
            rows::PUSH_COLS
        );
        self.fetch_opt(query(sql).bind(id), rows::push).await
    }

    async fn pending_push_requests(&self, user_id: &str, now: Timestamp) -> R<Vec<PushRequest>> {
        let sql = once!(
            "SELECT {} FROM push_requests WHERE user_id = $1 AND state = $2 AND expires_at > $3 \
             ORDER BY created_at, id",
            rows::PUSH_COLS
        );
        let q = query(sql)
            .bind(user_id)
            .bind(PushState::Pending.as_str())
            .bind(now);
        self.fetch_all(q, rows::push).await
    }

    async fn settle_push_request(
        &self,
        id: &str,
        state: PushState,
        device_id: Option<&str>,
        now: Timestamp,
        release: &[(&str, Release)],
    ) -> R<bool> {
        // `PushState::may_settle` as SQL, inside the one conditional update that makes it final.
        let when = match state {
            PushState::Pending => return Ok(false),
            PushState::Expired => "expires_at <= $5",
            PushState::Withdrawn => "1 = 1",
            _ => "expires_at > $5",
        };
        let sql = format!(
            "UPDATE push_requests SET state = $2, device_id = $3, settled_at = $5 \
             WHERE id = $1 AND state = $4 AND {when}"
        );
        let settle = query(&sql)
            .bind(id)
            .bind(state.as_str())
            .bind(device_id.map(str::to_string))
            .bind(PushState::Pending.as_str())
            .bind(now);
        if state != PushState::NotMe && release.is_empty() {
            return self.consume(settle, None).await;
        }
        let mut tx = self.db.begin().await?;
        if !self.consume(settle, Some(&mut tx)).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        if state == PushState::NotMe {
            // "It's not me" blocks the user's push requests with the same write that records it.
            query(
                "UPDATE users SET push_blocked_at = $2 \
                 WHERE id = (SELECT user_id FROM push_requests WHERE id = $1)",
            )
            .bind(id)
            .bind(now)
            .execute_in(&mut tx)
            .await?;
        }
        Self::release_in(&mut tx, release).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_push_block(&self, user_id: &str, at: Option<Timestamp>) -> R<bool> {
        Ok(self
            .exec(
                query("UPDATE users SET push_blocked_at = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(at),
            )
            .await?
            == 1)
    }

    async fn insert_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        expires_at: Timestamp,
    ) -> R<()> {
        query("INSERT INTO device_challenges (digest, device_id, expires_at) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(device_id)
            .bind(expires_at)
            .execute(&self.db)
            .await
            .map_err(|e| conflict(e, || "device challenge".into()))?;
        Ok(())
    }

    async fn take_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        now: Timestamp,
    ) -> R<bool> {
        self.consume(
            query(
                "DELETE FROM device_challenges \
                 WHERE digest = $1 AND device_id = $2 AND expires_at > $3",
            )
            .bind(digest)
            .bind(device_id)
            .bind(now),
            None,
        )
        .await
    }

    async fn touch_device(&self, id: &str, at: Timestamp) -> R<()> {
        self.exec(
            query("UPDATE devices SET last_seen_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn enable_phone_sign_in(
        &self,
        device_id: &str,
        phone_key: &str,
        now: Timestamp,
        limit: u32,
    ) -> R<phone::Enabled> {
        let mut tx = self.db.begin().await?;
        let Some(row) = query("SELECT user_id FROM devices WHERE id = $1")
            .bind(device_id)
            .fetch_in(&mut tx)
            .await?
        else {
            return Ok(phone::Enabled::UnknownDevice);
        };
        let user_id: String = row.first()?;
        self.lock_user_in(&mut tx, &user_id).await?;
        if Self::phone_devices_in(&mut tx, &user_id, device_id).await? >= u64::from(limit) {
            return Ok(phone::Enabled::LimitReached);
        }
        tx.exec(
            query("UPDATE devices SET phone_key = $2, phone_enabled_at = $3 WHERE id = $1")
                .bind(device_id)
                .bind(phone_key)
                .bind(now),
        )
        .await?;
        tx.commit().await?;
        Ok(phone::Enabled::Enabled)
    }

    async fn register_with_pass(
        &self,
        pass_id: &str,
        now: Timestamp,
        device: &Device,
        codes: Option<&OathToken>,
        limit: u32,
    ) -> R<phone::Registered> {
        let mut tx = self.db.begin().await?;
        self.lock_user_in(&mut tx, &device.user_id).await?;
        // The pass's single use, as `use_tap` does it, inside the registration's transaction.
        let used = tx
            .exec(query(USE_TAP).bind(&device.user_id).bind(pass_id).bind(now))
            .await?;
        if used != 1 {
            return Ok(phone::Registered::PassRefused);
        }
        if Self::phone_devices_in(&mut tx, &device.user_id, &device.id).await? >= u64::from(limit) {
            return Ok(phone::Registered::LimitReached);
        }
        if let Some(t) = codes {
            self.insert_oath_in(&mut tx, t).await?;
        }
        Self::insert_device_in(&mut tx, device).await?;
        tx.commit().await?;
        Ok(phone::Registered::Registered)
    }
}

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

/// A pass is current (`TemporaryAccessPass::is_current`) at `$now`: not revoked, not a used
/// one-time pass, not expired. The stored row's columns, qualified for the upsert.
/// Uses the pass `$2` of user `$1` at `$3` if it is live then: the single use of a one-time pass.
const USE_TAP: &str = "UPDATE temporary_access_passes SET used_at = $3 \
     WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL \
     AND starts_at <= $3 AND expires_at > $3 \
     AND (one_time = 0 OR used_at IS NULL)";

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

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> R<()> {
        query("SELECT 1").fetch_all(&self.db).await?;
        Ok(())
    }

    async fn first_factor_records(&self, tenant_id: &str, user_id: &str) -> R<FirstFactorRecords> {
        let [tap, devices, passkeys, policy] = self
            .db
            .fetch_many([
                tap_of_user(user_id),
                devices_of_user(user_id),
                passkeys_of_user(user_id),
                policy_of_tenant(tenant_id),
            ])
            .await?;
        Ok(FirstFactorRecords {
            tap: first(&tap, rows::tap)?,
            devices: all(&devices, rows::device)?,
            passkeys: all(&passkeys, rows::passkey)?,
            policy: first(&policy, rows::policy)?,
        })
    }

    async fn passkey_answer_records(
        &self,
        tenant_id: &str,
        ceremony_id: &str,
        credential_id: &str,
        user_handle: Option<&str>,
    ) -> R<PasskeyAnswerRecords> {
        let user_of_passkey = once!(
            "SELECT {} FROM users u JOIN passkeys p ON p.user_id = u.id WHERE p.credential_id = $1",
            qualified("u", rows::USER_COLS)
        );
        // With no handle sent, a handle nobody has: the read finds nothing.
        let [ceremony, passkey, user, owner, policy] = self
            .db
            .fetch_many([
                flow_of_id(ceremony_id),
                passkey_of_id(credential_id),
                query(user_of_passkey).bind(credential_id),
                owner_of_handle(user_handle.unwrap_or_default()),
                policy_of_tenant(tenant_id),
            ])
            .await?;
        Ok(PasskeyAnswerRecords {
            ceremony: flow_found(&ceremony, ceremony_id)?,
            passkey: first(&passkey, rows::passkey)?,
            user: first(&user, rows::user)?,
            handle_owner: match user_handle {
                Some(_) => first(&owner, Row::first::<String>)?,
                None => None,
            },
            policy: first(&policy, rows::policy)?,
        })
    }

    async fn purge_expired(&self, now: Timestamp, session_idle: i64) -> R<u64> {
        let mut n = 0;
        n += self
            .exec(query("DELETE FROM signin_flows WHERE expires_at <= $1").bind(now))
            .await?;
        n += self
            .exec(query("DELETE FROM sessions WHERE last_seen_at <= $1").bind(now - session_idle))
            .await?;
        // Used codes are kept until expiry so that a replay is still recognised as one.
        n += self
            .exec(query("DELETE FROM auth_codes WHERE expires_at <= $1").bind(now))
            .await?;
        n += self
            .exec(query("DELETE FROM grants WHERE expires_at <= $1").bind(now))
            .await?;
        n += self
            .exec(query("DELETE FROM refresh_tokens WHERE expires_at <= $1").bind(now))
            .await?;
        // Counters every policy has forgotten, whatever their key (a typed name, a real account,
        // an address); permanent locks stay until an administrator lifts them.
        n += self
            .exec(
                query("DELETE FROM throttle WHERE last_failure_at < $1 AND failures < $2")
                    .bind(now - throttle::FORGOTTEN_AFTER)
                    .bind(throttle::PERMANENT_AT as i64),
            )
            .await?;
        n += self
            .exec(query("DELETE FROM device_activations WHERE expires_at <= $1").bind(now))
            .await?;
        n += self
            .exec(query("DELETE FROM device_challenges WHERE expires_at <= $1").bind(now))
            .await?;
        n += self
            .exec(
                query("DELETE FROM push_requests WHERE expires_at <= $1")
                    .bind(now - push::REQUESTS_KEPT_FOR),
            )
            .await?;
        n += self
            .exec(
                query("DELETE FROM temporary_access_passes WHERE expires_at <= $1")
                    .bind(now - tap::PASSES_KEPT_FOR),
            )
            .await?;
        Ok(n)
    }
}
