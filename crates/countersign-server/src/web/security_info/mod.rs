//! Security info: the signed-in user lists their sign-in methods, adds an authenticator app (QR
//! code, manual key, then a code to prove it works) or a passkey (the browser's prompt; script in
//! `static/app.js`), activates a hardware token, renames a passkey, and deletes a method. The rules — what is shown and may be added under the authentication methods policy,
//! when a session must sign in again first, what a deletion ends — are the core's
//! (`countersign_core::methods`); these handlers render and redirect.

use crate::error::ApiError;
use crate::http::{self, check_csrf, cookie};
use crate::web::page;
use crate::web::session::{begin, current_session, remembered, tenant_path, SESSION_COOKIE};
use crate::web::Form;
use crate::web::PageError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use countersign_core::methods::oath::{self, OathToken};
use countersign_core::methods::passkey::{self, By};
use countersign_core::methods::{self, Change, UserMethods};
use countersign_core::model::OathKind;
use countersign_core::model::{Session, Tenant, User};
use countersign_core::signin::{flow, session};
use countersign_core::CoreError;
use maud::Markup;
use serde::Deserialize;

mod markup;

pub(crate) use markup::qr_image;
use markup::*;
pub use markup::{activation_link, enrol_page, DELETE_CONFIRM};

#[derive(Debug, Deserialize)]
pub struct MethodForm {
    pub csrf: Option<String>,
    pub id: Option<String>,
    pub code: Option<String>,
    /// What "Add sign-in method" adds: `authenticator` (the default: the Countersign
    /// Authenticator, push and codes), `code` ("I want to use a different authenticator app":
    /// verification codes only) or `passkey`; none: the choice of what may be added.
    pub method: Option<String>,
    /// A passkey registration: its ceremony and the browser's answer (JSON).
    pub ceremony: Option<String>,
    pub credential: Option<String>,
    /// A passkey's new name.
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    pub done: Option<String>,
    pub reauth: Option<String>,
}

async fn signed_in(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, ApiError> {
    current_session(state, tenant, headers).await
}

/// The user's methods as security info shows them (the policy applied).
async fn methods_of(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
) -> Result<UserMethods, ApiError> {
    Ok(methods::of_user(&state.deps, tenant, user).await?)
}

/// The tenant, session and user behind a posted security-info form, after its anti-CSRF check;
/// `Err` holds the redirect to the sign-in page when nobody is signed in.
async fn posted(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<Result<(Tenant, Session, User), Response>, PageError> {
    let tenant = http::tenant(state, name).await?;
    let Some((s, user)) = signed_in(state, &tenant, headers).await? else {
        return Ok(Err(to_login(&tenant)));
    };
    check_csrf(&s.csrf, csrf)?;
    Ok(Ok((tenant, s, user)))
}

fn to_login(tenant: &Tenant) -> Response {
    Redirect::to(&format!("{}/login", tenant_path(tenant))).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Notice>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = http::tenant(&state, &name).await?;
    let Some((s, user)) = signed_in(&state, &tenant, &headers).await? else {
        return Ok(to_login(&tenant));
    };
    let m = methods_of(&state, &tenant, &user).await?;
    let notice = match q.done.as_deref() {
        Some("added") => Some("Authenticator app was successfully registered."),
        Some("activated") => Some("Your hardware token is activated."),
        Some("deleted") => Some("The method was deleted. You were signed out everywhere else."),
        Some("passkey") => Some("Passkey registered."),
        Some("renamed") => Some("The passkey was renamed."),
        _ if q.reauth.is_some() => {
            Some("You signed in again. You can now add or delete sign-in methods.")
        }
        _ => None,
    };
    Ok(page(
        StatusCode::OK,
        list_page(&tenant, &s, &user, &m, notice, None),
    ))
}

/// The enrolment page of security info.
fn enrol_here(
    tenant: &Tenant,
    s: &Session,
    user: &User,
    t: &OathToken,
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    let action = format!("{}/verify", base(tenant));
    enrol_page(
        tenant,
        user,
        t,
        &action,
        &[("csrf", &s.csrf), ("id", &t.id)],
        error,
    )
}

async fn pending_token(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    id: Option<&str>,
) -> Result<Option<OathToken>, ApiError> {
    let tokens = methods_of(state, tenant, user).await?.tokens;
    let pending = match id {
        Some(id) => tokens.into_iter().find(|t| t.id == id && !t.active),
        // the newest pending software enrolment
        None => tokens
            .into_iter()
            .rev()
            .find(|t| !t.active && t.kind == OathKind::Software),
    };
    let Some(pending) = pending else {
        return Ok(None);
    };
    // Its secret is opened only now, to show it for enrolment.
    let mine = state
        .deps
        .store
        .oath_tokens_of_user(&user.id)
        .await
        .map_err(CoreError::from)?;
    Ok(mine.into_iter().find(|t| t.id == pending.id))
}

pub async fn add(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, PageError> {
    let (tenant, s, user) = match posted(&state, &name, &headers, form.csrf.as_deref()).await? {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    let m = methods_of(&state, &tenant, &user).await?;
    // With no method named: the choice when there is one, else the one method there is (the
    // Authenticator app when nothing may be added: refused below with the policy's words).
    let app = m.can_add_app || m.can_add_device;
    match form.method.as_deref() {
        None if m.can_add_passkey && app => {
            return Ok(page(StatusCode::OK, choose_page(&tenant, &s, &m)))
        }
        None if m.can_add_passkey => {
            return passkey_begin(&state, &tenant, &s, &user, &headers).await
        }
        Some("passkey") => return passkey_begin(&state, &tenant, &s, &user, &headers).await,
        _ => {}
    }
    if form.method.as_deref() != Some("code") && m.can_add_device {
        return match methods::begin_device(&state.deps, &tenant, &s, &user).await? {
            Change::Done(code) => Ok(page(
                StatusCode::OK,
                activation_page(&state, &tenant, &s, &code, m.can_add_app)?,
            )),
            Change::SignInAgain => reauthenticate(&state, &tenant, &user, &headers).await,
        };
    }
    match methods::begin_app(&state.deps, &tenant, &s, &user).await {
        Ok(Change::Done(t)) => Ok(page(
            StatusCode::OK,
            enrol_here(&tenant, &s, &user, &t, None)?,
        )),
        Ok(Change::SignInAgain) => reauthenticate(&state, &tenant, &user, &headers).await,
        Err(CoreError::Invalid { reason, .. }) => {
            let m = methods_of(&state, &tenant, &user).await?;
            Ok(page(
                StatusCode::CONFLICT,
                list_page(&tenant, &s, &user, &m, None, Some(&capitalise(&reason))),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Proves a pending software enrolment or a hardware token with a code, which activates it.
pub async fn verify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, PageError> {
    let (tenant, s, user) = match posted(&state, &name, &headers, form.csrf.as_deref()).await? {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    let Some(t) = pending_token(&state, &tenant, &user, form.id.as_deref()).await? else {
        return Err(
            ApiError::bad_request("There is no method waiting for a code. Start again.").into(),
        );
    };
    let code = form.code.unwrap_or_default();
    if oath::activate(&state.deps, &tenant, &user, &t.id, &code).await? {
        let done = if t.kind == OathKind::Hardware {
            "activated"
        } else {
            "added"
        };
        return Ok(Redirect::to(&format!("{}?done={done}", base(&tenant))).into_response());
    }
    let msg = "The code is wrong. Check your authenticator app and enter the code it shows now.";
    match t.kind {
        OathKind::Software => Ok(page(
            StatusCode::BAD_REQUEST,
            enrol_here(&tenant, &s, &user, &t, Some(msg))?,
        )),
        OathKind::Hardware => {
            let m = methods_of(&state, &tenant, &user).await?;
            Ok(page(
                StatusCode::BAD_REQUEST,
                list_page(&tenant, &s, &user, &m, None, Some(msg)),
            ))
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, PageError> {
    let (tenant, s, user) = match posted(&state, &name, &headers, form.csrf.as_deref()).await? {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    let keep = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let id = form.id.unwrap_or_default();
    match methods::delete(&state.deps, &tenant, &s, &keep, &user, &id).await {
        Ok(Change::Done(())) => {
            Ok(Redirect::to(&format!("{}?done=deleted", base(&tenant))).into_response())
        }
        Ok(Change::SignInAgain) => reauthenticate(&state, &tenant, &user, &headers).await,
        Err(CoreError::NotFound { .. }) => {
            Err(ApiError::not_found("That sign-in method does not exist.").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends the user through a fresh sign-in (password, then the second factor if they have one)
/// that comes back to security info.
async fn reauthenticate(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let mut flow = session::start_flow(&state.deps, tenant, None, false, &[]).await?;
    flow::identify(
        &state.deps,
        tenant,
        &mut flow,
        &user.upn,
        &remembered(headers),
    )
    .await?;
    flow.return_to = Some(format!("{}?reauth=1", base(tenant)));
    state
        .deps
        .store
        .update_flow(&flow)
        .await
        .map_err(CoreError::from)?;
    Ok(begin(state, tenant, &flow).await)
}

/// "Passkey" chosen: a registration ceremony, or a fresh sign-in first.
async fn passkey_begin(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    user: &User,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let v = state.passkey_verifier()?;
    match passkey::begin_registration(&state.deps, v, tenant, By::Session(s), user).await? {
        Change::Done((ceremony, options)) => Ok(page(
            StatusCode::OK,
            passkey_page(tenant, s, &ceremony, &options, None),
        )),
        Change::SignInAgain => reauthenticate(state, tenant, user, headers).await,
    }
}

/// `POST …/security-info/passkey`: the browser's new passkey. A refusal offers a new attempt.
pub async fn passkey_finish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, PageError> {
    let (tenant, s, user) = match posted(&state, &name, &headers, form.csrf.as_deref()).await? {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    let v = state.passkey_verifier()?;
    let ceremony = form.ceremony.unwrap_or_default();
    let credential = form.credential.unwrap_or_default();
    if credential.is_empty() {
        return Err(ApiError::bad_request("The passkey's answer is missing. Try again.").into());
    }
    let result = passkey::finish_registration(
        &state.deps,
        v,
        &tenant,
        By::Session(&s),
        &user,
        &ceremony,
        &credential,
    )
    .await;
    let msg = match result {
        Ok(Change::Done(Ok(_))) => {
            return Ok(Redirect::to(&format!("{}?done=passkey", base(&tenant))).into_response())
        }
        Ok(Change::SignInAgain) => return reauthenticate(&state, &tenant, &user, &headers).await,
        Ok(Change::Done(Err(refused))) => ApiError::from(refused).message,
        Err(CoreError::FlowExpired) => {
            "That took too long, or the page was used twice. Try again.".to_string()
        }
        Err(e) => return Err(e.into()),
    };
    // A new ceremony for the next attempt (the one answered is used up).
    match passkey::begin_registration(&state.deps, v, &tenant, By::Session(&s), &user).await? {
        Change::Done((ceremony, options)) => Ok(page(
            StatusCode::BAD_REQUEST,
            passkey_page(&tenant, &s, &ceremony, &options, Some(&msg)),
        )),
        Change::SignInAgain => reauthenticate(&state, &tenant, &user, &headers).await,
    }
}

/// `POST …/security-info/rename`: a passkey's new name.
pub async fn rename(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, PageError> {
    let (tenant, s, user) = match posted(&state, &name, &headers, form.csrf.as_deref()).await? {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    let id = form.id.unwrap_or_default();
    let new_name = form.name.unwrap_or_default();
    match methods::rename_passkey(&state.deps, &tenant, &user, &id, &new_name).await {
        Ok(()) => Ok(Redirect::to(&format!("{}?done=renamed", base(&tenant))).into_response()),
        Err(CoreError::Invalid { reason, .. }) => {
            let m = methods_of(&state, &tenant, &user).await?;
            Ok(page(
                StatusCode::BAD_REQUEST,
                list_page(&tenant, &s, &user, &m, None, Some(&capitalise(&reason))),
            ))
        }
        Err(CoreError::NotFound { .. }) => {
            Err(ApiError::not_found("That passkey does not exist.").into())
        }
        Err(e) => Err(e.into()),
    }
}
