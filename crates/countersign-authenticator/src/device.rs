//! Push approvals on this device: the client side of the device protocol
//! (`docs/device-protocol.md`). An activation link registers a new P-256 key for one account (one
//! key per account, so two accounts of one device can't be linked); the private key stays in the
//! vault. With it the device proves itself over server challenges to fetch pending sign-in
//! requests, and signs its answers. What is signed comes from `countersign_proto::device`, the
//! same functions the server checks with.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use countersign_proto::device as proto;
use countersign_proto::ErrorBody;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The app version sent to servers (they may refuse versions below their minimum).
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("not an activation link: {0}")]
    BadLink(String),
    #[error(
        "the server address {0} is not https; only a server on this machine (localhost) may use \
         plain http"
    )]
    NotHttps(String),
    /// The server refused, with its stable code and its message for people.
    #[error("{message} ({code})")]
    Refused { code: String, message: String },
    #[error("could not reach {server}: {reason}")]
    Network { server: String, reason: String },
    #[error("the server's answer was not understood: {0}")]
    Protocol(String),
    #[error("the key in the vault is damaged")]
    BadKey,
    #[error(
        "phone sign-in is not turned on for {0} on this device: run \
         `countersign-authenticator phone-sign-in enable {0}` first"
    )]
    NoPhoneKey(String),
}

/// What an activation link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationLink {
    /// The account's base URL, e.g. `https://id.example.com/contoso`.
    pub server: String,
    pub code: String,
}

/// Parses `countersign://activate?server=…&code=…`.
pub fn parse_activation(link: &str) -> Result<ActivationLink, DeviceError> {
    let bad = |why: &str| DeviceError::BadLink(why.to_string());
    let url = url::Url::parse(link.trim()).map_err(|_| bad("it is not a URL"))?;
    if url.scheme() != proto::ACTIVATION_SCHEME || url.host_str() != Some("activate") {
        return Err(bad("it does not start with countersign://activate"));
    }
    let (mut server, mut code) = (None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "server" => server = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            _ => {}
        }
    }
    let server = server.ok_or_else(|| bad("it has no server"))?;
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("it has no code"))?;
    check_server(&server)?;
    Ok(ActivationLink {
        server: server.trim_end_matches('/').to_string(),
        code,
    })
}

/// Servers are reached over https, but one on this machine (tests, a first try).
pub(crate) fn check_server(server: &str) -> Result<(), DeviceError> {
    let url =
        url::Url::parse(server).map_err(|_| DeviceError::BadLink("bad server address".into()))?;
    let local = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(a)) if a.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(a)) if a.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(DeviceError::NotHttps(server.into())),
    }
}

/// One account registered for sign-in requests: its server, who it is, and this device's key
/// for it (PKCS#8, only ever in the encrypted vault).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct DeviceAccount {
    #[zeroize(skip)]
    pub server: String,
    #[zeroize(skip)]
    pub upn: String,
    #[zeroize(skip)]
    pub display_name: String,
    #[zeroize(skip)]
    pub tenant: String,
    #[zeroize(skip)]
    pub device_id: String,
    /// base64url PKCS#8 of the P-256 private key.
    key: String,
    /// base64url PKCS#8 of the phone sign-in key, once phone sign-in is on for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_key: Option<String>,
}

impl std::fmt::Debug for DeviceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAccount")
            .field("server", &self.server)
            .field("upn", &self.upn)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl DeviceAccount {
    /// `alice@contoso.com (contoso)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.upn, self.tenant)
    }

    fn pair(&self) -> Result<EcdsaKeyPair, DeviceError> {
        pair_of(&self.key)
    }

    pub(crate) fn sign(&self, payload: &str) -> Result<String, DeviceError> {
        sign(&self.pair()?, payload)
    }

    /// Whether phone sign-in is on for this account on this device.
    pub fn phone_sign_in(&self) -> bool {
        self.phone_key.is_some()
    }

    /// A signed answer to `request_id`, ready to send: to a passwordless request (phone sign-in)
    /// with the phone sign-in key, to others with the device key.
    pub fn answer(
        &self,
        request_id: &str,
        decision: proto::Decision,
        number: Option<&str>,
        pin: bool,
        passwordless: bool,
    ) -> Result<proto::AnswerRequest, DeviceError> {
        let number = match decision {
            proto::Decision::Approve => number.unwrap_or_default().trim().to_string(),
            _ => String::new(),
        };
        let signature = if passwordless {
            let key = self
                .phone_key
                .as_deref()
                .ok_or_else(|| DeviceError::NoPhoneKey(self.upn.clone()))?;
            let payload = proto::phone_answer_payload(request_id, decision, &number, pin);
            sign(&pair_of(key)?, &payload)?
        } else {
            self.sign(&proto::answer_payload(request_id, decision, &number, pin))?
        };
        Ok(proto::AnswerRequest {
            device_id: self.device_id.clone(),
            decision,
            number: (decision == proto::Decision::Approve).then_some(number),
            pin,
            signature,
            app_version: APP_VERSION.into(),
        })
    }
}

fn pair_of(pkcs8: &str) -> Result<EcdsaKeyPair, DeviceError> {
    let der = URL_SAFE_NO_PAD
        .decode(pkcs8)
        .map_err(|_| DeviceError::BadKey)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| DeviceError::BadKey)
}

/// A new P-256 key: its PKCS#8 (base64url, for the vault), the pair, and its public point
/// (base64url, for the server).
fn new_key() -> Result<(String, EcdsaKeyPair, String), DeviceError> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| DeviceError::BadKey)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| DeviceError::BadKey)?;
    let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    Ok((URL_SAFE_NO_PAD.encode(pkcs8.as_ref()), pair, public))
}

fn sign(pair: &EcdsaKeyPair, payload: &str) -> Result<String, DeviceError> {
    let sig = pair
        .sign(&SystemRandom::new(), payload.as_bytes())
        .map_err(|_| DeviceError::BadKey)?;
    Ok(URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// The account a registration made, with the keys this device made for it.
fn account_of(
    server: &str,
    r: proto::RegisterResponse,
    key: String,
    phone_key: Option<String>,
) -> (DeviceAccount, Option<String>) {
    let account = DeviceAccount {
        server: server.into(),
        upn: r.account.upn,
        display_name: r.account.display_name,
        tenant: r.account.tenant,
        device_id: r.device_id,
        key,
        phone_key,
    };
    (account, r.otpauth)
}

/// A blocking HTTP client for the protocol's endpoints.
pub struct Client {
    http: reqwest::blocking::Client,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .user_agent(concat!(
                "countersign-authenticator/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .expect("a TLS client with the built-in roots");
        Self { http }
    }

    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        server: &str,
        path: &str,
        body: &B,
    ) -> Result<T, DeviceError> {
        check_server(server)?;
        let url = format!("{server}{}/{path}", proto::PATH_PREFIX);
        let network = |e: reqwest::Error| DeviceError::Network {
            server: server.into(),
            reason: e.without_url().to_string(),
        };
        let r = self.http.post(&url).json(body).send().map_err(network)?;
        let status = r.status();
        let bytes = r.bytes().map_err(network)?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(e) => DeviceError::Refused {
                    code: e.error,
                    message: e.message,
                },
                Err(_) => DeviceError::Protocol(format!("HTTP {status}")),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| DeviceError::Protocol(e.to_string()))
    }

    /// Registers a new key for the account of `link`. Returns the account and, when the server
    /// also gives verification codes, their `otpauth://` URI.
    pub fn register(
        &self,
        link: &ActivationLink,
        name: &str,
    ) -> Result<(DeviceAccount, Option<String>), DeviceError> {
        let (pkcs8, pair, public_key) = new_key()?;
        let signature = sign(&pair, &proto::register_payload(&link.code, &public_key))?;
        let req = proto::RegisterRequest {
            code: link.code.clone(),
            public_key,
            signature,
            name: name.into(),
            app_version: APP_VERSION.into(),
            platform: std::env::consts::OS.into(),
        };
        let r: proto::RegisterResponse = self.post(&link.server, "register", &req)?;
        Ok(account_of(&link.server, r, pkcs8, None))
    }

    /// Direct phone sign-in registration: signs in to `server` (a tenant's base URL) as `upn`
    /// with a Temporary Access Pass, registers a device key and a phone sign-in key for the
    /// account, all in one request. Returns the account and, when the server also gives
    /// verification codes, their `otpauth://` URI.
    pub fn register_with_pass(
        &self,
        server: &str,
        upn: &str,
        pass: &str,
        name: &str,
    ) -> Result<(DeviceAccount, Option<String>), DeviceError> {
        let server = server.trim_end_matches('/');
        check_server(server)?;
        let upn = upn.trim();
        let (pkcs8, pair, public_key) = new_key()?;
        let (phone_pkcs8, phone_pair, phone_key) = new_key()?;
        let payload = proto::register_with_pass_payload(upn, &public_key, &phone_key);
        let req = proto::RegisterWithPassRequest {
            upn: upn.into(),
            pass: pass.into(),
            signature: sign(&pair, &payload)?,
            phone_signature: sign(&phone_pair, &payload)?,
            public_key,
            phone_key,
            name: name.into(),
            app_version: APP_VERSION.into(),
            platform: std::env::consts::OS.into(),
        };
        let r: proto::RegisterResponse = self.post(server, "register-with-pass", &req)?;
        Ok(account_of(server, r, pkcs8, Some(phone_pkcs8)))
    }

    /// "Enable phone sign-in" for a registered account: a new phone sign-in key, proved together
    /// with the device key over a fresh challenge. On success the account holds the key.
    pub fn enable_phone_sign_in(&self, a: &mut DeviceAccount) -> Result<(), DeviceError> {
        let (phone_pkcs8, phone_pair, phone_key) = new_key()?;
        let challenge = self.challenge(a)?;
        let payload = proto::phone_sign_in_payload(&a.device_id, &challenge, &phone_key);
        let req = proto::PhoneSignInRequest {
            device_id: a.device_id.clone(),
            challenge,
            signature: a.sign(&payload)?,
            phone_signature: sign(&phone_pair, &payload)?,
            phone_key,
            app_version: APP_VERSION.into(),
        };
        let _: proto::PhoneSignInResponse = self.post(&a.server, "phone-sign-in", &req)?;
        a.phone_key = Some(phone_pkcs8);
        Ok(())
    }

    /// A fresh single-use challenge for the account's device.
    fn challenge(&self, a: &DeviceAccount) -> Result<String, DeviceError> {
        let c: proto::ChallengeResponse = self.post(
            &a.server,
            "challenge",
            &proto::ChallengeRequest {
                device_id: a.device_id.clone(),
            },
        )?;
        Ok(c.challenge)
    }

    /// Proves the device over a fresh challenge: the `hello` the server checks.
    pub(crate) fn hello(&self, a: &DeviceAccount) -> Result<proto::Hello, DeviceError> {
        let challenge = self.challenge(a)?;
        Ok(proto::Hello {
            signature: a.sign(&proto::hello_payload(&a.device_id, &challenge))?,
            device_id: a.device_id.clone(),
            challenge,
            app_version: APP_VERSION.into(),
        })
    }

    /// The sign-in requests waiting for this account ("pull to refresh").
    pub fn pending(&self, a: &DeviceAccount) -> Result<Vec<proto::SignInRequest>, DeviceError> {
        let hello = self.hello(a)?;
        let r: proto::PendingRequests = self.post(&a.server, "requests", &hello)?;
        Ok(r.requests)
    }

    /// Answers a request: approve with the number typed, deny, or "It's not me". `pin`: the App
    /// Lock was used for this answer; `passwordless`: the request is a phone sign-in.
    pub fn answer(
        &self,
        a: &DeviceAccount,
        request_id: &str,
        decision: proto::Decision,
        number: Option<&str>,
        pin: bool,
        passwordless: bool,
    ) -> Result<proto::AnswerResult, DeviceError> {
        let body = a.answer(request_id, decision, number, pin, passwordless)?;
        self.send_answer(a, request_id, &body)
    }

    /// Sends an answer made by [`DeviceAccount::answer`].
    pub fn send_answer(
        &self,
        a: &DeviceAccount,
        request_id: &str,
        body: &proto::AnswerRequest,
    ) -> Result<proto::AnswerResult, DeviceError> {
        let path = format!("requests/{request_id}/answer");
        let r: proto::AnswerResponse = self.post(&a.server, &path, body)?;
        Ok(r.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_links_parse_and_insist_on_https() {
        let l = parse_activation(
            "countersign://activate?server=https%3A%2F%2Fid.example.com%2Fcontoso&code=AbC_1",
        )
        .unwrap();
        assert_eq!(l.server, "https://id.example.com/contoso");
        assert_eq!(l.code, "AbC_1");
        assert!(parse_activation(
            "countersign://activate?server=http%3A%2F%2F127.0.0.1%3A8080%2Fcontoso&code=x"
        )
        .is_ok());
        for bad in [
            "countersign://activate?server=http%3A%2F%2Fid.example.com%2Fc&code=x",
            "countersign://activate?server=https%3A%2F%2Fid.example.com",
            "otpauth://totp/x?secret=JBSWY3DP",
            "countersign://other?server=https%3A%2F%2Fa&code=x",
        ] {
            assert!(parse_activation(bad).is_err(), "{bad}");
        }
    }
}
