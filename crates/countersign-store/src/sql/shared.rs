//! Statements the stores share inside their own transactions: fetching and mapping rows,
//! tenants' domains, devices and OATH tokens written inside another write, a user's row locked,
//! the audit entry beside a change, attempts reserved and released, single-use consumption.

use super::*;
use crate::db::{query, Query, Row, Tx};
use crate::rows::{self, R};
use crate::{Backend, SqlStore};
use countersign_core::clock::Timestamp;
use countersign_core::methods::oath::OathToken;
use countersign_core::methods::push::Device;
use countersign_core::model::*;
use countersign_core::secret::Secret;
use countersign_core::signin::throttle::{LockoutPolicy, Release};
use countersign_core::StoreError;
use std::sync::LazyLock;

impl SqlStore {
    pub(super) async fn fetch_opt<T>(&self, q: Query, map: fn(&Row) -> R<T>) -> R<Option<T>> {
        first(&q.fetch_all(&self.db).await?, map)
    }

    pub(super) async fn fetch_all<T>(&self, q: Query, map: fn(&Row) -> R<T>) -> R<Vec<T>> {
        all(&q.fetch_all(&self.db).await?, map)
    }

    pub(super) async fn exec(&self, q: Query) -> R<u64> {
        Ok(q.execute(&self.db).await?)
    }

    pub(super) async fn domains_of(&self, tenant_id: &str) -> R<Vec<String>> {
        query("SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY position")
            .bind(tenant_id)
            .fetch_all(&self.db)
            .await?
            .iter()
            .map(Row::first)
            .collect()
    }

    pub(super) async fn tenant_from(&self, row: Option<Row>) -> R<Option<Tenant>> {
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

    pub(super) async fn write_domains(tx: &mut Tx<'_>, t: &Tenant) -> R<()> {
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
    pub(super) async fn insert_device_in(tx: &mut Tx<'_>, d: &Device) -> R<()> {
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
    pub(super) async fn lock_user_in(&self, tx: &mut Tx<'_>, user_id: &str) -> R<()> {
        if self.backend == Backend::Postgres {
            query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .fetch_in(tx)
                .await?;
        }
        Ok(())
    }

    /// The number a `SELECT COUNT(*) …` gives, inside the transaction.
    pub(super) async fn count_in(tx: &mut Tx<'_>, q: Query) -> R<u64> {
        let row = q
            .fetch_in(tx)
            .await?
            .ok_or_else(|| StoreError::Backend("COUNT returned no row".into()))?;
        Ok(row.first::<i64>()? as u64)
    }

    /// How many of the user's devices have phone sign-in on, other than `except`.
    pub(super) async fn phone_devices_in(tx: &mut Tx<'_>, user_id: &str, except: &str) -> R<u64> {
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
    pub(super) async fn append_audit_in(tx: &mut Tx<'_>, audit: &AuditEntry) -> R<()> {
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
    pub(super) async fn release_in(tx: &mut Tx<'_>, keys: &[(&str, Release)]) -> R<()> {
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

    pub(super) async fn reserve_in(
        tx: &mut Tx<'_>,
        key: &str,
        p: &LockoutPolicy,
        now: Timestamp,
    ) -> R<bool> {
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
    pub(super) fn unseal_oath(&self, mut tokens: Vec<OathToken>) -> R<Vec<OathToken>> {
        for t in &mut tokens {
            t.secret = Secret::new(self.unseal("oath_tokens", &t.id, t.secret.expose())?);
        }
        Ok(tokens)
    }

    /// Inserts one OATH token inside `tx`, its secret sealed.
    pub(super) async fn insert_oath_in(&self, tx: &mut Tx<'_>, t: &OathToken) -> R<()> {
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

    pub(super) async fn consume(&self, update: Query, tx: Option<&mut Tx<'_>>) -> R<bool> {
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
