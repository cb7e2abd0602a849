//! SQLite through rusqlite, on the calling thread: one write connection behind an async mutex,
//! which also serves reads while it is free, and a pool of read connections for the reads that
//! find it busy (see the parent module for why).

use super::{DbError, DbResult, Query, Row, Val};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Statement};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Read connections kept open; more are opened while many reads run at once, then closed.
const IDLE_READERS: usize = 8;

pub(crate) struct Lite {
    path: PathBuf,
    writer: tokio::sync::Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// The database file, for the checkpoints' own syncs (see `checkpoint`). Opened once and
    /// closed only after every connection above (fields drop in order): closing a descriptor of
    /// the file drops all of this process's POSIX locks on it, SQLite's included.
    file: std::fs::File,
}

pub(crate) fn err(e: rusqlite::Error) -> DbError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            DbError::Unique(e.to_string())
        }
        _ => DbError::Other(e.to_string()),
    }
}

fn connect(path: &Path) -> DbResult<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    // WAL with synchronous=NORMAL: a committed write survives a crash of the process (kill -9);
    // FULL would also survive power loss at a large cost per commit. The busy timeout covers the
    // admin CLI writing to the same file while the server runs (such a wait holds up the async
    // thread that runs the statement; the CLI's transactions are short). (Memory-mapped reads were tried:
    // the remaps as the file grows cost more than the `pread`s they save.)
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 10000;",
    )
    .map_err(err)?;
    // Room for every statement the server runs: the writer serves most reads too.
    c.set_prepared_statement_cache_capacity(256);
    Ok(c)
}

impl Lite {
    pub(crate) fn open(path: &Path) -> DbResult<Arc<Self>> {
        Self::open_with(path, CHECKPOINTS)
    }

    /// `open`, with checkpoints as planned.
    fn open_with(path: &Path, checkpoints: Checkpoints) -> DbResult<Arc<Self>> {
        let writer = connect(path)?;
        // Checkpoints run in the background (`checkpoints`), not in the commit that crosses
        // SQLite's threshold: that commit's fsync stalled every write queued behind it.
        // A larger page cache for the writer, which also serves most reads (see `read`).
        // When the WAL starts over, a file grown past the limit is cut back to it.
        writer
            .execute_batch(
                "PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -16384; \
                 PRAGMA journal_size_limit = 268435456;",
            )
            .map_err(err)?;
        let file = std::fs::File::open(path).map_err(|e| DbError::Other(e.to_string()))?;
        let lite = Arc::new(Self {
            path: path.to_path_buf(),
            writer: tokio::sync::Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            file,
        });
        tokio::spawn(self::checkpoints(Arc::downgrade(&lite), checkpoints));
        Ok(lite)
    }

    /// Runs `f` on the write connection when it is free, on a read connection otherwise.
    ///
    /// Why the writer first: SQLite drops a connection's whole page cache when its read
    /// transaction begins after another connection wrote, so under a steady trickle of writes a
    /// pooled reader starts cold nearly every time (a `pread` per page, measured at about a
    /// tenth of the server's CPU under push load). The writer's cache survives its own writes.
    /// The writer is free only between transactions (a `LiteTx` holds it), so such a read sees
    /// only committed data, like any other.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut Connection) -> DbResult<T>) -> DbResult<T> {
        if let Ok(mut w) = self.writer.try_lock() {
            return f(&mut w);
        }
        let idle = self.readers.lock().map(|mut r| r.pop()).unwrap_or(None);
        let mut conn = match idle {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&mut conn);
        if let Ok(mut r) = self.readers.lock() {
            if r.len() < IDLE_READERS {
                r.push(conn);
            }
        }
        result
    }

    /// The write connection, once the writes queued before have finished.
    pub(crate) async fn writer(&self) -> tokio::sync::MutexGuard<'_, Connection> {
        self.writer.lock().await
    }

    pub(crate) async fn begin(&self) -> DbResult<LiteTx<'_>> {
        let g = self.writer().await;
        // IMMEDIATE takes the write lock now, so the transaction can't fail half-way on a lock.
        g.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        Ok(LiteTx { g, done: false })
    }

    /// Closes the idle readers and folds the WAL back into the database file.
    pub(crate) async fn close(&self) {
        if let Ok(mut r) = self.readers.lock() {
            r.clear();
        }
        let w = self.writer().await;
        let _ = w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }
}

/// When the WAL is copied into the database file, and when it is made to start over.
#[derive(Clone, Copy)]
struct Checkpoints {
    every: Duration,
    /// Frames in the log from which it is made to start over (see `checkpoints`).
    restart_at: i64,
}

const CHECKPOINTS: Checkpoints = Checkpoints {
    // Often, so that each pass has little to sync: the sync of a second's worth of WAL (about
    // 50 MB at 1,000 push requests/s) took 100 ms on this project's VM, and writes to the WAL
    // waited for it, which made the slowest percent of push deliveries 40–60 ms.
    every: Duration::from_millis(100),
    // 256 MiB of 4 KiB pages, as `journal_size_limit`: at a steady 1,000 push requests/s (13
    // frames each) about one restart every 5 s. Under lighter load the WAL starts over by itself
    // whenever no write comes during a checkpoint, and never gets near this.
    restart_at: 65_536,
};

/// Frames written during a background checkpoint pass that are few enough for the last pass,
/// which holds writes up (see `checkpoints`).
const FEW_FRAMES: i64 = 64;

/// Copies the WAL into the database file on a connection of its own while the database is
/// open: every `every`, PASSIVE, which never waits for readers or the writer.
///
/// That alone never lets the WAL start over under steady writes. SQLite starts it over from
/// its beginning only when a write transaction begins with every frame already copied, and a
/// write always comes between a checkpoint and the next write. So it grew without end —
/// measured at 47 MB/s under 1,000 push requests/s, and with it the WAL index, which every read
/// searches. Once the log holds `restart_at` frames, the checkpoint runs again in the
/// background until only a few frames are left to copy, then a last time with the write
/// connection held, so that the next write starts the WAL over. That last pass holds writes up
/// for its copy and its two syncs, which is why it runs only past a large threshold; with the
/// database file synced after every pass (see `checkpoint`) it has little left to write.
async fn checkpoints(lite: Weak<Lite>, plan: Checkpoints) {
    let mut tick = tokio::time::interval(plan.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass = Checkpointer::default();
    loop {
        tick.tick().await;
        let Some(lite) = lite.upgrade() else {
            return;
        };
        let Some(frames) = pass.run(&lite).await else {
            continue;
        };
        if frames < plan.restart_at {
            continue;
        }
        // Again in the background until a pass finds only a few frames new since the one
        // before (each pass takes about as long as the frames it copies, so this comes fast):
        // the pass with writes held then has little to copy and to sync.
        let mut seen = frames;
        for _ in 0..8 {
            let Some(now) = pass.run(&lite).await else {
                break;
            };
            let new = now - std::mem::replace(&mut seen, now);
            if new <= FEW_FRAMES {
                break;
            }
        }
        let _no_writes = lite.writer().await;
        let held = std::time::Instant::now();
        if pass.run(&lite).await.is_some() {
            tracing::debug!(
                frames,
                held_ms = held.elapsed().as_millis() as u64,
                "WAL started over"
            );
        }
    }
}

/// The checkpoints' own connection (opened on first use), and the number of frames copied into
/// the database file as of the last pass.
#[derive(Default)]
struct Checkpointer {
    conn: Option<Connection>,
    copied: i64,
}

impl Checkpointer {
    /// One PASSIVE checkpoint, on a blocking thread: the number of frames in the log, or `None`
    /// when it failed (logged).
    ///
    /// When the pass copied frames, the database file is synced here. SQLite syncs it only in a
    /// pass that copies every frame, which under steady writes is the pass that holds writes up:
    /// it then had to write out every page copied since the WAL last started over (measured at
    /// 32–38 ms, against a few ms now).
    async fn run(&mut self, lite: &Arc<Lite>) -> Option<i64> {
        let (conn, copied) = (self.conn.take(), self.copied);
        let (c, frames, now_copied) = checkpoint(lite.clone(), conn, copied).await.ok()?;
        (self.conn, self.copied) = (Some(c), now_copied);
        Some(frames)
    }
}

/// See [`Checkpointer::run`]: the connection back, the frames in the log and those copied.
async fn checkpoint(
    lite: Arc<Lite>,
    conn: Option<Connection>,
    copied: i64,
) -> Result<(Connection, i64, i64), ()> {
    let done = tokio::task::spawn_blocking(move || {
        let c = match conn {
            Some(c) => c,
            None => connect(&lite.path)?,
        };
        // The row is (busy, frames in the log, frames copied).
        let (frames, now_copied) = c
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })
            .or_else(|e| match e {
                // Another process (the admin CLI) is checkpointing: it does the same work.
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    Ok((0, copied))
                }
                e => Err(err(e)),
            })?;
        if now_copied > 0 && now_copied != copied {
            lite.file
                .sync_data()
                .map_err(|e| DbError::Other(e.to_string()))?;
        }
        Ok::<_, DbError>((c, frames, now_copied))
    })
    .await;
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
            Err(())
        }
        Err(_) => Err(()),
    }
}

pub(crate) struct LiteTx<'a> {
    g: tokio::sync::MutexGuard<'a, Connection>,
    done: bool,
}

impl LiteTx<'_> {
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.g
    }

    /// A failed `COMMIT` leaves the transaction open: it is rolled back on drop, so the
    /// connection is never handed on (to a writer or a reader) inside a transaction.
    pub(crate) fn commit(mut self) -> DbResult<()> {
        self.g.execute_batch("COMMIT").map_err(err)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for LiteTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.g.execute_batch("ROLLBACK");
        }
    }
}

/// Binds `$n` placeholders by their number (SQLite would number `$n` by first appearance).
fn bind(st: &mut Statement<'_>, q: &Query) -> DbResult<()> {
    for i in 1..=st.parameter_count() {
        let n = st
            .parameter_name(i)
            .and_then(|n| n.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(i);
        let v = q
            .args
            .get(n - 1)
            .ok_or_else(|| DbError::Other(format!("no argument for ${n} in: {}", q.sql)))?;
        match v {
            Val::Int(Some(x)) => st.raw_bind_parameter(i, x),
            Val::Text(Some(s)) => st.raw_bind_parameter(i, s.as_str()),
            Val::Int(None) | Val::Text(None) => st.raw_bind_parameter(i, rusqlite::types::Null),
        }
        .map_err(err)?;
    }
    Ok(())
}

pub(crate) fn fetch(c: &mut Connection, q: &Query) -> DbResult<Vec<Row>> {
    let mut st = c.prepare_cached(&q.sql).map_err(err)?;
    bind(&mut st, q)?;
    let cols: Arc<[String]> = st.column_names().into_iter().map(String::from).collect();
    let mut rows = st.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        let mut vals = Vec::with_capacity(cols.len());
        for i in 0..cols.len() {
            vals.push(match r.get_ref(i).map_err(err)? {
                ValueRef::Null => Val::Text(None),
                ValueRef::Integer(x) => Val::Int(Some(x)),
                ValueRef::Real(x) => Val::Int(Some(x as i64)),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Val::Text(Some(String::from_utf8_lossy(t).into_owned()))
                }
            });
        }
        out.push(Row {
            cols: cols.clone(),
            vals,
        });
    }
    Ok(out)
}

/// `fetch` of each of `qs` in one read transaction.
pub(crate) fn fetch_many(c: &mut Connection, qs: &[Query]) -> DbResult<Vec<Vec<Row>>> {
    // A deferred BEGIN: the snapshot is taken by the first read. A read connection is never in a
    // transaction between calls, nor is the writer while it is free (see `read`).
    c.prepare_cached("BEGIN")
        .and_then(|mut s| s.raw_execute())
        .map_err(err)?;
    let rows = qs.iter().map(|q| fetch(c, q)).collect::<DbResult<Vec<_>>>();
    // Ends the read whether or not the reads succeeded.
    let end = c.prepare_cached("COMMIT").and_then(|mut s| s.raw_execute());
    let rows = rows?;
    end.map_err(err)?;
    Ok(rows)
}

pub(crate) fn exec(c: &mut Connection, q: &Query) -> DbResult<u64> {
    let mut st = c.prepare_cached(&q.sql).map_err(err)?;
    bind(&mut st, q)?;
    Ok(st.raw_execute().map_err(err)? as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under writes that never pause, the WAL still starts over: its file stays a part of all
    /// that was written (a quarter or less; up to 27 % when other tests load the machine). With
    /// the background passes alone it held every frame: more than twice `written`, which counts
    /// one page per transaction where each writes at least two.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let plan = Checkpoints {
            every: Duration::from_millis(50),
            restart_at: 1000,
        };
        let lite = Lite::open_with(&path, plan).unwrap();
        {
            let w = lite.writer().await;
            w.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
                .unwrap();
        }
        let page = 4096 + 24;
        let mut written = 0u64;
        let until = std::time::Instant::now() + Duration::from_millis(1500);
        let mut i = 0u64;
        while std::time::Instant::now() < until {
            let mut tx = lite.begin().await.unwrap();
            let q = super::super::query("INSERT INTO t (k, v) VALUES ($1, $2)")
                .bind(format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
                .bind("x".repeat(200));
            exec(tx.conn(), &q).unwrap();
            tx.commit().unwrap();
            written += page;
            i += 1;
            tokio::task::yield_now().await;
        }
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        assert!(i > 1000, "too few writes to tell: {i}");
        assert!(
            wal < written / 2,
            "the WAL kept {wal} bytes of the {written} written in {i} transactions"
        );
    }
}
