//! Notifications between server instances sharing one PostgreSQL database (LISTEN/NOTIFY): what
//! one instance publishes, the others receive. The channel's name includes the schema, so
//! deployments (and parallel tests) in other schemas of the same database never hear each
//! other. SQLite serves one instance, and has no bus.

use crate::db::pg::err;
use countersign_core::StoreError;

/// The longest channel name PostgreSQL keeps (longer identifiers are truncated).
const MAX_NAME: usize = 63;

/// A PostgreSQL notification channel of one schema.
#[derive(Clone)]
pub struct Bus {
    pool: sqlx::PgPool,
    channel: String,
}

/// The channel of `schema` for `topic`: `countersign_{topic}_{schema}`, or its digest when that
/// would be too long to be told apart.
pub(crate) fn channel_name(topic: &str, schema: &str) -> String {
    let name = format!("countersign_{topic}_{schema}");
    if name.len() <= MAX_NAME {
        return name;
    }
    let digest = countersign_core::secret::token_digest(&name);
    format!("countersign_{topic}_{}", &digest[..32])
}

impl Bus {
    pub(crate) fn new(pool: sqlx::PgPool, topic: &str, schema: &str) -> Self {
        Self {
            pool,
            channel: channel_name(topic, schema),
        }
    }

    /// Sends `payload` (at most about 8000 bytes) to every listener of the channel.
    pub async fn notify(&self, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from(err(e)))?;
        Ok(())
    }

    /// Starts listening (on a connection of its own).
    pub async fn listen(&self) -> Result<Listener, StoreError> {
        let mut l = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(|e| StoreError::from(err(e)))?;
        l.listen(&self.channel)
            .await
            .map_err(|e| StoreError::from(err(e)))?;
        Ok(Listener(l))
    }
}

pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// The next payload. A lost connection is opened again (notifications sent meanwhile are
    /// lost: listeners treat them as hints and read the store).
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        let n = self.0.recv().await.map_err(|e| StoreError::from(err(e)))?;
        Ok(n.payload().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_include_the_schema_and_fit() {
        assert_eq!(channel_name("push", "cs_t1"), "countersign_push_cs_t1");
        let long = "s".repeat(80);
        let a = channel_name("push", &long);
        assert!(a.len() <= MAX_NAME);
        assert_ne!(a, channel_name("push", &"t".repeat(80)));
    }
}
