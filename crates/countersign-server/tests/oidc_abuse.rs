//! Attacks on the OpenID Connect endpoints, each of which must fail: code reuse (which also
//! revokes what the code produced), PKCE missing, `plain` or wrong, redirect URI variants, refresh
//! token replay, forged tokens (`alg: none`, another key, tampered claims), client impersonation.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use countersign_testkit::{
    location, query_param, redeem_code, token_request, Fixture, TestServer, WebClient, PASSWORD,
    REDIRECT,
};
use serde_json::{json, Value};

async fn redeem(s: &TestServer, f: &Fixture, code: &str, verifier: &str) -> (u16, Value) {
    redeem_code(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        code,
        verifier,
    )
    .await
}

async fn userinfo_status(s: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/contoso/oidc/userinfo", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn refresh(s: &TestServer, f: &Fixture, rt: &str) -> (u16, Value) {
    token_request(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes_the_tokens() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (status, first) = redeem(&s, &f, &code, &verifier).await;
    assert_eq!(status, 200);
    let (status, again) = redeem(&s, &f, &code, &verifier).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
    let at = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&s, at).await, 401, "access token revoked");
    let (status, _) = refresh(&s, &f, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "refresh token revoked");
    s.stop().await;
}

#[tokio::test]
async fn parallel_redemptions_of_one_code_succeed_once() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (base, id, secret, code, verifier) = (
            s.base.clone(),
            f.app.id.clone(),
            f.secret.clone(),
            code.clone(),
            verifier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            redeem_code(&base, "contoso", Some((&id, &secret)), &code, &verifier)
                .await
                .0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    s.stop().await;
}

#[tokio::test]
async fn codes_expire() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    s.clock.advance(5 * 60);
    let (status, body) = redeem(&s, &f, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    s.stop().await;
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_checked() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let base = format!(
        "/contoso/oauth2/v2.0/authorize?client_id={}&redirect_uri={REDIRECT}&response_type=code&scope=openid&state=x",
        f.app.id
    );
    // missing
    let r = web.get(&base).await;
    assert_eq!(
        query_param(&location(&r), "error").unwrap(),
        "invalid_request"
    );
    // plain
    let r = web
        .get(&format!(
            "{base}&code_challenge=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&code_challenge_method=plain"
        ))
        .await;
    assert_eq!(
        query_param(&location(&r), "error").unwrap(),
        "invalid_request"
    );
    assert!(query_param(&location(&r), "error_description")
        .unwrap()
        .contains("S256"));
    // wrong verifier at the token endpoint
    let (code, _) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (status, body) = redeem(&s, &f, &code, &"a".repeat(43)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token_request(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    s.stop().await;
}

#[tokio::test]
async fn redirect_uri_variants_are_never_redirected_to() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    for variant in [
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
        "https://app.example/callback#frag",
        "https://APP.example/callback",
        "http://app.example/callback",
        "https://app.example:443/callback",
        "https://app.example/callback/../callback",
        "https://app.example.evil.example/callback",
        "https://evil.example/?https://app.example/callback",
    ] {
        let (url, _) = {
            let (u, v) = web.authorize_url("contoso", &f.app.id, &[]);
            (u.replace(&urlencode(REDIRECT), &urlencode(variant)), v)
        };
        let r = web.get(&url).await;
        assert_eq!(r.status(), 400, "{variant}");
        assert!(
            location(&r).is_empty(),
            "{variant} must not be redirected to"
        );
    }
    // the code is bound to the redirect URI of the request
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (status, _) = token_request(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/callback/"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn refresh_replay_revokes_the_family() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (_, t1) = redeem(&s, &f, &code, &verifier).await;
    let r1 = t1["refresh_token"].as_str().unwrap();
    let (status, t2) = refresh(&s, &f, r1).await;
    assert_eq!(status, 200);
    let r2 = t2["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&s, &f, r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&s, &f, r2).await;
    assert_eq!(status, 400, "the newer token died with its family");
    assert_eq!(
        userinfo_status(&s, t2["access_token"].as_str().unwrap()).await,
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn another_client_cannot_use_the_code_or_refresh_token() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (status, body) = token_request(
        &s.base,
        "contoso",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", &f.spa.id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // wrong secret
    let (status, body) = token_request(
        &s.base,
        "contoso",
        Some((&f.app.id, "not-the-secret")),
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // the rightful client still can (failed attempts did not burn the code)
    let (status, _) = redeem(&s, &f, &code, &verifier).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_errors() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let auth = Some((f.app.id.as_str(), f.secret.as_str()));
    let (st, b) = token_request(&s.base, "contoso", auth, &[("grant_type", "password")]).await;
    assert_eq!(
        (st, b["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (st, b) = token_request(&s.base, "contoso", auth, &[("code", "x")]).await;
    assert_eq!((st, b["error"].as_str()), (400, Some("invalid_request")));
    let (st, b) = token_request(
        &s.base,
        "contoso",
        auth,
        &[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!((st, b["error"].as_str()), (400, Some("invalid_request")));
    let r = reqwest::Client::new()
        .post(format!("{}/contoso/oauth2/v2.0/token", s.base))
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.stop().await;
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (_, t) = redeem(&s, &f, &code, &verifier).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&s, at).await, 200);
    let parts: Vec<&str> = at.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // alg: none
    let mut h = header.clone();
    h["alg"] = json!("none");
    let none = format!("{}.{}.", b64(&h), parts[1]);
    assert_eq!(userinfo_status(&s, &none).await, 401);
    // tampered claims under the original signature
    payload["sub"] = json!("someone-else");
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert_eq!(userinfo_status(&s, &tampered).await, 401);
    // algorithm swap to HS256 keyed with public material
    let mut h = header.clone();
    h["alg"] = json!("HS256");
    let swapped = format!("{}.{}.{}", b64(&h), parts[1], parts[2]);
    assert_eq!(userinfo_status(&s, &swapped).await, 401);
    // signed by a different server's key (same kid does not help)
    let other = TestServer::start().await;
    let g = other.seed().await;
    let w2 = WebClient::new(&other.base);
    let (c2, v2) = w2.code_flow("contoso", &g.app.id, "alice", PASSWORD).await;
    let (_, t2) = redeem(&other, &g, &c2, &v2).await;
    let foreign = t2["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&s, foreign).await, 401);
    // an ID token is not an access token
    assert_eq!(
        userinfo_status(&s, t["id_token"].as_str().unwrap()).await,
        401
    );
    // expiry
    s.clock.advance(3599);
    assert_eq!(userinfo_status(&s, at).await, 200);
    s.clock.advance(1);
    assert_eq!(userinfo_status(&s, at).await, 401, "expired");
    other.stop().await;
    s.stop().await;
}
