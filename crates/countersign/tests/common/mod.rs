//! Running the `countersign` binary from the integration tests: one command at a time on a data
//! directory, with its exit status and output.

#![allow(dead_code)] // each test file uses what it needs

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_countersign");

/// Runs `countersign --data-dir DIR ARGS…` with `stdin` (or none); (success, stdout, stderr).
pub fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(dir).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn admin(dir: &Path, args: &[&str]) -> (bool, String, String) {
    admin_with_stdin(dir, args, None)
}

pub fn admin_with_stdin(dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    run(dir, &all, stdin)
}

/// An admin command that must succeed, with `--json`: its output parsed.
pub fn admin_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["admin", "--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = run(dir, &all, None);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// An admin command in the tenant "contoso" (`--tenant contoso` appended).
pub fn in_contoso(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--tenant", "contoso"]);
    admin(dir, &all)
}

/// Creates the tenant "contoso" (contoso.com).
pub fn contoso(dir: &Path) {
    admin_json(
        dir,
        &[
            "tenant",
            "create",
            "contoso",
            "--display-name",
            "Contoso",
            "--domain",
            "contoso.com",
        ],
    );
}
