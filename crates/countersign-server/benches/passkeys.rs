//! Criterion benchmark of a passkey verification: the machine's raw P-256 ECDSA verify rate
//! (aws-lc-rs, the fastest implementation linked here) beside the whole WebAuthn assertion check
//! of Countersign's verifier (`countersign_server::webauthn`: webauthn-rs parses the answer and
//! the stored record, `webauthn::assertion` checks origin, RP ID hash, flags, challenge, counter
//! and the signature with aws-lc-rs), the same check by webauthn-rs alone (its RustCrypto P-256
//! verify), the cost of beginning a sign-in (a challenge), and that of making an answer with the
//! tests' software authenticator (what the load generator does per sign-in).

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use countersign_core::methods::passkey::{PasskeyCredential, Verifier};
use countersign_server::webauthn::WebauthnVerifier;
use countersign_testkit::passkey::{Answer, SoftPasskey};
use criterion::{criterion_group, criterion_main, Criterion};
use webauthn_rs::prelude::{Passkey, Url, WebauthnBuilder};

const ORIGIN: &str = "http://localhost:8080";

fn benches(c: &mut Criterion) {
    // The machine's P-256 verify rate.
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).unwrap();
    let msg = [7u8; 69]; // authenticator data (37 bytes) + a client data hash (32)
    let sig = key.sign(&rng, &msg).unwrap();
    let public =
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key.public_key());
    c.bench_function("p256_verify_aws_lc_rs", |b| {
        b.iter(|| public.verify(&msg, sig.as_ref()).unwrap())
    });

    // One registered passkey, one answered challenge: verified again and again (a counter of
    // zero, as synced passkeys send, may repeat).
    let v = WebauthnVerifier::new(ORIGIN, &[]).unwrap();
    let handle = v.new_user_handle();
    let reg = v
        .start_registration(&handle, "alice@contoso.com", "Alice", &[], false)
        .unwrap();
    let (mut soft, answer) = SoftPasskey::register(&reg.options, ORIGIN, &Answer::default());
    let new = v
        .finish_registration(&reg.state, &answer.to_string())
        .unwrap();
    let stored = PasskeyCredential {
        credential_id: new.credential_id,
        tenant_id: "t".into(),
        user_id: "u".into(),
        name: "Passkey".into(),
        aaguid: new.aaguid,
        credential: new.credential,
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
        created_at: 0,
        last_used_at: None,
    };
    c.bench_function("webauthn_begin_sign_in", |b| {
        b.iter(|| {
            v.start_authentication(std::slice::from_ref(&stored))
                .unwrap()
        })
    });
    let begun = v
        .start_authentication(std::slice::from_ref(&stored))
        .unwrap();
    let no_counter = Answer {
        counter: Some(0),
        ..Answer::default()
    };
    // What the load generator does per sign-in: an answer made by the software authenticator.
    c.bench_function("soft_passkey_assert", |b| {
        b.iter(|| soft.assert(&begun.options, ORIGIN, &no_counter).to_string())
    });
    let response = soft.assert(&begun.options, ORIGIN, &no_counter).to_string();
    c.bench_function("webauthn_finish_sign_in", |b| {
        b.iter(|| {
            v.finish_authentication(&begun.state, &response, &stored)
                .unwrap()
        })
    });

    // webauthn-rs checking the same kind of answer by itself.
    let origin = Url::parse(ORIGIN).unwrap();
    let rs = WebauthnBuilder::new("localhost", &origin)
        .unwrap()
        .build()
        .unwrap();
    let passkey: Passkey = serde_json::from_str(&stored.credential).unwrap();
    let (options, state) = rs.start_discoverable_authentication().unwrap();
    let options = serde_json::to_value(&options).unwrap();
    let response = serde_json::from_value(soft.assert(&options, ORIGIN, &no_counter)).unwrap();
    c.bench_function("webauthn_rs_finish_sign_in", |b| {
        b.iter(|| {
            rs.finish_discoverable_authentication_v2(&response, state.clone(), &passkey)
                .unwrap()
        })
    });
}

criterion_group!(passkeys, benches);
criterion_main!(passkeys);
