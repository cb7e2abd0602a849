//! The check of a sign-in's answer (an assertion), WebAuthn Level 3 §7.2 steps 5–22, with the
//! signature verified by aws-lc-rs. webauthn-rs parses the answer (its JSON, client data and
//! authenticator data) and keeps registrations; its own assertion check verifies the signature
//! with RustCrypto's pure-Rust curves, about six times the cost of aws-lc-rs' (BENCHMARKS.md,
//! "Passkey sign-ins"), and a sign-in is little more than that check. The steps below are the
//! specification's, in its order; the algorithms are those webauthn-rs registers (ES256, ES384,
//! RS256).

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::signature::{
    self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm,
};
use countersign_core::methods::passkey::{counter_moves_on, Refusal, COUNTER_REGRESSED};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{Credential, PublicKeyCredential, Url};
use webauthn_rs_core::internals::AuthenticatorData;
use webauthn_rs_core::proto::{
    Authentication, COSEAlgorithm, COSEEC2Key, COSEKey, COSEKeyType, CollectedClientData,
    ECDSACurve,
};

/// A sign-in ceremony's state: what the answer must match.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expected {
    /// The challenge sent, base64url.
    pub challenge: String,
    /// The credential ids (base64url) the options allowed; empty: any discoverable credential
    /// of this RP, its owner named by the user handle.
    pub allowed: Vec<String>,
}

/// The relying party an answer must be for.
#[derive(Debug)]
pub struct RelyingParty {
    /// The only origin accepted (`public_url`'s), serialized (`scheme://host[:port]`).
    pub origin_text: String,
    /// SHA-256 of the RP ID.
    pub rp_id_hash: [u8; 32],
}

/// What a verified answer says of the authenticator now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

impl RelyingParty {
    pub fn new(origin: &Url, rp_id: &str) -> Self {
        let mut rp_id_hash = [0; 32];
        rp_id_hash.copy_from_slice(digest(&SHA256, rp_id.as_bytes()).as_ref());
        Self {
            origin_text: origin.origin().ascii_serialization(),
            rp_id_hash,
        }
    }

    /// Checks `answer` to the ceremony `expected` against the stored credential `cred` (whose id
    /// the caller looked the answer's up by) and its counter and backup eligibility as of its
    /// last use.
    pub fn check(
        &self,
        expected: &Expected,
        answer: &PublicKeyCredential,
        cred: &Credential,
        stored_count: i64,
        stored_backup_eligible: bool,
    ) -> Result<Flags, Refusal> {
        // Step 5: a credential the options allowed (after a name: one of that user's).
        let id = crate::webauthn::b64(&answer.raw_id);
        if cred.cred_id != answer.raw_id {
            return refuse("the assertion is of another credential");
        }
        if !expected.allowed.is_empty() && !expected.allowed.contains(&id) {
            return refuse("the credential was not among those the sign-in allowed");
        }
        // Steps 6–9 (the user handle's owner) are the domain's. Steps 10–14: the client data.
        let r = &answer.response;
        let client: CollectedClientData = serde_json::from_slice(&r.client_data_json)
            .or_else(|e| refuse(format!("the client data is not valid: {e}")))?;
        if client.type_ != "webauthn.get" {
            return refuse(format!(
                "the client data's type is {:?}, not webauthn.get",
                client.type_
            ));
        }
        if crate::webauthn::b64(&client.challenge) != expected.challenge {
            return refuse("the challenge differs from the one sent");
        }
        // Exactly the origin: the same scheme, host and port, and nothing after them (a `blob:`
        // URL's origin would be its inner URL's).
        let sent = client.origin.as_str().trim_end_matches('/');
        if sent != self.origin_text {
            return refuse(format!(
                "the origin does not match: {sent} is not {}",
                self.origin_text
            ));
        }
        // Not in a frame of another site (the page is never framed).
        if client.cross_origin == Some(true) {
            return refuse("the answer came from a cross-origin frame");
        }
        // Steps 15–18: the authenticator data.
        let auth_data = r.authenticator_data.as_slice();
        let data = AuthenticatorData::<Authentication>::try_from(auth_data)
            .or_else(|e| refuse(format!("the authenticator data is not valid: {e}")))?;
        if auth_data[..32] != self.rp_id_hash {
            return refuse("the relying party id hash does not match");
        }
        if !data.user_present {
            return refuse("the user present bit is not set");
        }
        if !data.user_verified {
            return refuse("the user verified bit is not set");
        }
        // Step 19, the backup flags: a passkey that could sync may not stop being able to (a
        // changed risk), and one that is backed up must be able to.
        if stored_backup_eligible && !data.backup_eligible {
            return refuse("the passkey is no longer backup eligible");
        }
        if data.backup_state && !data.backup_eligible {
            return refuse("the backup state bit is set without backup eligibility");
        }
        // Steps 20–21: the signature over the authenticator data and the client data's hash.
        let mut signed = Vec::with_capacity(auth_data.len() + 32);
        signed.extend_from_slice(auth_data);
        signed.extend_from_slice(digest(&SHA256, &r.client_data_json).as_ref());
        if !verifies(&cred.cred, &signed, &r.signature)? {
            return refuse("the signature does not verify");
        }
        // Step 22: the counter (the store checks it again, atomically, as it records the use).
        if !counter_moves_on(stored_count, i64::from(data.counter)) {
            return refuse(COUNTER_REGRESSED);
        }
        Ok(Flags {
            sign_count: data.counter,
            backup_eligible: data.backup_eligible,
            backup_state: data.backup_state,
        })
    }
}

/// Whether `sig` is `key`'s signature of `msg`.
pub fn verifies(key: &COSEKey, msg: &[u8], sig: &[u8]) -> Result<bool, Refusal> {
    let ok = match (&key.type_, &key.key) {
        (COSEAlgorithm::ES256, COSEKeyType::EC_EC2(k)) if k.curve == ECDSACurve::SECP256R1 => {
            ecdsa(&signature::ECDSA_P256_SHA256_ASN1, k, msg, sig)
        }
        (COSEAlgorithm::ES384, COSEKeyType::EC_EC2(k)) if k.curve == ECDSACurve::SECP384R1 => {
            ecdsa(&signature::ECDSA_P384_SHA384_ASN1, k, msg, sig)
        }
        (COSEAlgorithm::RS256, COSEKeyType::RSA(k)) => RsaPublicKeyComponents {
            n: k.n.as_slice(),
            e: k.e.as_slice(),
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .is_ok(),
        (alg, _) => return refuse(format!("the passkey's algorithm {alg:?} is not supported")),
    };
    Ok(ok)
}

/// An ECDSA check with the key as an uncompressed point (SEC 1: 0x04, x, y).
fn ecdsa(alg: &'static dyn VerificationAlgorithm, k: &COSEEC2Key, msg: &[u8], sig: &[u8]) -> bool {
    let mut point = Vec::with_capacity(1 + k.x.len() + k.y.len());
    point.push(4);
    point.extend_from_slice(&k.x);
    point.extend_from_slice(&k.y);
    UnparsedPublicKey::new(alg, point).verify(msg, sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webauthn::WebauthnVerifier;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
    use aws_lc_rs::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use countersign_core::methods::passkey::Verifier;
    use countersign_testkit::passkey::{Answer, SoftPasskey};
    use serde_json::Value;
    use webauthn_rs::prelude::Passkey;
    use webauthn_rs_core::proto::COSERSAKey;

    const ORIGIN: &str = "http://localhost:8080";

    fn ec_key(alg: &'static EcdsaSigningAlgorithm, curve: ECDSACurve) -> (EcdsaKeyPair, COSEKey) {
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let half = (point.len() - 1) / 2;
        let key = COSEKey {
            type_: if curve == ECDSACurve::SECP256R1 {
                COSEAlgorithm::ES256
            } else {
                COSEAlgorithm::ES384
            },
            key: COSEKeyType::EC_EC2(COSEEC2Key {
                curve,
                x: point[1..1 + half].to_vec(),
                y: point[1 + half..].to_vec(),
            }),
        };
        (pair, key)
    }

    fn flipped(sig: &[u8]) -> Vec<u8> {
        let mut bad = sig.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        bad
    }

    /// Each algorithm webauthn-rs registers verifies its own signatures and no altered one.
    #[test]
    fn each_registered_algorithm_verifies_signatures_and_refuses_altered_ones() {
        let msg = b"authenticator data and the client data's hash";
        let rng = SystemRandom::new();
        for (alg, curve) in [
            (
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                ECDSACurve::SECP256R1,
            ),
            (
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                ECDSACurve::SECP384R1,
            ),
        ] {
            let (pair, key) = ec_key(alg, curve.clone());
            let sig = pair.sign(&rng, msg).unwrap();
            assert_eq!(verifies(&key, msg, sig.as_ref()), Ok(true), "{curve:?}");
            assert_eq!(verifies(&key, msg, &flipped(sig.as_ref())), Ok(false));
            assert_eq!(verifies(&key, b"another message", sig.as_ref()), Ok(false));
        }

        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
            .unwrap();
        let parts = PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
        let key = COSEKey {
            type_: COSEAlgorithm::RS256,
            key: COSEKeyType::RSA(COSERSAKey {
                n: parts.n,
                e: parts.e.as_slice().try_into().unwrap(),
            }),
        };
        assert_eq!(verifies(&key, msg, &sig), Ok(true));
        assert_eq!(verifies(&key, msg, &flipped(&sig)), Ok(false));

        // A key whose algorithm and curve disagree, or an algorithm not registered: refused.
        let (_, mut p256) = ec_key(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            ECDSACurve::SECP256R1,
        );
        p256.type_ = COSEAlgorithm::ES384;
        assert!(verifies(&p256, msg, &sig).is_err());
        p256.type_ = COSEAlgorithm::EDDSA;
        assert!(verifies(&p256, msg, &sig)
            .unwrap_err()
            .0
            .contains("not supported"));
    }

    /// A passkey registered with webauthn-rs and a challenge answered by the software
    /// authenticator, as `check` takes them.
    struct Fixture {
        rp: RelyingParty,
        expected: Expected,
        cred: Credential,
        answer: Value,
    }

    fn fixture(synced: bool) -> Fixture {
        let v = WebauthnVerifier::new(ORIGIN, &[]).unwrap();
        let reg = v
            .start_registration(&v.new_user_handle(), "alice", "Alice", &[], false)
            .unwrap();
        let at_registration = Answer {
            synced,
            ..Answer::default()
        };
        let (mut soft, answer) = SoftPasskey::register(&reg.options, ORIGIN, &at_registration);
        let new = v
            .finish_registration(&reg.state, &answer.to_string())
            .unwrap();
        let cred = Credential::from(serde_json::from_str::<Passkey>(&new.credential).unwrap());
        let begun = v.start_authentication(&[]).unwrap();
        let answer = soft.assert(&begun.options, ORIGIN, &Answer::default());
        let expected = Expected {
            challenge: begun.options["publicKey"]["challenge"]
                .as_str()
                .unwrap()
                .into(),
            allowed: vec![],
        };
        Fixture {
            rp: RelyingParty::new(&Url::parse(ORIGIN).unwrap(), "localhost"),
            expected,
            cred,
            answer,
        }
    }

    impl Fixture {
        fn check_with(&self, answer: &Value, stored_be: bool) -> Result<Flags, Refusal> {
            let answer: PublicKeyCredential = serde_json::from_value(answer.clone()).unwrap();
            self.rp
                .check(&self.expected, &answer, &self.cred, 0, stored_be)
        }

        /// The answer with one of its response's base64url fields changed by `f`.
        fn altered(&self, field: &str, f: impl Fn(&mut Vec<u8>)) -> Value {
            let mut answer = self.answer.clone();
            let v = &mut answer["response"][field];
            let mut bytes = URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
            f(&mut bytes);
            *v = URL_SAFE_NO_PAD.encode(&bytes).into();
            answer
        }
    }

    #[test]
    fn a_right_answer_is_accepted_with_its_flags() {
        let f = fixture(false);
        let flags = f.check_with(&f.answer, false).unwrap();
        assert_eq!((flags.backup_eligible, flags.backup_state), (false, false));
        let synced = fixture(true);
        let flags = synced.check_with(&synced.answer, true).unwrap();
        assert_eq!((flags.backup_eligible, flags.backup_state), (true, true));
        // Becoming able to sync is no risk: a device-bound record may see BE set.
        assert!(synced.check_with(&synced.answer, false).is_ok());
    }

    /// The origin is exactly `public_url`'s: no other scheme, no path, no `blob:` URL around it.
    #[test]
    fn only_the_exact_origin_is_accepted() {
        let f = fixture(false);
        for other in [
            "https://localhost:8080",
            "http://localhost:8081",
            "http://localhost:8080/signin",
            "blob:http://localhost:8080/0b7f",
        ] {
            let answer = f.altered("clientDataJSON", |cd| {
                let text = String::from_utf8(cd.clone()).unwrap();
                let origin = format!("\"origin\":\"{ORIGIN}\"");
                assert!(text.contains(&origin), "{text}");
                *cd = text
                    .replace(&origin, &format!("\"origin\":\"{other}\""))
                    .into_bytes();
            });
            let reason = f.check_with(&answer, false).unwrap_err().0;
            assert!(
                reason.contains("origin does not match"),
                "{other}: {reason}"
            );
        }
        assert!(f.check_with(&f.answer, false).is_ok());
    }

    /// A counter below the stored one is a possible clone, refused by the check itself (the
    /// store refuses it again as it records the use).
    #[test]
    fn a_counter_that_does_not_move_on_is_refused() {
        let f = fixture(false);
        let answer: PublicKeyCredential = serde_json::from_value(f.answer.clone()).unwrap();
        let check = |stored| f.rp.check(&f.expected, &answer, &f.cred, stored, false);
        assert_eq!(check(5), Err(Refusal(COUNTER_REGRESSED.into())));
        assert_eq!(check(1), Err(Refusal(COUNTER_REGRESSED.into())));
        assert_eq!(check(0).unwrap().sign_count, 1);
    }

    /// The checks the server's tests cannot reach through a browser's answer: a credential not
    /// allowed, the backup flags, a cross-origin frame, and an answer for another credential.
    #[test]
    fn the_backup_flags_the_frame_and_the_allowed_credentials_are_checked() {
        let f = fixture(false);
        // Backup eligible when registered (or last used), not now.
        let reason = f.check_with(&f.answer, true).unwrap_err().0;
        assert!(reason.contains("no longer backup eligible"), "{reason}");
        // Backed up (BS, 0x10) without being eligible (BE, 0x08): refused before the signature.
        let bs_only = f.altered("authenticatorData", |d| d[32] |= 0x10);
        let reason = f.check_with(&bs_only, false).unwrap_err().0;
        assert!(reason.contains("without backup eligibility"), "{reason}");
        // From a frame of another site.
        let framed = f.altered("clientDataJSON", |cd| {
            let text = String::from_utf8(cd.clone()).unwrap();
            *cd = text
                .replace("\"crossOrigin\":false", "\"crossOrigin\":true")
                .into_bytes();
        });
        let reason = f.check_with(&framed, false).unwrap_err().0;
        assert!(reason.contains("cross-origin"), "{reason}");
        // A client data altered after signing: its hash is signed.
        let resigned = f.altered("clientDataJSON", |cd| cd.push(b' '));
        let reason = f.check_with(&resigned, false).unwrap_err().0;
        assert!(reason.contains("signature does not verify"), "{reason}");
        // Options that allowed other credentials only.
        let only_others = Fixture {
            expected: Expected {
                allowed: vec!["b3RoZXI".into()],
                ..f.expected.clone()
            },
            ..fixture(false)
        };
        let reason = only_others.check_with(&f.answer, false).unwrap_err().0;
        assert!(reason.contains("another credential"), "{reason}");
        let reason = only_others
            .check_with(&only_others.answer.clone(), false)
            .unwrap_err()
            .0;
        assert!(reason.contains("not among those"), "{reason}");
    }
}
