//! Property tests of what the server reads from outside: form bodies and query strings, cookie
//! headers, and the JWTs presented to it. No input makes it panic; bad input is refused with a
//! clear error; a token changed in any one character never verifies.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use axum::http::{HeaderMap, HeaderValue};
use countersign_core::clock::{Clock, SystemClock};
use countersign_core::model::SigningAlg;
use countersign_core::oidc::TokenSigner;
use countersign_proto::codes;
use countersign_server::http::{cookie, decode_form};
use countersign_server::keys::KeyRing;
use countersign_store::{KeyFile, SqlStore};
use proptest::prelude::*;
use std::sync::OnceLock;

const ISS: &str = "https://login.example/contoso/v2.0";

/// A key ring on a throwaway store, and one access token it signed.
fn ring() -> &'static (KeyRing, String) {
    static RING: OnceLock<(KeyRing, String)> = OnceLock::new();
    RING.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqlStore::open_sqlite_with(dir.path(), KeyFile::Ephemeral)
                .await
                .unwrap();
            let now = SystemClock.now();
            let keys = KeyRing::load(&store, now).await.unwrap();
            let claims = serde_json::json!({
                "iss": ISS, "sub": "u1", "exp": now + 3600, "iat": now, "gid": "g1",
            });
            let token = keys.sign(SigningAlg::ES256, "at+jwt", &claims).unwrap();
            (keys, token)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_form_bytes_are_decoded_or_refused_as_bad_form(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match decode_form::<Vec<(String, String)>>(&bytes) {
            Ok(_) => {}
            Err(e) => {
                prop_assert_eq!(e.status.as_u16(), 400);
                prop_assert_eq!(e.code, codes::BAD_FORM);
            }
        }
    }

    #[test]
    fn utf8_forms_read_back_exactly(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,24}"), 0..6)) {
        let encoded = serde_urlencoded::to_string(&pairs).unwrap();
        let back: Vec<(String, String)> = decode_form(encoded.as_bytes()).unwrap();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn a_byte_that_is_not_utf8_is_refused(prefix in "[a-z]{1,8}", byte in 0x80u8..=0xff) {
        let body = format!("{prefix}=%{byte:02X}");
        prop_assert!(decode_form::<Vec<(String, String)>>(body.as_bytes()).is_err());
    }

    #[test]
    fn any_cookie_header_is_read_without_panic(value in "[ -~]{0,200}") {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert("cookie", v);
        }
        if let Some(found) = cookie(&h, "cs_session") {
            let pair = format!("cs_session={found}");
            prop_assert!(value.contains(&pair));
        }
    }

    #[test]
    fn any_text_presented_as_a_token_is_refused(s in "\\PC{0,400}") {
        let (keys, _) = ring();
        prop_assert!(keys.verify(&s, ISS, "at+jwt", SystemClock.now()).is_none());
    }

    #[test]
    fn a_token_changed_in_one_character_never_verifies(at in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.-]") {
        let (keys, token) = ring();
        let now = SystemClock.now();
        prop_assert!(keys.verify(token, ISS, "at+jwt", now).is_some());
        let i = at.index(token.len());
        let c = c.chars().next().unwrap();
        prop_assume!(token.as_bytes()[i] as char != c);
        let mut forged = token.clone();
        forged.replace_range(i..=i, &c.to_string());
        prop_assert!(keys.verify(&forged, ISS, "at+jwt", now).is_none(), "{forged}");
    }
}
