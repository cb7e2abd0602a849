//! Signing keys: one RS256 and one ES256 key active at a time, kept in the store so every server
//! instance signs with the same keys; rotation adds new keys and retires the old ones, which stay
//! in the JWKS for a day so tokens signed before the rotation still verify. Signatures are made by
//! aws-lc-rs on pre-parsed keys; verification goes through jsonwebtoken.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use countersign_core::clock::Timestamp;
use countersign_core::model::{SigningAlg, SigningKey};
use countersign_core::oidc::TokenSigner;
use countersign_core::secret::Secret;
use countersign_core::store::*;
use countersign_core::{CoreError, CoreResult};
use countersign_proto::{Jwk, Jwks};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How long a retired key stays published: longer than any token signed with it lives.
pub const RETIRED_KEY_PUBLISHED_FOR: i64 = 24 * 3600;
/// Keys older than this are rotated automatically.
pub const MAX_KEY_AGE: i64 = 90 * 24 * 3600;

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct Active {
    kid: String,
    created_at: Timestamp,
    signer: Signer,
}

#[derive(Default)]
struct Keys {
    active: HashMap<SigningAlg, Active>,
    jwks: Vec<Jwk>,
    decoding: HashMap<String, (DecodingKey, Algorithm)>,
}

/// The provider's keys, shared by all requests and reloaded from the store periodically.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Arc<RwLock<Keys>>,
}

fn key_err(what: &str) -> CoreError {
    CoreError::Signing(what.to_string())
}

fn generate(alg: SigningAlg, now: Timestamp) -> CoreResult<SigningKey> {
    let der: Vec<u8> = match alg {
        SigningAlg::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| key_err("RSA key generation failed"))?;
            let der: Pkcs8V1Der<'_> = kp
                .as_der()
                .map_err(|_| key_err("RSA key encoding failed"))?;
            der.as_ref().to_vec()
        }
        SigningAlg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| key_err("EC key generation failed"))?;
            doc.as_ref().to_vec()
        }
    };
    let (_, jwk) = parse(alg, &der, "")?;
    Ok(SigningKey {
        kid: jwk.kid,
        alg,
        private_pkcs8: Secret::new(STANDARD.encode(&der)),
        created_at: now,
        retired_at: None,
    })
}

/// Parses a PKCS#8 key into a signer and its public JWK; the kid is derived from the public key
/// when `kid` is empty.
fn parse(alg: SigningAlg, der: &[u8], kid: &str) -> CoreResult<(Signer, Jwk)> {
    match alg {
        SigningAlg::RS256 => {
            let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| key_err("bad RSA key"))?;
            let public = kp.public_key();
            let n = public.modulus().big_endian_without_leading_zero().to_vec();
            let e = public.exponent().big_endian_without_leading_zero().to_vec();
            let kid = if kid.is_empty() {
                kid_for(&n)
            } else {
                kid.to_string()
            };
            let jwk = Jwk {
                kty: "RSA".into(),
                kid,
                use_: "sig".into(),
                alg: "RS256".into(),
                n: Some(URL_SAFE_NO_PAD.encode(n)),
                e: Some(URL_SAFE_NO_PAD.encode(e)),
                crv: None,
                x: None,
                y: None,
            };
            Ok((Signer::Rsa(kp), jwk))
        }
        SigningAlg::ES256 => {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|_| key_err("bad EC key"))?;
            let point = kp.public_key().as_ref().to_vec(); // 0x04 || x || y
            if point.len() != 65 {
                return Err(key_err("unexpected EC public key"));
            }
            let kid = if kid.is_empty() {
                kid_for(&point)
            } else {
                kid.to_string()
            };
            let jwk = Jwk {
                kty: "EC".into(),
                kid,
                use_: "sig".into(),
                alg: "ES256".into(),
                n: None,
                e: None,
                crv: Some("P-256".into()),
                x: Some(URL_SAFE_NO_PAD.encode(&point[1..33])),
                y: Some(URL_SAFE_NO_PAD.encode(&point[33..65])),
            };
            Ok((Signer::Ec(kp), jwk))
        }
    }
}

/// A key id from public key bytes: 96 bits of their SHA-256, base64url.
fn kid_for(public: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public);
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..12])
}

fn decoding_key(jwk: &Jwk) -> CoreResult<(DecodingKey, Algorithm)> {
    match jwk.kty.as_str() {
        "RSA" => Ok((
            DecodingKey::from_rsa_components(
                jwk.n.as_deref().unwrap_or(""),
                jwk.e.as_deref().unwrap_or(""),
            )
            .map_err(|_| key_err("bad RSA components"))?,
            Algorithm::RS256,
        )),
        _ => Ok((
            DecodingKey::from_ec_components(
                jwk.x.as_deref().unwrap_or(""),
                jwk.y.as_deref().unwrap_or(""),
            )
            .map_err(|_| key_err("bad EC components"))?,
            Algorithm::ES256,
        )),
    }
}

impl KeyRing {
    /// Loads the keys from the store, creating the first ones (or rotating keys older than
    /// [`MAX_KEY_AGE`]) as needed.
    pub async fn load(store: &dyn Store, now: Timestamp) -> CoreResult<Self> {
        let ring = KeyRing::default();
        ring.reload(store, now).await?;
        Ok(ring)
    }

    /// Re-reads the keys from the store (another instance may have rotated them).
    pub async fn reload(&self, store: &dyn Store, now: Timestamp) -> CoreResult<()> {
        let mut all = store.list_signing_keys().await?;
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            let current = all
                .iter()
                .filter(|k| k.alg == alg && k.retired_at.is_none())
                .max_by_key(|k| k.created_at);
            if current.is_none_or(|k| now - k.created_at >= MAX_KEY_AGE) {
                let k = generate(alg, now)?;
                store.insert_signing_key(&k).await?;
                if let Some(old) = current {
                    store.retire_signing_key(&old.kid, now).await?;
                }
                tracing::info!(kid = %k.kid, alg = alg.as_str(), "created signing key");
                all = store.list_signing_keys().await?;
            }
        }
        let mut keys = Keys::default();
        for k in &all {
            if let Some(r) = k.retired_at {
                if now - r > RETIRED_KEY_PUBLISHED_FOR {
                    store.delete_signing_key(&k.kid).await?;
                    continue;
                }
            }
            let der = STANDARD
                .decode(k.private_pkcs8.expose())
                .map_err(|_| key_err("stored key is not base64"))?;
            let (signer, jwk) = parse(k.alg, &der, &k.kid)?;
            keys.decoding.insert(jwk.kid.clone(), decoding_key(&jwk)?);
            keys.jwks.push(jwk);
            if k.retired_at.is_none() {
                let newer = keys
                    .active
                    .get(&k.alg)
                    .is_none_or(|a| a.created_at <= k.created_at);
                if newer {
                    keys.active.insert(
                        k.alg,
                        Active {
                            kid: k.kid.clone(),
                            created_at: k.created_at,
                            signer,
                        },
                    );
                }
            }
        }
        *crate::sync::write(&self.keys) = keys;
        Ok(())
    }

    /// Creates new keys and retires the current ones (which stay published for a day).
    pub async fn rotate(store: &dyn Store, now: Timestamp) -> CoreResult<Vec<String>> {
        let old: Vec<SigningKey> = store
            .list_signing_keys()
            .await?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .collect();
        let mut created = Vec::new();
        for alg in [SigningAlg::RS256, SigningAlg::ES256] {
            let k = generate(alg, now)?;
            store.insert_signing_key(&k).await?;
            created.push(k.kid);
        }
        for k in old {
            store.retire_signing_key(&k.kid, now).await?;
        }
        Ok(created)
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: crate::sync::read(&self.keys).jwks.clone(),
        }
    }

    /// Verifies a token's signature and issuer, without looking at its expiry (for
    /// `id_token_hint`, which may be an expired ID token).
    pub fn verify_ignoring_expiry(&self, token: &str, issuer: &str) -> Option<serde_json::Value> {
        self.verify_inner(token, issuer, None, None)
    }

    fn verify_inner(
        &self,
        token: &str,
        issuer: &str,
        typ: Option<&str>,
        now: Option<Timestamp>,
    ) -> Option<serde_json::Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if let Some(t) = typ {
            if header.typ.as_deref() != Some(t) {
                return None;
            }
        }
        let keys = crate::sync::read(&self.keys);
        let (key, alg) = keys.decoding.get(header.kid.as_deref()?)?;
        // The algorithm comes from our key, never from the token header (RFC 8725 §3.1), so
        // `alg: none` or an algorithm swap cannot get through.
        if header.alg != *alg {
            return None;
        }
        let mut v = Validation::new(*alg);
        v.set_issuer(&[issuer]);
        v.validate_aud = false;
        // Expiry is checked against the server's clock (below), not the system's, so that it is
        // the same clock that issued the token.
        v.validate_exp = false;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, key, &v)
            .ok()?
            .claims;
        match now {
            Some(now) if claims["exp"].as_i64()? <= now => None,
            // Not valid before `nbf` (RFC 7519 §4.1.5): a present `nbf` must be a number not
            // after now.
            Some(now)
                if claims
                    .get("nbf")
                    .is_some_and(|n| n.as_i64().is_none_or(|n| n > now)) =>
            {
                None
            }
            _ => Some(claims),
        }
    }
}

impl TokenSigner for KeyRing {
    fn sign(&self, alg: SigningAlg, typ: &str, claims: &serde_json::Value) -> CoreResult<String> {
        let keys = crate::sync::read(&self.keys);
        let active = keys
            .active
            .get(&alg)
            .ok_or_else(|| key_err("no active signing key"))?;
        let header = serde_json::json!({ "alg": alg.as_str(), "typ": typ, "kid": active.kid });
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let rng = SystemRandom::new();
        let sig = match &active.signer {
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, out.as_bytes(), &mut sig)
                    .map_err(|_| key_err("RSA signing failed"))?;
                sig
            }
            // FIXED encoding is r || s, exactly the JWS ES256 signature (RFC 7518 §3.4).
            Signer::Ec(kp) => kp
                .sign(&rng, out.as_bytes())
                .map_err(|_| key_err("EC signing failed"))?
                .as_ref()
                .to_vec(),
        };
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(out)
    }

    fn verify(
        &self,
        token: &str,
        issuer: &str,
        typ: &str,
        now: Timestamp,
    ) -> Option<serde_json::Value> {
        self.verify_inner(token, issuer, Some(typ), Some(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_core::model::SigningAlg;
    use countersign_store::{KeyFile, SqlStore};

    /// A request that panicked while holding the key ring's lock leaves signing working.
    #[tokio::test]
    async fn a_poisoned_key_ring_keeps_signing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open_sqlite_with(dir.path(), KeyFile::Ephemeral)
            .await
            .unwrap();
        let ring = KeyRing::load(&store, 1_800_000_000).await.unwrap();
        let inner = ring.keys.clone();
        let _ = std::thread::spawn(move || {
            let _g = inner.write().unwrap();
            panic!("a request failed while holding the signing keys");
        })
        .join();
        assert!(ring.keys.is_poisoned());
        let claims = serde_json::json!({ "iss": "i", "sub": "s", "exp": 1_900_000_000 });
        let token = ring.sign(SigningAlg::ES256, "at+jwt", &claims).unwrap();
        assert!(ring.verify(&token, "i", "at+jwt", 1_800_000_000).is_some());
        assert_eq!(ring.jwks().keys.len(), 2);
        ring.reload(&store, 1_800_000_000).await.unwrap();
    }
}
