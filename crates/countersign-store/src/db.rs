//! The two database drivers behind one small interface: a query is SQL text with `$n`
//! placeholders and typed values, a result row is a list of named values. SQLite runs through
//! rusqlite on the calling thread; PostgreSQL through sqlx's native driver.
//!
//! Why SQLite is not on sqlx: sqlx gives every SQLite connection a worker thread and hands each
//! query and each row across threads. On this 2-core machine that made half of the server's CPU
//! time context switches (measured with `perf` under the `codes` load). A query on SQLite's cached
//! pages takes microseconds, so running it inline on the async thread is cheaper than any hand-off.
//! Writes queue on one connection behind an async mutex (SQLite has one writer anyway, and a
//! queue is fairer than its busy handler's sleeps); reads run on that connection while it is
//! free, and take one from a small pool while it is busy.

use countersign_core::StoreError;
use std::sync::Arc;

pub(crate) type R<T> = Result<T, StoreError>;

/// A bound value or a column value. Every column is TEXT or a 64-bit integer (booleans are 0/1,
/// times are Unix seconds); nulls keep their type because PostgreSQL wants to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Int(Option<i64>),
    Text(Option<String>),
}

macro_rules! int_val {
    ($($t:ty),*) => {$(
        impl From<$t> for Val {
            fn from(v: $t) -> Self { Val::Int(Some(v as i64)) }
        }
        impl From<Option<$t>> for Val {
            fn from(v: Option<$t>) -> Self { Val::Int(v.map(|v| v as i64)) }
        }
    )*};
}
int_val!(i64, u32);

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(Some(v.to_string()))
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(Some(v))
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::Text(v)
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Self {
        Val::Text(v.clone())
    }
}

/// SQL text and its arguments, `$1` being the first.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    sql: Arc<str>,
    args: Vec<Val>,
}

pub(crate) fn query(sql: &str) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Query {
    pub(crate) fn bind(mut self, v: impl Into<Val>) -> Self {
        self.args.push(v.into());
        self
    }

    pub(crate) async fn fetch_all(self, db: &Db) -> DbResult<Vec<Row>> {
        db.fetch_all(self).await
    }

    pub(crate) async fn fetch_opt(self, db: &Db) -> DbResult<Option<Row>> {
        db.fetch_opt(self).await
    }

    /// A write on its own, committed; the rows affected.
    pub(crate) async fn execute(self, db: &Db) -> DbResult<u64> {
        db.exec(self).await
    }

    pub(crate) async fn execute_in(self, tx: &mut Tx<'_>) -> DbResult<u64> {
        tx.exec(self).await
    }

    /// A write returning rows inside a transaction; its first row.
    pub(crate) async fn fetch_in(self, tx: &mut Tx<'_>) -> DbResult<Option<Row>> {
        Ok(tx.fetch_all(self).await?.into_iter().next())
    }
}

/// One result row: values by column name.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    cols: Arc<[String]>,
    vals: Vec<Val>,
}

/// Reading a column into a Rust type.
pub(crate) trait FromVal: Sized {
    fn from_val(v: &Val) -> Option<Self>;
}
impl FromVal for i64 {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Int(Some(i)) => Some(*i),
            _ => None,
        }
    }
}
impl FromVal for String {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Text(Some(s)) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Int(None) | Val::Text(None) => Some(None),
            v => T::from_val(v).map(Some),
        }
    }
}

impl Row {
    pub(crate) fn get<T: FromVal>(&self, col: &str) -> R<T> {
        let i = self
            .cols
            .iter()
            .position(|c| c == col)
            .ok_or_else(|| StoreError::Backend(format!("column {col}: not in the result")))?;
        T::from_val(&self.vals[i]).ok_or_else(|| {
            StoreError::Backend(format!("column {col}: unexpected value {:?}", self.vals[i]))
        })
    }

    /// The first column (for `SELECT count(*)`, `RETURNING x` and the like).
    pub(crate) fn first<T: FromVal>(&self) -> R<T> {
        self.vals
            .first()
            .and_then(T::from_val)
            .ok_or_else(|| StoreError::Backend("unexpected first column".into()))
    }
}

/// What went wrong in the database, for the callers that care (unique constraints).
#[derive(Debug)]
pub(crate) enum DbError {
    Unique(String),
    Other(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unique(m) | DbError::Other(m) => f.write_str(m),
        }
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unique(m) | DbError::Other(m) => StoreError::Backend(m),
        }
    }
}

pub(crate) type DbResult<T> = Result<T, DbError>;

pub(crate) mod lite;
pub(crate) mod pg;

/// The database of a store.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(Arc<lite::Lite>),
    Postgres(sqlx::PgPool),
}

/// An open write transaction; rolled back if dropped without `commit`.
pub(crate) enum Tx<'a> {
    Sqlite(lite::LiteTx<'a>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Db {
    /// Rows of a read.
    pub(crate) async fn fetch_all(&self, q: Query) -> DbResult<Vec<Row>> {
        match self {
            Db::Sqlite(l) => l.read(|c| lite::fetch(c, &q)),
            Db::Postgres(p) => pg::fetch(p, &q).await,
        }
    }

    pub(crate) async fn fetch_opt(&self, q: Query) -> DbResult<Option<Row>> {
        Ok(self.fetch_all(q).await?.into_iter().next())
    }

    /// The rows of several reads, in order, taken together: on SQLite in one read transaction
    /// (one snapshot, and one start and end of a transaction instead of one per read, which is
    /// most of a small read's cost), on PostgreSQL on one connection of the pool.
    pub(crate) async fn fetch_many<const N: usize>(
        &self,
        qs: [Query; N],
    ) -> DbResult<[Vec<Row>; N]> {
        let rows = match self {
            Db::Sqlite(l) => l.read(|c| lite::fetch_many(c, &qs))?,
            Db::Postgres(p) => {
                let mut c = p.acquire().await.map_err(pg::err)?;
                let mut out = Vec::with_capacity(N);
                for q in &qs {
                    out.push(pg::fetch(&mut *c, q).await?);
                }
                out
            }
        };
        // One result per read, in order.
        let mut rows = rows.into_iter();
        Ok(std::array::from_fn(|_| rows.next().unwrap_or_default()))
    }

    /// A write on its own (one statement, committed); returns the rows affected.
    pub(crate) async fn exec(&self, q: Query) -> DbResult<u64> {
        match self {
            Db::Sqlite(l) => {
                let mut w = l.writer().await;
                lite::exec(&mut w, &q)
            }
            Db::Postgres(p) => pg::exec(p, &q).await,
        }
    }

    /// Statements separated by `;`, without arguments (migrations, set-up).
    pub(crate) async fn batch(&self, sql: &str) -> DbResult<()> {
        match self {
            Db::Sqlite(l) => {
                let w = l.writer().await;
                w.execute_batch(sql).map_err(lite::err)
            }
            Db::Postgres(p) => pg::batch(p, sql).await,
        }
    }

    pub(crate) async fn begin(&self) -> DbResult<Tx<'_>> {
        match self {
            Db::Sqlite(l) => Ok(Tx::Sqlite(l.begin().await?)),
            Db::Postgres(p) => Ok(Tx::Postgres(p.begin().await.map_err(pg::err)?)),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite(l) => l.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx<'_> {
    pub(crate) async fn exec(&mut self, q: Query) -> DbResult<u64> {
        match self {
            Tx::Sqlite(t) => lite::exec(t.conn(), &q),
            Tx::Postgres(t) => pg::exec(&mut **t, &q).await,
        }
    }

    pub(crate) async fn fetch_all(&mut self, q: Query) -> DbResult<Vec<Row>> {
        match self {
            Tx::Sqlite(t) => lite::fetch(t.conn(), &q),
            Tx::Postgres(t) => pg::fetch(&mut **t, &q).await,
        }
    }

    /// Statements separated by `;`, without arguments.
    pub(crate) async fn batch(&mut self, sql: &str) -> DbResult<()> {
        match self {
            Tx::Sqlite(t) => t.conn().execute_batch(sql).map_err(lite::err),
            Tx::Postgres(t) => {
                sqlx::raw_sql(sql)
                    .execute(&mut **t)
                    .await
                    .map_err(pg::err)?;
                Ok(())
            }
        }
    }

    pub(crate) async fn rollback(self) -> DbResult<()> {
        match self {
            Tx::Sqlite(t) => {
                drop(t);
                Ok(())
            }
            Tx::Postgres(t) => t.rollback().await.map_err(pg::err),
        }
    }

    pub(crate) async fn commit(self) -> DbResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit(),
            Tx::Postgres(t) => t.commit().await.map_err(pg::err),
        }
    }
}
