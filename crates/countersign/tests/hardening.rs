//! The binary's hardening as an operator meets it: private data files with sealed secrets and a
//! rotatable key file, a refusal to serve plain HTTP beyond loopback, metrics on their own
//! listener, and an admin CLI that never sends control characters to the terminal.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::process::Server;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

mod common;
use common::{admin_json, contoso, BIN};

const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
    common::run(data, args, None)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Seeds a tenant with a user holding an imported hardware token (a known seed) and signing keys.
fn seeded(data: &Path) {
    contoso(data);
    admin_json(
        data,
        &[
            "user",
            "create",
            "alice@contoso.com",
            "--tenant",
            "contoso",
            "--display-name",
            "Alice",
        ],
    );
    let csv = data.join("tokens.csv");
    std::fs::write(
        &csv,
        format!(
            "upn,serial number,secret key,time interval,manufacturer,model\n\
             alice@contoso.com,1000001,{SEED},30,Contoso,HT1\n"
        ),
    )
    .unwrap();
    admin_json(
        data,
        &[
            "oath",
            "import",
            csv.to_str().unwrap(),
            "--tenant",
            "contoso",
        ],
    );
    std::fs::remove_file(csv).unwrap();
    admin_json(data, &["keys", "rotate"]);
}

#[test]
fn data_files_are_private_and_secrets_sealed_under_a_rotatable_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seeded(&data);
    assert_eq!(mode(&data), 0o700);
    for f in std::fs::read_dir(&data).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(SEED.len()).any(|w| w == SEED.as_bytes()),
            "{} holds the seed in clear",
            f.display()
        );
    }
    let st = admin_json(&data, &["secrets", "status"]);
    let first = st["primary"].as_str().unwrap().to_string();
    assert_eq!(st["in_clear"], 0);
    assert_eq!(
        st["sealed_by_key"][&first], 3,
        "one seed, two signing keys: {st}"
    );

    let added = admin_json(&data, &["secrets", "new-key"]);
    let second = added["key_id"].as_str().unwrap().to_string();
    assert_eq!(mode(&data.join("secrets.key")), 0o600);
    assert_eq!(admin_json(&data, &["secrets", "reencrypt"])["resealed"], 3);
    let st = admin_json(&data, &["secrets", "status"]);
    assert_eq!(st["primary"], second.as_str());
    assert_eq!(st["sealed_by_key"][&second], 3);
    assert!(st["sealed_by_key"].get(&first).is_none(), "{st}");
    // `user show` lists each lock of the account and until when
    let u = admin_json(
        &data,
        &["user", "show", "alice@contoso.com", "--tenant", "contoso"],
    );
    let locks: Vec<&str> = u["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["method"].as_str().unwrap())
        .collect();
    assert_eq!(locks, ["password", "verification codes", "push approvals"]);
    assert!(u["locks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["state"] == "open"));
    // the token still works for its user: its seed opens under the new key
    let (ok, out, _) = run(&data, &["admin", "oath", "list", "--tenant", "contoso"]);
    assert!(ok && out.contains("1000001"), "{out}");

    // without its key file the database is refused, with the reason
    let key = std::fs::read(data.join("secrets.key")).unwrap();
    std::fs::remove_file(data.join("secrets.key")).unwrap();
    let (ok, _, err) = run(&data, &["admin", "keys", "list"]);
    assert!(
        !ok && err.contains("secrets_key_file") && err.contains(&second),
        "{err}"
    );
    // a key file with the right key ids but other bytes is told as the wrong key file, not as
    // an altered database
    let text = String::from_utf8(key.clone()).unwrap();
    let other: String = text
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((id, _)) if !l.starts_with('#') => format!("{id} {}\n", "A".repeat(43) + "="),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(data.join("secrets.key"), other).unwrap();
    let (ok, _, err) = run(&data, &["admin", "keys", "list"]);
    assert!(
        !ok && err.contains("not the key file this database was sealed with"),
        "{err}"
    );
    std::fs::write(data.join("secrets.key"), key).unwrap();
    let (ok, _, err) = run(&data, &["admin", "keys", "list"]);
    assert!(ok, "{err}");
}

#[test]
fn plain_http_beyond_loopback_is_refused_with_the_setting_that_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(dir.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert!(!ok);
    assert!(err.contains("allow_insecure_listen"), "{err}");
    assert!(
        !dir.path().join("countersign.db").exists(),
        "refused before touching data"
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        BIN,
        dir.path(),
        &[],
        &[("COUNTERSIGN_METRICS_LISTEN", "127.0.0.1:0")],
    );
    let (pages, metrics) = (Some(s.base.clone()), s.metrics.clone());
    let http = reqwest::Client::new();
    let m = http.get(metrics.unwrap()).send().await.unwrap();
    assert_eq!(m.status(), 200);
    assert!(m
        .text()
        .await
        .unwrap()
        .contains("countersign_password_hashes_total"));
    let p = http
        .get(format!("{}/metrics", pages.unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(p.status(), 404);
    drop(s);
}

/// A name from outside (here a group description an administrator pasted, and an unknown name in
/// an error) reaches the terminal with its control characters escaped.
#[test]
fn the_admin_cli_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    contoso(data);
    let (ok, _, err) = run(
        data,
        &[
            "admin",
            "user",
            "show",
            "x\u{1b}[2J@contoso.com",
            "--tenant",
            "contoso",
        ],
    );
    assert!(!ok);
    assert!(
        !err.contains('\u{1b}') && err.contains("\\u{1b}"),
        "{err:?}"
    );
    let (ok, out, _) = run(data, &["admin", "tenant", "show", "contoso"]);
    assert!(
        ok && !out.chars().any(|c| c.is_control() && c != '\n'),
        "{out:?}"
    );
}
