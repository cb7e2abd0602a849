//! The sign-in pages, username first as in Entra: "Sign in" → name → "Next" → "Enter password" →
//! back to the application (or to the account page). A flow cookie ties the steps to one browser;
//! every form carries the flow's anti-CSRF token. Failures never say whether the account exists.

use crate::error::{AppError, PageError};
use crate::http::Form;
use crate::http::{self, check_csrf, clear_cookie, cookie, set_cookie};
use crate::pages::{layout, page};
use crate::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use countersign_core::model::{Session, SignInFlow, Tenant, User};
use countersign_core::session;
use countersign_core::signin::{
    code_sign_in, password_sign_in, typed_name, Origin, PasswordAttempt,
};
use countersign_core::CoreError;
use maud::{html, Markup};
use serde::Deserialize;
use std::net::SocketAddr;

pub const FLOW_COOKIE: &str = "cs_flow";
pub const SESSION_COOKIE: &str = "cs_session";

#[derive(Debug, Deserialize)]
pub struct UsernameForm {
    pub csrf: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    pub csrf: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

pub fn tenant_path(t: &Tenant) -> String {
    format!("/{}", t.name)
}

/// The live session of this browser in `tenant`, with its user.
pub async fn current_session(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, AppError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(c) => Ok(session::load_session(&state.deps, tenant, &c).await?),
        None => Ok(None),
    }
}

async fn current_flow(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<SignInFlow>, AppError> {
    let Some(id) = cookie(headers, FLOW_COOKIE) else {
        return Ok(None);
    };
    match session::load_flow(&state.deps, tenant, &id).await {
        Ok(f) => Ok(Some(f)),
        Err(CoreError::FlowExpired) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn require_flow(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<SignInFlow, AppError> {
    current_flow(state, tenant, headers)
        .await?
        .ok_or_else(|| AppError::from(CoreError::FlowExpired))
}

/// The tenant and live flow of a posted sign-in form, after its anti-CSRF check.
async fn posted_flow(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(Tenant, SignInFlow), PageError> {
    let tenant = http::tenant(state, name).await?;
    let flow = require_flow(state, &tenant, headers).await?;
    check_csrf(&flow.csrf, csrf)?;
    Ok((tenant, flow))
}

/// Saves the flow and sends the browser to the page of its current step.
async fn save_and_continue(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
) -> Result<Response, PageError> {
    state
        .deps
        .store
        .update_flow(flow)
        .await
        .map_err(CoreError::from)?;
    Ok(Redirect::to(&format!("{}/login", tenant_path(tenant))).into_response())
}

/// Starts a sign-in flow and sends the browser to its first page.
pub async fn begin(state: &AppState, tenant: &Tenant, flow: &SignInFlow) -> Response {
    let mut res = Redirect::to(&format!("{}/login", tenant_path(tenant))).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            FLOW_COOKIE,
            &flow.id,
            &tenant_path(tenant),
            Some(state.deps.settings.flow_ttl),
        ),
    );
    res
}

/// The one input of a sign-in step.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub autocomplete: &'a str,
    pub value: &'a str,
    pub placeholder: &'a str,
}

/// A form with one labelled input, its error (announced to screen readers) and a submit button.
pub fn one_field_form(
    action: &str,
    hidden: &[(&str, &str)],
    f: &Field<'_>,
    error: Option<&str>,
    button: &str,
) -> Markup {
    let error_id = format!("{}-error", f.name);
    html! {
        form method="post" action=(action) {
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            label for=(f.name) { (f.label) }
            input id=(f.name) name=(f.name) type=(f.kind) autocomplete=(f.autocomplete)
                autocapitalize="none" spellcheck="false" required autofocus
                placeholder=[(!f.placeholder.is_empty()).then_some(f.placeholder)]
                value=[(!f.value.is_empty()).then_some(f.value)]
                aria-describedby=[error.map(|_| error_id.as_str())];
            @if let Some(e) = error {
                p id=(error_id) class="error" role="alert" { (e) }
            }
            div class="actions" {
                button type="submit" class="primary" { (button) }
            }
        }
    }
}

fn username_page(tenant: &Tenant, flow: &SignInFlow, error: Option<&str>) -> Markup {
    let action = format!("{}/login/username", tenant_path(tenant));
    layout(
        "Sign in",
        Some(&tenant.display_name),
        html! {
            h1 { "Sign in" }
            (one_field_form(&action, &[("csrf", &flow.csrf)], &Field {
                name: "username",
                label: "Email or username",
                kind: "text",
                autocomplete: "username",
                value: flow.username.as_deref().unwrap_or(""),
                placeholder: "someone@example.com",
            }, error, "Next"))
        },
    )
}

fn password_page(tenant: &Tenant, flow: &SignInFlow, error: Option<&str>) -> Markup {
    let base = tenant_path(tenant);
    let name = flow.username.as_deref().unwrap_or("");
    layout(
        "Enter password",
        Some(&tenant.display_name),
        html! {
            form method="post" action=(format!("{base}/login/back")) class="identity" {
                input type="hidden" name="csrf" value=(flow.csrf);
                button type="submit" class="link" aria-label="Back: use another account" { "←" }
                span { (name) }
            }
            h1 { "Enter password" }
            (one_field_form(&format!("{base}/login/password"), &[("csrf", &flow.csrf)], &Field {
                name: "password",
                label: "Password",
                kind: "password",
                autocomplete: "current-password",
                value: "",
                placeholder: "",
            }, error, "Sign in"))
        },
    )
}

/// The second step for users with a verification-code method (Entra's "Enter code").
fn code_page(tenant: &Tenant, flow: &SignInFlow, error: Option<&str>) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "Enter code",
        Some(&tenant.display_name),
        html! {
            p class="identity" { (flow.username.as_deref().unwrap_or("")) }
            h1 { "Enter code" }
            p { "Enter the code displayed in the authenticator app on your mobile device or on your hardware token." }
            (one_field_form(&format!("{base}/login/code"), &[("csrf", &flow.csrf)], &Field {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
                placeholder: "",
            }, error, "Verify"))
        },
    )
}

fn step_page(tenant: &Tenant, flow: &SignInFlow, error: Option<&str>) -> Markup {
    match (&flow.username, &flow.pending_user_id) {
        (None, _) => username_page(tenant, flow, error),
        (Some(_), None) => password_page(tenant, flow, error),
        (Some(_), Some(_)) => code_page(tenant, flow, error),
    }
}

pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    if let Some(flow) = current_flow(&state, &tenant, &headers).await? {
        return Ok(page(StatusCode::OK, step_page(&tenant, &flow, None)));
    }
    // A direct visit: sign in to the account page, unless already signed in.
    if current_session(&state, &tenant, &headers).await?.is_some() {
        return Ok(Redirect::to(&format!("{}/", tenant_path(&tenant))).into_response());
    }
    let flow = session::start_flow(&state.deps, &tenant, None).await?;
    let mut res = page(StatusCode::OK, step_page(&tenant, &flow, None));
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            FLOW_COOKIE,
            &flow.id,
            &tenant_path(&tenant),
            Some(state.deps.settings.flow_ttl),
        ),
    );
    Ok(res)
}

pub async fn username(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<UsernameForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let Ok(typed) = typed_name(&tenant, form.username.as_deref().unwrap_or("")) else {
        let msg = "Enter your sign-in name, like alice@contoso.com.";
        return Ok(page(
            StatusCode::BAD_REQUEST,
            username_page(&tenant, &flow, Some(msg)),
        ));
    };
    flow.username = Some(typed);
    flow.pending_user_id = None;
    flow.amr.clear();
    save_and_continue(&state, &tenant, &flow).await
}

pub async fn back(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    // Going back to the first step forgets whatever the earlier name had proved.
    flow.username = None;
    flow.pending_user_id = None;
    flow.amr.clear();
    save_and_continue(&state, &tenant, &flow).await
}

pub async fn password(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let (tenant, flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let Some(typed) = flow.username.clone() else {
        return Ok(Redirect::to(&format!("{}/login", tenant_path(&tenant))).into_response());
    };
    let password = form.password.unwrap_or_default();
    if password.is_empty() {
        let msg = "Please enter your password.";
        return Ok(page(
            StatusCode::BAD_REQUEST,
            password_page(&tenant, &flow, Some(msg)),
        ));
    }
    let addr = http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let attempt = PasswordAttempt {
        tenant: &tenant,
        typed_name: &typed,
        password: &password,
        client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
        client_addr: addr.as_deref(),
    };
    match password_sign_in(&state.deps, attempt).await {
        Ok(user) => {
            state.metrics.signin("password", "success");
            let has_codes = state
                .deps
                .store
                .oath_tokens_of_user(&user.id)
                .await
                .map_err(CoreError::from)?
                .iter()
                .any(|t| t.active);
            if has_codes {
                // A second factor is due: remember who proved the first one.
                let mut flow = flow;
                flow.pending_user_id = Some(user.id.clone());
                flow.amr = vec!["pwd".into()];
                state
                    .deps
                    .store
                    .update_flow(&flow)
                    .await
                    .map_err(CoreError::from)?;
                return Ok(Redirect::to(&format!("{}/login", tenant_path(&tenant))).into_response());
            }
            finish(&state, &tenant, &headers, flow, &user, vec!["pwd".into()]).await
        }
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("password", "failure");
            let msg = "Your account or password is incorrect. If you can't remember your \
                       password, ask your administrator to reset it.";
            Ok(page(
                StatusCode::UNAUTHORIZED,
                password_page(&tenant, &flow, Some(msg)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    pub csrf: Option<String>,
    pub code: Option<String>,
}

/// The verification-code step after the password.
pub async fn code(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let (tenant, flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let user = match &flow.pending_user_id {
        Some(id) => state
            .deps
            .store
            .user_by_id(id)
            .await
            .map_err(CoreError::from)?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.enabled) else {
        return Ok(Redirect::to(&format!("{}/login", tenant_path(&tenant))).into_response());
    };
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        let msg = "Please enter the code.";
        return Ok(page(
            StatusCode::BAD_REQUEST,
            code_page(&tenant, &flow, Some(msg)),
        ));
    }
    let addr = http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let origin = Origin {
        tenant: &tenant,
        client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
        client_addr: addr.as_deref(),
    };
    match code_sign_in(&state.deps, origin, &user, &code).await {
        Ok(()) => {}
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("otp", "failure");
            let msg = "You didn't enter the expected verification code. Please try again.";
            return Ok(page(
                StatusCode::UNAUTHORIZED,
                code_page(&tenant, &flow, Some(msg)),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state.metrics.signin("otp", "success");
    let amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
    finish(&state, &tenant, &headers, flow, &user, amr).await
}

/// The sign-in succeeded: replace any old session with a new one (no session fixation), end the
/// flow, and continue to the application or the account page.
async fn finish(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    flow: SignInFlow,
    user: &User,
    amr: Vec<String>,
) -> Result<Response, PageError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        session::end_session(&state.deps, &old).await?;
    }
    let now = state.deps.now();
    let (token, s) = session::create_session(&state.deps, user, amr, now, Some(&flow.id)).await?;
    let target = match &flow.request {
        Some(req) => {
            countersign_core::oidc::issue_code(
                &state.deps,
                req,
                &s,
                &state.config.issuer(&tenant.name),
            )
            .await?
        }
        None => flow
            .return_to
            .clone()
            .unwrap_or_else(|| format!("{}/", tenant_path(tenant))),
    };
    let mut res = Redirect::to(&target).into_response();
    let path = tenant_path(tenant);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &token, &path, None),
    );
    h.append(header::SET_COOKIE, clear_cookie(state, FLOW_COOKIE, &path));
    Ok(res)
}
