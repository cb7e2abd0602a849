//! The one decision: from the account (what it registered and the policy lets it use) and the
//! proofs so far, the next step and the methods on offer ([`decide`]); and reading the account
//! behind a name or a proof.

use super::*;
use crate::error::CoreResult;
use crate::model::OathKind;
use crate::model::{SignInFlow, Tenant, User};
use crate::policy::{self, Eligibility, MethodsPolicy};
use crate::Deps;

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
pub struct Outcome {
    pub next: Next,
    /// The methods "Other ways to sign in" lists for this step.
    pub offered: Vec<Method>,
}

/// The one decision: given the account, the proofs and the methods this browser used last, the
/// next step and what is on offer. With no proof yet: a first-factor method (or no way to sign
/// in). After one: done, unless a second factor is due — because the tenant or the application
/// requires one, or because the account has one (whoever registered a second factor uses it) —
/// then a second-factor method not used yet, or registration when the account has none. A live
/// Temporary Access Pass is the default wherever it is offered: an administrator issued it
/// because the person needs it now (a new employee, a lost phone).
pub fn decide(account: &Account, state: &FlowState, remembered: &[Method]) -> Outcome {
    let pick = |offered: Vec<Method>, none: Next| {
        let next = [Method::Tap]
            .iter()
            .chain(remembered)
            .find(|m| offered.contains(m))
            .or(offered.first())
            .map_or(none, |m| Next::Method(*m));
        Outcome { next, offered }
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
        return Outcome {
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
    let tokens = deps.store.oath_token_list(&user.id).await?;
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
