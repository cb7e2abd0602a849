//! Sign-in flows (one browser's sign-in in progress) and browser sessions (after it succeeded):
//! creation, lookup with idle and absolute timeouts, and sign-out. Cookies carry 256-bit random
//! values; the store keeps only their digests.

use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult};
use crate::model::{AuthorizeRequest, Session, SignInFlow, Tenant, User};
use crate::secret::token_digest;
use crate::Deps;

/// How often, at most, a session's last-seen time is written back: once a minute is precise
/// enough for an idle timeout measured in hours, and spares the store a write per request.
const TOUCH_EVERY: i64 = 60;

/// The shortest idle timeout allowed (checked in the configuration).
pub const MIN_IDLE_TIMEOUT: i64 = 60;

/// How stale a last-seen time may get before it is written back: a tenth of the idle timeout,
/// at most a minute, so that an active session is never taken for an idle one.
fn touch_every(idle: i64) -> i64 {
    (idle / 10).clamp(1, TOUCH_EVERY)
}

/// How recent a sign-in must be to add or delete a sign-in method.
pub const RECENT_AUTH: i64 = 600;

/// Whether this session may add or delete sign-in methods now: its sign-in is at most ten minutes
/// old, and was made with a second factor when the user has one — so a stolen session, or a
/// stolen password alone, cannot bind the attacker's authenticator (NIST SP 800-63B §6.1.2.1).
/// Otherwise the user signs in again first.
pub fn may_change_methods(deps: &Deps, s: &Session, has_second_factor: bool) -> bool {
    let fresh = deps.now() - s.auth_time <= RECENT_AUTH;
    fresh && (!has_second_factor || s.amr.iter().any(|m| m == "mfa"))
}

/// Ends the user's other sessions and revokes their tokens after a change to their sign-in
/// methods; the session that made the change (`keep_cookie`) stays.
pub async fn end_other_access(deps: &Deps, user: &User, keep_cookie: &str) -> CoreResult<u64> {
    let keep = token_digest(keep_cookie);
    Ok(deps
        .store
        .revoke_user_access(&user.id, deps.now(), Some(&keep))
        .await?)
}

/// Starts a sign-in flow. With an authorization request, its `login_hint` fills in the name
/// (after the same checks as a typed one; a bad hint is ignored and the person types) and the
/// application's MFA requirement (`require_mfa`, or `acr_values` asking for MFA) is kept.
pub async fn start_flow(
    deps: &Deps,
    tenant: &Tenant,
    request: Option<AuthorizeRequest>,
    mfa_required: bool,
    remembered: &[crate::signin::flow::Method],
) -> CoreResult<SignInFlow> {
    let now = deps.now();
    let hint = request.as_ref().and_then(|r| r.login_hint.clone());
    let mut f = SignInFlow {
        id: deps.secret_token(),
        tenant_id: tenant.id.clone(),
        csrf: deps.secret_token(),
        request,
        state: crate::signin::flow::new_state(mfa_required),
        return_to: None,
        created_at: now,
        expires_at: now + deps.settings.flow_ttl,
    };
    if let Some(h) = hint {
        match crate::signin::flow::identify(deps, tenant, &mut f, &h, remembered).await {
            Ok(_) | Err(CoreError::Invalid { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    deps.store.insert_flow(&f).await?;
    Ok(f)
}

/// A flow for a bare visit of the sign-in page, **not stored**: visiting the page writes nothing
/// (a crawler or a flood of visits costs no storage). Its anti-CSRF token is derived from its id,
/// the cookie value, which a page of another site can neither read nor set; the flow is stored,
/// under a new id, when the person posts a name ([`store_visit`]).
pub fn visit(deps: &Deps, tenant: &Tenant) -> SignInFlow {
    visit_with_id(deps, tenant, format!("{VISIT}{}", deps.secret_token()))
}

/// What a bare visit's flow id starts with, and no stored flow's does (theirs are
/// `secret_token`s: base64url): a visit's posts need no read to know that nothing is stored.
const VISIT: char = '.';

/// The unstored flow of a bare visit whose cookie is `id`.
pub fn visit_with_id(deps: &Deps, tenant: &Tenant, id: String) -> SignInFlow {
    let now = deps.now();
    SignInFlow {
        csrf: token_digest(&format!("visit-csrf:{id}")),
        id,
        tenant_id: tenant.id.clone(),
        request: None,
        state: crate::signin::flow::new_state(false),
        return_to: None,
        created_at: now,
        expires_at: now + deps.settings.flow_ttl,
    }
}

/// Stores a visit's flow once its first form was posted, under a new id and anti-CSRF token:
/// an id the browser arrived with (possibly planted by someone else) never carries a sign-in.
pub async fn store_visit(deps: &Deps, mut flow: SignInFlow) -> CoreResult<SignInFlow> {
    flow.id = deps.secret_token();
    flow.csrf = deps.secret_token();
    deps.store.insert_flow(&flow).await?;
    Ok(flow)
}

/// Loads a live flow of this tenant; an unknown, foreign or expired one is `FlowExpired`.
pub async fn load_flow(deps: &Deps, tenant: &Tenant, id: &str) -> CoreResult<SignInFlow> {
    if id.starts_with(VISIT) {
        return Err(CoreError::FlowExpired);
    }
    match deps.store.flow_by_id(id).await? {
        // A WebAuthn ceremony's row (its id is the browser's to post back) is never a flow.
        Some(f)
            if f.tenant_id == tenant.id
                && deps.now() < f.expires_at
                && !matches!(f.state.step, crate::signin::flow::Step::Ceremony { .. }) =>
        {
            Ok(f)
        }
        _ => Err(CoreError::FlowExpired),
    }
}

/// A new session for `user`, ending the sign-in flow `ending_flow` in the same write; returns the
/// cookie value (shown once) and the stored record.
pub async fn create_session(
    deps: &Deps,
    user: &User,
    amr: Vec<String>,
    auth_time: Timestamp,
    ending_flow: Option<&str>,
) -> CoreResult<(String, Session)> {
    let token = deps.secret_token();
    let now = deps.now();
    let s = Session {
        id_digest: token_digest(&token),
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        csrf: deps.secret_token(),
        auth_time,
        amr,
        created_at: now,
        last_seen_at: now,
    };
    deps.store.insert_session(&s, ending_flow).await?;
    Ok((token, s))
}

/// The live session behind a cookie value together with its user, or `None` when the cookie is
/// unknown, belongs to another tenant, has timed out, or its user is gone or disabled.
pub async fn load_session(
    deps: &Deps,
    tenant: &Tenant,
    cookie: &str,
) -> CoreResult<Option<(Session, User)>> {
    let digest = token_digest(cookie);
    let Some(s) = deps.store.session_by_digest(&digest).await? else {
        return Ok(None);
    };
    let now = deps.now();
    let idle_over = now - s.last_seen_at >= deps.settings.session_idle;
    let absolute_over = now - s.created_at >= deps.settings.session_absolute;
    if idle_over || absolute_over {
        deps.store.delete_session(&digest).await?;
        return Ok(None);
    }
    if s.tenant_id != tenant.id {
        return Ok(None);
    }
    let user = match deps.store.user_by_id(&s.user_id).await? {
        Some(u) if u.enabled => u,
        _ => {
            deps.store.delete_session(&digest).await?;
            return Ok(None);
        }
    };
    if now - s.last_seen_at >= touch_every(deps.settings.session_idle) {
        deps.store.touch_session(&digest, now).await?;
    }
    Ok(Some((s, user)))
}

/// Ends the session behind a cookie value on the server.
pub async fn end_session(deps: &Deps, cookie: &str) -> CoreResult<()> {
    deps.store.delete_session(&token_digest(cookie)).await?;
    Ok(())
}
