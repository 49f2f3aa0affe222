//! The translation of nublado v2 settings to nublado v3 values on the public corpus tree
//! `../shared/corpus/phalanx-2023-08`: for every environment that still runs v2, its lab
//! volumes side by side with what they became, the v3 values written and every item left for
//! the operator (snapshots); and the translated values, read back, satisfy the
//! `nublado-v3-mount` comparison in both target syntaxes.

use std::path::{Path, PathBuf};

use crate::common;

use gitops_migrate::playbook::nublado::translate::{self, Answers, File, Translation, V2Files};
use gitops_migrate::playbook::nublado::volumes::{self, Syntax, V2Lab, V3Lab};
use gitops_migrate::playbook::{ledger, report};
use gitops_migrate::repo::{self, Phalanx, Repo};
use gitops_migrate::yaml::Document;

fn corpus() -> Option<PathBuf> {
    common::shared_data("corpus/phalanx-2023-08")
}

fn phalanx(root: &Path) -> Phalanx {
    match repo::open(root).unwrap() {
        Repo::Phalanx(p) => p,
        Repo::Infrastructure(_) => panic!("not a Phalanx repository"),
    }
}

/// The environments that enable nublado2.
fn v2_environments(p: &Phalanx) -> Vec<String> {
    p.environments
        .iter()
        .filter(|e| e.enabled.contains("nublado2"))
        .map(|e| e.name.clone())
        .collect()
}

/// A translation as a reviewer reads it: the table, the values, the items, the notes.
fn render(env: &str, t: &Translation) -> String {
    let mut out = format!(
        "{}:\n{}",
        t.table(env).title,
        report::table_text(&t.table(env))
    );
    out.push_str("\nv3 values:\n");
    out.push_str(t.values_yaml().as_deref().unwrap_or("(none)\n"));
    out.push_str("\nnot translated:\n");
    for u in &t.untranslated {
        out.push_str(&format!("- {u}\n"));
    }
    out.push_str("\nnotes:\n");
    for n in &t.notes {
        out.push_str(&format!("- {n}\n"));
    }
    out.push_str(&format!(
        "\naccount of every setting ({}):\n",
        t.ledger.counts()
    ));
    for line in t.ledger.detail_lines() {
        out.push_str(&format!("- {line}\n"));
    }
    out
}

#[test]
fn every_v2_environment_of_the_corpus_is_translated_with_what_is_left() {
    let Some(root) = corpus() else { return };
    let p = phalanx(&root);
    let envs = v2_environments(&p);
    assert_eq!(
        envs,
        [
            "base",
            "ccin2p3",
            "idfint",
            "roe",
            "summit",
            "tucson-teststand",
            "usdfdev",
            "usdfprod"
        ]
    );
    for env in &envs {
        let t = translate::for_environment(&p, env, &Answers::default());
        common::snapshot(&format!("translate__corpus_2023_{env}"), render(env, &t));
        // Every v2 mount has a row, and every one not written is listed for the operator.
        let v2 = p.values_file("nublado2", env).unwrap();
        let lab = V2Lab::from_nublado2(p.files.doc(v2).unwrap());
        assert_eq!(
            t.rows.len(),
            lab.mounts.len() + lab.unmounted().count(),
            "{env}"
        );
        for row in t.rows.iter().filter(|r| r.v3 == "not written") {
            let lines = [&row.v2_mount, &row.v2_volume].map(|cell| line_of(cell));
            assert!(
                t.untranslated
                    .iter()
                    .any(|u| u.file == v2 && u.line.is_some() && lines.contains(&u.line)),
                "{env}: {row:?} is not listed"
            );
        }
    }
}

/// The `(line N)` a table cell ends with.
fn line_of(cell: &str) -> Option<usize> {
    cell.strip_suffix(')')?
        .rsplit_once("(line ")?
        .1
        .parse()
        .ok()
}

/// The storage classes the v2 `user_resources_template` gives each claim, as the answers an
/// operator following the plan's suggestion would pass.
fn template_answers(doc: &Document) -> Answers {
    let mut a = Answers::default();
    for c in volumes::template_claims(doc) {
        if let Some(class) = c.storage_class {
            a.storage_class.insert(c.name, class);
        }
    }
    a
}

#[test]
fn translated_values_read_back_match_every_v2_mount_in_both_syntaxes() {
    let Some(root) = corpus() else { return };
    let p = phalanx(&root);
    for env in v2_environments(&p) {
        let rel = p.values_file("nublado2", &env).unwrap();
        let doc = p.files.doc(rel).unwrap();
        let answers = template_answers(doc);
        let files = V2Files {
            nublado2: Some(File { rel, doc }),
            ..V2Files::default()
        };
        let lab = V2Lab::from_nublado2(doc);
        let claims = volumes::template_claims(doc);
        let class = |claim: &str| {
            claims
                .iter()
                .find(|c| c.name == claim)
                .and_then(|c| c.storage_class.clone())
        };
        for syntax in [Syntax::Flat, Syntax::Split] {
            let t = translate::translate(&files, syntax, &answers);
            let text = t.controller_yaml().unwrap_or_default();
            let back = V3Lab::from_nublado(&Document::parse(text.as_str()).unwrap(), syntax);
            assert_eq!(back.syntax, syntax, "{env}");
            let mut checked = 0;
            for m in &lab.mounts {
                if !lab.volume(&m.name).is_some_and(|v| v.source.has_v3_kind()) {
                    continue;
                }
                let diffs = volumes::differences(&lab, m, back.at(&m.mount_path), class);
                assert!(
                    diffs.is_empty(),
                    "{env} {syntax:?} {}: {diffs:?}\n{text}",
                    m.mount_path
                );
                checked += 1;
            }
            assert!(checked > 0, "{env}: no mount checked");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The account of every setting

/// Every nublado2 values file of the corpus (with the environment's cachemachine and moneypenny
/// values): each of their leaves is in the ledger exactly once, in file order; no leaf is left
/// to the fallback for settings the translation does not know; and every translated or carried
/// leaf names a target that the v3 values the translation writes really hold, with the value
/// it says, in both target syntaxes.
#[test]
fn every_setting_of_every_nublado2_values_file_is_accounted_for() {
    let Some(root) = corpus() else { return };
    let p = phalanx(&root);
    let envs: Vec<String> = p.applications["nublado2"].values.keys().cloned().collect();
    assert_eq!(
        envs,
        [
            "base",
            "ccin2p3",
            "idfint",
            "minikube",
            "roe",
            "summit",
            "tucson-teststand",
            "usdfdev",
            "usdfprod"
        ]
    );
    for env in &envs {
        let t = translate::for_environment(&p, env, &Answers::default());
        for app in ["nublado2", "cachemachine", "moneypenny"] {
            let Some(rel) = p.values_file(app, env) else {
                continue;
            };
            let doc = p.files.doc(rel).unwrap();
            let want: Vec<String> = ledger::leaves(doc).iter().map(|l| l.path_text()).collect();
            let got: Vec<String> = t
                .ledger
                .entries
                .iter()
                .filter(|e| e.file == rel)
                .map(|e| e.path.clone())
                .collect();
            assert_eq!(got, want, "{env}: {rel}: the ledger is not every leaf once");
        }
        let unknown: Vec<String> = t
            .ledger
            .entries
            .iter()
            .filter(|e| e.unclaimed)
            .map(|e| format!("{} {}", e.file, e.path))
            .collect();
        assert_eq!(
            unknown,
            Vec::<String>::new(),
            "{env}: settings no rule knows"
        );
        // The targets hold what the ledger says, in the file the translation writes.
        let text = t.values_yaml().unwrap_or_default();
        let doc = Document::parse(text.as_str()).unwrap();
        let mut checked = t.ledger.clone();
        checked.verify(&t.target, Some(&doc));
        let lost: Vec<String> = checked
            .entries
            .iter()
            .zip(&t.ledger.entries)
            .filter(|(after, before)| after.fate.kind() != before.fate.kind())
            .map(|(after, _)| format!("{}: {:?}", after.path, after.fate))
            .collect();
        assert_eq!(
            lost,
            Vec::<String>::new(),
            "{env}: targets not written\n{text}"
        );
    }
}

/// The same in the 4.x syntax (named volumes and volume mounts), with the claims answered from
/// the v2 `user_resources_template`: every target resolves there too.
#[test]
fn every_target_resolves_in_the_4x_syntax_too() {
    let Some(root) = corpus() else { return };
    let p = phalanx(&root);
    for env in v2_environments(&p) {
        let files = v2_files(&p, &env);
        let answers = p
            .values_file("nublado2", &env)
            .and_then(|r| p.files.doc(r))
            .map(template_answers)
            .unwrap_or_default();
        let mut ctx = translate::Context::bare(Syntax::Split);
        ctx.v3_file = format!("applications/nublado/values-{env}.yaml");
        let t = translate::translate_with(&files, &ctx, &answers);
        let text = t.values_yaml().unwrap_or_default();
        let doc = Document::parse(text.as_str()).unwrap();
        let mut checked = t.ledger.clone();
        checked.verify(&t.target, Some(&doc));
        assert_eq!(checked.counts(), t.ledger.counts(), "{env}\n{text}");
        assert!(t.ledger.counts().translated > 0, "{env}");
    }
}

fn v2_files<'a>(p: &'a Phalanx, env: &str) -> V2Files<'a> {
    let file = |app: &str| {
        let rel = p.values_file(app, env)?;
        Some(File {
            rel,
            doc: p.files.doc(rel)?,
        })
    };
    V2Files {
        nublado2: file("nublado2"),
        cachemachine: file("cachemachine"),
        moneypenny: file("moneypenny"),
    }
}

/// The closing note's counts: per environment with a nublado2 values file, in both Phalanx
/// trees, how many settings `enable-v3` translates, carries, finds obsolete and leaves to the
/// operator (as the first plan shows them, no `--pvc-…` answers given).
#[test]
fn counts_per_environment_of_both_trees() {
    let mut out = String::new();
    for tree in ["phalanx-2023-08", "phalanx-2026"] {
        let Some(root) = common::shared_data(&format!("corpus/{tree}")) else {
            return;
        };
        let p = phalanx(&root);
        out.push_str(&format!("{tree}:\n"));
        let envs: Vec<String> = p
            .applications
            .get("nublado2")
            .map(|a| a.values.keys().cloned().collect())
            .unwrap_or_default();
        if envs.is_empty() {
            out.push_str("  (no nublado2 values file)\n");
        }
        for env in envs {
            let t = translate::for_environment(&p, &env, &Answers::default());
            let c = t.ledger.counts();
            out.push_str(&format!("  {env:<17} {:>3} settings: {c}\n", c.total()));
        }
    }
    common::snapshot("translate__ledger_counts", out);
}
