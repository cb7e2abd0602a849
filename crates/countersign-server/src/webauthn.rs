//! The WebAuthn verifier: the core's `passkey::Verifier` over webauthn-rs, the only module that
//! knows that crate (a pure-Rust verifier of our own could replace it here alone). The relying
//! party is `public_url`: its host is the RP ID, bound into every passkey (changing the host
//! orphans them), and its origin the only one accepted. User verification is required for every
//! ceremony; registrations ask for a discoverable credential (a passkey the browser can offer
//! with no name typed) and accept attestation "none".

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use countersign_core::passkey::{
    Asserted, Begun, Claimed, NewPasskey, PasskeyCredential, Refusal, Verifier, CEREMONY_TTL,
};
use countersign_core::{CoreError, CoreResult};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use webauthn_rs::prelude::*;

/// The verifier's state of a ceremony, kept server side (in the ceremony's row) as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum State {
    Register(PasskeyRegistration),
    SignIn(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

pub struct WebauthnVerifier {
    webauthn: Webauthn,
}

impl std::fmt::Debug for WebauthnVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebauthnVerifier").finish_non_exhaustive()
    }
}

impl WebauthnVerifier {
    /// The relying party of `public_url`. An IP address cannot be an RP ID (browsers refuse
    /// it): such a server has no passkeys, and says why.
    pub fn new(public_url: &str) -> Result<Self, String> {
        let origin = Url::parse(public_url).map_err(|e| format!("public_url: {e}"))?;
        let rp_id = origin.domain().ok_or_else(|| {
            format!(
                "passkeys need public_url to name a host, not an IP address ({public_url}); \
                 use e.g. http://localhost:8080"
            )
        })?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .and_then(|b| {
                b.rp_name("Countersign")
                    .timeout(Duration::from_secs(CEREMONY_TTL as u64))
                    .build()
            })
            .map_err(|e| format!("passkeys: relying party {rp_id}: {e}"))?;
        Ok(Self { webauthn })
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn refused(e: WebauthnError) -> Refusal {
    Refusal(match e {
        WebauthnError::CredentialPossibleCompromise => {
            countersign_core::passkey::COUNTER_REGRESSED.to_string()
        }
        other => other.to_string(),
    })
}

fn internal(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("webauthn: {e}"))
}

fn state_json(s: &State) -> CoreResult<String> {
    serde_json::to_string(s).map_err(internal)
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, Refusal> {
    serde_json::from_str(json).map_err(|e| Refusal(format!("{what} is not valid: {e}")))
}

fn state(json: &str) -> Result<State, Refusal> {
    serde_json::from_str(json).map_err(|_| Refusal("unreadable ceremony state".into()))
}

fn passkey_of(p: &PasskeyCredential) -> Result<Passkey, Refusal> {
    serde_json::from_str(&p.credential).map_err(|_| Refusal("unreadable stored credential".into()))
}

/// The AAGUID in a registration's authenticator data, unless zero (with attestation "none" an
/// authenticator may send zeros; the value is what it claims, not verified).
fn aaguid(reg: &RegisterPublicKeyCredential) -> Option<String> {
    #[derive(Deserialize)]
    struct Attestation {
        #[serde(rename = "authData", with = "serde_bytes_compat")]
        auth_data: Vec<u8>,
    }
    let att: Attestation = serde_cbor_2::from_slice(&reg.response.attestation_object).ok()?;
    let data = webauthn_rs_core::internals::AuthenticatorData::<
        webauthn_rs_core::proto::Registration,
    >::try_from(att.auth_data.as_slice())
    .ok()?;
    let id = Uuid::from_bytes(data.acd?.aaguid);
    (!id.is_nil()).then(|| id.to_string())
}

/// CBOR byte strings as `Vec<u8>` (serde's default would read a sequence of integers).
mod serde_bytes_compat {
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_bytes(V)
    }
}

impl Verifier for WebauthnVerifier {
    fn new_user_handle(&self) -> String {
        Uuid::new_v4().to_string()
    }

    fn start_registration(
        &self,
        user_handle: &str,
        name: &str,
        display_name: &str,
        exclude: &[String],
    ) -> CoreResult<Begun> {
        let handle = Uuid::parse_str(user_handle).map_err(internal)?;
        let exclude: Vec<CredentialID> = exclude
            .iter()
            .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
            .collect();
        let (ccr, reg) = self
            .webauthn
            .start_passkey_registration(handle, name, display_name, Some(exclude))
            .map_err(internal)?;
        let mut options = serde_json::to_value(&ccr).map_err(internal)?;
        // webauthn-rs asks for a non-discoverable credential ("discouraged"); a passkey the
        // browser offers with no name typed must be discoverable. Its finish does not check this.
        let sel = &mut options["publicKey"]["authenticatorSelection"];
        sel["residentKey"] = "required".into();
        sel["requireResidentKey"] = true.into();
        Ok(Begun {
            options,
            state: state_json(&State::Register(reg))?,
        })
    }

    fn finish_registration(&self, state_s: &str, response: &str) -> Result<NewPasskey, Refusal> {
        let State::Register(reg_state) = state(state_s)? else {
            return Err(Refusal("not a registration".into()));
        };
        let reg: RegisterPublicKeyCredential = parse("the registration", response)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&reg, &reg_state)
            .map_err(refused)?;
        let cred = Credential::from(passkey.clone());
        Ok(NewPasskey {
            credential_id: b64(passkey.cred_id().as_ref()),
            credential: serde_json::to_string(&passkey).map_err(|e| Refusal(e.to_string()))?,
            aaguid: aaguid(&reg),
            sign_count: i64::from(cred.counter),
            backup_eligible: cred.backup_eligible,
            backup_state: cred.backup_state,
        })
    }

    fn start_authentication(&self, passkeys: &[PasskeyCredential]) -> CoreResult<Begun> {
        if passkeys.is_empty() {
            let (rcr, st) = self
                .webauthn
                .start_discoverable_authentication()
                .map_err(internal)?;
            let mut options = serde_json::to_value(&rcr).map_err(internal)?;
            // The page decides between the autofill (conditional) and the modal prompt.
            if let Some(o) = options.as_object_mut() {
                o.remove("mediation");
            }
            return Ok(Begun {
                options,
                state: state_json(&State::Discoverable(st))?,
            });
        }
        let keys = passkeys
            .iter()
            .map(|p| passkey_of(p).map_err(|r| internal(r.0)))
            .collect::<CoreResult<Vec<Passkey>>>()?;
        let (rcr, st) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(internal)?;
        Ok(Begun {
            options: serde_json::to_value(&rcr).map_err(internal)?,
            state: state_json(&State::SignIn(st))?,
        })
    }

    fn claimed(&self, response: &str) -> Result<Claimed, Refusal> {
        let cred: PublicKeyCredential = parse("the assertion", response)?;
        // A handle that is no handle of ours is kept as sent: it then belongs to nobody, and is
        // refused like another user's (§7.2 step 6), not taken for an absent one.
        let user_handle = cred
            .get_user_unique_id()
            .map(|b| match Uuid::from_slice(b) {
                Ok(u) => u.to_string(),
                Err(_) => b64(b),
            });
        Ok(Claimed {
            credential_id: b64(cred.get_credential_id()),
            user_handle,
        })
    }

    fn finish_authentication(
        &self,
        state_s: &str,
        response: &str,
        stored: &PasskeyCredential,
    ) -> Result<Asserted, Refusal> {
        let cred: PublicKeyCredential = parse("the assertion", response)?;
        let mut passkey = passkey_of(stored)?;
        let result = match state(state_s)? {
            State::SignIn(st) => self.webauthn.finish_passkey_authentication(&cred, &st),
            State::Discoverable(st) => self.webauthn.finish_discoverable_authentication_v2(
                &cred,
                st,
                Credential::from(passkey.clone()),
            ),
            State::Register(_) => return Err(Refusal("not a sign-in".into())),
        }
        .map_err(refused)?;
        if result.cred_id() != passkey.cred_id() {
            return Err(Refusal("the assertion is of another credential".into()));
        }
        passkey.update_credential(&result);
        Ok(Asserted {
            sign_count: i64::from(result.counter()),
            backup_eligible: result.backup_eligible(),
            backup_state: result.backup_state(),
            credential: serde_json::to_string(&passkey).map_err(|e| Refusal(e.to_string()))?,
        })
    }
}
