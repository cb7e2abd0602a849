//! Schema migrations: numbered SQL files per backend, embedded in the binary, applied together in
//! one transaction and recorded in `countersign_migrations`.

use crate::db::query;
use crate::{Backend, SqlStore};
use countersign_core::StoreError;

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_oath.sql")),
    (
        3,
        include_str!("../migrations/sqlite/0003_without_rowid.sql"),
    ),
    (4, include_str!("../migrations/sqlite/0004_revocation.sql")),
    (5, SIGN_IN_ENGINE),
    (6, PUSH),
    (7, PUSH_CHANNEL),
    (8, TAP),
    (9, PHONE_SIGN_IN),
    (10, PASSKEYS),
    (
        11,
        include_str!("../migrations/sqlite/0011_push_requests.sql"),
    ),
    (12, PUSH_REQUEST_CLIENT),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_oath.sql")),
    (
        4,
        include_str!("../migrations/postgres/0004_revocation.sql"),
    ),
    (5, SIGN_IN_ENGINE),
    (6, PUSH),
    (7, PUSH_CHANNEL),
    (8, TAP),
    (9, PHONE_SIGN_IN),
    (10, PASSKEYS),
    (
        11,
        include_str!("../migrations/postgres/0011_push_requests.sql"),
    ),
    (12, PUSH_REQUEST_CLIENT),
];
/// Written once for both backends: it uses only what they share.
const SIGN_IN_ENGINE: &str = include_str!("../migrations/shared/0005_sign_in_engine.sql");
const PUSH: &str = include_str!("../migrations/shared/0006_push.sql");
const PUSH_CHANNEL: &str = include_str!("../migrations/shared/0007_push_channel.sql");
const TAP: &str = include_str!("../migrations/shared/0008_temporary_access_pass.sql");
const PHONE_SIGN_IN: &str = include_str!("../migrations/shared/0009_phone_sign_in.sql");
const PASSKEYS: &str = include_str!("../migrations/shared/0010_passkeys.sql");
const PUSH_REQUEST_CLIENT: &str = include_str!("../migrations/shared/0012_push_request_client.sql");

/// Serialises migrations between server instances starting at once on one PostgreSQL.
const PG_LOCK: i64 = 0x0063_6f75_6e74_6572;

/// Applies the migrations not applied yet, all in one transaction: a failing one leaves the
/// schema as it was.
pub(crate) async fn run(store: &SqlStore) -> Result<(), StoreError> {
    let mut tx = store.db.begin().await?;
    if store.backend == Backend::Postgres {
        tx.batch(&format!("SELECT pg_advisory_xact_lock({PG_LOCK})"))
            .await?;
    }
    tx.batch(
        "CREATE TABLE IF NOT EXISTS countersign_migrations \
         (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied = tx
        .fetch_all(query("SELECT version FROM countersign_migrations"))
        .await?
        .iter()
        .map(|r| r.first::<i64>())
        .collect::<Result<Vec<_>, _>>()?;
    let list = match store.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for (version, sql) in list {
        if applied.contains(version) {
            continue;
        }
        tx.batch(sql).await.map_err(|e| {
            StoreError::Backend(format!(
                "migration {version} failed: {}",
                StoreError::from(e)
            ))
        })?;
        tx.exec(
            query("INSERT INTO countersign_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now),
        )
        .await?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().await?;
    Ok(())
}
