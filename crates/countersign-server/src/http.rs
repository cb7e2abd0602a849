//! HTTP plumbing shared by all routes: security headers and metrics on every response, cookies,
//! CSRF checks, strict form decoding, the client address, tenant lookup, and the health check.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_core::model::Tenant;
use countersign_core::secret::ct_eq;
use countersign_proto::{codes, Health};
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

/// Content Security Policy of every page: only our own script and style. `form-action` is left
/// out on purpose: browsers apply it to the redirect back to the application after a sign-in form.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub async fn common_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.secure_cookies() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    let status = res.status().as_u16();
    state
        .metrics
        .http(&method, &route, status, started.elapsed().as_secs_f64());
    tracing::debug!(%method, %route, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    res
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the browser must send it on the top-level
/// navigation from an application back to /authorize), Secure unless on plain-http localhost.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if state.config.secure_cookies() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

pub fn clear_cookie(state: &AppState, name: &str, path: &str) -> HeaderValue {
    set_cookie(state, name, "", path, Some(0))
}

/// Decodes an `application/x-www-form-urlencoded` body or query string. Every name and value must
/// be UTF-8 once percent-decoded: a lossy decoding would turn bytes nobody typed into U+FFFD and
/// accept them, so such input is refused instead (400, `bad_form`).
pub fn decode_form<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let bad = |what: &str| ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_FORM, what);
    for pair in raw.split(|b| *b == b'&') {
        for part in pair.splitn(2, |b| *b == b'=') {
            let plus: Vec<u8> = part
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode(&plus).into();
            if std::str::from_utf8(&decoded).is_err() {
                return Err(bad(
                    "The form could not be read: it is not valid UTF-8 text.",
                ));
            }
        }
    }
    serde_urlencoded::from_bytes(raw)
        .map_err(|_| bad("The form could not be read: a field is repeated or malformed."))
}

/// Compares a submitted anti-CSRF token with the expected one, in constant time.
pub fn check_csrf(expected: &str, submitted: Option<&str>) -> Result<(), ApiError> {
    match submitted {
        Some(s) if ct_eq(expected.as_bytes(), s.as_bytes()) => Ok(()),
        _ => Err(ApiError::csrf()),
    }
}

/// The client's address: the socket peer, or behind a trusted reverse proxy the last address it
/// appended to `X-Forwarded-For` — the right-most entry, the one the proxy itself wrote (those
/// before it are the client's to invent).
pub fn client_addr(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
) -> Option<String> {
    if state.config.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(forwarded_client);
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    peer.map(|c| c.0.ip().to_string())
}

/// The sign-in's circumstances as this request shows them: the client's address, its browser,
/// and the place the GeoIP database (when configured) puts the address in.
pub fn sign_in_context(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
) -> countersign_core::signin::context::SignInContext {
    let addr = client_addr(state, headers, peer);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let mut context = countersign_core::signin::context::SignInContext::new(addr, user_agent);
    if let (Some(geo), Some(a)) = (&state.geo, &context.client_addr) {
        (context.city, context.country) = geo.locate(a);
    }
    context
}

/// The address in the last entry of an `X-Forwarded-For` value, when it is one (with or without
/// a port, as some proxies write it). Anything else is no address: it would be logged, and count
/// against throttles and risky networks, as if it were one.
fn forwarded_client(header: &str) -> Option<std::net::IpAddr> {
    let last = header.rsplit(',').next()?.trim();
    last.parse()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Looks up the tenant named in the path; an unknown name is a 404.
pub async fn tenant(state: &AppState, name: &str) -> Result<Tenant, ApiError> {
    state
        .tenants
        .get(state.deps.store.as_ref(), name)
        .await
        .map_err(|e| ApiError::from(countersign_core::CoreError::from(e)))?
        .ok_or_else(|| {
            ApiError::not_found(format!("There is no organisation called '{name}' here."))
        })
}

/// How long `/healthz` waits for the store: less than a load balancer's probe timeout, so that an
/// unreachable database is a 503 rather than a probe that times out (the pool itself waits 10 s
/// for a connection).
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn healthz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(HEALTH_WAIT, state.deps.store.ping()).await;
    let ping = ping.unwrap_or_else(|_| {
        Err(countersign_core::StoreError::Backend(format!(
            "no answer within {} s",
            HEALTH_WAIT.as_secs()
        )))
    });
    match ping {
        Ok(()) => Json(Health {
            status: "ok".into(),
            store: state.backend.into(),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable".into(),
                    store: state.backend.into(),
                }),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;

    #[test]
    fn only_an_address_in_the_last_forwarded_entry_is_the_client() {
        let ip = |h: &str| forwarded_client(h).map(|a| a.to_string());
        assert_eq!(ip("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("10.0.0.1, 203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("203.0.113.7:4711").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        for bad in [
            "garbage",
            "203.0.113.7, garbage",
            "",
            "203.0.113.7 evil",
            "1.2.3",
        ] {
            assert_eq!(ip(bad), None, "{bad}");
        }
    }
}
