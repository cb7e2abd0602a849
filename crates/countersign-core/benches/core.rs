//! Criterion benchmarks of the core's hot in-process paths: the throttle decision taken on every
//! sign-in attempt, bearer-token digests, PKCE verification, the password policy, and one Argon2id
//! hash (the ceiling for password sign-ins per core).

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::methods::password::{check_policy, hash_password, verify_password};
use countersign_core::model::ThrottleState;
use countersign_core::oidc::token::pkce_matches;
use countersign_core::random::OsRandom;
use countersign_core::secret::token_digest;
use countersign_core::signin::throttle::LockoutPolicy;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let st = ThrottleState {
        failures: 12,
        last_failure_at: 1_000,
    };
    c.bench_function("throttle_lock_decision", |b| {
        b.iter(|| LockoutPolicy::ACCOUNT.lock(black_box(&st), black_box(1_100)))
    });
    c.bench_function("token_digest", |b| {
        b.iter(|| token_digest(black_box("k3Jd9s0aLq_Zx8b1m2n3v4c5x6z7a8s9d0f1g2h3j4k")))
    });
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    c.bench_function("pkce_s256_verify", |b| {
        b.iter(|| pkce_matches(black_box(verifier), black_box(challenge)))
    });
    c.bench_function("password_policy_check", |b| {
        b.iter(|| check_policy(black_box("violet-tuba-engine-42"), &["alice", "contoso"]))
    });
    let mut g = c.benchmark_group("argon2id_m19456_t2_p1");
    g.sample_size(20);
    let h = hash_password("violet-tuba-engine", &OsRandom).unwrap();
    g.bench_function("verify", |b| {
        b.iter(|| verify_password(black_box("violet-tuba-engine"), &h))
    });
    g.finish();
}

criterion_group!(core, benches);
criterion_main!(core);
