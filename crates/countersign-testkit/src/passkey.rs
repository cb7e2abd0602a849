//! A software WebAuthn authenticator for tests: it answers the server's registration and
//! sign-in options as a browser and a passkey would — attestation "none", an ES256 key (P-256,
//! aws-lc-rs), CBOR by serde_cbor_2 — and can be told to get any part wrong (the origin, the RP
//! ID, the flags, the counter, the signature, the user handle), so that each check of WebAuthn
//! §7.1/§7.2 can be seen refusing. Nothing here is product code.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_cbor_2::Value as Cbor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// One passkey held by the software authenticator.
pub struct SoftPasskey {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    /// The user handle the server gave at registration.
    pub user_handle: Vec<u8>,
    pub rp_id: String,
    pub counter: u32,
    /// Synced (backup eligible and backed up), as a password manager's passkey is.
    pub synced: bool,
    pub aaguid: [u8; 16],
}

/// What to get wrong (or set) in one answer; the default gets everything right.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The origin in the client data instead of the one given.
    pub origin: Option<String>,
    /// The RP ID hashed into the authenticator data instead of the passkey's.
    pub rp_id: Option<String>,
    /// Leave out the UV flag (user verification).
    pub no_uv: bool,
    /// Leave out the UP flag (user presence).
    pub no_up: bool,
    /// The signature counter to send instead of the next one.
    pub counter: Option<u32>,
    /// Flip a bit of the signature.
    pub tamper_signature: bool,
    /// The user handle to send instead of the passkey's (`Some(vec![])`: none).
    pub user_handle: Option<Vec<u8>>,
    /// The challenge to answer instead of the options' (base64url).
    pub challenge: Option<String>,
    /// The client data's type instead of the ceremony's.
    pub kind: Option<String>,
    /// At registration: the authenticator model's AAGUID (default: 5a5a…).
    pub aaguid: Option<[u8; 16]>,
    /// At registration: a synced passkey (BE and BS flags).
    pub synced: bool,
    /// At registration: "packed" attestation by this maker's authenticator (else "none").
    pub attest: Option<std::sync::Arc<Attester>>,
    /// At registration: the browser's credProps extension output, `rk` (whether it made a
    /// discoverable credential); none sent when `None`.
    pub resident_key: Option<bool>,
}

/// An authenticator's attestation key and certificate, issued by its maker's root.
#[derive(Debug)]
pub struct Attester {
    key: rcgen::KeyPair,
    cert_der: Vec<u8>,
}

/// A maker of authenticators of model `aaguid`: its attestation root (PEM, as a server's
/// configuration takes it) and an authenticator's attester. The leaf meets WebAuthn §8.2.1 (v3,
/// C/O/OU "Authenticator Attestation"/CN, not a CA, the AAGUID extension).
pub fn attestation_maker(aaguid: [u8; 16]) -> (String, Attester) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let mut root = CertificateParams::new(Vec::<String>::new()).expect("params");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    root.distinguished_name
        .push(DnType::CommonName, "Test Attestation Root");
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let issuer = CertifiedIssuer::self_signed(root, root_key).expect("root");
    let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("params");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let dn = &mut leaf.distinguished_name;
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "Countersign Test Keys");
    dn.push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    dn.push(DnType::CommonName, "Test Key");
    let mut octets = vec![0x04, 16];
    octets.extend_from_slice(&aaguid);
    leaf.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
        octets,
    )];
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = leaf.signed_by(&key, &issuer).expect("leaf");
    (
        issuer.pem(),
        Attester {
            key,
            cert_der: cert.der().to_vec(),
        },
    )
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn client_data(kind: &str, options: &Value, origin: &str, a: &Answer) -> Vec<u8> {
    let challenge = a
        .challenge
        .clone()
        .unwrap_or_else(|| options["publicKey"]["challenge"].as_str().unwrap().into());
    json!({
        "type": a.kind.as_deref().unwrap_or(kind),
        "challenge": challenge,
        "origin": a.origin.as_deref().unwrap_or(origin),
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes()
}

impl SoftPasskey {
    /// Answers registration `options` (`{"publicKey": …}` as the server sent them) from
    /// `origin`: a new passkey, and the browser's answer (JSON) to post.
    pub fn register(options: &Value, origin: &str, a: &Answer) -> (Self, Value) {
        let pk = &options["publicKey"];
        let rng = SystemRandom::new();
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref())
            .expect("P-256 key");
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id).expect("random");
        let user_handle = URL_SAFE_NO_PAD
            .decode(pk["user"]["id"].as_str().expect("user.id"))
            .expect("user.id is base64url");
        let me = Self {
            key,
            credential_id: id.to_vec(),
            user_handle,
            rp_id: pk["rp"]["id"].as_str().expect("rp.id").to_string(),
            counter: 0,
            synced: a.synced,
            aaguid: a.aaguid.unwrap_or([0x5a; 16]),
        };
        let point = me.key.public_key().as_ref().to_vec(); // 0x04 | x | y
        let mut cose = BTreeMap::new();
        cose.insert(Cbor::Integer(1), Cbor::Integer(2)); // kty: EC2
        cose.insert(Cbor::Integer(3), Cbor::Integer(-7)); // alg: ES256
        cose.insert(Cbor::Integer(-1), Cbor::Integer(1)); // crv: P-256
        cose.insert(Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec()));
        cose.insert(Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec()));
        let mut attested = me.aaguid.to_vec();
        attested.extend_from_slice(&(me.credential_id.len() as u16).to_be_bytes());
        attested.extend_from_slice(&me.credential_id);
        attested.extend(serde_cbor_2::to_vec(&Cbor::Map(cose)).expect("CBOR"));
        let auth_data = me.auth_data(a, AT, &attested);
        let cd = client_data("webauthn.create", options, origin, a);
        let (fmt, stmt) = match &a.attest {
            None => ("none", BTreeMap::new()),
            Some(att) => {
                use rcgen::SigningKey;
                let mut signed = auth_data.clone();
                signed.extend_from_slice(&Sha256::digest(&cd));
                let sig = att.key.sign(&signed).expect("attestation signature");
                let mut stmt = BTreeMap::new();
                stmt.insert(Cbor::Text("alg".into()), Cbor::Integer(-7));
                stmt.insert(Cbor::Text("sig".into()), Cbor::Bytes(sig));
                let x5c = Cbor::Array(vec![Cbor::Bytes(att.cert_der.clone())]);
                stmt.insert(Cbor::Text("x5c".into()), x5c);
                ("packed", stmt)
            }
        };
        let mut att = BTreeMap::new();
        att.insert(Cbor::Text("fmt".into()), Cbor::Text(fmt.into()));
        att.insert(Cbor::Text("attStmt".into()), Cbor::Map(stmt));
        att.insert(Cbor::Text("authData".into()), Cbor::Bytes(auth_data));
        let att = serde_cbor_2::to_vec(&Cbor::Map(att)).expect("CBOR");
        let answer = json!({
            "id": b64(&me.credential_id),
            "rawId": b64(&me.credential_id),
            "type": "public-key",
            "response": {"attestationObject": b64(&att), "clientDataJSON": b64(&cd), "transports": ["internal"]},
            "extensions": match a.resident_key {
                Some(rk) => json!({"credProps": {"rk": rk}}),
                None => json!({}),
            },
        });
        (me, answer)
    }

    /// The authenticator data: RP ID hash, flags, counter, and `extra` (attested credential data).
    fn auth_data(&self, a: &Answer, more_flags: u8, extra: &[u8]) -> Vec<u8> {
        let rp = a.rp_id.as_deref().unwrap_or(&self.rp_id);
        let mut flags = more_flags;
        if !a.no_up {
            flags |= UP;
        }
        if !a.no_uv {
            flags |= UV;
        }
        if self.synced {
            flags |= BE | BS;
        }
        let mut out = Sha256::digest(rp.as_bytes()).to_vec();
        out.push(flags);
        out.extend_from_slice(&a.counter.unwrap_or(self.counter).to_be_bytes());
        out.extend_from_slice(extra);
        out
    }

    /// Answers sign-in `options` from `origin` (the counter moves on unless `a` says otherwise).
    pub fn assert(&mut self, options: &Value, origin: &str, a: &Answer) -> Value {
        self.counter += 1;
        let auth_data = self.auth_data(a, 0, &[]);
        let cd = client_data("webauthn.get", options, origin, a);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&cd));
        let mut sig = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("signature")
            .as_ref()
            .to_vec();
        if a.tamper_signature {
            let last = sig.len() - 1;
            sig[last] ^= 0x01;
        }
        let handle = a
            .user_handle
            .clone()
            .unwrap_or_else(|| self.user_handle.clone());
        let mut response = json!({
            "authenticatorData": b64(&auth_data),
            "clientDataJSON": b64(&cd),
            "signature": b64(&sig),
        });
        if !handle.is_empty() {
            response["userHandle"] = b64(&handle).into();
        }
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": response,
            "extensions": {},
        })
    }

    /// The credential id as the server names it (base64url).
    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }
}
