//! Secret values: a wrapper that cannot be serialised or printed, the one-way digests under which
//! bearer tokens are stored, and constant-time comparison.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string (password hash, private key, …). No `Serialize`, and `Debug` prints a placeholder,
/// so it cannot leak into JSON or logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// Deliberate access to the secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Bearer tokens (session cookies, authorization codes, refresh tokens, client secrets) are stored
/// only as their SHA-256 digest: a stolen database does not hand out live tokens. The tokens carry
/// 256 random bits, so an unsalted fast hash is sufficient (unlike passwords).
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality for secrets of attacker-chosen content.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
