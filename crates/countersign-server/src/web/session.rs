//! The browser's side of the web surface: the cookies (a sign-in flow's, the session's, the
//! methods used last), the current session and flow of a request, a posted form's flow after its
//! anti-CSRF check, and a tenant's path. Every page handler reaches the browser's state here.

use crate::error::ApiError;
use crate::http::{self, check_csrf, cookie, set_cookie};
use crate::web::PageError;
use crate::AppState;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use countersign_core::model::{Session, SignInFlow, Tenant, User};
use countersign_core::signin::flow::Method;
use countersign_core::signin::session;
use countersign_core::CoreError;
use serde::Deserialize;

pub const FLOW_COOKIE: &str = "cs_flow";

pub const SESSION_COOKIE: &str = "cs_session";

/// The methods this browser signed in with last (`password.code`): its defaults next time.
pub const METHOD_COOKIE: &str = "cs_method";

/// How long a browser remembers its methods: a year.
pub(crate) const METHOD_COOKIE_AGE: i64 = 365 * 24 * 3600;

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
) -> Result<Option<(Session, User)>, ApiError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(c) => Ok(session::load_session(&state.deps, tenant, &c).await?),
        None => Ok(None),
    }
}

pub(crate) async fn current_flow(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<SignInFlow>, ApiError> {
    let Some(id) = cookie(headers, FLOW_COOKIE) else {
        return Ok(None);
    };
    match session::load_flow(&state.deps, tenant, &id).await {
        Ok(f) => Ok(Some(f)),
        Err(CoreError::FlowExpired) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn require_flow(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<SignInFlow, ApiError> {
    current_flow(state, tenant, headers)
        .await?
        .ok_or_else(|| ApiError::from(CoreError::FlowExpired))
}

/// The flow of this browser, or the unstored one of its bare visit (`false`): a visit's first
/// post stores it.
pub(crate) async fn flow_or_visit(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<(SignInFlow, bool), ApiError> {
    if let Some(f) = current_flow(state, tenant, headers).await? {
        return Ok((f, true));
    }
    let id = cookie(headers, FLOW_COOKIE)
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .ok_or_else(|| ApiError::from(CoreError::FlowExpired))?;
    Ok((session::visit_with_id(&state.deps, tenant, id), false))
}

/// The tenant and live flow of a posted sign-in form, after its anti-CSRF check.
pub(crate) async fn posted_flow(
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

/// The methods this browser used last, from its cookie (unknown names are ignored).
pub fn remembered(headers: &HeaderMap) -> Vec<Method> {
    cookie(headers, METHOD_COOKIE)
        .unwrap_or_default()
        .split('.')
        .filter_map(Method::parse)
        .collect()
}

/// Starts a sign-in flow and sends the browser to its first page.
pub async fn begin(state: &AppState, tenant: &Tenant, flow: &SignInFlow) -> Response {
    let mut res = Redirect::to(&format!("{}/login", tenant_path(tenant))).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, flow_cookie(state, tenant, flow));
    res
}

pub(crate) fn flow_cookie(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
) -> header::HeaderValue {
    set_cookie(
        state,
        FLOW_COOKIE,
        &flow.id,
        &tenant_path(tenant),
        Some(state.deps.settings.flow_ttl),
    )
}
