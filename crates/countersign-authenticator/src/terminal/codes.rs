//! `codes`: every account's current code and the seconds it has left.

use super::*;
use countersign_authenticator::Vault;
use std::io::Write;

pub(super) fn print_codes(vault: &Vault, json: bool) -> anyhow::Result<()> {
    let t = now();
    let codes: Vec<_> = vault.accounts.iter().map(|a| a.code(t)).collect();
    if json {
        println!("{}", serde_json::to_string(&codes)?);
        return Ok(());
    }
    if codes.is_empty() {
        println!("(no accounts; add one with `countersign-authenticator add`)");
    }
    let mut out = std::io::stdout().lock();
    for (c, a) in codes.iter().zip(&vault.accounts) {
        let left = c
            .seconds_left
            .map(|s| format!("{s:>2}s"))
            .unwrap_or_else(|| "  -".into());
        writeln!(out, "{}  {}  {}", c.code, left, a.label())?;
    }
    Ok(())
}
