//! The `countersign` binary as an administrator uses it: `admin` commands with their errors,
//! `serve --demo` on a fresh data directory, durability of acknowledged writes across `kill -9`,
//! and HTTPS from certificate files.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::process::Server;
use countersign_testkit::WebClient;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{admin, admin_json, admin_with_stdin, contoso, in_contoso, run, BIN};

#[test]
fn admin_commands_manage_the_directory_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, out, _) = admin(
        d,
        &[
            "tenant",
            "create",
            "fabrikam",
            "--display-name",
            "Fabrikam",
            "--domain",
            "fabrikam.com",
        ],
    );
    assert!(ok, "{out}");
    let (ok, _, err) = admin(
        d,
        &[
            "tenant",
            "create",
            "fabrikam",
            "--display-name",
            "F",
            "--domain",
            "f.com",
        ],
    );
    assert!(!ok);
    assert!(err.contains("tenant fabrikam already exists"), "{err}");
    let (ok, _, err) = admin(
        d,
        &[
            "tenant",
            "create",
            "Bad Name",
            "--display-name",
            "F",
            "--domain",
            "f.com",
        ],
    );
    assert!(!ok && err.contains("invalid tenant name"), "{err}");

    let (ok, out, err) = admin_with_stdin(
        d,
        &[
            "user",
            "create",
            "Megan@Fabrikam.com",
            "--tenant",
            "fabrikam",
            "--display-name",
            "Megan Bowen",
            "--password-stdin",
        ],
        Some("sapphire-otter-canyon\n"),
    );
    assert!(ok, "{out}{err}");
    let (ok, _, err) = admin_with_stdin(
        d,
        &[
            "user",
            "create",
            "lee@fabrikam.com",
            "--tenant",
            "fabrikam",
            "--display-name",
            "Lee",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    assert!(!ok && err.contains("too common"), "{err}");
    let (ok, _, err) = admin(
        d,
        &[
            "user",
            "create",
            "x@other.com",
            "--tenant",
            "fabrikam",
            "--display-name",
            "X",
        ],
    );
    assert!(
        !ok && err.contains("not a domain of tenant fabrikam"),
        "{err}"
    );
    // passwordless account
    let (ok, _, _) = admin(
        d,
        &[
            "user",
            "create",
            "lee@fabrikam.com",
            "--tenant",
            "fabrikam",
            "--display-name",
            "Lee Gu",
        ],
    );
    assert!(ok);
    let (ok, out, _) = admin(d, &["--json", "user", "list", "--tenant", "fabrikam"]);
    assert!(ok);
    let users: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert_eq!(users[0]["upn"], "lee@fabrikam.com");
    assert_eq!(users[0]["has_password"], false);
    assert!(!out.contains("argon2"), "no hashes in output");

    assert!(admin(d, &["group", "create", "Sales", "--tenant", "fabrikam"]).0);
    assert!(
        admin(
            d,
            &[
                "group",
                "add-member",
                "Sales",
                "megan@fabrikam.com",
                "--tenant",
                "fabrikam"
            ]
        )
        .0
    );
    let (ok, _, err) = admin(
        d,
        &[
            "group",
            "add-member",
            "Sales",
            "megan@fabrikam.com",
            "--tenant",
            "fabrikam",
        ],
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let (_, out, _) = admin(d, &["group", "show", "Sales", "--tenant", "fabrikam"]);
    assert!(out.contains("megan@fabrikam.com"));
    assert!(
        admin(
            d,
            &[
                "role",
                "assign",
                "megan@fabrikam.com",
                "Global Administrator",
                "--tenant",
                "fabrikam"
            ]
        )
        .0
    );
    let (ok, _, err) = admin(
        d,
        &[
            "role",
            "assign",
            "megan@fabrikam.com",
            "superuser",
            "--tenant",
            "fabrikam",
        ],
    );
    assert!(!ok && err.contains("not a role"), "{err}");
    let (_, out, _) = admin(
        d,
        &["user", "show", "megan@fabrikam.com", "--tenant", "fabrikam"],
    );
    assert!(
        out.contains("Global Administrator") && out.contains("Sales"),
        "{out}"
    );

    let (ok, out, _) = admin(
        d,
        &[
            "--json",
            "app",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "Portal",
            "--redirect-uri",
            "https://portal.fabrikam.com/cb",
        ],
    );
    assert!(ok);
    let app: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(app["type"], "confidential");
    assert!(app["client_secret"].as_str().unwrap().len() >= 43);
    let (_, out, _) = admin(d, &["--json", "app", "list", "--tenant", "fabrikam"]);
    assert!(
        !out.contains("client_secret"),
        "the secret is shown only once"
    );
    let (ok, _, err) = admin(
        d,
        &[
            "app",
            "create",
            "--tenant",
            "fabrikam",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://portal.fabrikam.com/cb",
        ],
    );
    assert!(!ok && err.contains("https"), "{err}");

    assert!(
        admin(
            d,
            &[
                "user",
                "disable",
                "megan@fabrikam.com",
                "--tenant",
                "fabrikam"
            ]
        )
        .0
    );
    let (ok, _, err) = admin(
        d,
        &[
            "user",
            "show",
            "nobody@fabrikam.com",
            "--tenant",
            "fabrikam",
        ],
    );
    assert!(
        !ok && err.contains("user 'nobody@fabrikam.com' was not found"),
        "{err}"
    );
    let (ok, _, err) = admin(d, &["tenant", "delete", "fabrikam"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    assert!(admin(d, &["tenant", "delete", "fabrikam", "--yes"]).0);
    let (_, out, _) = admin(d, &["tenant", "list"]);
    assert!(out.contains("(none)"));
}

#[test]
fn the_methods_policy_is_changed_by_policy_administrators_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| in_contoso(d, args);
    contoso(d);
    for u in ["alice", "bob"] {
        let upn = format!("{u}@contoso.com");
        assert!(run(&["user", "create", &upn, "--display-name", u]).0);
    }
    assert!(run(&["group", "create", "pilot"]).0);
    assert!(
        run(&[
            "role",
            "assign",
            "alice@contoso.com",
            "authentication-policy-administrator"
        ])
        .0
    );

    let p = admin_json(d, &["policy", "show", "--tenant", "contoso"]);
    assert_eq!(p["softwareOath"]["state"], "enabled");
    assert_eq!(
        p["authenticator"]["featureSettings"]["numberMatchingDigits"],
        2
    );

    // Only policy administrators may change it when an acting user is named.
    let (ok, _, err) = run(&[
        "policy",
        "method",
        "disable",
        "software-oath",
        "--as",
        "bob@contoso.com",
    ]);
    assert!(
        !ok && err.contains("is not a Global Administrator or Authentication Policy Administrator"),
        "{err}"
    );
    let (ok, out, err) = run(&[
        "policy",
        "method",
        "disable",
        "software-oath",
        "--as",
        "alice@contoso.com",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("disabled"), "{out}");
    let (ok, _, err) = run(&["policy", "method", "include", "hardware-oath", "nope"]);
    assert!(
        !ok && err.contains("hardwareOath.includeTargets[0].id") && err.contains("no group 'nope'"),
        "{err}"
    );
    assert!(run(&["policy", "method", "include", "hardware-oath", "pilot"]).0);
    let (ok, _, err) = run(&[
        "policy",
        "method",
        "include",
        "hardware-oath",
        "pilot",
        "--mode",
        "push",
    ]);
    assert!(
        !ok && err.contains("--mode applies to the authenticator"),
        "{err}"
    );
    let (ok, _, err) = run(&["policy", "method", "enable", "sms"]);
    assert!(!ok && err.contains("unknown method 'sms'"), "{err}");

    // The document in and out: an invalid one is refused with the field named, nothing written.
    let mut doc = admin_json(d, &["policy", "show", "--tenant", "contoso"]);
    assert_eq!(
        doc["hardwareOath"]["includeTargets"][0]["displayName"],
        "pilot"
    );
    doc["authenticator"]["featureSettings"]["numberMatchingDigits"] = 9.into();
    let (ok, _, err) = admin_with_stdin(
        d,
        &["policy", "set", "--file", "-", "--tenant", "contoso"],
        Some(&doc.to_string()),
    );
    assert!(
        !ok && err.contains("authenticator.featureSettings.numberMatchingDigits"),
        "{err}"
    );
    doc["authenticator"]["featureSettings"]["numberMatchingDigits"] = 3.into();
    let (ok, _, err) = admin_with_stdin(
        d,
        &["policy", "set", "--file", "-", "--tenant", "contoso"],
        Some(&doc.to_string()),
    );
    assert!(ok, "{err}");
    let p = admin_json(d, &["policy", "show", "--tenant", "contoso"]);
    assert_eq!(
        p["authenticator"]["featureSettings"]["numberMatchingDigits"],
        3
    );
    assert_eq!(p["softwareOath"]["state"], "disabled");
    assert!(run(&["policy", "require-mfa", "true"]).0);

    // Every change is in the audit log, newest first, with who and before/after; asking for no
    // entries, or for too many, is an error rather than a silent one or ten thousand.
    for (log, limit) in [("audit", "0"), ("signins", "10001")] {
        let (ok, _, err) = run(&[log, "--limit", limit]);
        assert!(
            !ok && err.contains("not in 1..=10000"),
            "{log} {limit}: {err}"
        );
    }
    let log = admin_json(d, &["audit", "--tenant", "contoso"]);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "policy.requireMfaForEveryone true",
            "policy.set",
            "policy.method.include hardwareOath",
            "policy.method.disable softwareOath",
        ]
    );
    let first = &log[3];
    assert_eq!(first["actor"], "alice@contoso.com");
    assert_eq!(first["before"]["softwareOath"]["state"], "enabled");
    assert_eq!(first["after"]["softwareOath"]["state"], "disabled");
    assert!(log[2]["actor"].as_str().unwrap().starts_with("operator:"));
    // With no $USER (cron, containers), the operator is still named: the account of its user id.
    let out = Command::new(BIN)
        .args([
            "--data-dir",
            d.to_str().unwrap(),
            "admin",
            "policy",
            "require-mfa",
            "false",
        ])
        .args(["--tenant", "contoso"])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("USERNAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let me = Command::new("id").arg("-un").output().unwrap();
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    let log = admin_json(d, &["audit", "--tenant", "contoso", "--limit", "1"]);
    assert_eq!(log[0]["actor"], format!("operator:{me}"));

    // An application can require MFA.
    let app = admin_json(
        d,
        &[
            "app",
            "create",
            "--name",
            "Payroll",
            "--redirect-uri",
            "https://payroll.example/cb",
            "--tenant",
            "contoso",
        ],
    );
    let id = app["client_id"].as_str().unwrap();
    assert_eq!(app["require_mfa"], false);
    let app = admin_json(
        d,
        &["app", "update", id, "--require-mfa", "--tenant", "contoso"],
    );
    assert_eq!(app["require_mfa"], true);
    let app = admin_json(
        d,
        &[
            "app",
            "update",
            id,
            "--require-mfa",
            "false",
            "--tenant",
            "contoso",
        ],
    );
    assert_eq!(app["require_mfa"], false);
}

fn serve(dir: &Path, extra: &[&str]) -> Server {
    Server::start(BIN, dir, extra, &[])
}

#[tokio::test]
async fn demo_sign_in_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), &["--demo"]);
    assert!(
        s.output
            .contains("alice@contoso.com / tulip-harbor-lantern"),
        "{}",
        s.output
    );
    let web = WebClient::new(&s.base);
    let r = web
        .sign_in("contoso", "alice", "tulip-harbor-lantern")
        .await;
    assert_eq!(r.status(), 303);
    assert!(web
        .get("/contoso/")
        .await
        .text()
        .await
        .unwrap()
        .contains("My account"));
    // The sign-in log is written in the background, moments later (an entry still queued at a
    // kill is lost: see the store's logwriter); wait until it is in the database.
    let mut logged = false;
    for _ in 0..100 {
        let (_, log, _) = admin(dir.path(), &["signins", "--tenant", "contoso"]);
        if log.contains("success") {
            logged = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(logged, "the sign-in reaches the log");
    // SIGKILL: no chance to flush anything
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let mut s2 = serve(dir.path(), &["--demo"]);
    assert!(!s2.output.contains("Seeded"), "demo data is seeded once");
    let web2 = WebClient {
        http: web.http.clone(),
        base: s2.base.clone(),
    };
    let page = web2.get("/contoso/").await.text().await.unwrap();
    assert!(
        page.contains("My account"),
        "the session written before kill -9 is still there"
    );
    let (_, log, _) = admin(dir.path(), &["signins", "--tenant", "contoso"]);
    assert!(
        log.contains("success") && log.contains("alice@contoso.com"),
        "{log}"
    );
    s2.child.kill().unwrap();
    s2.child.wait().unwrap();
}

#[tokio::test]
async fn serves_https_from_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !ok.is_ok_and(|s| s.success()) {
        countersign_testkit::skip::<()>("HTTPS test", "openssl is not installed");
        return;
    }
    let data = dir.path().join("data");
    let mut s = serve(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(s.base.starts_with("https://"), "{}", s.output);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("strict-transport-security"));
    s.child.kill().unwrap();
    s.child.wait().unwrap();
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--public-url", "http://login.contoso.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("plain http is only allowed for localhost")
    );
    let out = Command::new(BIN)
        .args(["serve", "--listen", "nonsense"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an address"));
    // A log level that is none would silence the log: refused, as every bad value is.
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("serve")
        .env("COUNTERSIGN_LOG_LEVEL", "loud")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("log_level: 'loud' is not a level"), "{err}");
}

#[tokio::test]
async fn hardware_tokens_are_imported_all_or_nothing_then_activated_by_their_user() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &["--demo"]);
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // 160 bits
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "upn,serial number,secret key,time interval,manufacturer,model\n\
             alice@contoso.com,1000001,{secret},30,\"Contoso, Inc.\",HT1\n\
             nobody@contoso.com,1000002,{secret},30,Contoso,HT1\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = admin(
        dir.path(),
        &[
            "oath",
            "import",
            bad.to_str().unwrap(),
            "--tenant",
            "contoso",
        ],
    );
    assert!(
        !ok && err.contains("line 3") && err.contains("nobody@contoso.com"),
        "{err}"
    );
    let (_, out, _) = admin(dir.path(), &["oath", "list", "--tenant", "contoso"]);
    assert!(out.contains("(none)"), "nothing half-imported: {out}");

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!(
            "upn,serial number,secret key,time interval,manufacturer,model\n\
             alice@contoso.com,1000001,{secret},30,\"Contoso, Inc.\",HT1\n"
        ),
    )
    .unwrap();
    let (ok, out, err) = admin(
        dir.path(),
        &[
            "oath",
            "import",
            good.to_str().unwrap(),
            "--tenant",
            "contoso",
        ],
    );
    assert!(ok, "{out}{err}");
    let (_, out, _) = admin(dir.path(), &["oath", "list", "--tenant", "contoso"]);
    assert!(
        out.contains("1000001") && out.contains("not activated"),
        "{out}"
    );
    // A serial imported before is refused with its line, and nothing of the file is imported.
    let again = dir.path().join("again.csv");
    std::fs::write(
        &again,
        format!(
            "upn,serial number,secret key,time interval,manufacturer,model\n\
             alice@contoso.com,1000009,{secret},30,Contoso,HT1\n\
             alice@contoso.com,1000001,{secret},30,Contoso,HT1\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = admin(
        dir.path(),
        &[
            "oath",
            "import",
            again.to_str().unwrap(),
            "--tenant",
            "contoso",
        ],
    );
    assert!(
        !ok && err.contains("line 3: hardware token 1000001 already exists"),
        "{err}"
    );
    let (_, out, _) = admin(dir.path(), &["oath", "list", "--tenant", "contoso"]);
    assert!(!out.contains("1000009"), "{out}");

    // alice signs in with her password (the token is not active yet) and activates it
    let web = WebClient::new(&s.base);
    let r = web
        .sign_in("contoso", "alice", "tulip-harbor-lantern")
        .await;
    assert_eq!(r.status(), 303);
    let page = web
        .get("/contoso/security-info")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Hardware token (not activated)"), "{page}");
    let csrf = countersign_testkit::csrf_of(&page).unwrap();
    let i = page.find("name=\"id\" value=\"").unwrap() + 17;
    let id = page[i..i + 32].to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let Some(code) = countersign_testkit::oathtool_code(secret, now, &[]) else {
        return;
    };
    let r = web
        .post_form(
            "/contoso/security-info/verify",
            &[("csrf", &csrf), ("id", &id), ("code", &code)],
        )
        .await;
    assert_eq!(
        countersign_testkit::location(&r),
        "/contoso/security-info?done=activated"
    );
    let (_, out, _) = admin(dir.path(), &["oath", "list", "--tenant", "contoso"]);
    assert!(
        out.contains("active") && !out.contains("not activated"),
        "{out}"
    );
}

#[test]
fn temporary_access_passes_are_issued_once_listed_and_revoked_within_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| in_contoso(d, args);
    contoso(d);
    assert!(run(&["user", "create", "new@contoso.com", "--display-name", "New"]).0);

    // Off by default: the refusal says how to turn it on.
    let (ok, _, err) = run(&["tap", "create", "new@contoso.com"]);
    assert!(
        !ok && err.contains(
            "the authentication methods policy doesn't let new@contoso.com use a Temporary \
             Access Pass; turn it on with: countersign admin policy method enable \
             temporary-access-pass --tenant contoso"
        ),
        "{err}"
    );
    assert!(run(&["policy", "method", "enable", "temporary-access-pass"]).0);

    // Bad lifetimes and starts are refused before anything is written.
    for (flag, value, says) in [
        ("--lifetime", "10", "must be 60 to 480 minutes"),
        ("--lifetime", "9h", "must be 60 to 480 minutes"),
        ("--lifetime", "soon", "is not a lifetime"),
        ("--start", "tomorrow", "is not a start"),
    ] {
        let (ok, _, err) = run(&["tap", "create", "new@contoso.com", flag, value]);
        assert!(!ok && err.contains(says), "{flag} {value}: {err}");
    }
    let (ok, _, err) = run(&["tap", "create", "new@contoso.com", "--multi-use"]);
    assert!(!ok && err.contains("isUsableOnce"), "{err}");

    let tenant = ["--tenant", "contoso"];
    let v = admin_json(
        d,
        &[
            &["tap", "create", "new@contoso.com", "--lifetime", "2h"][..],
            &tenant,
        ]
        .concat(),
    );
    let pass = v["pass"].as_str().unwrap();
    assert_eq!(pass.len(), 8);
    assert_eq!(v["one_time"], true);
    assert_eq!(v["state"], "valid");

    // One current pass per user.
    let (ok, _, err) = run(&["tap", "create", "new@contoso.com"]);
    assert!(
        !ok && err.contains(
            "a current Temporary Access Pass for new@contoso.com already exists; a user has one \
             at a time: revoke it first with: countersign admin tap revoke new@contoso.com"
        ),
        "{err}"
    );

    // The list never shows the pass.
    let (ok, out, _) = run(&["tap", "list"]);
    assert!(
        ok && out.contains("new@contoso.com") && out.contains("valid"),
        "{out}"
    );
    assert!(!out.contains(pass));
    let listed = admin_json(d, &[&["tap", "list"][..], &tenant].concat());
    assert_eq!(listed[0]["one_time"], true);
    assert!(listed[0].get("pass").is_none());

    assert!(run(&["tap", "revoke", "new@contoso.com"]).0);
    let (ok, _, err) = run(&["tap", "revoke", "new@contoso.com"]);
    assert!(
        !ok && err.contains("has no current Temporary Access Pass"),
        "{err}"
    );
    let (_, out, _) = run(&["tap", "list"]);
    assert!(out.contains("revoked"), "{out}");
    // A start ahead of now is accepted, and the pass waits for it.
    let (ok, out, err) = run(&["tap", "create", "new@contoso.com", "--start", "2h"]);
    assert!(ok, "{err}");
    assert!(out.contains("It is shown only now"), "{out}");
    let (_, out, _) = run(&["tap", "list"]);
    assert!(out.contains("not yet valid"), "{out}");

    // Issuing and revoking are in the audit log, without the pass.
    let (ok, out, _) = run(&["audit"]);
    assert!(
        ok && out.contains("tap.create") && out.contains("tap.revoke"),
        "{out}"
    );
    let pass_id = v["id"].as_str().unwrap();
    assert!(out.contains(&format!("pass {pass_id}, ")), "{out}");
    assert!(!out.contains(pass));
}

#[tokio::test]
async fn an_administrator_lists_and_removes_a_users_passkeys_by_a_start_of_their_id() {
    use countersign_core::methods::passkey::PasskeyCredential;
    use countersign_core::store::PasskeyStore;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    contoso(d);
    assert!(
        in_contoso(
            d,
            &["user", "create", "amy@contoso.com", "--display-name", "Amy"]
        )
        .0
    );
    let tenant_id = admin_json(d, &["tenant", "show", "contoso"])["id"].clone();
    let user_id = admin_json(
        d,
        &["user", "show", "amy@contoso.com", "--tenant", "contoso"],
    )["id"]
        .clone();
    // Two passkeys whose ids start alike, stored as a registration stores them (the listing and
    // the removal do not read the verifier's record).
    {
        let store = countersign_store::SqlStore::open_sqlite(d).await.unwrap();
        for (id, name, synced) in [
            ("AbCdEf-key-one", "YubiKey", false),
            ("AbCdXy-key-two", "Phone", true),
        ] {
            let p = PasskeyCredential {
                credential_id: id.into(),
                tenant_id: tenant_id.as_str().unwrap().into(),
                user_id: user_id.as_str().unwrap().into(),
                name: name.into(),
                aaguid: None,
                credential: "{}".into(),
                sign_count: 0,
                backup_eligible: synced,
                backup_state: synced,
                created_at: 1_700_000_000,
                last_used_at: None,
            };
            store.insert_passkey(&p).await.unwrap();
        }
    }
    let run = |args: &[&str]| in_contoso(d, args);
    let (ok, out, _) = run(&["user", "show", "amy@contoso.com"]);
    assert!(
        ok && out.contains("2 passkeys (admin user passkeys)"),
        "{out}"
    );
    let (ok, out, _) = run(&["user", "passkeys", "amy@contoso.com"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("AbCdEf-key-one") && out.contains("YubiKey") && out.contains("Device-bound"),
        "{out}"
    );
    assert!(
        out.contains("AbCdXy-key-two") && out.contains("Synced"),
        "{out}"
    );

    // A start that is too short, names both, or names none is refused, and nothing is removed.
    for (start, says) in [
        ("AbC", "give at least 4 characters of its id"),
        (
            "AbCd",
            "AbCd starts the ids of 2 passkeys of amy@contoso.com; give more of it",
        ),
        ("Zzzzz", "passkey 'Zzzzz' was not found"),
    ] {
        let (ok, _, err) = run(&["user", "remove-passkey", "amy@contoso.com", start]);
        assert!(!ok && err.contains(says), "{start}: {err}");
    }
    let (ok, _, err) = run(&["user", "remove-passkey", "nobody@contoso.com", "AbCdEf"]);
    assert!(!ok && err.contains("nobody@contoso.com"), "{err}");

    let v = admin_json(
        d,
        &[
            "user",
            "remove-passkey",
            "amy@contoso.com",
            "AbCdEf",
            "--tenant",
            "contoso",
        ],
    );
    assert_eq!(v["id"], "AbCdEf-key-one");
    assert_eq!(v["kind"], "Device-bound");
    let left = admin_json(
        d,
        &["user", "passkeys", "amy@contoso.com", "--tenant", "contoso"],
    );
    let ids: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["AbCdXy-key-two"]);
    let shown = admin_json(
        d,
        &["user", "show", "amy@contoso.com", "--tenant", "contoso"],
    );
    assert_eq!(shown["methods"]["passkeys"], 1);
    // The whole id names it even where it starts another's.
    let (ok, out, err) = run(&[
        "user",
        "remove-passkey",
        "amy@contoso.com",
        "AbCdXy-key-two",
    ]);
    assert!(ok && out.contains("Removed passkey Phone"), "{out}{err}");
}

/// With `log_format = "json"` standard output carries nothing but JSON log lines (a collector
/// parses it), and the lines for a person — the address, the demo's accounts — go to standard
/// error.
#[test]
fn a_json_log_is_all_json_and_the_banner_goes_to_standard_error() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("COUNTERSIGN_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    while !banner.contains("Countersign is listening on") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "exited: {banner}");
        banner.push_str(&line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(banner.contains("alice@contoso.com"), "{banner}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "the log says it started");
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        if v["fields"]["message"] == "starting" {
            let config = v["fields"]["config"].as_str().unwrap();
            let config: serde_json::Value = serde_json::from_str(config).unwrap();
            assert!(config["listen"].is_string(), "{config}");
        }
    }
    assert!(
        !out.contains('\u{1b}'),
        "no colour codes outside a terminal"
    );
}

/// `admin` in a directory with no database: `check` refuses (and creates nothing), other commands
/// say that they created a new, empty one — an administrator in the wrong directory notices.
#[test]
fn admin_in_a_directory_without_a_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("nowhere");
    let (ok, _, err) = admin(&d, &["check"]);
    assert!(!ok && err.contains("there is no database in"), "{err}");
    assert!(!d.join("countersign.db").exists(), "nothing created");
    // With --json, the error is JSON too.
    let (ok, _, err) = admin(&d, &["--json", "check"]);
    let body: serde_json::Value = serde_json::from_str(err.trim()).expect(&err);
    assert!(
        !ok && body["error"]
            .as_str()
            .unwrap()
            .contains("there is no database in")
    );
    let (ok, _, err) = admin(&d, &["tenant", "list"]);
    assert!(ok && err.contains("created a new, empty one"), "{err}");
    let (ok, _, err) = admin(&d, &["tenant", "list"]);
    assert!(ok && !err.contains("created"), "only the first time: {err}");
    let (ok, out, _) = admin(&d, &["check"]);
    assert!(ok && out.contains("intact"), "{out}");
}

#[test]
fn a_command_whose_output_is_closed_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    contoso(dir.path());
    // `countersign admin policy show | head -0`: the reader is gone before the command writes.
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["admin", "policy", "show", "--tenant", "contoso"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `serve` refuses at once, before touching the database, when its certificate is missing.
#[test]
fn a_missing_certificate_is_told_before_the_database_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let (ok, _, err) = run(
        &data,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            missing,
            "--tls-key",
            missing,
        ],
        None,
    );
    assert!(!ok && err.contains("cannot load TLS certificate"), "{err}");
    assert!(!data.join("countersign.db").exists(), "no database made");
}

/// A database that `admin check` calls damaged is not served: the server says why and stops.
#[test]
fn the_server_refuses_a_damaged_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    contoso(d);
    for i in 0..40 {
        let upn = format!("user{i}@contoso.com");
        let (ok, _, err) = in_contoso(d, &["user", "create", &upn, "--display-name", "U"]);
        assert!(ok, "{err}");
    }
    // The page of an index that opening the database never reads, overwritten: its b-tree no
    // longer parses, which only a check of every page finds.
    let db = d.join("countersign.db");
    let (root, page): (i64, i64) = {
        let c = rusqlite::Connection::open(&db).unwrap();
        let root = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'group_members_user'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (
            root,
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        )
    };
    let mut bytes = std::fs::read(&db).unwrap();
    let at = ((root - 1) * page) as usize;
    bytes[at..at + page as usize].fill(0x55);
    std::fs::write(&db, &bytes).unwrap();
    let (ok, _, err) = admin(d, &["check"]);
    assert!(!ok && err.contains("damaged"), "{err}");
    let (ok, out, err) = run(d, &["serve", "--listen", "127.0.0.1:0"], None);
    assert!(!ok && err.contains("the database is damaged"), "{err}");
    assert!(!out.contains("listening"), "{out}");
}

/// An unreachable PostgreSQL is told once, with the driver's reason, at once.
#[test]
fn an_unreachable_database_is_told_once_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://postgres@127.0.0.1:1/test";
    let (ok, _, err) = run(
        dir.path(),
        &["--database-url", url, "admin", "tenant", "list"],
        None,
    );
    assert!(!ok, "{err}");
    assert_eq!(err.matches("storage failure").count(), 1, "{err}");
    assert!(err.contains("Connection refused"), "{err}");
}
