//! Property tests of the core's parsers of outside input: sign-in names (typed or `login_hint`),
//! verification codes, base32 secrets and the rows of a hardware-token import. No input panics;
//! whatever is accepted is clean; whatever is refused says why.

use crate::directory;
use crate::methods::oath::{self, CodeCheck, HardwareRow};
use crate::signin::typed_name;
use crate::testing::fixture;
use crate::text::has_unsafe_chars;
use proptest::prelude::*;

fn tenant() -> crate::model::Tenant {
    crate::model::Tenant {
        id: "t1".into(),
        name: "contoso".into(),
        display_name: "Contoso".into(),
        domains: vec!["contoso.com".into()],
        created_at: 0,
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn accepted_names_are_clean_and_normalised(s in "\\PC{0,300}|[\\x00-\\x1f\\u{202a}-\\u{202e}a-z@.]{0,40}") {
        match typed_name(&tenant(), &s) {
            Ok(n) => {
                prop_assert!(!has_unsafe_chars(&n));
                prop_assert_eq!(&n, &n.to_lowercase());
                prop_assert!(!n.is_empty() && n.trim() == n);
            }
            Err(e) => prop_assert!(e.to_string().contains("sign-in name")),
        }
    }

    #[test]
    fn any_base32_text_decodes_or_is_refused(s in "\\PC{0,80}") {
        if let Err(e) = oath::decode_base32(&s) {
            prop_assert!(e.to_string().contains("secret key"));
        }
    }

    /// Whatever is typed as a code, the answer is accepted or rejected; nothing else.
    #[test]
    fn any_typed_code_gets_an_answer(code in "\\PC{0,20}|[0-9 ]{0,12}") {
        block_on(async {
            let f = fixture();
            let t = directory::create_tenant(&f.deps, "contoso", "Contoso", &["contoso.com".into()]).await.unwrap();
            let u = directory::create_user(&f.deps, &t, directory::NewUser {
                upn: "alice@contoso.com", display_name: "Alice", email: None, password: None, enabled: true,
            }).await.unwrap();
            let tok = oath::begin_enrolment(&f.deps, &u).await.unwrap();
            let r = oath::check_code(&f.deps, &t, &u, &code, oath::Tokens::One(&tok.id)).await.unwrap();
            let right = tok.code_at_step(tok.step_at(f.deps.now())).unwrap();
            prop_assert_eq!(matches!(r, CodeCheck::Accepted(_)), code.replace(' ', "") == right);
            Ok(())
        })?;
    }

    /// Any rows: imported whole, or refused with the line and the reason, and then nothing is
    /// stored.
    #[test]
    fn hardware_rows_import_whole_or_not_at_all(
        rows in proptest::collection::vec(
            ("(alice|bob|nobody)@contoso.com|\\PC{0,10}", "[0-9]{0,8}|\\PC{0,5}", "[A-Z2-7]{0,40}|\\PC{0,10}", "30|60|45|x|"),
            1..4,
        ),
    ) {
        block_on(async {
            let f = fixture();
            let t = directory::create_tenant(&f.deps, "contoso", "Contoso", &["contoso.com".into()]).await.unwrap();
            for upn in ["alice@contoso.com", "bob@contoso.com"] {
                directory::create_user(&f.deps, &t, directory::NewUser {
                    upn, display_name: "Someone", email: None, password: None, enabled: true,
                }).await.unwrap();
            }
            let rows: Vec<HardwareRow> = rows.iter().map(|(upn, serial, secret, interval)| HardwareRow {
                upn: upn.clone(), serial: serial.clone(), secret: secret.clone(),
                interval: interval.clone(), manufacturer: String::new(), model: String::new(),
            }).collect();
            match oath::import_hardware(&f.deps, &t, &rows).await {
                Ok(tokens) => prop_assert_eq!(tokens.len(), rows.len()),
                Err(e) => {
                    prop_assert!(e.to_string().contains("line "), "{}", e);
                    prop_assert!(f.deps.store.list_oath_tokens(&t.id).await.unwrap().is_empty());
                }
            }
            Ok(())
        })?;
    }
}
