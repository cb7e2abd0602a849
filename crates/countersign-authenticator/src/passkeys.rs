//! The app as a passkey provider: passkeys made and used by passkey-rs' software authenticator
//! and client, kept in the vault (encrypted under the App Lock PIN, which is their user
//! verification: the vault opens only with it). They are device-bound — never exported, never in
//! a backup — and carry the Countersign Authenticator's AAGUID, so the server knows them for what
//! they are. Registration goes through the device protocol (the device's key proved), and so
//! does signing a computer in from a cross-device link (`countersign://passkey?…`).

#[cfg(feature = "terminal")]
use crate::device::Client;
#[cfg(feature = "terminal")]
use crate::protocol::DeviceAccount;
use crate::protocol::{check_server, DeviceError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use countersign_proto::device as proto;
use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client as WebauthnClient, DefaultClientData};
use passkey::crypto::aws_lc_rs::AwsLcRsBackend;
use passkey::crypto::coset::{CborSerializable, CoseKey};
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use passkey::types::Passkey;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A passkey as the vault keeps it.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct StoredPasskey {
    /// The account's server (the tenant's address) it was registered through.
    #[zeroize(skip)]
    pub server: String,
    #[zeroize(skip)]
    pub upn: String,
    #[zeroize(skip)]
    pub rp_id: String,
    /// Base64url.
    #[zeroize(skip)]
    pub credential_id: String,
    /// Base64url of the server's user handle.
    #[zeroize(skip)]
    pub user_handle: String,
    /// Base64url of the private key, a COSE key (CBOR).
    key: String,
    pub counter: Option<u32>,
    #[zeroize(skip)]
    pub created: u64,
}

impl std::fmt::Debug for StoredPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPasskey")
            .field("upn", &self.upn)
            .field("rp_id", &self.rp_id)
            .field("credential_id", &self.credential_id)
            .finish_non_exhaustive()
    }
}

impl StoredPasskey {
    /// `alice@contoso.com on localhost (AbCd…)`.
    pub fn label(&self) -> String {
        let short: String = self.credential_id.chars().take(8).collect();
        format!("{} on {} ({short}…)", self.upn, self.rp_id)
    }

    fn to_passkey(&self) -> Result<Passkey, DeviceError> {
        let b = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| DeviceError::BadKey);
        let key = CoseKey::from_slice(&b(&self.key)?).map_err(|_| DeviceError::BadKey)?;
        Ok(Passkey {
            key,
            credential_id: b(&self.credential_id)?.into(),
            rp_id: self.rp_id.clone(),
            user_handle: Some(b(&self.user_handle)?.into()),
            username: Some(self.upn.clone()),
            user_display_name: None,
            counter: self.counter,
            extensions: Default::default(),
        })
    }

    pub fn from_passkey(server: &str, upn: &str, p: &Passkey) -> Result<Self, DeviceError> {
        let key = p.key.clone().to_vec().map_err(|_| DeviceError::BadKey)?;
        Ok(Self {
            server: server.to_string(),
            upn: upn.to_string(),
            rp_id: p.rp_id.clone(),
            credential_id: URL_SAFE_NO_PAD.encode(&*p.credential_id),
            user_handle: p
                .user_handle
                .as_ref()
                .map(|h| URL_SAFE_NO_PAD.encode(&**h))
                .unwrap_or_default(),
            key: URL_SAFE_NO_PAD.encode(key),
            counter: p.counter,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }
}

/// The App Lock PIN opened the vault for this very operation: the user is present and verified.
struct AppLock;

#[async_trait::async_trait]
impl UserValidationMethod for AppLock {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        _presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence: true,
            verification: true,
        })
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }
}

fn aaguid() -> Aaguid {
    let hex: String = proto::PASSKEY_AAGUID
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    Aaguid::from(out)
}

/// The software authenticator over one passkey (or none, to make one).
fn authenticator(
    store: Option<Passkey>,
) -> Authenticator<Option<Passkey>, AppLock, AwsLcRsBackend> {
    let mut auth = Authenticator::new(aaguid(), store, AppLock, AwsLcRsBackend);
    // Device-bound: a counter helps the server tell a clone.
    auth.set_make_credentials_with_signature_counter(true);
    auth
}

/// Plain http only for a server on this machine, as elsewhere in the app.
fn local(origin: &url::Url) -> bool {
    matches!(origin.host_str(), Some("localhost"))
}

/// Runs passkey-rs' futures, which only compute (no I/O, no timers: its `tokio` feature is off),
/// to completion on this thread — also from inside an async runtime's blocking section, where a
/// runtime of its own may not be started.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

fn protocol(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Protocol(e.to_string())
}

fn origin_of(origin: &str) -> Result<url::Url, DeviceError> {
    check_server(origin)?;
    url::Url::parse(origin).map_err(protocol)
}

/// Makes a passkey for `origin` with the registration `options` a server sent: the browser's
/// answer to send back (`PublicKeyCredential` JSON) and the passkey to keep in the vault.
pub fn make(
    origin: &str,
    options: serde_json::Value,
) -> Result<(serde_json::Value, Passkey), DeviceError> {
    let origin = origin_of(origin)?;
    let options: CredentialCreationOptions = serde_json::from_value(options).map_err(protocol)?;
    let mut wc = WebauthnClient::new(authenticator(None)).allows_insecure_localhost(local(&origin));
    let created = block_on(wc.register(&origin, options, DefaultClientData))
        .map_err(|e| protocol(format!("the passkey could not be made: {e:?}")))?;
    let passkey = wc
        .authenticator()
        .store()
        .clone()
        .ok_or_else(|| protocol("the authenticator kept no passkey"))?;
    Ok((serde_json::to_value(&created).map_err(protocol)?, passkey))
}

/// Signs for `origin` with `stored`, as the authentication `options` a server sent ask: the
/// answer to send back. Its counter moves on: save the vault after.
pub fn assert(
    origin: &str,
    options: serde_json::Value,
    stored: &mut StoredPasskey,
) -> Result<serde_json::Value, DeviceError> {
    let origin = origin_of(origin)?;
    let options: CredentialRequestOptions = serde_json::from_value(options).map_err(protocol)?;
    let mut wc = WebauthnClient::new(authenticator(Some(stored.to_passkey()?)))
        .allows_insecure_localhost(local(&origin));
    let asserted = block_on(wc.authenticate(&origin, options, DefaultClientData))
        .map_err(|e| protocol(format!("the passkey could not sign: {e:?}")))?;
    if let Some(p) = wc.authenticator().store() {
        stored.counter = p.counter;
    }
    serde_json::to_value(&asserted).map_err(protocol)
}

/// Creates a passkey for the account `a` (registered for sign-in requests) through the device
/// protocol; the caller keeps it in the vault.
#[cfg(feature = "terminal")]
pub fn register(client: &Client, a: &DeviceAccount) -> Result<StoredPasskey, DeviceError> {
    let req = proto::PasskeyRegisterRequest {
        hello: client.hello(a)?,
    };
    let r: proto::PasskeyRegisterResponse = client.post(&a.server, "passkey/register", &req)?;
    let (credential, passkey) = make(&r.origin, r.options)?;
    let finish = proto::PasskeyRegisterFinish {
        hello: client.hello(a)?,
        ceremony: r.ceremony,
        credential,
    };
    let _: proto::PasskeyRegistered = client.post(&a.server, "passkey/register/finish", &finish)?;
    StoredPasskey::from_passkey(&a.server, &a.upn, &passkey)
}

/// A cross-device link: the server (the tenant's address) and the link's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyLink {
    pub server: String,
    pub code: String,
}

/// Parses `countersign://passkey?server=…&code=…`.
pub fn parse_link(link: &str) -> Result<PasskeyLink, DeviceError> {
    let bad = |why: &str| DeviceError::BadLink(why.to_string());
    let url = url::Url::parse(link.trim()).map_err(|_| bad("it is not a URL"))?;
    if url.scheme() != proto::ACTIVATION_SCHEME || url.host_str() != Some(proto::PASSKEY_LINK_HOST)
    {
        return Err(bad("it does not start with countersign://passkey"));
    }
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let server = get("server").ok_or_else(|| bad("it has no server"))?;
    let code = get("code").ok_or_else(|| bad("it has no code"))?;
    check_server(&server)?;
    Ok(PasskeyLink {
        server: server.trim_end_matches('/').to_string(),
        code,
    })
}

/// What a link asks: the site and the short code to compare with the computer's page.
#[cfg(feature = "terminal")]
pub fn link_request(
    client: &Client,
    link: &PasskeyLink,
) -> Result<proto::PasskeyLinkResponse, DeviceError> {
    let req = proto::PasskeyLinkRequest {
        code: link.code.clone(),
    };
    client.post(&link.server, "passkey/request", &req)
}

/// Signs the computer in: an assertion with `stored` (its counter moves on: save the vault
/// after).
#[cfg(feature = "terminal")]
pub fn answer_link(
    client: &Client,
    link: &PasskeyLink,
    request: &proto::PasskeyLinkResponse,
    stored: &mut StoredPasskey,
) -> Result<(), DeviceError> {
    let answer = proto::PasskeyLinkAnswer {
        code: link.code.clone(),
        credential: assert(&request.origin, request.options.clone(), stored)?,
    };
    let _: serde_json::Value = client.post(&link.server, "passkey/answer", &answer)?;
    Ok(())
}

/// The passkey to use for a link's site, out of the vault's: the one for the link's server (the
/// first when there are several accounts there).
pub fn for_link<'a>(
    passkeys: &'a mut [StoredPasskey],
    link: &PasskeyLink,
) -> Option<&'a mut StoredPasskey> {
    passkeys.iter_mut().find(|p| p.server == link.server)
}
