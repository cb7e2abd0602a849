//! Passkeys as the domain keeps them: the record, a use and its signature counter (the rule that
//! it may only move on), which of a user's passkeys the policy lets them use, and how security
//! info names them.

use crate::clock::Timestamp;
use crate::error::CoreResult;
use crate::policy::{Eligibility, MethodId};
use crate::Deps;

/// The sign-in log's reason for a counter that did not move on.
pub const COUNTER_REGRESSED: &str =
    "signature counter did not increase: possible cloned authenticator";

/// The AAGUID of the Countersign Authenticator's passkeys: device-bound software keys, user
/// verification by its App Lock PIN. The same as `countersign_proto::device::PASSKEY_AAGUID`
/// (the core depends on nothing of ours; a server test checks they agree).
pub const COUNTERSIGN_AAGUID: &str = "7c0a3e52-9f4b-4c1d-8e26-5b3f6d1a9c84";

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
    /// The verifier's own record of the credential (its public key), as registered: opaque here,
    /// never changed by a use (the counter and backup flags are the fields beside it).
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
    /// Backup eligible as of this use (an authenticator may become able to sync: 0 → 1).
    pub backup_eligible: bool,
    pub backup_state: bool,
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

/// The passkeys of a user that the policy lets them use now.
pub async fn usable(
    deps: &Deps,
    may: &Eligibility,
    user_id: &str,
) -> CoreResult<Vec<PasskeyCredential>> {
    if !may.allows(MethodId::Passkey) {
        return Ok(Vec::new());
    }
    Ok(deps
        .store
        .passkeys_of_user(user_id)
        .await?
        .into_iter()
        .filter(|p| may.passkey(p.aaguid.as_deref()))
        .collect())
}

/// Where a passkey lives, as security info says it.
pub fn kind_label(p: &PasskeyCredential) -> &'static str {
    // The Countersign Authenticator's passkeys never leave the device, whatever the flags its
    // software authenticator sets.
    let ours = p
        .aaguid
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(COUNTERSIGN_AAGUID));
    if p.backup_eligible && !ours {
        "Synced"
    } else {
        "Device-bound"
    }
}

/// The authenticator model behind a passkey, from its AAGUID, where known (the names their
/// makers publish).
pub fn model(aaguid: Option<&str>) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        (COUNTERSIGN_AAGUID, "Countersign Authenticator"),
        (
            "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
            "Google Password Manager",
        ),
        ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "iCloud Keychain"),
        ("08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"),
        ("9ddd1817-af5a-4672-a2b9-3e3dd95000a9", "Windows Hello"),
        ("6028b017-b1d4-4c02-b4b3-afcdafc96bb2", "Windows Hello"),
        ("adce0002-35bc-c60a-648b-0b25f1f05503", "Chrome on Mac"),
        ("bada5566-a7aa-401f-bd96-45619a55120d", "1Password"),
        ("d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden"),
        (
            "90a3ccdf-635c-4729-a248-9b709135078f",
            "Microsoft Authenticator (iOS)",
        ),
        (
            "de1e552d-db1d-4423-a619-566b625cdc84",
            "Microsoft Authenticator (Android)",
        ),
        ("cb69481e-8ff7-4039-93ec-0a2729a154a8", "YubiKey 5 Series"),
        ("ee882879-721c-4913-9775-3dfcce97072a", "YubiKey 5 Series"),
        (
            "fa2b99dc-9e39-4257-8f92-4a30d23c4118",
            "YubiKey 5 Series with NFC",
        ),
    ];
    let a = aaguid?;
    KNOWN
        .iter()
        .find(|(g, _)| g.eq_ignore_ascii_case(a))
        .map(|(_, name)| *name)
}
