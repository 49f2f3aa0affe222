//! The temporary domain of a move: the target cluster's DNS wildcard (read from the hosts of
//! its support chart: `grafana.<base>`, `prometheus.<base>`), the default name under it, and
//! the check that a name given is a domain name.
//!
//! Owns: reading the wildcard and checking a domain's syntax. Does not own: whether a domain
//! is served already (`hub_move::served_by`).

use crate::playbook::ledger::leaves;
use crate::repo::Infrastructure;
use crate::repo::infra::{Cluster, normalize_domain, text_of};
use crate::yaml::Segment;

/// A cluster's wildcard `*.<base>`, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    pub base: String,
    /// `grafana.aws.2i2c.cloud` in `config/clusters/2i2c-aws-us/support.values.yaml`.
    pub from: String,
}

impl Wildcard {
    /// Whether `domain` is one label under the wildcard (`x.<base>`; a wildcard record covers
    /// one label only).
    pub fn covers(&self, domain: &str) -> bool {
        normalize_domain(domain)
            .strip_suffix(&format!(".{}", normalize_domain(&self.base)))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    }
}

/// The support chart's services whose host names the cluster's wildcard.
const SUPPORT_HOSTS: [&str; 2] = ["grafana", "prometheus"];

/// The target's wildcard, from the first `grafana` (else `prometheus`) ingress host of its
/// support chart's readable values files.
pub fn wildcard(infra: &Infrastructure, c: &Cluster) -> Option<Wildcard> {
    for service in SUPPORT_HOSTS {
        for f in c.support_files.iter().filter(|f| !f.is_encrypted()) {
            let Some(doc) = infra.files.doc(&f.rel) else {
                continue;
            };
            let found = leaves(doc).into_iter().find_map(|l| {
                let under_ingress_hosts = l.path.windows(2).any(|w| {
                    matches!((&w[0], &w[1]), (Segment::Key(a), Segment::Key(b)) if a == "ingress" && b == "hosts")
                });
                let host = text_of(l.node)?;
                let base = host.strip_prefix(&format!("{service}."))?;
                (under_ingress_hosts && check_domain(base).is_ok()).then(|| Wildcard {
                    base: base.to_string(),
                    from: format!("`{host}` in `{}`", f.rel),
                })
            });
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// How a temporary domain resolves, for the plan.
pub fn resolution(domain: &str, tgt: &Cluster, w: Option<&Wildcard>) -> String {
    match w {
        Some(w) if w.covers(domain) => format!(
            "`{domain}` resolves through the wildcard `*.{}` of `{}` (its support chart serves {}) to that cluster's ingress: no new DNS record",
            w.base, tgt.name, w.from
        ),
        Some(w) => format!(
            "`{domain}` is not one label under the wildcard `*.{}` of `{}` ({}): it needs its own DNS record pointing at that cluster's ingress",
            w.base, tgt.name, w.from
        ),
        None => format!(
            "the wildcard of `{}` is unknown (no `grafana` or `prometheus` host in its support values): `{domain}` needs a DNS record pointing at that cluster's ingress",
            tgt.name
        ),
    }
}

/// Whether `d` is a DNS name a hub can be served under: two labels or more, each 1 to 63 of
/// `a-z`, `0-9` and `-` (not at either end), 253 characters at most; no scheme, path or port.
pub fn check_domain(d: &str) -> Result<(), String> {
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.contains("://") || d.contains('/') || d.contains(':') {
        return Err("give the host name alone, without a scheme, path or port".into());
    }
    if d.len() > 253 {
        return Err(format!("{} characters, at most 253", d.len()));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err("a hub's domain has at least two labels (`hub.example.org`)".into());
    }
    for l in labels {
        if l.is_empty() || l.len() > 63 {
            return Err(format!("the label `{l}` must have 1 to 63 characters"));
        }
        if let Some(c) = l
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "`{c}` in `{l}`: labels hold letters, digits and `-`"
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(format!("the label `{l}` starts or ends with `-`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked() {
        assert!(check_domain("next.temple.2i2c.cloud").is_ok());
        assert!(check_domain("next.temple.2i2c.cloud.").is_ok());
        for bad in [
            "https://x.org",
            "x.org/hub",
            "x.org:443",
            "localhost",
            "a..b",
            "-a.b",
            "a_b.org",
            "ünï.org",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
        let w = Wildcard {
            base: "aws.2i2c.cloud".into(),
            from: String::new(),
        };
        assert!(w.covers("x.aws.2i2c.cloud"));
        assert!(!w.covers("y.x.aws.2i2c.cloud"));
        assert!(!w.covers("aws.2i2c.cloud"));
    }
}
