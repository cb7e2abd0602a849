//! The device protocol over HTTPS (feature `terminal`): a blocking client of the protocol's
//! endpoints — registration, challenges, pending requests, answers, phone sign-in — sending the
//! messages `protocol` builds and signs.

use crate::keys::SoftwareKey;
use crate::protocol::{
    account_of, check_server, register_request, register_with_pass_request, ActivationLink,
    DeviceAccount, DeviceError,
};
use countersign_proto::device as proto;
use countersign_proto::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

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
        let key = SoftwareKey::generate()?;
        let req = register_request(link, name, &key)?;
        let r: proto::RegisterResponse = self.post(&link.server, "register", &req)?;
        Ok(account_of(&link.server, r, &key, None))
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
        let (key, phone_key) = (SoftwareKey::generate()?, SoftwareKey::generate()?);
        let req = register_with_pass_request(upn, pass, name, &key, &phone_key)?;
        let r: proto::RegisterResponse = self.post(server, "register-with-pass", &req)?;
        Ok(account_of(server, r, &key, Some(&phone_key)))
    }

    /// "Enable phone sign-in" for a registered account: a new phone sign-in key, proved together
    /// with the device key over a fresh challenge. On success the account holds the key.
    pub fn enable_phone_sign_in(&self, a: &mut DeviceAccount) -> Result<(), DeviceError> {
        let phone_key = SoftwareKey::generate()?;
        let req = a.phone_sign_in_request(self.challenge(a)?, &phone_key)?;
        let _: proto::PhoneSignInResponse = self.post(&a.server, "phone-sign-in", &req)?;
        a.phone_sign_in_on(&phone_key);
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
        a.hello(self.challenge(a)?)
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
