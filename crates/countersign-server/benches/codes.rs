//! Criterion benchmark of second-factor code checks on the real SQLite store: each iteration is
//! a correct code for a new time step (the manual clock moves 30 s), so every check is a real
//! acceptance with the atomic replay-protection update — plus a replayed code, refused.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::clock::{Clock, ManualClock, SystemClock};
use countersign_core::directory::{self, NewUser};
use countersign_core::methods::oath::{self, CodeCheck};
use countersign_core::methods::password::InlineHasher;
use countersign_core::random::OsRandom;
use countersign_core::{Deps, Settings};
use countersign_store::SqlStore;
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let (deps, tenant, user, token) = rt.block_on(async {
        let store = Arc::new(SqlStore::open_sqlite(dir.path()).await.unwrap());
        let deps = Deps {
            store,
            clock: clock.clone(),
            rng: Arc::new(OsRandom),
            hasher: Arc::new(InlineHasher),
            notifier: Arc::new(countersign_core::notify::Silent),
            risk: Arc::new([]),
            settings: Settings::default(),
        };
        let t = directory::create_tenant(&deps, "contoso", "Contoso", &["contoso.com".into()])
            .await
            .unwrap();
        let u = directory::create_user(
            &deps,
            &t,
            NewUser {
                upn: "alice@contoso.com",
                display_name: "Alice",
                email: None,
                password: None,
                enabled: true,
            },
        )
        .await
        .unwrap();
        let tok = oath::begin_enrolment(&deps, &u).await.unwrap();
        let code = tok.code_at_step(tok.step_at(clock.now())).unwrap();
        assert!(oath::activate(&deps, &t, &u, &tok.id, &code).await.unwrap());
        (deps, t, u, tok)
    });
    c.bench_function("check_code_accepted_sqlite", |b| {
        b.iter(|| {
            clock.advance(30);
            let code = token.code_at_step(token.step_at(clock.now())).unwrap();
            let r = rt.block_on(oath::check_code(
                &deps,
                &tenant,
                &user,
                &code,
                oath::ANY_ACTIVE,
            ));
            assert!(matches!(r, Ok(CodeCheck::Accepted(_))));
        })
    });
    c.bench_function("totp_code_generation", |b| {
        b.iter(|| token.code_at_step(token.step_at(clock.now())).unwrap())
    });
}

criterion_group!(codes, benches);
criterion_main!(codes);
