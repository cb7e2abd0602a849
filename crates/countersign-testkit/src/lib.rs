//! Test support for Countersign: an in-process server on port 0 (SQLite in a temporary directory
//! or PostgreSQL in a schema of its own) with a manual clock, demo fixtures, a cookie-keeping HTTP
//! client that walks the sign-in pages, a relying-party web app built on a standard OpenID Connect
//! client library, and a headless Chromium driven through ChromeDriver.

#![allow(clippy::unwrap_used)] // test support: a failing unwrap fails the test using it

pub mod browser;
pub mod passkey;
pub mod process;
pub mod rp;

use countersign_core::clock::{Clock, ManualClock, SystemClock};
use countersign_core::directory::{self, NewClient, NewUser};
use countersign_core::model::{OidcClient, SigningAlg, Tenant, User};
use countersign_server::{AppState, ServerConfig};
use countersign_store::SqlStore;
use std::sync::Arc;
use tokio::sync::oneshot;

pub use countersign_store::testing::{require_all, skip};

pub const PASSWORD: &str = "violet-tuba-engine";
pub const REDIRECT: &str = "https://app.example/callback";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running in-process server.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub store: Arc<SqlStore>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
    /// False for a second instance: the first one closes the store.
    owns_store: bool,
}

/// The demo-like fixture every HTTP test starts from.
pub struct Fixture {
    pub tenant: Tenant,
    pub alice: User,
    /// A confidential client with redirect `REDIRECT` and its secret.
    pub app: OidcClient,
    pub secret: String,
    /// A public (PKCE-only) client with redirect `REDIRECT`.
    pub spa: OidcClient,
}

impl TestServer {
    /// On SQLite.
    pub async fn start() -> Self {
        Self::start_on(Db::Sqlite)
            .await
            .expect("SQLite is always available")
    }

    /// On the chosen database; `None` when PostgreSQL is not configured (and skipping is allowed).
    pub async fn start_on(db: Db) -> Option<Self> {
        Self::start_with(db, |_| {}).await
    }

    /// Like `start_on`, letting the caller adjust the server configuration.
    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut ServerConfig)) -> Option<Self> {
        Self::start_at(db, "127.0.0.1", tweak).await
    }

    /// Reached as `http://localhost:{port}` (its `public_url` too): passkeys need a host name
    /// as their relying party, never an IP address.
    pub async fn start_localhost(db: Db) -> Option<Self> {
        Self::start_at(db, "localhost", |_| {}).await
    }

    /// `start_localhost`, letting the caller adjust the server configuration.
    pub async fn start_localhost_with(
        db: Db,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Option<Self> {
        Self::start_at(db, "localhost", tweak).await
    }

    async fn start_at(
        db: Db,
        host: &'static str,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Option<Self> {
        let (store, schema, dir) = match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let s = SqlStore::open_sqlite(dir.path()).await.expect("sqlite");
                (s, None, Some(dir))
            }
            Db::Postgres => {
                let (s, schema) = countersign_store::testing::postgres_store().await?;
                (s, Some(schema), None)
            }
        };
        let store = Arc::new(store);
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let backend = if schema.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        Some(Self::serve(store, clock, backend, host, tweak, (schema, dir, true)).await)
    }

    async fn serve(
        store: Arc<SqlStore>,
        clock: Arc<ManualClock>,
        backend: &'static str,
        host: &str,
        tweak: impl FnOnce(&mut ServerConfig),
        (schema, dir, owns_store): (Option<String>, Option<tempfile::TempDir>, bool),
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{host}:{}", addr.port());
        let mut cfg = ServerConfig::new(&base);
        tweak(&mut cfg);
        let state = AppState::new(store.clone(), clock.clone() as Arc<dyn Clock>, cfg, backend)
            .await
            .expect("state");
        if let Some(bus) = store.bus("push") {
            state.push.attach(bus).await.expect("listening on the bus");
        }
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(countersign_server::run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            base,
            state,
            clock,
            store,
            shutdown: Some(tx),
            task: Some(task),
            schema,
            _dir: dir,
            owns_store,
        }
    }

    /// A second instance on the same database and schema (and clock), as a load balancer would
    /// have behind it; stopping it leaves the schema to the first.
    pub async fn second_instance(&self) -> Self {
        let backend = self.state.backend();
        let shared = (None, None, false);
        let host = url::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "127.0.0.1".into());
        Self::serve(
            self.store.clone(),
            self.clock.clone(),
            backend,
            &host,
            |_| {},
            shared,
        )
        .await
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.base)
    }

    /// A user of `tenant` created without a password (enabled).
    pub async fn passwordless_user(&self, tenant: &Tenant, upn: &str, display_name: &str) -> User {
        directory::create_user(
            &self.state.deps,
            tenant,
            NewUser {
                upn,
                display_name,
                email: None,
                password: None,
                enabled: true,
            },
        )
        .await
        .unwrap()
    }

    /// Tenant "contoso" (contoso.com) with alice (password `PASSWORD`), a confidential and a
    /// public client.
    pub async fn seed(&self) -> Fixture {
        let deps = &self.state.deps;
        let tenant = directory::create_tenant(deps, "contoso", "Contoso", &["contoso.com".into()])
            .await
            .unwrap();
        let alice = directory::create_user(
            deps,
            &tenant,
            NewUser {
                upn: "alice@contoso.com",
                display_name: "Alice Smith",
                email: Some("alice.smith@mail.example"),
                password: Some(PASSWORD),
                enabled: true,
            },
        )
        .await
        .unwrap();
        let redirects = [REDIRECT.to_string()];
        let bye = ["https://app.example/bye".to_string()];
        let client = |name, confidential| NewClient {
            require_mfa: false,
            name,
            redirect_uris: &redirects,
            post_logout_redirect_uris: &bye,
            confidential,
            id_token_alg: SigningAlg::RS256,
            client_id: None,
        };
        let (app, secret) = directory::create_client(deps, &tenant, client("App", true))
            .await
            .unwrap();
        let (spa, _) = directory::create_client(deps, &tenant, client("SPA", false))
            .await
            .unwrap();
        Fixture {
            tenant,
            alice,
            app,
            secret: secret.unwrap(),
            spa,
        }
    }

    /// Stops the server and removes its PostgreSQL schema.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if !self.owns_store {
            return;
        }
        if let Some(s) = &self.schema {
            let _ = self.store.drop_schema(s).await;
        }
        self.store.close().await;
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rand::RngCore;
    use sha2::Digest;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let verifier = URL_SAFE_NO_PAD.encode(b);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Pulls `name="csrf" value="…"` out of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// A cookie-keeping HTTP client that does not follow redirects: it walks the pages step by step
/// as a browser would, so tests can look at every response. A clone shares the cookies (another
/// tab of the same browser).
#[derive(Clone)]
pub struct WebClient {
    pub http: reqwest::Client,
    pub base: String,
}

impl WebClient {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// Opens the page at `path` and returns the anti-CSRF token of its forms.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await.text().await.unwrap();
        csrf_of(&page).unwrap_or_else(|| panic!("no CSRF token on {path}"))
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The authorization URL of a client with PKCE; returns (url, verifier).
    pub fn authorize_url(
        &self,
        tenant: &str,
        client_id: &str,
        extra: &[(&str, &str)],
    ) -> (String, String) {
        let (verifier, challenge) = pkce();
        let mut u =
            url::Url::parse(&self.url(&format!("/{tenant}/oauth2/v2.0/authorize"))).unwrap();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("client_id", client_id)
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("response_type", "code")
                .append_pair("scope", "openid profile email offline_access")
                .append_pair("state", "st-123")
                .append_pair("nonce", "nonce-456")
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        (u.to_string(), verifier)
    }

    /// Walks the sign-in pages of the current flow with a username and password; returns the
    /// final response (a redirect on success).
    pub async fn sign_in(&self, tenant: &str, username: &str, password: &str) -> reqwest::Response {
        let page = self
            .get(&format!("/{tenant}/login"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page).expect("csrf on the username page");
        let r = self
            .post_form(
                &format!("/{tenant}/login/username"),
                &[("csrf", &csrf), ("username", username)],
            )
            .await;
        assert_eq!(r.status(), 303, "username step");
        let page = self
            .get(&format!("/{tenant}/login"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Enter password"), "password page expected");
        let csrf = csrf_of(&page).expect("csrf on the password page");
        self.post_form(
            &format!("/{tenant}/login/password"),
            &[("csrf", &csrf), ("password", password)],
        )
        .await
    }

    /// Full browser part of the code flow: authorize, sign in, return the code from the redirect.
    pub async fn code_flow(
        &self,
        tenant: &str,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> (String, String) {
        let (url, verifier) = self.authorize_url(tenant, client_id, &[]);
        let r = self.get(&url).await;
        assert_eq!(r.status(), 303, "authorize redirects to the sign-in page");
        let r = self.sign_in(tenant, user, password).await;
        assert_eq!(r.status(), 303, "sign-in succeeded");
        let loc = location(&r);
        (
            query_param(&loc, "code").expect("code in redirect"),
            verifier,
        )
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Posts to the token endpoint with form-encoded parameters.
pub async fn token_request(
    base: &str,
    tenant: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let http = reqwest::Client::new();
    let mut req = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Redeems an authorization code for `REDIRECT` at the token endpoint, with HTTP Basic client
/// authentication when `basic` is given.
pub async fn redeem_code(
    base: &str,
    tenant: &str,
    basic: Option<(&str, &str)>,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    token_request(
        base,
        tenant,
        basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// The claims of a JWT (its payload, not verified: for looking at tokens the server issued).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON payload")
}

/// A TOTP code from Debian's `oathtool` (a third-party peer) for a base32 secret at Unix time
/// `at`; `None` (skipped) when oathtool is not installed.
pub fn oathtool_code(secret_b32: &str, at: i64, extra: &[&str]) -> Option<String> {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b"])
        .args(extra)
        .arg(format!("--now=@{at}"))
        .arg(secret_b32.replace(' ', ""))
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => panic!("oathtool failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => skip(
            "verification code test",
            "oathtool is not installed (apt-get install oathtool)",
        ),
    }
}

impl WebClient {
    /// Enrols an authenticator app through the security info pages (already signed in) and
    /// returns its base32 secret as shown to the user. `code_for` turns the secret into a code.
    pub async fn enrol_authenticator(
        &self,
        tenant: &str,
        code_for: impl Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let page = self
            .get(&format!("/{tenant}/security-info"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page).expect("csrf on security info");
        let page = self
            .post_form(
                &format!("/{tenant}/security-info/add"),
                &[("csrf", &csrf), ("method", "code")],
            )
            .await
            .text()
            .await
            .unwrap();
        let i = page
            .find("id=\"secret-key\">")
            .expect("secret key on the page")
            + 16;
        let secret = page[i..i + page[i..].find('<').unwrap()].replace(' ', "");
        let code = code_for(&secret)?;
        let r = self
            .post_form(
                &format!("/{tenant}/security-info/verify"),
                &[("csrf", &csrf), ("code", &code)],
            )
            .await;
        assert_eq!(r.status(), 303, "enrolment code accepted");
        assert!(location(&r).ends_with("done=added"));
        Some(secret)
    }
}

/// Decodes the QR code in a PNG image (with the authenticator's own reader, as a person would).
pub fn decode_qr(png: &[u8]) -> String {
    if let Ok(dir) = std::env::var("COUNTERSIGN_SCREENSHOTS") {
        std::fs::write(std::path::Path::new(&dir).join("qr.png"), png)
            .expect("saving the QR screenshot");
    }
    countersign_authenticator::qr::decode_png(png, "screenshot").expect("a readable QR code")
}

/// The current code of an `otpauth://` URI according to the Python `pyotp` library (a
/// third-party peer); `None` (skipped) when python3 or pyotp is missing.
pub fn pyotp_code(uri: &str, at: i64) -> Option<String> {
    let script = "import sys, pyotp\nprint(pyotp.parse_uri(sys.argv[1]).at(int(sys.argv[2])))";
    match std::process::Command::new("python3")
        .args(["-c", script, uri, &at.to_string()])
        .output()
    {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("No module named") {
                skip(
                    "pyotp interoperability",
                    "pyotp is not installed (pip install pyotp)",
                )
            } else {
                panic!("pyotp failed: {err}")
            }
        }
        Err(_) => skip("pyotp interoperability", "python3 is not installed"),
    }
}

/// Writes a small MaxMind-format GeoIP database with Python's `mmdb-writer` (a third-party
/// writer of the format): 127.0.0.0/8 is Sydney, Australia (with coordinates, which must never
/// be shown). `None` (skipped) when python3 or mmdb-writer is missing.
pub fn geoip_test_db(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = dir.join("test-city.mmdb");
    let script = format!(
        "from mmdb_writer import MMDBWriter\n\
         from netaddr import IPSet\n\
         w = MMDBWriter(ip_version=6, database_type='GeoIP2-City', languages=['en'], \
         description='Countersign test', ipv4_compatible=True)\n\
         w.insert_network(IPSet(['127.0.0.0/8']), {{'city': {{'names': {{'en': 'Sydney'}}}}, \
         'country': {{'iso_code': 'AU', 'names': {{'en': 'Australia'}}}}, \
         'location': {{'latitude': -33.87, 'longitude': 151.21}}}})\n\
         w.to_db_file({:?})\n",
        path.display().to_string()
    );
    match std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    {
        Ok(o) if o.status.success() => Some(path),
        Ok(o) => skip(
            "GeoIP test database",
            &format!(
                "mmdb-writer failed (python3 -m pip install mmdb-writer): {}",
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => skip("GeoIP test database", &format!("python3: {e}")),
    }
}
