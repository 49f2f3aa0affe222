//! Tests of the operator's answers (`translate::answers`): parsing and refusing them. Does not
//! test using them for PVC volumes (`mounts`).

use super::*;

#[test]
fn answers_parse_and_reject_nonsense() {
    assert_eq!(
        parse_storage_class("repo=rook"),
        Ok(("repo".into(), "rook".into()))
    );
    assert!(parse_storage_class("repo").is_err());
    assert!(parse_storage_class("=rook").is_err());
    assert_eq!(
        parse_access_modes("repo=ReadOnlyMany,ReadWriteOnce"),
        Ok((
            "repo".into(),
            vec!["ReadOnlyMany".into(), "ReadWriteOnce".into()]
        ))
    );
    assert!(
        parse_access_modes("repo=ReadWriteSome")
            .unwrap_err()
            .contains("not an access mode")
    );
    for ok in ["1Gi", "500M", "1.5Ti", "10"] {
        assert!(parse_size(&format!("r={ok}")).is_ok(), "{ok}");
    }
    for bad in ["Gi", "1GB", "1.", "-1Gi"] {
        assert!(parse_size(&format!("r={bad}")).is_err(), "{bad}");
    }
    let mut a = Answers::default();
    a.storage_class.insert("repo".into(), "rook".into());
    a.size.insert("home".into(), "2Gi".into());
    assert_eq!(
        a.args(),
        ["--pvc-storage-class repo=rook", "--pvc-size home=2Gi"]
    );
    assert_eq!(a.names().into_iter().collect::<Vec<_>>(), ["home", "repo"]);
}
