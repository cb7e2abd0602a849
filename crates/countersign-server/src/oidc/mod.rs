//! The OpenID Connect surface (per tenant, issuer `{public_url}/{tenant}/v2.0`) and its routes:
//! discovery, JWKS and the authorization endpoint here, the token and userinfo endpoints in
//! `token`, RP-initiated logout in `logout`. Errors are RFC 6749's own bodies or redirects.

mod logout;
mod token;

pub use logout::{end_session, end_session_confirm};
pub use token::{token, userinfo};

/// The provider's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oidc/userinfo", get(userinfo).post(userinfo))
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(end_session).post(end_session_confirm),
        )
}

use crate::error::ApiError;
use crate::http;
use crate::web::session::{begin, current_session, remembered};
use crate::web::PageError;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::error::{OAuthError, OAuthErrorCode};
use countersign_core::oidc::authorize::error_redirect;
use countersign_core::oidc::claims::{ACR_1FA, ACR_MFA};
use countersign_core::oidc::{self as core_oidc, AuthorizeError, AuthorizeParams};
use countersign_core::policy;
use countersign_core::signin::{flow, session};
use countersign_proto::ProviderMetadata;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub async fn discovery(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = http::tenant(&state, &name).await?;
    let base = format!("{}/{}", state.config.public_url, tenant.name);
    let doc = ProviderMetadata {
        issuer: state.config.issuer(&tenant.name),
        authorization_endpoint: format!("{base}/oauth2/v2.0/authorize"),
        token_endpoint: format!("{base}/oauth2/v2.0/token"),
        userinfo_endpoint: format!("{base}/oidc/userinfo"),
        jwks_uri: format!("{base}/discovery/v2.0/keys"),
        end_session_endpoint: format!("{base}/oauth2/v2.0/logout"),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token"]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["RS256", "ES256"]),
        token_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]),
        code_challenge_methods_supported: strings(&["S256"]),
        scopes_supported: strings(core_oidc::SCOPES),
        claims_supported: strings(&[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "tid",
            "name",
            "preferred_username",
            "email",
            "amr",
            "acr",
        ]),
        acr_values_supported: strings(&[ACR_1FA, ACR_MFA]),
    };
    Ok(([(header::CACHE_CONTROL, "public, max-age=300")], Json(doc)).into_response())
}

pub async fn jwks(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    http::tenant(&state, &name).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.keys.jwks()),
    )
        .into_response())
}

/// The authorization endpoint (OpenID Connect Core §3.1.2). A browser with a live session gets a
/// code at once (unless `prompt=login` or `max_age` asks for a new sign-in); otherwise a sign-in
/// flow starts, or with `prompt=none` the client is told `login_required`.
pub async fn authorize(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    let issuer = state.config.issuer(&tenant.name);
    let params: AuthorizeParams = http::decode_form(query.as_deref().unwrap_or("").as_bytes())
        .map_err(|e| {
            ApiError::new(
                e.status,
                e.code,
                "The sign-in request is malformed (a parameter is repeated, invalid or not UTF-8).",
            )
        })?;
    let (client, req) = match core_oidc::validate_authorize(&state.deps, &tenant, &params).await {
        Ok(v) => v,
        Err(AuthorizeError::NoRedirect(msg)) => return Err(ApiError::bad_request(msg).into()),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: st,
            error,
        }) => {
            let to = error_redirect(&redirect_uri, st.as_deref(), &error, &issuer)?;
            return Ok(Redirect::to(&to).into_response());
        }
    };
    let prompts: Vec<&str> = req.prompt.as_deref().unwrap_or("").split(' ').collect();
    let now = state.deps.now();
    let mfa_required = core_oidc::authorize::requires_mfa(&client, &req);
    let remembered = remembered(&headers);
    if let Some((s, user)) = current_session(&state, &tenant, &headers).await? {
        let too_old = req.max_age.is_some_and(|m| now - s.auth_time > m);
        if !prompts.contains(&"login") && !too_old {
            let tenant_mfa = policy::load(&state.deps, &tenant)
                .await?
                .policy
                .require_mfa_for_everyone;
            let has_mfa = s.amr.iter().any(|a| a == "mfa");
            if has_mfa || !(mfa_required || tenant_mfa) {
                let to = core_oidc::issue_code(&state.deps, &req, &s, &issuer).await?;
                return Ok(Redirect::to(&to).into_response());
            }
            if !prompts.contains(&"none") {
                // Step-up: the session's sign-in stands; only the second factor is asked for.
                let mut flow =
                    session::start_flow(&state.deps, &tenant, Some(req), true, &remembered).await?;
                flow::resume(&state.deps, &tenant, &mut flow, &s, &user, &remembered).await?;
                state
                    .deps
                    .store
                    .update_flow(&flow)
                    .await
                    .map_err(countersign_core::CoreError::from)?;
                return Ok(begin(&state, &tenant, &flow).await);
            }
        }
    }
    if prompts.contains(&"none") {
        let e = OAuthError::new(OAuthErrorCode::LoginRequired, "the user is not signed in");
        let to = error_redirect(&req.redirect_uri, req.state.as_deref(), &e, &issuer)?;
        return Ok(Redirect::to(&to).into_response());
    }
    let flow =
        session::start_flow(&state.deps, &tenant, Some(req), mfa_required, &remembered).await?;
    Ok(begin(&state, &tenant, &flow).await)
}
