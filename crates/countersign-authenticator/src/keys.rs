//! The device's keys: everything the app signs goes through a [`Signer`], so a key could live in
//! a phone's secure hardware behind the same interface. [`SoftwareKey`] is today's: a P-256 key
//! (ECDSA with SHA-256, as WebCrypto and phones' key stores have it) made by aws-lc-rs, kept as
//! PKCS#8 in the encrypted vault.

use crate::protocol::DeviceError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

/// A P-256 signing key of the device protocol.
pub trait Signer {
    /// The public key the server stores: the SEC1 uncompressed point, base64url.
    fn public_key(&self) -> String;
    /// A signature over `payload`: `r ‖ s`, base64url.
    fn sign(&self, payload: &str) -> Result<String, DeviceError>;
}

/// A P-256 key in software, its private half as PKCS#8.
pub struct SoftwareKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<String>,
}

impl SoftwareKey {
    /// A new key from the system's random generator.
    pub fn generate() -> Result<Self, DeviceError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| DeviceError::BadKey)?;
        Self::from_pkcs8(&URL_SAFE_NO_PAD.encode(pkcs8.as_ref()))
    }

    /// The key kept in the vault (base64url PKCS#8).
    pub fn from_pkcs8(pkcs8: &str) -> Result<Self, DeviceError> {
        let der = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(pkcs8)
                .map_err(|_| DeviceError::BadKey)?,
        );
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| DeviceError::BadKey)?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_string()),
        })
    }

    /// What the vault keeps of it.
    pub fn pkcs8(&self) -> &str {
        &self.pkcs8
    }
}

impl Signer for SoftwareKey {
    fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    fn sign(&self, payload: &str) -> Result<String, DeviceError> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), payload.as_bytes())
            .map_err(|_| DeviceError::BadKey)?;
        Ok(URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn a_key_kept_as_pkcs8_signs_what_its_public_key_verifies() {
        let k = SoftwareKey::generate().unwrap();
        let again = SoftwareKey::from_pkcs8(k.pkcs8()).unwrap();
        assert_eq!(k.public_key(), again.public_key());
        let sig = URL_SAFE_NO_PAD
            .decode(again.sign("hello").unwrap())
            .unwrap();
        let public = URL_SAFE_NO_PAD.decode(k.public_key()).unwrap();
        let v = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public);
        assert!(v.verify(b"hello", &sig).is_ok());
        assert!(v.verify(b"hellO", &sig).is_err());
        assert!(SoftwareKey::from_pkcs8("not a key").is_err());
    }
}
