//! The WebAuthn ceremonies as the domain sees them: the [`Verifier`] the server plugs in, and what
//! it begins, accepts and refuses.

use crate::error::CoreResult;
use serde::{Deserialize, Serialize};

use super::*;

/// A ceremony begun by the verifier: the options for the browser (`{"publicKey": …}`) and the
/// verifier's own state, kept server side until the answer comes.
#[derive(Debug, Clone)]
pub struct Begun {
    pub options: serde_json::Value,
    pub state: String,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Security info adds a passkey for the flow row's user.
    Register,
    /// Sign-in with the passkeys of the name typed (or of the user proved by a first method).
    SignIn,
    /// Sign-in with no name: the user comes from the credential.
    Discoverable,
    /// Sign-in on this computer with a passkey on another device: the ceremony's id is the
    /// one-time link the page shows as a QR code.
    CrossDevice,
    /// A cross-device link answered and verified: the computer's page may finish its sign-in.
    Answered,
}

/// A new credential, as the verifier accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    /// Base64url.
    pub credential_id: String,
    pub credential: String,
    pub aaguid: Option<String>,
    /// Its attestation chained to a trusted root: the AAGUID and model are the maker's word.
    pub attested: bool,
    /// The model, as its trusted root names it.
    pub model: Option<String>,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// Whether the browser says it made a discoverable credential (the credProps extension's
    /// `rk`); `None` when it did not say.
    pub discoverable: Option<bool>,
}

/// An assertion the verifier accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// An answer the verifier refused, with the reason for the sign-in log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Who an assertion says it is: its credential id (base64url) and, for a discoverable
/// credential, the user handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub credential_id: String,
    pub user_handle: Option<String>,
}

/// The WebAuthn ceremonies. Every check of WebAuthn Level 3 §7.1 (registration) and §7.2
/// (authentication) is the verifier's — origin, RP ID hash, challenge, type, UP and UV flags,
/// algorithm, signature, counter against the record given — with user verification required.
/// The domain adds what needs the store: uniqueness, the user handle's owner, the tenant, the
/// policy, a counter that moves on under parallel uses.
pub trait Verifier: Send + Sync {
    /// A new random user handle (a user gets one, once).
    fn new_user_handle(&self) -> String;
    /// Registration options for a discoverable credential; `exclude` are the user's credential
    /// ids (the browser refuses to register an authenticator twice). `attested`: only an
    /// authenticator whose attestation chains to a trusted maker's root will do.
    fn start_registration(
        &self,
        user_handle: &str,
        name: &str,
        display_name: &str,
        exclude: &[String],
        attested: bool,
    ) -> CoreResult<Begun>;
    /// Whether it knows any maker's attestation root (attestation can be enforced).
    fn can_attest(&self) -> bool;
    fn finish_registration(&self, state: &str, response: &str) -> Result<NewPasskey, Refusal>;
    /// Authentication options: for these credentials, or — with none — for any discoverable
    /// credential of this RP (no name: the browser offers the person's passkeys).
    fn start_authentication(&self, passkeys: &[PasskeyCredential]) -> CoreResult<Begun>;
    /// Who the answer claims to be, before anything is verified.
    fn claimed(&self, response: &str) -> Result<Claimed, Refusal>;
    fn finish_authentication(
        &self,
        state: &str,
        response: &str,
        passkey: &PasskeyCredential,
    ) -> Result<Asserted, Refusal>;
}
