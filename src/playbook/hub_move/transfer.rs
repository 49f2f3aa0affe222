//! The home directories of a hub on `jupyterhub-home-nfs` (the in-cluster, per-hub NFS server
//! of 2i2c's basehub): `sync-homes` cannot reach them (no host and path outside the cluster),
//! so the move adds a transfer sidecar, an OpenSSH server container, to both hubs' NFS server
//! (`jupyterhub-home-nfs.extraContainers`, with the home volume at `/export`). The window's
//! `transfer-homes` step then exposes the destination's sidecar through a LoadBalancer
//! Service and runs rsync in the source's sidecar to it. The sidecars hold the PUBLIC key of
//! a pair the operator makes (`--transfer-key FILE`: `FILE.pub` is read at planning, `FILE`
//! only by the window, which passes it on rsync's standard input); `decommission` removes them.
//!
//! Which applies is read from the hub's values: a `jupyterhub-home-nfs` block not switched off
//! (`enabled: false`) means the in-cluster server; otherwise the hub mounts a host and path
//! (`nfs.pv.serverIP`), which `sync-homes` copies.
//!
//! Owns: telling the two apart, the sidecar's values, the key's checks and those of the
//! source ranges the transfer's load balancer admits (`--transfer-allow CIDR`). Does not own:
//! running the transfer (`runtime::steps::transfer`).

use crate::repo::Infrastructure;
use crate::repo::infra::Hub;
use crate::yaml::{Data, Document, EditError, NewValue, Path, Segment};

/// The sidecar container's name in both hubs' NFS server pods.
pub const SIDECAR: &str = "home-transfer";
/// The port its sshd listens on in the pod.
pub const SIDECAR_PORT: u16 = 2222;
/// The image: an OpenSSH server with rsync (the `openssh-server-rsync` mod), taking its
/// authorized key from `PUBLIC_KEY`.
pub const SIDECAR_IMAGE: &str = "lscr.io/linuxserver/openssh-server:latest";
/// The user the source's rsync logs in as.
pub const SIDECAR_USER: &str = "root";
/// The label of the NFS server's pods (`jupyterhub-home-nfs`'s Deployment).
pub const NFS_POD_LABEL: &str = "app=nfs-server";
/// Where the sidecar mounts the home volume.
pub const EXPORT: &str = "/export";

/// How a hub's home directories are copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Homes {
    /// A host and path (`nfs.pv.serverIP`): `sync-homes`.
    HostPath,
    /// The in-cluster `jupyterhub-home-nfs` server, whose values live under `prefix`
    /// (`jupyterhub-home-nfs`, or `basehub.jupyterhub-home-nfs` for a daskhub).
    HomeNfs { prefix: Vec<Segment> },
}

/// How `hub`'s home directories are copied, from its readable values files (the last file
/// that says wins).
pub fn homes(infra: &Infrastructure, hub: &Hub) -> Homes {
    let mut found: Option<(Vec<Segment>, bool)> = None;
    for f in hub.values_files.iter().filter(|f| !f.is_encrypted()) {
        let Some(doc) = infra.files.doc(&f.rel) else {
            continue;
        };
        let Some(data) = doc.data().into_iter().next() else {
            continue;
        };
        for prefix in [
            vec![Segment::Key("jupyterhub-home-nfs".into())],
            vec![
                Segment::Key("basehub".into()),
                Segment::Key("jupyterhub-home-nfs".into()),
            ],
        ] {
            let Some(block) = super::shared::value_at(&data, &prefix) else {
                continue;
            };
            let enabled = match super::shared::value_at(block, &[Segment::Key("enabled".into())]) {
                Some(Data::Bool(b)) => Some(*b),
                _ => None,
            };
            match (&mut found, enabled) {
                (Some((_, on)), Some(e)) => *on = e,
                (Some(_), None) => {}
                (None, e) => found = Some((prefix, e.unwrap_or(true))),
            }
        }
    }
    match found {
        Some((prefix, true)) => Homes::HomeNfs { prefix },
        _ => Homes::HostPath,
    }
}

/// The public key of `--transfer-key FILE`: `FILE.pub` (or FILE when it ends in `.pub`),
/// one OpenSSH public key line. A private key is refused without being shown.
pub fn read_public_key(file: &str) -> Result<(String, String), String> {
    let public = if file.ends_with(".pub") {
        file.to_string()
    } else {
        format!("{file}.pub")
    };
    let text = std::fs::read_to_string(&public)
        .map_err(|e| format!("cannot read the public key `{public}`: {e}"))?;
    check_public_key(&text).map_err(|why| format!("`{public}`: {why}"))?;
    Ok((public, text.trim().to_string()))
}

/// Whether `text` is one OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
pub fn check_public_key(text: &str) -> Result<(), String> {
    if text.contains("PRIVATE KEY") {
        return Err(
            "this is a private key; the repository gets the public key only (the `.pub` file)"
                .into(),
        );
    }
    let t = text.trim();
    let mut words = t.split_whitespace();
    let (Some(kind), Some(body)) = (words.next(), words.next()) else {
        return Err("not an OpenSSH public key (`ssh-ed25519 AAAA… comment`)".into());
    };
    let kind_ok = kind.starts_with("ssh-")
        || kind.starts_with("ecdsa-")
        || kind.starts_with("sk-ssh-")
        || kind.starts_with("sk-ecdsa-");
    if t.lines().count() != 1 || !kind_ok || !body.starts_with("AAAA") {
        return Err("not an OpenSSH public key (`ssh-ed25519 AAAA… comment`)".into());
    }
    Ok(())
}

/// One source range of `--transfer-allow`: an IPv4 or IPv6 address and a prefix length
/// (`203.0.113.0/24`, `2001:db8::/32`), as `loadBalancerSourceRanges` takes it.
pub fn parse_cidr(arg: &str) -> Result<String, String> {
    let example = "write an address and a prefix length, such as 203.0.113.0/24 (203.0.113.7/32 for one address)";
    let Some((addr, len)) = arg.trim().split_once('/') else {
        return Err(format!("`{arg}` is not a CIDR range: {example}"));
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| {
        format!("`{arg}` is not a CIDR range (`{addr}` is not an IP address): {example}")
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let n = match len.parse::<u8>() {
        Ok(n) if n <= max && !len.starts_with('+') => n,
        _ => {
            return Err(format!(
                "`{arg}` is not a CIDR range (the prefix length of an IPv{} address is 0 to {max}): {example}",
                if ip.is_ipv4() { 4 } else { 6 }
            ));
        }
    };
    // Bits set past the prefix: most likely a typo for a longer prefix (`…7/24` for `…7/32`),
    // which would admit the whole network.
    let network = match ip {
        std::net::IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(n)).unwrap_or(0);
            std::net::IpAddr::V4((u32::from(a) & mask).into())
        }
        std::net::IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(n)).unwrap_or(0);
            std::net::IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    if network != ip {
        return Err(format!(
            "`{arg}` has address bits past its /{n} prefix: write the network, {network}/{n}, or the one address, {ip}/{max}"
        ));
    }
    Ok(format!("{ip}/{n}"))
}

/// The sidecar, as an item of `extraContainers`.
fn sidecar_yaml(public_key: &str) -> String {
    let quoted = public_key.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "name: {SIDECAR}\n\
         image: {SIDECAR_IMAGE}\n\
         env:\n\
         - name: PUBLIC_KEY\n  value: \"{quoted}\"\n\
         - name: USER_NAME\n  value: {SIDECAR_USER}\n\
         - name: PUID\n  value: \"0\"\n\
         - name: PGID\n  value: \"0\"\n\
         - name: DOCKER_MODS\n  value: linuxserver/mods:openssh-server-rsync\n\
         ports:\n\
         - name: ssh-transfer\n  containerPort: {SIDECAR_PORT}\n\
         volumeMounts:\n\
         - name: home-directories\n  mountPath: {EXPORT}\n"
    )
}

fn containers(prefix: &[Segment]) -> Path {
    let mut p = prefix.to_vec();
    p.push(Segment::Key("extraContainers".into()));
    Path(p)
}

fn ours(prefix: &[Segment]) -> Path {
    let mut p = containers(prefix);
    p.0.push(Segment::Select {
        key: "name".into(),
        value: SIDECAR.into(),
    });
    p
}

/// Adds the sidecar (with `public_key`) under `prefix` of a values document; a sidecar there
/// already gets the key.
pub fn add_sidecar(
    doc: &mut Document,
    prefix: &[Segment],
    public_key: &str,
) -> Result<bool, EditError> {
    if doc.get(0, &ours(prefix)).is_ok() {
        let mut key = ours(prefix);
        key.0.extend([
            Segment::Key("env".into()),
            Segment::Select {
                key: "name".into(),
                value: "PUBLIC_KEY".into(),
            },
            Segment::Key("value".into()),
        ]);
        return doc.set(0, &key, &crate::yaml::ScalarValue::string(public_key));
    }
    let item = sidecar_yaml(public_key);
    if doc.get(0, &containers(prefix)).is_ok() {
        return doc.append(0, &containers(prefix), &NewValue::Yaml(item));
    }
    let list: String = item
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("- {l}\n")
            } else {
                format!("  {l}\n")
            }
        })
        .collect();
    doc.set_value(0, &containers(prefix), &NewValue::Yaml(list))
}

/// Removes the sidecar under `prefix` (and `extraContainers` when it was the only one).
pub fn remove_sidecar(doc: &mut Document, prefix: &[Segment]) -> Result<bool, EditError> {
    if doc.get(0, &ours(prefix)).is_err() {
        return Ok(false);
    }
    let only = doc
        .get(0, &containers(prefix))
        .ok()
        .and_then(|n| n.as_sequence())
        .is_some_and(|s| s.items.len() == 1);
    if only {
        doc.remove(0, &containers(prefix))
    } else {
        doc.remove(0, &ours(prefix))
    }
}

/// Whether a values document has the sidecar under `prefix`.
pub fn has_sidecar(doc: &Document, prefix: &[Segment]) -> bool {
    doc.get(0, &ours(prefix)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGitopsMigrateTestKey hub-move";

    #[test]
    fn public_keys_only() {
        assert!(check_public_key(KEY).is_ok());
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let e = check_public_key(private).unwrap_err();
        assert!(e.contains("private key") && !e.contains("b3Blbn"), "{e}");
        assert!(check_public_key("hello world").is_err());
    }

    #[test]
    fn source_ranges_are_cidrs() {
        assert_eq!(parse_cidr("203.0.113.0/24").unwrap(), "203.0.113.0/24");
        assert_eq!(parse_cidr("2001:db8::/32").unwrap(), "2001:db8::/32");
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(parse_cidr("203.0.113.7/32").unwrap(), "203.0.113.7/32");
        assert_eq!(parse_cidr("::/0").unwrap(), "::/0");
        for (bad, why) in [
            ("203.0.113.7", "not a CIDR range: write"),
            ("example.org/24", "`example.org` is not an IP address"),
            ("10.0.0.0/33", "0 to 32"),
            ("2001:db8::/129", "0 to 128"),
            ("10.0.0.0/x", "0 to 32"),
            (
                "203.0.113.7/24",
                "write the network, 203.0.113.0/24, or the one address, 203.0.113.7/32",
            ),
            ("2001:db8::1/32", "write the network, 2001:db8::/32"),
        ] {
            let e = parse_cidr(bad).unwrap_err();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn the_sidecar_is_added_and_removed() {
        let prefix = vec![Segment::Key("jupyterhub-home-nfs".into())];
        let text = "jupyterhub-home-nfs:\n  enabled: true # on\nnfs:\n  enabled: true\n";
        let mut doc = Document::parse(text).unwrap();
        assert!(add_sidecar(&mut doc, &prefix, KEY).unwrap());
        assert!(has_sidecar(&doc, &prefix));
        let d = doc.text().to_string();
        assert!(
            d.contains("  extraContainers:\n") && d.contains("- name: home-transfer\n"),
            "{d}"
        );
        assert!(d.contains(&format!("value: \"{KEY}\"")), "{d}");
        // Again: the same text.
        assert!(!add_sidecar(&mut doc, &prefix, KEY).unwrap());
        assert!(remove_sidecar(&mut doc, &prefix).unwrap());
        assert_eq!(doc.text(), text);
    }
}
