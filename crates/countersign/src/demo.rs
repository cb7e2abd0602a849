//! Demo data for `countersign serve --demo`: the Contoso tenant with two users, an administrator,
//! a group and a demo application, seeded once; the sign-in details are printed at every start.

use countersign_core::directory::{self, NewClient, NewUser};
use countersign_core::model::SigningAlg;
use countersign_core::Deps;

pub const TENANT: &str = "contoso";
pub const USERS: &[(&str, &str, &str)] = &[
    ("alice@contoso.com", "Alice Smith", "tulip-harbor-lantern"),
    ("bob@contoso.com", "Bob Jones", "granite-meadow-violin"),
    (
        "admin@contoso.com",
        "Contoso Admin",
        "copper-falcon-orchard",
    ),
];
pub const CLIENT_ID: &str = "demo-app";

/// Seeds the demo tenant once, then tells how to sign in, line by line, through `say`.
pub async fn seed(deps: &Deps, public_url: &str, say: impl Fn(&str)) -> anyhow::Result<()> {
    if deps.store.tenant_by_name(TENANT).await?.is_none() {
        let t = directory::create_tenant(deps, TENANT, "Contoso", &["contoso.com".into()]).await?;
        for (upn, name, password) in USERS {
            directory::create_user(
                deps,
                &t,
                NewUser {
                    upn,
                    display_name: name,
                    email: None,
                    password: Some(password),
                    enabled: true,
                },
            )
            .await?;
        }
        directory::assign_role(deps, &t, "admin@contoso.com", "global-administrator").await?;
        directory::create_group(deps, &t, "Sales", "Demo group").await?;
        directory::add_member(deps, &t, "Sales", "alice@contoso.com").await?;
        directory::create_client(
            deps,
            &t,
            NewClient {
                require_mfa: false,
                name: "Demo application",
                redirect_uris: &[
                    "http://localhost:8081/callback".into(),
                    "http://127.0.0.1:8081/callback".into(),
                ],
                post_logout_redirect_uris: &["http://localhost:8081/".into()],
                confidential: false,
                id_token_alg: SigningAlg::RS256,
                client_id: Some(CLIENT_ID),
            },
        )
        .await?;
        say(&format!("Seeded the demo tenant '{TENANT}'."));
    }
    say("");
    say(&format!("  Sign in:    {public_url}/{TENANT}/login"));
    for (upn, _, password) in USERS {
        say(&format!("              {upn} / {password}"));
    }
    say(&format!(
        "  OIDC:       {public_url}/{TENANT}/v2.0/.well-known/openid-configuration"
    ));
    say(&format!(
        "  Demo app:   client_id {CLIENT_ID} (public, PKCE), redirect http://localhost:8081/callback"
    ));
    say("  (demo passwords as seeded; change them with `countersign admin user set-password`)");
    say("");
    Ok(())
}
