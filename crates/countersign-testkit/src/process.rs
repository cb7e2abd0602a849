//! The `countersign` binary as a separate process, as an operator runs it: `serve` on a data
//! directory with port 0, its printed addresses read back, and a kill that is a real SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `countersign serve`; killed and reaped when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT` of the pages.
    pub base: String,
    /// `http://127.0.0.1:PORT/metrics` when a metrics listener was asked for.
    pub metrics: Option<String>,
    /// Everything it printed until it listened.
    pub output: String,
}

impl Drop for Server {
    /// A failing test must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Runs `bin --data-dir dir serve --listen 127.0.0.1:0 extra…` with `envs`, and waits until
    /// it listens.
    pub fn start(bin: &str, dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From here on, Drop kills and reaps the process whatever happens.
        let mut server = Server {
            child,
            base: String::new(),
            metrics: None,
            output: String::new(),
        };
        let mut reader = BufReader::new(server.child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("server exited early: {}", server.output);
            }
            server.output.push_str(&line);
            if let Some(rest) = line.strip_prefix("Metrics on ") {
                server.metrics = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("Countersign is listening on ") {
                server.base = rest.split_whitespace().next().unwrap().to_string();
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    while reader.read_line(&mut sink).unwrap_or(0) > 0 {}
                });
                return server;
            }
        }
    }

    /// SIGKILL: the process gets no chance to flush or finish anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// The `countersign-authenticator` binary of this build (beside the test executable: `cargo test
/// --workspace` builds it for its own package's tests); `None` (skipped) when it was not built,
/// a failure under `COUNTERSIGN_REQUIRE_ALL=1`.
pub fn authenticator_bin() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> → target/<profile>/countersign-authenticator
    let bin = exe.parent()?.parent()?.join("countersign-authenticator");
    if bin.exists() {
        return Some(bin);
    }
    crate::skip(
        "authenticator binary",
        "not built (cargo build -p countersign-authenticator, or run the whole workspace)",
    )
}

/// Runs the authenticator binary with the vault in `home`, `stdin` for its PIN lines; its
/// success, standard output and standard error.
pub fn authenticator(
    bin: &Path,
    home: &Path,
    stdin: &str,
    args: &[&str],
) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .arg("--home")
        .arg(home)
        .arg("--pin-stdin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the authenticator starts");
    // The app reads only the lines it needs and may exit before the rest is written.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("the authenticator ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
