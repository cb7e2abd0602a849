//! Server-rendered pages: the shared layout, the home and error pages. The sign-in steps live in
//! `signin`, the signed-in user's account page in `account`. Every control has an accessible name.

pub mod account;
pub mod assets;
pub mod passkey;
pub mod push;
pub mod security_info;
pub mod signin;
pub mod tap;

use crate::error::{AppError, PageError};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

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

pub fn error_page(e: &AppError) -> Response {
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
    PageError(AppError::not_found("There is no page at this address."))
}
