//! `validate`: rules over a repository's files, each finding with a stable rule id, a
//! severity, a location and a hint.
//!
//! Owns: the `Finding` type, the rule registry (`RULES`), running every rule family over a
//! loaded repository, and narrowing findings to the files a pre-commit hook passes. The rule
//! families live in `yaml_rules` (every YAML file), `phalanx_rules` (environments, nublado,
//! mobu) and `infra_rules` (clusters and hubs); `render` prints findings.

pub mod infra_rules;
pub mod phalanx_rules;
pub mod render;
pub mod yaml_rules;

use serde::Serialize;

use crate::repo::Repo;
use crate::yaml::Document;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding. `file` is relative to the repository root; `line` and `col` are one-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The Phalanx environment or infrastructure cluster the finding concerns, if any (for
    /// `status`).
    #[serde(skip)]
    pub scope: Option<String>,
    /// What the finding is about, in words that do not change when the file is edited around
    /// it (`idfdev /home read-only lost`); the message when `None`. With the rule and the
    /// file it is the finding's identity (`Finding::identity`).
    #[serde(skip)]
    pub subject: Option<String>,
}

/// A rule of the registry: its id, default severity and what it checks.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $summary:literal;)*) => {
        /// Rule ids, as constants so that a typo is a compile error.
        pub mod rule {
            $(pub const $name: &str = $id;)*
        }
        /// Every rule, in the order the README documents them.
        pub const RULES: &[Rule] = &[
            $(Rule { id: $id, severity: Severity::$sev, summary: $summary },)*
        ];
    };
}

rules! {
    YAML_SYNTAX = "yaml-syntax", Error, "the file is not valid YAML";
    YAML_DUPLICATE_KEY = "yaml-duplicate-key", Error, "a key appears twice in one mapping";
    YAML_TRUTHY = "yaml-truthy", Warning, "a truthy value or key other than `true`/`false` (`yes`, `on`, `True`…)";
    YAML_TRAILING_SPACE = "yaml-trailing-space", Warning, "a line ends with spaces or tabs";
    YAML_FINAL_NEWLINE = "yaml-final-newline", Warning, "the file does not end with a line break";
    ENV_REQUIRED_KEY = "env-required-key", Error, "an environment file lacks `name`, `fqdn` or `vaultPathPrefix`";
    ENV_FLAG_TYPE = "env-flag-type", Error, "an application flag is not `true` or `false`";
    ENV_UNKNOWN_APP = "env-unknown-app", Error, "an environment names an application that has no `applications/<app>/` (a warning when its flag is `false`: a left-over of a removed application)";
    ENV_MIXED_FORMAT = "env-mixed-format", Error, "an environment file mixes Format A blocks and a Format C `applications:` map";
    ENV_MISSING_VALUES = "env-missing-values", Error, "an enabled application has no `applications/<app>/values-<env>.yaml`";
    VALUES_UNKNOWN_ENV = "values-unknown-env", Error, "a `values-<env>.yaml` names an environment that does not exist";
    VALUES_APP_DISABLED = "values-app-disabled", Warning, "a `values-<env>.yaml` for an environment that does not enable the application";
    NUBLADO_ROUTE_CLASH = "nublado-route-clash", Error, "nublado and nublado2 resolve to the same route";
    NUBLADO_HUB_ROUTE = "nublado-hub-route", Error, "`HUB_ROUTE` is not the hub's `baseUrl` + `/hub`";
    NUBLADO_MISPLACED_KEY = "nublado-misplaced-key", Error, "`jupyterhub.baseUrl` or `jupyterhub.db` instead of `jupyterhub.hub.…`";
    NUBLADO_SHARED_DB = "nublado-shared-db", Error, "nublado v3 uses v2's database (same server and database) while v2 is enabled";
    NUBLADO_DB_SERVER = "nublado-db-server", Error, "nublado v3's database is on the in-cluster PostgreSQL server (often the chart default) but the environment does not run `postgres`";
    NUBLADO_DB_BLOCK = "nublado-db-block", Error, "nublado v3's in-cluster database (or its role) is created by no `*_db` block of the environment's postgres values";
    NUBLADO_NFS_PATH = "nublado-nfs-path", Error, "an NFS lab volume source has `path` instead of `serverPath`";
    NUBLADO_V3_UNKNOWN_KEY = "nublado-v3-unknown-key", Error, "a key of the v3 lab volumes, volume mounts or `images` that the nublado chart's version does not read (snake_case, another version's syntax, a typo)";
    NUBLADO_V3_MOUNT = "nublado-v3-mount", Error, "a nublado v2 lab mount has no nublado v3 lab volume with the same path, access mode and source (other storage of the same kind: warning)";
    MOBU_UNKNOWN_OPTION = "mobu-unknown-option", Error, "a mobu business option mobu does not know";
    MOBU_CACHEMACHINE_NOT_LAB = "mobu-cachemachine-not-lab", Error, "`use_cachemachine` on a business type that does not use labs";
    MOBU_CACHEMACHINE_REMOVED = "mobu-cachemachine-removed", Error, "`use_cachemachine` with mobu 7 or later, which removed it";
    MOBU_CACHEMACHINE_DISABLED = "mobu-cachemachine-disabled", Error, "a lab flock relies on cachemachine while cachemachine is disabled";
    INFRA_MISSING_FILE = "infra-missing-file", Error, "a hub (or the support chart) references a values file that does not exist";
    INFRA_DUPLICATE_DOMAIN = "infra-duplicate-domain", Error, "a domain is served by two hubs";
    INFRA_DUPLICATE_HUB = "infra-duplicate-hub", Error, "two hubs of one cluster share a name";
    INFRA_HUB_ENTRY = "infra-hub-entry", Error, "a hub entry lacks a required key or has one of the wrong type";
    INFRA_DOMAIN_MISMATCH = "infra-domain-mismatch", Error, "a hub's own values file hard-codes ingress hosts or an `oauth_callback_url` for another domain than the entry's `domain`";
    INFRA_CLUSTER_NAME = "infra-cluster-name", Error, "a `cluster.yaml` `name` differs from its folder's name, or repeats another cluster's";
}

pub fn rule_info(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

impl Finding {
    /// A finding of `rule` (with its registry severity) at byte `offset` of a document.
    pub fn at(
        rule: &'static str,
        file: &str,
        doc: &Document,
        offset: usize,
        message: impl Into<String>,
    ) -> Finding {
        let (line, col) = doc.lines().line_col(offset);
        Finding::at_line(rule, file, line, col, message)
    }

    /// A finding of `rule` at a one-based line and column.
    pub fn at_line(
        rule: &'static str,
        file: &str,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            severity: rule_info(rule).map_or(Severity::Error, |r| r.severity),
            file: file.to_string(),
            line,
            col,
            message: message.into(),
            hint: None,
            scope: None,
            subject: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    pub fn scope(mut self, scope: impl Into<String>) -> Finding {
        self.scope = Some(scope.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Finding {
        self.subject = Some(subject.into());
        self
    }

    /// Which finding this is, whatever its line or wording: the rule, the file and the subject
    /// (the message when the rule gives none). Two runs of `validate` (before and after a
    /// change) report "the same" finding when their identities are equal; this is how "new"
    /// errors are told, never by the state the environment is in.
    pub fn identity(&self) -> (&'static str, &str, &str) {
        (
            self.rule,
            &self.file,
            self.subject.as_deref().unwrap_or(&self.message),
        )
    }
}

/// The errors of `after` whose identity `before` does not have.
pub fn new_errors(before: &[Finding], after: Vec<Finding>) -> Vec<Finding> {
    let known: std::collections::BTreeSet<_> = before
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(Finding::identity)
        .collect();
    after
        .into_iter()
        .filter(|f| f.severity == Severity::Error && !known.contains(&f.identity()))
        .collect()
}

/// Every finding of every rule, sorted by file, line, column and rule.
pub fn validate(repo: &Repo) -> Vec<Finding> {
    let mut out = yaml_rules::check(repo.files());
    match repo {
        Repo::Phalanx(p) => out.extend(phalanx_rules::check(p)),
        Repo::Infrastructure(i) => out.extend(infra_rules::check(i)),
    }
    out.sort_by(|a, b| (&a.file, a.line, a.col, a.rule).cmp(&(&b.file, b.line, b.col, b.rule)));
    out.dedup();
    out
}

/// The findings located in `files` (paths relative to the repository root), judged with the
/// whole repository as context.
pub fn validate_files(repo: &Repo, files: &[String]) -> Vec<Finding> {
    validate(repo)
        .into_iter()
        .filter(|f| files.iter().any(|x| x == &f.file))
        .collect()
}

/// Counts for a summary line and the JSON `summary` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub files: usize,
}

pub fn summarize(findings: &[Finding]) -> Summary {
    let mut files: Vec<&str> = findings.iter().map(|f| f.file.as_str()).collect();
    files.sort();
    files.dedup();
    Summary {
        errors: findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count(),
        warnings: findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count(),
        files: files.len(),
    }
}

#[cfg(test)]
mod tests {
    /// The rules read the repository model (`repo`, including the nublado model); they never
    /// reach into the migrations (`playbook`), which build on them.
    #[test]
    fn validate_does_not_import_playbook() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/validate");
        let import = concat!("crate::", "playbook");
        let mut dirs = vec![dir];
        let mut files = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !text.contains(import),
                    "{} imports playbook",
                    path.display()
                );
                files += 1;
            }
        }
        assert!(files >= 10, "only {files} files read under src/validate");
    }
}
