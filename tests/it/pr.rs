//! `gitops-migrate pr` end to end: the built binary on a temporary Git repository made from
//! `fixtures/phalanx`, a bare repository as its `origin` (`file://`), and a GitHub API double
//! that speaks the real JSON shapes over a real socket on 127.0.0.1, records every request and
//! can inject faults. Git runs hermetically (no global or system configuration, HOME in a
//! temporary directory, PATH holding only `git`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common;
use common::copy_dir;

const TOKEN: &str = "ghp_TESTtoken0123456789abcdefDoNotPrint";
const OWNER: &str = "lsst-sqre";
const REPO: &str = "phalanx";
const BRANCH: &str = "migrate/nublado/make-default/idfdev";
const STAGE: &[&str] = &["pr", "nublado", "make-default", "--env", "idfdev"];

macro_rules! snap {
    ($name:expr, $value:expr) => {
        crate::common::snapshot(&format!("pr__{}", $name), $value)
    };
}

// ---------------------------------------------------------------------------------------------
// The GitHub API double.

#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON request body")
    }
}

struct Fault {
    method: String,
    path: String,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    prs: Vec<Value>,
    faults: Vec<Fault>,
}

#[derive(Clone)]
struct GitHubDouble {
    url: String,
    state: Arc<Mutex<State>>,
}

impl GitHubDouble {
    fn start() -> GitHubDouble {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &s);
            }
        });
        GitHubDouble { url, state }
    }

    /// Answers the next requests with `method path` with `status` and `body`.
    fn fail(&self, method: &str, path: &str, status: u16, body: Value) {
        self.state.lock().unwrap().faults.push(Fault {
            method: method.into(),
            path: path.into(),
            status,
            body,
        });
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    fn prs(&self) -> Vec<Value> {
        self.state.lock().unwrap().prs.clone()
    }

    fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path() == path)
            .count()
    }
}

fn serve(stream: TcpStream, state: &Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    assert!(
        !headers.contains_key("transfer-encoding"),
        "the double reads Content-Length bodies only"
    );
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).expect("request body");
    let req = Request {
        method,
        target,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    };
    let (status, answer) = {
        let mut st = state.lock().unwrap();
        st.requests.push(req.clone());
        route(&mut st, &req)
    };
    let text = answer.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        _ => "Whatever",
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nX-GitHub-Api-Version-Selected: 2022-11-28\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn route(st: &mut State, req: &Request) -> (u16, Value) {
    let docs = "https://docs.github.com/rest";
    if req.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {TOKEN}")) {
        // Like some proxies, echo what was sent: the client must still not print the token.
        return (
            401,
            json!({"message": format!("Bad credentials ({})", req.headers.get("authorization").cloned().unwrap_or_default()), "documentation_url": docs, "status": "401"}),
        );
    }
    if let Some(i) = st
        .faults
        .iter()
        .position(|f| f.method == req.method && f.path == req.path())
    {
        let f = st.faults.remove(i);
        return (f.status, f.body);
    }
    let prefix = format!("/repos/{OWNER}/{REPO}");
    let Some(rest) = req.path().strip_prefix(&prefix) else {
        return (
            404,
            json!({"message": "Not Found", "documentation_url": docs, "status": "404"}),
        );
    };
    let query: BTreeMap<String, String> = req
        .target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["pulls"]) => {
            let head = query.get("head").cloned();
            let state = query.get("state").cloned().unwrap_or("open".into());
            let list: Vec<Value> = st
                .prs
                .iter()
                .filter(|p| head.as_deref().is_none_or(|h| p["head"]["label"] == h))
                .filter(|p| state == "all" || p["state"] == state.as_str())
                .cloned()
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["pulls"]) => {
            let b = req.json();
            let head = b["head"].as_str().unwrap_or("").to_string();
            let label = format!("{OWNER}:{head}");
            if st
                .prs
                .iter()
                .any(|p| p["head"]["label"] == label.as_str() && p["state"] == "open")
            {
                return (422, already_exists(&head));
            }
            let n = st.prs.len() as u64 + 1;
            let pr = json!({
                "url": format!("https://api.github.com/repos/{OWNER}/{REPO}/pulls/{n}"),
                "id": 1_000_000 + n,
                "node_id": format!("PR_kw{n}"),
                "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{n}"),
                "number": n,
                "state": "open",
                "locked": false,
                "title": b["title"],
                "body": b["body"],
                "draft": b["draft"].as_bool().unwrap_or(false),
                "user": {"login": "operator", "id": 1, "type": "User"},
                "labels": [],
                "head": {"label": label, "ref": head, "sha": "0".repeat(40), "repo": {"full_name": format!("{OWNER}/{REPO}")}},
                "base": {"label": format!("{OWNER}:{}", b["base"].as_str().unwrap_or("")), "ref": b["base"], "sha": "0".repeat(40)},
                "merged": false,
                "created_at": "2026-11-01T12:00:00Z",
                "updated_at": "2026-11-01T12:00:00Z",
            });
            st.prs.push(pr.clone());
            (201, pr)
        }
        ("PATCH", ["pulls", n]) => {
            let b = req.json();
            let Some(pr) = st
                .prs
                .iter_mut()
                .find(|p| p["number"].as_u64().map(|x| x.to_string()).as_deref() == Some(*n))
            else {
                return (
                    404,
                    json!({"message": "Not Found", "documentation_url": docs, "status": "404"}),
                );
            };
            for key in ["title", "body"] {
                if let Some(v) = b.get(key) {
                    pr[key] = v.clone();
                }
            }
            if let Some(base) = b.get("base") {
                pr["base"]["ref"] = base.clone();
            }
            pr["updated_at"] = json!("2026-11-01T13:00:00Z");
            (200, pr.clone())
        }
        ("POST", ["issues", n, "labels"]) => {
            let b = req.json();
            let Some(pr) = st
                .prs
                .iter_mut()
                .find(|p| p["number"].as_u64().map(|x| x.to_string()).as_deref() == Some(*n))
            else {
                return (
                    404,
                    json!({"message": "Not Found", "documentation_url": docs, "status": "404"}),
                );
            };
            let labels = pr["labels"].as_array_mut().unwrap();
            for (i, name) in b["labels"].as_array().unwrap().iter().enumerate() {
                if !labels.iter().any(|l| l["name"] == *name) {
                    labels.push(
                        json!({"id": 500 + i, "name": name, "color": "ededed", "default": false}),
                    );
                }
            }
            (200, Value::Array(labels.clone()))
        }
        _ => (
            404,
            json!({"message": "Not Found", "documentation_url": docs, "status": "404"}),
        ),
    }
}

fn already_exists(head: &str) -> Value {
    json!({
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "code": "custom",
                    "message": format!("A pull request already exists for {OWNER}:{head}.")}],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "422"
    })
}

// ---------------------------------------------------------------------------------------------
// Repositories.

struct Fixture {
    tmp: TempDir,
    work: PathBuf,
    /// Where the Phalanx repository is inside `work`, and where the tool runs.
    phalanx: PathBuf,
    bare: PathBuf,
    home: PathBuf,
    bin: PathBuf,
    github: GitHubDouble,
}

/// The first `git` on this process's PATH.
fn real_git() -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH");
    std::env::split_paths(&path)
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH")
}

/// The hermetic environment for every child process.
fn hermetic(cmd: &mut Command, f: &Fixture) {
    for var in [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "CLICOLOR_FORCE",
        "CLICOLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", &f.home)
        .env("PATH", &f.bin)
        .env("GIT_AUTHOR_NAME", "Operator")
        .env("GIT_AUTHOR_EMAIL", "operator@example.org")
        .env("GIT_COMMITTER_NAME", "Operator")
        .env("GIT_COMMITTER_EMAIL", "operator@example.org")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
}

impl Fixture {
    /// `fixtures/phalanx` committed on `main` in a work repository whose `origin` is a bare
    /// repository with `main` pushed.
    fn new() -> Fixture {
        Fixture::new_in("")
    }

    /// The same, with the Phalanx files in the subdirectory `sub` of the Git repository.
    fn new_in(sub: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let f = Fixture {
            work: root.join("work"),
            phalanx: root.join("work").join(sub),
            bare: root.join("remote.git"),
            home: root.join("home"),
            bin: root.join("bin"),
            github: GitHubDouble::start(),
            tmp,
        };
        fs::create_dir_all(&f.home).unwrap();
        fs::create_dir_all(&f.bin).unwrap();
        std::os::unix::fs::symlink(real_git(), f.bin.join("git")).unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx"),
            &f.phalanx,
        );
        f.git(&f.work, &["init", "-q", "-b", "main"]);
        f.git(&f.work, &["add", "-A"]);
        f.git(&f.work, &["commit", "-q", "-m", "Phalanx fixture"]);
        f.git(&root, &["init", "-q", "--bare", "-b", "main", "remote.git"]);
        let url = format!("file://{}", f.bare.display());
        f.git(&f.work, &["remote", "add", "origin", &url]);
        f.git(&f.work, &["push", "-q", "origin", "main"]);
        f
    }

    /// Runs git; its stdout, trimmed; panics on failure.
    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_git(dir, args);
        assert!(ok, "git {args:?} failed: {stderr}");
        stdout
    }

    fn try_git(&self, dir: &Path, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(real_git());
        hermetic(&mut cmd, self);
        let out = cmd.args(args).current_dir(dir).output().expect("run git");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    }

    /// Runs gitops-migrate in the work repository with GITHUB_TOKEN set.
    fn gm(&self, args: &[&str]) -> Run {
        self.gm_env(args, &[("GITHUB_TOKEN", TOKEN)])
    }

    fn gm_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"));
        hermetic(&mut cmd, self);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(args)
            .current_dir(&self.phalanx)
            .output()
            .expect("run gitops-migrate");
        let run = Run {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
        };
        assert!(
            !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
            "the token was printed:\n{run:?}"
        );
        run
    }

    /// `pr nublado make-default --env idfdev` with the double as the API and its repository.
    fn pr(&self, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = STAGE.to_vec();
        args.extend([
            "--github-api",
            &self.github.url,
            "--github-repo",
            "lsst-sqre/phalanx",
        ]);
        args.extend(extra);
        self.gm(&args)
    }

    /// HEAD, the current branch, the index's bytes and entries, and the work tree's status
    /// and file contents: everything a user's checkout is.
    fn checkout(&self) -> String {
        let index = fs::read(self.work.join(".git/index")).unwrap();
        let mut files = Vec::new();
        let mut stack = vec![self.work.clone()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                if e.file_name() == ".git" {
                    continue;
                }
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    files.push((e.path(), fs::read(e.path()).unwrap()));
                }
            }
        }
        files.sort();
        format!(
            "{}\n{}\n{:?}\n{}\n{}\n{:?}",
            self.git(&self.work, &["rev-parse", "HEAD"]),
            self.git(&self.work, &["symbolic-ref", "HEAD"]),
            index,
            self.git(&self.work, &["ls-files", "-s"]),
            self.git(
                &self.work,
                &["status", "--porcelain=v1", "--untracked-files=all"]
            ),
            files
        )
    }

    fn remote_ref(&self, branch: &str) -> Option<String> {
        let (ok, out, _) = self.try_git(
            &self.bare,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
        );
        ok.then_some(out)
    }

    fn local_ref(&self, branch: &str) -> Option<String> {
        let (ok, out, _) = self.try_git(
            &self.work,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
        );
        ok.then_some(out)
    }

    /// The tree `apply` gives on a fresh clone of the remote's main: what the branch must hold.
    fn applied_tree(&self, stage: &[&str]) -> String {
        let check = self.tmp.path().canonicalize().unwrap().join("check");
        let url = format!("file://{}", self.bare.display());
        self.git(
            self.tmp.path(),
            &["clone", "-q", "-b", "main", &url, check.to_str().unwrap()],
        );
        let mut args = vec!["apply"];
        args.extend(stage);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-migrate"));
        hermetic(&mut cmd, self);
        let sub = self.phalanx.strip_prefix(&self.work).unwrap();
        let out = cmd
            .args(&args)
            .current_dir(check.join(sub))
            .output()
            .unwrap();
        assert!(out.status.success(), "apply failed: {out:?}");
        self.git(&check, &["add", "-A"]);
        self.git(&check, &["write-tree"])
    }

    /// Makes the bare remote refuse every push.
    fn reject_pushes(&self, refuse: bool) {
        let hook = self.bare.join("hooks/pre-receive");
        if refuse {
            fs::write(
                &hook,
                "#!/bin/sh\necho 'pushes are frozen for the maintenance window' >&2\nexit 1\n",
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            fs::remove_file(&hook).unwrap();
        }
    }

    /// `text` with the temporary directory, the double's address and commit ids (whole or
    /// short, 7 characters or more) replaced.
    fn scrub(&self, text: &str) -> String {
        let root = self.tmp.path().canonicalize().unwrap();
        let text = text
            .replace(&root.display().to_string(), "[TMP]")
            .replace(&self.github.url, "[API]");
        let mut out = String::new();
        let mut hex = String::new();
        for c in text.chars().chain(std::iter::once('\n')) {
            if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
                hex.push(c);
                continue;
            }
            if hex.len() >= 7 && hex.chars().any(|c| c.is_ascii_digit()) {
                out.push_str("[SHA]");
            } else {
                out.push_str(&hex);
            }
            hex.clear();
            out.push(c);
        }
        out.pop();
        out.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "unexpected exit code:\n{self:?}");
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn creates_the_branch_the_commit_and_the_pull_request() {
    let f = Fixture::new();
    let before = f.checkout();
    let main = f.git(&f.bare, &["rev-parse", "main"]);

    let run = f.pr(&[]);
    run.assert_code(0);

    // The branch arrived on the remote with exactly one commit on top of main …
    let tip = f.remote_ref(BRANCH).expect("the branch is on the remote");
    assert_eq!(
        f.git(&f.bare, &["rev-list", &format!("main..{BRANCH}")]),
        tip,
        "exactly one commit on top of main"
    );
    assert_eq!(f.git(&f.bare, &["rev-parse", &format!("{tip}^")]), main);
    assert_eq!(f.local_ref(BRANCH).as_deref(), Some(tip.as_str()));
    // … whose content is exactly what `apply` writes.
    assert_eq!(
        f.git(&f.bare, &["rev-parse", &format!("{tip}^{{tree}}")]),
        f.applied_tree(&["nublado", "make-default", "--env", "idfdev"])
    );
    assert_eq!(
        f.git(&f.bare, &["log", "-1", "--format=%s", &tip]),
        "nublado: make-default for idfdev"
    );
    assert_eq!(
        f.git(&f.bare, &["diff", "--name-status", "main", &tip]),
        "M\tapplications/mobu/values-idfdev.yaml\n\
         M\tapplications/nublado/values-idfdev.yaml\n\
         M\tapplications/nublado2/values-idfdev.yaml"
    );
    // The user's checkout is exactly as it was.
    assert_eq!(f.checkout(), before, "HEAD, index and work tree untouched");

    // The pull request: one list, one create, with the real headers.
    let reqs = f.github.requests();
    let calls: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /repos/lsst-sqre/phalanx/pulls?head=lsst-sqre:migrate/nublado/make-default/idfdev&state=open&per_page=100",
            "POST /repos/lsst-sqre/phalanx/pulls",
        ]
    );
    for r in &reqs {
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(r.headers["accept"], "application/vnd.github+json");
        assert_eq!(r.headers["x-github-api-version"], "2022-11-28");
        assert!(r.headers["user-agent"].starts_with("gitops-migrate/"));
    }
    let created = reqs[1].json();
    assert_eq!(created["title"], "nublado: make-default for idfdev");
    assert_eq!(created["head"], BRANCH);
    assert_eq!(created["base"], "main");
    assert_eq!(created["draft"], false);
    snap!(
        "body_make_default_idfdev",
        created["body"].as_str().unwrap()
    );

    assert!(run.stdout.contains(&format!("branch: {BRANCH} (new)")));
    assert!(run.stdout.contains(&format!("commit: {tip}")));
    assert!(
        run.stdout
            .contains("pull request: https://github.com/lsst-sqre/phalanx/pull/1 (#1, created)")
    );
    snap!("created_stdout", f.scrub(&run.stdout));
}

#[test]
fn a_second_run_updates_the_pull_request_instead_of_opening_another() {
    let f = Fixture::new();
    f.pr(&[]).assert_code(0);
    let tip = f.remote_ref(BRANCH).unwrap();

    let run = f.pr(&[]);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("already holds this change; no new commit")
    );
    assert!(run.stdout.contains("pushed: origin (already up to date)"));
    assert!(run.stdout.contains("(#1, updated)"), "{run:?}");
    assert_eq!(
        f.remote_ref(BRANCH).as_deref(),
        Some(tip.as_str()),
        "no new commit"
    );
    assert_eq!(f.github.count("POST", "/repos/lsst-sqre/phalanx/pulls"), 1);
    assert_eq!(
        f.github.count("PATCH", "/repos/lsst-sqre/phalanx/pulls/1"),
        1
    );
    assert_eq!(f.github.prs().len(), 1);
    let patch = f
        .github
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap()
        .json();
    assert_eq!(patch["title"], "nublado: make-default for idfdev");
    assert!(
        patch["body"]
            .as_str()
            .unwrap()
            .starts_with("## What this does")
    );
    assert!(patch.get("base").is_none(), "the base is unchanged");
}

#[test]
fn draft_and_labels_are_sent() {
    let f = Fixture::new();
    let run = f.pr(&[
        "--draft",
        "--label",
        "nublado",
        "--label",
        "maintenance window",
    ]);
    run.assert_code(0);
    assert!(run.stdout.contains("(#1, created, draft)"), "{run:?}");
    let reqs = f.github.requests();
    let create = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path().ends_with("/pulls"))
        .unwrap();
    assert_eq!(create.json()["draft"], true);
    let labels = reqs
        .iter()
        .find(|r| r.path() == "/repos/lsst-sqre/phalanx/issues/1/labels")
        .expect("labels sent");
    assert_eq!(labels.method, "POST");
    assert_eq!(
        labels.json(),
        json!({"labels": ["nublado", "maintenance window"]})
    );
    let pr = &f.github.prs()[0];
    assert_eq!(pr["labels"].as_array().unwrap().len(), 2);
}

#[test]
fn a_rejected_push_is_a_clear_error_and_keeps_the_local_branch() {
    let f = Fixture::new();
    let before = f.checkout();
    f.reject_pushes(true);

    let run = f.pr(&[]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("error: the push to `origin` was rejected: refs/heads/migrate/nublado/make-default/idfdev: [remote rejected] (pre-receive hook declined)"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("pushes are frozen for the maintenance window")
    );
    snap!("rejected_push_stderr", f.scrub(&run.stderr));
    let local = f.local_ref(BRANCH).expect("the local branch stays");
    assert_eq!(f.remote_ref(BRANCH), None);
    assert_eq!(f.checkout(), before, "the checkout is untouched");
    assert!(
        f.github.requests().is_empty(),
        "no pull request without the branch"
    );

    // Once the remote accepts pushes again, a re-run pushes the same commit.
    f.reject_pushes(false);
    let run = f.pr(&[]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("pushed: origin (new branch)"),
        "{run:?}"
    );
    assert_eq!(f.remote_ref(BRANCH), Some(local));
}

#[test]
fn github_422_is_a_clear_error_and_the_branch_stays() {
    let f = Fixture::new();
    let before = f.checkout();
    f.github.fail(
        "POST",
        "/repos/lsst-sqre/phalanx/pulls",
        422,
        already_exists(BRANCH),
    );
    let run = f.pr(&[]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "GitHub refused to open the pull request in lsst-sqre/phalanx (422: Validation Failed; A pull request already exists for lsst-sqre:migrate/nublado/make-default/idfdev.)"
        ),
        "{run:?}"
    );
    snap!("github_422_stderr", f.scrub(&run.stderr));
    assert!(f.remote_ref(BRANCH).is_some(), "the pushed branch stays");
    assert!(f.local_ref(BRANCH).is_some());
    assert_eq!(f.checkout(), before);
}

#[test]
fn github_500_is_a_clear_error_and_a_rerun_recovers() {
    let f = Fixture::new();
    f.github.fail(
        "GET",
        "/repos/lsst-sqre/phalanx/pulls",
        500,
        json!({"message": "Server Error"}),
    );
    let run = f.pr(&[]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "GitHub failed with a server error (500: Server Error) when trying to look for an open pull request in lsst-sqre/phalanx; try again later"
        ),
        "{run:?}"
    );
    snap!("github_500_stderr", f.scrub(&run.stderr));
    assert!(f.remote_ref(BRANCH).is_some());

    let run = f.pr(&[]);
    run.assert_code(0);
    assert!(run.stdout.contains("(#1, created)"));
}

#[test]
fn a_token_github_echoes_back_is_still_not_printed() {
    let f = Fixture::new();
    let mut args: Vec<&str> = STAGE.to_vec();
    args.extend([
        "--github-api",
        &f.github.url,
        "--github-repo",
        "lsst-sqre/phalanx",
    ]);
    let other = "ghp_OTHERtoken_the_double_rejects_42";
    let run = f.gm_env(&args, &[("GITHUB_TOKEN", other)]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("GitHub refused the token (401: Bad credentials (Bearer [redacted]))"),
        "{run:?}"
    );
    assert!(!run.stderr.contains(other) && !run.stdout.contains(other));
}

#[test]
fn a_missing_token_is_an_input_error_naming_github_token() {
    let f = Fixture::new();
    let before = f.checkout();
    let mut args: Vec<&str> = STAGE.to_vec();
    args.extend([
        "--github-api",
        &f.github.url,
        "--github-repo",
        "lsst-sqre/phalanx",
    ]);
    let run = f.gm_env(&args, &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("GITHUB_TOKEN"), "{run:?}");
    assert!(run.stderr.contains("gh auth token"), "{run:?}");
    snap!("missing_token_stderr", f.scrub(&run.stderr));
    assert_eq!(f.local_ref(BRANCH), None, "nothing made");
    assert_eq!(f.remote_ref(BRANCH), None);
    assert_eq!(f.checkout(), before);
}

#[test]
fn the_token_comes_from_gh_when_github_token_is_unset() {
    let f = Fixture::new();
    let gh = f.bin.join("gh");
    fs::write(
        &gh,
        format!("#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] || exit 2\necho {TOKEN}\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&gh, fs::Permissions::from_mode(0o755)).unwrap();
    let mut args: Vec<&str> = STAGE.to_vec();
    args.extend([
        "--github-api",
        &f.github.url,
        "--github-repo",
        "lsst-sqre/phalanx",
    ]);
    let run = f.gm_env(&args, &[]);
    run.assert_code(0);
    assert_eq!(f.github.count("POST", "/repos/lsst-sqre/phalanx/pulls"), 1);
}

#[test]
fn no_remote_is_an_input_error_unless_no_push() {
    let f = Fixture::new();
    f.git(&f.work, &["remote", "remove", "origin"]);
    let before = f.checkout();
    let run = f.pr(&[]);
    run.assert_code(2);
    assert!(run.stderr.contains("no remote `origin`"), "{run:?}");
    assert!(run.stderr.contains("--no-push"));
    snap!("no_remote_stderr", f.scrub(&run.stderr));
    assert_eq!(f.local_ref(BRANCH), None);

    let run = f.pr(&["--no-push"]);
    run.assert_code(0);
    let tip = f.local_ref(BRANCH).expect("the local branch is made");
    assert_eq!(
        f.git(&f.work, &["rev-parse", &format!("{tip}^")]),
        f.git(&f.work, &["rev-parse", "main"])
    );
    assert!(run.stdout.contains("(on main "), "{run:?}");
    assert!(run.stderr.contains("not pushed (--no-push)"));
    assert!(f.github.requests().is_empty());
    assert_eq!(f.checkout(), before);
}

#[test]
fn a_github_repository_that_cannot_be_told_is_an_input_error() {
    let f = Fixture::new();
    // The remote is a file:// URL: no OWNER/REPO in it.
    let run = f.gm(&STAGE
        .iter()
        .copied()
        .chain(["--github-api", &f.github.url])
        .collect::<Vec<_>>());
    run.assert_code(2);
    assert!(
        run.stderr.contains("pass --github-repo OWNER/REPO"),
        "{run:?}"
    );
    let run = f.gm(&STAGE
        .iter()
        .copied()
        .chain(["--github-repo", "not a repo"])
        .collect::<Vec<_>>());
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("--github-repo `not a repo`: expected OWNER/REPO"),
        "{run:?}"
    );
    assert_eq!(f.local_ref(BRANCH), None);
}

#[test]
fn an_existing_branch_with_other_content_is_refused_unless_force() {
    let f = Fixture::new();
    // Someone made the branch by hand, with a commit of their own, and pushed it.
    let theirs = f.git(
        &f.work,
        &["commit-tree", "main^{tree}", "-p", "main", "-m", "by hand"],
    );
    f.git(&f.work, &["branch", BRANCH, &theirs]);
    f.git(&f.work, &["push", "-q", "origin", BRANCH]);
    let old = f.remote_ref(BRANCH).unwrap();

    let run = f.pr(&[]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!(
            "the branch `{BRANCH}` already exists locally and on `origin` with different content"
        )),
        "{run:?}"
    );
    assert!(run.stderr.contains("pass --force to replace it"));
    snap!("branch_exists_stderr", f.scrub(&run.stderr));
    assert_eq!(f.remote_ref(BRANCH).as_deref(), Some(old.as_str()));
    assert!(f.github.requests().is_empty());

    let run = f.pr(&["--force"]);
    run.assert_code(0);
    assert!(run.stdout.contains("(replaced under --force)"), "{run:?}");
    assert!(run.stdout.contains("pushed: origin (replaced)"), "{run:?}");
    let tip = f.remote_ref(BRANCH).unwrap();
    assert_ne!(tip, old);
    assert_eq!(f.local_ref(BRANCH).as_deref(), Some(tip.as_str()));
    assert_eq!(
        f.git(&f.bare, &["rev-list", &format!("main..{BRANCH}")]),
        tip
    );
}

#[test]
fn a_work_tree_that_differs_from_the_base_is_refused_unless_force() {
    let f = Fixture::new();
    // The user's checkout is ahead of origin/main in a file the stage touches.
    let file = f.work.join("applications/nublado/values-idfdev.yaml");
    let mut text = fs::read_to_string(&file).unwrap();
    text.push_str("# a local note\n");
    fs::write(&file, text).unwrap();
    f.git(&f.work, &["commit", "-q", "-am", "local change"]);

    let run = f.pr(&[]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "these files are not as on origin/main: applications/nublado/values-idfdev.yaml (differs from origin/main)"
        ),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("Update your checkout to origin/main first")
    );
    assert_eq!(f.local_ref(BRANCH), None);

    let run = f.pr(&["--force"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("warning: --force: the stage was planned from your work tree")
    );
    let tip = f.remote_ref(BRANCH).unwrap();
    assert_eq!(
        f.git(&f.bare, &["rev-parse", &format!("{tip}^")]),
        f.git(&f.bare, &["rev-parse", "main"]),
        "built on origin/main, not on the local main"
    );
}

#[test]
fn nothing_to_do_makes_nothing() {
    let f = Fixture::new();
    let mut args = vec!["pr", "nublado", "enable-v3", "--env", "usdfprod"];
    args.extend([
        "--github-api",
        &f.github.url,
        "--github-repo",
        "lsst-sqre/phalanx",
    ]);
    let run = f.gm(&args);
    run.assert_code(0);
    assert!(run.stdout.contains("nothing to do"), "{run:?}");
    assert!(f.github.requests().is_empty());
    assert_eq!(f.git(&f.work, &["branch", "--list", "migrate/*"]), "");
}

#[test]
fn unknown_environment_and_stage_are_input_errors() {
    let f = Fixture::new();
    let run = f.gm(&[
        "pr",
        "nublado",
        "make-default",
        "--env",
        "nowhere",
        "--no-push",
    ]);
    run.assert_code(2);
    let run = f.gm(&[
        "pr",
        "nublado",
        "make-defualt",
        "--env",
        "idfdev",
        "--no-push",
    ]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("did you mean `make-default`"),
        "{run:?}"
    );
    assert_eq!(f.git(&f.work, &["branch", "--list", "migrate/*"]), "");
}

#[test]
fn a_phalanx_repository_in_a_subdirectory_is_committed_at_its_path() {
    let f = Fixture::new_in("deploy/phalanx");
    let before = f.checkout();
    f.pr(&["--no-pr"]).assert_code(0);
    let tip = f.remote_ref(BRANCH).unwrap();
    assert_eq!(
        f.git(&f.bare, &["diff", "--name-only", "main", &tip]),
        "deploy/phalanx/applications/mobu/values-idfdev.yaml\n\
         deploy/phalanx/applications/nublado/values-idfdev.yaml\n\
         deploy/phalanx/applications/nublado2/values-idfdev.yaml"
    );
    assert_eq!(
        f.git(&f.bare, &["rev-parse", &format!("{tip}^{{tree}}")]),
        f.applied_tree(&["nublado", "make-default", "--env", "idfdev"])
    );
    assert!(f.github.requests().is_empty(), "--no-pr");
    assert_eq!(f.checkout(), before);
}

#[test]
fn base_names_the_branch_to_build_on_and_to_target() {
    let f = Fixture::new();
    // A release branch on the remote with one more file than main.
    fs::write(f.work.join("NOTES.md"), "release notes\n").unwrap();
    f.git(&f.work, &["switch", "-q", "-c", "release"]);
    f.git(&f.work, &["add", "NOTES.md"]);
    f.git(&f.work, &["commit", "-q", "-m", "release notes"]);
    f.git(&f.work, &["push", "-q", "origin", "release"]);
    f.git(&f.work, &["switch", "-q", "main"]);
    let before = f.checkout();

    let run = f.pr(&["--base", "origin/release"]);
    run.assert_code(0);
    assert!(run.stdout.contains("(on origin/release "), "{run:?}");
    let tip = f.remote_ref(BRANCH).unwrap();
    assert_eq!(
        f.git(&f.bare, &["rev-parse", &format!("{tip}^")]),
        f.git(&f.bare, &["rev-parse", "release"])
    );
    assert_eq!(
        f.git(&f.bare, &["show", &format!("{tip}:NOTES.md")]),
        "release notes"
    );
    let create = f
        .github
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(create.json()["base"], "release");
    assert_eq!(f.checkout(), before);

    let run = f.pr(&["--base", "nosuchbranch"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("the base branch `nosuchbranch` does not exist on `origin`"),
        "{run:?}"
    );
}

#[test]
fn a_branch_checked_out_by_the_user_is_not_moved() {
    let f = Fixture::new();
    let theirs = f.git(
        &f.work,
        &["commit-tree", "main^{tree}", "-p", "main", "-m", "by hand"],
    );
    f.git(&f.work, &["switch", "-q", "-c", BRANCH, &theirs]);
    let before = f.checkout();
    let run = f.pr(&["--force"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains(&format!("the branch `{BRANCH}` is checked out in")),
        "{run:?}"
    );
    assert_eq!(f.local_ref(BRANCH).as_deref(), Some(theirs.as_str()));
    assert_eq!(f.remote_ref(BRANCH), None);
    assert_eq!(f.checkout(), before);
}

#[test]
fn an_unreachable_github_api_is_a_clear_error() {
    let f = Fixture::new();
    // A port nothing listens on: bind one, then close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = format!("http://127.0.0.1:{port}");
    let mut args: Vec<&str> = STAGE.to_vec();
    args.extend(["--github-api", &api, "--github-repo", "lsst-sqre/phalanx"]);
    let run = f.gm(&args);
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach the GitHub API at {api} to look for an open pull request in lsst-sqre/phalanx"
        )),
        "{run:?}"
    );
    assert!(run.stderr.contains("is pushed to `origin` and stays there"));
    assert!(f.remote_ref(BRANCH).is_some());
}

// ---------------------------------------------------------------------------------------------
// Git as the user has it: signing, .gitattributes, non-ASCII names.

/// The first `name` on this process's PATH.
fn system_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH");
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} on PATH (openssh-client)"))
}

impl Fixture {
    /// An SSH signing key made for the test (`ssh-keygen` on the tools' PATH), configured as
    /// the user would: `gpg.format ssh`, `user.signingKey`, `commit.gpgSign`, and an allowed
    /// signers file naming it; returns that file.
    fn ssh_signing(&self) -> PathBuf {
        std::os::unix::fs::symlink(system_tool("ssh-keygen"), self.bin.join("ssh-keygen")).unwrap();
        let key = self.home.join("signing_ed25519");
        let out = Command::new(system_tool("ssh-keygen"))
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "operator@example.org",
                "-f",
            ])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-keygen: {out:?}");
        let public = fs::read_to_string(key.with_extension("pub")).unwrap();
        let allowed = self.home.join("allowed_signers");
        fs::write(&allowed, format!("operator@example.org {public}")).unwrap();
        for (k, v) in [
            ("gpg.format", "ssh"),
            ("user.signingKey", key.to_str().unwrap()),
            ("commit.gpgSign", "true"),
            ("gpg.ssh.allowedSignersFile", allowed.to_str().unwrap()),
        ] {
            self.git(&self.work, &["config", k, v]);
        }
        allowed
    }
}

#[test]
fn commit_gpg_sign_signs_the_pushed_commit_and_it_verifies() {
    let f = Fixture::new();
    let allowed = f.ssh_signing();
    f.pr(&["--no-pr"]).assert_code(0);
    let tip = f.remote_ref(BRANCH).expect("pushed");
    // The commit that reached the remote carries a signature that Git verifies against the
    // allowed signers.
    let raw = f.git(&f.bare, &["cat-file", "commit", &tip]);
    assert!(
        raw.contains("gpgsig -----BEGIN SSH SIGNATURE-----"),
        "{raw}"
    );
    let allowed_cfg = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let (ok, out, err) = f.try_git(&f.bare, &["-c", &allowed_cfg, "verify-commit", "-v", &tip]);
    assert!(ok, "verify-commit failed:\n{out}\n{err}");
    assert!(
        err.contains("Good \"git\" signature for operator@example.org"),
        "{err}"
    );
    // The user's own `git log --show-signature` agrees (the work repository's configuration).
    let shown = f.git(&f.work, &["log", "-1", "--format=%G?", &tip]);
    assert_eq!(shown, "G", "a good signature");
}

#[test]
fn without_commit_gpg_sign_the_commit_is_not_signed() {
    let f = Fixture::new();
    f.pr(&["--no-pr"]).assert_code(0);
    let tip = f.remote_ref(BRANCH).expect("pushed");
    let raw = f.git(&f.bare, &["cat-file", "commit", &tip]);
    assert!(!raw.contains("gpgsig"), "{raw}");
}

#[test]
fn a_signing_key_git_cannot_use_is_a_clear_refusal_and_nothing_is_pushed() {
    let f = Fixture::new();
    f.ssh_signing();
    let missing = f.home.join("no_such_key");
    f.git(
        &f.work,
        &["config", "user.signingKey", missing.to_str().unwrap()],
    );
    let run = f.pr(&["--no-pr"]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("`commit.gpgSign` is set, and Git could not sign the commit"),
        "{}",
        run.stderr
    );
    assert_eq!(f.remote_ref(BRANCH), None);
    assert_eq!(f.local_ref(BRANCH), None);
}

/// A repository whose `.gitattributes` stores YAML with LF in Git and checks it out with CRLF:
/// the branch must hold what `git add` would store (LF), not the work tree's bytes, and the
/// work tree (CRLF) must count as the same as the base.
#[test]
fn blobs_go_through_the_gitattributes_filters_of_their_path() {
    let f = Fixture::new();
    fs::write(f.work.join(".gitattributes"), "*.yaml text eol=crlf\n").unwrap();
    f.git(&f.work, &["add", ".gitattributes"]);
    f.git(&f.work, &["commit", "-q", "-m", "CRLF checkouts"]);
    f.git(&f.work, &["push", "-q", "origin", "main"]);
    // Check the files out again, now with CRLF line endings.
    f.git(&f.work, &["rm", "-q", "--cached", "-r", "."]);
    f.git(&f.work, &["reset", "-q", "--hard"]);
    let text = fs::read(f.work.join("applications/nublado/values-idfdev.yaml")).unwrap();
    assert!(
        text.windows(2).any(|w| w == b"\r\n"),
        "checked out with CRLF"
    );

    f.pr(&["--no-pr"]).assert_code(0);
    let tip = f.remote_ref(BRANCH).expect("pushed");
    assert_eq!(
        f.git(&f.bare, &["rev-parse", &format!("{tip}^{{tree}}")]),
        f.applied_tree(&["nublado", "make-default", "--env", "idfdev"]),
        "the branch holds what `apply` then `git add` would commit"
    );
    let blob = f.git(
        &f.bare,
        &[
            "cat-file",
            "-p",
            &format!("{tip}:applications/nublado/values-idfdev.yaml"),
        ],
    );
    assert!(!blob.contains('\r'), "stored with LF, as Git normalizes it");
}

/// A Phalanx repository under a folder with a non-ASCII name: Git quotes such names in
/// `ls-tree` unless `-z`, which made every file look absent from the base.
#[test]
fn a_repository_under_a_non_ascii_folder_name_is_committed_at_its_path() {
    let f = Fixture::new_in("déploiement/phalanx");
    f.pr(&["--no-pr"]).assert_code(0);
    let tip = f.remote_ref(BRANCH).unwrap();
    assert_eq!(
        f.git(
            &f.bare,
            &[
                "-c",
                "core.quotePath=false",
                "diff",
                "--name-only",
                "main",
                &tip
            ]
        ),
        "déploiement/phalanx/applications/mobu/values-idfdev.yaml\n\
         déploiement/phalanx/applications/nublado/values-idfdev.yaml\n\
         déploiement/phalanx/applications/nublado2/values-idfdev.yaml"
    );
    assert_eq!(
        f.git(&f.bare, &["rev-parse", &format!("{tip}^{{tree}}")]),
        f.applied_tree(&["nublado", "make-default", "--env", "idfdev"])
    );
}

/// The delivery as a library call: a wrong argument is a typed input failure, returned before
/// Git or GitHub is asked anything (the fixture is not even a Git repository).
#[test]
fn the_delivery_refuses_wrong_arguments_before_anything() {
    use gitops_migrate::deliver::{self, Request};
    use gitops_migrate::playbook::Playbook;
    use gitops_migrate::playbook::nublado::{Nublado, Request as Envs, stages::Stage};

    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phalanx"),
        dir.path(),
    );
    let repo = gitops_migrate::repo::open(dir.path()).unwrap();
    let p = Nublado::open(repo).unwrap_or_else(|u| panic!("{:?}", u.errors));
    let envs = Envs {
        envs: vec!["idfdev".into()],
        ..Envs::default()
    };
    let plan = Nublado::plan(&p, Stage::MakeDefault, &envs).unwrap();
    assert!(!plan.is_nothing_to_do());
    let repo = Nublado::into_repo(p);
    let cases = [
        (
            Request {
                remote: "origin",
                push: true,
                open_pr: true,
                github_repo: Some("not-a-repo"),
                ..Request::default()
            },
            "--github-repo `not-a-repo`: expected OWNER/REPO",
        ),
        (
            Request {
                remote: "origin",
                push: true,
                open_pr: true,
                github_api: Some("ftp://github.example.org"),
                ..Request::default()
            },
            "--github-api `ftp://github.example.org`: expected an http(s) URL",
        ),
    ];
    for (request, expected) in cases {
        let Err(failure) = deliver::prepare(&repo, &plan, &request) else {
            panic!("{expected}: prepared");
        };
        assert!(failure.input, "{}", failure.message);
        assert!(failure.message.contains(expected), "{}", failure.message);
        assert!(failure.findings.is_empty() && failure.note.is_none());
    }
}
