//! A relying-party web application built on the `openidconnect` crate, as a real application
//! integrating with Countersign would be: it discovers the provider, sends the browser to sign in
//! with PKCE, state and nonce, redeems the code, and validates the ID token against the JWKS before
//! showing who signed in. Tests drive it with a browser or with `WebClient`.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub fn http_client() -> reqwest::Client {
    reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// What the application learnt from a successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub subject: String,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub amr: Vec<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: String,
}

struct Inner {
    metadata: CoreProviderMetadata,
    client_id: String,
    client_secret: Option<String>,
    redirect: String,
    pending: Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>,
    signed_in: Mutex<Vec<SignedIn>>,
}

/// The running application.
#[derive(Clone)]
pub struct RelyingParty {
    pub base: String,
    inner: Arc<Inner>,
}

impl RelyingParty {
    /// Binds the application's port first, so its redirect URI can be registered before start.
    pub async fn bind() -> (tokio::net::TcpListener, String) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        (l, base)
    }

    pub async fn start(
        listener: tokio::net::TcpListener,
        issuer: &str,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> anyhow::Result<Self> {
        let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(issuer.to_string())?,
            &http_client(),
        )
        .await?;
        let inner = Arc::new(Inner {
            metadata,
            client_id: client_id.to_string(),
            client_secret: client_secret.map(str::to_string),
            redirect: format!("{base}/callback"),
            pending: Mutex::default(),
            signed_in: Mutex::default(),
        });
        let app = Router::new()
            .route("/", get(home))
            .route("/login", get(login))
            .route("/callback", get(callback))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base, inner })
    }

    pub fn redirect_uri(&self) -> &str {
        &self.inner.redirect
    }

    /// Sign-ins completed so far.
    pub fn signed_in(&self) -> Vec<SignedIn> {
        self.inner.signed_in.lock().unwrap().clone()
    }
}

fn client(
    inner: &Inner,
) -> anyhow::Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
> {
    Ok(CoreClient::from_provider_metadata(
        inner.metadata.clone(),
        ClientId::new(inner.client_id.clone()),
        inner.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(inner.redirect.clone())?))
}

async fn home() -> Html<&'static str> {
    Html("<!doctype html><title>Demo app</title><h1>Demo app</h1><a href=\"/login\">Sign in</a>")
}

async fn login(State(inner): State<Arc<Inner>>) -> Response {
    let c = match client(&inner) {
        Ok(c) => c,
        Err(e) => return Html(format!("configuration error: {e}")).into_response(),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = c
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    inner
        .pending
        .lock()
        .unwrap()
        .insert(csrf.secret().clone(), (verifier, nonce));
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(State(inner): State<Arc<Inner>>, Query(q): Query<Callback>) -> Response {
    match finish(&inner, q).await {
        Ok(s) => Html(format!(
            "<!doctype html><title>Demo app</title><h1>Signed in</h1>\
             <p id=\"who\">Signed in as {}</p><p id=\"amr\">{}</p>",
            s.name.clone().unwrap_or_default(),
            s.amr.join(" ")
        ))
        .into_response(),
        Err(e) => Html(format!(
            "<!doctype html><title>Demo app</title><h1>Sign-in failed</h1><p id=\"error\">{e}</p>"
        ))
        .into_response(),
    }
}

async fn finish(inner: &Inner, q: Callback) -> anyhow::Result<SignedIn> {
    if let Some(e) = q.error {
        anyhow::bail!("{e}: {}", q.error_description.unwrap_or_default());
    }
    let state = q.state.ok_or_else(|| anyhow::anyhow!("no state"))?;
    let (verifier, nonce) = inner
        .pending
        .lock()
        .unwrap()
        .remove(&state)
        .ok_or_else(|| anyhow::anyhow!("unknown state"))?;
    let c = client(inner)?;
    let tokens = c
        .exchange_code(AuthorizationCode::new(q.code.unwrap_or_default()))?
        .set_pkce_verifier(verifier)
        .request_async(&http_client())
        .await?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| anyhow::anyhow!("no ID token"))?;
    // Signature against the JWKS, issuer, audience, expiry and nonce.
    let verifier = c.id_token_verifier().set_allowed_algs(vec![
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ]);
    let claims = id_token.claims(&verifier, &nonce)?;
    let s = SignedIn {
        subject: claims.subject().to_string(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        preferred_username: claims.preferred_username().map(|u| u.to_string()),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
        id_token: id_token.to_string(),
    };
    inner.signed_in.lock().unwrap().push(s.clone());
    Ok(s)
}
