//! Edits on the YAML edge-case fixtures, pinned as unified diffs (insta snapshots in the
//! top-level `snapshots/`). Each diff must show only the lines the edit means to change.

use gitops_migrate::yaml::{Document, EditError, NewValue, Path, ScalarValue};

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn s(v: &str) -> ScalarValue {
    ScalarValue::from_arg(v, false).unwrap()
}

/// One edit step of a test.
enum Op<'a> {
    Set(&'a str, &'a str),
    SetString(&'a str, &'a str),
    Remove(&'a str),
    Append(&'a str, &'a str),
    AppendYaml(&'a str, &'a str),
}

/// Applies the steps to a fixture (document 0 unless `doc` says otherwise) and returns the
/// unified diff of the result.
fn edit(name: &str, doc: usize, ops: &[Op]) -> String {
    let before = fixture(name);
    let mut d = Document::parse(before.clone()).unwrap();
    for op in ops {
        let r = match op {
            Op::Set(path, v) => d.set(doc, &p(path), &s(v)),
            Op::SetString(path, v) => d.set(doc, &p(path), &ScalarValue::string(*v)),
            Op::Remove(path) => d.remove(doc, &p(path)),
            Op::Append(path, v) => d.append(doc, &p(path), &NewValue::Scalar(s(v))),
            Op::AppendYaml(path, v) => d.append(doc, &p(path), &NewValue::Yaml(v.to_string())),
        };
        assert!(r.unwrap(), "{name}: an edit changed nothing");
    }
    diff(name, &before, d.text())
}

fn diff(name: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

macro_rules! snap {
    ($name:literal, $value:expr) => {
        crate::common::snapshot(concat!("yaml_edit__", $name), $value)
    };
}

#[test]
fn flush_sequences_stay_flush() {
    snap!(
        "flush_sequences",
        edit(
            "yaml/flush-sequences.yaml",
            0,
            &[
                Op::Append(
                    "hubs[name=prod].helm_chart_values_files",
                    "enc-prod.secret.values.yaml"
                ),
                Op::AppendYaml(
                    "hubs",
                    "name: research\ndomain: research.example.2i2c.cloud\nhelm_chart_values_files:\n- common.values.yaml\n",
                ),
                Op::Remove("hubs[0].helm_chart_values_files[0]"),
            ]
        )
    );
}

#[test]
fn indented_sequences_stay_indented() {
    snap!(
        "indented_sequences",
        edit(
            "yaml/indented-sequences.yaml",
            0,
            &[
                Op::Append("config.autostart[name=tap].scopes", "exec:portal"),
                Op::AppendYaml(
                    "config.autostart",
                    "name: \"weekly\"\ncount: 1\nscopes:\n  - \"exec:notebook\"\n",
                ),
                Op::Remove("config.autostart[0].scopes[1]"),
            ]
        )
    );
}

#[test]
fn quote_styles_are_kept() {
    let double = edit(
        "yaml/quotes-double.yaml",
        0,
        &[
            Op::Set("jupyterhub.hub.baseUrl", "/nb"),
            Op::Set("controller.config.lab.env.HUB_ROUTE", "/nb/hub"),
            Op::Set("controller.config.lab.env.NEW_VAR", "x"),
            Op::Set("controller.slackAlerts", "false"),
        ],
    );
    let single = edit(
        "yaml/quotes-single.yaml",
        0,
        &[
            Op::Set("jupyterhub_db.user", "nublado3"),
            Op::Set("nublado3_db.user", "nublado3"),
            Op::SetString("volume_name", "it's new"),
        ],
    );
    let plain = edit(
        "yaml/quotes-plain.yaml",
        0,
        &[
            Op::Set("config.base_url", "https://data-dev.lsst.cloud"),
            Op::SetString("config.lab_environment.AUTO_REPO_BRANCH", "yes"),
            Op::Set("config.lab_environment.NO_ACTIVITY_TIMEOUT", "\"86400\""),
            Op::Set("config.volumes[name=home].nfs.server", "10.22.240.15"),
        ],
    );
    snap!("quotes_double", double);
    snap!("quotes_single", single);
    snap!("quotes_plain", plain);
}

#[test]
fn non_ascii_end_of_line_comment_kept_on_the_edited_line() {
    snap!(
        "eol_comment_non_ascii",
        edit(
            "yaml/eol-comment-non-ascii.yaml",
            0,
            &[
                Op::Set(
                    "controller.config.lab.env.CULL_KERNEL_IDLE_TIMEOUT",
                    "\"86400\""
                ),
                Op::Set("controller.name", "crème brûlée"),
            ]
        )
    );
}

#[test]
fn comment_above_a_removed_key_goes_with_it() {
    snap!(
        "comment_above_removed_key",
        edit(
            "yaml/comment-above-key.yaml",
            0,
            &[
                Op::Remove("jupyterhub.hub.baseUrl"),
                Op::Remove("jupyterhub.cull")
            ]
        )
    );
}

#[test]
fn next_items_comment_stays_when_the_previous_item_is_removed() {
    snap!(
        "next_item_comment_kept",
        edit(
            "yaml/sequence-item-comments.yaml",
            0,
            &[Op::Remove("hubs[name=temple]")]
        )
    );
}

#[test]
fn removing_an_item_after_a_blank_line_keeps_one_blank_line() {
    snap!(
        "blank_line_before_removed_item",
        edit(
            "yaml/sequence-item-comments.yaml",
            0,
            &[Op::Remove("hubs[name=ucmerced-staging]")]
        )
    );
}

#[test]
fn empty_file_gets_its_first_keys() {
    snap!(
        "empty_file",
        edit(
            "yaml/empty.yaml",
            0,
            &[Op::Set("jupyterhub.hub.baseUrl", "\"/n3\"")]
        )
    );
}

#[test]
fn comment_only_file_keeps_its_comments() {
    snap!(
        "comment_only_file",
        edit(
            "yaml/comment-only.yaml",
            0,
            &[Op::Set("jupyterhub.hub.baseUrl", "/n3")]
        )
    );
}

#[test]
fn no_final_newline_stays_without_one() {
    let out = edit(
        "yaml/no-final-newline.yaml",
        0,
        &[
            Op::Set("controller.config.lab.env.HUB_ROUTE", "/nb/hub"),
            Op::Set("controller.config.lab.env.EXTRA", "1"),
            Op::Set("zzz", "last"),
        ],
    );
    assert!(out.contains("\\ No newline at end of file"));
    snap!("no_final_newline", out);
    // Removing the last key of such a file keeps the missing final newline too.
    let mut d = Document::parse(fixture("yaml/no-final-newline.yaml")).unwrap();
    d.remove(0, &p("controller")).unwrap();
    assert_eq!(d.text(), "jupyterhub:\n  hub:\n    baseUrl: \"/n3\"");
}

#[test]
fn flow_map_and_flow_sequence_values() {
    snap!(
        "flow_values",
        edit(
            "yaml/flow-values.yaml",
            0,
            &[
                Op::Set("nublado3_db.db", "nublado3_new"),
                Op::Set("scopes[1]", "read:image"),
                Op::Set("affinity.nodeAffinity", "none"),
                Op::Append("tolerations", "gpu"),
                Op::Remove("resources"),
            ]
        )
    );
    let mut d = Document::parse(fixture("yaml/flow-values.yaml")).unwrap();
    for r in [
        d.remove(0, &p("jupyterhub_db.user")),
        d.set(0, &p("jupyterhub_db.password"), &s("x")),
        d.append(0, &p("hosts"), &NewValue::Scalar(s("c"))),
    ] {
        assert!(
            matches!(r, Err(EditError::Flow { line: 1 | 3, .. })),
            "{r:?}"
        );
    }
    assert_eq!(d.text(), fixture("yaml/flow-values.yaml"));
}

#[test]
fn block_scalar_with_jinja() {
    snap!(
        "block_scalar_jinja",
        edit(
            "yaml/block-scalar-jinja.yaml",
            0,
            &[
                Op::Set("config.after", "changed"),
                Op::SetString("config.motd", "One line."),
                Op::Set("config.new_key", "true"),
            ]
        )
    );
    let mut d = Document::parse(fixture("yaml/block-scalar-jinja.yaml")).unwrap();
    d.set(
        0,
        &p("config.user_resources_template"),
        &ScalarValue::string("- {{ user }}\n- {% if x %}y{% endif %}\n"),
    )
    .unwrap();
    snap!(
        "block_scalar_jinja_replaced",
        diff(
            "yaml/block-scalar-jinja.yaml",
            &fixture("yaml/block-scalar-jinja.yaml"),
            d.text()
        )
    );
}

#[test]
fn keys_with_dots_and_slashes() {
    snap!(
        "dotted_slashed_keys",
        edit(
            "yaml/dotted-slashed-keys.yaml",
            0,
            &[
                Op::Set(
                    "jupyterhub.ingress.annotations.\"nginx.ingress.kubernetes.io/auth-signin\"",
                    "https://data-dev.lsst.cloud/login"
                ),
                Op::Set("controller.config.lab.files.\"/etc/group\".modify", "true"),
                Op::Set(
                    "controller.config.lab.files.\"/etc/shadow\".modify",
                    "false"
                ),
                Op::Set("\"a.b\"", "changed"),
                Op::Set("a.b", "also changed"),
                Op::Remove("\"it's\""),
            ]
        )
    );
}

#[test]
fn empty_hubs_list_becomes_a_block_sequence_on_first_append() {
    snap!(
        "hubs_empty_first_append",
        edit(
            "yaml/hubs-empty.yaml",
            0,
            &[Op::AppendYaml(
                "hubs",
                "name: staging\ndisplay_name: \"newcluster staging\"\ndomain: staging.newcluster.2i2c.cloud\nhelm_chart: basehub\nhelm_chart_values_files:\n- common.values.yaml\n- staging.values.yaml\n",
            )]
        )
    );
}

#[test]
fn sorted_applications_insertion_keeps_the_leading_false_group() {
    snap!(
        "sorted_applications",
        edit(
            "yaml/sorted-applications.yaml",
            0,
            &[
                Op::Set("applications.nublado", "true"),
                Op::Set("applications.argocd", "true"),
                Op::Set("applications.vault-secrets-operator", "true"),
                Op::Set("applications.sasquatch", "false"),
                Op::Remove("applications.nublado2"),
            ]
        )
    );
}

#[test]
fn multi_document_files() {
    let before = fixture("yaml/multi-document.yaml");
    let mut d = Document::parse(before.clone()).unwrap();
    assert_eq!(d.docs().len(), 3);
    d.set(0, &p("jupyterhub.hub.baseUrl"), &s("/n3")).unwrap();
    d.append(
        1,
        &p("config.autostart"),
        &NewValue::Yaml("name: \"firefighter\"\ncount: 1\n".into()),
    )
    .unwrap();
    d.set(2, &p("[0].value"), &s("4")).unwrap();
    snap!(
        "multi_document",
        diff("yaml/multi-document.yaml", &before, d.text())
    );
}

#[test]
fn anchors_and_aliases_are_protected() {
    let mut d = Document::parse(fixture("yaml/anchors.yaml")).unwrap();
    let e = d
        .set(0, &p("flocks[0].business.type"), &s("Other"))
        .unwrap_err();
    assert!(e.to_string().contains("anchored"), "{e}");
    let e = d.set(0, &p("tap_scopes[0]"), &s("x")).unwrap_err();
    assert!(e.to_string().contains("alias"), "{e}");
    // A plain value next to a merge key is an ordinary edit.
    d.set(0, &p("flocks[name=weekly].count"), &s("3")).unwrap();
    snap!(
        "anchors",
        diff("yaml/anchors.yaml", &fixture("yaml/anchors.yaml"), d.text())
    );
}

#[test]
fn multi_line_scalars_replaced_whole() {
    snap!(
        "multiline_scalars",
        edit(
            "yaml/multiline-scalars.yaml",
            0,
            &[
                Op::Set("plain", "one line"),
                Op::Set("single", "two"),
                Op::Set("double", "three")
            ]
        )
    );
}

#[test]
fn removing_the_only_key_prunes_empty_parents() {
    let mut d = Document::parse("a:\n  b:\n    c: 1\nd: 2\n").unwrap();
    d.remove(0, &p("a.b.c")).unwrap();
    assert_eq!(d.text(), "d: 2\n");
    let mut d = Document::parse("hubs:\n- name: a\n# keep\nother: 1\n").unwrap();
    d.remove(0, &p("hubs[0]")).unwrap();
    assert_eq!(d.text(), "hubs: []\n# keep\nother: 1\n");
    let mut d = Document::parse("l:\n  - only: 1\n  - x: 2\n").unwrap();
    d.remove(0, &p("l[0].only")).unwrap();
    assert_eq!(d.text(), "l:\n  - {}\n  - x: 2\n");
}

#[test]
fn first_key_of_an_item_moves_the_next_key_onto_the_dash_line() {
    let mut d = Document::parse("hubs:\n- name: a\n  domain: b\n  x: 1\n").unwrap();
    d.remove(0, &p("hubs[0].name")).unwrap();
    assert_eq!(d.text(), "hubs:\n- domain: b\n  x: 1\n");
}

#[test]
fn setting_the_same_value_changes_nothing() {
    let text = fixture("yaml/quotes-double.yaml");
    let mut d = Document::parse(text.clone()).unwrap();
    assert!(!d.set(0, &p("jupyterhub.hub.baseUrl"), &s("/n3")).unwrap());
    assert_eq!(d.text(), text);
}

#[test]
fn refusals_leave_the_document_unchanged() {
    let text = fixture("yaml/quotes-double.yaml");
    let mut d = Document::parse(text.clone()).unwrap();
    let cases: Vec<(Result<bool, EditError>, &str)> = vec![
        (
            d.set(0, &p("jupyterhub.hub.baseUrl.x"), &s("1")),
            "goes through `jupyterhub.hub.baseUrl`",
        ),
        (d.set(0, &p("jupyterhub.hub"), &s("1")), "holds a mapping"),
        (d.remove(0, &p("jupyterhub.nope")), "has no key `nope`"),
        (
            d.remove(0, &p("jupyterhub.hub.baseURL")),
            "did you mean `baseUrl`",
        ),
        (d.remove(0, &p(".")), "document root"),
        (
            d.append(0, &p("jupyterhub"), &NewValue::Scalar(s("x"))),
            "not a sequence",
        ),
        (
            d.set(0, &p("controller[0]"), &s("x")),
            "is a mapping; `[...]` selects",
        ),
    ];
    for (r, want) in cases {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
    assert_eq!(d.text(), text);
}

#[test]
fn an_empty_document_in_the_middle_gets_its_keys_before_the_next_marker() {
    let mut d = Document::parse("a: 1\n---\n# empty\n---\nb: 2\n").unwrap();
    d.set(1, &p("x"), &s("1")).unwrap();
    assert_eq!(d.text(), "a: 1\n---\n# empty\nx: 1\n---\nb: 2\n");
    let e = d.set(5, &p("x"), &s("1")).unwrap_err();
    assert!(
        e.to_string()
            .contains("document 5 does not exist (the file has 3)"),
        "{e}"
    );
}

/// Cases the property test found, each once refused; now each is a correct edit.
#[test]
fn property_test_findings() {
    let set = |text: &str, path: &str, v: ScalarValue| {
        let mut d = Document::parse(text).unwrap();
        d.set(0, &p(path), &v).unwrap();
        d.text().to_string()
    };
    // A key that sorts before the first key of a list item takes its place after the dash.
    assert_eq!(
        set(
            "l:\n- name: a\n  path: b\n",
            "l[0].aaa",
            ScalarValue::string("x")
        ),
        "l:\n- aaa: x\n  name: a\n  path: b\n"
    );
    assert_eq!(
        set(
            "l:\n- name: a\n  path: b\n- name: c\n  path: d\n",
            "l[1].aaa",
            ScalarValue::string("x")
        ),
        "l:\n- name: a\n  path: b\n- aaa: x\n  name: c\n  path: d\n"
    );
    // `{}` on the line below its key.
    assert_eq!(
        set("r:\n  {}\n", "r.x", ScalarValue::string("v")),
        "r:\n  x: v\n"
    );
    // A multi-line string at the end of a file without a final line break is double-quoted
    // (a literal block there reads differently in different parsers).
    assert_eq!(
        set("a:\n  b: 1", "a.c", ScalarValue::string("x\ny\n")),
        "a:\n  b: 1\n  c: \"x\\ny\\n\""
    );
    // A new key goes after the comments that close the block above it, so a literal block
    // does not swallow them.
    assert_eq!(
        set("a:\n  b: 1\n  # c\n", "x", ScalarValue::string("l1\nl2\n")),
        "a:\n  b: 1\n  # c\nx: |\n  l1\n  l2\n"
    );
    // Separated by a blank line, the comment would still be swallowed: the string is quoted.
    assert_eq!(
        set(
            "a:\n  b: 1\n\n  # c\n",
            "x",
            ScalarValue::string("l1\nl2\n")
        ),
        "a:\n  b: 1\nx: \"l1\\nl2\\n\"\n\n  # c\n"
    );
}

#[test]
fn a_one_line_flow_value_is_written_after_its_key() {
    let mut d = Document::parse("a_db: {user: \"a\", db: \"a\"}\n").unwrap();
    d.set_value(
        0,
        &p("b_db"),
        &NewValue::Yaml("{user: \"b\", db: \"b\"}".into()),
    )
    .unwrap();
    assert_eq!(
        d.text(),
        "a_db: {user: \"a\", db: \"a\"}\nb_db: {user: \"b\", db: \"b\"}\n"
    );
}
