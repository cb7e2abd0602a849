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
use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult};
use crate::methods::{self, Change};
use crate::model::{Session, SignInFlow, SignInResult, Tenant, User};
use crate::policy::{Eligibility, MethodId};
use crate::secret::token_digest;
use crate::signin::flow::{FlowState, Step};
use crate::signin::{log_attempt, Origin};
use crate::store::PasskeyAnswerRecords;
use crate::Deps;
use serde::{Deserialize, Serialize};

/// How long a browser has to answer a ceremony: the timeout the browser is given too.
pub const CEREMONY_TTL: i64 = 300;

/// How long a cross-device link works (and, once answered, how long the computer has to finish).
pub const LINK_TTL: i64 = 120;

/// Why a passkey cannot be added where the policy enforces attestation and the server trusts no
/// maker's root (`passkey_attestation` in its configuration).
pub const ATTESTATION_UNAVAILABLE: &str =
    "Your organization only allows passkeys whose maker can be verified, and this server has no \
     list of trusted makers yet. Ask your administrator.";

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

/// A ceremony waiting for its answer, stored as its own one-time flow row.
fn ceremony_row(
    deps: &Deps,
    tenant: &Tenant,
    purpose: Purpose,
    begun: &Begun,
    user_id: Option<&str>,
    bound_to: &str,
) -> SignInFlow {
    let mut row = bound_row(
        deps,
        tenant,
        purpose,
        &begun.state,
        user_id,
        token_digest(bound_to),
    );
    if purpose == Purpose::CrossDevice {
        row.state.step = match row.state.step {
            Step::Ceremony {
                purpose,
                state,
                bound_to,
                ..
            } => Step::Ceremony {
                purpose,
                state,
                bound_to,
                options: Some(begun.options.to_string()),
            },
            other => other,
        };
    }
    row
}

/// A ceremony's row: `state` for `purpose`, bound to `bound` (a digest), expiring after the
/// purpose's time (a cross-device link's two minutes, or the browser's timeout).
fn bound_row(
    deps: &Deps,
    tenant: &Tenant,
    purpose: Purpose,
    state: &str,
    user_id: Option<&str>,
    bound: String,
) -> SignInFlow {
    let now = deps.now();
    let ttl = match purpose {
        Purpose::CrossDevice | Purpose::Answered => LINK_TTL,
        _ => CEREMONY_TTL,
    };
    SignInFlow {
        id: deps.secret_token(),
        tenant_id: tenant.id.clone(),
        // Never posted to (it is no browser's flow): a token nobody knows.
        csrf: deps.secret_token(),
        request: None,
        state: FlowState {
            step: Step::Ceremony {
                purpose,
                state: state.to_string(),
                bound_to: bound,
                options: None,
            },
            user_id: user_id.map(str::to_string),
            ..FlowState::default()
        },
        return_to: None,
        created_at: now,
        expires_at: now + ttl,
    }
}

/// A ceremony taken for its answer: the verifier's state and the user it was begun for.
struct Taken {
    state: String,
    user_id: Option<String>,
    /// The digest it was bound to.
    bound: String,
}

/// Takes the ceremony `id` of this tenant, begun for `purpose` and bound to `bound_to` (the
/// browser's flow id, or the user; `None`: a cross-device link, which its holder answers):
/// deleted before its answer is verified, so that of two answers to one challenge at most one is
/// verified; an unknown, foreign, expired or already answered one is `FlowExpired`.
async fn take(
    deps: &Deps,
    tenant: &Tenant,
    id: &str,
    purposes: &[Purpose],
    bound_to: Option<&str>,
) -> CoreResult<Taken> {
    let row = deps.store.flow_by_id(id).await?;
    take_row(deps, tenant, id, row, purposes, bound_to).await
}

/// [`take`] with the ceremony's row read already (`row`: what `flow_by_id(id)` found).
async fn take_row(
    deps: &Deps,
    tenant: &Tenant,
    id: &str,
    row: Option<SignInFlow>,
    purposes: &[Purpose],
    bound_to: Option<&str>,
) -> CoreResult<Taken> {
    let Some(row) = row else {
        return Err(CoreError::FlowExpired);
    };
    // Everything is checked before the row is taken, so that a wrong taker (another browser, a
    // sign-in flow's id posted here) uses nothing up; the delete then decides who takes it.
    let Step::Ceremony {
        purpose,
        state,
        bound_to: bound,
        ..
    } = row.state.step
    else {
        return Err(CoreError::FlowExpired);
    };
    let ok = row.tenant_id == tenant.id
        && deps.now() < row.expires_at
        && purposes.contains(&purpose)
        && bound_to
            .is_none_or(|b| crate::secret::ct_eq(bound.as_bytes(), token_digest(b).as_bytes()));
    if !ok || !deps.store.delete_flow(id, &row.csrf).await? {
        return Err(CoreError::FlowExpired);
    }
    Ok(Taken {
        state,
        user_id: row.state.user_id,
        bound,
    })
}

/// Who adds a passkey for a user.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The user's browser session in security info: it must be recent, with the second factor
    /// when the user has one (`session::may_change_methods`).
    Session(&'a Session),
    /// A device registered to the user for push approvals, proved by its key just now, whose app
    /// opened its vault with the App Lock PIN: possession and knowledge (the Countersign
    /// Authenticator's `passkey register`).
    Device,
}

impl By<'_> {
    fn may_add(&self, deps: &Deps, m: &methods::UserMethods) -> bool {
        match self {
            By::Session(s) => {
                crate::signin::session::may_change_methods(deps, s, m.has_second_factor())
            }
            By::Device => true,
        }
    }
}

/// "Add sign-in method" → "Passkey": refused when the policy does not let the user register a
/// passkey themselves, postponed when the session must sign in again. Returns the ceremony's id
/// and the browser's options.
pub async fn begin_registration(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    by: By<'_>,
    user: &User,
) -> CoreResult<Change<(String, serde_json::Value)>> {
    let m = methods::of_user(deps, tenant, user).await?;
    if !m.can_add_passkey {
        return Err(CoreError::MethodNotSupported);
    }
    if !by.may_add(deps, &m) {
        return Ok(Change::SignInAgain);
    }
    let attested = crate::policy::load(deps, tenant)
        .await?
        .policy
        .passkey
        .is_attestation_enforced;
    if attested && !verifier.can_attest() {
        return Err(CoreError::Forbidden(ATTESTATION_UNAVAILABLE.into()));
    }
    let handle = deps
        .store
        .webauthn_handle(&user.id, &verifier.new_user_handle())
        .await?;
    // Every passkey of the user is excluded, those the policy hides too: one authenticator holds
    // one passkey of an account.
    let exclude: Vec<String> = deps
        .store
        .passkeys_of_user(&user.id)
        .await?
        .into_iter()
        .map(|p| p.credential_id)
        .collect();
    let begun =
        verifier.start_registration(&handle, &user.upn, &user.display_name, &exclude, attested)?;
    let row = ceremony_row(
        deps,
        tenant,
        Purpose::Register,
        &begun,
        Some(&user.id),
        &user.id,
    );
    deps.store.insert_flow(&row).await?;
    Ok(Change::Done((row.id, begun.options)))
}

/// Why a new passkey was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAdded {
    /// The browser's answer did not verify (the reason is for the log).
    Refused(Refusal),
    /// The policy's key restrictions do not allow this type of passkey.
    TypeNotAllowed,
    /// The policy enforces attestation and this passkey's did not chain to a trusted maker (with
    /// the verifier's reason, when it refused).
    NotAttested(Option<Refusal>),
    /// This credential is registered already (to this user or, impossibly, another).
    Duplicate,
    /// The browser says the authenticator did not keep it as a discoverable credential, though
    /// the options required one: it could not sign in without the name typed first.
    NotDiscoverable,
}

/// The browser's answer to a registration: verified, checked against the policy (read again: a
/// change applies at once), and stored under `name` (or the authenticator model's name).
pub async fn finish_registration(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    by: By<'_>,
    user: &User,
    ceremony: &str,
    response: &str,
) -> CoreResult<Change<Result<PasskeyCredential, NotAdded>>> {
    let taken = take(deps, tenant, ceremony, &[Purpose::Register], Some(&user.id)).await?;
    if taken.user_id.as_deref() != Some(user.id.as_str()) {
        return Err(CoreError::FlowExpired);
    }
    let m = methods::of_user(deps, tenant, user).await?;
    if !m.can_add_passkey {
        return Err(CoreError::MethodNotSupported);
    }
    if !by.may_add(deps, &m) {
        return Ok(Change::SignInAgain);
    }
    let policy = crate::policy::load(deps, tenant).await?.policy;
    let enforced = policy.passkey.is_attestation_enforced;
    let new = match verifier.finish_registration(&taken.state, response) {
        Ok(n) if enforced && !n.attested => {
            return Ok(Change::Done(Err(NotAdded::NotAttested(None))))
        }
        Ok(n) => n,
        // Where attestation is enforced, a refusal is (most likely) of the attestation.
        Err(r) if enforced => return Ok(Change::Done(Err(NotAdded::NotAttested(Some(r))))),
        Err(r) => return Ok(Change::Done(Err(NotAdded::Refused(r)))),
    };
    // An unsigned hint from the browser, but the only one there is: a browser that says the
    // key is not discoverable is believed (one that says nothing, or yes, cannot be checked).
    if new.discoverable == Some(false) {
        return Ok(Change::Done(Err(NotAdded::NotDiscoverable)));
    }
    if !policy.allows_passkey_model(new.aaguid.as_deref()) {
        return Ok(Change::Done(Err(NotAdded::TypeNotAllowed)));
    }
    let p = PasskeyCredential {
        credential_id: new.credential_id,
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        name: new
            .model
            .clone()
            .or_else(|| model(new.aaguid.as_deref()).map(str::to_string))
            .unwrap_or_else(|| "Passkey".into()),
        aaguid: new.aaguid,
        credential: new.credential,
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
        backup_state: new.backup_state,
        created_at: deps.now(),
        last_used_at: None,
    };
    match deps.store.insert_passkey(&p).await {
        Ok(()) => Ok(Change::Done(Ok(p))),
        Err(crate::error::StoreError::Conflict(_)) => Ok(Change::Done(Err(NotAdded::Duplicate))),
        Err(e) => Err(e.into()),
    }
}

/// Whether passkeys are on in the tenant's policy at all. Only then does the name page offer them
/// (the name field's autofill, "Sign-in options") and a sign-in with no name begin: who may use
/// them is known once an answer names its user, and is checked then.
pub async fn on_in_tenant(deps: &Deps, tenant: &Tenant) -> CoreResult<bool> {
    let policy = crate::policy::load(deps, tenant).await?.policy;
    Ok(policy.method(MethodId::Passkey).state == crate::policy::State::Enabled)
}

/// Begins a passkey sign-in for the browser whose flow is `flow`: at the first step with no
/// name (discoverable), or at the passkey step with the passkeys of the flow's user. Returns the
/// ceremony's id and the browser's options.
pub async fn begin_sign_in(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    flow: &SignInFlow,
) -> CoreResult<(String, serde_json::Value)> {
    let (purpose, begun) = match &flow.state.step {
        Step::Identify if !on_in_tenant(deps, tenant).await? => {
            return Err(CoreError::MethodNotSupported)
        }
        Step::Identify => (Purpose::Discoverable, verifier.start_authentication(&[])?),
        Step::Method {
            method: crate::signin::flow::Method::Passkey,
        } => {
            let id = flow
                .state
                .user_id
                .as_deref()
                .ok_or(CoreError::FlowExpired)?;
            let user = deps
                .store
                .user_by_id(id)
                .await?
                .filter(|u| u.enabled)
                .ok_or(CoreError::FlowExpired)?;
            let may = Eligibility::load(deps, tenant, &user).await?;
            let passkeys = usable(deps, &may, &user.id).await?;
            if passkeys.is_empty() {
                return Err(CoreError::MethodNotSupported);
            }
            (Purpose::SignIn, verifier.start_authentication(&passkeys)?)
        }
        _ => return Err(CoreError::FlowExpired),
    };
    let row = ceremony_row(
        deps,
        tenant,
        purpose,
        &begun,
        flow.state.user_id.as_deref(),
        &flow.id,
    );
    deps.store.insert_flow(&row).await?;
    Ok((row.id, begun.options))
}

/// A passkey sign-in that succeeded: the user, and what the `amr` says of it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// A hardware-secured key (`hwk`): device-bound and not a software authenticator's.
    pub hardware: bool,
    /// User verification by PIN (`pin`), known for the Countersign Authenticator (its App Lock);
    /// otherwise the authenticator's own verification (`user`).
    pub pin: bool,
}

/// The answer to a sign-in ceremony of the browser whose flow is `flow`. Every refusal is logged
/// with its reason (method `passkey`) and is `SignInFailed` to the caller — but a policy that no
/// longer allows passkeys or this type of passkey, which is `MethodNotSupported`.
pub async fn finish_sign_in(
    deps: &Deps,
    verifier: &dyn Verifier,
    o: Origin<'_>,
    flow: &SignInFlow,
    ceremony: &str,
    response: &str,
) -> CoreResult<SignedIn> {
    let purposes = match flow.state.step {
        Step::Identify => [Purpose::Discoverable],
        Step::Method {
            method: crate::signin::flow::Method::Passkey,
        } => [Purpose::SignIn],
        _ => return Err(CoreError::FlowExpired),
    };
    let (answer, taken) = take_answered(
        deps,
        verifier,
        o.tenant,
        ceremony,
        &purposes,
        Some(&flow.id),
        response,
    )
    .await?;
    // Begun for the user the flow is about now (not one it was about before "Back").
    if taken.user_id != flow.state.user_id {
        return Err(CoreError::FlowExpired);
    }
    verify(
        deps,
        verifier,
        o,
        &taken,
        flow.state.username.as_deref(),
        response,
        answer,
    )
    .await
}

/// An answer to a ceremony, and the records it is checked against, read before the ceremony is
/// taken (together: see `Store::passkey_answer_records`).
struct Answer {
    /// Who it claims to be, or why that could not be read.
    claimed: Result<Claimed, Refusal>,
    records: PasskeyAnswerRecords,
}

/// Reads what `response` is checked against, then takes the ceremony it answers (as [`take`]).
async fn take_answered(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    ceremony: &str,
    purposes: &[Purpose],
    bound_to: Option<&str>,
    response: &str,
) -> CoreResult<(Answer, Taken)> {
    let claimed = verifier.claimed(response);
    // An unreadable answer names no credential: an empty id matches none.
    let (credential_id, handle) = match &claimed {
        Ok(c) => (c.credential_id.as_str(), c.user_handle.as_deref()),
        Err(_) => ("", None),
    };
    let records = deps
        .store
        .passkey_answer_records(&tenant.id, ceremony, credential_id, handle)
        .await?;
    let row = records.ceremony.clone();
    let taken = take_row(deps, tenant, ceremony, row, purposes, bound_to).await?;
    Ok((Answer { claimed, records }, taken))
}

/// Verifies the answer to a taken ceremony: the credential, its owner (the ceremony's user, or
/// with none the user handle's), their tenant and the policy, then the verifier's checks and the
/// counter. Every outcome is logged.
async fn verify(
    deps: &Deps,
    verifier: &dyn Verifier,
    o: Origin<'_>,
    taken: &Taken,
    typed_name: Option<&str>,
    response: &str,
    answer: Answer,
) -> CoreResult<SignedIn> {
    let fail = |user: Option<&User>, reason: String| {
        let name = user.map_or_else(
            || typed_name.unwrap_or_default().to_string(),
            |u| u.upn.clone(),
        );
        let user = user.cloned();
        async move {
            log_attempt(
                deps,
                o,
                "passkey",
                &name,
                user.as_ref(),
                SignInResult::Failure,
                Some(reason),
            )
            .await?;
            Err::<SignedIn, _>(CoreError::SignInFailed)
        }
    };
    let Answer { claimed, records } = answer;
    let claimed = match claimed {
        Ok(c) => c,
        Err(Refusal(r)) => return fail(None, r).await,
    };
    let Some(stored) = records.passkey else {
        return fail(None, "unknown credential".into()).await;
    };
    // The user the ceremony was for: the flow's, or — with no name — the handle's owner; a
    // handle sent with a name must be that user's too (§7.2 step 6).
    let owner = claimed.user_handle.as_ref().map(|_| records.handle_owner);
    let expected = match (&taken.user_id, owner) {
        (None, owner) => owner.flatten(),
        (Some(_), Some(owner)) if owner != taken.user_id => None,
        (Some(user), _) => Some(user.clone()),
    };
    let user = records
        .user
        .filter(|u| u.id == stored.user_id && u.enabled && u.tenant_id == o.tenant.id);
    let Some(user) = user else {
        return fail(
            None,
            "credential of a disabled user or another tenant".into(),
        )
        .await;
    };
    if expected.as_deref() != Some(user.id.as_str()) {
        return fail(Some(&user), "credential of another user".into()).await;
    }
    let asserted = match verifier.finish_authentication(&taken.state, response, &stored) {
        Ok(a) => a,
        Err(Refusal(r)) => return fail(Some(&user), r).await,
    };
    // The policy is applied to answers that verified: a refusal says nothing to a forger.
    let policy = records.policy.map(|p| p.policy).unwrap_or_default();
    if !Eligibility::of(deps, policy, &user)
        .await?
        .passkey(stored.aaguid.as_deref())
    {
        log_attempt(
            deps,
            o,
            "passkey",
            &user.upn,
            Some(&user),
            SignInResult::Failure,
            Some("passkey not allowed by the authentication methods policy".into()),
        )
        .await?;
        return Err(CoreError::MethodNotSupported);
    }
    let used = PasskeyUse {
        sign_count: asserted.sign_count,
        backup_eligible: asserted.backup_eligible,
        backup_state: asserted.backup_state,
        at: deps.now(),
    };
    match deps
        .store
        .record_passkey_use(&stored.credential_id, &used)
        .await?
    {
        Recorded::Recorded => {}
        Recorded::CounterRegressed => {
            return fail(Some(&user), COUNTER_REGRESSED.into()).await;
        }
        Recorded::Unknown => return fail(Some(&user), "credential deleted meanwhile".into()).await,
    }
    log_attempt(
        deps,
        o,
        "passkey",
        &user.upn,
        Some(&user),
        SignInResult::Success,
        None,
    )
    .await?;
    let ours = stored
        .aaguid
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(COUNTERSIGN_AAGUID));
    Ok(SignedIn {
        // As of this use: a passkey that has just become able to sync is no longer device-bound.
        hardware: !used.backup_eligible && !ours,
        pin: ours,
        user,
    })
}

/// "Sign in with a passkey on another device": a ceremony for this browser's flow — with no name
/// (any of the person's passkeys), or the flow's user's — whose id is the code of the one-time
/// link the page shows (`countersign://passkey?server=…&code=…`).
pub async fn begin_cross_device(
    deps: &Deps,
    verifier: &dyn Verifier,
    tenant: &Tenant,
    flow: &SignInFlow,
) -> CoreResult<String> {
    let at_passkey = matches!(
        flow.state.step,
        Step::Identify
            | Step::Method {
                method: crate::signin::flow::Method::Passkey
            }
    );
    if !at_passkey {
        return Err(CoreError::FlowExpired);
    }
    if flow.state.step == Step::Identify && !on_in_tenant(deps, tenant).await? {
        return Err(CoreError::MethodNotSupported);
    }
    let begun = verifier.start_authentication(&[])?;
    let row = ceremony_row(
        deps,
        tenant,
        Purpose::CrossDevice,
        &begun,
        flow.state.user_id.as_deref(),
        &flow.id,
    );
    deps.store.insert_flow(&row).await?;
    Ok(row.id)
}

/// The short code a link's page and the device both show, so the person can tell that the
/// device signs in the computer in front of them: six digits of the link's digest.
pub fn short_code(code: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("countersign-passkey-link:{code}").as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// What a device gets for a live link: the browser's options and the short code.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub options: serde_json::Value,
    pub short_code: String,
}

/// The request behind a cross-device link, for the device holding it; an unknown, used or
/// expired link is `FlowExpired`. Reading it changes nothing.
pub async fn link_request(deps: &Deps, tenant: &Tenant, code: &str) -> CoreResult<LinkRequest> {
    let row = deps.store.flow_by_id(code).await?;
    let Some(row) = row.filter(|r| r.tenant_id == tenant.id && deps.now() < r.expires_at) else {
        return Err(CoreError::FlowExpired);
    };
    match row.state.step {
        Step::Ceremony {
            purpose: Purpose::CrossDevice,
            options: Some(options),
            ..
        } => Ok(LinkRequest {
            options: serde_json::from_str(&options)
                .map_err(|e| CoreError::Internal(format!("stored options: {e}")))?,
            short_code: short_code(code),
        }),
        _ => Err(CoreError::FlowExpired),
    }
}

/// The device's answer to a cross-device link, verified exactly as a browser's (and logged).
/// Accepted, it leaves the link answered for the computer's page to finish with.
pub async fn answer_link(
    deps: &Deps,
    verifier: &dyn Verifier,
    o: Origin<'_>,
    code: &str,
    response: &str,
) -> CoreResult<()> {
    let purposes = [Purpose::CrossDevice];
    let (answer, taken) =
        take_answered(deps, verifier, o.tenant, code, &purposes, None, response).await?;
    let signed = verify(deps, verifier, o, &taken, None, response, answer).await?;
    let proof = serde_json::json!({"hardware": signed.hardware, "pin": signed.pin}).to_string();
    let purpose = Purpose::Answered;
    let row = bound_row(
        deps,
        o.tenant,
        purpose,
        &proof,
        Some(&signed.user.id),
        taken.bound,
    );
    deps.store
        .insert_flow(&SignInFlow {
            id: code.to_string(),
            ..row
        })
        .await?;
    Ok(())
}

/// Where a cross-device link of this browser's flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not answered yet.
    Waiting,
    /// Answered and verified: the page may finish.
    Answered,
    /// Used, refused or expired: the page starts over.
    Gone,
}

pub async fn link_state(
    deps: &Deps,
    tenant: &Tenant,
    flow: &SignInFlow,
    code: &str,
) -> CoreResult<LinkState> {
    let row = deps.store.flow_by_id(code).await?;
    let live = row.filter(|r| r.tenant_id == tenant.id && deps.now() < r.expires_at);
    Ok(match live.map(|r| r.state.step) {
        Some(Step::Ceremony {
            purpose, bound_to, ..
        }) if crate::secret::ct_eq(bound_to.as_bytes(), token_digest(&flow.id).as_bytes()) => {
            match purpose {
                Purpose::CrossDevice => LinkState::Waiting,
                Purpose::Answered => LinkState::Answered,
                _ => LinkState::Gone,
            }
        }
        _ => LinkState::Gone,
    })
}

/// The computer's page finishes a sign-in its link's device answered: the proof, for this
/// browser's flow only, once; the user read again (still enabled, in this tenant).
pub async fn finish_link(
    deps: &Deps,
    tenant: &Tenant,
    flow: &SignInFlow,
    code: &str,
) -> CoreResult<SignedIn> {
    let taken = take(deps, tenant, code, &[Purpose::Answered], Some(&flow.id)).await?;
    // With a name typed, the passkey must be that user's.
    if flow.state.user_id.is_some() && taken.user_id != flow.state.user_id {
        return Err(CoreError::FlowExpired);
    }
    #[derive(Deserialize)]
    struct Proved {
        hardware: bool,
        pin: bool,
    }
    let proved: Proved = serde_json::from_str(&taken.state)
        .map_err(|e| CoreError::Internal(format!("answered link: {e}")))?;
    let id = taken.user_id.as_deref().unwrap_or_default();
    let user = deps
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.enabled && u.tenant_id == tenant.id)
        .ok_or(CoreError::FlowExpired)?;
    Ok(SignedIn {
        user,
        hardware: proved.hardware,
        pin: proved.pin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{contoso_alice, fixture};

    /// The ceremony's part of a verifier: options and a state; no answer is ever accepted.
    struct Challenges;

    impl Verifier for Challenges {
        fn new_user_handle(&self) -> String {
            "handle".into()
        }
        fn start_registration(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &[String],
            _: bool,
        ) -> CoreResult<Begun> {
            self.start_authentication(&[])
        }
        fn can_attest(&self) -> bool {
            false
        }
        fn finish_registration(&self, _: &str, _: &str) -> Result<NewPasskey, Refusal> {
            Err(Refusal("fake".into()))
        }
        fn start_authentication(&self, _: &[PasskeyCredential]) -> CoreResult<Begun> {
            Ok(Begun {
                options: serde_json::json!({"publicKey": {}}),
                state: "verifier state".into(),
            })
        }
        fn claimed(&self, _: &str) -> Result<Claimed, Refusal> {
            Err(Refusal("fake".into()))
        }
        fn finish_authentication(
            &self,
            _: &str,
            _: &str,
            _: &PasskeyCredential,
        ) -> Result<Asserted, Refusal> {
            Err(Refusal("fake".into()))
        }
    }

    /// A ceremony is taken once, only by the flow it is bound to, only for its purpose, only in
    /// time — and its row is never a browser's flow (its id is the browser's to post back).
    #[tokio::test]
    async fn a_ceremony_is_taken_once_by_its_own_flow_in_time_and_is_no_flow() {
        let f = fixture();
        let (t, _) = contoso_alice(&f.deps, None).await;
        let flow = crate::signin::session::visit(&f.deps, &t);
        let begin = || begin_sign_in(&f.deps, &Challenges, &t, &flow);
        // Off in the tenant (the default): no ceremony with no name at all.
        assert!(matches!(begin().await, Err(CoreError::MethodNotSupported)));
        let on = |mut p: crate::policy::MethodsPolicy| {
            p.method_mut(MethodId::Passkey).state = crate::policy::State::Enabled;
            Ok(p)
        };
        let operator = crate::policy::Actor::Operator("test".into());
        crate::policy::change(&f.deps, &t, &operator, "test", on)
            .await
            .unwrap();

        let (id, _) = begin().await.unwrap();
        assert!(matches!(
            crate::signin::session::load_flow(&f.deps, &t, &id).await,
            Err(CoreError::FlowExpired)
        ));
        let other = crate::signin::session::visit(&f.deps, &t);
        let taken = |id: String, by: String, p: Purpose| {
            let (deps, t) = (f.deps.clone(), t.clone());
            async move { take(&deps, &t, &id, &[p], Some(&by)).await.map(|k| k.state) }
        };
        let (d, fid) = (Purpose::Discoverable, flow.id.clone());
        assert!(
            taken(id.clone(), other.id.clone(), d).await.is_err(),
            "another flow"
        );
        // (the wrong taker used it up: a new one for the rest)
        let (id, _) = begin().await.unwrap();
        assert!(
            taken(id.clone(), fid.clone(), Purpose::SignIn)
                .await
                .is_err(),
            "purpose"
        );
        let (id, _) = begin().await.unwrap();
        assert_eq!(
            taken(id.clone(), fid.clone(), d).await.unwrap(),
            "verifier state"
        );
        assert!(taken(id, fid.clone(), d).await.is_err(), "once");
        let (id, _) = begin().await.unwrap();
        f.clock.advance(CEREMONY_TTL);
        assert!(taken(id, fid, d).await.is_err(), "expired");
    }

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
