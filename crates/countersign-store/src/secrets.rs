//! Secrets at rest: the signing keys' private halves and the OATH seeds are sealed in the database
//! with XChaCha20-Poly1305 under a key kept outside it, in the secrets key file
//! (`secrets_key_file`, mode 0600), so that a database dump or backup alone reveals no secret.
//!
//! The file holds one key per line, `<id> <base64 key>`; the first seals new secrets, every key
//! opens what it sealed. A sealed value is `cs1:<key id>:<base64(nonce ‖ ciphertext)>`, and its
//! associated data names the row it belongs to, so a sealed value moved to another row does not
//! open. Rotation: `new_key` puts a fresh key first, `SqlStore::reseal_all` moves every secret to
//! it, and a key no secret uses any more can be deleted from the file. A running server rereads
//! the file when it changes (checked at most every `RELOAD_EVERY`) and when it meets a key id it
//! does not know, so the admin CLI can rotate keys beside it.

use crate::private_fs;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use countersign_core::StoreError;
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};
use zeroize::Zeroizing;

/// The prefix of a sealed value (format version 1).
pub const SEALED_PREFIX: &str = "cs1:";
const RELOAD_EVERY: Duration = Duration::from_secs(30);
const HEADER: &str =
    "# Countersign secrets key file. It opens the signing keys and verification-code seeds\n\
# sealed in the database: keep it out of database backups and back it up on its own. The first\n\
# key seals new secrets; the others still open what they sealed.\n";

type R<T> = Result<T, StoreError>;

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

struct Loaded {
    keys: Vec<Key>,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// Seals and opens secrets under the keys of the secrets key file.
pub struct Sealer {
    path: Option<PathBuf>,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("path", &self.path).finish()
    }
}

fn err(msg: impl Into<String>) -> StoreError {
    StoreError::Backend(msg.into())
}

fn new_key_line() -> String {
    let mut id = [0u8; 4];
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    format!(
        "k{} {}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        STANDARD.encode(key.as_ref())
    )
}

fn parse(path: &Path, text: &str) -> R<Vec<Key>> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| err(format!("{} line {}: {what}", path.display(), n + 1));
        let (id, b64) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected '<key id> <base64 key>'"))?;
        let raw = Zeroizing::new(
            STANDARD
                .decode(b64.trim())
                .map_err(|_| bad("the key is not base64"))?,
        );
        if raw.len() != 32 || id.is_empty() || id.contains(':') {
            return Err(bad("a key is 32 bytes, its id has no ':'"));
        }
        if keys.iter().any(|k: &Key| k.id == id) {
            return Err(bad("the key id is used twice"));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&raw).map_err(|_| bad("bad key"))?;
        keys.push(Key {
            id: id.to_string(),
            cipher,
        });
    }
    if keys.is_empty() {
        return Err(err(format!("{} holds no key", path.display())));
    }
    Ok(keys)
}

fn read(path: &Path) -> R<Loaded> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        err(format!(
            "cannot read the secrets key file {}: {e}",
            path.display()
        ))
    })?);
    Ok(Loaded {
        keys: parse(path, &text)?,
        modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        checked: Instant::now(),
    })
}

impl Sealer {
    /// Loads an existing key file, made private (0600) first if others could read it.
    pub fn load(path: &Path) -> R<Self> {
        private_fs::tighten(path, 0o600);
        Ok(Self {
            path: Some(path.to_path_buf()),
            loaded: RwLock::new(read(path)?),
        })
    }

    /// Creates a key file with one new key (mode 0600; its directory 0700 when created here, an
    /// existing one left as it is).
    pub fn create(path: &Path) -> R<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_fs::create_missing_dir(dir)?;
        }
        private_fs::write_new(path, format!("{HEADER}{}\n", new_key_line()).as_bytes())?;
        Self::load(path)
    }

    /// A key that lives only in memory: for tests, never for data that must outlive the process.
    pub fn ephemeral() -> Self {
        let line = new_key_line();
        Self {
            path: None,
            loaded: RwLock::new(Loaded {
                keys: parse(Path::new("(memory)"), &line).expect("a fresh key parses"),
                modified: None,
                checked: Instant::now(),
            }),
        }
    }

    /// Adds a new key at the top of the key file, where it seals new secrets; the older keys stay
    /// to open what they sealed. Returns the new key's id.
    pub fn new_key(path: &Path) -> R<String> {
        let old = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            err(format!(
                "cannot read the secrets key file {}: {e}",
                path.display()
            ))
        })?);
        parse(path, &old)?;
        let line = new_key_line();
        let id = line.split(' ').next().unwrap_or_default().to_string();
        let rest: String = old
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        private_fs::replace(path, format!("{HEADER}{line}\n{rest}").as_bytes())?;
        Ok(id)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The id of the key that seals new secrets.
    pub fn primary_id(&self) -> String {
        self.maybe_reload(false);
        self.read().keys[0].id.clone()
    }

    /// The ids of every key in the file, the primary first.
    pub fn key_ids(&self) -> Vec<String> {
        self.read().keys.iter().map(|k| k.id.clone()).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Rereads the key file if it changed (checked at most every `RELOAD_EVERY` unless `now`).
    fn maybe_reload(&self, now: bool) {
        let Some(path) = &self.path else { return };
        if !now && self.read().checked.elapsed() < RELOAD_EVERY {
            return;
        }
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut l = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        l.checked = Instant::now();
        if modified == l.modified && !now {
            return;
        }
        match read(path) {
            Ok(fresh) => *l = fresh,
            Err(e) => tracing::error!(error = %e, "rereading the secrets key file failed"),
        }
    }

    /// Seals `plain` under the primary key, bound to `aad` (which row it belongs to).
    pub fn seal(&self, plain: &str, aad: &str) -> String {
        self.maybe_reload(false);
        let l = self.read();
        let key = &l.keys[0];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length we store");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}:{}", key.id, STANDARD.encode(blob))
    }

    /// Opens a sealed value of the row `aad`. A value without the prefix was stored before
    /// sealing existed and is returned as it is (`SqlStore::open` seals such rows at start).
    pub fn open(&self, stored: &str, aad: &str) -> R<String> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_string());
        };
        let (id, b64) = rest
            .split_once(':')
            .ok_or_else(|| err("a sealed secret is malformed"))?;
        if !self.read().keys.iter().any(|k| k.id == id) {
            // Perhaps sealed by another process under a key added since: reread the file.
            self.maybe_reload(true);
        }
        let l = self.read();
        let key = l.keys.iter().find(|k| k.id == id).ok_or_else(|| {
            err(format!(
                "a secret is sealed under key {id}, which is not in the secrets key file{}",
                self.path
                    .as_ref()
                    .map(|p| format!(" {}", p.display()))
                    .unwrap_or_default()
            ))
        })?;
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| err("a sealed secret is malformed"))?;
        if blob.len() < 24 {
            return Err(err("a sealed secret is malformed"));
        }
        let (nonce, ct) = blob.split_at(24);
        let plain = Zeroizing::new(
            key.cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| {
                    err(format!(
                        "a secret sealed under key {id} does not open: it was altered or moved"
                    ))
                })?,
        );
        String::from_utf8(plain.to_vec()).map_err(|_| err("a sealed secret is not text"))
    }
}

/// The key id a stored value is sealed under (`None`: stored in clear).
pub fn sealed_key_id(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(SEALED_PREFIX)
        .and_then(|r| r.split_once(':'))
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_only_for_their_row_and_key() {
        let s = Sealer::ephemeral();
        let sealed = s.seal("JBSWY3DPEHPK3PXP", "oath_tokens:t1");
        assert!(sealed.starts_with(SEALED_PREFIX) && !sealed.contains("JBSWY3DP"));
        assert_eq!(
            s.open(&sealed, "oath_tokens:t1").unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
        assert!(
            s.open(&sealed, "oath_tokens:t2").is_err(),
            "moved to another row"
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.open(&tampered, "oath_tokens:t1").is_err());
        assert!(
            Sealer::ephemeral().open(&sealed, "oath_tokens:t1").is_err(),
            "another key"
        );
        assert_eq!(s.open("legacy-clear", "x").unwrap(), "legacy-clear");
        assert_eq!(sealed_key_id(&sealed), Some(s.primary_id().as_str()));
    }

    /// A key file put in an existing directory of the operator's (`/etc/countersign`) leaves
    /// that directory as it was; a key file others can read is made private when loaded.
    #[test]
    fn an_existing_directory_is_left_alone_and_a_readable_key_file_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = etc.join("secrets.key");
        Sealer::create(&path).unwrap();
        assert_eq!((mode(&etc), mode(&path)), (0o755, 0o600));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Sealer::load(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn key_files_are_private_rotate_and_reload() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("secrets.key");
        let a = Sealer::create(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(
            Sealer::create(&path).is_err(),
            "never overwrites a key file"
        );
        let old = a.seal("seed", "row");
        let id = Sealer::new_key(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        let b = Sealer::load(&path).unwrap();
        assert_eq!(b.primary_id(), id);
        assert_eq!(b.key_ids().len(), 2);
        assert_eq!(
            b.open(&old, "row").unwrap(),
            "seed",
            "older keys still open"
        );
        // `a` has not reread the file yet, but meets the new key id and rereads it
        let new = b.seal("seed2", "row");
        assert_eq!(a.open(&new, "row").unwrap(), "seed2");
        for bad in [
            "",
            "# nothing\n",
            "k1 notbase64!\n",
            "k1 AAAA\n",
            "k1:x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(Sealer::load(&path).is_err(), "{bad:?}");
        }
    }
}
