//! The OpenID Connect code flow over real HTTP: discovery and JWKS, authorize → sign in → code →
//! tokens (client_secret_basic, client_secret_post, public client), userinfo, refresh rotation,
//! prompt and max_age, RP-initiated logout — on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::{
    location, query_param, redeem_code, token_request, Db, TestServer, WebClient, PASSWORD,
    REDIRECT,
};
use serde_json::Value;

fn claims(jwt: &str) -> Value {
    countersign_testkit::jwt_claims(jwt)
}

async fn full_flow(db: Db) {
    let Some(s) = TestServer::start_on(db).await else {
        return;
    };
    let f = s.seed().await;
    let web = WebClient::new(&s.base);

    // discovery and keys
    let d: Value = web
        .get("/contoso/v2.0/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], s.issuer("contoso"));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let jwks: Value = web
        .get("/contoso/discovery/v2.0/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    // the browser part
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;

    // client_secret_basic
    let (status, body) = redeem_code(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &code,
        &verifier,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], s.issuer("contoso"));
    assert_eq!(id["aud"], f.app.id.as_str());
    assert_eq!(id["sub"], f.alice.id.as_str());
    assert_eq!(id["tid"], f.tenant.id.as_str());
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["preferred_username"], "alice@contoso.com");
    assert_eq!(id["name"], "Alice Smith");
    assert_eq!(id["email"], "alice.smith@mail.example");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["acr"], "urn:countersign:acr:1fa");
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());

    // userinfo
    let ui: Value = reqwest::Client::new()
        .get(format!("{}/contoso/oidc/userinfo", s.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], f.alice.id.as_str());
    assert_eq!(ui["email"], "alice.smith@mail.example");

    // refresh with client_secret_post; the token rotates
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let (status, r2) = token_request(
        &s.base,
        "contoso",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &f.app.id),
            ("client_secret", &f.secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{r2}");
    assert_ne!(r2["refresh_token"].as_str().unwrap(), rt);

    // the session lets the browser get another code without signing in again
    let (url, _) = web.authorize_url("contoso", &f.spa.id, &[]);
    let r = web.get(&url).await;
    assert!(
        location(&r).starts_with(REDIRECT),
        "silent code: {}",
        location(&r)
    );
    assert_eq!(query_param(&location(&r), "state").unwrap(), "st-123");
    assert_eq!(
        query_param(&location(&r), "iss").unwrap(),
        s.issuer("contoso")
    );
    s.stop().await;
}

#[tokio::test]
async fn code_flow_on_sqlite() {
    full_flow(Db::Sqlite).await;
}

#[tokio::test]
async fn code_flow_on_postgres() {
    full_flow(Db::Postgres).await;
}

#[tokio::test]
async fn public_clients_use_pkce_without_a_secret() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.spa.id, "alice", PASSWORD).await;
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
    assert_eq!(status, 200, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn prompt_none_login_and_max_age() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[("prompt", "none")]);
    let r = web.get(&url).await;
    assert_eq!(
        query_param(&location(&r), "error").unwrap(),
        "login_required"
    );
    web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    // signed in: prompt=login still asks again
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[("prompt", "login")]);
    assert_eq!(location(&web.get(&url).await), "/contoso/login");
    s.clock.advance(120);
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[("max_age", "60")]);
    assert_eq!(location(&web.get(&url).await), "/contoso/login");
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[("max_age", "600")]);
    assert!(location(&web.get(&url).await).starts_with(REDIRECT));
    s.stop().await;
}

#[tokio::test]
async fn logout_with_hint_ends_the_session_and_returns_to_the_app() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let web = WebClient::new(&s.base);
    let (code, verifier) = web.code_flow("contoso", &f.app.id, "alice", PASSWORD).await;
    let (_, body) = redeem_code(
        &s.base,
        "contoso",
        Some((&f.app.id, &f.secret)),
        &code,
        &verifier,
    )
    .await;
    let hint = body["id_token"].as_str().unwrap();
    // an unregistered return address is refused
    let bad = format!(
        "/contoso/oauth2/v2.0/logout?id_token_hint={hint}&post_logout_redirect_uri=https://evil.example/"
    );
    assert_eq!(web.get(&bad).await.status(), 400);
    let url = format!(
        "/contoso/oauth2/v2.0/logout?id_token_hint={hint}&post_logout_redirect_uri=https://app.example/bye&state=s1"
    );
    let r = web.get(&url).await;
    assert_eq!(location(&r), "https://app.example/bye?state=s1");
    // signed out: a new authorization needs a sign-in
    let (url, _) = web.authorize_url("contoso", &f.app.id, &[]);
    assert_eq!(location(&web.get(&url).await), "/contoso/login");
    s.stop().await;
}

#[tokio::test]
async fn logout_without_hint_asks_first() {
    let s = TestServer::start().await;
    s.seed().await;
    let web = WebClient::new(&s.base);
    web.sign_in("contoso", "alice", PASSWORD).await;
    let page = web
        .get("/contoso/oauth2/v2.0/logout")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign out?"),
        "a cross-site link alone must not sign out"
    );
    assert!(web
        .get("/contoso/")
        .await
        .text()
        .await
        .unwrap()
        .contains("My account"));
    let csrf = countersign_testkit::csrf_of(&page).unwrap();
    let r = web
        .post_form("/contoso/oauth2/v2.0/logout", &[("csrf", &csrf)])
        .await;
    assert!(r.text().await.unwrap().contains("You signed out"));
    assert_eq!(web.get("/contoso/").await.status(), 303);
    s.stop().await;
}
