//! Device keys (ECDSA P-256 through aws-lc-rs): a key's encoding, a signature over what the device
//! signed, a new key proved by its signature; the number a person matches; app versions.

use crate::error::{CoreError, CoreResult, DeviceError};
use crate::random::Rng;
use aws_lc_rs::signature::{ParsedPublicKey, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Length of a SEC1 uncompressed P-256 point: `0x04 ‖ x ‖ y`.
pub const PUBLIC_KEY_LEN: usize = 65;

/// A registered device's key, checked to be a well-formed P-256 point encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey(Vec<u8>);

impl DeviceKey {
    /// From the base64url text a device sends; `None` unless it is a 65-byte uncompressed point.
    /// (Whether the point is on the curve is checked when a key is registered: `proved_key`.)
    pub fn parse(b64: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(b64).ok()?;
        (raw.len() == PUBLIC_KEY_LEN && raw[0] == 0x04).then_some(Self(raw))
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// Whether `signature` (base64url `r‖s`, 64 bytes) signs `payload` with this key. DER
    /// signatures, other lengths and bad encodings are simply false.
    pub fn verifies(&self, payload: &str, signature: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(payload.as_bytes(), &sig)
            .is_ok()
    }
}

/// The number shown in the browser and typed on the device: `digits` decimal digits, uniformly
/// drawn (leading zeros kept), so a blind guess succeeds once in 10^digits.
pub fn number(rng: &dyn Rng, digits: u8) -> String {
    let digits = digits.clamp(1, 9);
    let bound = 10u32.pow(u32::from(digits));
    // Rejection sampling: the largest multiple of `bound` below 2^32 keeps every value equally
    // likely.
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b);
        let v = u32::from_le_bytes(b);
        if v < zone {
            return format!("{:0width$}", v % bound, width = usize::from(digits));
        }
    }
}

/// A public key a device sent as `field`, parsed, and proved by its signature over `signed`.
pub(crate) fn proved_key(
    field: &'static str,
    key: &str,
    signed: &str,
    signature: &str,
) -> CoreResult<DeviceKey> {
    // A new key is checked to be a point of the curve, so that a client with a badly encoded
    // key hears that, not that its signature is wrong (stored keys are not checked again).
    let parsed = DeviceKey::parse(key)
        .filter(|k| ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &k.0).is_ok())
        .ok_or_else(|| {
            CoreError::invalid(
                field,
                "must be a P-256 public key: its uncompressed point (65 bytes), base64url",
            )
        })?;
    if !parsed.verifies(signed, signature) {
        return Err(DeviceError::BadSignature.into());
    }
    Ok(parsed)
}

/// Whether app version `v` (dotted numbers, e.g. `1.4.0`; anything after `-` or `+` ignored) is
/// at least `min`. A version that doesn't parse is below every minimum.
pub fn version_at_least(v: &str, min: &str) -> bool {
    fn parts(s: &str) -> Option<Vec<u64>> {
        let core = s.split(['-', '+']).next()?;
        core.split('.').map(|p| p.parse().ok()).collect()
    }
    let (Some(mut a), Some(mut b)) = (parts(v), parts(min)) else {
        return false;
    };
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    a >= b
}
