//! Sign-in requests as the terminal shows them: fetched from every account's server, found by
//! the start of their id, described in one line, and what became of an answer.

use anyhow::bail;
use countersign_authenticator::device;
use countersign_authenticator::protocol::DeviceAccount;
use countersign_authenticator::Vault;
use countersign_proto::device::SignInRequest;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) type Found = Vec<(DeviceAccount, SignInRequest)>;

/// The requests waiting for every registered account. A server that can't be reached is
/// reported and the others are still asked.
pub(super) fn fetch_requests(vault: &Vault) -> anyhow::Result<Found> {
    let client = device::Client::new();
    let mut found = Vec::new();
    for a in &vault.devices {
        match client.pending(a) {
            Ok(list) => found.extend(list.into_iter().map(|r| (a.clone(), r))),
            Err(e) => eprintln!("{}: {e}", a.label()),
        }
    }
    Ok(found)
}

/// What every sign-in request's id starts with.
pub(super) const REQUEST_ID_START: &str = "req_";

/// The one pending request whose id is or starts with `prefix`: at least 6 characters after the
/// `req_` every id starts with, which may be left out.
pub(super) fn one_request(
    vault: &Vault,
    prefix: &str,
) -> anyhow::Result<(DeviceAccount, SignInRequest)> {
    let prefix = prefix.trim();
    let distinct = |id: &str| id.strip_prefix(REQUEST_ID_START).unwrap_or(id).to_string();
    let given = distinct(prefix);
    if given.len() < 6 {
        bail!("give at least the first 6 characters of the request's id after 'req_' (see `requests`)");
    }
    let mut matching: Vec<_> = fetch_requests(vault)?
        .into_iter()
        .filter(|(_, r)| distinct(&r.id).starts_with(&given))
        .collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => bail!("no waiting sign-in request starts with '{prefix}' (it may have expired or been answered)"),
        _ => bail!("more than one request starts with '{prefix}'; give more of its id"),
    }
}

/// One request as a line: what a person needs to decide.
pub(super) fn describe(a: &DeviceAccount, r: &SignInRequest) -> String {
    let app = r.application.as_deref().unwrap_or("an application");
    let place = match &r.location {
        Some(l) => {
            let named: Vec<&str> = [l.city.as_deref(), l.country.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if named.is_empty() {
                format!(" from {}", l.address)
            } else {
                format!(" from {} ({})", named.join(", "), l.address)
            }
        }
        None => String::new(),
    };
    let short: String = r.id.chars().take(10).collect();
    let left = (r.expires_at - now() as i64).max(0);
    // A phone sign-in request signs the person in with no password: it says so.
    let how = if r.passwordless {
        " without a password (phone sign-in)"
    } else {
        ""
    };
    format!(
        "{short}  {}: sign in to {app}{place}{how} at {} — expires in {left} s; enter the {}-digit number shown",
        a.label(),
        clock_time(r.created_at),
        r.digits
    )
}

/// `HH:MM:SS UTC` of a Unix time.
pub(super) fn clock_time(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

pub(super) fn result_text(r: countersign_proto::device::AnswerResult, a: &DeviceAccount) -> String {
    use countersign_proto::device::AnswerResult as R;
    match r {
        R::Approved => format!("Approved: {} is signing in", a.upn),
        R::Denied => "Denied: the sign-in was refused".into(),
        R::Reported => {
            "Reported: the sign-in was refused and your organization was told it wasn't you".into()
        }
    }
}
