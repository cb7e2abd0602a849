//! Passwords: the acceptance policy (NIST SP 800-63B §3.1.1.2: 8 to 256 characters, no composition
//! rules, refuse known-common ones) and Argon2id hashing at OWASP's minimum parameters
//! (m = 19 MiB, t = 2, p = 1; OWASP Password Storage Cheat Sheet).

use crate::error::{CoreError, CoreResult};
use crate::random::Rng;
use crate::secret::Secret;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::OnceLock;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;
/// Inputs longer than this are refused before any hashing, at sign-in too.
pub const HARD_MAX_BYTES: usize = 4096;

const BLOCKLIST: &str = include_str!("blocklist.txt");

fn blocklist() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        BLOCKLIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Undo the usual decorations of a weak password ("P@ssw0rd123!" → "password") so that the
/// blocklist catches its variants too.
fn base_word(password: &str) -> String {
    let lowered: String = password
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            c => c,
        })
        .collect();
    let original = password.to_lowercase();
    // Strip trailing digits/punctuation from the original (so "password2024!" → "password").
    let trimmed_len = original
        .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
        .chars()
        .count();
    lowered.chars().take(trimmed_len.max(1)).collect()
}

/// Checks a new password against the policy. `context` holds words the password must not be built
/// on (the user's name, the tenant's name).
pub fn check_policy(password: &str, context: &[&str]) -> CoreResult<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(CoreError::invalid(
            "password",
            format!("use at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(CoreError::invalid(
            "password",
            format!("use at most {MAX_LEN} characters"),
        ));
    }
    let lower = password.to_lowercase();
    let base = base_word(password);
    let list = blocklist();
    if list.contains(lower.as_str()) || list.contains(base.as_str()) {
        return Err(CoreError::invalid(
            "password",
            "this password is too common; choose a harder one",
        ));
    }
    for word in context {
        let w = word.to_lowercase();
        if w.chars().count() >= 4 && (lower.contains(&w) || base.contains(&w)) {
            return Err(CoreError::invalid(
                "password",
                "don't build the password on your name or your organisation's name",
            ));
        }
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string. CPU-heavy (tens of milliseconds): call off the async path.
pub fn hash_password(password: &str, rng: &dyn Rng) -> CoreResult<Secret> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| CoreError::invalid("salt", e.to_string()))?;
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| CoreError::invalid("password", e.to_string()))?;
    Ok(Secret::new(hash.to_string()))
}

/// Argon2's working memory; reusing it across hashes spares the allocation and page faults of
/// 19 MiB per sign-in.
pub use argon2::Block as Argon2Block;

/// Verifies a password against a PHC string; the comparison is constant-time.
pub fn verify_password(password: &str, phc: &Secret) -> bool {
    verify_password_with(password, phc, &mut Vec::new())
}

/// `verify_password` with caller-provided working memory (grown as needed and kept for reuse).
pub fn verify_password_with(password: &str, phc: &Secret, memory: &mut Vec<Argon2Block>) -> bool {
    fn inner(password: &str, phc: &str, memory: &mut Vec<Argon2Block>) -> Option<bool> {
        let parsed = PasswordHash::new(phc).ok()?;
        // Verify with the parameters stored in the hash, so old hashes keep working after a change.
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
        let expected = parsed.hash?;
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Argon2Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut memory[..blocks],
            )
            .ok()?;
        Some(crate::secret::ct_eq(&out, expected.as_bytes()))
    }
    inner(password, phc.expose(), memory).unwrap_or(false)
}

/// A hash with the current parameters of a password nobody has: verified against when the account
/// does not exist, so that unknown and known accounts take the same time to refuse.
pub fn dummy_hash() -> &'static Secret {
    static DUMMY: OnceLock<Secret> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("countersign-dummy-password", &crate::random::OsRandom).expect("dummy hash")
    })
}

/// How the core asks for password work. The server's implementation bounds concurrency and runs
/// the hashing on blocking threads; unit tests may use a cheaper one.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &str) -> CoreResult<Secret>;
    async fn verify(&self, password: &str, phc: &Secret) -> CoreResult<bool>;
    /// Waits about as long as a `verify` takes, computing nothing. A refused attempt waits this
    /// long so that it answers no sooner than a checked one (timing then does not tell a locked
    /// account from an open one), while costing no CPU.
    async fn pace(&self);
}

/// Hashes inline on the calling thread. For tools (the admin CLI) and tests.
#[derive(Debug, Default)]
pub struct InlineHasher;

#[async_trait]
impl PasswordHasher for InlineHasher {
    async fn hash(&self, password: &str) -> CoreResult<Secret> {
        hash_password(password, &crate::random::OsRandom)
    }
    async fn verify(&self, password: &str, phc: &Secret) -> CoreResult<bool> {
        Ok(verify_password(password, phc))
    }
    /// Tools have no timing to hide.
    async fn pace(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits() {
        assert!(check_policy("short7!", &[]).is_err());
        assert!(check_policy("correct horse battery", &[]).is_ok());
        assert!(check_policy(&"x".repeat(257), &[]).is_err());
        assert!(check_policy(&"xyzzy-plover-".repeat(20)[..256], &[]).is_ok());
    }

    #[test]
    fn common_passwords_and_variants_are_refused() {
        for p in [
            "password",
            "Password123!",
            "P@ssw0rd",
            "qwerty123",
            "iloveyou1",
        ] {
            assert!(check_policy(p, &[]).is_err(), "{p} should be refused");
        }
    }

    #[test]
    fn context_words_are_refused() {
        assert!(check_policy("Contoso2024!", &["contoso"]).is_err());
        assert!(check_policy("alice-is-great", &["alice"]).is_err());
        assert!(check_policy("violet-tuba-engine", &["alice", "contoso"]).is_ok());
    }

    #[test]
    fn hash_and_verify_roundtrip() {
        let h = hash_password("violet-tuba-engine", &crate::random::OsRandom).unwrap();
        assert!(h.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("violet-tuba-engine", &h));
        assert!(!verify_password("violet-tuba-engin", &h));
        assert!(!verify_password("x", &Secret::new("not a phc string")));
        // reused memory gives the same answers
        let mut mem = Vec::new();
        assert!(verify_password_with("violet-tuba-engine", &h, &mut mem));
        assert!(!verify_password_with("violet-tuba-engin", &h, &mut mem));
        assert_eq!(mem.len(), 19 * 1024);
    }
}
