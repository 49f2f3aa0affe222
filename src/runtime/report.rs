//! How a run reads: the markdown report written next to the journal at the end of a run
//! (steps, durations, outcomes, objects touched), and the dry run's plain-text listing (every
//! step with its resolved targets, the equivalent commands, and "would run" or "skip because
//! …").

use super::run::{RunReport, RunStatus, StepStatus};
use crate::util::time::{human, rfc3339};

/// A table cell: no pipes, no line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn detail(status: &StepStatus, answers: &[String]) -> String {
    let text = match status {
        StepStatus::Done { summary } => summary.clone(),
        StepStatus::Skipped { reason } => format!("nothing to do: {reason}"),
        StepStatus::AlreadyDone { at } => format!("finished in an earlier run ({at})"),
        StepStatus::Excluded { reason } => reason.clone(),
        StepStatus::WouldRun { touches } => {
            crate::util::text::plural(touches.len(), "object", "objects")
        }
        StepStatus::CannotPreview { error } => error.clone(),
        StepStatus::Unavailable { reason } => reason.clone(),
        StepStatus::Failed { error } => error.clone(),
        StepStatus::Interrupted { error } => format!("{error}; --resume runs it again"),
        StepStatus::Declined => "the operator said no".into(),
        StepStatus::NotRun => "the run stopped before this step".into(),
    };
    if answers.is_empty() {
        text
    } else {
        format!("{text}; {}", answers.join("; "))
    }
}

fn result_line(r: &RunReport) -> String {
    match &r.status {
        RunStatus::Completed => "completed".into(),
        RunStatus::Failed { step, error } => format!("failed at `{step}`: {error}"),
        RunStatus::Declined { step } => format!("stopped: the operator declined `{step}`"),
        RunStatus::Refused { reason } => format!("refused before any change: {reason}"),
        RunStatus::Interrupted { step, signal } => {
            format!("interrupted ({signal}) at `{step}`; continue with --resume")
        }
    }
}

/// The markdown report of a run.
pub fn markdown(r: &RunReport) -> String {
    let mut s = String::new();
    s.push_str(&format!("# gitops-migrate exec {}\n\n", r.command));
    s.push_str(&format!("- run: `{}`\n", r.run));
    if r.window != r.run {
        s.push_str(&format!("- window: `{}` (resumed)\n", r.window));
    }
    s.push_str(&format!("- started: {}\n", rfc3339(r.started)));
    s.push_str(&format!("- duration: {}\n", human(r.duration)));
    s.push_str(&format!("- result: {}\n", result_line(r)));
    s.push_str(&format!("- journal: `{}`\n", r.journal.display()));
    for n in &r.notes {
        s.push_str(&format!("- note: {n}\n"));
    }
    s.push_str("\n## Steps\n\n");
    s.push_str("| # | step | outcome | duration | attempts | touched | detail |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for (i, st) in r.steps.iter().enumerate() {
        let ran = st.attempts > 0;
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} |\n",
            i + 1,
            st.id,
            st.status.label(),
            if ran {
                human(st.duration)
            } else {
                "–".into()
            },
            if ran {
                st.attempts.to_string()
            } else {
                "–".into()
            },
            st.touched.len(),
            cell(&detail(&st.status, &st.answers)),
        ));
    }
    let touched: Vec<_> = r.steps.iter().filter(|st| !st.touched.is_empty()).collect();
    if !touched.is_empty() {
        s.push_str("\n## Objects touched\n");
        for st in touched {
            s.push_str(&format!("\n### `{}` ({})\n\n", st.id, st.touched.len()));
            for t in &st.touched {
                s.push_str(&format!("- `{t}`\n"));
            }
        }
    }
    s
}

/// The dry run's listing.
pub fn dry_run(r: &RunReport) -> String {
    let mut s = format!(
        "Dry run of `gitops-migrate exec {}`: read calls only, nothing is changed.\n",
        r.command
    );
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (i, st) in r.steps.iter().enumerate() {
        *counts.entry(st.status.label()).or_default() += 1;
        let asks = if st.destructive {
            " [asks first]"
        } else if st.needs_person {
            " [by hand; a person confirms]"
        } else {
            ""
        };
        s.push_str(&format!(
            "\n{:>2}. {}{asks}\n    {}\n",
            i + 1,
            st.id,
            st.title
        ));
        match &st.status {
            StepStatus::WouldRun { touches } if touches.is_empty() => {
                s.push_str("    would run\n");
            }
            StepStatus::WouldRun { touches } => {
                s.push_str(&format!(
                    "    would run, touching {} object{}:\n",
                    touches.len(),
                    if touches.len() == 1 { "" } else { "s" }
                ));
                for t in touches {
                    s.push_str(&format!("      {t}\n"));
                }
            }
            StepStatus::Skipped { reason } => {
                s.push_str(&format!("    skip because {reason}\n"));
            }
            StepStatus::AlreadyDone { at } => {
                s.push_str(&format!(
                    "    skip because it finished in an earlier run ({at}; --resume)\n"
                ));
            }
            StepStatus::Excluded { reason } => {
                s.push_str(&format!("    skip because of {reason}\n"));
            }
            StepStatus::CannotPreview { error } => {
                s.push_str(&format!("    cannot preview: {error}\n"));
            }
            StepStatus::Unavailable { reason } => {
                s.push_str(&format!("    not available: {reason}\n"));
            }
            other => s.push_str(&format!("    {}\n", other.label())),
        }
        for c in &st.commands {
            s.push_str(&format!("    $ {c}\n"));
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    s.push_str(&format!(
        "\n{}: {}\n",
        crate::util::text::plural(r.steps.len(), "step", "steps"),
        summary.join(", ")
    ));
    s
}
