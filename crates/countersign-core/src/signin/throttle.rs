//! Throttling of sign-in attempts, per account name, per client address and per user's
//! verification codes (NIST SP 800-63B §5.2.2). Locks are derived from the failure count and the
//! time of the last failure, so refusing a locked key costs one read and no hashing.
//!
//! An attempt is counted *before* it is checked: the store reserves it atomically (as a failure,
//! given back when the attempt succeeds), so a burst of parallel guesses can never have more
//! checked than the policy allows — the race behind Keycloak's CVE-2024-4629, where every request
//! of a burst read the count before any failure was written.
//!
//! Accounts are keyed by the *typed* name, whether or not such an account exists, so a lock never
//! tells an attacker anything about which accounts exist.

use crate::clock::Timestamp;
use crate::model::ThrottleState;

/// How many failures lock, for how long, and when a lock becomes permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures allowed before the first lock.
    pub threshold: u32,
    /// Length of the first lock in seconds; each further failure doubles it.
    pub base_delay: i64,
    pub max_delay: i64,
    /// After this many consecutive failures the key stays locked until an administrator unlocks it.
    pub hard_limit: Option<u32>,
    /// Failures older than this many seconds are forgotten (a permanent lock is not).
    pub decay_after: Option<i64>,
}

/// Every policy forgets failures after at most this long without one, and every temporary lock
/// ends sooner: a counter this old is the same as none, and the store purges it — for names that
/// were only typed and real accounts alike, so that what is kept says nothing about which exist.
pub const FORGOTTEN_AFTER: i64 = 24 * 3600;

/// Failures at which an account is locked until an administrator unlocks it; such counters are
/// never purged.
pub const PERMANENT_AT: u32 = 100;

impl LockoutPolicy {
    /// Per account: 10 tries, then 1 min, 2 min, 4 min … up to 1 h; permanently locked at 100;
    /// failures forgotten after a day without one.
    pub const ACCOUNT: LockoutPolicy = LockoutPolicy {
        threshold: 10,
        base_delay: 60,
        max_delay: 3600,
        hard_limit: Some(PERMANENT_AT),
        decay_after: Some(FORGOTTEN_AFTER),
    };
    /// Per client address: looser (addresses are shared behind NAT), forgotten after an hour.
    pub const ADDRESS: LockoutPolicy = LockoutPolicy {
        threshold: 50,
        base_delay: 60,
        max_delay: 3600,
        hard_limit: None,
        decay_after: Some(3600),
    };

    /// Whether `state` is locked at `now`.
    pub fn lock(&self, state: &ThrottleState, now: Timestamp) -> Lock {
        if let Some(hard) = self.hard_limit {
            if state.failures >= hard {
                return Lock::Permanent;
            }
        }
        if let Some(decay) = self.decay_after {
            if now - state.last_failure_at > decay {
                return Lock::Open;
            }
        }
        if state.failures < self.threshold {
            return Lock::Open;
        }
        let doublings = (state.failures - self.threshold).min(30);
        let delay = self
            .base_delay
            .saturating_mul(1i64 << doublings)
            .min(self.max_delay);
        let until = state.last_failure_at + delay;
        if now < until {
            Lock::Until(until)
        } else {
            Lock::Open
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Open,
    Until(Timestamp),
    Permanent,
}

impl Lock {
    pub fn is_locked(self) -> bool {
        !matches!(self, Lock::Open)
    }
}

/// What an attempt that succeeded gives back of its reservation under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Forget the key's failures: a success ends a run of consecutive failures (accounts, codes).
    Clear,
    /// Take back just this attempt: the key's other failures stand (client addresses, shared by
    /// many people).
    One,
}

/// The throttling key of a typed account name in a tenant.
pub fn account_key(tenant_id: &str, typed_name: &str) -> String {
    format!("acct:{tenant_id}:{typed_name}")
}

/// The throttling key of a user's verification codes (all their OATH tokens together).
pub fn code_key(tenant_id: &str, upn: &str) -> String {
    format!("otp:{}", account_key(tenant_id, upn))
}

/// The throttling key of a user's push requests: each request sent counts as a failure until it
/// is approved (or denied: a person's answer), so unanswered requests and wrong numbers lock the
/// account's push approvals like wrong passwords lock its password.
pub fn push_key(tenant_id: &str, upn: &str) -> String {
    format!("push:{}", account_key(tenant_id, upn))
}

/// Every lock an account can be under, as (what it locks, key, policy): what `admin user show`
/// lists and `admin user unlock` lifts.
pub fn account_locks(tenant_id: &str, upn: &str) -> [(&'static str, String, LockoutPolicy); 3] {
    [
        (
            "password",
            account_key(tenant_id, upn),
            LockoutPolicy::ACCOUNT,
        ),
        (
            "verification codes",
            code_key(tenant_id, upn),
            LockoutPolicy::ACCOUNT,
        ),
        (
            "push approvals",
            push_key(tenant_id, upn),
            LockoutPolicy::ACCOUNT,
        ),
    ]
}

/// The throttling key of a client address.
pub fn address_key(addr: &str) -> String {
    format!("addr:{addr}")
}

/// Whether a plain read already shows one of `keys` locked; the reason (for the sign-in log) if
/// so. Such an attempt is refused without a write, so a locked account stays cheap to refuse.
pub async fn locked_now(
    deps: &crate::Deps,
    keys: &[(&str, LockoutPolicy)],
) -> crate::error::CoreResult<Option<String>> {
    let now = deps.now();
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let states = deps.store.throttle_states(&names).await?;
    for ((key, policy), st) in keys.iter().zip(&states) {
        let lock = policy.lock(st, now);
        if lock.is_locked() {
            return Ok(Some(format!("{} locked ({lock:?})", key_kind(key))));
        }
    }
    Ok(None)
}

/// Reserves an attempt under `keys` before it is checked (see `throttle`); `Err` holds the reason
/// (for the sign-in log) when a key is locked: seen so in a plain read (`locked_now`), or by the
/// atomic reservation, so that a burst cannot outrun the count.
pub async fn reserve(
    deps: &crate::Deps,
    keys: &[(&str, LockoutPolicy)],
) -> crate::error::CoreResult<Result<(), String>> {
    if let Some(reason) = locked_now(deps, keys).await? {
        return Ok(Err(reason));
    }
    if deps.store.reserve_attempt(keys, deps.now()).await? {
        Ok(Ok(()))
    } else {
        Ok(Err("locked by attempts in flight".into()))
    }
}

fn key_kind(key: &str) -> &'static str {
    if key.starts_with("addr:") {
        "client address"
    } else {
        "account"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(failures: u32, last: i64) -> ThrottleState {
        ThrottleState {
            failures,
            last_failure_at: last,
        }
    }

    #[test]
    fn below_threshold_is_open() {
        let p = LockoutPolicy::ACCOUNT;
        assert_eq!(p.lock(&st(9, 1000), 1000), Lock::Open);
    }

    #[test]
    fn delays_grow_and_expire() {
        let p = LockoutPolicy::ACCOUNT;
        assert_eq!(p.lock(&st(10, 1000), 1000), Lock::Until(1060));
        assert_eq!(p.lock(&st(10, 1000), 1060), Lock::Open);
        assert_eq!(p.lock(&st(11, 1000), 1000), Lock::Until(1120));
        assert_eq!(p.lock(&st(12, 1000), 1000), Lock::Until(1240));
        // capped at an hour
        assert_eq!(p.lock(&st(40, 1000), 1000), Lock::Until(4600));
    }

    #[test]
    fn hard_limit_is_permanent() {
        let p = LockoutPolicy::ACCOUNT;
        assert_eq!(p.lock(&st(100, 1000), 1_000_000_000), Lock::Permanent);
        assert_eq!(p.lock(&st(99, 1000), 1_000_000_000), Lock::Open);
    }

    #[test]
    fn address_failures_decay() {
        let p = LockoutPolicy::ADDRESS;
        assert!(p.lock(&st(60, 1000), 1001).is_locked());
        assert_eq!(p.lock(&st(60, 1000), 1000 + 3601), Lock::Open);
    }
}

#[cfg(test)]
mod forgetting {
    use super::*;

    /// What the store's purge relies on: a counter older than `FORGOTTEN_AFTER` is open and
    /// counts afresh under every policy, unless permanently locked.
    #[test]
    fn every_policy_forgets_within_the_purge_age() {
        for p in [LockoutPolicy::ACCOUNT, LockoutPolicy::ADDRESS] {
            assert!(p.decay_after.is_some_and(|d| d <= FORGOTTEN_AFTER));
            assert!(p.max_delay < FORGOTTEN_AFTER);
            assert!(p.hard_limit.is_none_or(|h| h == PERMANENT_AT));
        }
        let old = |failures| ThrottleState {
            failures,
            last_failure_at: 0,
        };
        let later = FORGOTTEN_AFTER + 1;
        assert_eq!(LockoutPolicy::ACCOUNT.lock(&old(99), later), Lock::Open);
        assert_eq!(
            LockoutPolicy::ACCOUNT.lock(&old(PERMANENT_AT), later),
            Lock::Permanent,
            "a permanent lock is not forgotten"
        );
    }
}
