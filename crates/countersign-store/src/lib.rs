//! Countersign's `Store` on SQL: embedded SQLite (the default; WAL, one file in the data
//! directory) and PostgreSQL (for several stateless servers sharing one database). One SQL
//! implementation serves both through sqlx's `Any` driver; schemas and migrations are per backend.

mod logwriter;
mod migrate;
mod rows;
mod sql;

use countersign_core::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The SQL store. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct SqlStore {
    /// Reads (several connections).
    pool: AnyPool,
    /// Writes. For SQLite a single connection, so writers queue here in order instead of
    /// colliding on SQLite's lock and sleeping in its busy handler (which made the tail latency);
    /// for PostgreSQL the same pool as reads.
    write: AnyPool,
    backend: Backend,
    log: logwriter::LogWriter,
}

fn backend_err(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
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
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(&url, None).await
    }

    /// Opens a store by URL: `sqlite://path?mode=rwc` or `postgres://…`. With PostgreSQL, `schema`
    /// (created if missing) isolates one deployment, or one test, from the others.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
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
        let opts = AnyConnectOptions::from_str(url).map_err(backend_err)?;
        let pool = Self::pool(
            backend,
            schema,
            &opts,
            if backend == Backend::Sqlite { 8 } else { 16 },
        )
        .await
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", redact_url(url))))?;
        if let Some(s) = schema {
            pool.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{s}\"").as_str())
                .await
                .map_err(backend_err)?;
        }
        let write = match backend {
            Backend::Sqlite => Self::pool(backend, schema, &opts, 1)
                .await
                .map_err(backend_err)?,
            Backend::Postgres => pool.clone(),
        };
        let log = logwriter::LogWriter::start(pool.clone());
        let store = Self {
            pool,
            write,
            backend,
            log,
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    async fn pool(
        backend: Backend,
        schema: Option<&str>,
        opts: &AnyConnectOptions,
        size: u32,
    ) -> Result<AnyPool, sqlx::Error> {
        let schema_owned = schema.map(str::to_string);
        AnyPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let schema = schema_owned.clone();
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            // WAL with synchronous=NORMAL: a committed write survives a crash of
                            // the process (kill -9); FULL would also survive power loss at a
                            // large cost per commit.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                        }
                        Backend::Postgres => {
                            if let Some(s) = schema {
                                conn.execute(format!("SET search_path TO \"{s}\"").as_str())
                                    .await?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts.clone())
            .await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections to finish (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.log.flush().await;
        self.write.close().await;
        self.pool.close().await;
    }

    /// Drops a PostgreSQL schema (test clean-up).
    pub async fn drop_schema(&self, schema: &str) -> Result<(), StoreError> {
        self.pool
            .execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
            .await
            .map_err(backend_err)?;
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
