//! Countersign's `Store` on SQL: embedded SQLite (the default; WAL, one file in the data
//! directory) and PostgreSQL (for several stateless servers sharing one database). One SQL
//! implementation serves both through a small driver interface (`db`); schemas and migrations are
//! per backend.

mod db;
mod logwriter;
mod migrate;
mod rows;
mod sql;

use countersign_core::StoreError;
use db::Db;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The SQL store. Cheap to clone (the connections are shared).
#[derive(Clone)]
pub struct SqlStore {
    db: Db,
    backend: Backend,
    log: logwriter::LogWriter,
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database `countersign.db` in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("countersign.db");
        Self::open(&format!("sqlite://{}", path.display()), None).await
    }

    /// Opens a store by URL: `sqlite://path` (created if missing) or `postgres://…`. With
    /// PostgreSQL, `schema` (created if missing) isolates one deployment, or one test, from the
    /// others.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Backend(format!(
                "unsupported database URL '{}': use sqlite://… or postgres://…",
                redact_url(url)
            )));
        };
        if let Some(s) = schema {
            if backend != Backend::Postgres
                || s.is_empty()
                || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(StoreError::Backend(format!(
                    "invalid schema '{s}': only for PostgreSQL, letters, digits and _"
                )));
            }
        }
        let cannot = |e: db::DbError| {
            let e: StoreError = e.into();
            StoreError::Backend(format!("cannot open {}: {e}", redact_url(url)))
        };
        let db = match backend {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path.starts_with(':') {
                    return Err(StoreError::Backend(format!(
                        "database URL '{url}': give a file, as in sqlite:///var/lib/countersign/countersign.db"
                    )));
                }
                Db::Sqlite(db::lite::Lite::open(Path::new(path)).map_err(cannot)?)
            }
            Backend::Postgres => Db::Postgres(Self::pg_pool(url, schema).await.map_err(cannot)?),
        };
        if let Some(s) = schema {
            db.batch(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
                .await?;
        }
        let log = logwriter::LogWriter::start(db.clone());
        let store = Self { db, backend, log };
        migrate::run(&store).await?;
        Ok(store)
    }

    async fn pg_pool(url: &str, schema: Option<&str>) -> Result<sqlx::PgPool, db::DbError> {
        use sqlx::Executor;
        let schema_owned = schema.map(str::to_string);
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let schema = schema_owned.clone();
                Box::pin(async move {
                    if let Some(s) = schema {
                        conn.execute(format!("SET search_path TO \"{s}\"").as_str())
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(db::pg::err)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Writes the queued sign-in log and closes the connections (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.log.flush().await;
        self.db.close().await;
    }

    /// Drops a PostgreSQL schema (test clean-up).
    pub async fn drop_schema(&self, schema: &str) -> Result<(), StoreError> {
        self.db
            .batch(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await?;
        Ok(())
    }
}

/// A database URL with its password removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Helpers for tests that need a real PostgreSQL: the URL comes from
/// `COUNTERSIGN_TEST_POSTGRES_URL`; without it such tests skip with a printed reason, unless
/// `COUNTERSIGN_REQUIRE_ALL=1`, under which a skip is a failure.
pub mod testing {
    use super::SqlStore;

    /// Whether skipping is forbidden (CI).
    pub fn require_all() -> bool {
        std::env::var("COUNTERSIGN_REQUIRE_ALL").is_ok_and(|v| v == "1")
    }

    /// Skips (prints why and returns `None`) or, under `COUNTERSIGN_REQUIRE_ALL=1`, panics.
    pub fn skip<T>(what: &str, why: &str) -> Option<T> {
        if require_all() {
            panic!("{what}: {why}, and COUNTERSIGN_REQUIRE_ALL=1 forbids skipping");
        }
        eprintln!("SKIPPED {what}: {why}");
        None
    }

    pub fn postgres_url() -> Option<String> {
        match std::env::var("COUNTERSIGN_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => skip(
                "PostgreSQL test",
                "COUNTERSIGN_TEST_POSTGRES_URL is not set",
            ),
        }
    }

    /// A store in a fresh schema of its own, so tests run in parallel; drop it with `drop_schema`.
    pub async fn postgres_store() -> Option<(SqlStore, String)> {
        let url = postgres_url()?;
        let mut b = [0u8; 8];
        getrandom_fill(&mut b);
        let schema = format!(
            "cs_test_{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        );
        let store = SqlStore::open(&url, Some(&schema))
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at COUNTERSIGN_TEST_POSTGRES_URL: {e}"));
        Some((store, schema))
    }

    fn getrandom_fill(buf: &mut [u8]) {
        use countersign_core::random::{OsRandom, Rng};
        OsRandom.fill(buf);
    }
}
