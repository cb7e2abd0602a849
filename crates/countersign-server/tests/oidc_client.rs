//! Interoperability with a standard OpenID Connect client library (`openidconnect`): a relying
//! party discovers Countersign, runs the code flow with PKCE, validates the ID token against the
//! JWKS, refreshes, and calls userinfo.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_core::directory::{self, NewClient};
use countersign_core::model::SigningAlg;
use countersign_testkit::rp::{http_client, RelyingParty};
use countersign_testkit::{location, TestServer, WebClient, PASSWORD};
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessToken, ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, RefreshToken,
};

async fn register(s: &TestServer, rp_base: &str, alg: SigningAlg) -> (String, String) {
    let deps = &s.state.deps;
    let t = directory::tenant(deps, "contoso").await.unwrap();
    let (c, secret) = directory::create_client(
        deps,
        &t,
        NewClient {
            require_mfa: false,
            name: "Relying party",
            redirect_uris: &[format!("{rp_base}/callback")],
            post_logout_redirect_uris: &[],
            confidential: true,
            id_token_alg: alg,
            client_id: None,
        },
    )
    .await
    .unwrap();
    (c.id, secret.unwrap())
}

async fn sign_in_through(rp: &RelyingParty, web: &WebClient) -> String {
    let r = web.get(&format!("{}/login", rp.base)).await;
    let authorize = location(&r);
    assert!(authorize.contains("/contoso/oauth2/v2.0/authorize"));
    assert!(authorize.contains("code_challenge_method=S256"));
    let r = web.get(&authorize).await;
    assert_eq!(location(&r), "/contoso/login");
    let r = web.sign_in("contoso", "alice@contoso.com", PASSWORD).await;
    let callback = location(&r);
    assert!(
        callback.starts_with(&rp.base),
        "back to the application: {callback}"
    );
    web.get(&callback).await.text().await.unwrap()
}

#[tokio::test]
async fn a_standard_client_signs_in_refreshes_and_reads_userinfo() {
    let s = TestServer::start().await;
    let f = s.seed().await;
    let (listener, rp_base) = RelyingParty::bind().await;
    let (id, secret) = register(&s, &rp_base, SigningAlg::RS256).await;
    let rp = RelyingParty::start(listener, &s.issuer("contoso"), &id, Some(&secret))
        .await
        .unwrap();
    let web = WebClient::new(&s.base);
    let page = sign_in_through(&rp, &web).await;
    assert!(page.contains("Signed in as Alice Smith"), "{page}");
    let signed = rp.signed_in().pop().unwrap();
    assert_eq!(signed.subject, f.alice.id);
    assert_eq!(
        signed.preferred_username.as_deref(),
        Some("alice@contoso.com")
    );
    assert_eq!(signed.amr, vec!["pwd"]);

    // refresh and userinfo through the library
    let http = http_client();
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(s.issuer("contoso")).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id),
        Some(ClientSecret::new(secret)),
    );
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(signed.refresh_token.clone().unwrap()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        signed.refresh_token.as_ref().unwrap()
    );
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(
            AccessToken::new(refreshed.access_token().secret().clone()),
            None,
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject().as_str(), f.alice.id);
    s.stop().await;
}

#[tokio::test]
async fn es256_id_tokens_validate_too() {
    let s = TestServer::start().await;
    s.seed().await;
    let (listener, rp_base) = RelyingParty::bind().await;
    let (id, secret) = register(&s, &rp_base, SigningAlg::ES256).await;
    let rp = RelyingParty::start(listener, &s.issuer("contoso"), &id, Some(&secret))
        .await
        .unwrap();
    let page = sign_in_through(&rp, &WebClient::new(&s.base)).await;
    assert!(page.contains("Signed in as Alice Smith"), "{page}");
    let jwt = rp.signed_in().pop().unwrap().id_token;
    assert!(jwt.starts_with(&base64_json(r#"{"alg":"ES256""#)), "{jwt}");
    s.stop().await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_new_ones_use_new_keys() {
    let s = TestServer::start().await;
    s.seed().await;
    let (listener, rp_base) = RelyingParty::bind().await;
    let (id, secret) = register(&s, &rp_base, SigningAlg::RS256).await;
    let rp = RelyingParty::start(listener, &s.issuer("contoso"), &id, Some(&secret))
        .await
        .unwrap();
    sign_in_through(&rp, &WebClient::new(&s.base)).await;
    let before = rp.signed_in().pop().unwrap();
    countersign_server::keys::KeyRing::rotate(s.state.deps.store.as_ref(), s.state.deps.now())
        .await
        .unwrap();
    s.state
        .keys
        .reload(s.state.deps.store.as_ref(), s.state.deps.now())
        .await
        .unwrap();
    assert_eq!(s.state.keys.jwks().keys.len(), 4, "old keys stay published");
    // the access token signed before the rotation still works
    let r = reqwest::Client::new()
        .get(format!("{}/contoso/oidc/userinfo", s.base))
        .bearer_auth(&before.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // a new sign-in validates against the new key (the RP re-discovers on start)
    let (listener, rp_base) = RelyingParty::bind().await;
    let (id, secret) = register(&s, &rp_base, SigningAlg::RS256).await;
    let rp2 = RelyingParty::start(listener, &s.issuer("contoso"), &id, Some(&secret))
        .await
        .unwrap();
    let page = sign_in_through(&rp2, &WebClient::new(&s.base)).await;
    assert!(page.contains("Signed in as Alice Smith"), "{page}");
    let kid = |jwt: &str| {
        use base64::Engine;
        let h: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_string()
    };
    assert_ne!(kid(&before.id_token), kid(&rp2.signed_in()[0].id_token));
    s.stop().await;
}

/// base64url of a JSON prefix, to recognise a JWT header without decoding it.
fn base64_json(prefix: &str) -> String {
    use base64::Engine;
    let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(prefix);
    // only whole 3-byte groups encode stably whatever follows
    enc[..(prefix.len() / 3) * 4].to_string()
}
