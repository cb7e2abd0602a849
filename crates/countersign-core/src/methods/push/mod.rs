//! Push approvals' security rules, independent of storage and transport: the number a person
//! matches, device keys (ECDSA P-256, checked by aws-lc-rs), the checks an answer must pass
//! (this user's device, its signature, not answered before, not expired, the right number), and
//! the minimum app version. The device protocol itself is `docs/device-protocol.md`.
//!
//! What a device signs is built by the caller with `countersign_proto::device` (the core depends
//! on nothing of ours) and passed in as [`Answer::signed`]: the server builds it from the same
//! parsed answer it hands over here, so both describe one answer.

use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult, DeviceError};
use crate::model::{OathKind, SignInFlow, SignInResult, Tenant, User};
use crate::policy::{Eligibility, MethodsPolicy};
use crate::random::Rng;
use crate::secret::{ct_eq, token_digest};
use crate::signin::context::SignInContext;
use crate::signin::throttle::{self, LockoutPolicy, Release};
use crate::signin::{log_attempt, Origin};
use crate::Deps;
use aws_lc_rs::signature::{ParsedPublicKey, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Length of a SEC1 uncompressed P-256 point: `0x04 ‖ x ‖ y`.
pub const PUBLIC_KEY_LEN: usize = 65;

/// How long a push request is kept after its expiry: a late answer is told the request expired,
/// rather than that it never existed. The store purges it afterwards.
pub const REQUESTS_KEPT_FOR: Timestamp = 24 * 3600;

/// A registered device's key, checked to be a well-formed P-256 point encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey(Vec<u8>);

impl DeviceKey {
    /// From the base64url text a device sends; `None` unless it is a 65-byte uncompressed point.
    /// (Whether the point is on the curve is checked when a key is registered: `proved_key`.)
    pub fn parse(b64: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(b64).ok()?;
        (raw.len() == PUBLIC_KEY_LEN && raw[0] == 0x04).then_some(Self(raw))
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// Whether `signature` (base64url `r‖s`, 64 bytes) signs `payload` with this key. DER
    /// signatures, other lengths and bad encodings are simply false.
    pub fn verifies(&self, payload: &str, signature: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(payload.as_bytes(), &sig)
            .is_ok()
    }
}

/// The number shown in the browser and typed on the device: `digits` decimal digits, uniformly
/// drawn (leading zeros kept), so a blind guess succeeds once in 10^digits.
pub fn number(rng: &dyn Rng, digits: u8) -> String {
    let digits = digits.clamp(1, 9);
    let bound = 10u32.pow(u32::from(digits));
    // Rejection sampling: the largest multiple of `bound` below 2^32 keeps every value equally
    // likely.
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b);
        let v = u32::from_le_bytes(b);
        if v < zone {
            return format!("{:0width$}", v % bound, width = usize::from(digits));
        }
    }
}

/// What the person decided on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    /// "It's not me": refused, and reported as fraud.
    NotMe,
}

/// A device's answer as received (the device itself is the [`Signer`]).
#[derive(Debug, Clone)]
pub struct Answer {
    pub decision: Decision,
    /// The digits typed (approvals only).
    pub number: Option<String>,
    /// The device says its App Lock was used.
    pub pin: bool,
    pub signature: String,
    /// The payload the device signed, built from this answer by the device protocol's rules: as
    /// an answer to a push request, and as one to a passwordless request (another purpose).
    pub signed: String,
    pub signed_passwordless: String,
}

/// The facts about a pending request and its device that an answer is checked against.
#[derive(Debug, Clone)]
pub struct Pending<'a> {
    /// The user the request is for.
    pub user_id: &'a str,
    pub number: &'a str,
    pub expires_at: Timestamp,
    pub answered: bool,
    /// Phone sign-in: only the phone sign-in key answers, and an approval needs the App Lock.
    pub passwordless: bool,
}

/// The answering device as registered.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    pub user_id: &'a str,
    pub key: &'a DeviceKey,
    /// Its phone sign-in key, when phone sign-in is on.
    pub phone_key: Option<&'a DeviceKey>,
}

/// What a checked answer means for the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approved { pin: bool },
    Denied,
    NotMe,
}

/// Checks an answer. The signature comes first, so nothing about the request (answered,
/// expired, its number) is told to whoever does not hold the device's key. Single use is
/// enforced again where the answer is recorded (one conditional write), as two answers may
/// both pass this check at once.
pub fn check_answer(
    pending: &Pending<'_>,
    signer: &Signer<'_>,
    answer: &Answer,
    now: Timestamp,
) -> Result<Verdict, DeviceError> {
    if signer.user_id != pending.user_id {
        return Err(DeviceError::RequestNotFound);
    }
    // A passwordless request is answered with the phone sign-in key over its own payload: the
    // push-only device key can't sign the user in without a password.
    let (key, signed) = if pending.passwordless {
        let key = signer.phone_key.ok_or(DeviceError::PhoneSignInNotEnabled)?;
        (key, &answer.signed_passwordless)
    } else {
        (signer.key, &answer.signed)
    };
    if !key.verifies(signed, &answer.signature) {
        return Err(DeviceError::BadSignature);
    }
    if pending.answered {
        return Err(DeviceError::RequestAnswered);
    }
    if now >= pending.expires_at {
        return Err(DeviceError::RequestExpired);
    }
    Ok(match answer.decision {
        Decision::Approve => {
            let typed = answer.number.as_deref().unwrap_or_default();
            if !ct_eq(typed.as_bytes(), pending.number.as_bytes()) {
                return Err(DeviceError::WrongNumber);
            }
            if pending.passwordless && !answer.pin {
                return Err(DeviceError::PinRequired);
            }
            Verdict::Approved { pin: answer.pin }
        }
        Decision::Deny => Verdict::Denied,
        Decision::NotMe => Verdict::NotMe,
    })
}

/// How long an activation code works.
pub const ACTIVATION_TTL: Timestamp = 10 * 60;

/// Starts registering a device to `user` (security info → "Authenticator app"): refused unless
/// the tenant's policy lets the user use the Authenticator app. Returns the one-time activation
/// code; the store keeps only its digest. (A policy change within the code's ten minutes does not
/// undo the registration — like every registration, the device then stays unusable while the
/// policy disallows it, as its every use checks the policy.)
pub async fn begin_activation(deps: &Deps, tenant: &Tenant, user: &User) -> CoreResult<String> {
    let may = Eligibility::load(deps, tenant, user).await?;
    if !may.authenticator() {
        return Err(CoreError::MethodNotSupported);
    }
    let with_codes = may.oath(OathKind::Software);
    let code = deps.secret_token();
    let now = deps.now();
    deps.store
        .insert_activation(&Activation {
            code_digest: token_digest(&code),
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + ACTIVATION_TTL,
            with_codes,
        })
        .await?;
    Ok(code)
}

/// A device asking to be registered, as received.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub code: &'a str,
    pub public_key: &'a str,
    pub signature: &'a str,
    /// The payload the device signed, built from `code` and `public_key` by the protocol's rules.
    pub signed: &'a str,
    pub name: &'a str,
    pub app_version: &'a str,
    pub platform: &'a str,
}

/// Registers a device with an activation code. Everything that needs no storage is checked
/// first — its fields, its app version against `min_app_version`, its key and that it signed
/// with it — so a refused attempt leaves the code usable; then the code is consumed and the
/// device bound to the code's user in one write, which finds nothing (and writes nothing) for a
/// code of another tenant.
pub async fn register(
    deps: &Deps,
    tenant: &Tenant,
    r: &Registration<'_>,
    min_app_version: Option<&str>,
) -> CoreResult<Device> {
    let (name, app_version, platform) =
        device_texts(r.name, r.app_version, r.platform, min_app_version)?;
    let key = proved_key("public_key", r.public_key, r.signed, r.signature)?;
    let now = deps.now();
    let device = Device {
        id: format!("dev_{}", deps.new_id()),
        // The activation code must be this tenant's; the user is the code's.
        tenant_id: tenant.id.clone(),
        user_id: String::new(),
        name,
        public_key: key.to_base64(),
        app_version,
        platform,
        created_at: now,
        last_seen_at: Some(now),
        oath_token_id: None,
        phone_key: None,
        phone_enabled_at: None,
    };
    // Made before the code is known good: the store keeps it only with a registration whose
    // activation allows codes. Its user is the activation's, like the device's.
    let mut codes = crate::methods::oath::new_software_token(deps, "", "");
    codes.name = device.name.clone();
    codes.active = true;
    deps.store
        .register_device(&token_digest(r.code), now, &device, &codes)
        .await?
        .ok_or_else(|| DeviceError::ActivationInvalid.into())
}

/// A registering device's name, app version and platform, checked, and its app version against
/// the server's minimum.
pub(crate) fn device_texts(
    name: &str,
    app_version: &str,
    platform: &str,
    min_app_version: Option<&str>,
) -> CoreResult<(String, String, String)> {
    use crate::directory::clean_text;
    let name = clean_text("name", name, 64)?;
    let app_version = clean_text("app_version", app_version, 32)?;
    let platform = clean_text("platform", platform, 32)?;
    if let Some(min) = min_app_version {
        if !version_at_least(&app_version, min) {
            return Err(DeviceError::AppVersionUnsupported { min: min.into() }.into());
        }
    }
    Ok((name, app_version, platform))
}

/// A public key a device sent as `field`, parsed, and proved by its signature over `signed`.
pub(crate) fn proved_key(
    field: &'static str,
    key: &str,
    signed: &str,
    signature: &str,
) -> CoreResult<DeviceKey> {
    // A new key is checked to be a point of the curve, so that a client with a badly encoded
    // key hears that, not that its signature is wrong (stored keys are not checked again).
    let parsed = DeviceKey::parse(key)
        .filter(|k| ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &k.0).is_ok())
        .ok_or_else(|| {
            CoreError::invalid(
                field,
                "must be a P-256 public key: its uncompressed point (65 bytes), base64url",
            )
        })?;
    if !parsed.verifies(signed, signature) {
        return Err(DeviceError::BadSignature.into());
    }
    Ok(parsed)
}

/// Whether app version `v` (dotted numbers, e.g. `1.4.0`; anything after `-` or `+` ignored) is
/// at least `min`. A version that doesn't parse is below every minimum.
pub fn version_at_least(v: &str, min: &str) -> bool {
    fn parts(s: &str) -> Option<Vec<u64>> {
        let core = s.split(['-', '+']).next()?;
        core.split('.').map(|p| p.parse().ok()).collect()
    }
    let (Some(mut a), Some(mut b)) = (parts(v), parts(min)) else {
        return false;
    };
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    a >= b
}

/// One installation of the authenticator, registered to one account (a device holding several
/// accounts registers each with its own key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    /// The base64url SEC1 point ([`DeviceKey::parse`] accepted it).
    pub public_key: String,
    pub app_version: String,
    pub platform: String,
    pub created_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    /// The verification codes (software OATH token) it got at registration, if any.
    pub oath_token_id: Option<String>,
    /// The phone sign-in key (another P-256 point, base64url) once phone sign-in is enabled on
    /// this device for this account: only it answers passwordless requests.
    pub phone_key: Option<String>,
    pub phone_enabled_at: Option<Timestamp>,
}

/// A one-time activation code, known to the store only by its digest, bound to the user who
/// asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub code_digest: String,
    pub tenant_id: String,
    pub user_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The policy let the user use software OATH tokens when the code was made: the device also
    /// gets verification codes for offline use.
    pub with_codes: bool,
}

/// Where a sign-in request stands. Every state but `Pending` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    Pending,
    Approved,
    /// Approved, and the device says its App Lock was used (`amr` gains `pin`).
    ApprovedWithPin,
    Denied,
    /// "It's not me": reported as fraud.
    NotMe,
    /// Approved with another number: the attempt is over.
    WrongNumber,
    /// Nobody answered in time.
    Expired,
    /// A newer sign-in of the same user superseded it, or its sign-in ended.
    Withdrawn,
}

impl PushState {
    pub const ALL: [PushState; 8] = [
        Self::Pending,
        Self::Approved,
        Self::ApprovedWithPin,
        Self::Denied,
        Self::NotMe,
        Self::WrongNumber,
        Self::Expired,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::ApprovedWithPin => "approved-pin",
            Self::Denied => "denied",
            Self::NotMe => "not-me",
            Self::WrongNumber => "wrong-number",
            Self::Expired => "expired",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a request may move from pending to this state at `now`, given its expiry: an
    /// answer only before it, `Expired` only from it on, `Withdrawn` at any time.
    pub fn may_settle(self, expires_at: Timestamp, now: Timestamp) -> bool {
        match self {
            Self::Pending => false,
            Self::Expired => now >= expires_at,
            Self::Withdrawn => true,
            _ => now < expires_at,
        }
    }
}

/// A sign-in waiting for approval on the user's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// Random, 256 bits: devices name the request by it, and sign it in their answer.
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    /// The sign-in flow waiting for the answer (its id's digest, like every stored bearer id).
    pub flow_digest: String,
    /// The number shown in the browser.
    pub number: String,
    pub application: Option<String>,
    /// The application's client_id, for the sign-in log (whatever the device is shown).
    pub client_id: Option<String>,
    /// The address the sign-in comes from, and what a GeoIP database says of it.
    pub client_addr: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// False for a flagged sign-in: delivered only when the device asks.
    pub pushed: bool,
    /// Phone sign-in: approving it signs the user in without a password. Only a device's phone
    /// sign-in key answers it, with the App Lock.
    pub passwordless: bool,
    pub state: PushState,
    pub settled_at: Option<Timestamp>,
    /// The device that answered.
    pub device_id: Option<String>,
}

/// How long a sign-in request waits for its answer.
pub const REQUEST_TTL: Timestamp = 90;
/// The push fatigue rule as the store applies it when it inserts a request: at most `limit`
/// requests to one user since `since` (the policy's `PushFatigueLimit` at that moment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fatigue {
    pub since: Timestamp,
    pub limit: u64,
}

impl Fatigue {
    /// The limit of `policy`'s setting at `now`.
    pub fn of(policy: &MethodsPolicy, now: Timestamp) -> Self {
        let l = policy.authenticator.feature_settings.push_fatigue_limit;
        Self {
            since: now - Timestamp::from(l.window_minutes) * 60,
            limit: u64::from(l.requests),
        }
    }

    /// Whether a user who was sent `recent` requests since `since` may be sent no more: the
    /// rule, stated once (the stores count and ask this inside their insert).
    pub fn reached(&self, recent: u64) -> bool {
        recent >= self.limit
    }
}

/// What became of an attempt to store a new request (`PushStore::insert_push_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored, with the ids of the user's pending requests it withdrew.
    Sent { withdrawn: Vec<String> },
    /// A lockout key was locked (by attempts in flight): nothing written.
    Locked,
    /// The push fatigue limit was reached: nothing written.
    Fatigued,
}

/// How long a device challenge may be answered.
pub const CHALLENGE_TTL: Timestamp = 60;

/// Why no request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// Push fatigue limit or lockout: too many requests lately.
    TooMany,
    /// The user said "It's not me" and an administrator has not cleared it.
    Blocked,
    /// The user has no registered device.
    NoDevice,
}

/// A request that was sent, the older ones of the same user it withdrew, and why the risk rules
/// flagged its sign-in (then it waits for the device to ask for it).
#[derive(Debug, Clone)]
pub struct Sent {
    pub request: PushRequest,
    pub withdrawn: Vec<String>,
    pub flagged: Option<String>,
}

/// A flow arrived at its push (or phone sign-in) step: sends the sign-in request to the user's
/// devices, and saves the flow in every outcome — waiting on the request when one was sent (in
/// the same write that stores it), at "Other ways to sign in" when none could be.
///
/// Refused (`MethodNotSupported`) unless the policy lets the user approve pushes (or use phone
/// sign-in); not sent (`NotSent`) to a blocked user, one without a device, or beyond the push
/// fatigue limit and lockout. The request counts as a failure of the user's push approvals until
/// it is answered; it supersedes the user's pending one. The reservation of that failure, the
/// request, the withdrawal of the older one and the flow are written in one transaction. The
/// request shows the application and `context`'s place as the policy allows; `context` is kept
/// in the flow, and the risk rules (`Deps::risk`) decide whether the request is pushed.
pub async fn send_for_flow(
    deps: &Deps,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    context: SignInContext,
) -> CoreResult<Result<Sent, NotSent>> {
    let (user, policy) = crate::signin::flow::request_user(deps, flow)
        .await?
        .ok_or(CoreError::FlowExpired)?;
    let passwordless =
        crate::signin::flow::request_method(flow) == Some(crate::signin::flow::Method::Phone);
    let may = Eligibility::of(deps, policy, &user).await?;
    let client_id = flow.request.as_ref().map(|r| r.client_id.clone());
    let application = match &client_id {
        Some(id) => deps.store.client_by_id(id).await?.map(|c| c.name),
        None => None,
    };
    let flagged = crate::signin::risk::assess(&deps.risk, &context, &user.upn);
    let client_addr = context.client_addr.clone();
    flow.state.context = Some(context);
    let s = Sending {
        user: &user,
        may: &may,
        application: application.as_deref(),
        flagged,
        passwordless,
    };
    let origin = Origin {
        tenant,
        client_id: client_id.as_deref(),
        client_addr: client_addr.as_deref(),
    };
    let sent = send(deps, origin, s, flow).await?;
    if sent.is_err() {
        let mut moved_on = flow.clone();
        crate::signin::flow::push_not_sent(&mut moved_on)?;
        deps.store.update_flow(&moved_on).await?;
        *flow = moved_on;
    }
    Ok(sent)
}

/// What sending a request needs to know besides the flow.
struct Sending<'a> {
    user: &'a User,
    may: &'a Eligibility,
    application: Option<&'a str>,
    flagged: Option<String>,
    passwordless: bool,
}

/// The checks and the one write of [`send_for_flow`]; the flow waits on the request once sent.
async fn send(
    deps: &Deps,
    origin: Origin<'_>,
    s: Sending<'_>,
    flow: &mut SignInFlow,
) -> CoreResult<Result<Sent, NotSent>> {
    let allowed = if s.passwordless {
        s.may.phone()
    } else {
        s.may.push()
    };
    if !allowed {
        return Err(CoreError::MethodNotSupported);
    }
    let method = if s.passwordless { "phone" } else { "push" };
    let user = s.user;
    let refuse = |why: NotSent, reason: &str| {
        let reason = reason.to_string();
        async move {
            log_attempt(
                deps,
                origin,
                method,
                &user.upn,
                Some(user),
                SignInResult::Failure,
                Some(reason),
            )
            .await?;
            Ok::<_, CoreError>(Err(why))
        }
    };
    if user.push_blocked_at.is_some() {
        return refuse(NotSent::Blocked, "push blocked after \"It's not me\"").await;
    }
    let devices = deps.store.devices_of_user(&user.id).await?;
    if !devices
        .iter()
        .any(|d| !s.passwordless || d.phone_key.is_some())
    {
        return refuse(NotSent::NoDevice, "no registered device").await;
    }
    let now = deps.now();
    let key = throttle::push_key(&user.tenant_id, &user.upn);
    let reserve = [(key.as_str(), LockoutPolicy::ACCOUNT)];
    // A plain read first, for the reason; the insert below decides again atomically.
    if let Some(reason) = throttle::locked_now(deps, &reserve).await? {
        return refuse(NotSent::TooMany, &format!("push {reason}")).await;
    }
    let features = &s.may.policy().authenticator.feature_settings;
    let show_place = s.may.feature(&features.display_location_information);
    let place = match &flow.state.context {
        Some(c) if show_place => c.clone(),
        _ => SignInContext::default(),
    };
    let request = PushRequest {
        // The prefix keeps ids from starting with "-", which command lines would take for an option.
        id: format!("req_{}", deps.secret_token()),
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        flow_digest: token_digest(&flow.id),
        number: number(deps.rng.as_ref(), features.number_matching_digits),
        application: s
            .application
            .filter(|_| s.may.feature(&features.display_app_information))
            .map(str::to_string),
        client_id: origin.client_id.map(str::to_string),
        client_addr: place.client_addr,
        city: place.city,
        country: place.country,
        created_at: now,
        expires_at: now + REQUEST_TTL,
        pushed: s.flagged.is_none(),
        passwordless: s.passwordless,
        state: PushState::Pending,
        settled_at: None,
        device_id: None,
    };
    let fatigue = Fatigue::of(s.may.policy(), now);
    let mut waiting = flow.clone();
    crate::signin::flow::push_sent(&mut waiting, &request.id)?;
    let inserted = deps
        .store
        .insert_push_request(&request, fatigue, &reserve, Some(&waiting))
        .await?;
    match inserted {
        Inserted::Sent { withdrawn } => {
            *flow = waiting;
            deps.notifier.requests_settled(&user.id, &withdrawn);
            deps.notifier.request_created(&user.id, &request.id);
            Ok(Ok(Sent {
                request,
                withdrawn,
                flagged: s.flagged,
            }))
        }
        Inserted::Locked => refuse(NotSent::TooMany, "push locked by attempts in flight").await,
        Inserted::Fatigued => refuse(NotSent::TooMany, "push fatigue limit").await,
    }
}

/// The request a flow is waiting on, if it is that flow's: a request id in a flow is only
/// trusted together with the flow's own id.
pub async fn request_of_flow(
    deps: &Deps,
    flow_id: &str,
    request_id: &str,
) -> CoreResult<Option<PushRequest>> {
    Ok(deps
        .store
        .push_request(request_id)
        .await?
        .filter(|r| ct_eq(r.flow_digest.as_bytes(), token_digest(flow_id).as_bytes())))
}

/// The request as its flow sees it now: a pending request past its expiry is settled as expired
/// (and logged) first, so the page can say so.
pub async fn settle_if_expired(
    deps: &Deps,
    origin: Origin<'_>,
    user: &User,
    mut r: PushRequest,
) -> CoreResult<PushRequest> {
    let now = deps.now();
    if r.state == PushState::Pending
        && now >= r.expires_at
        && deps
            .store
            .settle_push_request(&r.id, PushState::Expired, None, now, &[])
            .await?
    {
        deps.notifier
            .requests_settled(&r.user_id, std::slice::from_ref(&r.id));
        log_attempt(
            deps,
            origin,
            "push",
            &user.upn,
            Some(user),
            SignInResult::Failure,
            Some("request expired unanswered".into()),
        )
        .await?;
        r.state = PushState::Expired;
        r.settled_at = Some(now);
    }
    Ok(r)
}

/// The browser moved on (another way to sign in, another name): its pending request is withdrawn
/// from the devices. Returns whether it was still pending.
pub async fn withdraw(deps: &Deps, r: &PushRequest) -> CoreResult<bool> {
    let withdrawn = deps
        .store
        .settle_push_request(&r.id, PushState::Withdrawn, None, deps.now(), &[])
        .await?;
    if withdrawn {
        deps.notifier
            .requests_settled(&r.user_id, std::slice::from_ref(&r.id));
    }
    Ok(withdrawn)
}

/// A device's proof of its key over a server challenge, as received.
#[derive(Debug, Clone)]
pub struct KeyProof<'a> {
    pub device_id: &'a str,
    pub challenge: &'a str,
    pub signature: &'a str,
    /// The payload signed, built from `device_id` and `challenge` by the protocol's rules.
    pub signed: &'a str,
    pub app_version: &'a str,
}

/// Issues a single-use challenge to a device. An unknown device gets one too (stored against
/// nothing, it can never be used), so the answer doesn't tell which device ids exist.
pub async fn challenge(deps: &Deps, device_id: &str) -> CoreResult<String> {
    let c = deps.secret_token();
    if deps.store.device_by_id(device_id).await?.is_some() {
        deps.store
            .insert_device_challenge(&token_digest(&c), device_id, deps.now() + CHALLENGE_TTL)
            .await?;
    }
    Ok(c)
}

/// The registered device of `tenant` behind an id, with its user (enabled), refused when the app is older
/// than `min_app_version` (what it says now, or what it registered with).
async fn known_device(
    deps: &Deps,
    tenant: &Tenant,
    device_id: &str,
    app_version: &str,
    min_app_version: Option<&str>,
) -> CoreResult<(Device, User, MethodsPolicy)> {
    let device = deps
        .store
        .device_by_id(device_id)
        .await?
        .filter(|d| d.tenant_id == tenant.id)
        .ok_or(DeviceError::DeviceUnknown)?;
    let (user, policy) = deps
        .store
        .user_with_policy(&device.user_id)
        .await?
        .filter(|(u, _)| u.enabled)
        .ok_or(DeviceError::DeviceUnknown)?;
    if let Some(min) = min_app_version {
        if !version_at_least(app_version, min) {
            return Err(DeviceError::AppVersionUnsupported { min: min.into() }.into());
        }
    }
    Ok((device, user, policy.map(|p| p.policy).unwrap_or_default()))
}

/// A device proves its key over a challenge it was given: what the channel's `hello` and a fetch
/// of pending requests start with. A challenge from [`challenge`] is taken from the store (single
/// use, 60 seconds); one the channel issued on its own connection (`on_connection`) is single use
/// by that connection and never stored. Returns the device and its user.
pub async fn prove(
    deps: &Deps,
    tenant: &Tenant,
    p: &KeyProof<'_>,
    min_app_version: Option<&str>,
    on_connection: bool,
) -> CoreResult<(Device, User)> {
    let (device, user, _) =
        known_device(deps, tenant, p.device_id, p.app_version, min_app_version).await?;
    let key = DeviceKey::parse(&device.public_key).ok_or(DeviceError::DeviceUnknown)?;
    if !key.verifies(p.signed, p.signature) {
        return Err(DeviceError::BadSignature.into());
    }
    let now = deps.now();
    if !on_connection
        && !deps
            .store
            .take_device_challenge(&token_digest(p.challenge), &device.id, now)
            .await?
    {
        return Err(DeviceError::BadSignature.into());
    }
    seen(deps, &device, now).await?;
    Ok((device, user))
}

/// How stale a device's last-seen time may get before it is written back: security info shows
/// it to the minute, and a write on every answer would cost each request a commit.
const SEEN_EVERY: Timestamp = 60;

async fn seen(deps: &Deps, device: &Device, now: Timestamp) -> CoreResult<()> {
    if device.last_seen_at.is_none_or(|at| now - at >= SEEN_EVERY) {
        deps.store.touch_device(&device.id, now).await?;
    }
    Ok(())
}

/// Whether `device` is shown request `r`: a passwordless one only where phone sign-in is on (no
/// other device could answer it).
pub fn shown_to(device: &Device, r: &PushRequest) -> bool {
    !r.passwordless || device.phone_key.is_some()
}

/// The requests waiting for this device of `user` now (flagged ones included: the device asked).
pub async fn pending_for(
    deps: &Deps,
    device: &Device,
    user: &User,
) -> CoreResult<Vec<PushRequest>> {
    let mut all = deps
        .store
        .pending_push_requests(&user.id, deps.now())
        .await?;
    all.retain(|r| shown_to(device, r));
    Ok(all)
}

/// A device's answer to a request, as received.
#[derive(Debug, Clone)]
pub struct DeviceAnswer<'a> {
    pub device_id: &'a str,
    pub request_id: &'a str,
    pub app_version: &'a str,
    pub answer: Answer,
}

/// Checks and records a device's answer (see [`check_answer`]); exactly one answer settles a
/// request. Every refusal that concerns an existing request is in the sign-in log, against that
/// request's user. An approval gives back the attempt the request counted; a denial or "It's not
/// me" takes back just this one (a person answered); a wrong number keeps it counted.
/// "It's not me" also blocks the user's push requests until an administrator clears it.
pub async fn answer(
    deps: &Deps,
    tenant: &Tenant,
    a: &DeviceAnswer<'_>,
    min_app_version: Option<&str>,
) -> CoreResult<(PushRequest, Verdict)> {
    let request = deps.store.push_request(a.request_id).await?;
    let request = request.filter(|r| r.tenant_id == tenant.id);
    let method = if request.as_ref().is_some_and(|r| r.passwordless) {
        "phone"
    } else {
        "push"
    };
    // Logged against the request's user: the one already read when the device is theirs, read
    // here otherwise.
    let log = |known: Option<&User>, result: SignInResult, reason: String| {
        let request = request.clone();
        let known = known.cloned();
        async move {
            let Some(r) = request else {
                return Ok::<_, CoreError>(());
            };
            let user = match known.filter(|u| u.id == r.user_id) {
                Some(u) => Some(u),
                None => deps.store.user_by_id(&r.user_id).await?,
            };
            let origin = Origin {
                tenant,
                client_id: r.client_id.as_deref(),
                client_addr: r.client_addr.as_deref(),
            };
            let name = user.as_ref().map_or("", |u| u.upn.as_str());
            log_attempt(
                deps,
                origin,
                method,
                name,
                user.as_ref(),
                result,
                Some(reason),
            )
            .await
        }
    };
    let known = known_device(deps, tenant, a.device_id, a.app_version, min_app_version).await;
    let (device, user, policy) = match known {
        Ok(k) => k,
        Err(e) => {
            log(
                None,
                SignInResult::Failure,
                format!("push answer refused: {e}"),
            )
            .await?;
            return Err(e);
        }
    };
    let Some(r) = request.clone() else {
        return Err(DeviceError::RequestNotFound.into());
    };
    let may = Eligibility::of(deps, policy, &user).await?;
    let allowed = if r.passwordless {
        may.phone()
    } else {
        may.push()
    };
    if !allowed {
        log(
            Some(&user),
            SignInResult::Failure,
            format!("{method} not allowed by the policy"),
        )
        .await?;
        return Err(CoreError::MethodNotSupported);
    }
    let key = DeviceKey::parse(&device.public_key).ok_or(DeviceError::DeviceUnknown)?;
    let phone_key = device.phone_key.as_deref().and_then(DeviceKey::parse);
    // A request that expired or was withdrawn (superseded, or its sign-in moved on) is over as
    // if expired; one settled by an answer is answered.
    let over = matches!(r.state, PushState::Expired | PushState::Withdrawn);
    let pending = Pending {
        user_id: &r.user_id,
        number: &r.number,
        expires_at: if over { Timestamp::MIN } else { r.expires_at },
        answered: !over && r.state != PushState::Pending,
        passwordless: r.passwordless,
    };
    let signer = Signer {
        user_id: &device.user_id,
        key: &key,
        phone_key: phone_key.as_ref(),
    };
    let now = deps.now();
    let verdict = match check_answer(&pending, &signer, &a.answer, now) {
        Ok(v) => v,
        Err(e) => {
            let settled = match e {
                DeviceError::WrongNumber => Some(PushState::WrongNumber),
                DeviceError::RequestExpired => Some(PushState::Expired),
                _ => None,
            };
            if let Some(st) = settled {
                let dev = (st == PushState::WrongNumber).then_some(device.id.as_str());
                // A wrong number or the expiry settles the request too: the waiting browser
                // looks again.
                if deps
                    .store
                    .settle_push_request(&r.id, st, dev, now, &[])
                    .await?
                {
                    deps.notifier
                        .requests_settled(&r.user_id, std::slice::from_ref(&r.id));
                }
            }
            let why = match e {
                DeviceError::RequestNotFound => "answer from another user's device".to_string(),
                DeviceError::RequestAnswered => "answer replayed or late".to_string(),
                ref other => format!("push answer refused: {other}"),
            };
            log(Some(&user), SignInResult::Failure, why).await?;
            return Err(e.into());
        }
    };
    let state = match verdict {
        Verdict::Approved { pin: true } => PushState::ApprovedWithPin,
        Verdict::Approved { pin: false } => PushState::Approved,
        Verdict::Denied => PushState::Denied,
        Verdict::NotMe => PushState::NotMe,
    };
    let key = throttle::push_key(&user.tenant_id, &user.upn);
    let (release, result, reason) = match verdict {
        Verdict::Approved { .. } => (Release::Clear, SignInResult::Success, "approved"),
        Verdict::Denied => (Release::One, SignInResult::Failure, "denied on the device"),
        Verdict::NotMe => (
            Release::One,
            SignInResult::Fraud,
            "reported as fraud (\"It's not me\"); push requests blocked",
        ),
    };
    if !deps
        .store
        .settle_push_request(&r.id, state, Some(&device.id), now, &[(&key, release)])
        .await?
    {
        log(
            Some(&user),
            SignInResult::Failure,
            "answer replayed or late".into(),
        )
        .await?;
        return Err(DeviceError::RequestAnswered.into());
    }
    deps.notifier
        .requests_settled(&r.user_id, std::slice::from_ref(&r.id));
    log(Some(&user), result, reason.into()).await?;
    seen(deps, &device, now).await?;
    let settled = PushRequest {
        state,
        settled_at: Some(now),
        device_id: Some(device.id),
        ..r
    };
    Ok((settled, verdict))
}

/// Removes one of the user's devices (security info, or an administrator): its signatures find no
/// key any more and it is sent nothing. False when the user has no such device.
pub async fn remove_device(deps: &Deps, user: &User, device_id: &str) -> CoreResult<bool> {
    let mine = deps
        .store
        .devices_of_user(&user.id)
        .await?
        .iter()
        .any(|d| d.id == device_id);
    let removed = mine && deps.store.delete_device(device_id).await?;
    if removed {
        deps.notifier.device_removed(&user.id, device_id);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
    };

    struct Device {
        pair: EcdsaKeyPair,
        key: DeviceKey,
    }

    fn device() -> Device {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let key = DeviceKey::parse(&URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())).unwrap();
        Device { pair, key }
    }

    // The payload's exact text is the protocol's business (countersign-proto); any text serves
    // here as long as signer and checker use the same.
    fn signed(d: &Device, decision: Decision, number: Option<&str>) -> Answer {
        answer_by(d, decision, number, true, false)
    }

    /// An answer signed over the push payload, or (`passwordless`) over the phone one.
    fn answer_by(
        d: &Device,
        decision: Decision,
        number: Option<&str>,
        pin: bool,
        passwordless: bool,
    ) -> Answer {
        let text = format!("answer req_1 {decision:?} {number:?} {pin}");
        let phone = format!("phone-{text}");
        let over = if passwordless { &phone } else { &text };
        let sig = d.pair.sign(&SystemRandom::new(), over.as_bytes()).unwrap();
        Answer {
            decision,
            number: number.map(str::to_string),
            pin,
            signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
            signed: text,
            signed_passwordless: phone,
        }
    }

    /// A new key must be a point of the curve: one that is not is a bad key (400), not a bad
    /// signature; a real key with a wrong signature is a bad signature.
    #[test]
    fn a_new_key_off_the_curve_is_refused_as_a_key() {
        let d = device();
        let sig = d.pair.sign(&SystemRandom::new(), b"hello").unwrap();
        let sig = URL_SAFE_NO_PAD.encode(sig.as_ref());
        let mut off = vec![0x04];
        off.extend([0x01; 64]);
        let r = proved_key("public_key", &URL_SAFE_NO_PAD.encode(&off), "hello", &sig);
        assert!(
            matches!(r, Err(CoreError::Invalid { ref field, .. }) if field == "public_key"),
            "{r:?}"
        );
        let r = proved_key("public_key", &d.key.to_base64(), "other", &sig);
        assert!(
            matches!(r, Err(CoreError::Device(DeviceError::BadSignature))),
            "{r:?}"
        );
        assert!(proved_key("public_key", &d.key.to_base64(), "hello", &sig).is_ok());
    }

    #[test]
    fn only_the_phone_key_with_the_app_lock_answers_a_passwordless_request() {
        let (d, phone) = (device(), device());
        let mut p = pending("42");
        p.passwordless = true;
        let push_only = Signer {
            user_id: "u1",
            key: &d.key,
            phone_key: None,
        };
        let approve = answer_by(&phone, Decision::Approve, Some("42"), true, true);
        assert_eq!(
            check_answer(&p, &push_only, &approve, 50),
            Err(DeviceError::PhoneSignInNotEnabled)
        );
        let both = Signer {
            phone_key: Some(&phone.key),
            ..push_only
        };
        assert_eq!(
            check_answer(&p, &both, &approve, 50),
            Ok(Verdict::Approved { pin: true })
        );
        // The device key over the push payload is no phone answer, nor is the phone key's push
        // payload.
        for wrong in [
            answer_by(&d, Decision::Approve, Some("42"), true, false),
            answer_by(&d, Decision::Approve, Some("42"), true, true),
            answer_by(&phone, Decision::Approve, Some("42"), true, false),
        ] {
            assert_eq!(
                check_answer(&p, &both, &wrong, 50),
                Err(DeviceError::BadSignature)
            );
        }
        let no_pin = answer_by(&phone, Decision::Approve, Some("42"), false, true);
        assert_eq!(
            check_answer(&p, &both, &no_pin, 50),
            Err(DeviceError::PinRequired)
        );
        // A denial needs no App Lock.
        let deny = answer_by(&phone, Decision::Deny, None, false, true);
        assert_eq!(check_answer(&p, &both, &deny, 50), Ok(Verdict::Denied));
    }

    fn pending(number: &str) -> Pending<'_> {
        Pending {
            user_id: "u1",
            number,
            expires_at: 100,
            answered: false,
            passwordless: false,
        }
    }

    #[test]
    fn the_right_number_from_the_users_device_approves() {
        let d = device();
        let signer = Signer {
            user_id: "u1",
            key: &d.key,
            phone_key: None,
        };
        let a = signed(&d, Decision::Approve, Some("42"));
        assert_eq!(
            check_answer(&pending("42"), &signer, &a, 50),
            Ok(Verdict::Approved { pin: true })
        );
        let deny = signed(&d, Decision::Deny, None);
        assert_eq!(
            check_answer(&pending("42"), &signer, &deny, 50),
            Ok(Verdict::Denied)
        );
        let not_me = signed(&d, Decision::NotMe, None);
        assert_eq!(
            check_answer(&pending("42"), &signer, &not_me, 50),
            Ok(Verdict::NotMe)
        );
    }

    #[test]
    fn a_wrong_or_missing_number_is_refused() {
        let d = device();
        let signer = Signer {
            user_id: "u1",
            key: &d.key,
            phone_key: None,
        };
        for typed in [Some("24"), Some("042"), Some(""), None] {
            let a = signed(&d, Decision::Approve, typed);
            assert_eq!(
                check_answer(&pending("42"), &signer, &a, 50),
                Err(DeviceError::WrongNumber),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn another_key_a_changed_answer_or_a_der_signature_is_refused() {
        let (d, other) = (device(), device());
        let a = signed(&other, Decision::Approve, Some("42"));
        let signer = Signer {
            user_id: "u1",
            key: &d.key,
            phone_key: None,
        };
        assert_eq!(
            check_answer(&pending("42"), &signer, &a, 50),
            Err(DeviceError::BadSignature)
        );
        // A denial's signature does not carry an approval.
        let mut tampered = signed(&d, Decision::Deny, None);
        tampered.signed = signed(&d, Decision::Approve, Some("42")).signed;
        tampered.decision = Decision::Approve;
        tampered.number = Some("42".into());
        assert_eq!(
            check_answer(&pending("42"), &signer, &tampered, 50),
            Err(DeviceError::BadSignature)
        );
        let der_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let der_key = DeviceKey::parse(&URL_SAFE_NO_PAD.encode(der_pair.public_key().as_ref()));
        let der_key = der_key.unwrap();
        let text = "payload";
        let der = der_pair
            .sign(&SystemRandom::new(), text.as_bytes())
            .unwrap();
        assert!(!der_key.verifies(text, &URL_SAFE_NO_PAD.encode(der.as_ref())));
        assert!(!d.key.verifies(text, "not base64!"));
    }

    #[test]
    fn another_users_device_finds_nothing_and_learns_nothing() {
        let d = device();
        let a = signed(&d, Decision::Approve, Some("42"));
        let stranger = Signer {
            user_id: "u2",
            key: &d.key,
            phone_key: None,
        };
        let mut p = pending("42");
        p.answered = true;
        assert_eq!(
            check_answer(&p, &stranger, &a, 500),
            Err(DeviceError::RequestNotFound)
        );
    }

    #[test]
    fn an_answered_or_expired_request_is_refused_after_the_signature() {
        let (d, other) = (device(), device());
        let signer = Signer {
            user_id: "u1",
            key: &d.key,
            phone_key: None,
        };
        let a = signed(&d, Decision::Approve, Some("42"));
        let mut p = pending("42");
        p.answered = true;
        assert_eq!(
            check_answer(&p, &signer, &a, 50),
            Err(DeviceError::RequestAnswered)
        );
        let forged = signed(&other, Decision::Approve, Some("42"));
        assert_eq!(
            check_answer(&p, &signer, &forged, 50),
            Err(DeviceError::BadSignature)
        );
        let p = pending("42");
        assert_eq!(
            check_answer(&p, &signer, &a, 100),
            Err(DeviceError::RequestExpired)
        );
        assert!(check_answer(&p, &signer, &a, 99).is_ok());
    }

    #[test]
    fn keys_must_be_uncompressed_p256_points() {
        let d = device();
        assert_eq!(DeviceKey::parse(&d.key.to_base64()), Some(d.key.clone()));
        let mut compressed = URL_SAFE_NO_PAD.decode(d.key.to_base64()).unwrap();
        compressed[0] = 0x02;
        assert!(DeviceKey::parse(&URL_SAFE_NO_PAD.encode(&compressed)).is_none());
        assert!(DeviceKey::parse(&URL_SAFE_NO_PAD.encode([4u8; 33])).is_none());
        assert!(DeviceKey::parse("***").is_none());
        // A well-formed encoding of a point not on the curve verifies nothing.
        let mut off_curve = URL_SAFE_NO_PAD.decode(d.key.to_base64()).unwrap();
        off_curve[64] ^= 1;
        let bad = DeviceKey::parse(&URL_SAFE_NO_PAD.encode(&off_curve)).unwrap();
        let a = signed(&d, Decision::Deny, None);
        assert!(!bad.verifies(&a.signed, &a.signature));
    }

    #[test]
    fn numbers_have_the_digits_asked_for_and_use_them_all() {
        let rng = OsRandom;
        for digits in 2..=6u8 {
            let n = number(&rng, digits);
            assert_eq!(n.len(), usize::from(digits));
            assert!(n.bytes().all(|b| b.is_ascii_digit()));
        }
        // Two digits: every value from 00 to 99 turns up (leading zeros included).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5_000 {
            seen.insert(number(&rng, 2));
        }
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least("1.10.0", "1.9"));
        assert!(version_at_least("2.0", "2.0.0"));
        assert!(version_at_least("1.4.0-beta+7", "1.4"));
        assert!(!version_at_least("1.3.9", "1.4.0"));
        assert!(!version_at_least("one", "0.1"));
        assert!(!version_at_least("", "0"));
    }

    #[test]
    fn states_round_trip_and_settle_only_as_their_time_allows() {
        for st in PushState::ALL {
            assert_eq!(PushState::parse(st.as_str()), Some(st));
        }
        assert!(PushState::Approved.may_settle(100, 99));
        assert!(!PushState::Approved.may_settle(100, 100));
        assert!(!PushState::Expired.may_settle(100, 99));
        assert!(PushState::Expired.may_settle(100, 100));
        assert!(PushState::Withdrawn.may_settle(100, 1_000));
        assert!(!PushState::Pending.may_settle(100, 1));
    }

    /// A device as the protocol registers one: `signed` stands for the register payload.
    struct Asking {
        dev: Device,
        code: String,
        key: String,
        signed: String,
        signature: String,
    }

    fn asking(code: &str) -> Asking {
        let d = device();
        let signed = format!("register {code}");
        let sig = d
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap();
        Asking {
            key: d.key.to_base64(),
            dev: d,
            code: code.into(),
            signed,
            signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
        }
    }

    fn registration(a: &Asking) -> Registration<'_> {
        Registration {
            code: &a.code,
            public_key: &a.key,
            signature: &a.signature,
            signed: &a.signed,
            name: "Alice's laptop",
            app_version: "1.4.0",
            platform: "linux",
        }
    }

    #[tokio::test]
    async fn an_activation_code_registers_one_device_to_its_user_once() {
        let f = crate::testing::fixture();
        let (t, u) = crate::testing::contoso_alice(&f.deps, Some("violet-tuba-engine")).await;
        let code = begin_activation(&f.deps, &t, &u).await.unwrap();
        let a = asking(&code);
        // Refusals that need no storage leave the code usable.
        let mut forged = registration(&a);
        let other = asking(&code);
        forged.signature = &other.signature;
        let r = register(&f.deps, &t, &forged, None).await;
        assert!(matches!(
            r,
            Err(CoreError::Device(DeviceError::BadSignature))
        ));
        let r = register(&f.deps, &t, &registration(&a), Some("2.0")).await;
        assert!(matches!(
            r,
            Err(CoreError::Device(DeviceError::AppVersionUnsupported { .. }))
        ));
        let mut bad = registration(&a);
        bad.public_key = "BAAA";
        let r = register(&f.deps, &t, &bad, None).await;
        assert!(matches!(r, Err(CoreError::Invalid { field, .. }) if field == "public_key"));
        let mut bad = registration(&a);
        bad.name = "evil\u{202e}name";
        let r = register(&f.deps, &t, &bad, None).await;
        assert!(matches!(r, Err(CoreError::Invalid { field, .. }) if field == "name"));
        // The good one registers, bound to alice, with the key it proved.
        let d = register(&f.deps, &t, &registration(&a), Some("1.4"))
            .await
            .unwrap();
        assert_eq!(
            (d.user_id.as_str(), d.tenant_id.as_str()),
            (u.id.as_str(), t.id.as_str())
        );
        assert_eq!(d.public_key, a.dev.key.to_base64());
        // Once.
        let again = asking(&code);
        let r = register(&f.deps, &t, &registration(&again), None).await;
        assert!(matches!(
            r,
            Err(CoreError::Device(DeviceError::ActivationInvalid))
        ));
        assert_eq!(f.deps.store.devices_of_user(&u.id).await.unwrap(), vec![d]);
    }

    #[tokio::test]
    async fn activation_codes_expire_and_follow_the_policy() {
        use crate::policy::{self, Actor, State};
        let f = crate::testing::fixture();
        let (t, u) = crate::testing::contoso_alice(&f.deps, Some("violet-tuba-engine")).await;
        let code = begin_activation(&f.deps, &t, &u).await.unwrap();
        f.clock.advance(ACTIVATION_TTL);
        let a = asking(&code);
        let r = register(&f.deps, &t, &registration(&a), None).await;
        assert!(matches!(
            r,
            Err(CoreError::Device(DeviceError::ActivationInvalid))
        ));
        policy::change(
            &f.deps,
            &t,
            &Actor::Operator("test".into()),
            "test",
            |mut p| {
                p.authenticator.method.state = State::Disabled;
                Ok(p)
            },
        )
        .await
        .unwrap();
        let r = begin_activation(&f.deps, &t, &u).await;
        assert!(matches!(r, Err(CoreError::MethodNotSupported)));
    }
}
