//! Accounts from the outside world: `otpauth://totp/…` and `otpauth://hotp/…` key URIs (the
//! Google Authenticator key URI format every service uses) and Google Authenticator's export,
//! `otpauth-migration://offline?data=…` (a base64 protobuf `MigrationPayload`).

use crate::account::{Account, Algorithm, Kind};
use base64::Engine;
use prost::Message;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct UriError(pub String);

fn err(s: impl Into<String>) -> UriError {
    UriError(s.into())
}

fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses an `otpauth://` URI into an account.
pub fn parse_otpauth(uri: &str) -> Result<Account, UriError> {
    let u = url::Url::parse(uri.trim()).map_err(|_| err("not a URI"))?;
    if u.scheme() != "otpauth" {
        return Err(err("not an otpauth:// URI"));
    }
    let kind = u.host_str().unwrap_or("").to_ascii_lowercase();
    let raw = u.path().trim_start_matches('/');
    let label = percent_decode(raw).ok_or_else(|| err("the account name is malformed"))?;
    let (label_issuer, name) = match label.split_once(':') {
        Some((i, n)) => (i.trim().to_string(), n.trim().to_string()),
        None => (String::new(), label.trim().to_string()),
    };
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    let secret_b32 = q
        .get("secret")
        .ok_or_else(|| err("the URI has no secret"))?;
    let clean: String = secret_b32
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .collect::<String>()
        .to_ascii_uppercase();
    let secret = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &clean)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("the secret is not base32"))?;
    let algorithm = match q.get("algorithm") {
        Some(a) => Algorithm::parse(a).ok_or_else(|| err(format!("unknown algorithm {a}")))?,
        None => Algorithm::Sha1,
    };
    let digits = match q.get("digits") {
        Some(d) => d.parse().map_err(|_| err("digits is not a number"))?,
        None => 6,
    };
    if !(6..=8).contains(&digits) {
        return Err(err("digits must be 6, 7 or 8"));
    }
    let kind = match kind.as_str() {
        "totp" => {
            let period = match q.get("period") {
                Some(p) => p.parse().map_err(|_| err("period is not a number"))?,
                None => 30,
            };
            if period == 0 {
                return Err(err("period must be positive"));
            }
            Kind::Totp { period }
        }
        "hotp" => Kind::Hotp {
            counter: q
                .get("counter")
                .ok_or_else(|| err("an HOTP URI needs a counter"))?
                .parse()
                .map_err(|_| err("counter is not a number"))?,
        },
        other => return Err(err(format!("unknown OTP type '{other}'"))),
    };
    let issuer = q.get("issuer").cloned().unwrap_or(label_issuer);
    if name.is_empty() {
        return Err(err("the URI has no account name"));
    }
    Ok(Account {
        id: new_id(),
        issuer,
        name,
        secret,
        algorithm,
        digits,
        kind,
    })
}

/// Decodes %XX escapes of a URI path (the label); `None` if they are malformed.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// Google Authenticator's export format (a protobuf).
#[derive(Clone, PartialEq, Message)]
struct MigrationPayload {
    #[prost(message, repeated, tag = "1")]
    otp_parameters: Vec<OtpParameters>,
}

#[derive(Clone, PartialEq, Message)]
struct OtpParameters {
    #[prost(bytes = "vec", tag = "1")]
    secret: Vec<u8>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    issuer: String,
    /// 0 unspecified, 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5
    #[prost(int32, tag = "4")]
    algorithm: i32,
    /// 0 unspecified, 1 six, 2 eight
    #[prost(int32, tag = "5")]
    digits: i32,
    /// 0 unspecified, 1 HOTP, 2 TOTP
    #[prost(int32, tag = "6")]
    otp_type: i32,
    #[prost(int64, tag = "7")]
    counter: i64,
}

/// Parses a Google Authenticator export into accounts.
pub fn parse_migration(uri: &str) -> Result<Vec<Account>, UriError> {
    let u = url::Url::parse(uri.trim()).map_err(|_| err("not a URI"))?;
    if u.scheme() != "otpauth-migration" {
        return Err(err("not an otpauth-migration:// URI"));
    }
    let data = u
        .query_pairs()
        .find(|(k, _)| k == "data")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| err("the export has no data"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| err("the export data is not base64"))?;
    let payload = MigrationPayload::decode(bytes.as_slice())
        .map_err(|_| err("the export data is not a Google Authenticator export"))?;
    let mut out = Vec::new();
    for p in payload.otp_parameters {
        let algorithm = match p.algorithm {
            0 | 1 => Algorithm::Sha1,
            2 => Algorithm::Sha256,
            3 => Algorithm::Sha512,
            _ => return Err(err(format!("{}: unsupported algorithm", p.name))),
        };
        let digits = if p.digits == 2 { 8 } else { 6 };
        let kind = match p.otp_type {
            1 => Kind::Hotp {
                counter: p.counter.max(0) as u64,
            },
            _ => Kind::Totp { period: 30 },
        };
        let (issuer, name) = match (p.issuer.is_empty(), p.name.split_once(':')) {
            (true, Some((i, n))) => (i.to_string(), n.to_string()),
            _ => (p.issuer.clone(), p.name.clone()),
        };
        if p.secret.is_empty() {
            return Err(err(format!("{name}: empty secret")));
        }
        out.push(Account {
            id: new_id(),
            issuer,
            name,
            secret: p.secret.clone(),
            algorithm,
            digits,
            kind,
        });
    }
    if out.is_empty() {
        return Err(err("the export holds no accounts"));
    }
    Ok(out)
}

/// Accounts from any URI this app understands.
pub fn parse_any(uri: &str) -> Result<Vec<Account>, UriError> {
    if uri.trim_start().starts_with("otpauth-migration:") {
        parse_migration(uri)
    } else {
        parse_otpauth(uri).map(|a| vec![a])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_uri_with_all_parameters() {
        let a = parse_otpauth(
            "otpauth://totp/Contoso:alice%40contoso.com?secret=JBSWY3DPEHPK3PXP&issuer=Contoso&algorithm=SHA256&digits=8&period=60",
        )
        .unwrap();
        assert_eq!(a.issuer, "Contoso");
        assert_eq!(a.name, "alice@contoso.com");
        assert_eq!(a.secret, b"Hello!\xde\xad\xbe\xef");
        assert_eq!(a.algorithm, Algorithm::Sha256);
        assert_eq!(a.digits, 8);
        assert_eq!(a.kind, Kind::Totp { period: 60 });
    }

    #[test]
    fn defaults_and_hotp() {
        let a = parse_otpauth("otpauth://totp/GitHub:octocat?secret=jbsw y3dp ehpk 3pxp").unwrap();
        assert_eq!(
            (a.issuer.as_str(), a.digits, a.kind),
            ("GitHub", 6, Kind::Totp { period: 30 })
        );
        let h =
            parse_otpauth("otpauth://hotp/Example:bob?secret=JBSWY3DPEHPK3PXP&counter=7").unwrap();
        assert_eq!(h.kind, Kind::Hotp { counter: 7 });
    }

    #[test]
    fn bad_uris_are_explained() {
        for (uri, msg) in [
            ("https://example.com", "not an otpauth"),
            ("otpauth://totp/x?issuer=a", "no secret"),
            ("otpauth://totp/x?secret=!!!", "not base32"),
            (
                "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP",
                "needs a counter",
            ),
            (
                "otpauth://motp/x?secret=JBSWY3DPEHPK3PXP",
                "unknown OTP type",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=4",
                "digits",
            ),
        ] {
            let e = parse_otpauth(uri).unwrap_err();
            assert!(e.0.contains(msg), "{uri}: {e}");
        }
    }

    /// A Google Authenticator export of two accounts (a TOTP one and an HOTP one at counter 3),
    /// protobuf-encoded by hand from the format's field numbers.
    const MIGRATION: &str = "otpauth-migration://offline?data=CjUKFDEyMzQ1Njc4OTAxMjM0NTY3ODkwEg9hbGljZUBnbWFpbC5jb20aBkdvb2dsZSABKAEwAgo4ChQxMjM0NTY3ODkwMTIzNDU2Nzg5MBIPYm9iQGV4YW1wbGUuY29tGgdFeGFtcGxlIAEoATABOAMQARgB";

    #[test]
    fn google_authenticator_export() {
        let accts = parse_migration(MIGRATION).unwrap();
        assert_eq!(accts.len(), 2);
        assert_eq!(
            (accts[0].issuer.as_str(), accts[0].name.as_str()),
            ("Google", "alice@gmail.com")
        );
        assert_eq!(
            (accts[0].digits, accts[0].kind),
            (6, Kind::Totp { period: 30 })
        );
        assert_eq!(accts[0].secret, b"12345678901234567890");
        assert_eq!(
            (accts[1].issuer.as_str(), accts[1].name.as_str()),
            ("Example", "bob@example.com")
        );
        assert_eq!(accts[1].algorithm, Algorithm::Sha1);
        assert_eq!(accts[1].kind, Kind::Hotp { counter: 3 });
        assert!(parse_migration("otpauth-migration://offline?data=AAAA").is_err());
        assert!(parse_migration("otpauth-migration://offline").is_err());
    }
}
