//! The hub's login client during a move: while the new hub runs under a temporary domain, its
//! OAuth client must accept that domain's callback, and the final one again after `cutover`.
//! The authenticator is read from the hub's values files (the last that sets
//! `JupyterHub.authenticator_class` wins; an encrypted file's key names are readable, so a
//! `CILogonOAuthenticator` or `GitHubOAuthenticator` block there counts too).
//!
//! Owns: recognising the login client and the manual steps that update and restore it. Does
//! not own: running them (a person does, `runtime::steps::manual`).

use crate::playbook::Step;
use crate::playbook::ledger::leaves;
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, Hub, text_of};
use crate::yaml::Segment;

/// The OAuth client a hub logs in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// CILogon, managed by `deployer cilogon-client`.
    CILogon,
    /// A GitHub OAuth app (its callback URL is set in the app's settings).
    GitHub,
    /// Another OAuth provider (`auth0`, `generic-oauth`…), named as written.
    Other(String),
}

/// The login client of `hub` of `c`, when it uses an OAuth provider.
pub fn client(infra: &Infrastructure, hub: &Hub) -> Option<Client> {
    let mut class: Option<String> = None;
    let mut blocks: Vec<Client> = Vec::new();
    for f in &hub.values_files {
        let Some(doc) = infra.files.doc(&f.rel) else {
            continue;
        };
        for l in leaves(doc) {
            let keys: Vec<&str> = l
                .path
                .iter()
                .filter_map(|s| match s {
                    Segment::Key(k) => Some(k.as_str()),
                    _ => None,
                })
                .collect();
            if keys.ends_with(&["JupyterHub", "authenticator_class"])
                && let Some(v) = text_of(l.node)
                && !f.is_encrypted()
            {
                class = Some(v.to_string());
            }
            for (key, client) in [
                ("CILogonOAuthenticator", Client::CILogon),
                ("GitHubOAuthenticator", Client::GitHub),
            ] {
                if keys.contains(&key) && !blocks.contains(&client) {
                    blocks.push(client);
                }
            }
        }
    }
    match class.map(|s| s.to_ascii_lowercase()) {
        Some(s) if s.contains("cilogon") => Some(Client::CILogon),
        Some(s) if s.contains("github") => Some(Client::GitHub),
        Some(s)
            if [
                "tmp",
                "dummy",
                "null",
                "nullauthenticator",
                "shared-password",
            ]
            .iter()
            .any(|n| s.contains(n)) =>
        {
            None
        }
        Some(s) => Some(Client::Other(s)),
        None => blocks.into_iter().next(),
    }
}

/// The setup's step before `manual:deploy-hub`: a client that accepts the temporary domain.
pub fn setup_step(
    client: &Client,
    tgt: &Cluster,
    name: &str,
    hub_type: &str,
    temp: &str,
    final_domain: &str,
) -> Step {
    let callback = format!("https://{temp}/hub/oauth_callback");
    let title = match client {
        Client::CILogon => format!(
            "give the new hub a CILogon client for `{temp}`: the copied secret values hold the old hub's client, whose only callback the old hub still uses (do not `update` it); remove `CILogonOAuthenticator.client_id` and `client_secret` from the new hub's `enc-{name}.secret.values.yaml`, then `deployer cilogon-client create {} {name} {hub_type} {temp}` (callback `{callback}`)",
            tgt.name
        ),
        Client::GitHub => format!(
            "give the new hub a GitHub OAuth app for `{temp}`: a GitHub app has one callback URL and the old hub still uses `https://{final_domain}/hub/oauth_callback`; create a temporary OAuth app with the callback `{callback}` and put its client id and secret in the new hub's `enc-{name}.secret.values.yaml`"
        ),
        Client::Other(class) => format!(
            "allow the callback `{callback}` in the hub's `{class}` OAuth client (keep `https://{final_domain}/hub/oauth_callback` for the old hub)"
        ),
    };
    Step::new("manual:login-client", title)
}

/// The cutover's step once the new hub serves the final domain: the client restored.
pub fn restore_step(
    client: &Client,
    src: &Cluster,
    tgt: &Cluster,
    old: &str,
    name: &str,
    final_domain: &str,
) -> Step {
    let callback = format!("https://{final_domain}/hub/oauth_callback");
    let title = match client {
        Client::CILogon => format!(
            "once the merged change is deployed, point the new hub's CILogon client at the final domain: `deployer cilogon-client update {} {name} {final_domain}` (callback `{callback}`); delete the old hub's client `{}-{old}` when the old hub is gone",
            tgt.name, src.name
        ),
        Client::GitHub => format!(
            "once the merged change is deployed, restore the original GitHub OAuth app (callback `{callback}`): its client id and secret back in the new hub's `enc-{name}.secret.values.yaml`, then delete the temporary app"
        ),
        Client::Other(class) => format!(
            "once the merged change is deployed, remove the temporary callback from the hub's `{class}` OAuth client, keeping `{callback}`"
        ),
    };
    Step::new("manual:restore-login-client", title)
}
