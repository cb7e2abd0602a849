//! Security info's markup: the list of methods, the choice of what to add, the enrolment and
//! activation pages with their QR codes, the passkey page, and the forms on them.

use crate::error::ApiError;
use crate::web::account::format_time;
use crate::web::layout;
use crate::web::parts::{one_field_form, Field};
use crate::web::session::tenant_path;
use crate::AppState;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use countersign_core::methods::oath::{OathToken, OathTokenInfo};
use countersign_core::methods::passkey::{self, PasskeyCredential};
use countersign_core::methods::UserMethods;
use countersign_core::model::OathKind;
use countersign_core::model::{Session, Tenant, User};
use maud::{html, Markup};

pub(super) fn base(t: &Tenant) -> String {
    format!("{}/security-info", tenant_path(t))
}

pub(super) fn method_label(t: &OathTokenInfo) -> &'static str {
    match (t.kind, t.active) {
        (OathKind::Software, _) => "Authenticator app",
        (OathKind::Hardware, true) => "Hardware token",
        (OathKind::Hardware, false) => "Hardware token (not activated)",
    }
}

/// A verification-code token's detail: a hardware token's serial number, or what an app's codes
/// are (Entra's words; its name would repeat "Authenticator app").
pub(super) fn token_detail(t: &OathTokenInfo) -> String {
    match (&t.serial, t.kind) {
        (Some(serial), _) => format!("Serial {serial}"),
        (None, OathKind::Software) => "Time-based one-time password (TOTP)".into(),
        (None, OathKind::Hardware) => t.name.clone(),
    }
}

/// A registered device's line in security info (Entra's words): its registration type.
pub(super) fn device_label(codes: bool, phone_sign_in: bool) -> &'static str {
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
pub(super) fn delete_form(b: &str, s: &Session, id: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(format!("{b}/delete")) data-confirm=(DELETE_CONFIRM) {
            input type="hidden" name="csrf" value=(s.csrf);
            input type="hidden" name="id" value=(id);
            button type="submit" class="secondary" aria-label=(label) { "Delete" }
        }
    }
}

/// A passkey's line: its name (editable), model and kind, dates, and "Delete".
pub(super) fn passkey_row(b: &str, s: &Session, p: &PasskeyCredential) -> Markup {
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
pub(super) fn choose_page(tenant: &Tenant, s: &Session, m: &UserMethods) -> Markup {
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
pub(super) fn passkey_page(
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

pub(super) fn list_page(
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

pub(super) fn qr_svg(data: &str) -> Result<String, ApiError> {
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
pub(super) fn activation_page(
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

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
