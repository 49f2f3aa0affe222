//! Tests of nublado2's settings besides its labs' (`translate::hub`): names of v2 rewritten,
//! lab annotations and the culler. Does not test the lab volumes (`mounts`).

use super::*;

#[test]
fn values_naming_v2_are_rewritten_or_listed() {
    assert_eq!(
        rewrite_v2_names("hub.nublado2,.slac.stanford.edu"),
        Ok((
            "hub.nublado,.slac.stanford.edu".to_string(),
            vec!["`hub.nublado2` rewritten `hub.nublado`".to_string()]
        ))
    );
    assert_eq!(
        rewrite_v2_names("/opt/lsst/software/jupyterlab/butler-secret/aws.ini")
            .unwrap()
            .0,
        "/opt/lsst/software/jupyterlab/secrets/aws.ini"
    );
    assert_eq!(
        rewrite_v2_names("nublado2-alice").unwrap().0,
        "nublado-alice"
    );
    assert_eq!(
        rewrite_v2_names("plain").unwrap(),
        ("plain".to_string(), vec![])
    );
    assert_eq!(
        rewrite_v2_names("http://nublado2.svc"),
        Err("http://nublado2.svc".to_string())
    );
}

#[test]
fn lab_annotations_and_the_culler_follow_the_chart() {
    let text = "jupyterhub:
  cull:
    timeout: 432000
  singleuser:
    extraAnnotations:
      k8s.v1.cni.cncf.io/networks: kube-system/dds
    nodeSelector: {a: b}
";
    let d = doc(text);
    let files = V2Files {
        nublado2: Some(File { rel: V2, doc: &d }),
        ..V2Files::default()
    };
    let t = translate(&files, Syntax::Flat, &Answers::default());
    let y = t.values_yaml().unwrap();
    assert!(
            y.contains("    lab:\n      extraAnnotations:\n        k8s.v1.cni.cncf.io/networks: \"kube-system/dds\"\n"),
            "{y}"
        );
    assert!(
        y.contains("jupyterhub:\n  cull:\n    timeout: 432000\n"),
        "{y}"
    );
    let kinds: Vec<(String, crate::playbook::ledger::Kind)> = t
        .ledger
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.fate.kind()))
        .collect();
    use crate::playbook::ledger::Kind::*;
    assert_eq!(
        kinds,
        [
            ("jupyterhub.cull.timeout".to_string(), Carried),
            (
                "jupyterhub.singleuser.extraAnnotations.\"k8s.v1.cni.cncf.io/networks\""
                    .to_string(),
                Translated
            ),
            ("jupyterhub.singleuser.nodeSelector.a".to_string(), Operator),
        ]
    );
    // A chart without `jupyterhub.cull` (a version that culls its own way): listed.
    let chart = doc("controller: {}\nproxy:\n  ingress: {annotations: {}}\n");
    let mut ctx = Context::bare(Syntax::Flat);
    ctx.v3_chart = Some(&chart);
    let t = translate_with(&files, &ctx, &Answers::default());
    assert!(!t.values_yaml().unwrap().contains("cull"));
    assert!(
        t.untranslated
            .iter()
            .any(|u| u.what == "the lab culler setting `jupyterhub.cull.timeout`"),
        "{:?}",
        t.untranslated
    );
}
