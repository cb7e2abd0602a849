//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid `id_token_hint` for
//! the signed-in user the session ends at once; without one the user confirms with a button, so
//! that a link on another site cannot sign people out. Redirects go only to registered
//! post-logout URIs.

use crate::error::ApiError;
use crate::http::{self, check_csrf, cookie};
use crate::web::account::signed_out_page;
use crate::web::session::{current_session, SESSION_COOKIE};
use crate::web::Form;
use crate::web::PageError;
use crate::web::{layout, page};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use countersign_core::model::Tenant;
use countersign_core::oidc::authorize::redirect_with;
use countersign_core::signin::session;
use maud::html;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub csrf: Option<String>,
}

/// Where to send the browser after signing out, if the request names a registered URI.
async fn target(
    state: &AppState,
    tenant: &Tenant,
    client_id: Option<&str>,
    p: &LogoutParams,
) -> Result<Option<String>, ApiError> {
    let Some(uri) = p.post_logout_redirect_uri.as_deref() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "The application asked to return to an address it has not registered.",
        )
    };
    let client = match client_id {
        Some(id) => state
            .deps
            .store
            .client_by_id(id)
            .await
            .map_err(countersign_core::CoreError::from)?,
        None => None,
    };
    match client {
        Some(c)
            if c.tenant_id == tenant.id && c.post_logout_redirect_uris.iter().any(|u| u == uri) =>
        {
            let mut params = Vec::new();
            if let Some(s) = &p.state {
                params.push(("state", s.as_str()));
            }
            Ok(Some(redirect_with(uri, &params)?))
        }
        _ => Err(invalid()),
    }
}

pub async fn end_session(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    let p: LogoutParams = http::decode_form(query.as_deref().unwrap_or("").as_bytes())?;
    let hint = match &p.id_token_hint {
        Some(t) => Some(
            state
                .keys
                .verify_ignoring_expiry(t, &state.config.issuer(&tenant.name))
                .ok_or_else(|| ApiError::bad_request("The sign-out request is not valid."))?,
        ),
        None => None,
    };
    let hint_client = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str().map(str::to_string));
    if let (Some(a), Some(b)) = (&hint_client, &p.client_id) {
        if a != b {
            return Err(ApiError::bad_request("The sign-out request is not valid.").into());
        }
    }
    let client_id = hint_client.or(p.client_id.clone());
    let to = target(&state, &tenant, client_id.as_deref(), &p).await?;
    let Some((s, user)) = current_session(&state, &tenant, &headers).await? else {
        return Ok(signed_out_page(
            &state,
            &tenant.name,
            &tenant.display_name,
            to.as_deref(),
        ));
    };
    if hint.as_ref().is_some_and(|c| c["sub"] == user.id.as_str()) {
        if let Some(c) = cookie(&headers, SESSION_COOKIE) {
            session::end_session(&state.deps, &c).await?;
        }
        return Ok(signed_out_page(
            &state,
            &tenant.name,
            &tenant.display_name,
            to.as_deref(),
        ));
    }
    let action = format!("/{}/oauth2/v2.0/logout", tenant.name);
    let body = html! {
        h1 { "Sign out?" }
        p { "Do you want to sign out of " (user.upn) "?" }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(s.csrf);
            @if let Some(u) = &p.post_logout_redirect_uri { input type="hidden" name="post_logout_redirect_uri" value=(u); }
            @if let Some(v) = &p.state { input type="hidden" name="state" value=(v); }
            @if let Some(v) = &client_id { input type="hidden" name="client_id" value=(v); }
            div class="actions" {
                button type="submit" class="primary" { "Sign out" }
            }
        }
    };
    Ok(page(
        StatusCode::OK,
        layout("Sign out", Some(&tenant.display_name), body),
    ))
}

pub async fn end_session_confirm(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(p): Form<LogoutParams>,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    let to = target(&state, &tenant, p.client_id.as_deref(), &p).await?;
    if let Some((s, _)) = current_session(&state, &tenant, &headers).await? {
        check_csrf(&s.csrf, p.csrf.as_deref())?;
        if let Some(c) = cookie(&headers, SESSION_COOKIE) {
            session::end_session(&state.deps, &c).await?;
        }
    }
    Ok(signed_out_page(
        &state,
        &tenant.name,
        &tenant.display_name,
        to.as_deref(),
    ))
}
