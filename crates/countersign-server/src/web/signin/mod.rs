//! The sign-in pages, identifier first as in Entra: "Sign in" → name → "Next" → the account's
//! default method → (a second factor when due) → back to the application or the account page.
//! Each page renders one step of the core's engine (`countersign_core::signin::flow`) and posts one
//! answer; the engine decides what comes next. A flow cookie ties the steps to one browser, every
//! form carries the flow's anti-CSRF token, and the methods a browser used last are remembered in
//! a cookie as its defaults. Failures never say whether the account exists.

pub mod passkey;
pub mod passkey_link;
pub mod push;
mod steps;
pub mod tap;

use crate::error::ApiError;
use crate::http::{self, check_csrf, clear_cookie, cookie, set_cookie};
use crate::web::page;
use crate::web::session::{
    begin, current_flow, current_session, flow_cookie, flow_or_visit, posted_flow, remembered,
    tenant_path, CsrfForm, FLOW_COOKIE, METHOD_COOKIE, METHOD_COOKIE_AGE, SESSION_COOKIE,
};
use crate::web::Form;
use crate::web::PageError;
use crate::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use countersign_core::model::{SignInFlow, Tenant, User};
use countersign_core::policy::Eligibility;
use countersign_core::policy::MethodsPolicy;
use countersign_core::signin::flow::{self, Method, Next};
use countersign_core::signin::session;
use countersign_core::signin::{code_sign_in, password_sign_in, Origin, PasswordAttempt};
use countersign_core::CoreError;
use serde::Deserialize;
use std::net::SocketAddr;
use steps::{step_page, username_page};

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

/// The user a flow has proved (by its first method), with the tenant's methods policy; a flow
/// that has proved nobody, or whose user was disabled meanwhile, is over.
pub(crate) async fn proved_user(
    state: &AppState,
    flow: &SignInFlow,
) -> Result<(User, MethodsPolicy), ApiError> {
    flow::proved_user(&state.deps, flow)
        .await?
        .ok_or_else(|| ApiError::from(CoreError::FlowExpired))
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

pub(crate) async fn render(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    Ok(page(status, step_page(state, tenant, flow, error).await?))
}

pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    if let Some(mut flow) = current_flow(&state, &tenant, &headers).await? {
        // Arriving at the push step sends the request (once: the flow then waits on it).
        let mut notice = None;
        if flow::sending(&flow).is_some() {
            let context = http::sign_in_context(&state, &headers, peer.as_ref().map(|p| &p.0));
            notice = push::send_on_arrival(&state, &tenant, &mut flow, context).await?;
        }
        return render(&state, &tenant, &flow, StatusCode::OK, notice).await;
    }
    // A direct visit: sign in to the account page, unless already signed in.
    if current_session(&state, &tenant, &headers).await?.is_some() {
        return Ok(Redirect::to(&format!("{}/", tenant_path(&tenant))).into_response());
    }
    // Nothing is stored until a name is posted.
    let flow = session::visit(&state.deps, &tenant);
    let mut res = page(
        StatusCode::OK,
        username_page(&state, &tenant, &flow, None).await?,
    );
    res.headers_mut()
        .append(header::SET_COOKIE, flow_cookie(&state, &tenant, &flow));
    Ok(res)
}

pub async fn username(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<UsernameForm>,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    let (mut flow, stored) = flow_or_visit(&state, &tenant, &headers).await?;
    check_csrf(&flow.csrf, form.csrf.as_deref())?;
    let typed = form.username.as_deref().unwrap_or("");
    match flow::identify(
        &state.deps,
        &tenant,
        &mut flow,
        typed,
        &remembered(&headers),
    )
    .await
    {
        Ok(_) if stored => save_and_continue(&state, &tenant, &flow).await,
        Ok(_) => {
            let flow = session::store_visit(&state.deps, flow).await?;
            Ok(begin(&state, &tenant, &flow).await)
        }
        Err(CoreError::Invalid { .. }) => {
            let msg = "Enter your sign-in name, like alice@contoso.com.";
            Ok(page(
                StatusCode::BAD_REQUEST,
                username_page(&state, &tenant, &flow, Some(msg)).await?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn back(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    push::withdraw_on_leaving(&state, &flow).await?;
    flow::restart(&mut flow);
    save_and_continue(&state, &tenant, &flow).await
}

/// "Other ways to sign in".
pub async fn other(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    push::withdraw_on_leaving(&state, &flow).await?;
    flow::other_ways(&mut flow)?;
    save_and_continue(&state, &tenant, &flow).await
}

#[derive(Debug, Deserialize)]
pub struct ChooseForm {
    pub csrf: Option<String>,
    pub method: Option<String>,
}

/// A method picked in "Other ways to sign in" (or "Use your password instead").
pub async fn choose(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ChooseForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let method = form
        .method
        .as_deref()
        .and_then(Method::parse)
        .ok_or_else(|| ApiError::bad_request("Choose one of the methods on the page."))?;
    let (_, account) = flow::account_for(&state.deps, &flow).await?;
    flow::choose(&account, &mut flow, method)?;
    save_and_continue(&state, &tenant, &flow).await
}

/// After a method succeeded: the sign-in is done, or its next step is shown.
pub(crate) async fn after_proof(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    flow: SignInFlow,
    user: &User,
    next: Next,
) -> Result<Response, PageError> {
    match next {
        Next::Done => finish(state, tenant, headers, flow, user).await,
        _ => save_and_continue(state, tenant, &flow).await,
    }
}

pub async fn password(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    flow::require_step(&flow, Method::Password)?;
    let Some(typed) = flow.state.username.clone() else {
        return Err(ApiError::from(CoreError::FlowExpired).into());
    };
    let password = form.password.unwrap_or_default();
    if password.is_empty() {
        let msg = "Please enter your password.";
        return render(&state, &tenant, &flow, StatusCode::BAD_REQUEST, Some(msg)).await;
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
            let next = flow::proved(
                &state.deps,
                &tenant,
                &mut flow,
                &user,
                Method::Password,
                &remembered(&headers),
            )
            .await?;
            after_proof(&state, &tenant, &headers, flow, &user, next).await
        }
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("password", "failure");
            let msg = "Your account or password is incorrect. If you can't remember your \
                       password, ask your administrator to reset it.";
            render(&state, &tenant, &flow, StatusCode::UNAUTHORIZED, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    pub csrf: Option<String>,
    pub code: Option<String>,
}

/// The verification-code step (a second factor).
pub async fn code(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    flow::require_step(&flow, Method::Code)?;
    // Only what the policy allows is checked (read now: a change applies at once).
    let (user, policy) = proved_user(&state, &flow).await?;
    let kinds = Eligibility::of(&state.deps, policy.clone(), &user)
        .await?
        .oath_kinds();
    if kinds.is_empty() {
        return Err(ApiError::from(CoreError::MethodNotSupported).into());
    }
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        let msg = "Please enter the code.";
        return render(&state, &tenant, &flow, StatusCode::BAD_REQUEST, Some(msg)).await;
    }
    let addr = http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let origin = Origin {
        tenant: &tenant,
        client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
        client_addr: addr.as_deref(),
    };
    match code_sign_in(&state.deps, origin, &user, &code, &kinds).await {
        Ok(()) => {}
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("otp", "failure");
            // A refusal because none of the user's tokens is allowed any more says so.
            let account = flow::account_under(&state.deps, &policy, &user).await?;
            if !account.usable.contains(&Method::Code) {
                return Err(ApiError::from(CoreError::MethodNotSupported).into());
            }
            let msg = "You didn't enter the expected verification code. Please try again.";
            return render(&state, &tenant, &flow, StatusCode::UNAUTHORIZED, Some(msg)).await;
        }
        Err(e) => return Err(e.into()),
    }
    state.metrics.signin("otp", "success");
    let next = flow::proved(
        &state.deps,
        &tenant,
        &mut flow,
        &user,
        Method::Code,
        &remembered(&headers),
    )
    .await?;
    after_proof(&state, &tenant, &headers, flow, &user, next).await
}

/// "More information required" → "Next": registering an authenticator app during sign-in.
pub async fn register(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let (user, policy) = proved_user(&state, &flow).await?;
    let account = flow::account_under(&state.deps, &policy, &user).await?;
    flow::begin_registration(&state.deps, &account, &mut flow, &user).await?;
    save_and_continue(&state, &tenant, &flow).await
}

/// The code that proves the authenticator app registered during sign-in.
pub async fn register_verify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let (user, _) = proved_user(&state, &flow).await?;
    let code = form.code.unwrap_or_default();
    match flow::finish_registration(&state.deps, &tenant, &mut flow, &user, &code).await? {
        Some(next) => {
            state.metrics.signin("otp", "success");
            after_proof(&state, &tenant, &headers, flow, &user, next).await
        }
        None => {
            let msg =
                "The code is wrong. Check your authenticator app and enter the code it shows now.";
            render(&state, &tenant, &flow, StatusCode::BAD_REQUEST, Some(msg)).await
        }
    }
}

/// The sign-in succeeded: replace any old session with a new one (no session fixation), end the
/// flow, remember the methods used on this browser, and continue to the application or the
/// account page. `amr` comes from the flow's proofs.
async fn finish(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    flow: SignInFlow,
    user: &User,
) -> Result<Response, PageError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        session::end_session(&state.deps, &old).await?;
    }
    let now = state.deps.now();
    let amr = flow::amr(&flow.state.proofs);
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
    let used: Vec<&str> = flow::used_methods(&flow)
        .into_iter()
        .map(Method::as_str)
        .collect();
    let mut res = Redirect::to(&target).into_response();
    let path = tenant_path(tenant);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &token, &path, None),
    );
    h.append(header::SET_COOKIE, clear_cookie(state, FLOW_COOKIE, &path));
    h.append(
        header::SET_COOKIE,
        set_cookie(
            state,
            METHOD_COOKIE,
            &used.join("."),
            &path,
            Some(METHOD_COOKIE_AGE),
        ),
    );
    Ok(res)
}
