//! The server's configuration: one typed struct built from defaults, then a TOML file, then
//! `COUNTERSIGN_*` environment variables, then command-line flags; validated once at start-up.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Externally visible base URL; defaults to `http://localhost:{port}`.
    pub public_url: Option<String>,
    /// Where the embedded SQLite database lives (ignored with `database_url`).
    pub data_dir: PathBuf,
    /// `postgres://…` (or `sqlite://…`) to use instead of the embedded database.
    pub database_url: Option<String>,
    /// PostgreSQL schema to use (created if missing).
    pub database_schema: Option<String>,
    /// The key file that seals secrets in the database; default `{data_dir}/secrets.key`.
    pub secrets_key_file: Option<PathBuf>,
    /// PEM certificate chain and private key; both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Behind a reverse proxy: take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Allow listening beyond loopback over plain HTTP while `public_url` is plain http too (a
    /// container port published only on the host's loopback, a proxy on a trusted network).
    pub allow_insecure_listen: bool,
    /// Address of the Prometheus `/metrics` listener; none by default.
    pub metrics_listen: Option<String>,
    /// Argon2 computations at once (default: number of CPUs).
    pub max_concurrent_hashes: Option<usize>,
    /// Authenticator apps older than this version (`1.4.0`) are refused, told to update.
    pub min_app_version: Option<String>,
    /// How many devices a user may turn phone sign-in on for (default 5).
    pub phone_sign_in_limit: u32,
    /// A MaxMind-format GeoIP database (GeoLite2-City): sign-in requests show city and country.
    pub geoip_db: Option<PathBuf>,
    /// Networks (CIDR) whose sign-ins are flagged: their push request is not pushed.
    pub risky_networks: Vec<String>,
    /// Authenticator models whose attestation is trusted where a methods policy enforces
    /// passkey attestation: `[[passkey_attestation]]` tables with `ca` (the maker's attestation
    /// root, a PEM file), `aaguid` and `model`.
    pub passkey_attestation: Vec<AttestationConfig>,
    pub session_idle_timeout_secs: i64,
    pub session_absolute_timeout_secs: i64,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `countersign=debug`; `RUST_LOG` overrides it.
    pub log_level: String,
}

/// One trusted authenticator model (see `Config::passkey_attestation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationConfig {
    pub ca: PathBuf,
    pub aaguid: String,
    pub model: String,
}

impl Default for Config {
    fn default() -> Self {
        let s = countersign_core::Settings::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            data_dir: PathBuf::from("countersign-data"),
            database_url: None,
            database_schema: None,
            secrets_key_file: None,
            tls_cert: None,
            tls_key: None,
            trust_forwarded_for: false,
            allow_insecure_listen: false,
            metrics_listen: None,
            max_concurrent_hashes: None,
            min_app_version: None,
            phone_sign_in_limit: s.phone_sign_in_limit,
            geoip_db: None,
            risky_networks: Vec::new(),
            passkey_attestation: Vec::new(),
            session_idle_timeout_secs: s.session_idle,
            session_absolute_timeout_secs: s.session_absolute,
            log_format: "text".into(),
            log_level: "info".into(),
        }
    }
}

const KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "database_url",
    "database_schema",
    "secrets_key_file",
    "tls_cert",
    "tls_key",
    "trust_forwarded_for",
    "allow_insecure_listen",
    "metrics_listen",
    "max_concurrent_hashes",
    "min_app_version",
    "phone_sign_in_limit",
    "geoip_db",
    "risky_networks",
    "passkey_attestation",
    "session_idle_timeout_secs",
    "session_absolute_timeout_secs",
    "log_format",
    "log_level",
];

/// Command-line values that override the file and the environment.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                bail!("config file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig
            .merge(Env::prefixed("COUNTERSIGN_").only(KEYS))
            .merge(Serialized::defaults(overrides));
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn metrics_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        self.metrics_listen
            .as_deref()
            .map(|a| {
                a.parse().with_context(|| {
                    format!("metrics_listen: '{a}' is not an address like 127.0.0.1:9090")
                })
            })
            .transpose()
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().with_context(|| {
            format!(
                "listen: '{}' is not an address like 127.0.0.1:8080",
                self.listen
            )
        })
    }

    /// The public URL, defaulting to localhost on the listening port.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let port = self.listen_addr().map(|a| a.port()).unwrap_or(8080);
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://localhost:{port}")
            }
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let listen = self.listen_addr()?;
        if let Some(m) = self.metrics_addr()? {
            if m == listen && m.port() != 0 {
                bail!("metrics_listen: use another address than listen ({listen})");
            }
        }
        let public = self.public_url();
        let u = url::Url::parse(&public)
            .with_context(|| format!("public_url: '{public}' is not a URL"))?;
        let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match u.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => bail!(
                "public_url: '{public}' uses plain http; use https (plain http is only allowed for localhost)"
            ),
            s => bail!("public_url: scheme '{s}' is not supported"),
        }
        if u.path() != "/" || u.query().is_some() {
            bail!("public_url: '{public}' must not have a path or query");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("tls_cert and tls_key go together: give both or neither");
        }
        if !listen.ip().is_loopback()
            && u.scheme() == "http"
            && self.tls_cert.is_none()
            && !self.allow_insecure_listen
        {
            bail!(
                "listen: {listen} would serve the sign-in pages over plain HTTP beyond this \
                 machine (public_url is {public}). Give tls_cert and tls_key, or an https \
                 public_url behind a reverse proxy that terminates TLS, or listen on 127.0.0.1. \
                 If only a trusted proxy or the container host can reach this port, set \
                 allow_insecure_listen = true (COUNTERSIGN_ALLOW_INSECURE_LISTEN=true)."
            );
        }
        let min = countersign_core::signin::session::MIN_IDLE_TIMEOUT;
        if self.session_idle_timeout_secs < min || self.session_absolute_timeout_secs < min {
            bail!(
                "session_idle_timeout_secs and session_absolute_timeout_secs: at least {min} seconds"
            );
        }
        if self.max_concurrent_hashes == Some(0) {
            bail!("max_concurrent_hashes must be at least 1");
        }
        for n in &self.risky_networks {
            countersign_core::signin::risk::Network::parse(n)
                .map_err(|e| anyhow::anyhow!("risky_networks: {e}"))?;
        }
        if !(1..=100).contains(&self.phone_sign_in_limit) {
            bail!(
                "phone_sign_in_limit: {} is not a limit of 1 to 100 devices",
                self.phone_sign_in_limit
            );
        }
        if let Some(v) = &self.min_app_version {
            if !countersign_core::methods::push::version_at_least(v, "0") {
                bail!("min_app_version: '{v}' is not a version like 1.4.0");
            }
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            bail!("log_format: use text or json");
        }
        check_log_level(&self.log_level)?;
        Ok(())
    }

    /// The configuration as it may be logged: the database password replaced.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        c.database_url = c.database_url.as_deref().map(countersign_store::redact_url);
        c
    }

    /// The secrets key file: as configured, or `secrets.key` in the data directory.
    pub fn secrets_key_file(&self) -> PathBuf {
        self.secrets_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets.key"))
    }

    pub async fn open_store(&self) -> anyhow::Result<(countersign_store::SqlStore, &'static str)> {
        use countersign_store::{KeyFile, SqlStore};
        let key = KeyFile::Path(self.secrets_key_file());
        let store = match &self.database_url {
            Some(url) => SqlStore::open(url, self.database_schema.as_deref(), key).await?,
            None => SqlStore::open_sqlite_with(&self.data_dir, key).await?,
        };
        let kind = match store.backend() {
            countersign_store::Backend::Sqlite => "sqlite",
            countersign_store::Backend::Postgres => "postgres",
        };
        Ok((store, kind))
    }
}

/// A `log_level` is a level, or a tracing filter of comma-separated `target=level` directives
/// with at most one bare level (`info,countersign_store=debug`). A bare word that is no level
/// would parse as a target with every level on and leave the rest of the log silent: refused.
fn check_log_level(filter: &str) -> anyhow::Result<()> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |l: &str| LEVELS.contains(&l.trim().to_ascii_lowercase().as_str());
    let ok = !filter.trim().is_empty()
        && filter.split(',').all(|d| match d.split_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(d),
        })
        && tracing_subscriber::EnvFilter::try_new(filter).is_ok();
    if !ok {
        bail!(
            "log_level: '{filter}' is not a level ({}) or a filter like info,countersign_store=debug",
            LEVELS.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.public_url(), "http://localhost:8080");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let mut c = Config {
            public_url: Some("http://login.contoso.com".into()),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("https"));
        c.public_url = Some("https://login.contoso.com".into());
        c.validate().unwrap();
    }

    #[test]
    fn plain_http_beyond_loopback_needs_tls_https_or_consent() {
        let mut c = Config {
            listen: "0.0.0.0:8080".into(),
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("allow_insecure_listen"), "{e}");
        c.public_url = Some("https://login.contoso.com".into());
        c.validate().unwrap();
        c.public_url = None;
        c.allow_insecure_listen = true;
        c.validate().unwrap();
        let c = Config {
            listen: "[::]:8080".into(),
            tls_cert: Some("a.pem".into()),
            tls_key: Some("k.pem".into()),
            ..Config::default()
        };
        c.validate().unwrap();
    }

    #[test]
    fn idle_timeouts_under_a_minute_and_bad_metrics_addresses_are_refused() {
        for secs in [0, 1, 59] {
            let c = Config {
                session_idle_timeout_secs: secs,
                ..Config::default()
            };
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("at least 60 seconds"), "{e}");
        }
        let c = Config {
            session_idle_timeout_secs: 60,
            metrics_listen: Some("127.0.0.1:9090".into()),
            ..Config::default()
        };
        c.validate().unwrap();
        for bad in ["localhost", "127.0.0.1:8080"] {
            let c = Config {
                metrics_listen: Some(bad.into()),
                ..Config::default()
            };
            assert!(c
                .validate()
                .unwrap_err()
                .to_string()
                .contains("metrics_listen"));
        }
    }

    #[test]
    fn tls_files_go_together_and_secrets_are_redacted() {
        let c = Config {
            tls_cert: Some("a.pem".into()),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            database_url: Some("postgres://u:hunter2@db/x".into()),
            ..Config::default()
        };
        assert!(!format!("{:?}", c.redacted()).contains("hunter2"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any value of any setting in a config file: loaded, or refused with a message naming
        /// the setting; never a panic.
        #[test]
        fn any_setting_value_is_accepted_or_named_in_the_error(
            key in proptest::sample::select(KEYS),
            value in "\"[^\"\\\\]{0,30}\"|-?[0-9]{1,12}|true|false|\\[\\]|[a-z]{1,8}",
        ) {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("c.toml");
            std::fs::write(&f, format!("{key} = {value}\n")).unwrap();
            if let Err(e) = Config::load(Some(&f), Overrides::default()) {
                let msg = format!("{e:#}");
                let named = msg.contains(key)
                    || (key.starts_with("tls_") && msg.contains("tls_cert and tls_key"))
                    || (key.starts_with("session_") && msg.contains("session_idle_timeout_secs"));
                proptest::prop_assert!(named, "{key} = {value}: {msg}");
            }
        }
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n").unwrap();
        let c = Config::load(Some(&f), Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.log_format, "json");
        let c = Config::load(
            Some(&f),
            Overrides {
                listen: Some("127.0.0.1:9100".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.public_url(), "http://localhost:9100");
        std::fs::write(&f, "lisen = \"x\"\n").unwrap();
        assert!(Config::load(Some(&f), Overrides::default()).is_err());
    }
}
