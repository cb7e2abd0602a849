//! Property tests of everything the authenticator reads from outside (`otpauth://` key URIs,
//! Google Authenticator exports, QR images): no input makes it panic, bad input gets an error that
//! says what is wrong, and well-formed URIs read back exactly what they say.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use base64::Engine;
use countersign_authenticator::account::{Algorithm, Kind};
use countersign_authenticator::qr::decode_png;
use countersign_authenticator::uri::{parse_any, parse_migration, parse_otpauth};
use proptest::prelude::*;

fn b32(bytes: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_read_or_refused_with_a_reason(s in ".{0,300}") {
        if let Err(e) = parse_any(&s) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn otpauth_shaped_text_never_panics(
        kind in "(totp|hotp|TOTP|x|)",
        label in "[^?#]{0,40}",
        query in "([a-z]{1,9}=[^&#]{0,30}&?){0,6}",
    ) {
        let _ = parse_otpauth(&format!("otpauth://{kind}/{label}?{query}"));
    }

    #[test]
    fn migration_payloads_of_any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let enc: String = url::form_urlencoded::byte_serialize(data.as_bytes()).collect();
        if let Err(e) = parse_migration(&format!("otpauth-migration://offline?data={enc}")) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn images_of_any_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        png_header in any::<bool>(),
    ) {
        if png_header {
            bytes.splice(0..0, *b"\x89PNG\r\n\x1a\n");
        }
        prop_assert!(decode_png(&bytes, "image.png").is_err());
    }

    #[test]
    fn well_formed_uris_read_back_what_they_say(
        secret in proptest::collection::vec(any::<u8>(), 10..64),
        issuer in "[A-Za-z][A-Za-z0-9]{0,15}",
        name in "[a-z][a-z0-9.]{0,15}@[a-z]{1,10}\\.com",
        eight in any::<bool>(),
        sixty in any::<bool>(),
    ) {
        let (digits, period) = (if eight { 8 } else { 6 }, if sixty { 60 } else { 30 });
        let uri = format!(
            "otpauth://totp/{issuer}:{name}?secret={}&issuer={issuer}&digits={digits}&period={period}&algorithm=SHA1",
            b32(&secret)
        );
        let a = parse_otpauth(&uri).unwrap();
        prop_assert_eq!(&a.issuer, &issuer);
        prop_assert_eq!(&a.name, &name);
        prop_assert_eq!(&a.secret, &secret);
        prop_assert_eq!(a.digits, digits);
        prop_assert!(matches!(a.algorithm, Algorithm::Sha1));
        let totp_period = match a.kind {
            Kind::Totp { period } => Some(period),
            Kind::Hotp { .. } => None,
        };
        prop_assert_eq!(totp_period, Some(period as u64));
    }
}
