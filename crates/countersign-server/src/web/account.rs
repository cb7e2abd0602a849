//! The signed-in user's account page and sign-out.

use crate::http::{self, check_csrf, clear_cookie, cookie};
use crate::web::layout;
use crate::web::session::{current_session, tenant_path, CsrfForm, SESSION_COOKIE};
use crate::web::Form;
use crate::web::PageError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Redirect, Response};
use countersign_core::signin::session;
use maud::html;
use std::time::{Duration, UNIX_EPOCH};

pub fn format_time(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string()
}

pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    let Some((s, user)) = current_session(&state, &tenant, &headers).await? else {
        return Ok(Redirect::to(&format!("{}/login", tenant_path(&tenant))).into_response());
    };
    let body = html! {
        h1 { "My account" }
        p { "You're signed in." }
        dl {
            dt { "Name" } dd { (user.display_name) }
            dt { "Sign-in name" } dd { (user.upn) }
            @if let Some(e) = &user.email { dt { "Email" } dd { (e) } }
            dt { "Organization" } dd { (tenant.display_name) }
            dt { "Signed in" } dd { (format_time(s.auth_time)) }
        }
        p { a href=(format!("{}/security-info", tenant_path(&tenant))) { "Security info" } }
        form method="post" action=(format!("{}/signout", tenant_path(&tenant))) {
            input type="hidden" name="csrf" value=(s.csrf);
            div class="actions" {
                button type="submit" class="secondary" { "Sign out" }
            }
        }
    };
    Ok(Html(layout("My account", Some(&tenant.display_name), body).into_string()).into_response())
}

pub async fn sign_out(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    if let Some((s, _)) = current_session(&state, &tenant, &headers).await? {
        check_csrf(&s.csrf, form.csrf.as_deref())?;
        if let Some(c) = cookie(&headers, SESSION_COOKIE) {
            session::end_session(&state.deps, &c).await?;
        }
    }
    Ok(signed_out_page(
        &state,
        &tenant.name,
        &tenant.display_name,
        None,
    ))
}

/// "You signed out" (with the session cookie cleared), optionally continuing to an application.
pub fn signed_out_page(
    state: &AppState,
    tenant_name: &str,
    org: &str,
    continue_to: Option<&str>,
) -> Response {
    let path = format!("/{tenant_name}");
    let mut res = match continue_to {
        Some(url) => Redirect::to(url).into_response(),
        None => Html(
            layout(
                "Signed out",
                Some(org),
                html! {
                    h1 { "You signed out of your account" }
                    p { "It's a good idea to close all browser windows." }
                    p { a href=(format!("{path}/login")) { "Sign in again" } }
                },
            )
            .into_string(),
        )
        .into_response(),
    };
    res.headers_mut().append(
        header::SET_COOKIE,
        clear_cookie(state, SESSION_COOKIE, &path),
    );
    res
}
