//! Passkeys (WebAuthn credentials) as the domain keeps them: the records and what a use must
//! respect. Verifying a ceremony is the server's verifier's business; here, what it leaves
//! behind — a credential id unique across all users, the user's random WebAuthn user handle, and
//! a signature counter that may only move on (WebAuthn Level 3 §7.2 step 22: a counter that does
//! not is a possible clone, refused).

use crate::clock::Timestamp;

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    /// The credential id, base64url: unique across every user and tenant.
    pub credential_id: String,
    pub tenant_id: String,
    pub user_id: String,
    /// The name security info shows (editable).
    pub name: String,
    /// The authenticator model's AAGUID, when it said one.
    pub aaguid: Option<String>,
    /// The verifier's own record of the credential (its public key and state): opaque here.
    pub credential: String,
    pub sign_count: i64,
    /// Backup eligible: a synced passkey (BE flag). Device-bound when false.
    pub backup_eligible: bool,
    /// Backed up now (BS flag), as of its last use.
    pub backup_state: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A verified use of a passkey, as the verifier reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    pub sign_count: i64,
    pub backup_state: bool,
    /// The verifier's record after the use.
    pub credential: String,
    pub at: Timestamp,
}

/// What recording a use did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Recorded,
    /// The counter did not move on (neither both zero — an authenticator without a counter —
    /// nor above the stored one): a possible clone, refused.
    CounterRegressed,
    Unknown,
}

/// Whether a use with counter `new` may follow the stored counter `stored` (§7.2 step 22): an
/// authenticator without a counter reports zero every time; any other must count up.
pub fn counter_moves_on(stored: i64, new: i64) -> bool {
    (stored == 0 && new == 0) || new > stored
}

#[cfg(test)]
mod tests {
    use super::counter_moves_on;

    #[test]
    fn a_counter_must_count_up_unless_the_authenticator_has_none() {
        assert!(counter_moves_on(0, 0));
        assert!(counter_moves_on(0, 1));
        assert!(counter_moves_on(5, 6));
        assert!(!counter_moves_on(5, 5));
        assert!(!counter_moves_on(5, 4));
        assert!(!counter_moves_on(5, 0));
    }
}
