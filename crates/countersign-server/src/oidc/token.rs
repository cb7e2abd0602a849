//! The token endpoint (RFC 6749 §3.2) and userinfo (OpenID Connect Core §5.3): strict parsing of
//! the form (no repeated parameters), client authentication by HTTP Basic or form, and OAuth error
//! bodies with the right status and `WWW-Authenticate` header.

use crate::http;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use countersign_core::error::OAuthErrorCode;
use countersign_core::oidc::{self as core_oidc, ClientAuth};
use countersign_core::CoreError;
use countersign_proto::{OAuthErrorBody, TokenResponse};
use std::collections::HashMap;

struct OAuthFail {
    status: StatusCode,
    error: &'static str,
    description: String,
    www_authenticate: Option<&'static str>,
}

impl OAuthFail {
    fn request(d: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: d.into(),
            www_authenticate: None,
        }
    }
}

impl From<CoreError> for OAuthFail {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::OAuth(o) => {
                let status = match o.code {
                    OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => {
                        StatusCode::UNAUTHORIZED
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                Self {
                    status,
                    error: o.code.as_str(),
                    description: o.description,
                    www_authenticate: None,
                }
            }
            CoreError::Busy => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "the server is busy; try again".into(),
                www_authenticate: None,
            },
            other => {
                tracing::error!(error = %other, "token endpoint failure");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    error: "server_error",
                    description: "the server could not complete the request".into(),
                    www_authenticate: None,
                }
            }
        }
    }
}

impl IntoResponse for OAuthFail {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(OAuthErrorBody {
                error: self.error.to_string(),
                error_description: Some(self.description),
            }),
        )
            .into_response();
        if let Some(w) = self.www_authenticate {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(w));
        }
        res
    }
}

/// Form parameters, refusing repeats (RFC 6749 §3.2: parameters MUST NOT be included twice).
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthFail> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthFail::request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = http::decode_form(body)
        .map_err(|_| OAuthFail::request("the body is not a valid UTF-8 form"))?;
    let mut map = HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(OAuthFail::request(format!("parameter '{k}' is repeated")));
        }
    }
    Ok(map)
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each part form-urlencoded)
/// or from the form; using both at once is refused.
fn client_auth(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(ClientAuth, bool), OAuthFail> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if let Some(b64) = basic {
        if form.contains_key("client_secret") {
            return Err(OAuthFail::request(
                "use one client authentication method, not two",
            ));
        }
        let bad = || OAuthFail {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "malformed Basic credentials".into(),
            www_authenticate: Some("Basic realm=\"countersign\""),
        };
        let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let id = dec(id);
        if let Some(form_id) = form.get("client_id") {
            if *form_id != id {
                return Err(OAuthFail::request(
                    "client_id does not match the credentials",
                ));
            }
        }
        return Ok((
            ClientAuth {
                client_id: Some(id),
                client_secret: Some(dec(secret)),
            },
            true,
        ));
    }
    Ok((
        ClientAuth {
            client_id: form.get("client_id").cloned(),
            client_secret: form.get("client_secret").cloned(),
        },
        false,
    ))
}

pub async fn token(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&state, &name, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn token_inner(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthFail> {
    let tenant = http::tenant(state, name).await.map_err(|e| OAuthFail {
        status: e.status,
        error: "invalid_request",
        description: e.message,
        www_authenticate: None,
    })?;
    let form = parse_form(headers, body)?;
    let (auth, used_basic) = client_auth(headers, &form)?;
    let client = core_oidc::authenticate_client(&state.deps, &tenant, &auth)
        .await
        .map_err(|e| {
            let mut f = OAuthFail::from(e);
            if used_basic {
                f.www_authenticate = Some("Basic realm=\"countersign\"");
            }
            f
        })?;
    let issuer = state.config.issuer(&tenant.name);
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthFail::request("grant_type is required"))?;
    let issued = match grant_type.as_str() {
        "authorization_code" => {
            let code = form
                .get("code")
                .ok_or_else(|| OAuthFail::request("code is required"))?;
            core_oidc::exchange_code(
                &state.deps,
                &state.keys,
                &tenant,
                &issuer,
                &client,
                code,
                form.get("redirect_uri").map(String::as_str),
                form.get("code_verifier").map(String::as_str),
            )
            .await?
        }
        "refresh_token" => {
            let rt = form
                .get("refresh_token")
                .ok_or_else(|| OAuthFail::request("refresh_token is required"))?;
            core_oidc::refresh(
                &state.deps,
                &state.keys,
                &tenant,
                &issuer,
                &client,
                rt,
                form.get("scope").map(String::as_str),
            )
            .await?
        }
        _ => {
            return Err(OAuthFail {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: "use authorization_code or refresh_token".into(),
                www_authenticate: None,
            })
        }
    };
    state.metrics.token(grant_type);
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".into(),
        expires_in: issued.expires_in.max(0) as u64,
        refresh_token: issued.refresh_token,
        id_token: issued.id_token,
        scope: issued.scope,
    };
    Ok(([(header::PRAGMA, "no-cache")], Json(body)).into_response())
}

/// The token of an `Authorization: Bearer …` header. The scheme is case-insensitive (RFC 7235
/// §2.1), so `bearer` and `BEARER` work too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub async fn userinfo(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let unauthorized = |w: &'static str, d: &str| OAuthFail {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_token",
        description: d.to_string(),
        www_authenticate: Some(w),
    };
    let tenant = match http::tenant(&state, &name).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
    else {
        return unauthorized("Bearer", "a Bearer access token is required").into_response();
    };
    let issuer = state.config.issuer(&tenant.name);
    match core_oidc::userinfo(&state.deps, &state.keys, &tenant, &issuer, token.trim()).await {
        Ok(claims) => Json(claims).into_response(),
        Err(CoreError::OAuth(_)) => unauthorized(
            "Bearer error=\"invalid_token\"",
            "the access token is invalid, expired or revoked",
        )
        .into_response(),
        Err(e) => OAuthFail::from(e).into_response(),
    }
}
