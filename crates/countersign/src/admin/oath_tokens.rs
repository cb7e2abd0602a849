//! `admin oath …`: hardware OATH tokens — import from Entra's CSV (all or nothing), list, delete.

use super::*;

#[derive(Subcommand)]
pub(super) enum OathCmd {
    /// Import hardware tokens from a CSV file with the header
    /// `upn,serial number,secret key,time interval,manufacturer,model`.
    Import {
        file: std::path::PathBuf,
        #[command(flatten)]
        t: TenantArg,
    },
    /// List the tenant's OATH tokens and whose they are.
    List(TenantArg),
    /// Delete a token by its id (from `oath list`).
    Delete {
        id: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

pub(super) fn read_hardware_csv(path: &Path) -> anyhow::Result<Vec<oath::HardwareRow>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_hardware_csv(f).with_context(|| format!("{}", path.display()))
}

/// The rows of a hardware-token CSV (Entra's columns; `manufacturer` and `model` optional).
pub(super) fn parse_hardware_csv(
    input: impl std::io::Read,
) -> anyhow::Result<Vec<oath::HardwareRow>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = rdr
        .headers()?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            anyhow::anyhow!(
                "the CSV has no '{name}' column (header: {})",
                headers.join(",")
            )
        })
    };
    let (upn, serial, secret, interval) = (
        col("upn")?,
        col("serial number")?,
        col("secret key")?,
        col("time interval")?,
    );
    let (manufacturer, model) = (col("manufacturer").ok(), col("model").ok());
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("line {}", i + 2))?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        rows.push(oath::HardwareRow {
            upn: get(Some(upn)),
            serial: get(Some(serial)),
            secret: get(Some(secret)),
            interval: get(Some(interval)),
            manufacturer: get(manufacturer),
            model: get(model),
        });
    }
    if rows.is_empty() {
        bail!("the file has no tokens");
    }
    Ok(rows)
}

pub(super) async fn oath_cmd(deps: &Deps, out: &Out, c: OathCmd) -> anyhow::Result<()> {
    match c {
        OathCmd::Import { file, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let rows = read_hardware_csv(&file)?;
            let tokens = oath::import_hardware(deps, &tenant, &rows).await?;
            out.done(
                &format!(
                    "Imported {} hardware token{}; each user activates theirs in security info with a code from it",
                    tokens.len(),
                    if tokens.len() == 1 { "" } else { "s" }
                ),
                json!({ "imported": tokens.len() }),
            );
        }
        OathCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let mut rows = Vec::new();
            for tok in deps.store.list_oath_tokens(&tenant.id).await? {
                let upn = deps
                    .store
                    .user_by_id(&tok.user_id)
                    .await?
                    .map(|u| u.upn)
                    .unwrap_or_default();
                rows.push((
                    format!(
                        "{}  {:<8}  {:<30}  {:<12}  {}",
                        tok.id,
                        tok.kind.as_str(),
                        upn,
                        tok.serial.as_deref().unwrap_or("-"),
                        if tok.active { "active" } else { "not activated" }
                    ),
                    json!({ "id": tok.id, "kind": tok.kind.as_str(), "user": upn, "serial": tok.serial,
                            "active": tok.active, "created_at": time(tok.created_at),
                            "last_used_at": tok.last_used_at.map(time) }),
                ));
            }
            out.table(rows);
        }
        OathCmd::Delete { id, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let found = deps
                .store
                .list_oath_tokens(&tenant.id)
                .await?
                .into_iter()
                .any(|tok| tok.id == id);
            if !found || !deps.store.delete_oath_token(&id).await? {
                bail!("token '{id}' was not found in tenant {}", tenant.name);
            }
            out.done(&format!("Deleted token {id}"), json!({ "deleted": id }));
        }
    }
    Ok(())
}
