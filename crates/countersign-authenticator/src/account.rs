//! An account in the authenticator and its codes: TOTP (RFC 6238) by time, HOTP (RFC 4226) by
//! counter. Secrets are zeroized when an account is dropped.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            "SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    Totp { period: u64 },
    Hotp { counter: u64 },
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Account {
    #[zeroize(skip)]
    pub id: String,
    #[zeroize(skip)]
    pub issuer: String,
    #[zeroize(skip)]
    pub name: String,
    /// The shared secret, raw bytes (base32 in the vault's JSON).
    #[serde(with = "b32")]
    pub secret: Vec<u8>,
    #[zeroize(skip)]
    pub algorithm: Algorithm,
    #[zeroize(skip)]
    pub digits: u32,
    #[zeroize(skip)]
    pub kind: Kind,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("kind", &self.kind)
            .finish()
    }
}

mod b32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            v,
        ))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &s)
            .ok_or_else(|| serde::de::Error::custom("bad base32 secret"))
    }
}

/// What `codes` shows for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeView {
    pub id: String,
    pub issuer: String,
    pub name: String,
    pub code: String,
    /// Seconds until a TOTP code changes; `None` for HOTP.
    pub seconds_left: Option<u64>,
}

impl Account {
    /// The code for a "moving factor": the time step (TOTP) or the counter (HOTP). HOTP is TOTP
    /// with a one-second step evaluated at time = counter, which is exactly RFC 4226's HOTP.
    fn code_for(&self, factor: u64) -> String {
        let alg = match self.algorithm {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        };
        // Unchecked: accounts of other services may have secrets shorter than RFC 4226 asks.
        totp_rs::TOTP::new_unchecked(alg, self.digits as usize, 0, 1, self.secret.clone())
            .generate(factor)
    }

    /// The TOTP code at Unix time `now`, or the HOTP code of the current counter.
    pub fn code(&self, now: u64) -> CodeView {
        let (code, left) = match self.kind {
            Kind::Totp { period } => {
                let p = period.max(1);
                (self.code_for(now / p), Some(p - now % p))
            }
            Kind::Hotp { counter } => (self.code_for(counter), None),
        };
        CodeView {
            id: self.id.clone(),
            issuer: self.issuer.clone(),
            name: self.name.clone(),
            code,
            seconds_left: left,
        }
    }

    /// For HOTP: the next code, advancing the counter (the caller saves the vault).
    pub fn next_hotp(&mut self) -> Option<String> {
        match &mut self.kind {
            Kind::Hotp { counter } => {
                let c = *counter;
                *counter += 1;
                Some(self.code_for(c))
            }
            Kind::Totp { .. } => None,
        }
    }

    pub fn label(&self) -> String {
        if self.issuer.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.issuer, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(secret: &[u8], alg: Algorithm, digits: u32, kind: Kind) -> Account {
        Account {
            id: "a".into(),
            issuer: "Test".into(),
            name: "t".into(),
            secret: secret.to_vec(),
            algorithm: alg,
            digits,
            kind,
        }
    }

    /// RFC 4226 Appendix D.
    #[test]
    fn hotp_rfc4226_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let mut a = acct(
            b"12345678901234567890",
            Algorithm::Sha1,
            6,
            Kind::Hotp { counter: 0 },
        );
        for e in expected {
            assert_eq!(a.code(0).code, e);
            assert_eq!(a.next_hotp().unwrap(), e);
        }
        assert_eq!(a.kind, Kind::Hotp { counter: 10 });
    }

    /// RFC 6238 Appendix B.
    #[test]
    fn totp_rfc6238_vectors() {
        let seeds: [(Algorithm, &[u8]); 3] = [
            (Algorithm::Sha1, b"12345678901234567890"),
            (Algorithm::Sha256, b"12345678901234567890123456789012"),
            (
                Algorithm::Sha512,
                b"1234567890123456789012345678901234567890123456789012345678901234",
            ),
        ];
        let vectors: [(u64, [&str; 3]); 6] = [
            (59, ["94287082", "46119246", "90693936"]),
            (1111111109, ["07081804", "68084774", "25091201"]),
            (1111111111, ["14050471", "67062674", "99943326"]),
            (1234567890, ["89005924", "91819424", "93441116"]),
            (2000000000, ["69279037", "90698825", "38618901"]),
            (20000000000, ["65353130", "77737706", "47863826"]),
        ];
        for (i, (alg, seed)) in seeds.iter().enumerate() {
            let a = acct(seed, *alg, 8, Kind::Totp { period: 30 });
            for (t, codes) in &vectors {
                assert_eq!(a.code(*t).code, codes[i], "{alg:?} at {t}");
            }
        }
        let a = acct(
            b"12345678901234567890",
            Algorithm::Sha1,
            6,
            Kind::Totp { period: 30 },
        );
        assert_eq!(a.code(59).seconds_left, Some(1));
        assert_eq!(a.code(60).seconds_left, Some(30));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let a = acct(
            b"12345678901234567890",
            Algorithm::Sha1,
            6,
            Kind::Totp { period: 30 },
        );
        assert!(!format!("{a:?}").contains("1234567890"));
    }
}
