//! A 2i2c-style infrastructure repository: `config/clusters/<cluster>/cluster.yaml` files,
//! each with its hubs and the values files they reference, and `.sops.yaml`.

use std::path::Path;

use super::{Files, RepoError, files::yaml_files};
use crate::yaml::Node;

#[derive(Debug)]
pub struct Infrastructure {
    pub files: Files,
    pub clusters: Vec<Cluster>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    /// The folder name under `config/clusters/`.
    pub name: String,
    /// `config/clusters/<name>/cluster.yaml`.
    pub rel: String,
    pub hubs: Vec<Hub>,
}

#[derive(Debug, Clone)]
pub struct Hub {
    pub name: String,
    pub domain: Option<String>,
}

impl Infrastructure {
    pub fn load(root: &Path) -> Result<Infrastructure, RepoError> {
        let mut rels = yaml_files(root, "config")?;
        if root.join(".sops.yaml").is_file() {
            rels.push(".sops.yaml".into());
        }
        let files = Files::load(root, rels)?;
        let mut clusters = Vec::new();
        for l in files.iter() {
            let Some(rest) = l.rel.strip_prefix("config/clusters/") else {
                continue;
            };
            let Some(name) = rest.strip_suffix("/cluster.yaml") else {
                continue;
            };
            let hubs = l
                .doc()
                .and_then(|d| d.root(0))
                .and_then(Node::as_mapping)
                .and_then(|m| m.get("hubs"))
                .and_then(|e| e.value.as_sequence())
                .map(|s| {
                    s.items
                        .iter()
                        .filter_map(|i| {
                            let m = i.value.as_mapping()?;
                            let text = |k: &str| {
                                m.get(k)
                                    .and_then(|e| e.value.scalar_text())
                                    .map(str::to_string)
                            };
                            Some(Hub {
                                name: text("name")?,
                                domain: text("domain"),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            clusters.push(Cluster {
                name: name.to_string(),
                rel: l.rel.clone(),
                hubs,
            });
        }
        Ok(Infrastructure { files, clusters })
    }
}
