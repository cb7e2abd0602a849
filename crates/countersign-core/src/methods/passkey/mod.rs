//! Passkeys (WebAuthn credentials) as the domain keeps and uses them: the records, the rules of
//! registering one (policy, self-service, the key's type by AAGUID, a credential id unique across
//! all users) and of signing in with one (the user from the credential, their tenant, the policy,
//! a signature counter that may only move on — WebAuthn Level 3 §7.2 step 22: a counter that does
//! not is a possible clone, refused and logged).
//!
//! The WebAuthn ceremonies themselves (challenges, origins, the RP ID hash, flags, signatures)
//! are the [`Verifier`]'s: the server plugs in a well-kept implementation. A ceremony begun is
//! kept server side in its own one-time row ([`Step::Ceremony`]), bound to the browser's flow or
//! the user, and taken — deleted, by exactly one caller — before its answer is verified: a
//! challenge is answered once, within [`CEREMONY_TTL`].

mod ceremony;
mod link;
mod records;
mod registration;
mod sign_in;
mod verifier;

pub use ceremony::CEREMONY_TTL;
pub use link::*;
pub use records::*;
pub use registration::*;
pub use sign_in::*;
pub use verifier::*;

#[cfg(test)]
mod tests;
