//! Criterion benchmarks of the authenticator: every code of a 1,000-account vault (what `codes`
//! computes after unlocking), and unlocking itself (Argon2id key derivation + decryption).

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_authenticator::{Account, Algorithm, Kind, Vault};
use criterion::{criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut v = Vault::create(dir.path(), "246810").unwrap();
    for i in 0..1000 {
        v.accounts.push(Account {
            id: format!("{i}"),
            issuer: "Service".into(),
            name: format!("user{i}"),
            secret: format!("secret-number-{i:06}-abcdef").into_bytes(),
            algorithm: Algorithm::Sha1,
            digits: 6,
            kind: Kind::Totp { period: 30 },
        });
    }
    v.save().unwrap();
    c.bench_function("codes_1000_accounts", |b| {
        b.iter(|| {
            let codes: Vec<_> = v.accounts.iter().map(|a| a.code(1_800_000_000)).collect();
            criterion::black_box(codes)
        })
    });
    let mut g = c.benchmark_group("vault");
    g.sample_size(20);
    g.bench_function("unlock_1000_accounts", |b| {
        b.iter(|| Vault::open(dir.path(), "246810").unwrap())
    });
    g.finish();
}

criterion_group!(codes, benches);
criterion_main!(codes);
