//! Reading kubeconfigs, the access they give, and credential plugins.

use super::access::loopback;
use super::*;
use crate::runtime::clients::KubeApi;

const CONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: idfdev
clusters:
  - name: idfdev-cluster
    cluster:
      server: https://10.0.0.1:6443/
      insecure-skip-tls-verify: true
  - name: local
    cluster:
      server: http://127.0.0.1:8001
  - name: remote-http
    cluster:
      server: http://10.0.0.2:8080
  - name: odd
    cluster:
      server: https://10.0.0.3
      certificate-authority-dta: Zm9v
contexts:
  - name: idfdev
    context: {cluster: idfdev-cluster, user: admin, namespace: default}
  - name: local
    context: {cluster: local, user: plugin}
  - name: plain
    context: {cluster: remote-http, user: admin}
  - name: odd
    context: {cluster: odd, user: admin}
users:
  - name: admin
    user:
      token: abc.def
      as: alice
      as-groups: [ops, admins]
  - name: plugin
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: sh
        args: ["-c", "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-plugin\"}}'"]
        env:
          - {name: FOO, value: bar}
        interactiveMode: Never
"#;

#[test]
fn reads_contexts_servers_and_users() {
    let cfg = KubeConfig::parse(CONFIG, Path::new("/tmp")).unwrap();
    assert_eq!(cfg.current_context(), Some("idfdev"));
    assert_eq!(cfg.contexts(), vec!["idfdev", "local", "plain", "odd"]);
    assert_eq!(cfg.server_url("idfdev"), Some("https://10.0.0.1:6443/"));
    assert_eq!(cfg.server_url("local"), Some("http://127.0.0.1:8001"));
    assert_eq!(cfg.server_url("nope"), None);
    let c = cfg.client(None).unwrap();
    assert_eq!(c.server(), "https://10.0.0.1:6443");
    let a = c.access();
    assert_eq!(a.bearer(false).unwrap().as_deref(), Some("abc.def"));
    assert_eq!(
        a.impersonation(),
        [
            ("Impersonate-User".to_string(), "alice".to_string()),
            ("Impersonate-Group".into(), "ops".into()),
            ("Impersonate-Group".into(), "admins".into())
        ]
    );
    assert!(!format!("{c:?}").contains("abc.def"));
    let p = cfg.client(Some("local")).unwrap();
    assert_eq!(
        p.access().bearer(false).unwrap().as_deref(),
        Some("from-plugin")
    );
    let e = cfg.client(Some("prod")).unwrap_err();
    assert!(e.0.contains("no context `prod`"), "{e}");
}

#[test]
fn no_bearer_token_over_plain_http_but_to_loopback() {
    let cfg = KubeConfig::parse(CONFIG, Path::new("/tmp")).unwrap();
    let e = cfg.client(Some("plain")).unwrap_err();
    assert!(
        e.0.contains("refusing to send a bearer token over plain http:// to http://10.0.0.2:8080"),
        "{e}"
    );
    assert!(loopback("http://127.0.0.1:8001"));
    assert!(loopback("http://[::1]:8001/x"));
    assert!(loopback("http://localhost"));
    assert!(!loopback("http://10.0.0.2:8080"));
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let cfg = KubeConfig::parse(CONFIG, Path::new("/tmp")).unwrap();
    let e = cfg.client(Some("odd")).unwrap_err();
    assert!(
            e.0.contains("uses kubeconfig field `cluster.certificate-authority-dta` that gitops-migrate does not implement"),
            "{e}"
        );
    // Contexts that do not use the entry are not affected.
    assert!(cfg.client(Some("idfdev")).is_ok());
}

#[test]
fn decodes_base64() {
    assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("aGVs\nbG8").unwrap(), b"hello");
    assert!(base64_decode("a*b").is_none());
}
