//! Unit tests of verification codes: RFC 6238 Appendix B vectors, the drift window, single use
//! of a time step, per-token lock after three wrong codes, per-user throttling, the five-token
//! limit and enrolment that only counts after a correct code.

use crate::clock::Timestamp;
use crate::methods::oath::*;
use crate::model::{Tenant, User};
use crate::secret::Secret;
use crate::testing::*;

/// RFC 6238 Appendix B: the ASCII seeds "12345678901234567890" (SHA-1), its 32-byte and 64-byte
/// extensions (SHA-256, SHA-512), 8 digits, 30 s.
#[test]
fn rfc6238_appendix_b_vectors() {
    let seeds = [
        (OathAlgorithm::Sha1, "12345678901234567890".to_string()),
        (
            OathAlgorithm::Sha256,
            "12345678901234567890".repeat(2)[..32].to_string(),
        ),
        (
            OathAlgorithm::Sha512,
            "12345678901234567890".repeat(4)[..64].to_string(),
        ),
    ];
    let vectors: [(i64, [&str; 3]); 6] = [
        (59, ["94287082", "46119246", "90693936"]),
        (1111111109, ["07081804", "68084774", "25091201"]),
        (1111111111, ["14050471", "67062674", "99943326"]),
        (1234567890, ["89005924", "91819424", "93441116"]),
        (2000000000, ["69279037", "90698825", "38618901"]),
        (20000000000, ["65353130", "77737706", "47863826"]),
    ];
    for (i, (alg, seed)) in seeds.iter().enumerate() {
        let t = token(*alg, 8, &encode_base32(seed.as_bytes()));
        for (time, codes) in &vectors {
            assert_eq!(
                t.code_at_step(t.step_at(*time)).unwrap(),
                codes[i],
                "{alg:?} at {time}"
            );
        }
    }
}

fn token(algorithm: OathAlgorithm, digits: u32, secret: &str) -> OathToken {
    OathToken {
        id: "tok1".into(),
        tenant_id: "t".into(),
        user_id: "u".into(),
        kind: OathKind::Hardware,
        name: "Token".into(),
        serial: Some("1".into()),
        manufacturer: None,
        model: None,
        secret: Secret::new(secret),
        algorithm,
        digits,
        period: 30,
        active: true,
        created_at: 0,
        last_used_at: None,
        last_step: 0,
        failures: Default::default(),
    }
}

async fn setup(f: &Fixture) -> (Tenant, User) {
    contoso_alice(&f.deps, None).await
}

async fn enrolled(f: &Fixture, t: &Tenant, u: &User) -> OathToken {
    let tok = begin_enrolment(&f.deps, u).await.unwrap();
    let code = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(activate(&f.deps, t, u, &tok.id, &code).await.unwrap());
    tok
}

impl Fixture {
    fn clock_now(&self) -> Timestamp {
        use crate::clock::Clock;
        self.clock.now()
    }
}

fn accepted(c: CodeCheck) -> bool {
    matches!(c, CodeCheck::Accepted(_))
}

#[tokio::test]
async fn enrolment_counts_only_after_a_correct_code() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = begin_enrolment(&f.deps, &u).await.unwrap();
    assert_eq!(tok.secret.expose().len(), 32, "160-bit secret in base32");
    let now = f.clock_now();
    // not usable for sign-in yet
    let code = tok.code_at_step(tok.step_at(now)).unwrap();
    assert!(!accepted(
        check_code(&f.deps, &t, &u, &code, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    assert!(!activate(&f.deps, &t, &u, &tok.id, "000000").await.unwrap() || code == "000000");
    f.clock.advance(30);
    let code = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(activate(&f.deps, &t, &u, &tok.id, &code).await.unwrap());
    f.clock.advance(30);
    let code = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(accepted(
        check_code(&f.deps, &t, &u, &code, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    let uri = tok.otpauth_uri("Contoso", "alice@contoso.com");
    assert!(
        uri.starts_with("otpauth://totp/Contoso:alice%40contoso.com?secret="),
        "{uri}"
    );
    assert!(uri.contains("&issuer=Contoso&algorithm=SHA1&digits=6&period=30"));
}

#[tokio::test]
async fn drift_window_is_one_step_each_way() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = enrolled(&f, &t, &u).await;
    let step = tok.step_at(f.clock_now());
    for (offset, ok) in [(-2, false), (2, false), (-1, true), (1, true)] {
        f.clock.advance(60); // a fresh step each round, so replay protection does not interfere
        let now_step = tok.step_at(f.clock_now());
        let code = tok.code_at_step(now_step + offset).unwrap();
        let r = accepted(
            check_code(&f.deps, &t, &u, &code, ANY_ACTIVE)
                .await
                .unwrap(),
        );
        assert_eq!(r, ok, "offset {offset} (from step {step})");
    }
}

#[tokio::test]
async fn a_time_step_is_accepted_once() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = enrolled(&f, &t, &u).await;
    f.clock.advance(30);
    let code = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(accepted(
        check_code(&f.deps, &t, &u, &code, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    assert!(!accepted(
        check_code(&f.deps, &t, &u, &code, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    // the previous step's code is older than the accepted one: also refused
    let prev = tok.code_at_step(tok.step_at(f.clock_now()) - 1).unwrap();
    assert!(!accepted(
        check_code(&f.deps, &t, &u, &prev, ANY_ACTIVE)
            .await
            .unwrap()
    ));
}

#[tokio::test]
async fn three_wrong_codes_lock_the_token_until_the_step_ends() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = enrolled(&f, &t, &u).await;
    // start at the beginning of a step so that the lock and the right code share it
    let now = f.clock_now();
    f.clock.advance(30 - now % 30 + 30);
    let right = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..3 {
        assert!(!accepted(
            check_code(&f.deps, &t, &u, wrong, ANY_ACTIVE)
                .await
                .unwrap()
        ));
    }
    assert!(
        !accepted(
            check_code(&f.deps, &t, &u, &right, ANY_ACTIVE)
                .await
                .unwrap()
        ),
        "locked: the right code is refused, with the same answer"
    );
    f.clock.advance(30);
    let next = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(accepted(
        check_code(&f.deps, &t, &u, &next, ANY_ACTIVE)
            .await
            .unwrap()
    ));
}

#[tokio::test]
async fn per_user_failures_are_throttled_like_passwords() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = enrolled(&f, &t, &u).await;
    for i in 0..10 {
        f.clock.advance(30); // new steps, so the per-token lock never triggers
        let _ = check_code(&f.deps, &t, &u, &format!("{:06}", i), ANY_ACTIVE).await;
    }
    f.clock.advance(30);
    let right = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(!accepted(
        check_code(&f.deps, &t, &u, &right, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    f.clock.advance(60);
    let right = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(accepted(
        check_code(&f.deps, &t, &u, &right, ANY_ACTIVE)
            .await
            .unwrap()
    ));
}

#[tokio::test]
async fn unlock_lifts_the_code_lock_too() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = enrolled(&f, &t, &u).await;
    // 100 wrong codes, each after the previous lock ran out: locked for good.
    for i in 0..100 {
        f.clock.advance(3601);
        let _ = check_code(&f.deps, &t, &u, &format!("{:06}", i), ANY_ACTIVE).await;
    }
    f.clock.advance(3601);
    let right = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
    assert!(!accepted(
        check_code(&f.deps, &t, &u, &right, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    let locks = crate::directory::account_locks(&f.deps, &u).await.unwrap();
    let codes = locks
        .iter()
        .find(|l| l.what == "verification codes")
        .unwrap();
    assert_eq!(codes.lock, throttle::Lock::Permanent);
    assert_eq!(codes.failures, 100);
    crate::directory::unlock_user(&f.deps, &t, &u.upn)
        .await
        .unwrap();
    assert!(accepted(
        check_code(&f.deps, &t, &u, &right, ANY_ACTIVE)
            .await
            .unwrap()
    ));
    let locks = crate::directory::account_locks(&f.deps, &u).await.unwrap();
    assert!(locks.iter().all(|l| !l.lock.is_locked() && l.failures == 0));
}

#[tokio::test]
async fn an_accepted_code_gives_its_reservation_back() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    let tok = enrolled(&f, &t, &u).await;
    // Eleven sign-ins in a row, each with a right code: never locked by its own successes.
    for _ in 0..11 {
        f.clock.advance(30);
        let right = tok.code_at_step(tok.step_at(f.clock_now())).unwrap();
        assert!(accepted(
            check_code(&f.deps, &t, &u, &right, ANY_ACTIVE)
                .await
                .unwrap()
        ));
    }
}

#[tokio::test]
async fn at_most_five_tokens() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    for _ in 0..5 {
        enrolled(&f, &t, &u).await;
        f.clock.advance(30);
    }
    let e = begin_enrolment(&f.deps, &u).await.unwrap_err();
    assert!(e.to_string().contains("already have 5"), "{e}");
}

#[tokio::test]
async fn malformed_codes_and_parameters_are_refused() {
    let f = fixture();
    let (t, u) = setup(&f).await;
    enrolled(&f, &t, &u).await;
    for bad in ["", "12345", "abcdef", "1234567890", "12 34 5x"] {
        assert!(
            !accepted(check_code(&f.deps, &t, &u, bad, ANY_ACTIVE).await.unwrap()),
            "{bad}"
        );
    }
    assert!(validate(&token(OathAlgorithm::Sha1, 7, &encode_base32(&[1; 20]))).is_err());
    assert!(validate(&token(OathAlgorithm::Sha1, 6, &encode_base32(&[1; 10]))).is_err());
    assert!(validate(&token(OathAlgorithm::Sha1, 6, "not base32!")).is_err());
    assert!(validate(&token(OathAlgorithm::Sha256, 8, &encode_base32(&[1; 32]))).is_ok());
}
