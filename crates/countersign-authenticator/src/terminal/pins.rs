//! Where PINs come from: the terminal, or one line of standard input each (`--pin-stdin`).

use anyhow::bail;
use std::io::{BufRead, IsTerminal};
use zeroize::Zeroizing;

/// Where PINs come from: the terminal, or one line of standard input each (`--pin-stdin`), read
/// only when needed — `listen` goes on reading its commands from the lines after the PIN.
pub(super) struct Pins {
    pub(super) stdin: bool,
}

impl Pins {
    pub(super) fn new(stdin: bool) -> anyhow::Result<Self> {
        Ok(Self { stdin })
    }

    pub(super) fn next(&mut self, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
        if self.stdin {
            let mut line = Zeroizing::new(String::new());
            if std::io::stdin().lock().read_line(&mut line)? == 0 {
                bail!("standard input has no more PIN lines");
            }
            return Ok(Zeroizing::new(
                line.trim_end_matches(['\r', '\n']).to_string(),
            ));
        }
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for the PIN; use --pin-stdin");
        }
        Ok(Zeroizing::new(rpassword::prompt_password(prompt)?))
    }
}
