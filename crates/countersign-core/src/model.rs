//! The records of the directory and of sign-in state. These are domain types: secrets inside them
//! are `Secret`s, and none of them derives `Serialize` (the wire types live in countersign-proto).

use crate::clock::Timestamp;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// An organisation. `name` is the short, URL-safe handle used in issuer URLs (`/contoso/v2.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// Verified domains; a user's principal name must end in one of them. Lowercase.
    pub domains: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    /// User principal name, `name@domain`, stored lowercase.
    pub upn: String,
    pub display_name: String,
    pub email: Option<String>,
    pub enabled: bool,
    /// Argon2id PHC string. `None` for accounts without a password (passwordless-only).
    pub password_hash: Option<Secret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Tokens issued before this time are refused (a password change, disabling, deleting a
    /// sign-in method or an administrator's "revoke sessions" sets it). Written only by
    /// `Store::revoke_user_access`.
    pub tokens_valid_after: Timestamp,
    /// When the user answered a push request with "It's not me": no push requests are sent
    /// until an administrator clears it. Written only by the store's settling of that answer and
    /// by `PushStore::set_push_block`.
    pub push_blocked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdminRole {
    GlobalAdministrator,
    AuthenticationPolicyAdministrator,
}

impl AdminRole {
    pub const ALL: [AdminRole; 2] = [
        AdminRole::GlobalAdministrator,
        AdminRole::AuthenticationPolicyAdministrator,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GlobalAdministrator => "global-administrator",
            Self::AuthenticationPolicyAdministrator => "authentication-policy-administrator",
        }
    }
    pub fn display(self) -> &'static str {
        match self {
            Self::GlobalAdministrator => "Global Administrator",
            Self::AuthenticationPolicyAdministrator => "Authentication Policy Administrator",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        let norm = s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        Self::ALL.into_iter().find(|r| r.as_str() == norm)
    }
}

/// JWS algorithms Countersign signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

/// A registered OpenID Connect relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClient {
    /// The public `client_id`.
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// Exact-match redirect URIs (RFC 9700 §4.1.3: no wildcards, no prefix matching).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// SHA-256 digest of the client secret; `None` for public clients (PKCE only).
    pub secret_digest: Option<Secret>,
    /// Algorithm of the ID tokens this client receives (its `id_token_signed_response_alg`).
    pub id_token_alg: SigningAlg,
    /// Every sign-in to this application needs a second factor.
    pub require_mfa: bool,
    pub created_at: Timestamp,
}

impl OidcClient {
    pub fn is_confidential(&self) -> bool {
        self.secret_digest.is_some()
    }
}

/// A validated authorization request (OpenID Connect Core §3.1.2.1), kept while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `acr_values` the client asked for (space-separated), as sent.
    #[serde(default)]
    pub acr_values: Option<String>,
}

/// A sign-in in progress in one browser: where it is (`state`, the engine's whole state as one
/// value) and what it will lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFlow {
    pub id: String,
    pub tenant_id: String,
    /// Anti-CSRF token echoed by every form of this flow.
    pub csrf: String,
    pub request: Option<AuthorizeRequest>,
    /// The step, the name typed, the proofs collected (see `crate::signin::flow`).
    pub state: crate::signin::flow::FlowState,
    /// Where to go after signing in when there is no authorization request (a local path).
    pub return_to: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A browser session after a successful sign-in. Stored under the digest of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_digest: String,
    pub tenant_id: String,
    pub user_id: String,
    pub csrf: String,
    pub auth_time: Timestamp,
    /// Authentication method references (RFC 8176) of the sign-in that created the session.
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// An issued authorization code, stored under its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_digest: String,
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub session_digest: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    /// The grant the code was redeemed into, so that a replay can revoke it.
    pub grant_id: Option<String>,
}

/// Everything issued from one authorization code: one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    /// Absolute end of the family, whatever the refresh activity.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_digest: String,
    pub grant_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// The outcome of atomically marking a single-use credential used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed<T> {
    /// This call was the first to use it.
    Fresh(T),
    /// It had been used before: a replay.
    Replayed(T),
    Missing,
}

/// A JWS signing key. The private half is PKCS#8 DER, base64 in a `Secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub private_pkcs8: Secret,
    pub created_at: Timestamp,
    /// When set, the key no longer signs but stays published until tokens signed with it expire.
    pub retired_at: Option<Timestamp>,
}

/// Consecutive failures counted against one throttling key (an account name or a client address).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: u32,
    pub last_failure_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInResult {
    Success,
    Failure,
    /// The user reported the attempt as not theirs ("It's not me").
    Fraud,
}

impl SignInResult {
    pub const ALL: [SignInResult; 3] = [Self::Success, Self::Failure, Self::Fraud];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Fraud => "fraud",
        }
    }
    /// Unknown text reads as a failure.
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .unwrap_or(Self::Failure)
    }
}

/// One line of the sign-in log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLogEntry {
    pub id: String,
    pub tenant_id: String,
    pub at: Timestamp,
    pub user_id: Option<String>,
    /// What the person typed (normalised), so failures for unknown names are visible too.
    pub typed_name: String,
    pub client_id: Option<String>,
    pub client_addr: Option<String>,
    pub method: String,
    pub result: SignInResult,
    /// Internal reason, for administrators only (never shown to the person signing in).
    pub failure_reason: Option<String>,
}

/// One line of the audit log: a change an administrator made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub tenant_id: String,
    pub at: Timestamp,
    /// Who made it: a user's principal name, or `operator:<name>` for the server's command line.
    pub actor: String,
    /// What was done, e.g. `policy.set` or `policy.method.disable softwareOath`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The changed record before and after (JSON), where there is one.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The two kinds of OATH token: a software app's and a hardware token's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OathKind {
    Software,
    Hardware,
}

impl OathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Hardware => "hardware",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "software" => Some(Self::Software),
            "hardware" => Some(Self::Hardware),
            _ => None,
        }
    }
}
