//! The `Store` traits: everything the core persists, asked for by meaning, one trait per concern
//! (directory, methods, throttle, flows and sessions, grants, keys, policy, push, passes, logs) and `Store`
//! for all of them. Implementations (SQLite, PostgreSQL) live in countersign-store and pass one
//! conformance suite; single-use credentials are consumed atomically there, so the core's replay
//! rules hold under parallel requests.

use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::methods::passkey::{PasskeyCredential, PasskeyUse};
use crate::methods::tap::TemporaryAccessPass;
use crate::model::*;
use crate::signin::throttle::{LockoutPolicy, Release};
use async_trait::async_trait;

pub type StoreResult<T> = Result<T, StoreError>;

/// See [`Store::first_factor_records`].
#[derive(Debug, Clone, PartialEq)]
pub struct FirstFactorRecords {
    pub tap: Option<TemporaryAccessPass>,
    pub devices: Vec<crate::methods::push::Device>,
    pub passkeys: Vec<PasskeyCredential>,
    pub policy: Option<crate::policy::StoredPolicy>,
}

/// See [`Store::passkey_answer_records`].
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyAnswerRecords {
    /// The ceremony's row.
    pub ceremony: Option<SignInFlow>,
    /// The credential the answer names.
    pub passkey: Option<PasskeyCredential>,
    /// The credential's user.
    pub user: Option<User>,
    /// Whose the user handle the answer sent is (none sent, or nobody's: `None`).
    pub handle_owner: Option<String>,
    pub policy: Option<crate::policy::StoredPolicy>,
}

/// Tenants, users, groups and their members, admin roles, OIDC clients.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn insert_tenant(&self, t: &Tenant) -> StoreResult<()>;
    async fn update_tenant(&self, t: &Tenant) -> StoreResult<()>;
    async fn delete_tenant(&self, id: &str) -> StoreResult<bool>;
    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>>;
    async fn tenant_by_id(&self, id: &str) -> StoreResult<Option<Tenant>>;
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn insert_user(&self, u: &User) -> StoreResult<()>;
    async fn update_user(&self, u: &User) -> StoreResult<()>;
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_upn(&self, tenant_id: &str, upn: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>>;
    async fn insert_group(&self, g: &Group) -> StoreResult<()>;
    async fn update_group(&self, g: &Group) -> StoreResult<()>;
    async fn delete_group(&self, id: &str) -> StoreResult<bool>;
    async fn group_by_name(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Group>>;
    async fn list_groups(&self, tenant_id: &str) -> StoreResult<Vec<Group>>;

    /// Returns false when the user already was a member.
    async fn add_member(&self, group_id: &str, user_id: &str) -> StoreResult<bool>;
    async fn remove_member(&self, group_id: &str, user_id: &str) -> StoreResult<bool>;
    async fn group_members(&self, group_id: &str) -> StoreResult<Vec<User>>;
    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<Group>>;
    async fn assign_role(&self, user_id: &str, role: AdminRole) -> StoreResult<bool>;
    async fn unassign_role(&self, user_id: &str, role: AdminRole) -> StoreResult<bool>;
    async fn roles_of_user(&self, user_id: &str) -> StoreResult<Vec<AdminRole>>;
    async fn insert_client(&self, c: &OidcClient) -> StoreResult<()>;
    async fn update_client(&self, c: &OidcClient) -> StoreResult<()>;
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;
    async fn client_by_id(&self, id: &str) -> StoreResult<Option<OidcClient>>;
    async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<OidcClient>>;
}

/// Users' registered sign-in methods (OATH tokens) and the single-use decision on a code.
#[async_trait]
pub trait MethodStore: Send + Sync {
    /// Inserts tokens in one transaction: all or none. A serial the tenant has already is a
    /// `Conflict("hardware token {serial}")`.
    async fn insert_oath_tokens(
        &self,
        tokens: &[crate::methods::oath::OathToken],
    ) -> StoreResult<()>;
    /// A user's tokens with their secrets opened: for checking a code or showing an enrolment.
    async fn oath_tokens_of_user(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<crate::methods::oath::OathToken>>;
    /// A user's tokens as listed, oldest first; their secrets stay sealed.
    async fn oath_token_list(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<crate::methods::oath::OathTokenInfo>>;
    /// A tenant's tokens as listed, oldest first; their secrets stay sealed.
    async fn list_oath_tokens(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Vec<crate::methods::oath::OathTokenInfo>>;
    async fn delete_oath_token(&self, id: &str) -> StoreResult<bool>;
    async fn set_oath_active(&self, id: &str, active: bool) -> StoreResult<()>;

    /// Decides a verification-code attempt in one write. First the attempt is reserved under the
    /// user's code `key` as `reserve_attempt` does (`Locked`, changing nothing, when `policy`
    /// locks it). Then `matched` (a token and the time step the code matched) is accepted if no
    /// step at or after it was accepted before — the key is cleared, `Accepted` — for exactly one
    /// of any number of parallel callers. Otherwise the attempt stays counted and every token of
    /// `failed` counts a wrong code in its step: `Rejected`.
    async fn decide_code(
        &self,
        key: &str,
        policy: LockoutPolicy,
        now: Timestamp,
        matched: Option<(&str, i64)>,
        failed: &[(&str, i64)],
    ) -> StoreResult<crate::methods::oath::CodeDecision>;
}

/// Failure counters of throttling keys, reserved before an attempt is checked.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The states of several keys in one round trip, in the order asked (zero for unknown keys).
    async fn throttle_states(&self, keys: &[&str]) -> StoreResult<Vec<ThrottleState>>;

    /// Reserves one attempt under every key at once: when each key is open under its policy at
    /// `now` (`LockoutPolicy::lock`), counts the attempt as a failure against all of them and
    /// returns true; when any is locked, changes nothing and returns false. Atomic, so of any
    /// number of parallel callers no more are granted than the policies allow. A key whose last
    /// failure is older than its policy's `decay_after` restarts counting at one.
    async fn reserve_attempt(
        &self,
        keys: &[(&str, LockoutPolicy)],
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Gives back, in one write, what a successful attempt reserved under each key.
    async fn release_attempt(&self, keys: &[(&str, Release)]) -> StoreResult<()>;
    async fn clear_throttle(&self, key: &str) -> StoreResult<()>;
}

/// Sign-in flows in progress and the browser sessions they end in.
#[async_trait]
pub trait FlowStore: Send + Sync {
    // A flow's id is its cookie value, a bearer secret: stores keep only its digest
    // (`secret::token_digest`) and are always asked with the id itself.
    async fn insert_flow(&self, f: &SignInFlow) -> StoreResult<()>;
    async fn update_flow(&self, f: &SignInFlow) -> StoreResult<()>;
    async fn flow_by_id(&self, id: &str) -> StoreResult<Option<SignInFlow>>;
    /// Deletes flow `id` if it is still the row that was read (`csrf`: its anti-CSRF token, a
    /// fresh secret per row), and says whether it did: of parallel deletions exactly one gets
    /// `true`, and a row stored again under the same id (a cross-device link's answer) is not
    /// taken by a deletion meant for the one before (a one-time WebAuthn ceremony is taken this
    /// way).
    async fn delete_flow(&self, id: &str, csrf: &str) -> StoreResult<bool>;

    /// Stores a session; with `ending_flow`, deletes that sign-in flow in the same transaction
    /// (a finished sign-in starts its session and ends its flow at once).
    async fn insert_session(&self, s: &Session, ending_flow: Option<&str>) -> StoreResult<()>;
    async fn session_by_digest(&self, digest: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, digest: &str, at: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, digest: &str) -> StoreResult<()>;

    /// Ends a user's access after an account event, in one transaction: deletes their sessions
    /// except `keep_session` (a digest: the caller's own), revokes their grants (and with them
    /// every refresh token), deletes their unredeemed authorization codes, and sets their
    /// `tokens_valid_after` to `at` so that access tokens issued before are refused. Returns the
    /// sessions ended.
    async fn revoke_user_access(
        &self,
        user_id: &str,
        at: Timestamp,
        keep_session: Option<&str>,
    ) -> StoreResult<u64>;
}

/// Authorization codes, grants and refresh tokens, each consumed once.
#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_code(&self, c: &AuthCode) -> StoreResult<()>;
    async fn code_by_digest(&self, digest: &str) -> StoreResult<Option<AuthCode>>;

    /// Atomically mark the code used and bind it to `grant_id`; only the first caller gets `Fresh`.
    async fn consume_code(
        &self,
        digest: &str,
        now: Timestamp,
        grant_id: &str,
    ) -> StoreResult<Consumed<AuthCode>>;
    async fn insert_grant(&self, g: &Grant) -> StoreResult<()>;
    async fn delete_grant(&self, id: &str) -> StoreResult<()>;
    async fn grant_by_id(&self, id: &str) -> StoreResult<Option<Grant>>;
    async fn revoke_grant(&self, id: &str, at: Timestamp) -> StoreResult<()>;
    async fn insert_refresh(&self, r: &RefreshToken) -> StoreResult<()>;
    async fn refresh_by_digest(&self, digest: &str) -> StoreResult<Option<RefreshToken>>;

    /// A refresh token with its grant, in one round trip (the token endpoint's hot path).
    async fn refresh_with_grant(&self, digest: &str) -> StoreResult<Option<(RefreshToken, Grant)>>;

    /// Atomically mark the refresh token used; only the first caller gets `Fresh`.
    async fn consume_refresh(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> StoreResult<Consumed<RefreshToken>>;

    /// Rotation in one transaction: consume `old` and, only if that was its first use, store `new`.
    async fn rotate_refresh(
        &self,
        old_digest: &str,
        now: Timestamp,
        new: &RefreshToken,
    ) -> StoreResult<Consumed<RefreshToken>>;
}

/// Token signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_signing_key(&self, k: &SigningKey) -> StoreResult<()>;
    async fn retire_signing_key(&self, kid: &str, at: Timestamp) -> StoreResult<()>;
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()>;
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
}

/// Each tenant's authentication methods policy, changed with its audit entry.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// The tenant's policy and its version; `None` while it has never been changed.
    async fn methods_policy(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Option<crate::policy::StoredPolicy>>;

    /// A user with their tenant's policy (`None` while it has never been changed), in one read:
    /// every sign-in step after the first needs both.
    async fn user_with_policy(
        &self,
        user_id: &str,
    ) -> StoreResult<Option<(User, Option<crate::policy::StoredPolicy>)>>;

    /// Stores `policy` as version `expected_version + 1` and appends `audit`, in one transaction,
    /// only if the stored version is still `expected_version` (0: never changed). Returns false,
    /// writing nothing, when someone else changed it first.
    async fn save_methods_policy(
        &self,
        tenant_id: &str,
        policy: &crate::policy::MethodsPolicy,
        expected_version: i64,
        audit: &AuditEntry,
    ) -> StoreResult<bool>;
}

/// Push approvals: devices, their one-time activation codes, and sign-in requests.
#[async_trait]
pub trait PushStore: Send + Sync {
    async fn insert_activation(&self, a: &crate::methods::push::Activation) -> StoreResult<()>;

    /// Consumes an unused, unexpired activation code of `device.tenant_id` and registers `device`
    /// to the code's user, in one transaction: a code of another tenant is refused like an
    /// unknown one, before anything is written. When the
    /// activation was made `with_codes`, `codes` (an active software token) is stored in the same
    /// transaction, for the same user, and the device names it (`oath_token_id`). `None`, writing
    /// nothing, for an unknown, used or expired code; of any number of parallel callers with one
    /// code, exactly one registers.
    async fn register_device(
        &self,
        code_digest: &str,
        now: Timestamp,
        device: &crate::methods::push::Device,
        codes: &crate::methods::oath::OathToken,
    ) -> StoreResult<Option<crate::methods::push::Device>>;

    async fn device_by_id(&self, id: &str) -> StoreResult<Option<crate::methods::push::Device>>;
    /// Oldest first.
    async fn devices_of_user(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<crate::methods::push::Device>>;
    /// Removes a device, and the verification codes it was given with it, in one transaction.
    async fn delete_device(&self, id: &str) -> StoreResult<bool>;

    /// Sends a request, in one transaction: reserves an attempt under each of `reserve` (as
    /// `reserve_attempt` does), inserts the pending request, withdraws the user's other pending
    /// ones (a newer sign-in supersedes an older one, so nobody is stuck behind a request they
    /// can no longer see) and saves `flow`, the sign-in now waiting on it. Returns the ids
    /// withdrawn (their devices are told). Writes nothing when a key is locked, or when the user
    /// was sent `fatigue.limit` requests since `fatigue.since` already: both decided inside the
    /// transaction, so of parallel sends no more pass either limit.
    async fn insert_push_request(
        &self,
        r: &crate::methods::push::PushRequest,
        fatigue: crate::methods::push::Fatigue,
        reserve: &[(&str, LockoutPolicy)],
        flow: Option<&SignInFlow>,
    ) -> StoreResult<crate::methods::push::Inserted>;

    async fn push_request(
        &self,
        id: &str,
    ) -> StoreResult<Option<crate::methods::push::PushRequest>>;

    /// The user's pending requests that have not expired at `now`, oldest first.
    async fn pending_push_requests(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<crate::methods::push::PushRequest>>;

    /// Moves a pending request to `state` — an answer, its expiry or its withdrawal — when
    /// `PushState::may_settle` allows it at `now`, for exactly one of any number of parallel
    /// callers; `device_id` is the device that answered. In the same transaction, and only when
    /// it settles the request: gives back the attempts `release` names (as `release_attempt`
    /// does), and settling as `NotMe` sets the user's `push_blocked_at` to `now`.
    async fn settle_push_request(
        &self,
        id: &str,
        state: crate::methods::push::PushState,
        device_id: Option<&str>,
        now: Timestamp,
        release: &[(&str, Release)],
    ) -> StoreResult<bool>;

    /// Sets or clears (`None`) the user's push block; false for an unknown user.
    async fn set_push_block(&self, user_id: &str, at: Option<Timestamp>) -> StoreResult<bool>;

    /// Stores a challenge (by digest) a device asked for.
    async fn insert_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()>;

    /// Uses a challenge: true, deleting it, when it was issued to `device_id` and has not expired
    /// at `now`; exactly one of any number of parallel callers gets true.
    async fn take_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Records that the device was seen (it proved its key) at `at`.
    async fn touch_device(&self, id: &str, at: Timestamp) -> StoreResult<()>;

    /// Turns phone sign-in on for a device with its phone sign-in key, unless `limit` of its
    /// user's other devices have it already — decided in the same transaction, so parallel
    /// enables never pass the limit. Enabling it again replaces the key.
    async fn enable_phone_sign_in(
        &self,
        device_id: &str,
        phone_key: &str,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<crate::methods::phone::Enabled>;

    /// Direct phone sign-in registration, in one transaction or not at all: uses the user's
    /// Temporary Access Pass `pass_id` as `use_tap` does, registers `device` (its phone key set)
    /// and `codes` when given (the device names them), within the phone sign-in `limit`.
    async fn register_with_pass(
        &self,
        pass_id: &str,
        now: Timestamp,
        device: &crate::methods::push::Device,
        codes: Option<&crate::methods::oath::OathToken>,
        limit: u32,
    ) -> StoreResult<crate::methods::phone::Registered>;
}

/// Temporary Access Passes: one row per user, their current pass or their last one.
#[async_trait]
pub trait TapStore: Send + Sync {
    /// Stores `pass` as its user's pass, with `audit`, in one transaction — unless the user's
    /// stored pass is still current at `now` (`TemporaryAccessPass::is_current`): then false,
    /// writing nothing. Of parallel callers for one user, at most one succeeds.
    async fn insert_tap(
        &self,
        pass: &TemporaryAccessPass,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<bool>;

    async fn tap_of_user(&self, user_id: &str) -> StoreResult<Option<TemporaryAccessPass>>;

    /// Every user's pass in the tenant, newest first.
    async fn list_taps(&self, tenant_id: &str) -> StoreResult<Vec<TemporaryAccessPass>>;

    /// Uses the user's pass `id` at `now`, recording the use: true when it is live then (started,
    /// not expired, not revoked, a one-time pass not used) — for a one-time pass, for exactly one
    /// of any number of parallel callers.
    async fn use_tap(&self, user_id: &str, id: &str, now: Timestamp) -> StoreResult<bool>;

    /// Revokes the user's current pass and appends `audit`, in one transaction; false, writing
    /// nothing, when none is current at `now`.
    async fn revoke_tap(
        &self,
        user_id: &str,
        now: Timestamp,
        audit: &AuditEntry,
    ) -> StoreResult<bool>;
}

/// Passkeys and the users' WebAuthn user handles.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// `Conflict` when the credential id is registered already — to anyone.
    async fn insert_passkey(&self, p: &PasskeyCredential) -> StoreResult<()>;
    async fn passkey(&self, credential_id: &str) -> StoreResult<Option<PasskeyCredential>>;
    /// Oldest first.
    async fn passkeys_of_user(&self, user_id: &str) -> StoreResult<Vec<PasskeyCredential>>;

    /// Records a verified use — the counter, the backup state, the verifier's record, the time —
    /// only if the counter moves on from the stored one (`passkey::counter_moves_on`), in one
    /// conditional write: of two uses with one counter value, one is recorded.
    async fn record_passkey_use(
        &self,
        credential_id: &str,
        u: &PasskeyUse,
    ) -> StoreResult<crate::methods::passkey::Recorded>;

    /// Renames one of the user's passkeys; false when the user has no such passkey.
    async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> StoreResult<bool>;
    /// Deletes one of the user's passkeys; false when the user has no such passkey.
    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> StoreResult<bool>;

    /// The user's WebAuthn user handle: the stored one, or `new` stored now (for exactly one of
    /// parallel callers; the others get the one stored).
    async fn webauthn_handle(&self, user_id: &str, new: &str) -> StoreResult<String>;
    /// The user a handle belongs to.
    async fn user_of_webauthn_handle(&self, handle: &str) -> StoreResult<Option<String>>;
}

/// The sign-in log and the audit log.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// May be written asynchronously (batched); `list_signins` sees every entry appended before it.
    async fn append_signin(&self, e: &SignInLogEntry) -> StoreResult<()>;

    /// Newest first.
    async fn list_signins(&self, tenant_id: &str, limit: u32) -> StoreResult<Vec<SignInLogEntry>>;

    /// Newest first.
    async fn list_audit(&self, tenant_id: &str, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Everything the core persists: one implementation per backend provides every concern.
#[async_trait]
pub trait Store:
    DirectoryStore
    + MethodStore
    + ThrottleStore
    + FlowStore
    + GrantStore
    + KeyStore
    + PolicyStore
    + PushStore
    + TapStore
    + PasskeyStore
    + LogStore
{
    /// Cheap round trip for health checks.
    async fn ping(&self) -> StoreResult<()>;

    /// What decides the first-factor methods behind a name, read together (the SQL stores: in
    /// one read transaction): the user's Temporary Access Pass, devices and passkeys, and the
    /// tenant's policy. A `user_id` of nobody finds none of the user's records.
    async fn first_factor_records(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> StoreResult<FirstFactorRecords> {
        Ok(FirstFactorRecords {
            tap: self.tap_of_user(user_id).await?,
            devices: self.devices_of_user(user_id).await?,
            passkeys: self.passkeys_of_user(user_id).await?,
            policy: self.methods_policy(tenant_id).await?,
        })
    }

    /// What an answer to a passkey ceremony is checked against, read together (the SQL stores:
    /// in one read transaction): the ceremony's row (by its id, as `flow_by_id`), the credential
    /// the answer names, that credential's user, the owner of the user handle it sent, and the
    /// tenant's policy.
    async fn passkey_answer_records(
        &self,
        tenant_id: &str,
        ceremony_id: &str,
        credential_id: &str,
        user_handle: Option<&str>,
    ) -> StoreResult<PasskeyAnswerRecords> {
        let passkey = self.passkey(credential_id).await?;
        let user = match &passkey {
            Some(p) => self.user_by_id(&p.user_id).await?,
            None => None,
        };
        let handle_owner = match user_handle {
            Some(h) => self.user_of_webauthn_handle(h).await?,
            None => None,
        };
        Ok(PasskeyAnswerRecords {
            ceremony: self.flow_by_id(ceremony_id).await?,
            passkey,
            user,
            handle_owner,
            policy: self.methods_policy(tenant_id).await?,
        })
    }

    /// Deletes expired flows, sessions, codes, refresh tokens, grants and activation codes,
    /// forgotten throttle counters, and push requests and Temporary Access Passes a day past their
    /// expiry (answered, used, revoked or not); returns rows removed.
    async fn purge_expired(&self, now: Timestamp, session_idle: i64) -> StoreResult<u64>;
}
