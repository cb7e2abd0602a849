//! The sign-in engine. A flow is a state machine: a [`Step`] (identify, a method's own step,
//! "Other ways to sign in", no way to sign in, more information required, registering a method),
//! the [`Proof`]s collected so far, and one function, [`decide`], that from the account, the
//! authentication methods policy and the proofs gives the next step and the methods on offer.
//! Pages render a step and post a method's answer; the transitions here decide everything else,
//! and `amr`/`acr` come from the proofs (RFC 8176).
//!
//! A method plugs in as a [`Method`] variant (its factor, whether it may come first or second,
//! its `amr`), its check, and its page. Its own state lives in its `Step` variant: the whole
//! [`FlowState`] is stored as one serialised value, so a new method needs no migration.

use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult};
use crate::methods::oath;
use crate::model::OathKind;
use crate::model::{Session, SignInFlow, Tenant, User};
use crate::policy::{self, Eligibility, MethodsPolicy};
use crate::Deps;
use serde::{Deserialize, Serialize};

/// A way to prove who one is, as the person chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Password,
    /// A sign-in request approved on the Authenticator app, with the number shown matched.
    Push,
    /// A verification code from an OATH token: an authenticator app or a hardware token.
    Code,
    /// A Temporary Access Pass an administrator issued.
    Tap,
    /// Phone sign-in: a request approved with the phone sign-in key of the Authenticator app,
    /// the number matched and the App Lock used — no password.
    Phone,
    /// A passkey (WebAuthn, user verification required): "Face, fingerprint, PIN, or security
    /// key".
    Passkey,
}

/// NIST SP 800-63B's authentication factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Knowledge,
    Possession,
}

impl Method {
    /// Every method, in the order a default is picked when the browser remembers none: a push
    /// approval before a code, as it is both easier and proves more (the number matched).
    /// (A live Temporary Access Pass goes first whatever the order: see [`decide`].) A passkey
    /// comes after the password as a first method — it may live on a security key not plugged
    /// in — and first as a second one.
    pub const ALL: [Method; 6] = [
        Method::Password,
        Method::Passkey,
        Method::Phone,
        Method::Push,
        Method::Code,
        Method::Tap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Push => "push",
            Self::Code => "code",
            Self::Tap => "tap",
            Self::Phone => "phone",
            Self::Passkey => "passkey",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// Whether it may start a sign-in. Codes never do (as in Entra): a code alone is a guessable
    /// six digits, and it would make a stolen phone an account.
    pub fn first_factor(self) -> bool {
        matches!(
            self,
            Self::Password | Self::Tap | Self::Phone | Self::Passkey
        )
    }
    /// Whether it may complete a sign-in started by another method.
    pub fn second_factor(self) -> bool {
        matches!(self, Self::Push | Self::Code | Self::Tap | Self::Passkey)
    }
    pub fn factor(self) -> Factor {
        match self {
            Self::Password | Self::Tap => Factor::Knowledge,
            Self::Push | Self::Code | Self::Phone | Self::Passkey => Factor::Possession,
        }
    }
    /// Whether its proof alone amounts to multifactor authentication. A Temporary Access Pass
    /// does (as in Entra): an administrator vouched for the person when issuing it, and it exists
    /// so that someone with no method yet can register one. So does phone sign-in: the device key
    /// (possession) unlocked with the App Lock (knowledge), which its answer must have used. So
    /// does a passkey: user verification (a PIN or a biometric) is required of every use.
    pub fn alone_is_mfa(self) -> bool {
        matches!(self, Self::Tap | Self::Phone | Self::Passkey)
    }
    /// Its authentication method reference (RFC 8176 §2): a push approval is a proof of
    /// possession of the device's software-secured key (`swk`). RFC 8176 has no value for a
    /// Temporary Access Pass: `tap`, which no other method's `amr` is mistaken for. A passkey is
    /// `swk` here; one in a hardware authenticator is `hwk` ([`Proof::amr`]).
    pub fn amr(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::Push | Self::Phone | Self::Passkey => "swk",
            Self::Code => "otp",
            Self::Tap => "tap",
        }
    }
    /// Its line in "Other ways to sign in" (Entra's words).
    pub fn choice_label(self) -> &'static str {
        match self {
            Self::Password => "Use your password",
            Self::Push | Self::Phone => "Approve a request on my Authenticator app",
            Self::Code => "Use a verification code",
            Self::Tap => "Temporary Access Pass",
            Self::Passkey => "Face, fingerprint, PIN, or security key",
        }
    }
}

/// A method that succeeded in this flow, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub method: Method,
    pub at: Timestamp,
    /// The device confirmed its App Lock (PIN) was used for this proof (`amr` gains `pin`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin: bool,
    /// A passkey held in hardware (a security key, a platform authenticator that does not sync).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hardware: bool,
}

impl Proof {
    pub fn new(method: Method, at: Timestamp) -> Self {
        Self {
            method,
            at,
            pin: false,
            hardware: false,
        }
    }

    /// Its `amr` value: the method's, but `hwk` for a passkey held in hardware.
    pub fn amr(&self) -> &'static str {
        if self.method == Method::Passkey && self.hardware {
            "hwk"
        } else {
            self.method.amr()
        }
    }
}

/// Where a flow is. Method-specific state lives in the method's variant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// "Sign in": the name.
    #[default]
    Identify,
    /// A method's own page (enter password, enter code).
    Method { method: Method },
    /// "Other ways to sign in": the methods on offer.
    Choose,
    /// The account has no method it may sign in with.
    NoMethod,
    /// A second factor is required and the account has none it may use: "More information
    /// required", then registration.
    MoreInformationRequired,
    /// Registering an authenticator app during sign-in: the pending token.
    Register { token_id: String },
    /// "Approve sign-in request": the request sent to the user's devices, waiting; `passwordless`
    /// for phone sign-in.
    Push {
        request_id: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        passwordless: bool,
    },
    /// Not a sign-in's step: a WebAuthn ceremony waiting for the browser's answer, kept in its
    /// own one-time row (`crate::methods::passkey`): what it is for, the verifier's state, and the digest
    /// of what it is bound to (the browser's flow id, or the registering user's id).
    Ceremony {
        purpose: crate::methods::passkey::Purpose,
        state: String,
        bound_to: String,
        /// The browser's options, kept for a cross-device link (the device asks for them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<String>,
    },
}

/// The engine's whole state of one flow, stored as one value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowState {
    pub step: Step,
    /// The name typed at the first step (normalised).
    pub username: Option<String>,
    /// The account behind the name once known: an enabled user, found at the first step or
    /// proved by the first method. `None` for unknown and disabled names.
    pub user_id: Option<String>,
    pub proofs: Vec<Proof>,
    /// The application asked for a second factor (its `--require-mfa`, or `acr_values`).
    pub mfa_required: bool,
    /// Where the person is signing in from, as last seen at the HTTP edge (set when a request
    /// is sent to their devices, which shows it).
    pub context: Option<crate::signin::context::SignInContext>,
}

/// What the engine needs to know of the account being signed in to, the policy applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub has_password: bool,
    /// Methods other than the password the account registered and the policy lets it use.
    pub usable: Vec<Method>,
    /// The OATH token kinds the policy lets it use.
    pub oath_kinds: Vec<OathKind>,
    /// Methods it may register during sign-in, when more information is required.
    pub can_register: Vec<Method>,
    /// The tenant requires a second factor of everyone.
    pub tenant_requires_mfa: bool,
}

impl Account {
    /// What an unknown or disabled name looks like: exactly an account with only a password, so
    /// the first step reveals nothing about it.
    pub fn like_password_only() -> Self {
        Self {
            has_password: true,
            usable: Vec::new(),
            oath_kinds: Vec::new(),
            can_register: Vec::new(),
            tenant_requires_mfa: false,
        }
    }

    fn offers(&self, m: Method) -> bool {
        match m {
            Method::Password => self.has_password,
            other => self.usable.contains(&other),
        }
    }
}

/// What comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Method(Method),
    NoMethod,
    MoreInformationRequired,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub next: Next,
    /// The methods "Other ways to sign in" lists for this step.
    pub offered: Vec<Method>,
}

/// Whether the proofs amount to multifactor authentication: two different factors, or one proof
/// that is multifactor alone.
pub fn is_mfa(proofs: &[Proof]) -> bool {
    proofs.iter().any(|p| {
        p.method.alone_is_mfa()
            || proofs
                .iter()
                .any(|q| q.method.factor() != p.method.factor())
    })
}

/// The `amr` of a sign-in made of these proofs (RFC 8176): each method's value, and `mfa` when
/// they amount to multifactor authentication.
pub fn amr(proofs: &[Proof]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in proofs {
        let v = p.amr();
        if !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    if proofs.iter().any(|p| p.pin) {
        out.push("pin".into());
    } else if proofs.iter().any(|p| p.method == Method::Passkey) {
        // The authenticator verified the user its own way (a biometric, its PIN): RFC 8176's
        // "user presence test" is what can be said of it.
        out.push("user".into());
    }
    if is_mfa(proofs) {
        out.push("mfa".into());
    }
    out
}

/// The proofs an existing session stands for (its `amr` read back), so that a step-up asks only
/// for what is missing.
pub fn proofs_of(session: &Session) -> Vec<Proof> {
    let has = |v: &str| session.amr.iter().any(|a| a == v);
    // `hwk` is a passkey in hardware, `swk` with `user` one in software; otherwise `swk` is a
    // push approval after another factor, and phone sign-in when it was alone.
    let software_passkey = has("swk") && has("user");
    let passkey = has("hwk") || software_passkey;
    let device = has("swk") && !software_passkey;
    let phone = device && !has("pwd") && !has("otp") && !has("tap");
    Method::ALL
        .into_iter()
        .filter(|m| match m {
            Method::Passkey => passkey,
            Method::Push => device && !phone,
            Method::Phone => phone,
            other => has(other.amr()),
        })
        .map(|method| Proof {
            pin: matches!(method, Method::Push | Method::Phone) && has("pin"),
            hardware: method == Method::Passkey && has("hwk"),
            ..Proof::new(method, session.auth_time)
        })
        .collect()
}

/// The one decision: given the account, the proofs and the methods this browser used last, the
/// next step and what is on offer. With no proof yet: a first-factor method (or no way to sign
/// in). After one: done, unless a second factor is due — because the tenant or the application
/// requires one, or because the account has one (whoever registered a second factor uses it) —
/// then a second-factor method not used yet, or registration when the account has none. A live
/// Temporary Access Pass is the default wherever it is offered: an administrator issued it
/// because the person needs it now (a new employee, a lost phone).
pub fn decide(account: &Account, state: &FlowState, remembered: &[Method]) -> Decision {
    let pick = |offered: Vec<Method>, none: Next| {
        let next = [Method::Tap]
            .iter()
            .chain(remembered)
            .find(|m| offered.contains(m))
            .or(offered.first())
            .map_or(none, |m| Next::Method(*m));
        Decision { next, offered }
    };
    if state.proofs.is_empty() {
        let offered = Method::ALL
            .into_iter()
            .filter(|m| m.first_factor() && account.offers(*m))
            .collect();
        return pick(offered, Next::NoMethod);
    }
    let proved = |m: Method| state.proofs.iter().any(|p| p.method == m);
    let offered: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| m.second_factor() && account.offers(*m) && !proved(*m))
        .collect();
    let required = state.mfa_required || account.tenant_requires_mfa;
    let due = !is_mfa(&state.proofs) && (required || !offered.is_empty());
    if !due {
        return Decision {
            next: Next::Done,
            offered: Vec::new(),
        };
    }
    pick(offered, Next::MoreInformationRequired)
}

/// The account behind a name before anything is proved: only first-factor methods matter — the
/// password, which the policy does not govern, and phone sign-in, passkeys and a live Temporary
/// Access Pass where the policy lets the user use them. The same records are read for an unknown
/// or disabled name (finding none of a user's), so the page's timing does not tell them from an
/// account with only a password.
pub async fn first_factor_account(
    deps: &Deps,
    tenant_id: &str,
    user: Option<&User>,
) -> CoreResult<Account> {
    let enabled = user.filter(|u| u.enabled);
    // An empty id matches nothing stored.
    let id = enabled.map_or("", |u| u.id.as_str());
    let records = deps.store.first_factor_records(tenant_id, id).await?;
    let Some(u) = enabled else {
        return Ok(Account::like_password_only());
    };
    let tap = records.tap.is_some_and(|p| p.is_live(deps.now()));
    // A user who said "It's not me" gets no requests until an administrator clears it.
    let phone =
        u.push_blocked_at.is_none() && records.devices.iter().any(|d| d.phone_key.is_some());
    let mut account = Account {
        has_password: u.password_hash.is_some(),
        ..Account::like_password_only()
    };
    if tap || phone || !records.passkeys.is_empty() {
        let policy = records.policy.map(|p| p.policy).unwrap_or_default();
        let may = Eligibility::of(deps, policy, u).await?;
        if phone && may.phone() {
            account.usable.push(Method::Phone);
        }
        if tap && may.tap() {
            account.usable.push(Method::Tap);
        }
        if records
            .passkeys
            .iter()
            .any(|p| may.passkey(p.aaguid.as_deref()))
        {
            account.usable.push(Method::Passkey);
        }
    }
    Ok(account)
}

/// The account a flow is about, as far as its step needs it, with its user (when the flow knows
/// one and it is still enabled).
pub async fn account_for(deps: &Deps, flow: &SignInFlow) -> CoreResult<(Option<User>, Account)> {
    if !flow.state.proofs.is_empty() {
        return Ok(match proved_user(deps, flow).await? {
            Some((user, policy)) => {
                let account = account_under(deps, &policy, &user).await?;
                (Some(user), account)
            }
            None => (None, Account::like_password_only()),
        });
    }
    // Before any proof the flow is about the name typed: it is read by that name, a known one
    // and an unknown one alike, so that a page's timing does not tell them apart.
    let user = match &flow.state.username {
        Some(name) => deps
            .store
            .user_by_upn(&flow.tenant_id, name)
            .await?
            .filter(|u| u.enabled),
        None => None,
    };
    let account = first_factor_account(deps, &flow.tenant_id, user.as_ref()).await?;
    Ok((user, account))
}

/// The account behind a name with everything it registered, the tenant's policy applied; an
/// unknown or disabled one looks like an account with only a password.
pub async fn account(deps: &Deps, tenant: &Tenant, user: Option<&User>) -> CoreResult<Account> {
    match user.filter(|u| u.enabled) {
        None => Ok(Account::like_password_only()),
        Some(user) => {
            let policy = policy::load(deps, tenant).await?.policy;
            account_under(deps, &policy, user).await
        }
    }
}

/// The account of an enabled user under `policy`, already read.
pub async fn account_under(
    deps: &Deps,
    policy: &MethodsPolicy,
    user: &User,
) -> CoreResult<Account> {
    let may = Eligibility::of(deps, policy.clone(), user).await?;
    let oath_kinds = may.oath_kinds();
    let tokens = deps.store.oath_tokens_of_user(&user.id).await?;
    let has_code = tokens
        .iter()
        .any(|t| t.active && oath_kinds.contains(&t.kind));
    // A user who said "It's not me" gets no push requests until an administrator clears it;
    // their devices are read only when pushes could be offered.
    let (push_ok, phone_ok) = (may.push(), may.phone());
    let devices = if user.push_blocked_at.is_none() && (push_ok || phone_ok) {
        deps.store.devices_of_user(&user.id).await?
    } else {
        Vec::new()
    };
    let has_push = push_ok && !devices.is_empty();
    let has_phone = phone_ok && devices.iter().any(|d| d.phone_key.is_some());
    let mut can_register = Vec::new();
    if oath_kinds.contains(&OathKind::Software) {
        can_register.push(Method::Code);
    }
    let mut usable = Vec::new();
    if has_phone {
        usable.push(Method::Phone);
    }
    if has_push {
        usable.push(Method::Push);
    }
    if has_code {
        usable.push(Method::Code);
    }
    if !crate::methods::passkey::usable(deps, &may, &user.id)
        .await?
        .is_empty()
    {
        usable.push(Method::Passkey);
    }
    if may.tap() && crate::methods::tap::live(deps, &user.id).await? {
        usable.push(Method::Tap);
    }
    Ok(Account {
        has_password: user.password_hash.is_some(),
        usable,
        oath_kinds,
        can_register,
        tenant_requires_mfa: policy.require_mfa_for_everyone,
    })
}

/// A flow for `request`, at its first step (or past it, with the name an application hinted).
pub fn new_state(mfa_required: bool) -> FlowState {
    FlowState {
        mfa_required,
        ..FlowState::default()
    }
}

fn apply(flow: &mut SignInFlow, d: &Decision) -> Next {
    flow.state.step = match d.next {
        Next::Method(method) => Step::Method { method },
        Next::NoMethod => Step::NoMethod,
        Next::MoreInformationRequired => Step::MoreInformationRequired,
        Next::Done => flow.state.step.clone(),
    };
    d.next
}

/// The first step: the name. Finds the account (an unknown or disabled one goes on exactly as
/// an account with only a password) and moves to its default method.
pub async fn identify(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    typed: &str,
    remembered: &[Method],
) -> CoreResult<Next> {
    let name = crate::signin::typed_name(tenant, typed)?;
    let user = deps
        .store
        .user_by_upn(&tenant.id, &name)
        .await?
        .filter(|u| u.enabled);
    let account = first_factor_account(deps, &tenant.id, user.as_ref()).await?;
    flow.state.username = Some(name);
    flow.state.user_id = user.map(|u| u.id);
    flow.state.proofs.clear();
    Ok(apply(flow, &decide(&account, &flow.state, remembered)))
}

/// Back to the first step: whatever the earlier name had proved is forgotten.
pub fn restart(flow: &mut SignInFlow) {
    flow.state.step = Step::Identify;
    flow.state.username = None;
    flow.state.user_id = None;
    flow.state.proofs.clear();
}

/// The decision for the flow as it stands (for the chooser and the pages' links).
pub fn current(account: &Account, flow: &SignInFlow, remembered: &[Method]) -> Decision {
    decide(account, &flow.state, remembered)
}

/// The person picked `method` in "Other ways to sign in": allowed only if it is on offer now.
pub fn choose(account: &Account, flow: &mut SignInFlow, method: Method) -> CoreResult<()> {
    if !decide(account, &flow.state, &[]).offered.contains(&method) {
        return Err(CoreError::MethodNotSupported);
    }
    flow.state.step = Step::Method { method };
    Ok(())
}

/// Checks that the flow is at `method`'s own step before its answer is checked.
pub fn expect(flow: &SignInFlow, method: Method) -> CoreResult<()> {
    if flow.state.step == (Step::Method { method }) {
        Ok(())
    } else {
        Err(CoreError::FlowExpired)
    }
}

/// `method` succeeded for `user`: the proof is recorded and the engine decides what follows.
/// Proofs of two factors end the sign-in whatever the account holds (as `decide` says), so the
/// account is read only when they don't.
pub async fn proved(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    method: Method,
    remembered: &[Method],
) -> CoreResult<Next> {
    add_proof(
        deps,
        tenant,
        flow,
        user,
        Proof::new(method, deps.now()),
        remembered,
    )
    .await
}

/// A passkey sign-in succeeded for `user` (`crate::methods::passkey::finish_sign_in`): with no name typed
/// (discoverable), the flow now knows it from the credential.
pub async fn passkey_proved(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    signed_in: &crate::methods::passkey::SignedIn,
    remembered: &[Method],
) -> CoreResult<Next> {
    let user = &signed_in.user;
    if flow.state.username.is_none() {
        flow.state.username = Some(user.upn.clone());
    }
    let proof = Proof {
        pin: signed_in.pin,
        hardware: signed_in.hardware,
        ..Proof::new(Method::Passkey, deps.now())
    };
    add_proof(deps, tenant, flow, user, proof, remembered).await
}

async fn add_proof(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    proof: Proof,
    remembered: &[Method],
) -> CoreResult<Next> {
    flow.state.user_id = Some(user.id.clone());
    flow.state.proofs.push(proof);
    if is_mfa(&flow.state.proofs) {
        return Ok(Next::Done);
    }
    let account = account(deps, tenant, Some(user)).await?;
    Ok(apply(flow, &decide(&account, &flow.state, remembered)))
}

/// The method whose request the flow is about to send, at its own step: a push approval or
/// phone sign-in.
pub fn sending(flow: &SignInFlow) -> Option<Method> {
    match flow.state.step {
        Step::Method {
            method: m @ (Method::Push | Method::Phone),
        } => Some(m),
        _ => None,
    }
}

/// The request sent at the push (or phone sign-in) step: the flow now waits on it ("Approve
/// sign-in request").
pub fn push_sent(flow: &mut SignInFlow, request_id: &str) -> CoreResult<()> {
    let method = sending(flow).ok_or(CoreError::FlowExpired)?;
    flow.state.step = Step::Push {
        request_id: request_id.into(),
        passwordless: method == Method::Phone,
    };
    Ok(())
}

/// The request the flow waits on, at "Approve sign-in request".
pub fn waiting_on(flow: &SignInFlow) -> CoreResult<&str> {
    match &flow.state.step {
        Step::Push { request_id, .. } => Ok(request_id),
        _ => Err(CoreError::FlowExpired),
    }
}

/// The method of the request the flow sends or waits on: phone sign-in or a push approval.
pub fn request_method(flow: &SignInFlow) -> Option<Method> {
    match &flow.state.step {
        Step::Push { passwordless, .. } => Some(if *passwordless {
            Method::Phone
        } else {
            Method::Push
        }),
        _ => sending(flow),
    }
}

/// No request could be sent (too many lately, a fraud block): on to "Other ways to sign in".
pub fn push_not_sent(flow: &mut SignInFlow) -> CoreResult<()> {
    sending(flow).ok_or(CoreError::FlowExpired)?;
    flow.state.step = Step::Choose;
    Ok(())
}

/// "Send another request": back to the push (or phone sign-in) step, which sends a new one.
pub fn push_again(flow: &mut SignInFlow) -> CoreResult<()> {
    let method = request_method(flow).ok_or(CoreError::FlowExpired)?;
    flow.state.step = Step::Method { method };
    Ok(())
}

/// The request the flow waits on was approved on `user`'s device: a push proof (with `pin` when
/// the device's App Lock was used), then the engine decides what follows. Only the flow's own
/// request, approved, counts.
pub async fn push_approved(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    request: &crate::methods::push::PushRequest,
    remembered: &[Method],
) -> CoreResult<Next> {
    use crate::methods::push::PushState;
    let pin = match request.state {
        PushState::Approved => false,
        PushState::ApprovedWithPin => true,
        _ => return Err(CoreError::FlowExpired),
    };
    let method = request_method(flow).ok_or(CoreError::FlowExpired)?;
    if waiting_on(flow)? != request.id
        || request.user_id != user.id
        || request.passwordless != (method == Method::Phone)
        // Phone sign-in is multifactor only with the App Lock (the device checks it too).
        || (method == Method::Phone && !pin)
    {
        return Err(CoreError::FlowExpired);
    }
    let proof = Proof {
        pin,
        ..Proof::new(method, deps.now())
    };
    add_proof(deps, tenant, flow, user, proof, remembered).await
}

/// "Other ways to sign in", from a method's own step.
pub fn other_ways(flow: &mut SignInFlow) -> CoreResult<()> {
    if !matches!(flow.state.step, Step::Method { .. } | Step::Push { .. }) {
        return Err(CoreError::FlowExpired);
    }
    flow.state.step = Step::Choose;
    Ok(())
}

/// Continues from a live session that is not enough for this sign-in (an application needs a
/// second factor the session was made without): the session's proofs stand, and only the second
/// factor is asked for (step-up). When the user has no second factor yet, the sign-in starts
/// over at the password instead: registering a first second factor needs a fresh first factor,
/// never a session alone (which may be stolen, or hours old).
pub async fn resume(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    session: &Session,
    user: &User,
    remembered: &[Method],
) -> CoreResult<Next> {
    let account = account(deps, tenant, Some(user)).await?;
    flow.state.username = Some(user.upn.clone());
    flow.state.user_id = Some(user.id.clone());
    flow.state.proofs = proofs_of(session);
    let d = decide(&account, &flow.state, remembered);
    if d.next == Next::MoreInformationRequired {
        flow.state.proofs.clear();
        return Ok(apply(flow, &decide(&account, &flow.state, remembered)));
    }
    Ok(apply(flow, &d))
}

/// The methods of a finished sign-in, first factor first: remembered by the browser as its
/// defaults for next time.
pub fn used_methods(flow: &SignInFlow) -> Vec<Method> {
    flow.state.proofs.iter().map(|p| p.method).collect()
}

/// The user a push or phone sign-in step sends its request to, with the tenant's policy: the user
/// the flow proved, or — for phone sign-in, which comes first — the one behind the name typed.
pub async fn request_user(
    deps: &Deps,
    flow: &SignInFlow,
) -> CoreResult<Option<(User, MethodsPolicy)>> {
    if request_method(flow) != Some(Method::Phone) || !flow.state.proofs.is_empty() {
        return proved_user(deps, flow).await;
    }
    match &flow.state.user_id {
        Some(id) => enabled_with_policy(deps, id).await,
        None => Ok(None),
    }
}

/// An enabled user with their tenant's policy, in one read.
async fn enabled_with_policy(deps: &Deps, id: &str) -> CoreResult<Option<(User, MethodsPolicy)>> {
    Ok(deps
        .store
        .user_with_policy(id)
        .await?
        .filter(|(u, _)| u.enabled)
        .map(|(u, p)| (u, p.map(|p| p.policy).unwrap_or_default())))
}

/// The user of a flow that has proved who it is (after its first method), if still enabled,
/// with the tenant's methods policy: both are read together, as every later step needs both.
pub async fn proved_user(
    deps: &Deps,
    flow: &SignInFlow,
) -> CoreResult<Option<(User, MethodsPolicy)>> {
    if flow.state.proofs.is_empty() {
        return Ok(None);
    }
    match &flow.state.user_id {
        Some(id) => enabled_with_policy(deps, id).await,
        None => Ok(None),
    }
}

/// "More information required" → "Next": starts registering an authenticator app, the one
/// method a person can add alone today. Allowed only at that step, and only if the policy lets
/// the user use it.
pub async fn begin_registration(
    deps: &Deps,
    account: &Account,
    flow: &mut SignInFlow,
    user: &User,
) -> CoreResult<oath::OathToken> {
    // Binding a first second factor rests on the first one alone: it must be recent.
    let fresh = flow
        .state
        .proofs
        .iter()
        .all(|p| deps.now() - p.at <= crate::signin::session::RECENT_AUTH);
    if flow.state.step != Step::MoreInformationRequired || !fresh {
        return Err(CoreError::FlowExpired);
    }
    if !account.can_register.contains(&Method::Code) {
        return Err(CoreError::MethodNotSupported);
    }
    let token = oath::begin_enrolment(deps, user).await?;
    flow.state.step = Step::Register {
        token_id: token.id.clone(),
    };
    Ok(token)
}

/// The code that proves the new authenticator app: it activates the token and counts as the
/// second factor of this sign-in. `None` when the code is wrong.
pub async fn finish_registration(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    user: &User,
    code: &str,
) -> CoreResult<Option<Next>> {
    let Step::Register { token_id } = flow.state.step.clone() else {
        return Err(CoreError::FlowExpired);
    };
    if !oath::activate(deps, tenant, user, &token_id, code).await? {
        return Ok(None);
    }
    Ok(Some(
        proved(deps, tenant, flow, user, Method::Code, &[]).await?,
    ))
}

#[cfg(test)]
mod tests;
