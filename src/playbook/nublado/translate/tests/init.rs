//! Tests of moneypenny's commissioning as init containers (`translate::init`). Does not test
//! the volumes they share with the labs (`mounts`).

use super::*;

#[test]
fn moneypenny_commissioning_becomes_init_containers() {
    let d = doc("orders:
  commission:
    - name: initcommission
      image: lsstsqre/inituserhome
      securityContext:
        runAsUser: 0
        runAsNonRootUser: false
      volumeMounts:
        - mountPath: /homedirs
          name: homedirs
  volumes:
    - name: homedirs
      nfs:
        server: 10.13.105.122
        path: /share1/home
");
    let files = V2Files {
        moneypenny: Some(File {
            rel: "applications/moneypenny/values-x.yaml",
            doc: &d,
        }),
        ..V2Files::default()
    };
    let t = translate(&files, Syntax::Flat, &Answers::default());
    assert!(
        yaml(&t).ends_with(
            "      initContainers:
        - name: \"initcommission\"
          image: \"lsstsqre/inituserhome\"
          privileged: true
          volumes:
            - containerPath: \"/homedirs\"
              mode: \"rw\"
              source:
                type: \"nfs\"
                server: \"10.13.105.122\"
                serverPath: \"/share1/home\"
"
        ),
        "{}",
        yaml(&t)
    );
    let t = translate(&files, Syntax::Split, &Answers::default());
    assert!(
        yaml(&t).contains(
            "        - name: \"initcommission\"
          image:
            repository: \"lsstsqre/inituserhome\"
            tag: \"latest\"
          privileged: true
          volumeMounts:
            - containerPath: \"/homedirs\"
              readOnly: false
              volumeName: \"homedirs\"
      volumes:
        - name: \"homedirs\"
"
        ),
        "{}",
        yaml(&t)
    );
    assert!(t.notes[0].contains("before every lab start"));
}

#[test]
fn moneypenny_host_path_type_and_extra_settings_are_reported() {
    let d = doc("orders:
  commission:
    - name: initcommission
      image: lsstsqre/inituserhome:1.2
      securityContext:
        runAsUser: 1000
      command: [\"/bin/init\"]
      volumeMounts:
        - mountPath: /homedirs
          name: homedirs
  retire:
    - name: farthing
      image: lsstsqre/farthing
  volumes:
    - name: homedirs
      hostPath:
        path: /data/rsp/home
        type: Directory
");
    let files = V2Files {
        moneypenny: Some(File {
            rel: "applications/moneypenny/values-x.yaml",
            doc: &d,
        }),
        ..V2Files::default()
    };
    let t = translate(&files, Syntax::Split, &Answers::default());
    let items: Vec<String> = t
        .untranslated
        .iter()
        .filter(|u| u.file.contains("moneypenny"))
        .map(|u| format!("{}: {}", u.line.unwrap_or(0), u.what))
        .collect();
    assert_eq!(
        items,
        [
            "7: the commissioning container `initcommission` sets `command`",
            "15: the hostPath volume `homedirs` has `type: Directory`, which nublado v3 cannot express",
            "11: moneypenny's `retire` containers ran when a user was retired",
        ]
    );
    let c = &t.init_containers[0];
    assert!(!c.privileged, "UID 1000 is v3's unprivileged user");
    assert_eq!(
        c.image_parts(),
        ("lsstsqre/inituserhome".into(), "1.2".into())
    );
}
