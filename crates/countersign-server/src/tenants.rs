//! A short-lived in-memory cache of tenants by name: every request names its tenant, and tenants
//! change rarely. Entries live five seconds, so changes made by `countersign admin` (another
//! process) show up promptly.

use countersign_core::model::Tenant;
use countersign_core::store::*;
use countersign_core::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(5);

/// A tenant (or its known absence) and when it was read.
type Entry = (Option<Tenant>, Instant);

#[derive(Clone, Default)]
pub(crate) struct TenantCache(Arc<Mutex<HashMap<String, Entry>>>);

impl TenantCache {
    pub(crate) async fn get(
        &self,
        store: &dyn Store,
        name: &str,
    ) -> Result<Option<Tenant>, StoreError> {
        if let Some((t, at)) = crate::sync::lock(&self.0).get(name) {
            if at.elapsed() < TTL {
                return Ok(t.clone());
            }
        }
        // Names that are not tenant-shaped never reach the store (and never fill the cache).
        if name.len() > 63 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Ok(None);
        }
        let t = store.tenant_by_name(name).await?;
        let mut map = crate::sync::lock(&self.0);
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(name.to_string(), (t.clone(), Instant::now()));
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_store::{KeyFile, SqlStore};

    /// A request that panicked while holding the cache's lock leaves it usable for the next.
    #[tokio::test]
    async fn a_poisoned_cache_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open_sqlite_with(dir.path(), KeyFile::Ephemeral)
            .await
            .unwrap();
        let cache = TenantCache::default();
        let inner = cache.0.clone();
        let _ = std::thread::spawn(move || {
            let _g = inner.lock().unwrap();
            panic!("a request failed while holding the tenant cache");
        })
        .join();
        assert!(cache.0.is_poisoned());
        assert_eq!(cache.get(&store, "contoso").await.unwrap(), None);
    }
}
