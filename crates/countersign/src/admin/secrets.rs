//! `countersign admin secrets …`: the secrets key file that seals signing keys and OATH seeds in
//! the database — how secrets stand per key, a new key, and moving every secret to it.

use super::Out;
use clap::Subcommand;
use countersign_store::secrets::Sealer;
use countersign_store::SqlStore;
use serde_json::json;
use std::path::Path;

#[derive(Subcommand)]
pub(super) enum SecretsCmd {
    /// The key file, its keys, and how many secrets each key seals.
    Status,
    /// Add a new key at the top of the key file: it seals new secrets from now on (running
    /// servers reread the file within 30 seconds); older keys still open what they sealed.
    NewKey,
    /// Seal every secret under the newest key, in one transaction. Afterwards a key that seals
    /// nothing (see `status`) can be deleted from the file.
    Reencrypt,
}

pub(super) async fn run(
    store: &SqlStore,
    key_file: &Path,
    out: &Out,
    c: SecretsCmd,
) -> anyhow::Result<()> {
    match c {
        SecretsCmd::Status => {
            let st = store.secrets_status().await?;
            let mut text = format!(
                "key file:  {}\nnew secrets are sealed under {}\n",
                key_file.display(),
                st.primary
            );
            for k in &st.keys {
                text.push_str(&format!(
                    "  key {k}: {} secret(s)\n",
                    st.by_key.get(k).copied().unwrap_or(0)
                ));
            }
            for (k, n) in st.by_key.iter().filter(|(k, _)| !st.keys.contains(k)) {
                text.push_str(&format!("  key {k}: {n} secret(s) — NOT in the key file\n"));
            }
            text.push_str(&format!("in clear: {}", st.in_clear));
            out.done(
                &text,
                json!({
                    "key_file": key_file.display().to_string(), "primary": st.primary,
                    "keys": st.keys, "sealed_by_key": st.by_key, "in_clear": st.in_clear,
                }),
            );
        }
        SecretsCmd::NewKey => {
            let id = Sealer::new_key(key_file)?;
            out.done(
                &format!(
                    "Added key {id} to {}: it seals new secrets. Run `countersign admin secrets \
                     reencrypt` to seal the existing ones under it.",
                    key_file.display()
                ),
                json!({ "key_id": id, "key_file": key_file.display().to_string() }),
            );
        }
        SecretsCmd::Reencrypt => {
            let n = store.reseal_all(true).await?;
            out.done(
                &format!("Sealed {n} secret(s) under the newest key"),
                json!({ "resealed": n }),
            );
        }
    }
    Ok(())
}
