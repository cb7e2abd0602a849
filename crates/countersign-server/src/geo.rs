//! Where a sign-in comes from, by a MaxMind-format GeoIP database (`geoip_db`; GeoLite2-City or
//! GeoIP2-City): the city and the country, in English. Coordinates are never read out, so they
//! are never stored. Without a database a request shows the client address alone.

use maxminddb::geoip2;
use std::net::IpAddr;
use std::path::Path;

pub struct Geo(maxminddb::Reader<Vec<u8>>);

impl Geo {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let r = maxminddb::Reader::open_readfile(path).map_err(|e| {
            anyhow::anyhow!(
                "geoip_db: cannot read {} as a MaxMind database: {e}",
                path.display()
            )
        })?;
        Ok(Self(r))
    }

    /// The city and country of `addr`, each when the database knows it.
    pub fn locate(&self, addr: &str) -> (Option<String>, Option<String>) {
        let Ok(ip) = addr.parse::<IpAddr>() else {
            return (None, None);
        };
        let Ok(city) = self.0.lookup::<geoip2::City<'_>>(ip.to_canonical()) else {
            return (None, None);
        };
        let en = |names: Option<std::collections::BTreeMap<&str, &str>>| {
            names.and_then(|n| n.get("en").map(|s| s.to_string()))
        };
        (
            en(city.city.and_then(|c| c.names)),
            en(city.country.and_then(|c| c.names)),
        )
    }
}
