//! Schema migrations: numbered SQL files per backend, embedded in the binary, each applied once in
//! its own transaction and recorded in `countersign_migrations`.

use crate::{backend_err, Backend, SqlStore};
use countersign_core::StoreError;
use sqlx::Executor;

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_oath.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_oath.sql")),
];

/// Arbitrary constant naming the advisory lock that serialises concurrent migrators on PostgreSQL.
const PG_LOCK: i64 = 0x0063_6f75_6e74_6572;

pub(crate) async fn run(store: &SqlStore) -> Result<(), StoreError> {
    let mut conn = store.pool.acquire().await.map_err(backend_err)?;
    if store.backend == Backend::Postgres {
        // Several servers may start at once against one database.
        conn.execute(format!("SELECT pg_advisory_lock({PG_LOCK})").as_str())
            .await
            .map_err(backend_err)?;
    }
    let result = apply(&mut conn, store.backend).await;
    if store.backend == Backend::Postgres {
        let _ = conn
            .execute(format!("SELECT pg_advisory_unlock({PG_LOCK})").as_str())
            .await;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS countersign_migrations \
         (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(backend_err)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM countersign_migrations")
        .fetch_all(&mut *conn)
        .await
        .map_err(backend_err)?;
    let list = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    for (version, sql) in list {
        if applied.contains(version) {
            continue;
        }
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(backend_err)?;
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Backend(format!("migration {version} failed: {e}")))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        sqlx::query("INSERT INTO countersign_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}
