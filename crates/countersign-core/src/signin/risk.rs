//! Risk rules: checks of a sign-in's circumstances that make it suspicious. A flagged sign-in
//! still gets its push request, but the request is not pushed to the device: the person has to
//! open the app and refresh, which a push-fatigue attacker can't make them do by accident. Rules
//! plug in as [`RiskRule`]s; today's one real rule is [`AddressRanges`] (networks listed in the
//! configuration).

use crate::error::{CoreError, CoreResult};
use crate::signin::context::SignInContext;
use std::net::IpAddr;

pub trait RiskRule: Send + Sync {
    /// Why a sign-in to `upn` in `context` is suspicious, or `None`.
    fn flags(&self, context: &SignInContext, upn: &str) -> Option<String>;
}

/// The first reason any of `rules` gives.
pub fn assess(rules: &[Box<dyn RiskRule>], context: &SignInContext, upn: &str) -> Option<String> {
    rules.iter().find_map(|r| r.flags(context, upn))
}

/// One network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> CoreResult<Self> {
        let bad = || {
            CoreError::invalid(
                "network",
                format!("'{s}' is not a network like 203.0.113.0/24"),
            )
        };
        let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.parse().map_err(|_| bad())?
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(i)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), self.prefix),
            _ => return false,
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(bits))
        };
        a & mask == b & mask
    }
}

/// Sign-ins from listed networks are flagged.
#[derive(Debug, Clone, Default)]
pub struct AddressRanges(pub Vec<Network>);

impl AddressRanges {
    pub fn parse(list: &[String]) -> CoreResult<Self> {
        Ok(Self(
            list.iter()
                .map(|s| Network::parse(s))
                .collect::<CoreResult<_>>()?,
        ))
    }
}

impl RiskRule for AddressRanges {
    fn flags(&self, context: &SignInContext, _upn: &str) -> Option<String> {
        let ip: IpAddr = context.client_addr.as_deref()?.parse().ok()?;
        self.0
            .iter()
            .find(|n| n.contains(ip))
            .map(|n| format!("address {ip} in a risky network ({}/{})", n.addr, n.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_what_their_prefix_says() {
        let n = Network::parse("203.0.113.0/24").unwrap();
        assert!(n.contains("203.0.113.77".parse().unwrap()));
        assert!(!n.contains("203.0.114.1".parse().unwrap()));
        assert!(
            n.contains("::ffff:203.0.113.5".parse().unwrap()),
            "IPv4-mapped"
        );
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Network::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_address_rule_flags_listed_networks_only() {
        let r = AddressRanges::parse(&["198.51.100.0/24".into()]).unwrap();
        let ctx = |a: Option<&str>| SignInContext::new(a.map(str::to_string), None);
        let upn = "alice@contoso.com";
        assert!(r.flags(&ctx(Some("198.51.100.9")), upn).is_some());
        assert!(r.flags(&ctx(Some("192.0.2.1")), upn).is_none());
        assert!(r.flags(&ctx(None), upn).is_none());
        let rules: Vec<Box<dyn RiskRule>> = vec![Box::new(r)];
        assert!(assess(&rules, &ctx(Some("198.51.100.1")), upn).is_some());
    }
}
