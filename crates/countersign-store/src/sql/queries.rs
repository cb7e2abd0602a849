//! Reads that several stores make, alone or together in one read transaction
//! (`Db::fetch_many`): a user's devices, pass and passkeys, a tenant's policy, a flow, a passkey
//! and the owner of a WebAuthn handle.

use super::*;
use crate::db::{query, Query, Row};
use crate::rows::{self, to_json, R};
use countersign_core::model::*;
use countersign_core::secret::token_digest;
use std::sync::LazyLock;

// The reads `first_factor_records` and `passkey_answer_records` take together; each is also a
// method of its own.

pub(super) fn devices_of_user(user_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM devices WHERE user_id = $1 ORDER BY created_at, id",
        rows::DEVICE_COLS
    );
    query(sql).bind(user_id)
}

pub(super) fn policy_of_tenant(tenant_id: &str) -> Query {
    query("SELECT document, version FROM methods_policies WHERE tenant_id = $1").bind(tenant_id)
}

pub(super) fn tap_of_user(user_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM temporary_access_passes WHERE user_id = $1",
        rows::TAP_COLS
    );
    query(sql).bind(user_id)
}

pub(super) fn passkeys_of_user(user_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id",
        rows::PASSKEY_COLS
    );
    query(sql).bind(user_id)
}

pub(super) fn flow_of_id(id: &str) -> Query {
    let sql = once!("SELECT {} FROM signin_flows WHERE id = $1", rows::FLOW_COLS);
    query(sql).bind(token_digest(id))
}

/// The flow read by `flow_of_id(id)`: only the digest is stored, the flow's id is the cookie
/// value it was found by.
pub(super) fn flow_found(rows: &[Row], id: &str) -> R<Option<SignInFlow>> {
    Ok(first(rows, rows::flow)?.map(|f| SignInFlow {
        id: id.to_string(),
        ..f
    }))
}

pub(super) fn passkey_of_id(credential_id: &str) -> Query {
    let sql = once!(
        "SELECT {} FROM passkeys WHERE credential_id = $1",
        rows::PASSKEY_COLS
    );
    query(sql).bind(credential_id)
}

pub(super) fn owner_of_handle(handle: &str) -> Query {
    query("SELECT user_id FROM webauthn_handles WHERE handle = $1").bind(handle)
}

/// The write that saves a flow's changes (`FlowStore::update_flow`, or inside another write).
pub(super) fn flow_update(f: &SignInFlow) -> Query {
    let request = f
        .request
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    query(
        "UPDATE signin_flows SET csrf = $2, request = $3, state = $4, expires_at = $5, \
         return_to = $6 WHERE id = $1",
    )
    .bind(token_digest(&f.id))
    .bind(&f.csrf)
    .bind(request)
    .bind(to_json(&f.state))
    .bind(f.expires_at)
    .bind(&f.return_to)
}

/// Uses the pass `$2` of user `$1` at `$3` if it is live then: the single use of a one-time pass
/// (`TemporaryAccessPass::is_current`, restated).
pub(super) const USE_TAP: &str = "UPDATE temporary_access_passes SET used_at = $3 \
     WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL \
     AND starts_at <= $3 AND expires_at > $3 \
     AND (one_time = 0 OR used_at IS NULL)";
