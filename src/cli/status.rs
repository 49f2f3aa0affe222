//! `gitops-migrate status`: where each Phalanx environment stands in the nublado migration,
//! or the clusters and hubs of an infrastructure repository, with anomalies — as a table, JSON
//! or markdown for pasting into an issue.

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{Exit, Output, repo_root};
use anstyle::Style;

use crate::playbook::hub_move;
use crate::playbook::nublado::{State, environment_state};
use crate::repo::{self, Infrastructure, Phalanx, Repo};
use crate::util::style;
use crate::validate::{self, Finding, Severity};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

/// An anomaly as `status --format json` shows it.
#[derive(Debug, Serialize)]
pub struct Anomaly {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl From<&Finding> for Anomaly {
    fn from(f: &Finding) -> Self {
        Anomaly {
            rule: f.rule,
            severity: f.severity,
            file: f.file.clone(),
            line: f.line,
            message: f.message.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EnvStatus {
    pub name: String,
    pub format: repo::phalanx::Format,
    pub state: crate::playbook::nublado::State,
    pub next_stage: Option<&'static str>,
    pub anomalies: Vec<Anomaly>,
    #[serde(skip)]
    pub reason: String,
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    Phalanx {
        environments: Vec<EnvStatus>,
    },
    Infrastructure {
        clusters: Vec<ClusterStatus>,
        /// Hub moves between `setup` and `cutover` (the same hub in two clusters).
        moves: Vec<hub_move::InProgress>,
        anomalies: Vec<Anomaly>,
    },
}

#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    pub hubs: Vec<HubStatus>,
}

#[derive(Debug, Serialize)]
pub struct HubStatus {
    pub name: String,
    pub domain: Option<String>,
}

/// The anomalies `status` shows: findings about the migration and the cross-file consistency,
/// not the YAML style rules.
fn is_anomaly(f: &Finding) -> bool {
    !f.rule.starts_with("yaml-") || f.rule == validate::rule::YAML_SYNTAX
}

pub fn phalanx_report(p: &Phalanx, findings: &[Finding]) -> Report {
    let environments = p
        .environments
        .iter()
        .map(|env| {
            let st = environment_state(p, env);
            EnvStatus {
                name: env.name.clone(),
                format: env.file.format,
                state: st.state,
                next_stage: st.state.next_stage(),
                anomalies: findings
                    .iter()
                    .filter(|f| {
                        is_anomaly(f)
                            && (f.scope.as_deref() == Some(&env.name) || f.file == env.file.rel)
                    })
                    .map(Anomaly::from)
                    .collect(),
                reason: st.reason,
            }
        })
        .collect();
    Report::Phalanx { environments }
}

pub fn infra_report(i: &Infrastructure, findings: &[Finding]) -> Report {
    Report::Infrastructure {
        clusters: i
            .clusters
            .iter()
            .map(|c| ClusterStatus {
                name: c.name.clone(),
                hubs: c
                    .hubs
                    .iter()
                    .map(|h| HubStatus {
                        name: h.name.clone(),
                        domain: h.domain.clone(),
                    })
                    .collect(),
            })
            .collect(),
        moves: hub_move::in_progress(i),
        anomalies: findings
            .iter()
            .filter(|f| is_anomaly(f))
            .map(Anomaly::from)
            .collect(),
    }
}

/// A move in progress, one line.
fn move_line(m: &hub_move::InProgress) -> String {
    let name = m
        .new_name
        .as_deref()
        .map(|n| format!(" as `{n}`"))
        .unwrap_or_default();
    format!(
        "`{}` of `{}` → `{}`{name} ({} → {}): next `{}`: {}",
        m.hub,
        m.from,
        m.to,
        m.domain.as_deref().unwrap_or("-"),
        m.temp_domain.as_deref().unwrap_or("-"),
        m.next_stage,
        m.next
    )
}

pub fn run(args: StatusArgs, out: &mut Output) -> Exit {
    let root = repo_root();
    let repo = match repo::open(&root) {
        Ok(r) => r,
        Err(e) => {
            out.error(&e.to_string());
            return Exit::Input;
        }
    };
    if let Repo::Phalanx(p) = &repo
        && let Err(code) = super::stage::model_readable(p, out)
    {
        return code;
    }
    let findings = validate::validate(&repo);
    let report = match &repo {
        Repo::Phalanx(p) => phalanx_report(p, &findings),
        Repo::Infrastructure(i) => infra_report(i, &findings),
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&report).expect("the report serializes"),
        Format::Human => human(&report, out.color()),
        Format::Markdown => markdown(&report),
    };
    out.line(text.trim_end());
    Exit::Ok
}

fn count(anomalies: &[Anomaly]) -> String {
    let errors = anomalies
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .count();
    let warnings = anomalies.len() - errors;
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(format!(
            "{errors} error{}",
            if errors == 1 { "" } else { "s" }
        ));
    }
    if warnings > 0 {
        parts.push(format!(
            "{warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// A table cell, with the style it is painted in on a coloured stream.
struct Cell(String, Option<Style>);

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell(text, None)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell(text.to_string(), None)
    }
}

/// Rows padded to their columns' widths (the first row is the header), painted when `color`.
fn table(rows: &[Vec<Cell>], color: bool) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].0.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let last = r.len() - 1;
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (Cell(text, cell_style), w))| {
                let padded = if c == last {
                    text.clone()
                } else {
                    format!("{text:<w$}")
                };
                let cell_style = if i == 0 {
                    Some(style::EMPHASIS)
                } else {
                    *cell_style
                };
                match cell_style {
                    // Paint the text only, not the padding after it.
                    Some(st) => {
                        format!("{}{}", style::paint(st, text, color), &padded[text.len()..])
                    }
                    None => padded,
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The style of a migration state: done, in progress, stuck, or not started.
fn state_style(state: State) -> Style {
    match state {
        State::Complete => style::GOOD,
        State::Conflict => style::ERROR,
        State::None => style::DIM,
        State::V2Only | State::V3Beside | State::V3Default | State::V2Disabled => style::PENDING,
    }
}

/// The style of an anomaly count: red with an error, yellow with warnings only.
fn count_style(anomalies: &[Anomaly]) -> Option<Style> {
    if anomalies.iter().any(|a| a.severity == Severity::Error) {
        Some(style::ERROR)
    } else if anomalies.is_empty() {
        None
    } else {
        Some(style::WARNING)
    }
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Error => style::ERROR,
        Severity::Warning => style::WARNING,
    }
}

fn anomaly_line(a: &Anomaly, color: bool) -> String {
    format!(
        "{} {} {}:{}: {}",
        style::paint(severity_style(a.severity), &a.severity.to_string(), color),
        style::paint(style::DIM, a.rule, color),
        a.file,
        a.line,
        a.message
    )
}

/// The table of `status --format human`, coloured by state when `color`.
pub fn human(report: &Report, color: bool) -> String {
    let mut out = String::new();
    match report {
        Report::Phalanx { environments } => {
            let mut rows: Vec<Vec<Cell>> = vec![vec![
                "ENVIRONMENT".into(),
                "FORMAT".into(),
                "STATE".into(),
                "NEXT STAGE".into(),
                "ANOMALIES".into(),
            ]];
            for e in environments {
                rows.push(vec![
                    e.name.clone().into(),
                    e.format.to_string().into(),
                    Cell(e.state.to_string(), Some(state_style(e.state))),
                    e.next_stage.unwrap_or("-").into(),
                    Cell(count(&e.anomalies), count_style(&e.anomalies)),
                ]);
            }
            out.push_str(&table(&rows, color));
            for e in environments.iter().filter(|e| !e.anomalies.is_empty()) {
                out.push_str(&format!(
                    "\n{} ({}: {}):\n",
                    style::paint(style::EMPHASIS, &e.name, color),
                    style::paint(state_style(e.state), &e.state.to_string(), color),
                    e.reason
                ));
                for a in &e.anomalies {
                    out.push_str(&format!("  {}\n", anomaly_line(a, color)));
                }
            }
        }
        Report::Infrastructure {
            clusters,
            moves,
            anomalies,
        } => {
            let mut rows: Vec<Vec<Cell>> =
                vec![vec!["CLUSTER".into(), "HUB".into(), "DOMAIN".into()]];
            for c in clusters {
                if c.hubs.is_empty() {
                    rows.push(vec![c.name.clone().into(), "-".into(), "-".into()]);
                }
                for h in &c.hubs {
                    rows.push(vec![
                        c.name.clone().into(),
                        h.name.clone().into(),
                        h.domain.clone().unwrap_or_else(|| "-".into()).into(),
                    ]);
                }
            }
            out.push_str(&table(&rows, color));
            if !moves.is_empty() {
                out.push_str(&format!("\nmoves in progress ({}):\n", moves.len()));
                for m in moves {
                    out.push_str(&format!("  {}\n", move_line(m)));
                }
            }
            if !anomalies.is_empty() {
                out.push_str(&format!(
                    "\nanomalies ({}):\n",
                    style::paint(
                        count_style(anomalies).unwrap_or(style::DIM),
                        &count(anomalies),
                        color
                    )
                ));
                for a in anomalies {
                    out.push_str(&format!("  {}\n", anomaly_line(a, color)));
                }
            }
        }
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    match report {
        Report::Phalanx { environments } => {
            out.push_str("| Environment | Format | State | Next stage | Anomalies |\n|---|---|---|---|---|\n");
            for e in environments {
                let anomalies = if e.anomalies.is_empty() {
                    "–".to_string()
                } else {
                    e.anomalies
                        .iter()
                        .map(|a| {
                            format!(
                                "**{}** `{}` {}:{}: {}",
                                a.severity,
                                a.rule,
                                a.file,
                                a.line,
                                md_escape(&a.message)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("<br>")
                };
                out.push_str(&format!(
                    "| {} | {} | `{}` | {} | {} |\n",
                    e.name,
                    e.format,
                    e.state,
                    e.next_stage.map_or("–".to_string(), |s| format!("`{s}`")),
                    anomalies
                ));
            }
        }
        Report::Infrastructure {
            clusters,
            moves,
            anomalies,
        } => {
            out.push_str("| Cluster | Hub | Domain |\n|---|---|---|\n");
            for c in clusters {
                if c.hubs.is_empty() {
                    out.push_str(&format!("| {} | – | – |\n", c.name));
                }
                for h in &c.hubs {
                    out.push_str(&format!(
                        "| {} | {} | {} |\n",
                        c.name,
                        h.name,
                        h.domain.as_deref().unwrap_or("–")
                    ));
                }
            }
            if !moves.is_empty() {
                out.push_str("\n**Moves in progress**\n\n");
                for m in moves {
                    out.push_str(&format!("- {}\n", move_line(m)));
                }
            }
            if !anomalies.is_empty() {
                out.push_str("\n**Anomalies**\n\n");
                for a in anomalies {
                    out.push_str(&format!(
                        "- **{}** `{}` {}:{}: {}\n",
                        a.severity, a.rule, a.file, a.line, a.message
                    ));
                }
            }
        }
    }
    out
}
