//! Sign-in requests: their states, sending one for a flow (the policy's mode, the fatigue limit and
//! lockout, the risk rules, one write with the flow), what a device is shown, withdrawal and expiry.

use super::*;
use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult};
use crate::model::{SignInFlow, SignInResult, Tenant, User};
use crate::policy::{Eligibility, MethodsPolicy};
use crate::secret::{ct_eq, token_digest};
use crate::signin::context::SignInContext;
use crate::signin::throttle::{self, LockoutPolicy};
use crate::signin::{log_attempt, Origin};
use crate::Deps;

/// How long a push request is kept after its expiry: a late answer is told the request expired,
/// rather than that it never existed. The store purges it afterwards.
pub const REQUESTS_KEPT_FOR: Timestamp = 24 * 3600;

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
