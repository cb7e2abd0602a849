//! Countersign's `Store` on SQL: embedded SQLite (the default; WAL, one file in the data
//! directory) and PostgreSQL (for several stateless servers sharing one database). One SQL
//! implementation serves both through a small driver interface (`db`); schemas and migrations are
//! per backend.

pub mod bus;
mod db;
mod logwriter;
mod migrate;
mod private_fs;
mod rows;
mod sealing;
pub mod secrets;
mod sql;

pub use sealing::SecretsStatus;

use countersign_core::StoreError;
use db::Db;
use secrets::Sealer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the key that seals secrets at rest comes from (see `secrets`).
#[derive(Debug, Clone)]
pub enum KeyFile {
    /// The secrets key file: loaded, or created with a new key on first start (refused when the
    /// database already holds sealed secrets, which a new key could never open).
    Path(PathBuf),
    /// A key in memory only: for tests, never for data that must outlive the process.
    Ephemeral,
}

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
    /// The PostgreSQL schema, when one was given.
    schema: Option<String>,
    log: logwriter::LogWriter,
    sealer: Arc<Sealer>,
}

impl SqlStore {
    /// The SQLite database's file in `data_dir`.
    pub fn sqlite_file(data_dir: &Path) -> PathBuf {
        data_dir.join("countersign.db")
    }

    /// Opens (creating if needed) the SQLite database `countersign.db` in `data_dir` (mode 0700),
    /// with the secrets key file `secrets.key` beside it.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_sqlite_with(data_dir, KeyFile::Path(data_dir.join("secrets.key"))).await
    }

    /// Like `open_sqlite`, with the secrets key from `key`.
    pub async fn open_sqlite_with(data_dir: &Path, key: KeyFile) -> Result<Self, StoreError> {
        private_fs::create_dir(data_dir)?;
        let path = Self::sqlite_file(data_dir);
        Self::open(&format!("sqlite://{}", path.display()), None, key).await
    }

    /// Opens a store by URL: `sqlite://path` (created if missing) or `postgres://…`. With
    /// PostgreSQL, `schema` (created if missing) isolates one deployment, or one test, from the
    /// others. Secrets at rest are sealed under `key`.
    pub async fn open(url: &str, schema: Option<&str>, key: KeyFile) -> Result<Self, StoreError> {
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
        // The driver's own words, said once (a StoreError's text starts "storage failure" too).
        let cannot =
            |e: db::DbError| StoreError::Backend(format!("cannot open {}: {e}", redact_url(url)));
        let db = match backend {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path.starts_with(':') {
                    return Err(StoreError::Backend(format!(
                        "database URL '{url}': give a file, as in sqlite:///var/lib/countersign/countersign.db"
                    )));
                }
                let path = Path::new(path);
                // Private before SQLite opens it; SQLite gives its WAL and shared-memory files
                // the database file's mode.
                private_fs::ensure_file(path)?;
                for suffix in ["-wal", "-shm"] {
                    let mut side = path.as_os_str().to_owned();
                    side.push(suffix);
                    private_fs::restrict(Path::new(&side));
                }
                Db::Sqlite(db::lite::Lite::open(path).map_err(cannot)?)
            }
            Backend::Postgres => Db::Postgres(Self::pg_pool(url, schema).await.map_err(cannot)?),
        };
        if let Some(s) = schema {
            db.batch(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
                .await?;
        }
        let log = logwriter::LogWriter::start(db.clone());
        let mut store = Self {
            db,
            backend,
            schema: schema.map(str::to_string),
            log,
            sealer: Arc::new(Sealer::ephemeral()),
        };
        migrate::run(&store).await?;
        store.sealer = Arc::new(store.sealer_for(key).await?);
        store.check_keys().await?;
        let sealed = store.reseal_all(false).await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "sealed secrets stored in clear by an earlier version"
            );
        }
        Ok(store)
    }

    async fn pg_pool(url: &str, schema: Option<&str>) -> Result<sqlx::PgPool, db::DbError> {
        use sqlx::{Connection, Executor};
        // One connection first, so that an unreachable server or a refused login is told as
        // the driver says it, at once (the pool retries for its whole acquire timeout and then
        // says only that it timed out).
        let first = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::postgres::PgConnection::connect(url),
        )
        .await
        .map_err(|_| db::DbError::Other("no answer within 10 s".into()))?
        .map_err(db::pg::err)?;
        let _ = first.close().await;
        let schema_owned = schema.map(str::to_string);
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: a round trip before each
            // query. Check only one that sat idle long enough for the server or a proxy to have
            // dropped it; a failed check closes it and another is taken.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > Duration::from_secs(30) {
                        Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
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

    /// The notification channel `topic` shared by the server instances of this PostgreSQL
    /// schema; `None` on SQLite (one instance).
    pub fn bus(&self, topic: &str) -> Option<bus::Bus> {
        match &self.db {
            Db::Postgres(pool) => Some(bus::Bus::new(
                pool.clone(),
                topic,
                self.schema.as_deref().unwrap_or("public"),
            )),
            Db::Sqlite(_) => None,
        }
    }

    /// Writes the queued sign-in log and closes the connections (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.log.flush().await;
        self.db.close().await;
    }

    /// Checks the database's structure: SQLite's `PRAGMA integrity_check` (every page, index and
    /// constraint); PostgreSQL checks itself, so there a round trip. Returns the problems found.
    pub async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA integrity_check",
            Backend::Postgres => "SELECT 'ok'",
        };
        let rows = db::query(sql).fetch_all(&self.db).await?;
        let lines = rows
            .iter()
            .map(|r| r.first::<String>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
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
#[allow(clippy::unwrap_used)] // test support: a failing unwrap fails the test
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
        let store = SqlStore::open(&url, Some(&schema), super::KeyFile::Ephemeral)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at COUNTERSIGN_TEST_POSTGRES_URL: {e}"));
        Some((store, schema))
    }

    /// Whether this store's PostgreSQL connection is encrypted (TLS), as the server reports it.
    pub async fn uses_tls(store: &SqlStore) -> bool {
        let row = crate::db::query(
            "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) FROM pg_stat_ssl \
             WHERE pid = pg_backend_pid()",
        )
        .fetch_opt(&store.db)
        .await
        .unwrap()
        .expect("a row for this connection");
        row.first::<i64>().unwrap() == 1
    }

    fn getrandom_fill(buf: &mut [u8]) {
        use countersign_core::random::{OsRandom, Rng};
        OsRandom.fill(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_core::model::SignInFlow;
    use countersign_core::secret::token_digest;
    use countersign_core::store::*;

    /// A sign-in flow's id is its cookie value: only its digest reaches the database, and the
    /// flow is found by the id itself.
    #[tokio::test]
    async fn flow_ids_are_stored_as_digests() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqlStore::open_sqlite_with(dir.path(), KeyFile::Ephemeral)
            .await
            .unwrap();
        s.db.batch(
            "INSERT INTO tenants (id, name, display_name, created_at) VALUES ('t1', 'c', 'C', 0)",
        )
        .await
        .unwrap();
        let f = SignInFlow {
            id: "the-cookie-value".into(),
            tenant_id: "t1".into(),
            csrf: "x".into(),
            request: None,
            state: Default::default(),
            return_to: None,
            created_at: 0,
            expires_at: 100,
        };
        s.insert_flow(&f).await.unwrap();
        let stored: String = db::query("SELECT id FROM signin_flows")
            .fetch_opt(&s.db)
            .await
            .unwrap()
            .unwrap()
            .first()
            .unwrap();
        assert_eq!(stored, token_digest("the-cookie-value"));
        assert_eq!(
            s.flow_by_id("the-cookie-value").await.unwrap(),
            Some(f.clone())
        );
        assert_eq!(
            s.flow_by_id(&stored).await.unwrap(),
            None,
            "the digest opens nothing"
        );
        s.delete_flow("the-cookie-value", &f.csrf).await.unwrap();
        assert_eq!(s.flow_by_id("the-cookie-value").await.unwrap(), None);
    }
}
