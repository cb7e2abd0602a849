//! Mapping between SQL rows and domain records: column lists and row decoders. JSON-valued
//! columns (URI lists, `amr`, a flow's authorization request) are stored as text.

use crate::db::{FromVal, Row};
use countersign_core::methods::oath::{OathAlgorithm, OathToken, OathTokenInfo, StepFailures};
use countersign_core::methods::passkey::PasskeyCredential;
use countersign_core::methods::push::{Device, PushRequest, PushState};
use countersign_core::methods::tap::TemporaryAccessPass;
use countersign_core::model::OathKind;
use countersign_core::model::*;
use countersign_core::policy::StoredPolicy;
use countersign_core::secret::Secret;
use countersign_core::StoreError;

pub type R<T> = Result<T, StoreError>;

fn get<T: FromVal>(row: &Row, col: &str) -> R<T> {
    row.get(col)
}

fn json_value<T: serde::de::DeserializeOwned>(row: &Row, col: &str) -> R<T> {
    let s: String = get(row, col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Backend(format!("column {col}: {e}")))
}

fn json_vec(row: &Row, col: &str) -> R<Vec<String>> {
    json_value(row, col)
}

/// A column's JSON text (lists, flow state, policy documents: types that always serialise).
pub fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("stored values always serialise")
}

pub const USER_COLS: &str = "id, tenant_id, upn, display_name, email, enabled, password_hash, \
                             created_at, updated_at, tokens_valid_after, push_blocked_at";

pub fn user(row: &Row) -> R<User> {
    Ok(User {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        upn: get(row, "upn")?,
        display_name: get(row, "display_name")?,
        email: get(row, "email")?,
        enabled: get::<i64>(row, "enabled")? != 0,
        password_hash: get::<Option<String>>(row, "password_hash")?.map(Secret::new),
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        tokens_valid_after: get(row, "tokens_valid_after")?,
        push_blocked_at: get(row, "push_blocked_at")?,
    })
}

pub const GROUP_COLS: &str = "id, tenant_id, name, description, created_at";

pub fn group(row: &Row) -> R<Group> {
    Ok(Group {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        created_at: get(row, "created_at")?,
    })
}

pub const CLIENT_COLS: &str = "id, tenant_id, name, redirect_uris, post_logout_redirect_uris, \
                               secret_digest, id_token_alg, created_at, require_mfa";

pub fn client(row: &Row) -> R<OidcClient> {
    let alg: String = get(row, "id_token_alg")?;
    Ok(OidcClient {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        name: get(row, "name")?,
        redirect_uris: json_vec(row, "redirect_uris")?,
        post_logout_redirect_uris: json_vec(row, "post_logout_redirect_uris")?,
        secret_digest: get::<Option<String>>(row, "secret_digest")?.map(Secret::new),
        id_token_alg: SigningAlg::parse(&alg)
            .ok_or_else(|| StoreError::Backend(format!("unknown algorithm {alg}")))?,
        created_at: get(row, "created_at")?,
        require_mfa: get::<i64>(row, "require_mfa")? != 0,
    })
}

pub const FLOW_COLS: &str = "id, tenant_id, csrf, request, state, return_to, created_at, \
                             expires_at";

pub fn flow(row: &Row) -> R<SignInFlow> {
    let request: Option<String> = get(row, "request")?;
    Ok(SignInFlow {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        csrf: get(row, "csrf")?,
        request: request
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| StoreError::Backend(format!("column request: {e}")))?,
        state: json_value(row, "state")?,
        return_to: get(row, "return_to")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

pub const OATH_COLS: &str = "id, tenant_id, user_id, kind, name, serial, manufacturer, model, \
    secret, algorithm, digits, period, active, created_at, last_used_at, last_step, fail_step, \
    fail_count";

/// The columns of a token as listed: no secret, no counters.
pub const OATH_INFO_COLS: &str = "id, tenant_id, user_id, kind, name, serial, manufacturer, \
    model, active, created_at, last_used_at";

pub fn oath_info(row: &Row) -> R<OathTokenInfo> {
    let kind: String = get(row, "kind")?;
    Ok(OathTokenInfo {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        kind: OathKind::parse(&kind)
            .ok_or_else(|| StoreError::Backend(format!("unknown token kind {kind}")))?,
        name: get(row, "name")?,
        serial: get(row, "serial")?,
        manufacturer: get(row, "manufacturer")?,
        model: get(row, "model")?,
        active: get::<i64>(row, "active")? != 0,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
    })
}

pub fn oath(row: &Row) -> R<OathToken> {
    let kind: String = get(row, "kind")?;
    let alg: String = get(row, "algorithm")?;
    Ok(OathToken {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        kind: OathKind::parse(&kind)
            .ok_or_else(|| StoreError::Backend(format!("unknown token kind {kind}")))?,
        name: get(row, "name")?,
        serial: get(row, "serial")?,
        manufacturer: get(row, "manufacturer")?,
        model: get(row, "model")?,
        secret: Secret::new(get::<String>(row, "secret")?),
        algorithm: OathAlgorithm::parse(&alg)
            .ok_or_else(|| StoreError::Backend(format!("unknown algorithm {alg}")))?,
        digits: get::<i64>(row, "digits")? as u32,
        period: get::<i64>(row, "period")? as u32,
        active: get::<i64>(row, "active")? != 0,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
        last_step: get(row, "last_step")?,
        failures: StepFailures {
            step: get(row, "fail_step")?,
            count: get::<i64>(row, "fail_count")?.clamp(0, u32::MAX as i64) as u32,
        },
    })
}

pub const SESSION_COLS: &str =
    "id_digest, tenant_id, user_id, csrf, auth_time, amr, created_at, last_seen_at";

pub fn session(row: &Row) -> R<Session> {
    Ok(Session {
        id_digest: get(row, "id_digest")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        csrf: get(row, "csrf")?,
        auth_time: get(row, "auth_time")?,
        amr: json_vec(row, "amr")?,
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
    })
}

pub const CODE_COLS: &str = "code_digest, tenant_id, client_id, user_id, redirect_uri, scope, \
    nonce, code_challenge, auth_time, amr, session_digest, created_at, expires_at, used_at, grant_id";

pub fn code(row: &Row) -> R<AuthCode> {
    Ok(AuthCode {
        code_digest: get(row, "code_digest")?,
        tenant_id: get(row, "tenant_id")?,
        client_id: get(row, "client_id")?,
        user_id: get(row, "user_id")?,
        redirect_uri: get(row, "redirect_uri")?,
        scope: get(row, "scope")?,
        nonce: get(row, "nonce")?,
        code_challenge: get(row, "code_challenge")?,
        auth_time: get(row, "auth_time")?,
        amr: json_vec(row, "amr")?,
        session_digest: get(row, "session_digest")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        used_at: get(row, "used_at")?,
        grant_id: get(row, "grant_id")?,
    })
}

pub const GRANT_COLS: &str = "id, tenant_id, client_id, user_id, scope, nonce, auth_time, amr, \
                              created_at, expires_at, revoked_at";

pub fn grant(row: &Row) -> R<Grant> {
    Ok(Grant {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        client_id: get(row, "client_id")?,
        user_id: get(row, "user_id")?,
        scope: get(row, "scope")?,
        nonce: get(row, "nonce")?,
        auth_time: get(row, "auth_time")?,
        amr: json_vec(row, "amr")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub const REFRESH_COLS: &str = "token_digest, grant_id, created_at, expires_at, used_at";

pub fn refresh(row: &Row) -> R<RefreshToken> {
    Ok(RefreshToken {
        token_digest: get(row, "token_digest")?,
        grant_id: get(row, "grant_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        used_at: get(row, "used_at")?,
    })
}

/// A row of `refresh_tokens r JOIN grants g`, the token's own times aliased `r_*`.
pub fn refresh_and_grant(row: &Row) -> R<(RefreshToken, Grant)> {
    let r = RefreshToken {
        token_digest: get(row, "token_digest")?,
        grant_id: get(row, "grant_id")?,
        created_at: get(row, "r_created_at")?,
        expires_at: get(row, "r_expires_at")?,
        used_at: get(row, "used_at")?,
    };
    Ok((r, grant(row)?))
}

pub fn signing_key(row: &Row) -> R<SigningKey> {
    let alg: String = get(row, "alg")?;
    Ok(SigningKey {
        kid: get(row, "kid")?,
        alg: SigningAlg::parse(&alg)
            .ok_or_else(|| StoreError::Backend(format!("unknown algorithm {alg}")))?,
        private_pkcs8: Secret::new(get::<String>(row, "private_pkcs8")?),
        created_at: get(row, "created_at")?,
        retired_at: get(row, "retired_at")?,
    })
}

pub const SIGNIN_COLS: &str = "id, tenant_id, at, user_id, typed_name, client_id, client_addr, \
                               method, result, failure_reason";

pub fn signin(row: &Row) -> R<SignInLogEntry> {
    let result: String = get(row, "result")?;
    Ok(SignInLogEntry {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        at: get(row, "at")?,
        user_id: get(row, "user_id")?,
        typed_name: get(row, "typed_name")?,
        client_id: get(row, "client_id")?,
        client_addr: get(row, "client_addr")?,
        method: get(row, "method")?,
        result: SignInResult::parse(&result),
        failure_reason: get(row, "failure_reason")?,
    })
}

pub fn throttle(row: &Row) -> R<ThrottleState> {
    Ok(ThrottleState {
        failures: get::<i64>(row, "failures")?.clamp(0, u32::MAX as i64) as u32,
        last_failure_at: get(row, "last_failure_at")?,
    })
}

pub fn role(s: &str) -> R<AdminRole> {
    AdminRole::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown role {s}")))
}

pub const TAP_COLS: &str = "user_id, id, tenant_id, pass_hash, created_at, starts_at, expires_at, \
                            one_time, created_by, used_at, revoked_at";

pub fn tap(row: &Row) -> R<TemporaryAccessPass> {
    Ok(TemporaryAccessPass {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        pass_hash: Secret::new(get::<String>(row, "pass_hash")?),
        created_at: get(row, "created_at")?,
        starts_at: get(row, "starts_at")?,
        expires_at: get(row, "expires_at")?,
        one_time: get::<i64>(row, "one_time")? != 0,
        created_by: get(row, "created_by")?,
        used_at: get(row, "used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub const PASSKEY_COLS: &str = "credential_id, tenant_id, user_id, name, aaguid, credential, \
                                sign_count, backup_eligible, backup_state, created_at, last_used_at";

pub fn passkey(row: &Row) -> R<PasskeyCredential> {
    Ok(PasskeyCredential {
        credential_id: get(row, "credential_id")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        aaguid: get(row, "aaguid")?,
        credential: get(row, "credential")?,
        sign_count: get(row, "sign_count")?,
        backup_eligible: get::<i64>(row, "backup_eligible")? != 0,
        backup_state: get::<i64>(row, "backup_state")? != 0,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
    })
}

pub const AUDIT_COLS: &str = "id, tenant_id, at, actor, action, target, before_value, after_value";

pub fn audit(row: &Row) -> R<AuditEntry> {
    Ok(AuditEntry {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        before: get(row, "before_value")?,
        after: get(row, "after_value")?,
    })
}

/// A user row with its tenant's policy columns, which are null while the policy was never changed.
pub fn user_with_policy(row: &Row) -> R<(User, Option<StoredPolicy>)> {
    let policy = match get::<Option<i64>>(row, "version")? {
        Some(_) => Some(policy(row)?),
        None => None,
    };
    Ok((user(row)?, policy))
}

pub fn policy(row: &Row) -> R<StoredPolicy> {
    Ok(StoredPolicy {
        policy: json_value(row, "document")?,
        version: get(row, "version")?,
    })
}

pub const DEVICE_COLS: &str = "id, tenant_id, user_id, name, public_key, app_version, platform, \
                               created_at, last_seen_at, oath_token_id, phone_key, \
                               phone_enabled_at";

pub fn device(row: &Row) -> R<Device> {
    Ok(Device {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        public_key: get(row, "public_key")?,
        app_version: get(row, "app_version")?,
        platform: get(row, "platform")?,
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        oath_token_id: get(row, "oath_token_id")?,
        phone_key: get(row, "phone_key")?,
        phone_enabled_at: get(row, "phone_enabled_at")?,
    })
}

pub const PUSH_COLS: &str = "id, tenant_id, user_id, flow_digest, number, application, \
    client_addr, city, country, created_at, expires_at, pushed, state, settled_at, device_id, \
    passwordless, client_id";

pub fn push(row: &Row) -> R<PushRequest> {
    let state: String = get(row, "state")?;
    Ok(PushRequest {
        id: get(row, "id")?,
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        flow_digest: get(row, "flow_digest")?,
        number: get(row, "number")?,
        application: get(row, "application")?,
        client_id: get(row, "client_id")?,
        client_addr: get(row, "client_addr")?,
        city: get(row, "city")?,
        country: get(row, "country")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        pushed: get::<i64>(row, "pushed")? != 0,
        passwordless: get::<i64>(row, "passwordless")? != 0,
        state: PushState::parse(&state)
            .ok_or_else(|| StoreError::Backend(format!("unknown push state {state}")))?,
        settled_at: get(row, "settled_at")?,
        device_id: get(row, "device_id")?,
    })
}
