//! The `Store` implementation in SQL common to SQLite and PostgreSQL (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`). Single-use credentials are consumed with a conditional UPDATE, so
//! exactly one of any number of parallel callers sees `Fresh`.

use crate::db::{query, DbError, Row};
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::methods::push::{self};
use countersign_core::methods::tap::{self};
use countersign_core::signin::throttle::{self};
use countersign_core::store::*;
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

/// The first row of a read, mapped.
fn first<T>(rows: &[Row], map: fn(&Row) -> R<T>) -> R<Option<T>> {
    rows.first().map(map).transpose()
}

/// Every row of a read, mapped.
fn all<T>(rows: &[Row], map: fn(&Row) -> R<T>) -> R<Vec<T>> {
    rows.iter().map(map).collect()
}

mod directory;
mod flow;
mod grants;
mod keys;
mod lockouts;
mod log;
mod methods;
mod passes;
mod passkey;
mod policy;
mod push_requests;
mod queries;
mod shared;

use queries::*;

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
