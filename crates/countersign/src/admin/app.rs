//! `admin app …`: OpenID Connect applications.

use super::*;

#[derive(Subcommand)]
pub(super) enum AppCmd {
    /// Register an application; a confidential one gets a secret, printed once.
    Create {
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only), e.g. a single-page or native app.
        #[arg(long)]
        public: bool,
        /// Choose the client_id instead of a random one.
        #[arg(long)]
        client_id: Option<String>,
        /// ID token algorithm: RS256 (default) or ES256.
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
        /// Every sign-in to this application needs a second factor.
        #[arg(long)]
        require_mfa: bool,
    },
    /// List the tenant's applications.
    List(TenantArg),
    /// Show an application's settings.
    Show {
        client_id: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Change an application; only the options given change.
    Update {
        client_id: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        name: Option<String>,
        /// Replace the redirect URIs (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Issue a new client secret (the old one stops working).
        #[arg(long)]
        rotate_secret: bool,
        /// Require a second factor for every sign-in (`--require-mfa false` to stop).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
        require_mfa: Option<bool>,
    },
    /// Delete an application: its client_id signs no one in any more.
    Delete {
        client_id: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

pub(super) fn client_json(c: &OidcClient) -> Value {
    json!({
        "client_id": c.id, "name": c.name, "type": if c.is_confidential() { "confidential" } else { "public" },
        "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "id_token_alg": c.id_token_alg.as_str(), "require_mfa": c.require_mfa,
        "created_at": time(c.created_at),
    })
}

pub(super) fn parse_alg(s: &str) -> anyhow::Result<SigningAlg> {
    SigningAlg::parse(&s.to_ascii_uppercase())
        .ok_or_else(|| anyhow::anyhow!("id token algorithm '{s}': use RS256 or ES256"))
}

pub(super) async fn app_cmd(deps: &Deps, out: &Out, c: AppCmd) -> anyhow::Result<()> {
    match c {
        AppCmd::Create {
            t,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            client_id,
            id_token_alg,
            require_mfa,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let (c, secret) = directory::create_client(
                deps,
                &tenant,
                NewClient {
                    require_mfa,
                    name: &name,
                    redirect_uris: &redirect_uris,
                    post_logout_redirect_uris: &post_logout_redirect_uris,
                    confidential: !public,
                    id_token_alg: parse_alg(&id_token_alg)?,
                    client_id: client_id.as_deref(),
                },
            )
            .await?;
            let mut v = client_json(&c);
            let mut text = format!(
                "Registered application {}\nclient_id:      {}",
                c.name, c.id
            );
            if let Some(s) = &secret {
                v["client_secret"] = json!(s);
                text.push_str(&format!(
                    "\nclient_secret:  {s}\n(the secret is shown only now; store it safely)"
                ));
            }
            out.done(&text, v);
        }
        AppCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let cs = deps.store.list_clients(&tenant.id).await?;
            out.table(
                cs.iter()
                    .map(|c| {
                        (
                            format!(
                                "{:<34}  {:<25}  {:<12}  {}",
                                c.id,
                                c.name,
                                if c.is_confidential() {
                                    "confidential"
                                } else {
                                    "public"
                                },
                                c.redirect_uris.join(" ")
                            ),
                            client_json(c),
                        )
                    })
                    .collect(),
            );
        }
        AppCmd::Show { client_id, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let c = directory::client(deps, &tenant, &client_id).await?;
            out.done(
                &format!(
                    "client_id:      {}\nname:           {}\ntype:           {}\nredirect URIs:  {}\nlogout URIs:    {}\nID token alg:   {}\nrequire MFA:    {}",
                    c.id,
                    c.name,
                    if c.is_confidential() { "confidential" } else { "public" },
                    c.redirect_uris.join(" "),
                    c.post_logout_redirect_uris.join(" "),
                    c.id_token_alg.as_str(),
                    if c.require_mfa { "yes" } else { "no" }
                ),
                client_json(&c),
            );
        }
        AppCmd::Update {
            client_id,
            t,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            id_token_alg,
            rotate_secret,
            require_mfa,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let alg = id_token_alg.as_deref().map(parse_alg).transpose()?;
            let (c, secret) = directory::update_client(
                deps,
                &tenant,
                &client_id,
                ClientChanges {
                    name: name.as_deref(),
                    redirect_uris: (!redirect_uris.is_empty()).then_some(&redirect_uris[..]),
                    post_logout_redirect_uris: (!post_logout_redirect_uris.is_empty())
                        .then_some(&post_logout_redirect_uris[..]),
                    id_token_alg: alg,
                    require_mfa,
                    rotate_secret,
                },
            )
            .await?;
            let mut v = client_json(&c);
            let mut text = format!("Updated application {}", c.id);
            if let Some(s) = &secret {
                v["client_secret"] = json!(s);
                text.push_str(&format!("\nnew client_secret:  {s}\n(shown only now)"));
            }
            out.done(&text, v);
        }
        AppCmd::Delete { client_id, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::delete_client(deps, &tenant, &client_id).await?;
            out.done(
                &format!("Deleted application {client_id}"),
                json!({ "deleted": client_id }),
            );
        }
    }
    Ok(())
}
