//! The OpenID Connect provider's domain: authorization requests (with PKCE S256 required), single-
//! use authorization codes, the token endpoint's grants (code and refresh with rotation and replay
//! detection) and the claims of ID tokens, access tokens and userinfo. Signing itself is asked of a
//! [`TokenSigner`].

pub mod authorize;
pub mod claims;
pub mod token;

use crate::error::CoreResult;
use crate::model::SigningAlg;

pub use authorize::{issue_code, validate_authorize, AuthorizeError, AuthorizeParams};
pub use token::{authenticate_client, exchange_code, refresh, userinfo, ClientAuth, IssuedTokens};

/// JWT `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// JWT `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Signs and verifies the JWTs this provider issues, with its current keys.
pub trait TokenSigner: Send + Sync {
    /// Signs `claims` as a compact JWS with the active key of `alg`.
    fn sign(&self, alg: SigningAlg, typ: &str, claims: &serde_json::Value) -> CoreResult<String>;
    /// Verifies a JWT this provider signed: signature by one of its published keys, `typ`,
    /// `iss`, and expiry against `now`. Returns the claims, or `None` for anything else.
    fn verify(
        &self,
        token: &str,
        issuer: &str,
        typ: &str,
        now: crate::clock::Timestamp,
    ) -> Option<serde_json::Value>;
}

/// Scopes Countersign understands (OpenID Connect Core §5.4, §11).
pub const SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}
