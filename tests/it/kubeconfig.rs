//! The kubeconfig as kubectl reads it, against the Kubernetes double (and, for TLS, a real
//! `openssl s_server` with certificates made by the `openssl` CLI): credential plugins that
//! hang or give client certificates, `proxy-url` through a local CONNECT proxy,
//! `tls-server-name`, impersonation headers, unknown fields.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_migrate::http::{Http, HttpBuilder};
use gitops_migrate::runtime::clients::{KubeApi, KubeConfig};

use crate::support::{KUBE_TOKEN, Platform};

fn config(yaml: &str, dir: &Path) -> KubeConfig {
    let file = dir.join("config");
    std::fs::write(&file, yaml).unwrap();
    KubeConfig::from_files(&[file]).unwrap()
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perm = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(path, perm).unwrap();
}

fn plugin_config(server: &str, plugin: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n  - name: c\n    cluster:\n      server: {server}\ncontexts:\n  - name: c\n    context: {{cluster: c, user: u}}\nusers:\n  - name: u\n    user:\n      exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: {}\n        interactiveMode: IfAvailable\n        provideClusterInfo: true\n",
        plugin.display()
    )
}

#[test]
fn a_hanging_credential_plugin_ends_with_a_clear_message_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("login-plugin");
    executable(&plugin, "#!/bin/sh\nsleep 30\n");
    let mut kc = config(&plugin_config("https://10.0.0.1:6443", &plugin), dir.path());
    kc.plugin_limit = Duration::from_secs(1);
    let t0 = Instant::now();
    let e = kc.client(None).unwrap_err();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        e.0.contains("the credential plugin `") && e.0.contains("did not finish within 1s"),
        "{e}"
    );
    assert!(e.0.contains("without a terminal to ask on"), "{e}");
    assert!(e.0.contains("log in"), "{e}");
}

/// A key and a self-signed certificate for `cn`, with `san` (e.g. `DNS:kubernetes.test`).
fn openssl_cert(dir: &Path, name: &str, cn: &str, san: Option<&str>, ca: Option<&str>) {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.pem"));
    let mut c = Command::new("openssl");
    match ca {
        None => {
            c.args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", &format!("/CN={cn}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt);
            if let Some(s) = san {
                c.args(["-addext", &format!("subjectAltName={s}")]);
            }
            c.args(["-addext", "basicConstraints=critical,CA:TRUE"]);
        }
        Some(ca) => {
            // A key and request, then signed by `ca`.
            let csr = dir.join(format!("{name}.csr"));
            let ok = Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args(["-nodes", "-subj", &format!("/CN={cn}")])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr)
                .status()
                .unwrap();
            assert!(ok.success());
            let ext = dir.join(format!("{name}.ext"));
            std::fs::write(
                &ext,
                format!(
                    "subjectAltName={}\nbasicConstraints=CA:FALSE\n",
                    san.unwrap_or("DNS:x")
                ),
            )
            .unwrap();
            c.args(["x509", "-req", "-days", "2"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(dir.join(format!("{ca}.pem")))
                .arg("-CAkey")
                .arg(dir.join(format!("{ca}.key")))
                .arg("-CAcreateserial")
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&crt);
        }
    }
    let out = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_plugin_answering_with_a_certificate_is_run_once_per_expiry() {
    let p = Platform::start();
    p.require_tokens(false);
    let dir = tempfile::tempdir().unwrap();
    openssl_cert(dir.path(), "client", "alice", None, None);
    let runs = dir.path().join("runs");
    let plugin = dir.path().join("cert-plugin");
    // The credential expires 14 s after it is made (written in whole seconds): 3 to 4 s of
    // use before the client's 10 s margin asks for a new one.
    executable(
        &plugin,
        &format!(
            r#"#!/usr/bin/env python3
import datetime, json, os
d = {dir:?}
open(os.path.join(d, "runs"), "a").write(os.environ["KUBERNETES_EXEC_INFO"] + "\n")
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=14)
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
  "status": {{"clientCertificateData": open(os.path.join(d, "client.pem")).read(),
              "clientKeyData": open(os.path.join(d, "client.key")).read(),
              "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}}}}))
"#,
            dir = dir.path().display().to_string()
        ),
    );
    let kc = config(&plugin_config(&p.url, &plugin), dir.path());
    let count = || {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let kube = kc.client(None).unwrap();
    for _ in 0..5 {
        kube.list_namespaces(None, None).unwrap();
    }
    assert_eq!(count(), 1, "one run for a credential that has not expired");
    std::thread::sleep(Duration::from_millis(4500));
    for _ in 0..5 {
        kube.list_namespaces(None, None).unwrap();
    }
    assert_eq!(count(), 2, "one more run once it expired");
    // What the plugin was told: no terminal here, and the cluster (provideClusterInfo).
    let info: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&runs)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(info["spec"]["cluster"]["server"], p.url.as_str());
}

/// A CONNECT proxy on loopback that records the targets it was asked for.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok() && h.trim() != "" {
                    h.clear();
                }
                s.lock().unwrap().push(line.trim().to_string());
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let Ok(upstream) = TcpStream::connect(&target) else {
                    return;
                };
                let mut client = client;
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let mut up_w = upstream.try_clone().unwrap();
                let mut cl_w = client.try_clone().unwrap();
                let mut up_r = upstream;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut reader, &mut up_w);
                });
                let mut buf = [0u8; 8192];
                while let Ok(n) = up_r.read(&mut buf) {
                    if n == 0 || cl_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, seen)
}

#[test]
fn proxy_url_sends_the_requests_through_the_proxy() {
    let p = Platform::start();
    p.add_namespace("nublado2-alice", &[]);
    let (proxy, seen) = connect_proxy();
    let dir = tempfile::tempdir().unwrap();
    let yaml = p.kubeconfig("c").replace(
        &format!("      server: {}\n", p.url),
        &format!("      server: {}\n      proxy-url: {proxy}\n", p.url),
    );
    assert!(yaml.contains("proxy-url"), "{yaml}");
    let kube = config(&yaml, dir.path()).client(None).unwrap();
    let names: Vec<String> = kube
        .list_namespaces(None, None)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert!(names.contains(&"nublado2-alice".to_string()));
    let target = p.url.trim_start_matches("http://");
    assert_eq!(
        seen.lock().unwrap().first().map(String::as_str),
        Some(format!("CONNECT {target} HTTP/1.1").as_str()),
        "the proxy carried the request"
    );
    // A scheme the client cannot speak is refused by name.
    let bad = yaml.replace(&proxy, "socks4://127.0.0.1:1");
    let e = config(&bad, dir.path()).client(None).unwrap_err();
    assert!(e.0.contains("`proxy-url: socks4://127.0.0.1:1`"), "{e}");
}

/// One HTTP exchange on loopback: returns the URL and the raw request head it will receive
/// (answered with an empty namespace list).
fn one_request() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok() && line.trim() != "" {
            head.push_str(&line);
            line.clear();
        }
        let body = r#"{"kind":"NamespaceList","items":[]}"#;
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tx.send(head);
    });
    (url, rx)
}

#[test]
fn impersonation_headers_are_sent() {
    let (url, head) = one_request();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n  - name: c\n    cluster:\n      server: {url}\ncontexts:\n  - name: c\n    context: {{cluster: c, user: u}}\nusers:\n  - name: u\n    user:\n      token: {KUBE_TOKEN}\n      as: alice@example.org\n      as-uid: \"1234\"\n      as-groups: [ops, admins]\n      as-user-extra:\n        scopes: [view, edit]\n"
    );
    let kube = config(&yaml, dir.path()).client(None).unwrap();
    kube.list_namespaces(None, None).unwrap();
    let head = head
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .to_lowercase();
    let values = |name: &str| -> Vec<String> {
        head.lines()
            .filter_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim().to_string())
            .collect()
    };
    assert_eq!(values("impersonate-user"), ["alice@example.org"]);
    assert_eq!(values("impersonate-uid"), ["1234"]);
    assert_eq!(values("impersonate-group"), ["ops", "admins"]);
    assert_eq!(values("impersonate-extra-scopes"), ["view", "edit"]);
    assert_eq!(
        values("authorization"),
        [format!("bearer {}", KUBE_TOKEN.to_lowercase())]
    );
}

#[test]
fn an_unknown_kubeconfig_field_is_refused_by_name() {
    let p = Platform::start();
    let dir = tempfile::tempdir().unwrap();
    let yaml = p.kubeconfig("c").replace(
        &format!("      token: {KUBE_TOKEN}\n"),
        &format!("      token: {KUBE_TOKEN}\n      client-certficate: /tmp/typo.pem\n"),
    );
    let e = config(&yaml, dir.path()).client(None).unwrap_err();
    assert!(
        e.0.contains(
            "uses kubeconfig field `user.client-certficate` that gitops-migrate does not implement"
        ),
        "{e}"
    );
}

/// `openssl s_server -www` on a free port with `name`'s certificate; killed on drop.
struct TlsServer(Child, u16);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tls_server(dir: &Path, name: &str) -> TlsServer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-www", "-quiet", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(dir.join(format!("{name}.pem")))
        .arg("-key")
        .arg(dir.join(format!("{name}.key")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    TlsServer(child, port)
}

#[test]
fn tls_server_name_is_what_the_certificate_is_verified_against() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_cert(d, "ca", "test CA", None, None);
    openssl_cert(
        d,
        "server",
        "kubernetes.test",
        Some("DNS:kubernetes.test"),
        Some("ca"),
    );
    let server = tls_server(d, "server");
    let yaml = |extra: &str| {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n  - name: c\n    cluster:\n      server: https://127.0.0.1:{}\n      certificate-authority: {}\n{extra}contexts:\n  - name: c\n    context: {{cluster: c, user: u}}\nusers:\n  - name: u\n    user:\n      token: {KUBE_TOKEN}\n",
            server.1,
            PathBuf::from(d).join("ca.pem").display()
        )
    };
    // Without it, the certificate (for kubernetes.test) does not match 127.0.0.1.
    let kube = config(&yaml(""), d).client(None).unwrap();
    let e = kube.list_namespaces(None, None).unwrap_err();
    assert!(e.message.starts_with("no answer from"), "{e}");
    assert!(e.message.contains("certificate"), "{e}");
    assert!(
        !e.retryable(),
        "a certificate that does not verify is not retried: {e}"
    );
    // With it, TLS verifies and the server answers (s_server's status page, not JSON).
    let kube = config(&yaml("      tls-server-name: kubernetes.test\n"), d)
        .client(None)
        .unwrap();
    let e = kube.list_namespaces(None, None).unwrap_err();
    assert!(!e.message.starts_with("no answer from"), "{e}");
    assert!(!e.message.contains("certificate"), "{e}");

    // A service's `ca_file` (Argo CD, mobu, Vault, health): its CA is trusted instead of the
    // system's store, which does not know it.
    let url = format!("https://127.0.0.1:{}/", server.1);
    let send = |b: HttpBuilder| {
        b.tls_server_name(&url, "kubernetes.test")
            .unwrap()
            .build()
            .send("GET", &url, &[], None, "the test server")
    };
    let e = send(Http::builder()).unwrap_err();
    assert!(e.message.contains("certificate"), "{e}");
    let reply = send(Http::builder().ca_file(&d.join("ca.pem")).unwrap()).unwrap();
    assert_eq!(reply.status, 200);
}
