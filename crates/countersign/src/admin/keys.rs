//! `admin keys …`: token signing keys — list and rotate.

use super::*;

#[derive(Subcommand)]
pub(super) enum KeysCmd {
    /// List the signing keys: active, and retired ones still published.
    List,
    /// New signing keys now; the old ones stay published for a day.
    Rotate,
}

pub(super) async fn keys_cmd(deps: &Deps, out: &Out, c: KeysCmd) -> anyhow::Result<()> {
    match c {
        KeysCmd::List => {
            let keys = deps.store.list_signing_keys().await?;
            out.table(
                keys.iter()
                    .map(|k| {
                        let status = match k.retired_at {
                            None => "active".to_string(),
                            Some(r) => format!("retired {}", time(r)),
                        };
                        (
                            format!("{:<18}  {}  created {}  {}", k.kid, k.alg.as_str(), time(k.created_at), status),
                            json!({ "kid": k.kid, "alg": k.alg.as_str(), "created_at": time(k.created_at),
                                    "retired_at": k.retired_at.map(time) }),
                        )
                    })
                    .collect(),
            );
        }
        KeysCmd::Rotate => {
            let kids =
                countersign_server::keys::KeyRing::rotate(deps.store.as_ref(), deps.now()).await?;
            out.done(
                &format!(
                    "New signing keys: {} (running servers pick them up within 30 s)",
                    kids.join(", ")
                ),
                json!({ "created": kids }),
            );
        }
    }
    Ok(())
}
