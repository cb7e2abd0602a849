//! Wire types of Countersign's HTTP API: JSON bodies, OAuth 2.0 / OpenID Connect documents and the
//! stable error codes. No logic lives here, and no secret-bearing domain type is ever serialised
//! through these: the server copies the public fields it means to expose.

pub mod device;

use serde::{Deserialize, Serialize};

/// Stable, documented error codes returned in `ErrorBody::error`. Clients may match on them.
pub mod codes {
    pub const BAD_REQUEST: &str = "bad_request";
    /// A form or query string that is not valid `application/x-www-form-urlencoded` UTF-8.
    pub const BAD_FORM: &str = "bad_form";
    pub const NOT_FOUND: &str = "not_found";
    pub const CONFLICT: &str = "conflict";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const CSRF: &str = "csrf_check_failed";
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    pub const FLOW_EXPIRED: &str = "flow_expired";
    /// The tenant's authentication methods policy does not let this user use the method.
    pub const METHOD_NOT_SUPPORTED: &str = "method_not_supported";
    pub const BUSY: &str = "temporarily_unavailable";
    pub const INTERNAL: &str = "internal_error";
}

/// The body of every non-OAuth error response: a stable code and a message for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// OAuth 2.0 error response (RFC 6749 §5.2), used by the token and userinfo endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: String,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    pub acr_values_supported: Vec<String>,
}

/// One public key of a JSON Web Key Set (RFC 7517). Only public parameters exist here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Liveness/readiness body of `/healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub store: String,
}
