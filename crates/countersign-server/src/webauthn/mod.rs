//! The WebAuthn verifier: the core's `passkey::Verifier` over webauthn-rs, the only module that
//! knows that crate (another verifier could replace it here alone). webauthn-rs begins and
//! finishes registrations (attestation included) and parses sign-in answers; the check of a
//! sign-in's answer is [`assertion`]'s, with aws-lc-rs verifying the signature. The relying
//! party is `public_url`: its host is the RP ID, bound into every passkey (changing the host
//! orphans them), and its origin the only one accepted. User verification is required for every
//! ceremony; registrations ask for a discoverable credential (a passkey the browser can offer
//! with no name typed) and accept attestation "none" — unless attestation is enforced: then only
//! a credential whose attestation chains to a configured maker's root, for one of that root's
//! AAGUIDs, is accepted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use countersign_core::methods::passkey::{
    Asserted, Begun, Claimed, NewPasskey, PasskeyCredential, Refusal, Verifier, CEREMONY_TTL,
};
use countersign_core::{CoreError, CoreResult};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use webauthn_rs::prelude::*;
use webauthn_rs_core::proto::{
    AllowCredentials, PublicKeyCredentialRequestOptions, RequestChallengeResponse,
    UserVerificationPolicy,
};

pub mod assertion;

/// An authenticator model whose attestation is trusted: its maker's attestation root and the
/// model's AAGUID (a root may be listed once per model it makes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRoot {
    /// PEM.
    pub ca_pem: String,
    pub aaguid: String,
    /// The model's name, as security info shows it.
    pub model: String,
}

/// The verifier's state of a ceremony, kept server side (in the ceremony's row) as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum State {
    Register(PasskeyRegistration),
    RegisterAttested(AttestedPasskeyRegistration),
    SignIn(assertion::Expected),
}

pub struct WebauthnVerifier {
    webauthn: Webauthn,
    rp_id: String,
    rp: assertion::RelyingParty,
    /// Trusted makers' roots, for enforced attestation; empty: none configured.
    roots: AttestationCaList,
    /// Model names by AAGUID, from the roots.
    models: Vec<(Uuid, String)>,
}

impl std::fmt::Debug for WebauthnVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebauthnVerifier").finish_non_exhaustive()
    }
}

impl WebauthnVerifier {
    /// The relying party of `public_url`. An IP address cannot be an RP ID (browsers refuse
    /// it): such a server has no passkeys, and says why.
    pub fn new(public_url: &str, roots: &[AttestationRoot]) -> Result<Self, String> {
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
        let mut list = AttestationCaListBuilder::new();
        let mut models = Vec::new();
        for r in roots {
            let aaguid = Uuid::parse_str(&r.aaguid)
                .map_err(|_| format!("passkey_attestation: '{}' is not an AAGUID", r.aaguid))?;
            list.insert_device_pem(
                r.ca_pem.as_bytes(),
                aaguid,
                r.model.clone(),
                Default::default(),
            )
            .map_err(|e| format!("passkey_attestation: the root of {}: {e:?}", r.model))?;
            models.push((aaguid, r.model.clone()));
        }
        Ok(Self {
            webauthn,
            rp_id: rp_id.to_string(),
            rp: assertion::RelyingParty::new(&origin, rp_id),
            roots: list.build(),
            models,
        })
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn refused(e: WebauthnError) -> Refusal {
    // The variant names the inner cause too (a chain refused for a missing key usage…).
    Refusal(format!("{e} ({e:?})"))
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
        attested: bool,
    ) -> CoreResult<Begun> {
        let handle = Uuid::parse_str(user_handle).map_err(internal)?;
        let exclude: Vec<CredentialID> = exclude
            .iter()
            .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
            .collect();
        let (ccr, state) = if attested {
            let (ccr, reg) = self
                .webauthn
                .start_attested_passkey_registration(
                    handle,
                    name,
                    display_name,
                    Some(exclude),
                    self.roots.clone(),
                    None,
                )
                .map_err(internal)?;
            (ccr, State::RegisterAttested(reg))
        } else {
            let (ccr, reg) = self
                .webauthn
                .start_passkey_registration(handle, name, display_name, Some(exclude))
                .map_err(internal)?;
            (ccr, State::Register(reg))
        };
        let mut options = serde_json::to_value(&ccr).map_err(internal)?;
        // webauthn-rs asks for a non-discoverable credential ("discouraged"); a passkey the
        // browser offers with no name typed must be discoverable. Its finish does not check this.
        let sel = &mut options["publicKey"]["authenticatorSelection"];
        sel["residentKey"] = "required".into();
        sel["requireResidentKey"] = true.into();
        Ok(Begun {
            options,
            state: state_json(&state)?,
        })
    }

    fn can_attest(&self) -> bool {
        !self.roots.is_empty()
    }

    fn finish_registration(&self, state_s: &str, response: &str) -> Result<NewPasskey, Refusal> {
        let reg: RegisterPublicKeyCredential = parse("the registration", response)?;
        // Attested: the AAGUID is the one its maker's certificate vouches for.
        let (passkey, attested_aaguid) = match state(state_s)? {
            State::Register(st) => (
                self.webauthn
                    .finish_passkey_registration(&reg, &st)
                    .map_err(refused)?,
                None,
            ),
            State::RegisterAttested(st) => {
                let attested = self
                    .webauthn
                    .finish_attested_passkey_registration(&reg, &st)
                    .map_err(refused)?;
                let aaguid = match &attested.attestation().metadata {
                    AttestationMetadata::Packed { aaguid }
                    | AttestationMetadata::Tpm { aaguid, .. } => Some(*aaguid),
                    _ => None,
                }
                .ok_or_else(|| Refusal("attestation names no authenticator model".into()))?;
                (Passkey::from(attested), Some(aaguid))
            }
            _ => return Err(Refusal("not a registration".into())),
        };
        let model = attested_aaguid.and_then(|a| {
            self.models
                .iter()
                .find(|(g, _)| *g == a)
                .map(|(_, m)| m.clone())
        });
        let cred = Credential::from(passkey.clone());
        Ok(NewPasskey {
            credential_id: b64(passkey.cred_id().as_ref()),
            credential: serde_json::to_string(&passkey).map_err(|e| Refusal(e.to_string()))?,
            attested: attested_aaguid.is_some(),
            model,
            aaguid: attested_aaguid
                .map(|a| a.to_string())
                .or_else(|| aaguid(&reg)),
            sign_count: i64::from(cred.counter),
            backup_eligible: cred.backup_eligible,
            backup_state: cred.backup_state,
            discoverable: reg.extensions.cred_props.as_ref().and_then(|c| c.rk),
        })
    }

    fn start_authentication(&self, passkeys: &[PasskeyCredential]) -> CoreResult<Begun> {
        let allowed = passkeys
            .iter()
            .map(|p| {
                let cred = Credential::from(passkey_of(p).map_err(|r| internal(r.0))?);
                Ok(AllowCredentials {
                    type_: "public-key".into(),
                    id: cred.cred_id,
                    transports: cred.transports,
                })
            })
            .collect::<CoreResult<Vec<_>>>()?;
        let mut challenge = [0u8; 32];
        aws_lc_rs::rand::fill(&mut challenge).map_err(internal)?;
        let expected = assertion::Expected {
            challenge: b64(&challenge),
            allowed: allowed.iter().map(|a| b64(&a.id)).collect(),
        };
        // With no credentials listed, any discoverable one of this RP: the page decides between
        // the autofill (conditional mediation) and the modal prompt.
        let options = RequestChallengeResponse {
            public_key: PublicKeyCredentialRequestOptions {
                challenge: challenge.to_vec(),
                timeout: Some(CEREMONY_TTL as u32 * 1000),
                rp_id: self.rp_id.clone(),
                allow_credentials: allowed,
                user_verification: UserVerificationPolicy::Required,
                hints: None,
                extensions: None,
            },
            mediation: None,
        };
        Ok(Begun {
            options: serde_json::to_value(&options).map_err(internal)?,
            state: state_json(&State::SignIn(expected))?,
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
        let answer: PublicKeyCredential = parse("the assertion", response)?;
        let State::SignIn(expected) = state(state_s)? else {
            return Err(Refusal("not a sign-in".into()));
        };
        let cred = Credential::from(passkey_of(stored)?);
        let flags = self.rp.check(
            &expected,
            &answer,
            &cred,
            stored.sign_count,
            stored.backup_eligible,
        )?;
        Ok(Asserted {
            sign_count: i64::from(flags.sign_count),
            backup_eligible: flags.backup_eligible,
            backup_state: flags.backup_state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(ca_pem: &str, aaguid: &str) -> AttestationRoot {
        AttestationRoot {
            ca_pem: ca_pem.into(),
            aaguid: aaguid.into(),
            model: "Test".into(),
        }
    }

    /// A relying party needs a host name; a trusted maker needs a readable root and an AAGUID.
    #[test]
    fn the_relying_party_and_trusted_makers_are_checked_at_start() {
        assert!(WebauthnVerifier::new("http://localhost:8080", &[]).is_ok());
        let ip = WebauthnVerifier::new("http://127.0.0.1:8080", &[]).unwrap_err();
        assert!(ip.contains("not an IP address"), "{ip}");
        let aaguid = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
        let bad_pem = WebauthnVerifier::new("http://localhost:8080", &[root("nope", aaguid)]);
        assert!(bad_pem.unwrap_err().contains("the root of Test"));
        let bad_aaguid = WebauthnVerifier::new("http://localhost:8080", &[root("", "x")]);
        assert!(bad_aaguid.unwrap_err().contains("'x' is not an AAGUID"));
    }
}
