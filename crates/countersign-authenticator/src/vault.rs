//! The vault: every account of one installation, encrypted with XChaCha20-Poly1305 under a key
//! derived from the App Lock PIN with Argon2id. The file is replaced atomically (temporary file,
//! fsync, rename, fsync of the directory), so a crash leaves either the old or the new vault.
//! Wrong PINs are counted in a small side file: after 10 in a row, each further try must wait,
//! longer every time. The key, the PIN and the decrypted accounts are zeroized after use.

use crate::account::Account;
use crate::protocol::DeviceAccount;
use argon2::{Algorithm as ArgonAlg, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

const VAULT_FILE: &str = "vault.json";
const ATTEMPTS_FILE: &str = "pin-attempts.json";
/// Wrong PINs in a row before waits begin.
pub const FREE_ATTEMPTS: u32 = 10;
/// The shortest PIN (digits only) the App Lock accepts.
pub const MIN_PIN_DIGITS: usize = 6;
/// The shortest passphrase (anything that is not only digits).
pub const MIN_PASSPHRASE_LEN: usize = 8;
/// Argon2id cost of a new vault: 128 MiB, 3 passes. One guess takes about 370 ms on the
/// development machine (2 cores; at least 355 ms of 5 runs), so the weakest PIN allowed, six
/// digits, takes about four days of one core to exhaust offline (README, "Security notes").
const KDF_M_KIB: u32 = 128 * 1024;
const KDF_T: u32 = 3;

/// Whether `pin` is strong enough for the App Lock: at least six digits, or a passphrase of at
/// least eight characters.
pub fn pin_is_strong_enough(pin: &str) -> bool {
    let n = pin.chars().count();
    if pin.chars().all(|c| c.is_ascii_digit()) {
        n >= MIN_PIN_DIGITS
    } else {
        n >= MIN_PASSPHRASE_LEN
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no vault in {0}; create one with `countersign-authenticator init`")]
    Missing(String),
    #[error("a vault already exists in {0}")]
    Exists(String),
    #[error("wrong PIN (or the vault file was modified); nothing was changed")]
    WrongPin,
    #[error("too many wrong PINs; try again in {0} seconds")]
    Wait(u64),
    #[error("the vault file is damaged or was tampered with; it was left untouched")]
    Tampered,
    #[error(
        "choose a PIN of at least {MIN_PIN_DIGITS} digits, or a passphrase of at least \
         {MIN_PASSPHRASE_LEN} characters"
    )]
    WeakPin,
    #[error("{0}")]
    Io(String),
}

fn io(e: std::io::Error) -> VaultError {
    VaultError::Io(e.to_string())
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct VaultFile {
    version: u32,
    kdf: KdfParams,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize, Default)]
struct Attempts {
    failures: u32,
    last_failure: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct Contents {
    accounts: Vec<Account>,
    /// Accounts registered for sign-in requests, with this device's key for each.
    #[serde(default)]
    devices: Vec<DeviceAccount>,
    /// Passkeys this app keeps (device-bound: never exported).
    #[serde(default)]
    passkeys: Vec<crate::passkeys::StoredPasskey>,
}

/// An unlocked vault.
pub struct Vault {
    home: PathBuf,
    key: Zeroizing<[u8; 32]>,
    kdf: KdfParams,
    pub accounts: Vec<Account>,
    pub devices: Vec<DeviceAccount>,
    pub passkeys: Vec<crate::passkeys::StoredPasskey>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn derive(pin: &str, kdf: &KdfParams) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let salt = STANDARD
        .decode(&kdf.salt)
        .map_err(|_| VaultError::Tampered)?;
    let params =
        Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32)).map_err(|_| VaultError::Tampered)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(ArgonAlg::Argon2id, Version::V0x13, params)
        .hash_password_into(pin.as_bytes(), &salt, key.as_mut())
        .map_err(|_| VaultError::Tampered)?;
    Ok(key)
}

/// The header is authenticated with the ciphertext, so its KDF parameters can't be swapped.
fn aad(version: u32, kdf: &KdfParams) -> Vec<u8> {
    format!(
        "countersign-vault/{version}/{}/{}/{}/{}/{}",
        kdf.alg, kdf.m_kib, kdf.t, kdf.p, kdf.salt
    )
    .into_bytes()
}

/// Writes `bytes` to `path` atomically, readable by this user only (0600 whatever the umask).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Vault {
    pub fn exists(home: &Path) -> bool {
        home.join(VAULT_FILE).exists()
    }

    /// Creates an empty vault locked by `pin`.
    pub fn create(home: &Path, pin: &str) -> Result<Vault, VaultError> {
        if !pin_is_strong_enough(pin) {
            return Err(VaultError::WeakPin);
        }
        if Self::exists(home) {
            return Err(VaultError::Exists(home.display().to_string()));
        }
        // The vault's directory is this user's alone (0700), like the files in it.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)
            .map_err(io)?;
        fs::set_permissions(home, fs::Permissions::from_mode(0o700)).map_err(io)?;
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let kdf = KdfParams {
            alg: "argon2id".into(),
            m_kib: KDF_M_KIB,
            t: KDF_T,
            p: 1,
            salt: STANDARD.encode(salt),
        };
        let key = derive(pin, &kdf)?;
        let v = Vault {
            home: home.to_path_buf(),
            key,
            kdf,
            accounts: Vec::new(),
            devices: Vec::new(),
            passkeys: Vec::new(),
        };
        v.save()?;
        Ok(v)
    }

    fn attempts(home: &Path) -> Attempts {
        fs::read(home.join(ATTEMPTS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Seconds to wait before the next PIN may be tried (0 when it may be tried now).
    pub fn wait_before_next_try(home: &Path) -> u64 {
        let a = Self::attempts(home);
        if a.failures < FREE_ATTEMPTS {
            return 0;
        }
        let wait = 30u64.saturating_mul(1 << (a.failures - FREE_ATTEMPTS).min(16));
        (a.last_failure + wait).saturating_sub(now())
    }

    /// Unlocks the vault with `pin`. A wrong PIN or a damaged file changes nothing in the vault.
    pub fn open(home: &Path, pin: &str) -> Result<Vault, VaultError> {
        let path = home.join(VAULT_FILE);
        let raw = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::Missing(home.display().to_string()))
            }
            Err(e) => return Err(io(e)),
        };
        let wait = Self::wait_before_next_try(home);
        if wait > 0 {
            return Err(VaultError::Wait(wait));
        }
        let file: VaultFile = serde_json::from_slice(&raw).map_err(|_| VaultError::Tampered)?;
        if file.version != 1 || file.kdf.alg != "argon2id" || file.kdf.m_kib < 8 * 1024 {
            return Err(VaultError::Tampered);
        }
        let key = derive(pin, &file.kdf)?;
        let nonce = STANDARD
            .decode(&file.nonce)
            .map_err(|_| VaultError::Tampered)?;
        let ct = STANDARD
            .decode(&file.ciphertext)
            .map_err(|_| VaultError::Tampered)?;
        if nonce.len() != 24 {
            return Err(VaultError::Tampered);
        }
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = match cipher.decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: &aad(file.version, &file.kdf),
            },
        ) {
            Ok(p) => Zeroizing::new(p),
            Err(_) => {
                // AEAD cannot tell a wrong PIN from a modified file: both are counted as a wrong
                // PIN, and the file is never touched.
                let mut a = Self::attempts(home);
                a.failures += 1;
                a.last_failure = now();
                let _ = write_atomic(
                    &home.join(ATTEMPTS_FILE),
                    &serde_json::to_vec(&a).unwrap_or_default(),
                );
                return Err(VaultError::WrongPin);
            }
        };
        let contents: Contents =
            serde_json::from_slice(&plain).map_err(|_| VaultError::Tampered)?;
        if Self::attempts(home).failures > 0 {
            let _ = fs::remove_file(home.join(ATTEMPTS_FILE));
        }
        Ok(Vault {
            home: home.to_path_buf(),
            key,
            kdf: file.kdf,
            accounts: contents.accounts,
            devices: contents.devices,
            passkeys: contents.passkeys,
        })
    }

    /// Encrypts and writes the vault (a fresh nonce every time).
    pub fn save(&self) -> Result<(), VaultError> {
        let contents = Contents {
            accounts: self.accounts.clone(),
            devices: self.devices.clone(),
            passkeys: self.passkeys.clone(),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&contents).map_err(|e| VaultError::Io(e.to_string()))?,
        );
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(self.key.as_ref().into());
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &aad(1, &self.kdf),
                },
            )
            .map_err(|_| VaultError::Io("encryption failed".into()))?;
        let file = VaultFile {
            version: 1,
            kdf: KdfParams {
                alg: self.kdf.alg.clone(),
                m_kib: self.kdf.m_kib,
                t: self.kdf.t,
                p: self.kdf.p,
                salt: self.kdf.salt.clone(),
            },
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ct),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| VaultError::Io(e.to_string()))?;
        write_atomic(&self.home.join(VAULT_FILE), &bytes)
    }

    /// Re-encrypts the vault under a new PIN (new salt, new key).
    pub fn change_pin(&mut self, new_pin: &str) -> Result<(), VaultError> {
        if !pin_is_strong_enough(new_pin) {
            return Err(VaultError::WeakPin);
        }
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        self.kdf.salt = STANDARD.encode(salt);
        // A vault made by an older version gets today's cost with its new PIN.
        self.kdf.m_kib = self.kdf.m_kib.max(KDF_M_KIB);
        self.kdf.t = self.kdf.t.max(KDF_T);
        self.key = derive(new_pin, &self.kdf)?;
        self.save()
    }

    /// Adds code accounts, leaving out each the app holds already — the same issuer, name and
    /// secret: the same QR code or link added twice would show one account twice. Returns the
    /// labels of those added and of those left out.
    pub fn add_accounts(&mut self, new: Vec<Account>) -> (Vec<String>, Vec<String>) {
        let (mut added, mut kept) = (Vec::new(), Vec::new());
        for a in new {
            let same =
                |o: &Account| o.issuer == a.issuer && o.name == a.name && o.secret == a.secret;
            if self.accounts.iter().any(same) {
                kept.push(a.label());
            } else {
                added.push(a.label());
                self.accounts.push(a);
            }
        }
        (added, kept)
    }

    /// Finds an account by id, exact label, issuer or name (case-insensitive).
    pub fn find(&mut self, key: &str) -> Option<&mut Account> {
        let k = key.to_lowercase();
        let matches: Vec<usize> = self
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.id == key
                    || a.label().to_lowercase() == k
                    || a.name.to_lowercase() == k
                    || a.issuer.to_lowercase() == k
            })
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [i] => self.accounts.get_mut(*i),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{Algorithm, Kind};

    fn acct(name: &str) -> Account {
        Account {
            id: name.into(),
            issuer: "GitHub".into(),
            name: name.into(),
            secret: b"12345678901234567890".to_vec(),
            algorithm: Algorithm::Sha1,
            digits: 6,
            kind: Kind::Totp { period: 30 },
        }
    }

    /// The vault and its directory are this user's alone, whatever the umask.
    #[test]
    fn vault_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        let mut v = Vault::create(&home, "246810").unwrap();
        v.accounts.push(acct("octocat"));
        v.save().unwrap();
        let _ = Vault::open(&home, "135799"); // a wrong PIN writes the attempts file
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        let files: Vec<_> = fs::read_dir(&home)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(files.len() >= 2, "{files:?}");
        for f in files {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn an_account_added_twice_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vault::create(dir.path(), "246810").unwrap();
        let (added, kept) = v.add_accounts(vec![acct("octocat")]);
        assert_eq!((added.len(), kept.len()), (1, 0));
        // Another name with the same secret is another account.
        let other = acct("hubot");
        let (added, kept) = v.add_accounts(vec![acct("octocat"), other]);
        assert_eq!(added, ["GitHub (hubot)"]);
        assert_eq!(kept, ["GitHub (octocat)"]);
        assert_eq!(v.accounts.len(), 2);
    }

    #[test]
    fn roundtrip_and_wrong_pin() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vault::create(dir.path(), "246810").unwrap();
        v.accounts.push(acct("octocat"));
        v.save().unwrap();
        let raw = fs::read_to_string(dir.path().join(VAULT_FILE)).unwrap();
        assert!(
            !raw.contains("octocat") && !raw.contains("GEZDGNBV"),
            "encrypted at rest"
        );
        assert!(matches!(
            Vault::open(dir.path(), "135799"),
            Err(VaultError::WrongPin)
        ));
        assert_eq!(
            fs::read_to_string(dir.path().join(VAULT_FILE)).unwrap(),
            raw,
            "untouched"
        );
        let v = Vault::open(dir.path(), "246810").unwrap();
        assert_eq!(v.accounts, vec![acct("octocat")]);
        assert!(matches!(
            Vault::create(dir.path(), "246810"),
            Err(VaultError::Exists(_))
        ));
        assert!(matches!(
            Vault::create(&dir.path().join("x"), "12"),
            Err(VaultError::WeakPin)
        ));
    }

    #[test]
    fn tampering_is_detected_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vault::create(dir.path(), "246810").unwrap();
        v.accounts.push(acct("octocat"));
        v.save().unwrap();
        let path = dir.path().join(VAULT_FILE);
        let good = fs::read(&path).unwrap();
        let mut file: serde_json::Value = serde_json::from_slice(&good).unwrap();
        // flip one byte of the ciphertext
        let mut ct = STANDARD
            .decode(file["ciphertext"].as_str().unwrap())
            .unwrap();
        ct[3] ^= 1;
        file["ciphertext"] = STANDARD.encode(ct).into();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(Vault::open(dir.path(), "246810").is_err());
        // weakening the KDF in the header is caught too
        let mut file: serde_json::Value = serde_json::from_slice(&good).unwrap();
        file["kdf"]["t"] = 1.into();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(Vault::open(dir.path(), "246810").is_err());
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            Vault::open(dir.path(), "246810"),
            Err(VaultError::Tampered)
        ));
        fs::write(&path, &good).unwrap();
        fs::remove_file(dir.path().join(ATTEMPTS_FILE)).ok();
        assert_eq!(Vault::open(dir.path(), "246810").unwrap().accounts.len(), 1);
    }

    #[test]
    fn ten_wrong_pins_then_growing_waits() {
        let dir = tempfile::tempdir().unwrap();
        Vault::create(dir.path(), "246810").unwrap();
        for _ in 0..FREE_ATTEMPTS {
            assert!(matches!(
                Vault::open(dir.path(), "0000"),
                Err(VaultError::WrongPin)
            ));
        }
        // even the right PIN must wait now
        match Vault::open(dir.path(), "246810") {
            Err(VaultError::Wait(s)) => assert!((1..=30).contains(&s), "{s}"),
            other => panic!("expected a wait, got {:?}", other.err()),
        }
        // pretend the wait is over; one more wrong PIN doubles the next wait
        let mut a = Vault::attempts(dir.path());
        a.last_failure -= 31;
        write_atomic(
            &dir.path().join(ATTEMPTS_FILE),
            &serde_json::to_vec(&a).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            Vault::open(dir.path(), "0000"),
            Err(VaultError::WrongPin)
        ));
        assert!(Vault::wait_before_next_try(dir.path()) > 30);
        let mut a = Vault::attempts(dir.path());
        a.last_failure -= 61;
        write_atomic(
            &dir.path().join(ATTEMPTS_FILE),
            &serde_json::to_vec(&a).unwrap(),
        )
        .unwrap();
        assert!(Vault::open(dir.path(), "246810").is_ok());
        assert_eq!(
            Vault::wait_before_next_try(dir.path()),
            0,
            "reset after success"
        );
    }

    #[test]
    fn the_app_lock_needs_six_digits_or_a_passphrase() {
        for weak in ["", "2468", "24681", "abc", "correct"] {
            assert!(!pin_is_strong_enough(weak), "{weak}");
        }
        for ok in ["246810", "0000000", "correct horse", "pässwört"] {
            assert!(pin_is_strong_enough(ok), "{ok}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Vault::create(dir.path(), "2468"),
            Err(VaultError::WeakPin)
        ));
    }

    #[test]
    fn change_pin() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vault::create(dir.path(), "246810").unwrap();
        v.change_pin("975310").unwrap();
        assert!(Vault::open(dir.path(), "246810").is_err());
        assert!(Vault::open(dir.path(), "975310").is_ok());
    }
}
