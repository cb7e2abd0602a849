//! Wire types of the device protocol, version 1 (`docs/device-protocol.md`): registration,
//! challenges, sign-in requests, answers and the WebSocket channel's messages, and the exact
//! payloads a device signs. Both the server and every authenticator build their payloads here,
//! so the two can never disagree about what was signed.

use serde::{Deserialize, Serialize};

/// The protocol version, in paths (`/device/v1/`) and in the channel's first message.
pub const VERSION: u32 = 1;

/// Where the protocol's paths start, under a tenant's base URL.
pub const PATH_PREFIX: &str = "/device/v1";

/// The scheme of activation links (what the QR code holds).
pub const ACTIVATION_SCHEME: &str = "countersign";

/// The AAGUID the Countersign Authenticator's passkeys carry: device-bound software keys whose
/// user verification is the app's App Lock PIN.
pub const PASSKEY_AAGUID: &str = "7c0a3e52-9f4b-4c1d-8e26-5b3f6d1a9c84";

/// Stable error codes of the device protocol (besides the API's general ones).
pub mod codes {
    pub const ACTIVATION_INVALID: &str = "activation_invalid";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const DEVICE_UNKNOWN: &str = "device_unknown";
    pub const APP_VERSION_UNSUPPORTED: &str = "app_version_unsupported";
    pub const REQUEST_NOT_FOUND: &str = "request_not_found";
    pub const REQUEST_EXPIRED: &str = "request_expired";
    pub const REQUEST_ANSWERED: &str = "request_answered";
    pub const WRONG_NUMBER: &str = "wrong_number";
    pub const PASS_INVALID: &str = "pass_invalid";
    pub const PHONE_SIGN_IN_LIMIT: &str = "phone_sign_in_limit";
    pub const PHONE_SIGN_IN_NOT_ENABLED: &str = "phone_sign_in_not_enabled";
    pub const PIN_REQUIRED: &str = "pin_required";
    /// A cross-device passkey link that is unknown, used or past its two minutes.
    pub const PASSKEY_LINK_INVALID: &str = "passkey_link_invalid";
    /// The assertion for a cross-device link was refused (the sign-in log says why).
    pub const PASSKEY_REFUSED: &str = "passkey_refused";
}

/// `POST {server}/device/v1/passkey/request`: what a cross-device passkey link asks for. The link
/// is `countersign://passkey?server=…&code=…`, shown as a QR code on the page of the computer
/// signing in; it works once, for two minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyLinkRequest {
    pub code: String,
}

/// The sign-in the link is for: the site, the short code the computer's page shows (the person
/// compares them), the origin the assertion's client data must carry (the server's public URL)
/// and the WebAuthn request options (`{"publicKey": …}`, as a browser gets them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyLinkResponse {
    pub site: String,
    pub short_code: String,
    pub origin: String,
    pub options: serde_json::Value,
}

/// `POST {server}/device/v1/passkey/answer`: the authenticator's assertion for the link
/// (`PublicKeyCredential` JSON, as a browser posts it). `204` when it signed the computer in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyLinkAnswer {
    pub code: String,
    pub credential: serde_json::Value,
}

/// `POST {server}/device/v1/passkey/register`: the Countersign Authenticator adds a passkey for
/// its account (`passkey register`), proving its device key; the App Lock PIN opened its vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRegisterRequest {
    pub hello: Hello,
}

/// The registration to answer: its ceremony, the origin the client data must carry, and the
/// WebAuthn creation options (`{"publicKey": …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyRegisterResponse {
    pub ceremony: String,
    pub origin: String,
    pub options: serde_json::Value,
}

/// `POST {server}/device/v1/passkey/register/finish`: the new credential
/// (`RegisterPublicKeyCredential` JSON), with a fresh proof of the device key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyRegisterFinish {
    pub hello: Hello,
    pub ceremony: String,
    pub credential: serde_json::Value,
}

/// The passkey as security info lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRegistered {
    pub credential_id: String,
    pub name: String,
}

/// The host of a cross-device passkey link: `countersign://passkey?…`.
pub const PASSKEY_LINK_HOST: &str = "passkey";

/// `POST BASE/device/v1/register`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegisterRequest {
    pub code: String,
    /// The SEC1 uncompressed P-256 point, base64url.
    pub public_key: String,
    /// Over [`register_payload`], base64url `r‖s`.
    pub signature: String,
    pub name: String,
    pub app_version: String,
    pub platform: String,
}

/// The account a device registered to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountInfo {
    pub upn: String,
    pub display_name: String,
    pub tenant: String,
    /// The tenant's base URL (its OpenID Connect issuer).
    pub server: String,
}

/// `201 Created` answer to [`RegisterRequest`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegisterResponse {
    pub device_id: String,
    pub account: AccountInfo,
    /// Verification codes for offline use, when the policy allows software OATH for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otpauth: Option<String>,
    pub heartbeat_secs: u32,
    /// Phone sign-in was turned on with the registration (direct registration with a pass).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub phone_sign_in: bool,
}

/// `POST BASE/device/v1/register-with-pass`: direct phone sign-in registration. A person with a
/// Temporary Access Pass registers the device and turns on phone sign-in in one step, without
/// ever having had a password or another method.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegisterWithPassRequest {
    /// The sign-in name, as typed on a sign-in page.
    pub upn: String,
    pub pass: String,
    /// The device key for this account (push approvals, proofs), SEC1 point base64url.
    pub public_key: String,
    /// The phone sign-in key for this account, another P-256 key.
    pub phone_key: String,
    /// Both over [`register_with_pass_payload`]: by the device key and by the phone key.
    pub signature: String,
    pub phone_signature: String,
    pub name: String,
    pub app_version: String,
    pub platform: String,
}

/// `POST BASE/device/v1/phone-sign-in`: "Enable phone sign-in" on a registered device. The
/// device proves its key over a fresh challenge and the new phone sign-in key signs too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PhoneSignInRequest {
    pub device_id: String,
    pub challenge: String,
    pub phone_key: String,
    /// Both over [`phone_sign_in_payload`]: by the device key and by the phone key.
    pub signature: String,
    pub phone_signature: String,
    pub app_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PhoneSignInResponse {
    pub phone_sign_in: bool,
}

/// `POST BASE/device/v1/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChallengeRequest {
    pub device_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChallengeResponse {
    pub challenge: String,
    pub expires_in: u32,
}

/// A device's proof of its key over a fresh challenge (HTTPS operations and the channel's hello).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    pub device_id: String,
    pub challenge: String,
    /// Over [`hello_payload`].
    pub signature: String,
    pub app_version: String,
}

/// `POST BASE/device/v1/requests` answers with the pending requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingRequests {
    pub requests: Vec<SignInRequest>,
}

/// Where a sign-in comes from, as far as the policy lets the device show it. Never coordinates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Location {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A sign-in waiting for the person's approval. The number to match is not in it: the person
/// reads it from the browser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignInRequest {
    pub id: String,
    pub account: String,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub created_at: i64,
    pub expires_at: i64,
    /// How many digits the number shown in the browser has.
    pub digits: u8,
    /// False for a flagged sign-in, delivered only when the device asks ("refresh").
    pub pushed: bool,
    /// Phone sign-in: approving signs the person in without a password. Answered with the phone
    /// sign-in key over [`phone_answer_payload`], with the App Lock.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passwordless: bool,
}

/// The person's answer to a sign-in request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Approve,
    Deny,
    /// "It's not me": the sign-in is refused and reported as fraud.
    NotMe,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::NotMe => "not-me",
        }
    }
}

/// `POST BASE/device/v1/requests/{id}/answer`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnswerRequest {
    pub device_id: String,
    pub decision: Decision,
    /// The digits typed; only with `approve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// The device's App Lock was used for this answer.
    pub pin: bool,
    /// Over [`answer_payload`].
    pub signature: String,
    pub app_version: String,
}

/// What became of the sign-in an answer was about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerResult {
    Approved,
    Denied,
    /// "It's not me" was recorded.
    Reported,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnswerResponse {
    pub result: AnswerResult,
}

/// What the server sends on the channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    Challenge { protocol: u32, challenge: String },
    Ready { heartbeat_secs: u32 },
    Request { request: SignInRequest },
    Withdrawn { id: String },
    Pong,
    Error { error: String, message: String },
}

/// What a device sends on the channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DeviceMessage {
    Hello {
        device_id: String,
        signature: String,
        app_version: String,
    },
    Ping,
}

/// Whether a field may go into a signed payload: no line break (one reading per payload).
pub fn fits_payload(field: &str) -> bool {
    !field.contains(['\n', '\r'])
}

fn payload(purpose: &str, fields: &[&str]) -> String {
    let mut out = format!("countersign-device/{VERSION}\n{purpose}");
    for f in fields {
        out.push('\n');
        out.push_str(f);
    }
    out
}

/// What a registering device signs: the activation code and the public key it sends.
pub fn register_payload(code: &str, public_key: &str) -> String {
    payload("register", &[code, public_key])
}

/// What a device registering with a Temporary Access Pass signs, with each of its two keys.
pub fn register_with_pass_payload(upn: &str, public_key: &str, phone_key: &str) -> String {
    payload("register-with-pass", &[upn, public_key, phone_key])
}

/// What a device turning on phone sign-in signs, with its device key and its new phone key.
pub fn phone_sign_in_payload(device_id: &str, challenge: &str, phone_key: &str) -> String {
    payload("phone-sign-in", &[device_id, challenge, phone_key])
}

/// What a device signs with its phone sign-in key to answer a passwordless request: as
/// [`answer_payload`], under another purpose, so no push answer can pass for one.
pub fn phone_answer_payload(
    request_id: &str,
    decision: Decision,
    number: &str,
    pin: bool,
) -> String {
    let pin = if pin { "pin" } else { "no-pin" };
    payload(
        "phone-answer",
        &[request_id, decision.as_str(), number, pin],
    )
}

/// What a device signs to prove its key over a server challenge.
pub fn hello_payload(device_id: &str, challenge: &str) -> String {
    payload("hello", &[device_id, challenge])
}

/// What a device signs to answer a request: the request, the decision, the number typed (empty
/// unless approving) and whether its App Lock was used.
pub fn answer_payload(request_id: &str, decision: Decision, number: &str, pin: bool) -> String {
    let pin = if pin { "pin" } else { "no-pin" };
    payload("answer", &[request_id, decision.as_str(), number, pin])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The payloads are the protocol: these texts are what `docs/device-protocol.md` specifies.
    #[test]
    fn payloads_are_the_documented_lines() {
        assert_eq!(
            register_payload("ACT", "KEY"),
            "countersign-device/1\nregister\nACT\nKEY"
        );
        assert_eq!(
            hello_payload("dev_1", "CH"),
            "countersign-device/1\nhello\ndev_1\nCH"
        );
        assert_eq!(
            answer_payload("req_1", Decision::Approve, "42", true),
            "countersign-device/1\nanswer\nreq_1\napprove\n42\npin"
        );
        assert_eq!(
            answer_payload("req_1", Decision::NotMe, "", false),
            "countersign-device/1\nanswer\nreq_1\nnot-me\n\nno-pin"
        );
        assert_eq!(
            register_with_pass_payload("bob@contoso.com", "KEY", "PHONE"),
            "countersign-device/1\nregister-with-pass\nbob@contoso.com\nKEY\nPHONE"
        );
        assert_eq!(
            phone_sign_in_payload("dev_1", "CH", "PHONE"),
            "countersign-device/1\nphone-sign-in\ndev_1\nCH\nPHONE"
        );
        assert_eq!(
            phone_answer_payload("req_1", Decision::Approve, "42", true),
            "countersign-device/1\nphone-answer\nreq_1\napprove\n42\npin"
        );
        assert!(fits_payload("req_abc-_"));
        assert!(!fits_payload("req\napprove") && !fits_payload("a\rb"));
    }

    /// Each decision signs differently, so an approval can't be passed off as a denial or back.
    #[test]
    fn every_decision_and_pin_flag_changes_the_payload() {
        let all = [Decision::Approve, Decision::Deny, Decision::NotMe];
        let mut seen = std::collections::HashSet::new();
        for d in all {
            for pin in [true, false] {
                assert!(seen.insert(answer_payload("r", d, "", pin)));
            }
        }
    }

    #[test]
    fn channel_messages_have_the_documented_shape() {
        let m: ServerMessage =
            serde_json::from_value(json!({"type": "challenge", "protocol": 1, "challenge": "abc"}))
                .unwrap();
        assert_eq!(
            m,
            ServerMessage::Challenge {
                protocol: 1,
                challenge: "abc".into()
            }
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::Withdrawn { id: "req_1".into() }).unwrap(),
            json!({"type": "withdrawn", "id": "req_1"})
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::Pong).unwrap(),
            json!({"type": "pong"})
        );
        let hello: DeviceMessage = serde_json::from_value(json!({
            "type": "hello", "device_id": "dev_1", "signature": "sig", "app_version": "1.0.0"
        }))
        .unwrap();
        assert!(matches!(hello, DeviceMessage::Hello { .. }));
        assert_eq!(
            serde_json::from_value::<DeviceMessage>(json!({"type": "ping"})).unwrap(),
            DeviceMessage::Ping
        );
    }

    /// Optional fields are left out, not sent as null, and fields a newer server adds are ignored.
    #[test]
    fn requests_leave_out_what_the_policy_hides_and_ignore_new_fields() {
        let r = SignInRequest {
            id: "req_1".into(),
            account: "alice@contoso.com".into(),
            tenant: "contoso".into(),
            application: None,
            location: None,
            created_at: 1,
            expires_at: 91,
            digits: 2,
            pushed: true,
            passwordless: false,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("passwordless").is_none());
        assert!(v.get("application").is_none() && v.get("location").is_none());
        let mut newer = v.clone();
        newer["risk"] = json!("low");
        assert_eq!(serde_json::from_value::<SignInRequest>(newer).unwrap(), r);
        let answer: AnswerRequest = serde_json::from_value(json!({
            "device_id": "dev_1", "decision": "not-me", "pin": false,
            "signature": "sig", "app_version": "1.0.0"
        }))
        .unwrap();
        assert_eq!((answer.decision, answer.number), (Decision::NotMe, None));
        assert!(serde_json::from_value::<Decision>(json!("maybe")).is_err());
    }
}
