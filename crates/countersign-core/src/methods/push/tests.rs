//! Unit tests of push approvals: keys, numbers, an answer's checks, registration.

use super::*;
use crate::error::{CoreError, DeviceError};
use crate::random::OsRandom;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

struct Device {
    pair: EcdsaKeyPair,
    key: DeviceKey,
}

fn device() -> Device {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let key = DeviceKey::parse(&URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())).unwrap();
    Device { pair, key }
}

// The payload's exact text is the protocol's business (countersign-proto); any text serves
// here as long as signer and checker use the same.
fn signed(d: &Device, decision: Decision, number: Option<&str>) -> Answer {
    answer_by(d, decision, number, true, false)
}

/// An answer signed over the push payload, or (`passwordless`) over the phone one.
fn answer_by(
    d: &Device,
    decision: Decision,
    number: Option<&str>,
    pin: bool,
    passwordless: bool,
) -> Answer {
    let text = format!("answer req_1 {decision:?} {number:?} {pin}");
    let phone = format!("phone-{text}");
    let over = if passwordless { &phone } else { &text };
    let sig = d.pair.sign(&SystemRandom::new(), over.as_bytes()).unwrap();
    Answer {
        decision,
        number: number.map(str::to_string),
        pin,
        signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
        signed: text,
        signed_passwordless: phone,
    }
}

/// A new key must be a point of the curve: one that is not is a bad key (400), not a bad
/// signature; a real key with a wrong signature is a bad signature.
#[test]
fn a_new_key_off_the_curve_is_refused_as_a_key() {
    let d = device();
    let sig = d.pair.sign(&SystemRandom::new(), b"hello").unwrap();
    let sig = URL_SAFE_NO_PAD.encode(sig.as_ref());
    let mut off = vec![0x04];
    off.extend([0x01; 64]);
    let r = proved_key("public_key", &URL_SAFE_NO_PAD.encode(&off), "hello", &sig);
    assert!(
        matches!(r, Err(CoreError::Invalid { ref field, .. }) if field == "public_key"),
        "{r:?}"
    );
    let r = proved_key("public_key", &d.key.to_base64(), "other", &sig);
    assert!(
        matches!(r, Err(CoreError::Device(DeviceError::BadSignature))),
        "{r:?}"
    );
    assert!(proved_key("public_key", &d.key.to_base64(), "hello", &sig).is_ok());
}

#[test]
fn only_the_phone_key_with_the_app_lock_answers_a_passwordless_request() {
    let (d, phone) = (device(), device());
    let mut p = pending("42");
    p.passwordless = true;
    let push_only = Signer {
        user_id: "u1",
        key: &d.key,
        phone_key: None,
    };
    let approve = answer_by(&phone, Decision::Approve, Some("42"), true, true);
    assert_eq!(
        check_answer(&p, &push_only, &approve, 50),
        Err(DeviceError::PhoneSignInNotEnabled)
    );
    let both = Signer {
        phone_key: Some(&phone.key),
        ..push_only
    };
    assert_eq!(
        check_answer(&p, &both, &approve, 50),
        Ok(Verdict::Approved { pin: true })
    );
    // The device key over the push payload is no phone answer, nor is the phone key's push
    // payload.
    for wrong in [
        answer_by(&d, Decision::Approve, Some("42"), true, false),
        answer_by(&d, Decision::Approve, Some("42"), true, true),
        answer_by(&phone, Decision::Approve, Some("42"), true, false),
    ] {
        assert_eq!(
            check_answer(&p, &both, &wrong, 50),
            Err(DeviceError::BadSignature)
        );
    }
    let no_pin = answer_by(&phone, Decision::Approve, Some("42"), false, true);
    assert_eq!(
        check_answer(&p, &both, &no_pin, 50),
        Err(DeviceError::PinRequired)
    );
    // A denial needs no App Lock.
    let deny = answer_by(&phone, Decision::Deny, None, false, true);
    assert_eq!(check_answer(&p, &both, &deny, 50), Ok(Verdict::Denied));
}

fn pending(number: &str) -> Pending<'_> {
    Pending {
        user_id: "u1",
        number,
        expires_at: 100,
        answered: false,
        passwordless: false,
    }
}

#[test]
fn the_right_number_from_the_users_device_approves() {
    let d = device();
    let signer = Signer {
        user_id: "u1",
        key: &d.key,
        phone_key: None,
    };
    let a = signed(&d, Decision::Approve, Some("42"));
    assert_eq!(
        check_answer(&pending("42"), &signer, &a, 50),
        Ok(Verdict::Approved { pin: true })
    );
    let deny = signed(&d, Decision::Deny, None);
    assert_eq!(
        check_answer(&pending("42"), &signer, &deny, 50),
        Ok(Verdict::Denied)
    );
    let not_me = signed(&d, Decision::NotMe, None);
    assert_eq!(
        check_answer(&pending("42"), &signer, &not_me, 50),
        Ok(Verdict::NotMe)
    );
}

#[test]
fn a_wrong_or_missing_number_is_refused() {
    let d = device();
    let signer = Signer {
        user_id: "u1",
        key: &d.key,
        phone_key: None,
    };
    for typed in [Some("24"), Some("042"), Some(""), None] {
        let a = signed(&d, Decision::Approve, typed);
        assert_eq!(
            check_answer(&pending("42"), &signer, &a, 50),
            Err(DeviceError::WrongNumber),
            "{typed:?}"
        );
    }
}

#[test]
fn another_key_a_changed_answer_or_a_der_signature_is_refused() {
    let (d, other) = (device(), device());
    let a = signed(&other, Decision::Approve, Some("42"));
    let signer = Signer {
        user_id: "u1",
        key: &d.key,
        phone_key: None,
    };
    assert_eq!(
        check_answer(&pending("42"), &signer, &a, 50),
        Err(DeviceError::BadSignature)
    );
    // A denial's signature does not carry an approval.
    let mut tampered = signed(&d, Decision::Deny, None);
    tampered.signed = signed(&d, Decision::Approve, Some("42")).signed;
    tampered.decision = Decision::Approve;
    tampered.number = Some("42".into());
    assert_eq!(
        check_answer(&pending("42"), &signer, &tampered, 50),
        Err(DeviceError::BadSignature)
    );
    let der_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let der_key = DeviceKey::parse(&URL_SAFE_NO_PAD.encode(der_pair.public_key().as_ref()));
    let der_key = der_key.unwrap();
    let text = "payload";
    let der = der_pair
        .sign(&SystemRandom::new(), text.as_bytes())
        .unwrap();
    assert!(!der_key.verifies(text, &URL_SAFE_NO_PAD.encode(der.as_ref())));
    assert!(!d.key.verifies(text, "not base64!"));
}

#[test]
fn another_users_device_finds_nothing_and_learns_nothing() {
    let d = device();
    let a = signed(&d, Decision::Approve, Some("42"));
    let stranger = Signer {
        user_id: "u2",
        key: &d.key,
        phone_key: None,
    };
    let mut p = pending("42");
    p.answered = true;
    assert_eq!(
        check_answer(&p, &stranger, &a, 500),
        Err(DeviceError::RequestNotFound)
    );
}

#[test]
fn an_answered_or_expired_request_is_refused_after_the_signature() {
    let (d, other) = (device(), device());
    let signer = Signer {
        user_id: "u1",
        key: &d.key,
        phone_key: None,
    };
    let a = signed(&d, Decision::Approve, Some("42"));
    let mut p = pending("42");
    p.answered = true;
    assert_eq!(
        check_answer(&p, &signer, &a, 50),
        Err(DeviceError::RequestAnswered)
    );
    let forged = signed(&other, Decision::Approve, Some("42"));
    assert_eq!(
        check_answer(&p, &signer, &forged, 50),
        Err(DeviceError::BadSignature)
    );
    let p = pending("42");
    assert_eq!(
        check_answer(&p, &signer, &a, 100),
        Err(DeviceError::RequestExpired)
    );
    assert!(check_answer(&p, &signer, &a, 99).is_ok());
}

#[test]
fn keys_must_be_uncompressed_p256_points() {
    let d = device();
    assert_eq!(DeviceKey::parse(&d.key.to_base64()), Some(d.key.clone()));
    let mut compressed = URL_SAFE_NO_PAD.decode(d.key.to_base64()).unwrap();
    compressed[0] = 0x02;
    assert!(DeviceKey::parse(&URL_SAFE_NO_PAD.encode(&compressed)).is_none());
    assert!(DeviceKey::parse(&URL_SAFE_NO_PAD.encode([4u8; 33])).is_none());
    assert!(DeviceKey::parse("***").is_none());
    // A well-formed encoding of a point not on the curve verifies nothing.
    let mut off_curve = URL_SAFE_NO_PAD.decode(d.key.to_base64()).unwrap();
    off_curve[64] ^= 1;
    let bad = DeviceKey::parse(&URL_SAFE_NO_PAD.encode(&off_curve)).unwrap();
    let a = signed(&d, Decision::Deny, None);
    assert!(!bad.verifies(&a.signed, &a.signature));
}

#[test]
fn numbers_have_the_digits_asked_for_and_use_them_all() {
    let rng = OsRandom;
    for digits in 2..=6u8 {
        let n = number(&rng, digits);
        assert_eq!(n.len(), usize::from(digits));
        assert!(n.bytes().all(|b| b.is_ascii_digit()));
    }
    // Two digits: every value from 00 to 99 turns up (leading zeros included).
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5_000 {
        seen.insert(number(&rng, 2));
    }
    assert_eq!(seen.len(), 100);
}

#[test]
fn versions_compare_numerically() {
    assert!(version_at_least("1.10.0", "1.9"));
    assert!(version_at_least("2.0", "2.0.0"));
    assert!(version_at_least("1.4.0-beta+7", "1.4"));
    assert!(!version_at_least("1.3.9", "1.4.0"));
    assert!(!version_at_least("one", "0.1"));
    assert!(!version_at_least("", "0"));
}

#[test]
fn states_round_trip_and_settle_only_as_their_time_allows() {
    for st in PushState::ALL {
        assert_eq!(PushState::parse(st.as_str()), Some(st));
    }
    assert!(PushState::Approved.may_settle(100, 99));
    assert!(!PushState::Approved.may_settle(100, 100));
    assert!(!PushState::Expired.may_settle(100, 99));
    assert!(PushState::Expired.may_settle(100, 100));
    assert!(PushState::Withdrawn.may_settle(100, 1_000));
    assert!(!PushState::Pending.may_settle(100, 1));
}

/// A device as the protocol registers one: `signed` stands for the register payload.
struct Asking {
    dev: Device,
    code: String,
    key: String,
    signed: String,
    signature: String,
}

fn asking(code: &str) -> Asking {
    let d = device();
    let signed = format!("register {code}");
    let sig = d
        .pair
        .sign(&SystemRandom::new(), signed.as_bytes())
        .unwrap();
    Asking {
        key: d.key.to_base64(),
        dev: d,
        code: code.into(),
        signed,
        signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
    }
}

fn registration(a: &Asking) -> Registration<'_> {
    Registration {
        code: &a.code,
        public_key: &a.key,
        signature: &a.signature,
        signed: &a.signed,
        name: "Alice's laptop",
        app_version: "1.4.0",
        platform: "linux",
    }
}

#[tokio::test]
async fn an_activation_code_registers_one_device_to_its_user_once() {
    let f = crate::testing::fixture();
    let (t, u) = crate::testing::contoso_alice(&f.deps, Some("violet-tuba-engine")).await;
    let code = begin_activation(&f.deps, &t, &u).await.unwrap();
    let a = asking(&code);
    // Refusals that need no storage leave the code usable.
    let mut forged = registration(&a);
    let other = asking(&code);
    forged.signature = &other.signature;
    let r = register(&f.deps, &t, &forged, None).await;
    assert!(matches!(
        r,
        Err(CoreError::Device(DeviceError::BadSignature))
    ));
    let r = register(&f.deps, &t, &registration(&a), Some("2.0")).await;
    assert!(matches!(
        r,
        Err(CoreError::Device(DeviceError::AppVersionUnsupported { .. }))
    ));
    let mut bad = registration(&a);
    bad.public_key = "BAAA";
    let r = register(&f.deps, &t, &bad, None).await;
    assert!(matches!(r, Err(CoreError::Invalid { field, .. }) if field == "public_key"));
    let mut bad = registration(&a);
    bad.name = "evil\u{202e}name";
    let r = register(&f.deps, &t, &bad, None).await;
    assert!(matches!(r, Err(CoreError::Invalid { field, .. }) if field == "name"));
    // The good one registers, bound to alice, with the key it proved.
    let d = register(&f.deps, &t, &registration(&a), Some("1.4"))
        .await
        .unwrap();
    assert_eq!(
        (d.user_id.as_str(), d.tenant_id.as_str()),
        (u.id.as_str(), t.id.as_str())
    );
    assert_eq!(d.public_key, a.dev.key.to_base64());
    // Once.
    let again = asking(&code);
    let r = register(&f.deps, &t, &registration(&again), None).await;
    assert!(matches!(
        r,
        Err(CoreError::Device(DeviceError::ActivationInvalid))
    ));
    assert_eq!(f.deps.store.devices_of_user(&u.id).await.unwrap(), vec![d]);
}

#[tokio::test]
async fn activation_codes_expire_and_follow_the_policy() {
    use crate::policy::{self, Actor, State};
    let f = crate::testing::fixture();
    let (t, u) = crate::testing::contoso_alice(&f.deps, Some("violet-tuba-engine")).await;
    let code = begin_activation(&f.deps, &t, &u).await.unwrap();
    f.clock.advance(ACTIVATION_TTL);
    let a = asking(&code);
    let r = register(&f.deps, &t, &registration(&a), None).await;
    assert!(matches!(
        r,
        Err(CoreError::Device(DeviceError::ActivationInvalid))
    ));
    policy::change(
        &f.deps,
        &t,
        &Actor::Operator("test".into()),
        "test",
        |mut p| {
            p.authenticator.method.state = State::Disabled;
            Ok(p)
        },
    )
    .await
    .unwrap();
    let r = begin_activation(&f.deps, &t, &u).await;
    assert!(matches!(r, Err(CoreError::MethodNotSupported)));
}

#[tokio::test]
async fn removing_a_device_tells_the_notifier_whoever_removes_it() {
    use crate::notify::Notice;
    let f = crate::testing::fixture();
    let (t, u) = crate::testing::contoso_alice(&f.deps, Some("violet-tuba-engine")).await;
    let code = begin_activation(&f.deps, &t, &u).await.unwrap();
    let d = register(&f.deps, &t, &registration(&asking(&code)), None)
        .await
        .unwrap();
    assert!(f.notices.take().is_empty(), "a registration tells no one");
    // Another user's device id removes nothing and tells no one.
    assert!(!remove_device(
        &f.deps,
        &crate::model::User {
            id: "someone".into(),
            ..u.clone()
        },
        &d.id
    )
    .await
    .unwrap());
    assert!(f.notices.take().is_empty());
    // The administrator's removal (the directory's) tells, as security info's would.
    crate::directory::remove_device(&f.deps, &t, "alice@contoso.com", &d.id)
        .await
        .unwrap();
    assert_eq!(
        f.notices.take(),
        vec![Notice::DeviceRemoved {
            user_id: u.id.clone(),
            device_id: d.id.clone()
        }]
    );
}
