//! Tests of the translation: one per rule, grouped by the submodule whose rules they test.
//!
//! This file holds the helpers every group uses (parsing a text, translating a nublado2
//! values text alone, the items it lists, its v3 YAML); `mounts` tests the lab volumes,
//! mounts and lab environment, `images` the image settings, `init` the init containers,
//! `answers` the operator's answers and `hub` nublado2's other settings.

mod answers;
mod hub;
mod images;
mod init;
mod mounts;

use super::*;

fn doc(text: &str) -> Document {
    Document::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

const V2: &str = "applications/nublado2/values-x.yaml";

/// Translates a nublado2 values text alone.
fn tr_with(text: &str, syntax: Syntax, answers: &Answers) -> Translation {
    let d = doc(text);
    let files = V2Files {
        nublado2: Some(File { rel: V2, doc: &d }),
        ..V2Files::default()
    };
    translate(&files, syntax, answers)
}

fn tr(text: &str) -> Translation {
    tr_with(text, Syntax::Flat, &Answers::default())
}

/// The items about lab volumes (not the absent cachemachine file).
fn items_of(t: &Translation) -> Vec<String> {
    t.untranslated
        .iter()
        .filter(|u| u.file == V2)
        .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
        .collect()
}

fn yaml(t: &Translation) -> String {
    t.controller_yaml().unwrap_or_default()
}
