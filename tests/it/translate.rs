//! The translation of nublado v2 settings to nublado v3 values on the public corpus tree
//! `../shared/corpus/phalanx-2023-08`: for every environment that still runs v2, its lab
//! volumes side by side with what they became, the v3 values written and every item left for
//! the operator (snapshots); and the translated values, read back, satisfy the
//! `nublado-v3-mount` comparison in both target syntaxes.

use std::path::{Path, PathBuf};

use crate::common;

use gitops_migrate::playbook::nublado::translate::{self, Answers, File, Translation, V2Files};
use gitops_migrate::playbook::nublado::volumes::{self, Syntax, V2Lab, V3Lab};
use gitops_migrate::playbook::report;
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
    out.push_str(t.controller_yaml().as_deref().unwrap_or("(none)\n"));
    out.push_str("\nnot translated:\n");
    for u in &t.untranslated {
        out.push_str(&format!("- {u}\n"));
    }
    out.push_str("\nnotes:\n");
    for n in &t.notes {
        out.push_str(&format!("- {n}\n"));
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
