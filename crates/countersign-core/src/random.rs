//! Randomness as the core sees it: an `Rng` passed in, and the token and identifier shapes built
//! from it. Bearer secrets (session cookies, codes, refresh tokens) carry 256 bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

pub trait Rng: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Rng for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// A 256-bit bearer secret, base64url without padding (43 characters).
pub fn secret_token(rng: &dyn Rng) -> String {
    let mut b = [0u8; 32];
    rng.fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A 128-bit random identifier, lowercase hex (32 characters).
pub fn new_id(rng: &dyn Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    hex::encode(b)
}
