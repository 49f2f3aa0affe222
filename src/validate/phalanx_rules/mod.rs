//! Rules over a Phalanx repository, judged across files: environment files against the
//! applications that exist, values files against the environments that enable them, the two
//! nublado hubs' routes and databases, and mobu's flocks against its version.
//!
//! How the pieces fit: `check` runs the families in a fixed order (the order of the
//! findings): per environment, `environments` (the environment file, missing values files),
//! `nublado` (the hubs' routes and databases, which runs `mounts` for the lab volumes) and
//! `mobu`; then, over the whole repository, `environments` (values files without an
//! environment) and `keys` (keys the charts do not read). Each family owns its rules; this
//! file owns only the order and `doc_of`.

mod environments;
mod keys;
mod mobu;
mod mounts;
mod nublado;

use super::Finding;
use crate::repo::Phalanx;
use crate::yaml::Document;
use environments::{env_file_rules, missing_values, values_files_rules};
use keys::{controller_keys, misplaced_keys};
use mobu::mobu_rules;
use nublado::nublado_rules;

pub fn check(p: &Phalanx) -> Vec<Finding> {
    let mut out = Vec::new();
    env_file_rules(p, &p.defaults, None, &mut out);
    for env in &p.environments {
        env_file_rules(p, &env.file, Some(env), &mut out);
        missing_values(p, env, &mut out);
        nublado_rules(p, env, &mut out);
        mobu_rules(p, env, &mut out);
    }
    values_files_rules(p, &mut out);
    misplaced_keys(p, &mut out);
    controller_keys(p, &mut out);
    out
}

fn doc_of<'a>(p: &'a Phalanx, rel: &str) -> Option<&'a Document> {
    p.files.doc(rel)
}
