//! Tests of the lab volumes, mounts and lab environment (`translate::mounts`), and of both
//! v3 target syntaxes. Does not test the image settings or init containers (`images`,
//! `init`).

use super::*;

fn nfs(server: &str, path: &str) -> Source {
    Source::Nfs {
        server: server.into(),
        server_path: path.into(),
    }
}

#[test]
fn nfs_path_becomes_server_path_and_mode_is_written() {
    let t = tr("config:
  volumes:
    - name: home
      nfs:
        path: /share1/home
        server: 10.13.105.122
  volume_mounts:
    - name: home
      mountPath: /home
");
    assert_eq!(
        t.volumes,
        [LabVolume {
            name: "home".into(),
            container_path: "/home".into(),
            sub_path: None,
            read_only: false,
            source: nfs("10.13.105.122", "/share1/home"),
        }]
    );
    assert!(items_of(&t).is_empty());
    assert_eq!(
        yaml(&t),
        "controller:
  config:
    lab:
      volumes:
        - containerPath: \"/home\"
          mode: \"rw\"
          source:
            type: \"nfs\"
            server: \"10.13.105.122\"
            serverPath: \"/share1/home\"
"
    );
    assert!(!yaml(&t).contains(" path:"));
    assert_eq!(t.rows[0].note, "NFS `path` → `serverPath`");
}

#[test]
fn host_path_is_kept_and_its_type_reported() {
    let t = tr("config:
  volumes:
    - name: home
      hostPath:
        path: /jhome
        type: Directory
  volume_mounts:
    - name: home
      mountPath: /home
    - name: home
      mountPath: /jhome
");
    assert_eq!(
        t.volumes[0].source,
        Source::HostPath {
            path: "/jhome".into()
        }
    );
    assert_eq!(t.volumes.len(), 2);
    assert_eq!(
        items_of(&t),
        ["3: the hostPath volume `home` has `type: Directory`, which nublado v3 cannot express"]
    );
    assert!(t.untranslated[0].decide.contains("exists (as a Directory)"));
    assert!(yaml(&t).contains("type: \"hostPath\"\n            path: \"/jhome\"\n"));
    assert!(!yaml(&t).contains("Directory"));
}

#[test]
fn pvc_needs_an_answer_and_takes_it() {
    let text = "config:
  volumes:
    - name: repo
      persistentVolumeClaim:
        claimName: butler-repo
  volume_mounts:
    - name: repo
      mountPath: /repo
      readOnly: true
";
    let t = tr(text);
    assert!(t.volumes.is_empty(), "not written without a storage class");
    assert_eq!(
        items_of(&t),
        ["3: `/repo` mounts the PersistentVolumeClaim `butler-repo` (volume `repo`)"]
    );
    assert!(
        t.untranslated[0]
            .decide
            .contains("--pvc-storage-class repo=CLASS")
    );
    assert_eq!(t.rows[0].v3, "not written");
    assert_eq!(t.claims, [("repo".to_string(), "butler-repo".to_string())]);
    // Answered by the claim's name; modes and size default.
    let mut a = Answers::default();
    a.storage_class
        .insert("butler-repo".into(), "rook-cephfs".into());
    let t = tr_with(text, Syntax::Flat, &a);
    assert!(items_of(&t).is_empty());
    assert_eq!(
        t.volumes[0].source,
        Source::Pvc {
            storage_class: "rook-cephfs".into(),
            access_modes: vec!["ReadWriteMany".into()],
            size: "1Gi".into(),
        }
    );
    assert!(t.volumes[0].read_only);
    assert!(yaml(&t).contains(
        "          mode: \"ro\"
          source:
            type: \"persistentVolumeClaim\"
            storageClassName: \"rook-cephfs\"
            accessModes:
              - \"ReadWriteMany\"
            resources:
              requests:
                storage: \"1Gi\"
"
    ));
    // Answered by the volume's name, with modes and size.
    let mut a = Answers::default();
    a.storage_class.insert("repo".into(), "c".into());
    a.access_modes
        .insert("repo".into(), vec!["ReadOnlyMany".into()]);
    a.size.insert("repo".into(), "10Gi".into());
    let t = tr_with(text, Syntax::Flat, &a);
    assert_eq!(
        t.volumes[0].source,
        Source::Pvc {
            storage_class: "c".into(),
            access_modes: vec!["ReadOnlyMany".into()],
            size: "10Gi".into(),
        }
    );
    assert!(
        t.rows[0]
            .note
            .contains("access modes from --pvc-access-modes, size from --pvc-size")
    );
}

#[test]
fn pvc_suggestion_and_defaults_come_from_the_v2_template() {
    let text = "config:
  volumes:
    - name: home
      persistentVolumeClaim:
        claimName: sdf-home
  volume_mounts:
    - name: home
      mountPath: /home
  user_resources_template: |
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: sdf-home
        namespace: \"{{ user_namespace }}\"
      spec:
        storageClassName: sdf-home
        accessModes:
          - ReadOnlyMany
        resources:
          requests:
            storage: 5Gi
";
    let t = tr(text);
    let item = t
        .untranslated
        .iter()
        .find(|u| u.file == V2 && u.what.contains("PersistentVolumeClaim"))
        .unwrap();
    assert!(
            item.decide.ends_with("the v2 `user_resources_template` (line 10) creates this claim with storage class `sdf-home`, ReadOnlyMany, 5Gi: `--pvc-storage-class home=sdf-home`"),
            "{}",
            item.decide
        );
    let mut a = Answers::default();
    a.storage_class.insert("home".into(), "sdf-home".into());
    let t = tr_with(text, Syntax::Flat, &a);
    assert_eq!(
        t.volumes[0].source,
        Source::Pvc {
            storage_class: "sdf-home".into(),
            access_modes: vec!["ReadOnlyMany".into()],
            size: "5Gi".into(),
        }
    );
}

#[test]
fn sub_path_is_kept() {
    let t = tr("config:
  volumes:
    - name: project
      nfs: {path: /share1/project, server: s}
  volume_mounts:
    - {name: project, mountPath: /project-shared, subPath: shared}
");
    assert_eq!(t.volumes[0].sub_path.as_deref(), Some("shared"));
    assert!(yaml(&t).contains("- containerPath: \"/project-shared\"\n          subPath: \"shared\"\n          mode: \"rw\"\n"));
    assert_eq!(
        t.rows[0].v2_mount,
        "`/project-shared` subPath `shared` (line 6)"
    );
}

#[test]
fn a_volume_mounted_twice_gives_two_entries() {
    let t = tr("config:
  volumes:
    - name: project
      nfs: {path: /share1/project, server: s}
  volume_mounts:
    - {name: project, mountPath: /project}
    - {name: project, mountPath: /project-shared, subPath: shared, readOnly: true}
");
    let paths: Vec<(&str, bool)> = t
        .volumes
        .iter()
        .map(|v| (v.container_path.as_str(), v.read_only))
        .collect();
    assert_eq!(paths, [("/project", false), ("/project-shared", true)]);
    assert_eq!(
        yaml(&t).matches("serverPath: \"/share1/project\"").count(),
        2
    );
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn a_trailing_slash_is_dropped() {
    let t = tr("config:
  volumes:
    - {name: home, nfs: {path: /h, server: s}}
    - {name: root, nfs: {path: /r, server: s}}
  volume_mounts:
    - {name: home, mountPath: \"/home/\"}
    - {name: root, mountPath: /}
");
    assert_eq!(t.volumes[0].container_path, "/home");
    assert_eq!(t.volumes[1].container_path, "/", "the root stays `/`");
    assert!(t.rows[0].note.starts_with("trailing `/` dropped"));
    assert!(!t.rows[1].note.contains("trailing"));
}

#[test]
fn read_only_on_the_mount_or_on_the_source_is_ro() {
    let text = "config:
  volumes:
    - name: a
      nfs: {path: /a, server: s, readOnly: true}
    - name: b
      nfs: {path: /b, server: s}
    - name: c
      persistentVolumeClaim: {claimName: c, readOnly: true}
  volume_mounts:
    - {name: a, mountPath: /a}
    - {name: b, mountPath: /b, readOnly: true}
    - {name: b, mountPath: /b-rw}
    - {name: c, mountPath: /c}
";
    let mut a = Answers::default();
    a.storage_class.insert("c".into(), "class".into());
    let t2 = tr_with(text, Syntax::Flat, &a);
    let modes: Vec<(&str, &str)> = t2
        .volumes
        .iter()
        .map(|v| (v.container_path.as_str(), v.mode()))
        .collect();
    assert_eq!(
        modes,
        [("/a", "ro"), ("/b", "ro"), ("/b-rw", "rw"), ("/c", "ro")]
    );
    let text = yaml(&t2);
    assert_eq!(text.matches("mode: \"ro\"").count(), 3);
    assert_eq!(text.matches("mode: \"rw\"").count(), 1, "rw is written too");
    assert_eq!(
        t2.rows[0].note,
        "read-only on the volume; NFS `path` → `serverPath`"
    );
    assert_eq!(
        t2.rows[1].note,
        "read-only on the mount; NFS `path` → `serverPath`"
    );
}

#[test]
fn an_unmounted_volume_is_reported_not_dropped_silently() {
    let t = tr("config:
  volumes:
    - name: home
      nfs: {path: /h, server: s}
    - name: scratch
      hostPath:
        path: /scratch
  volume_mounts:
    - {name: home, mountPath: /home}
");
    assert_eq!(t.volumes.len(), 1);
    assert_eq!(
        items_of(&t),
        [
            "5: the volume `scratch` (hostPath `/scratch`) is not mounted by any `volume_mounts` entry"
        ]
    );
    let last = t.rows.last().unwrap();
    assert_eq!(last.v2_mount, "not mounted");
    assert_eq!(last.v2_volume, "`scratch`: hostPath `/scratch` (line 5)");
}

#[test]
fn an_unknown_type_and_an_undefined_volume_are_reported() {
    let t = tr("config:
  volumes:
    - name: cfg
      configMap: {name: lab-config}
  volume_mounts:
    - {name: cfg, mountPath: /etc/lab}
    - {name: ghost, mountPath: /ghost}
");
    assert!(t.volumes.is_empty());
    assert_eq!(
        items_of(&t),
        [
            "6: `/etc/lab` mounts the volume `cfg` of type configMap",
            "7: `/ghost` mounts `ghost`, which `config.volumes` does not define",
        ]
    );
    assert_eq!(t.rows[0].note, "configMap has no v3 equivalent");
    assert_eq!(t.rows[1].v2_volume, "no volume `ghost`");
    assert_eq!(t.controller_yaml(), None, "nothing to write");
}

const TWO_MOUNTS: &str = "config:
  volumes:
    - name: home
      nfs: {path: /share1/home, server: s}
    - name: data
      hostPath: {path: /data}
  volume_mounts:
    - {name: home, mountPath: /home}
    - {name: data, mountPath: /data, readOnly: true}
    - {name: home, mountPath: /scratch, subPath: scratch}
";

#[test]
fn the_0x_target_syntax_is_one_entry_per_mount() {
    let t = tr_with(TWO_MOUNTS, Syntax::Flat, &Answers::default());
    let y = yaml(&t);
    assert!(!y.contains("volumeMounts"));
    assert_eq!(y.matches("- containerPath:").count(), 3);
}

#[test]
fn the_4x_target_syntax_names_volumes_and_mounts_them() {
    let t = tr_with(TWO_MOUNTS, Syntax::Split, &Answers::default());
    assert_eq!(
        yaml(&t),
        "controller:
  config:
    lab:
      volumes:
        - name: \"home\"
          source:
            type: \"nfs\"
            server: \"s\"
            serverPath: \"/share1/home\"
        - name: \"data\"
          source:
            type: \"hostPath\"
            path: \"/data\"
      volumeMounts:
        - containerPath: \"/home\"
          readOnly: false
          volumeName: \"home\"
        - containerPath: \"/data\"
          readOnly: true
          volumeName: \"data\"
        - containerPath: \"/scratch\"
          subPath: \"scratch\"
          readOnly: false
          volumeName: \"home\"
"
    );
}

#[test]
fn jinja_lab_variables_are_dropped_and_listed() {
    let t = tr("config:
  lab_environment:
    AUTO_REPO_URLS: https://github.com/lsst-sqre/system-test
    PANDA_CONFIG_ROOT: \"~\"
    EXTERNAL_UID: \"{{ uid }}\"
");
    assert_eq!(
        t.env,
        [
            (
                "AUTO_REPO_URLS".to_string(),
                "https://github.com/lsst-sqre/system-test".to_string()
            ),
            ("PANDA_CONFIG_ROOT".to_string(), "~".to_string()),
        ]
    );
    assert_eq!(
        items_of(&t),
        [
            "5: the lab variable `EXTERNAL_UID` is a Jinja template (`{{ uid }}`), which nublado v2 expanded for each user and v3 copies verbatim"
        ]
    );
    assert!(yaml(&t).contains("      env:\n        AUTO_REPO_URLS: \"https://github.com/lsst-sqre/system-test\"\n        PANDA_CONFIG_ROOT: \"~\"\n"));
}
