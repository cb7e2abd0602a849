//! The device protocol (`docs/device-protocol.md`) without I/O: activation links, the accounts
//! this device registered (one key per account, so two accounts of one device can't be linked;
//! the private keys stay in the vault), and every signed message the device sends — registrations,
//! proofs over a challenge, answers. What is signed comes from `countersign_proto::device`, the
//! same functions the server checks with; the keys sign through [`crate::keys::Signer`].

use crate::keys::{Signer, SoftwareKey};
use countersign_proto::device as proto;
use serde::{Deserialize, Serialize};
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
pub fn check_server(server: &str) -> Result<(), DeviceError> {
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

    /// This account's device key.
    pub fn device_key(&self) -> Result<SoftwareKey, DeviceError> {
        SoftwareKey::from_pkcs8(&self.key)
    }

    /// This account's phone sign-in key, once phone sign-in is on.
    pub fn phone_sign_in_key(&self) -> Result<SoftwareKey, DeviceError> {
        let key = self.phone_key.as_deref();
        SoftwareKey::from_pkcs8(key.ok_or_else(|| DeviceError::NoPhoneKey(self.upn.clone()))?)
    }

    /// The device's proof over a server `challenge`: the `hello` of the channel and of a fetch
    /// of pending requests.
    pub fn hello(&self, challenge: String) -> Result<proto::Hello, DeviceError> {
        Ok(proto::Hello {
            signature: self
                .device_key()?
                .sign(&proto::hello_payload(&self.device_id, &challenge))?,
            device_id: self.device_id.clone(),
            challenge,
            app_version: APP_VERSION.into(),
        })
    }

    /// "Enable phone sign-in": the request proving `phone_key` together with the device key
    /// over `challenge`. Once the server accepts it, [`DeviceAccount::phone_sign_in_on`].
    pub fn phone_sign_in_request(
        &self,
        challenge: String,
        phone_key: &dyn Signer,
    ) -> Result<proto::PhoneSignInRequest, DeviceError> {
        let public = phone_key.public_key();
        let payload = proto::phone_sign_in_payload(&self.device_id, &challenge, &public);
        Ok(proto::PhoneSignInRequest {
            device_id: self.device_id.clone(),
            challenge,
            signature: self.device_key()?.sign(&payload)?,
            phone_signature: phone_key.sign(&payload)?,
            phone_key: public,
            app_version: APP_VERSION.into(),
        })
    }

    /// Phone sign-in is on with `key`, which the server accepted.
    pub fn phone_sign_in_on(&mut self, key: &SoftwareKey) {
        self.phone_key = Some(key.pkcs8().to_string());
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
            let payload = proto::phone_answer_payload(request_id, decision, &number, pin);
            self.phone_sign_in_key()?.sign(&payload)?
        } else {
            let payload = proto::answer_payload(request_id, decision, &number, pin);
            self.device_key()?.sign(&payload)?
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

/// The request registering `key` with an activation link.
pub fn register_request(
    link: &ActivationLink,
    name: &str,
    key: &dyn Signer,
) -> Result<proto::RegisterRequest, DeviceError> {
    let public_key = key.public_key();
    Ok(proto::RegisterRequest {
        signature: key.sign(&proto::register_payload(&link.code, &public_key))?,
        code: link.code.clone(),
        public_key,
        name: name.into(),
        app_version: APP_VERSION.into(),
        platform: std::env::consts::OS.into(),
    })
}

/// The request of direct phone sign-in registration: `upn` with a Temporary Access Pass, the
/// device key and the phone sign-in key proved together.
pub fn register_with_pass_request(
    upn: &str,
    pass: &str,
    name: &str,
    key: &dyn Signer,
    phone_key: &dyn Signer,
) -> Result<proto::RegisterWithPassRequest, DeviceError> {
    let (public_key, phone_public) = (key.public_key(), phone_key.public_key());
    let payload = proto::register_with_pass_payload(upn, &public_key, &phone_public);
    Ok(proto::RegisterWithPassRequest {
        upn: upn.into(),
        pass: pass.into(),
        signature: key.sign(&payload)?,
        phone_signature: phone_key.sign(&payload)?,
        public_key,
        phone_key: phone_public,
        name: name.into(),
        app_version: APP_VERSION.into(),
        platform: std::env::consts::OS.into(),
    })
}

/// The account a registration made, with the keys this device made for it; and the
/// `otpauth://` URI of its verification codes, when the server gave them.
pub fn account_of(
    server: &str,
    r: proto::RegisterResponse,
    key: &SoftwareKey,
    phone_key: Option<&SoftwareKey>,
) -> (DeviceAccount, Option<String>) {
    let account = DeviceAccount {
        server: server.into(),
        upn: r.account.upn,
        display_name: r.account.display_name,
        tenant: r.account.tenant,
        device_id: r.device_id,
        key: key.pkcs8().to_string(),
        phone_key: phone_key.map(|k| k.pkcs8().to_string()),
    };
    (account, r.otpauth)
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
