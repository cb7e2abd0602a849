//! OATH verification codes (RFC 6238 TOTP) for software tokens (authenticator apps enrolled from
//! a QR code) and hardware tokens (imported by an administrator, activated by the user): the
//! token records, enrolment, and the check of a code — the current time step ±1, each step
//! accepted once per token (atomically, in the store), three wrong codes lock the token until the
//! step ends, and per-user failures throttled like passwords.

use crate::clock::Timestamp;
use crate::error::{CoreError, CoreResult};
use crate::model::{OathKind, Tenant, User};
use crate::secret::{ct_eq, Secret};
use crate::signin::throttle::{self, LockoutPolicy};
use crate::Deps;

/// At most this many OATH tokens (software and hardware together) per user.
pub const MAX_TOKENS_PER_USER: usize = 5;
/// Wrong codes allowed per token within one time step.
pub const WRONG_CODES_PER_STEP: u32 = 3;
/// Accepted clock drift, in time steps each way (RFC 6238 §5.2 recommends at most one).
pub const DRIFT_STEPS: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OathAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl OathAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            "SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }
    fn totp(self) -> totp_rs::Algorithm {
        match self {
            Self::Sha1 => totp_rs::Algorithm::SHA1,
            Self::Sha256 => totp_rs::Algorithm::SHA256,
            Self::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// One OATH token of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OathToken {
    pub id: String,
    pub tenant_id: String,
    /// The owner (an imported hardware token names its user in the CSV).
    pub user_id: String,
    pub kind: OathKind,
    /// What the user sees ("Authenticator app", "Hardware token 1234567").
    pub name: String,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// Base32 secret (RFC 4648, no padding).
    pub secret: Secret,
    pub algorithm: OathAlgorithm,
    pub digits: u32,
    pub period: u32,
    /// Usable for sign-in: a software token after its enrolment code, a hardware token after the
    /// user activated it.
    pub active: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The last accepted time step: a step at or below it is a replay.
    pub last_step: i64,
    /// Wrong codes counted against the token in its latest failing time step.
    pub failures: StepFailures,
}

/// A token as it is listed: everything but its secret and its counters, so that showing a user's
/// methods or an administrator's list opens no secret (the store leaves them sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OathTokenInfo {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub kind: OathKind,
    pub name: String,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl OathToken {
    /// What a list shows of this token.
    pub fn info(&self) -> OathTokenInfo {
        OathTokenInfo {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            user_id: self.user_id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            serial: self.serial.clone(),
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            active: self.active,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// Wrong codes in one time step: three lock the token until the step ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepFailures {
    pub step: i64,
    pub count: u32,
}

impl OathToken {
    fn secret_bytes(&self) -> CoreResult<Vec<u8>> {
        decode_base32(self.secret.expose())
    }

    /// The code of time step `step` (RFC 6238 §4).
    pub fn code_at_step(&self, step: i64) -> CoreResult<String> {
        let totp = totp_rs::TOTP::new(
            self.algorithm.totp(),
            self.digits as usize,
            0,
            self.period as u64,
            self.secret_bytes()?,
        )
        .map_err(|e| CoreError::invalid("secret key", e.to_string()))?;
        Ok(totp.generate(step.max(0) as u64 * self.period as u64))
    }

    /// Wrong codes counted in time step `step`.
    pub fn failures_in(&self, step: i64) -> u32 {
        if self.failures.step == step {
            self.failures.count
        } else {
            0
        }
    }

    pub fn step_at(&self, now: Timestamp) -> i64 {
        now.max(0) / self.period.max(1) as i64
    }

    /// The `otpauth://` URI an authenticator app enrols from (Google Authenticator key URI format).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let label = format!("{}:{}", enc(issuer), enc(account)).replace('+', "%20");
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            self.secret.expose(),
            enc(issuer).replace('+', "%20"),
            self.algorithm.as_str(),
            self.digits,
            self.period
        )
    }
}

pub fn decode_base32(s: &str) -> CoreResult<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
        .collect::<String>()
        .to_ascii_uppercase();
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &clean)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| CoreError::invalid("secret key", "not a base32 value"))
}

pub fn encode_base32(b: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, b)
}

/// Checks parameters of a token before it is stored.
pub fn validate(t: &OathToken) -> CoreResult<()> {
    if !matches!(t.digits, 6 | 8) {
        return Err(CoreError::invalid("digits", "use 6 or 8"));
    }
    if !matches!(t.period, 30 | 60) {
        return Err(CoreError::invalid("time interval", "use 30 or 60 seconds"));
    }
    let bytes = t.secret_bytes()?;
    if bytes.len() < 16 {
        return Err(CoreError::invalid(
            "secret key",
            "must carry at least 128 bits (RFC 4226 §4)",
        ));
    }
    Ok(())
}

/// Starts enrolling an authenticator app: a new inactive software token with a 160-bit secret.
/// Refused when the user already has the maximum number of tokens.
pub async fn begin_enrolment(deps: &Deps, user: &User) -> CoreResult<OathToken> {
    let existing = deps.store.oath_token_list(&user.id).await?;
    // Abandoned enrolments older than the flow lifetime don't count and are cleared.
    let now = deps.now();
    for t in existing
        .iter()
        .filter(|t| !t.active && t.kind == OathKind::Software)
    {
        if now - t.created_at > deps.settings.flow_ttl {
            deps.store.delete_oath_token(&t.id).await?;
        }
    }
    let live = deps
        .store
        .oath_token_list(&user.id)
        .await?
        .into_iter()
        .filter(|t| t.active || t.kind == OathKind::Hardware)
        .count();
    if live >= MAX_TOKENS_PER_USER {
        return Err(CoreError::invalid(
            "authenticator",
            format!(
                "you already have {MAX_TOKENS_PER_USER} verification code methods; delete one before adding another"
            ),
        ));
    }
    let t = new_software_token(deps, &user.tenant_id, &user.id);
    deps.store
        .insert_oath_tokens(std::slice::from_ref(&t))
        .await?;
    Ok(t)
}

/// A new, inactive authenticator-app token (TOTP, SHA-1, 6 digits, 30 s) with a 160-bit secret,
/// not stored.
pub fn new_software_token(deps: &Deps, tenant_id: &str, user_id: &str) -> OathToken {
    let mut secret = [0u8; 20];
    deps.rng.fill(&mut secret);
    OathToken {
        id: deps.new_id(),
        tenant_id: tenant_id.into(),
        user_id: user_id.into(),
        kind: OathKind::Software,
        name: "Authenticator app".into(),
        serial: None,
        manufacturer: None,
        model: None,
        secret: Secret::new(encode_base32(&secret)),
        algorithm: OathAlgorithm::Sha1,
        digits: 6,
        period: 30,
        active: false,
        created_at: deps.now(),
        last_used_at: None,
        last_step: 0,
        failures: StepFailures::default(),
    }
}

/// Outcome of checking a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// Accepted with this token.
    Accepted(Box<OathToken>),
    /// Wrong, replayed, locked or throttled — deliberately one answer.
    Rejected,
}

fn normalize_code(code: &str) -> Option<String> {
    let c: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (c.len() <= 8 && !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())).then_some(c)
}

/// Which step (if any) within the drift window `code` matches. All candidate steps are computed
/// and compared in constant time, so the answer takes the same time wherever it matched.
fn matching_step(t: &OathToken, code: &str, now: Timestamp) -> CoreResult<Option<i64>> {
    let current = t.step_at(now);
    let mut found = None;
    for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
        let expected = t.code_at_step(step)?;
        if ct_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// How the store decided a code attempt (`Store::decide_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeDecision {
    /// The user's code key was locked: nothing was counted or accepted.
    Locked,
    /// The matched step was accepted, and the key cleared.
    Accepted,
    /// Counted as a failure: a wrong code, or a replayed step.
    Rejected,
}

/// Which of a user's tokens a code is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Tokens<'a> {
    /// The active tokens of these kinds (those the policy lets the user use).
    Active(&'a [OathKind]),
    /// One token, active or not: one being enrolled or activated.
    One(&'a str),
}

/// Every active token, whatever its kind.
pub const ANY_ACTIVE: Tokens<'static> = Tokens::Active(&[OathKind::Software, OathKind::Hardware]);

/// Checks a verification code against the user's `which` tokens.
///
/// The code is compared with every candidate first (cheap, constant time), but what it matched
/// counts only inside `Store::decide_code`, the same write that reserves the attempt under the
/// user's code key: of any number of parallel guesses no more are decided than the lockout
/// allows, and one write per attempt is all it costs.
pub async fn check_code(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    code: &str,
    which: Tokens<'_>,
) -> CoreResult<CodeCheck> {
    let now = deps.now();
    let user_key = throttle::code_key(&tenant.id, &user.upn);
    let policy = LockoutPolicy::ACCOUNT;
    if throttle::locked_now(deps, &[(user_key.as_str(), policy)])
        .await?
        .is_some()
    {
        return Ok(CodeCheck::Rejected);
    }
    let tokens: Vec<OathToken> = deps
        .store
        .oath_tokens_of_user(&user.id)
        .await?
        .into_iter()
        .filter(|t| match which {
            Tokens::One(id) => t.id == id,
            Tokens::Active(kinds) => t.active && kinds.contains(&t.kind),
        })
        .collect();
    let mut matched = None;
    if let Some(code) = normalize_code(code) {
        for t in tokens.iter().filter(|t| code.len() == t.digits as usize) {
            // Read with the token: the count may be a moment old, as any read before the
            // decision would be; every wrong code is counted atomically in the decision.
            // A locked token refuses even the right code, and says nothing different.
            let locked = t.failures_in(t.step_at(now)) >= WRONG_CODES_PER_STEP;
            if let Some(step) = matching_step(t, &code, now)? {
                if !locked {
                    matched = Some((t, step));
                    break;
                }
            }
        }
    }
    let failed: Vec<(&str, i64)> = tokens
        .iter()
        .map(|t| (t.id.as_str(), t.step_at(now)))
        .collect();
    let decision = deps
        .store
        .decide_code(
            &user_key,
            policy,
            now,
            matched.map(|(t, step)| (t.id.as_str(), step)),
            &failed,
        )
        .await?;
    Ok(match (decision, matched) {
        (CodeDecision::Accepted, Some((t, step))) => {
            let mut used = t.clone();
            used.last_step = step;
            used.last_used_at = Some(now);
            CodeCheck::Accepted(Box::new(used))
        }
        _ => CodeCheck::Rejected,
    })
}

/// Confirms an enrolment or activation: the token becomes usable once a correct code proves the
/// user holds it.
pub async fn activate(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    token_id: &str,
    code: &str,
) -> CoreResult<bool> {
    match check_code(deps, tenant, user, code, Tokens::One(token_id)).await? {
        CodeCheck::Accepted(_) => {
            deps.store.set_oath_active(token_id, true).await?;
            Ok(true)
        }
        CodeCheck::Rejected => Ok(false),
    }
}

/// One row of a hardware-token import (the columns of Entra's CSV: upn, serial number, secret
/// key, time interval, manufacturer, model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardwareRow {
    pub upn: String,
    pub serial: String,
    pub secret: String,
    pub interval: String,
    pub manufacturer: String,
    pub model: String,
}

/// Imports hardware tokens: every row is checked first (user, secret, interval, the per-user
/// limit) and the tokens are stored in one transaction, so a bad file changes nothing. Tokens are
/// inactive until their user enters a code from them in security info.
pub async fn import_hardware(
    deps: &Deps,
    tenant: &Tenant,
    rows: &[HardwareRow],
) -> CoreResult<Vec<OathToken>> {
    let mut tokens: Vec<OathToken> = Vec::new();
    let mut per_user: std::collections::HashMap<String, usize> = Default::default();
    for (i, r) in rows.iter().enumerate() {
        let line = i + 2; // the header is line 1
        let at = |e: CoreError| CoreError::invalid("import", format!("line {line}: {e}"));
        let upn = r.upn.trim().to_lowercase();
        let user = deps
            .store
            .user_by_upn(&tenant.id, &upn)
            .await?
            .ok_or_else(|| at(CoreError::not_found("user", &upn)))?;
        let serial = r.serial.trim();
        if serial.is_empty() || serial.len() > 64 {
            return Err(at(CoreError::invalid(
                "serial number",
                "1 to 64 characters",
            )));
        }
        if tokens.iter().any(|t| t.serial.as_deref() == Some(serial)) {
            return Err(at(CoreError::invalid(
                "serial number",
                format!("{serial} appears twice in this file"),
            )));
        }
        let period: u32 = r
            .interval
            .trim()
            .parse()
            .map_err(|_| at(CoreError::invalid("time interval", "use 30 or 60")))?;
        let count = match per_user.get(&user.id) {
            Some(n) => *n,
            None => deps.store.oath_token_list(&user.id).await?.len(),
        };
        if count >= MAX_TOKENS_PER_USER {
            return Err(at(CoreError::invalid(
                "user",
                format!("{upn} already has {MAX_TOKENS_PER_USER} verification code methods"),
            )));
        }
        per_user.insert(user.id.clone(), count + 1);
        let secret: String = r
            .secret
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let t = OathToken {
            id: deps.new_id(),
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            kind: OathKind::Hardware,
            name: format!("Hardware token {serial}"),
            serial: Some(serial.to_string()),
            manufacturer: opt(&r.manufacturer),
            model: opt(&r.model),
            secret: Secret::new(secret),
            algorithm: OathAlgorithm::Sha1,
            digits: 6,
            period,
            active: false,
            created_at: deps.now(),
            last_used_at: None,
            last_step: 0,
            failures: StepFailures::default(),
        };
        validate(&t).map_err(at)?;
        tokens.push(t);
    }
    match deps.store.insert_oath_tokens(&tokens).await {
        Ok(()) => Ok(tokens),
        // A serial imported before: the store's unique rule names the token as "hardware token
        // {serial}" (`Store::insert_oath_tokens`); the line is the one of that serial.
        Err(crate::StoreError::Conflict(what)) => {
            let serial = what.strip_prefix("hardware token ");
            let line = tokens
                .iter()
                .position(|t| serial.is_some() && t.serial.as_deref() == serial)
                .map_or(String::new(), |i| format!("line {}: ", i + 2));
            Err(CoreError::invalid(
                "import",
                format!("{line}{what} already exists"),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
