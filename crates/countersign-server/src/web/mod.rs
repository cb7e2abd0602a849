//! The web surface: server-rendered pages and their routes — the sign-in steps (`signin`, with a
//! module per method's page inside), the account page, security info, and the static files — with
//! the shared layout, home and error pages. `session` owns cookies, the current session, posted
//! flows and tenant paths. Every control has an accessible name.

pub mod account;
pub mod assets;
pub mod parts;
pub mod security_info;
pub mod session;
pub mod signin;

use signin::{passkey, passkey_link, push, tap};

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use countersign_proto::codes;
use maud::{html, Markup, DOCTYPE};
use serde::de::DeserializeOwned;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(assets::css))
        .route("/static/app.js", get(assets::js))
        .route("/{tenant}", get(account::show))
        .route("/{tenant}/", get(account::show))
        .route("/{tenant}/signout", post(account::sign_out))
        .route("/{tenant}/login", get(signin::show))
        .route("/{tenant}/login/username", post(signin::username))
        .route("/{tenant}/login/password", post(signin::password))
        .route("/{tenant}/login/back", post(signin::back))
        .route("/{tenant}/login/code", post(signin::code))
        .route("/{tenant}/login/other", post(signin::other))
        .route("/{tenant}/login/choose", post(signin::choose))
        .route("/{tenant}/login/register", post(signin::register))
        .route(
            "/{tenant}/login/register/verify",
            post(signin::register_verify),
        )
        .route("/{tenant}/login/tap", post(tap::submit))
        .route("/{tenant}/login/push", post(push::finish))
        .route("/{tenant}/login/push/status", get(push::status))
        .route("/{tenant}/login/push/again", post(push::send_again))
        .route("/{tenant}/login/passkey", post(passkey::submit))
        .route("/{tenant}/login/passkey/options", post(passkey::options))
        .route(
            "/{tenant}/login/passkey/another-device",
            post(passkey_link::begin),
        )
        .route(
            "/{tenant}/login/passkey/another-device/status",
            get(passkey_link::status),
        )
        .route(
            "/{tenant}/login/passkey/another-device/finish",
            post(passkey_link::finish),
        )
        .route("/{tenant}/security-info", get(security_info::show))
        .route("/{tenant}/security-info/add", post(security_info::add))
        .route(
            "/{tenant}/security-info/verify",
            post(security_info::verify),
        )
        .route(
            "/{tenant}/security-info/delete",
            post(security_info::delete),
        )
        .route(
            "/{tenant}/security-info/passkey",
            post(security_info::passkey_finish),
        )
        .route(
            "/{tenant}/security-info/rename",
            post(security_info::rename),
        )
}

/// The page frame: a card with the organisation's name above the content.
pub fn layout(title: &str, org: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " – Countersign" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                main class="card" {
                    p class="brand" { (org.unwrap_or("Countersign")) }
                    (body)
                }
                footer { "Countersign" }
            }
        }
    }
}

pub fn page(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

pub fn error_page(e: &ApiError) -> Response {
    let body = html! {
        h1 { "We couldn't do that" }
        p role="alert" class="error" data-code=(e.code) { (e.message) }
        // app.js turns this into history.back(): the CSP blocks `javascript:` links
        p { a href="/" data-back { "Go back" } }
    };
    page(e.status, layout("Error", None, body))
}

pub async fn home() -> Html<String> {
    Html(layout(
        "Countersign",
        None,
        html! {
            h1 { "Countersign" }
            p { "This is a Countersign sign-in service. Open the application you want to use; it will bring you here to sign in." }
        },
    )
    .into_string())
}

pub async fn not_found() -> PageError {
    PageError(ApiError::not_found("There is no page at this address."))
}

/// HTML rendering, for page routes.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0)
    }
}

/// A posted page form, decoded by `crate::http::decode_form`; a body of another content type is refused (415).
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::BAD_FORM,
                "Send the form as application/x-www-form-urlencoded.",
            )
            .into());
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("The form could not be read."))?;
        Ok(Form(crate::http::decode_form(&body)?))
    }
}
