//! Security info: the signed-in user lists their sign-in methods, adds an authenticator app (QR
//! code, manual key, then a code to prove it works) or a passkey (the browser's prompt; script in
//! `static/app.js`), activates a hardware token, renames a passkey, and deletes a method. The rules — what is shown and may be added under the authentication methods policy,
//! when a session must sign in again first, what a deletion ends — are the core's
//! (`countersign_core::methods`); these handlers render and redirect.

use crate::error::ApiError;
use crate::http::{self, check_csrf, cookie};
use crate::web::account::format_time;
use crate::web::parts::{one_field_form, Field};
use crate::web::session::{begin, current_session, remembered, tenant_path, SESSION_COOKIE};
use crate::web::Form;
use crate::web::PageError;
use crate::web::{layout, page};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use countersign_core::methods::oath::{self, OathToken, OathTokenInfo};
use countersign_core::methods::passkey::{self, By, PasskeyCredential};
use countersign_core::methods::{self, Change, UserMethods};
use countersign_core::model::OathKind;
use countersign_core::model::{Session, Tenant, User};
use countersign_core::signin::{flow, session};
use countersign_core::CoreError;
use maud::{html, Markup};
use serde::Deserialize;

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

fn base(t: &Tenant) -> String {
    format!("{}/security-info", tenant_path(t))
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

fn method_label(t: &OathTokenInfo) -> &'static str {
    match (t.kind, t.active) {
        (OathKind::Software, _) => "Authenticator app",
        (OathKind::Hardware, true) => "Hardware token",
        (OathKind::Hardware, false) => "Hardware token (not activated)",
    }
}

/// A verification-code token's detail: a hardware token's serial number, or what an app's codes
/// are (Entra's words; its name would repeat "Authenticator app").
fn token_detail(t: &OathTokenInfo) -> String {
    match (&t.serial, t.kind) {
        (Some(serial), _) => format!("Serial {serial}"),
        (None, OathKind::Software) => "Time-based one-time password (TOTP)".into(),
        (None, OathKind::Hardware) => t.name.clone(),
    }
}

/// A registered device's line in security info (Entra's words): its registration type.
fn device_label(codes: bool, phone_sign_in: bool) -> &'static str {
    if phone_sign_in {
        "Authenticator app — Passwordless phone sign-in"
    } else if codes {
        "Authenticator app — Notification and code"
    } else {
        "Authenticator app — Notification"
    }
}

/// What "Delete" asks before a method is deleted (Entra's words; `static/app.js` asks it).
pub const DELETE_CONFIRM: &str =
    "Are you sure you would like to delete this method for your account?";

/// "Delete" of one method, named `label` for screen readers; the page asks first.
fn delete_form(b: &str, s: &Session, id: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(format!("{b}/delete")) data-confirm=(DELETE_CONFIRM) {
            input type="hidden" name="csrf" value=(s.csrf);
            input type="hidden" name="id" value=(id);
            button type="submit" class="secondary" aria-label=(label) { "Delete" }
        }
    }
}

/// A passkey's line: its name (editable), model and kind, dates, and "Delete".
fn passkey_row(b: &str, s: &Session, p: &PasskeyCredential) -> Markup {
    let detail = match passkey::model(p.aaguid.as_deref()) {
        Some(model) => format!("{model} · {}", passkey::kind_label(p)),
        None => passkey::kind_label(p).to_string(),
    };
    html! {
        tr {
            td { "Passkey" }
            td {
                form method="post" action=(format!("{b}/rename")) class="rename" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="id" value=(p.credential_id);
                    input type="text" name="name" value=(p.name) maxlength="64" required
                        aria-label=(format!("Name of passkey {}", p.name));
                    button type="submit" class="secondary"
                        aria-label=(format!("Rename passkey {}", p.name)) { "Rename" }
                }
                span class="hint" { (detail) }
            }
            td { (format_time(p.created_at)) }
            td { (p.last_used_at.map(format_time).unwrap_or_else(|| "Never".into())) }
            td { (delete_form(b, s, &p.credential_id, &format!("Delete passkey {}", p.name))) }
        }
    }
}

/// "Add a method": what this user may add.
fn choose_page(tenant: &Tenant, s: &Session, m: &UserMethods) -> Markup {
    let b = base(tenant);
    let choice = |method: &str, label: &str| {
        html! {
            li {
                form method="post" action=(format!("{b}/add")) {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="method" value=(method);
                    button type="submit" class="choice" { (label) }
                }
            }
        }
    };
    layout(
        "Add a method",
        Some(&tenant.display_name),
        html! {
            h1 { "Add a method" }
            p { "Which method would you like to add?" }
            ul class="choices" {
                @if m.can_add_device || m.can_add_app { (choice("authenticator", "Authenticator app")) }
                @if m.can_add_passkey { (choice("passkey", "Passkey")) }
            }
            p { a href=(b.clone()) { "Cancel" } }
        },
    )
}

/// "Create a passkey": the browser's prompt, opened by the button (options in the form).
fn passkey_page(
    tenant: &Tenant,
    s: &Session,
    ceremony: &str,
    options: &serde_json::Value,
    error: Option<&str>,
) -> Markup {
    let b = base(tenant);
    layout(
        "Passkey",
        Some(&tenant.display_name),
        html! {
            h1 { "Create a passkey" }
            p { "Use your face, fingerprint or PIN on this device, a security key, or a passkey app. You'll use it to sign in without a password." }
            form id="passkey-create" method="post" action=(format!("{b}/passkey"))
                data-passkey-create=(options.to_string()) {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="ceremony" value=(ceremony);
                input type="hidden" name="credential" value="";
                div class="actions" {
                    button type="submit" class="primary" { "Next" }
                }
            }
            p id="passkey-error" class="error" role="alert" hidden[error.is_none()] { (error.unwrap_or("")) }
            p { a href=(b.clone()) { "Cancel" } }
        },
    )
}

fn list_page(
    tenant: &Tenant,
    s: &Session,
    user: &User,
    m: &UserMethods,
    notice: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let b = base(tenant);
    let tokens = &m.tokens;
    layout(
        "Security info",
        Some(&tenant.display_name),
        html! {
            h1 { "Security info" }
            p { "These are the methods you use to sign into your account." }
            @if let Some(n) = notice { p class="notice" role="status" { (n) } }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            @if m.can_add_app || m.can_add_device || m.can_add_passkey {
                form method="post" action=(format!("{b}/add")) {
                    input type="hidden" name="csrf" value=(s.csrf);
                    button type="submit" class="primary" { "Add sign-in method" }
                }
            }
            table {
                thead { tr { th { "Method" } th { "Detail" } th { "Added" } th { "Last used" } th { span class="hidden" { "Actions" } } } }
                tbody {
                    @if user.password_hash.is_some() {
                        tr { td { "Password" } td {} td {} td {} td {} }
                    }
                    @for p in &m.passkeys {
                        (passkey_row(&b, s, p))
                    }
                    @for (d, codes) in &m.devices {
                        @let label = device_label(*codes, d.phone_key.is_some());
                        tr {
                            td { (label) }
                            td { (d.name) }
                            td { (format_time(d.created_at)) }
                            td { (d.last_seen_at.map(format_time).unwrap_or_else(|| "Never".into())) }
                            td { (delete_form(&b, s, &d.id, &format!("Delete {label} on {}", d.name))) }
                        }
                    }
                    @for t in tokens.iter().filter(|t| t.active || t.kind == OathKind::Hardware) {
                        tr {
                            td { (method_label(t)) }
                            td { (token_detail(t)) }
                            td { (format_time(t.created_at)) }
                            td { (t.last_used_at.map(format_time).unwrap_or_else(|| "Never".into())) }
                            td {
                                @if t.kind == OathKind::Hardware && !t.active {
                                    (one_field_form(&format!("{b}/verify"), &[("csrf", &s.csrf), ("id", &t.id)], &Field {
                                        name: "code", label: "Code from the token", kind: "text",
                                        autocomplete: "one-time-code", value: "", placeholder: "",
                                    }, None, "Activate"))
                                }
                                (delete_form(&b, s, &t.id, &format!("Delete {}", method_label(t))))
                            }
                        }
                    }
                }
            }
            p { a href=(format!("{}/", tenant_path(tenant))) { "Back to My account" } }
        },
    )
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

fn qr_svg(data: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|_| ApiError::internal())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build())
}

/// `data` as a QR code image (`#qr-code`), described by `alt`.
pub(crate) fn qr_image(data: &str, alt: &str) -> Result<Markup, ApiError> {
    let src = format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(qr_svg(data)?)
    );
    Ok(html! { img id="qr-code" alt=(alt) width="220" height="220" src=(src); })
}

/// The QR code, the manual key and the code field of an authenticator app being set up; posted
/// to `action` with `hidden` fields (security info, or the sign-in's registration step).
pub fn enrol_page(
    tenant: &Tenant,
    user: &User,
    t: &OathToken,
    action: &str,
    hidden: &[(&str, &str)],
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    let uri = t.otpauth_uri(&tenant.display_name, &user.upn);
    let qr = qr_image(&uri, "QR code to scan with your authenticator app")?;
    let key: Vec<String> = t
        .secret
        .expose()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(layout(
        "Authenticator app",
        Some(&tenant.display_name),
        html! {
            h1 { "Set up your account in the app" }
            ol {
                li { "Open your authenticator app and choose to add an account." }
                li { "Scan the QR code." }
            }
            (qr)
            details {
                summary { "Can't scan the QR code?" }
                dl {
                    dt { "Account name" } dd { (tenant.display_name) ":" (user.upn) }
                    dt { "Secret key" } dd id="secret-key" { (key.join(" ")) }
                }
                p class="hint" { "Time-based (TOTP), 6 digits, every 30 seconds, SHA-1." }
            }
            p { "Then enter the 6-digit code shown in the app." }
            (one_field_form(action, hidden, &Field {
                name: "code", label: "Code", kind: "text", autocomplete: "one-time-code",
                value: "", placeholder: "",
            }, error, "Next"))
        },
    ))
}

/// The activation link of a device registration: `countersign://activate?server=…&code=…`
/// (`docs/device-protocol.md`).
pub fn activation_link(state: &AppState, tenant: &Tenant, code: &str) -> String {
    use countersign_proto::device::ACTIVATION_SCHEME;
    let server = format!("{}/{}", state.config.public_url, tenant.name);
    let server: String = url::form_urlencoded::byte_serialize(server.as_bytes()).collect();
    format!("{ACTIVATION_SCHEME}://activate?server={server}&code={code}")
}

/// "Set up your account in the app": the activation link as a QR code and, under "Can't scan the
/// QR code?", as text (for `countersign-authenticator add <link>`).
fn activation_page(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    code: &str,
    codes_only_allowed: bool,
) -> Result<Markup, ApiError> {
    let link = activation_link(state, tenant, code);
    let qr = qr_image(
        &link,
        "QR code to scan with the Countersign Authenticator app",
    )?;
    let b = base(tenant);
    Ok(layout(
        "Authenticator app",
        Some(&tenant.display_name),
        html! {
            h1 { "Set up your account in the app" }
            ol {
                li { "Open the Countersign Authenticator app and add an account." }
                li { "Scan the QR code." }
            }
            (qr)
            details {
                summary { "Can't scan the QR code?" }
                p { "Enter this activation link in the app (for the terminal app: " code { "countersign-authenticator add" } " and the link):" }
                p id="activation-link" class="link-text" { (link) }
            }
            p class="hint" { "The code in it works once, for the next 10 minutes. When the app shows your account, select Next." }
            div class="actions" {
                a class="button primary" href=(b.clone()) { "Next" }
            }
            @if codes_only_allowed {
                form method="post" action=(format!("{b}/add")) {
                    input type="hidden" name="csrf" value=(s.csrf);
                    input type="hidden" name="method" value="code";
                    button type="submit" class="link" { "I want to use a different authenticator app" }
                }
            }
        },
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

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
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
