//! The sign-in log is written by one background task in batches: under a password-spraying flood
//! every refused attempt is still logged, but as one transaction per batch instead of one commit
//! per attempt. Rows go in one prepared statement each (measured faster here than multi-row
//! INSERTs, whose varying size defeats the statement cache). Entries reach the database within
//! moments; reading the log flushes first. An entry
//! queued when the process is killed may be lost — the trade-off for not letting an attacker turn
//! the log into a write amplifier.

use crate::db::{query, Db, DbResult};
use crate::rows;
use countersign_core::model::SignInLogEntry;
use tokio::sync::{mpsc, oneshot};

const BATCH: usize = 256;
const QUEUE: usize = 8192;

enum Msg {
    Entry(SignInLogEntry),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(crate) struct LogWriter {
    tx: mpsc::Sender<Msg>,
}

impl LogWriter {
    pub(crate) fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx));
        Self { tx }
    }

    /// Queues an entry; waits only when the queue is full (back-pressure).
    pub(crate) async fn append(&self, e: SignInLogEntry) -> bool {
        self.tx.send(Msg::Entry(e)).await.is_ok()
    }

    /// Returns once everything queued before the call is in the database.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Msg>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Entry(e) => batch.push(e),
                Msg::Flush(w) => waiters.push(w),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = write(&db, &batch).await {
                tracing::error!(error = %e, lost = batch.len(), "writing the sign-in log failed");
            }
            batch.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

async fn write(db: &Db, batch: &[SignInLogEntry]) -> DbResult<()> {
    let mut tx = db.begin().await?;
    let sql = format!(
        "INSERT INTO signin_log ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        rows::SIGNIN_COLS
    );
    for e in batch {
        tx.exec(
            query(&sql)
                .bind(&e.id)
                .bind(&e.tenant_id)
                .bind(e.at)
                .bind(&e.user_id)
                .bind(&e.typed_name)
                .bind(&e.client_id)
                .bind(&e.client_addr)
                .bind(&e.method)
                .bind(e.result.as_str())
                .bind(&e.failure_reason),
        )
        .await?;
    }
    tx.commit().await
}
