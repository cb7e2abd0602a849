//! Criterion benchmarks of the server's in-process hot paths: signing ID tokens (RS256) and access
//! tokens (ES256), and verifying an access token as userinfo does.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::clock::{Clock, SystemClock};
use countersign_core::model::SigningAlg;
use countersign_core::oidc::{TokenSigner, ACCESS_TOKEN_TYP, ID_TOKEN_TYP};
use countersign_server::keys::KeyRing;
use countersign_store::SqlStore;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = rt.block_on(async {
        let store = SqlStore::open_sqlite(dir.path()).await.unwrap();
        KeyRing::load(&store, SystemClock.now()).await.unwrap()
    });
    let now = SystemClock.now();
    let iss = "http://localhost:8080/contoso/v2.0";
    let claims = json!({
        "iss": iss, "sub": "0123456789abcdef0123456789abcdef", "aud": "demo-app",
        "iat": now, "exp": now + 3600, "auth_time": now, "nonce": "n-0S6_WzA2Mj",
        "tid": "fedcba9876543210fedcba9876543210", "name": "Alice Smith",
        "preferred_username": "alice@contoso.com", "email": "alice@contoso.com",
        "amr": ["pwd"], "acr": "urn:countersign:acr:1fa", "gid": "g", "scope": "openid profile",
    });
    c.bench_function("sign_id_token_rs256", |b| {
        b.iter(|| {
            keys.sign(SigningAlg::RS256, ID_TOKEN_TYP, black_box(&claims))
                .unwrap()
        })
    });
    c.bench_function("sign_access_token_es256", |b| {
        b.iter(|| {
            keys.sign(SigningAlg::ES256, ACCESS_TOKEN_TYP, black_box(&claims))
                .unwrap()
        })
    });
    let at = keys
        .sign(SigningAlg::ES256, ACCESS_TOKEN_TYP, &claims)
        .unwrap();
    c.bench_function("verify_access_token_es256", |b| {
        b.iter(|| {
            keys.verify(black_box(&at), iss, ACCESS_TOKEN_TYP, now)
                .unwrap()
        })
    });
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
