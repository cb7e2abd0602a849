//! Which stored columns are secrets, and keeping them sealed (see `secrets`): sealing on write,
//! opening on read, sealing what an earlier version stored in clear, moving every secret to the
//! primary key (rotation), and counting secrets per key for `admin secrets status`.

use crate::db::query;
use crate::rows::R;
use crate::secrets::{sealed_key_id, Sealer, SEALED_PREFIX};
use crate::{KeyFile, SqlStore};
use countersign_core::StoreError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The columns that hold secrets: (table, id column, secret column).
const SEALED: [(&str, &str, &str); 2] = [
    ("oath_tokens", "id", "secret"),
    ("signing_keys", "kid", "private_pkcs8"),
];

/// How the secrets in the database stand (`admin secrets status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsStatus {
    pub file: Option<PathBuf>,
    /// The key that seals new secrets.
    pub primary: String,
    /// Every key of the file, the primary first.
    pub keys: Vec<String>,
    /// Secrets sealed under each key id (a key no secret uses can go from the file).
    pub by_key: BTreeMap<String, u64>,
    /// Secrets still in clear (none once the server has started).
    pub in_clear: u64,
}

fn aad(table: &str, id: &str) -> String {
    format!("{table}:{id}")
}

impl SqlStore {
    pub(crate) fn seal(&self, table: &str, id: &str, plain: &str) -> String {
        self.sealer.seal(plain, &aad(table, id))
    }

    pub(crate) fn unseal(&self, table: &str, id: &str, stored: &str) -> R<String> {
        self.sealer.open(stored, &aad(table, id))
    }

    /// The sealer for `key`; a missing key file is created, unless sealed secrets exist already.
    pub(crate) async fn sealer_for(&self, key: KeyFile) -> R<Sealer> {
        let path = match key {
            KeyFile::Ephemeral => return Ok(Sealer::ephemeral()),
            KeyFile::Path(p) => p,
        };
        if path.exists() {
            return Sealer::load(&path);
        }
        for (table, _, col) in SEALED {
            let sql = format!("SELECT {col} FROM {table} WHERE substr({col}, 1, 4) = $1 LIMIT 1");
            if let Some(row) = query(&sql).bind(SEALED_PREFIX).fetch_opt(&self.db).await? {
                let stored: String = row.first()?;
                return Err(StoreError::Backend(format!(
                    "secrets_key_file {} does not exist, but the database holds secrets sealed \
                     under key {}: restore that file (from its backup, or from another instance) \
                     — a new key could never open them",
                    path.display(),
                    sealed_key_id(&stored).unwrap_or("?")
                )));
            }
        }
        tracing::info!(path = %path.display(), "created the secrets key file");
        Sealer::create(&path)
    }

    /// Each key of the file opens what the database says it sealed: a few secrets under each are
    /// opened. When none opens, the key file is the wrong one (another deployment's, or a key
    /// whose bytes were changed) — told as that, not as an altered database, which it would be
    /// if only some did not open.
    pub(crate) async fn check_keys(&self) -> R<()> {
        for id in self.sealer.key_ids() {
            let prefix = format!("{SEALED_PREFIX}{id}:");
            let mut tried = 0;
            for (table, id_col, col) in SEALED {
                let sql = format!(
                    "SELECT {id_col} AS id, {col} AS c FROM {table} \
                     WHERE substr({col}, 1, CAST($2 AS INTEGER)) = $1 LIMIT 3"
                );
                let q = query(&sql).bind(prefix.as_str()).bind(prefix.len() as i64);
                for row in q.fetch_all(&self.db).await? {
                    let (row_id, stored): (String, String) = (row.get("id")?, row.get("c")?);
                    if self.unseal(table, &row_id, &stored).is_ok() {
                        return Ok(());
                    }
                    tried += 1;
                }
            }
            if tried > 0 {
                return Err(StoreError::Backend(format!(
                    "the secrets key file{} has a key {id} that opens none of the secrets \
                     sealed under {id}: it is not the key file this database was sealed with \
                     (restore the right file, from its backup or from another instance)",
                    self.sealer
                        .path()
                        .map(|p| format!(" {}", p.display()))
                        .unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Seals under the primary key every secret stored in clear and, with `every`, every secret
    /// sealed under another key too; in one transaction. Returns how many were sealed anew.
    pub async fn reseal_all(&self, every: bool) -> R<u64> {
        let primary = self.sealer.primary_id();
        let mut tx = self.db.begin().await?;
        let mut n = 0;
        for (table, id_col, col) in SEALED {
            let filter = if every {
                String::new()
            } else {
                format!(" WHERE substr({col}, 1, 4) <> $1")
            };
            let sql = format!("SELECT {id_col} AS id, {col} AS c FROM {table}{filter}");
            let mut q = query(&sql);
            if !every {
                q = q.bind(SEALED_PREFIX);
            }
            for row in tx.fetch_all(q).await? {
                let id: String = row.get("id")?;
                let stored: String = row.get("c")?;
                if sealed_key_id(&stored) == Some(primary.as_str()) {
                    continue;
                }
                let plain = zeroize::Zeroizing::new(self.unseal(table, &id, &stored)?);
                let sealed = self.seal(table, &id, &plain);
                query(&format!(
                    "UPDATE {table} SET {col} = $2 WHERE {id_col} = $1"
                ))
                .bind(id)
                .bind(sealed)
                .execute_in(&mut tx)
                .await?;
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Secrets per key, and the key file's keys.
    pub async fn secrets_status(&self) -> R<SecretsStatus> {
        let mut by_key = BTreeMap::new();
        let mut in_clear = 0;
        for (table, _, col) in SEALED {
            let sql = format!("SELECT {col} FROM {table}");
            for row in query(&sql).fetch_all(&self.db).await? {
                let stored: String = row.first()?;
                match sealed_key_id(&stored) {
                    Some(id) => *by_key.entry(id.to_string()).or_insert(0) += 1,
                    None => in_clear += 1,
                }
            }
        }
        Ok(SecretsStatus {
            file: self.sealer.path().map(PathBuf::from),
            primary: self.sealer.primary_id(),
            keys: self.sealer.key_ids(),
            by_key,
            in_clear,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_core::methods::oath::{OathAlgorithm, OathToken, StepFailures};
    use countersign_core::model::{OathKind, SigningAlg, SigningKey};
    use countersign_core::secret::Secret;
    use countersign_core::store::*;
    use std::os::unix::fs::PermissionsExt;

    const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-not-a-real-key";

    async fn with_secrets(s: &SqlStore) {
        s.db.batch(
            "INSERT INTO tenants (id, name, display_name, created_at) VALUES ('t1', 'c', 'C', 0); \
             INSERT INTO users (id, tenant_id, upn, display_name, enabled, created_at, updated_at) \
             VALUES ('u1', 't1', 'a@c.com', 'A', 1, 0, 0)",
        )
        .await
        .unwrap();
        let token = OathToken {
            id: "o1".into(),
            tenant_id: "t1".into(),
            user_id: "u1".into(),
            kind: OathKind::Software,
            name: "Authenticator app".into(),
            serial: None,
            manufacturer: None,
            model: None,
            secret: Secret::new(SEED.to_string()),
            algorithm: OathAlgorithm::Sha1,
            digits: 6,
            period: 30,
            active: true,
            created_at: 0,
            last_used_at: None,
            last_step: 0,
            failures: StepFailures::default(),
        };
        s.insert_oath_tokens(&[token]).await.unwrap();
        let key = SigningKey {
            kid: "k1".into(),
            alg: SigningAlg::ES256,
            private_pkcs8: Secret::new(PKCS8.to_string()),
            created_at: 0,
            retired_at: None,
        };
        s.insert_signing_key(&key).await.unwrap();
    }

    /// The store hands back the seed and the private key as they were stored.
    async fn opens(s: &SqlStore) {
        let seed = &s.oath_tokens_of_user("u1").await.unwrap()[0].secret;
        assert_eq!(seed.expose(), SEED);
        let key = &s.list_signing_keys().await.unwrap()[0].private_pkcs8;
        assert_eq!(key.expose(), PKCS8);
    }

    async fn stored(s: &SqlStore, table: &str, col: &str) -> String {
        query(&format!("SELECT {col} FROM {table}"))
            .fetch_opt(&s.db)
            .await
            .unwrap()
            .unwrap()
            .first()
            .unwrap()
    }

    /// What reaches the database file is sealed: neither the seed nor the private key is in the
    /// files, while the store hands both back; the files are private.
    #[tokio::test]
    async fn secrets_reach_the_database_sealed_and_its_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let s = SqlStore::open_sqlite(&data).await.unwrap();
        with_secrets(&s).await;
        assert!(stored(&s, "oath_tokens", "secret")
            .await
            .starts_with(SEALED_PREFIX));
        assert!(stored(&s, "signing_keys", "private_pkcs8")
            .await
            .starts_with(SEALED_PREFIX));
        opens(&s).await;
        s.close().await;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        for f in std::fs::read_dir(&data).unwrap() {
            let f = f.unwrap().path();
            assert_eq!(mode(&f), 0o600, "{}", f.display());
            let bytes = std::fs::read(&f).unwrap();
            for secret in [SEED, PKCS8] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds a secret in clear",
                    f.display()
                );
            }
        }
    }

    /// Rows stored in clear by an earlier version are sealed at start; a missing key file is
    /// refused once sealed secrets exist; rotation moves every secret to the new key.
    #[tokio::test]
    async fn clear_rows_are_sealed_at_start_and_keys_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqlStore::open_sqlite(dir.path()).await.unwrap();
        with_secrets(&s).await;
        // as an earlier version stored them
        s.db.batch(&format!(
            "UPDATE oath_tokens SET secret = '{SEED}'; UPDATE signing_keys SET private_pkcs8 = '{PKCS8}'"
        ))
        .await
        .unwrap();
        assert_eq!(s.secrets_status().await.unwrap().in_clear, 2);
        s.close().await;
        let s = SqlStore::open_sqlite(dir.path()).await.unwrap();
        let st = s.secrets_status().await.unwrap();
        assert_eq!(
            (st.in_clear, st.by_key.get(&st.primary).copied()),
            (0, Some(2))
        );
        opens(&s).await;
        s.close().await;

        let key_file = dir.path().join("secrets.key");
        let saved = std::fs::read(&key_file).unwrap();
        std::fs::remove_file(&key_file).unwrap();
        let e = SqlStore::open_sqlite(dir.path())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("does not exist") && e.contains(&st.primary),
            "{e}"
        );
        assert!(!key_file.exists(), "no new key was made");
        std::fs::write(&key_file, saved).unwrap();

        let new = Sealer::new_key(&key_file).unwrap();
        let s = SqlStore::open_sqlite(dir.path()).await.unwrap();
        assert_eq!(s.reseal_all(true).await.unwrap(), 2);
        let st2 = s.secrets_status().await.unwrap();
        assert_eq!(st2.primary, new);
        assert_eq!(st2.by_key.get(&new).copied(), Some(2));
        assert_eq!(
            st2.by_key.get(&st.primary),
            None,
            "the old key seals nothing now"
        );
        opens(&s).await;
        s.close().await;
    }
}
