//! The texts a stage produces for people: the pull request's title and body. The body carries
//! what the stage does and why, the files it changes, what to do before the window, the
//! window runbook with the exact command, how to verify and how to roll back.

use super::{StagePlan, Table};
use crate::change::FileOp;

/// `nublado: make-default for idfdev, idfint`.
pub fn pr_title(plan: &StagePlan) -> String {
    if plan.targets.is_empty() {
        format!("{}: {}", plan.playbook, plan.stage)
    } else {
        format!(
            "{}: {} for {}",
            plan.playbook,
            plan.stage,
            plan.targets.join(", ")
        )
    }
}

/// The commit message: the title, a blank line, the summary.
pub fn commit_message(plan: &StagePlan) -> String {
    format!("{}\n\n{}\n", pr_title(plan), wrap(&plan.summary, 72))
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

/// A table in markdown (`|` inside a cell escaped).
pub fn table_markdown(t: &Table) -> String {
    let row = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = row(&t.columns);
    out.push_str(&format!("|{}\n", "---|".repeat(t.columns.len())));
    for r in &t.rows {
        out.push_str(&row(r));
    }
    out
}

/// A table as aligned plain-text columns, each line indented by two spaces.
pub fn table_text(t: &Table) -> String {
    let width = |i: usize| {
        std::iter::once(&t.columns)
            .chain(&t.rows)
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..t.columns.len()).map(width).collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&t.columns);
    for r in &t.rows {
        out.push_str(&line(r));
    }
    out
}

fn bullets(out: &mut String, items: &[String]) {
    for i in items {
        out.push_str(&format!("- {i}\n"));
    }
}

/// The plan as one JSON object, for `plan --format json`: the stage and its targets, the files
/// it changes, the account of every setting (counts per file, and every leaf with its fate),
/// what is still to supply, the runbook, and the errors the result would have.
pub fn plan_json(
    plan: &StagePlan,
    new_errors: &[crate::validate::Finding],
    references: &[String],
) -> serde_json::Value {
    let changes: Vec<serde_json::Value> = plan
        .changes
        .ops()
        .iter()
        .map(|op| {
            let what = match op {
                FileOp::Edit { .. } => "edit",
                FileOp::Create { .. } => "create",
                FileOp::Delete { .. } => "delete",
            };
            serde_json::json!({"path": op.path(), "op": what})
        })
        .collect();
    let files: Vec<serde_json::Value> = plan
        .ledger
        .counts_by_file()
        .into_iter()
        .map(|(file, counts)| serde_json::json!({"file": file, "counts": counts}))
        .collect();
    serde_json::json!({
        "playbook": plan.playbook,
        "stage": plan.stage,
        "targets": plan.targets,
        "already_done": plan.already_done,
        "nothing_to_do": plan.is_nothing_to_do(),
        "changes": changes,
        "ledger": {
            "counts": plan.ledger.counts(),
            "files": files,
            "entries": plan.ledger.entries,
            "items": plan.ledger.items,
        },
        "still_to_supply": plan.todo,
        "checklist": plan.checklist,
        "runbook": plan.runbook,
        "exec": plan.exec_commands(),
        "verify": plan.verify,
        "rollback": plan.rollback,
        "notes": plan.notes,
        "new_errors": new_errors,
        "remaining_references": references,
    })
}

/// The pull request body, in markdown.
pub fn pr_body(plan: &StagePlan) -> String {
    let mut out = String::new();
    out.push_str(&format!("## What this does\n\n{}\n", plan.summary));
    if !plan.targets.is_empty() {
        out.push_str(&format!(
            "\nStage `{}` of the `{}` playbook for: {}.\n",
            plan.stage,
            plan.playbook,
            plan.targets
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("\n## Files changed\n\n");
    for op in plan.changes.ops() {
        let what = match op {
            FileOp::Edit { .. } => "edited",
            FileOp::Create { .. } => "created",
            FileOp::Delete { .. } => "deleted",
        };
        out.push_str(&format!("- `{}` ({what})\n", op.path()));
    }
    for t in &plan.tables {
        out.push_str(&format!("\n## {}\n\n{}", t.title, table_markdown(t)));
    }
    if !plan.ledger.entries.is_empty() {
        out.push_str(&format!(
            "\n## Account of every setting\n\n{}: every setting of the files this stage moves, translates or deletes.\n\n",
            plan.ledger.counts()
        ));
        bullets(&mut out, &plan.ledger.summary_lines());
        out.push_str("\n<details><summary>Every setting</summary>\n\n");
        bullets(&mut out, &plan.ledger.detail_lines());
        out.push_str("\n</details>\n");
    }
    if !plan.todo.is_empty() {
        out.push_str("\n## Still to supply before merging\n\n");
        for t in &plan.todo {
            out.push_str(&format!("- [ ] {t}\n"));
        }
    }
    if !plan.checklist.is_empty() {
        out.push_str("\n## Before the window\n\n");
        for c in &plan.checklist {
            out.push_str(&format!("- [ ] {c}\n"));
        }
    }
    if !plan.runbook.is_empty() {
        let runbooks = plan.runbooks();
        let commands: Vec<String> = if runbooks.len() > 1 {
            runbooks.iter().map(|rb| rb.command.clone()).collect()
        } else {
            plan.exec_commands()
        };
        let dry: Vec<String> = commands.iter().map(|c| format!("{c} --dry-run")).collect();
        out.push_str(&format!(
            "\n## In the window\n\n{}{}:\n\n```sh\n{}\n{}\n```\n\n{}The runbook's steps (each asks before it deletes or stops anything, and `--resume` continues after an interruption):\n",
            if plan.merge_after_window { "Run" } else { "Merge this pull request, then run" },
            if commands.len() > 1 { ", for each environment" } else { "" },
            dry.join("\n"),
            commands.join("\n"),
            if plan.merge_after_window {
                "Merge this pull request only when the runbook has finished: until then the old entry must stay.\n\n"
            } else {
                ""
            }
        ));
        for rb in &runbooks {
            if let Some(t) = rb.target {
                out.push_str(&format!("\n### `{t}`\n"));
            }
            out.push('\n');
            for (i, s) in rb.steps.iter().enumerate() {
                let asks = if s.destructive { " — asks first" } else { "" };
                out.push_str(&format!("{}. `{}`: {}{asks}\n", i + 1, s.id, s.title));
            }
        }
    }
    if !plan.verify.is_empty() {
        out.push_str("\n## How to verify\n\n");
        bullets(&mut out, &plan.verify);
    }
    if !plan.rollback.is_empty() {
        out.push_str("\n## How to roll back\n\n");
        bullets(&mut out, &plan.rollback);
    }
    if !plan.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        bullets(&mut out, &plan.notes);
    }
    out.push_str(&format!(
        "\n---\nGenerated by `gitops-migrate pr {} {}{}{}`.\n",
        plan.playbook,
        plan.stage,
        match &plan.target_args {
            Some(args) => format!(" {args}"),
            None => plan
                .targets
                .iter()
                .map(|t| format!(" --env {t}"))
                .collect::<String>(),
        },
        plan.extra_args
            .iter()
            .map(|a| format!(" {a}"))
            .collect::<String>()
    ));
    out
}
