//! Files in pods, through the operator's own `kubectl`: `kubectl cp` out of and into a pod,
//! `kubectl exec` (with standard input, for the home directories' transfer), and a
//! short-lived helper pod (`apply`, `wait`, `delete`). The hub move's database and
//! home-directory steps need these, and they are the one part of the Kubernetes API that is not
//! plain JSON (`cp` and `exec` stream over SPDY/websocket upgrades), so the operator's
//! `kubectl` does it — with the same kubeconfig and credential plugins as the REST client.
//!
//! Owns: the command lines (every one names its `--context` and `--namespace`, so the current
//! context never matters; a message shows them with scripts and long arguments shortened,
//! [`shown`]), their time limits (a call that hangs — a stalled stream, a
//! credential plugin waiting for a login — is stopped at its limit and says so) and what their
//! failures mean. Does not own: what to copy or check
//! (`steps::hub_db`). No token ever appears in an argument: `kubectl` reads the kubeconfig.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::http::ClientError;
use crate::runtime::process::{self, End, Input, Limits, OnLine};

/// How long one `kubectl` call may take: a copy of a file out of or into a pod (a hub
/// database of some GB over a slow link), and every other call.
pub const COPY_LIMIT: Duration = Duration::from_secs(30 * 60);
pub const CALL_LIMIT: Duration = Duration::from_secs(5 * 60);

/// A container of a pod in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub context: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl PodRef {
    /// `ctx/ns/pod` for messages.
    pub fn describe(&self) -> String {
        format!(
            "pod `{}/{}` of `{}`",
            self.namespace, self.pod, self.context
        )
    }
}

/// What the database step does in pods. Implemented by `Kubectl`; tests put a stand-in
/// `kubectl` on `PATH` that serves files from a temporary directory.
pub trait PodFiles: Send + Sync + fmt::Debug {
    /// `kubectl cp POD:REMOTE LOCAL`.
    fn copy_out(&self, at: &PodRef, remote: &str, local: &Path) -> Result<(), ClientError>;
    /// `kubectl cp LOCAL POD:REMOTE`.
    fn copy_in(&self, at: &PodRef, local: &Path, remote: &str) -> Result<(), ClientError>;
    /// `kubectl exec POD -c C -- ARGV…`; its standard output.
    fn exec(&self, at: &PodRef, argv: &[&str]) -> Result<String, ClientError>;
    /// `kubectl exec -i POD -c C -- ARGV…` with `input` on its standard input (never in an
    /// argument; `Input::BytesHeldOpen` keeps it open until kubectl ends, so that the command
    /// in the pod hears kubectl's end as the end of its input), under `limits` (a copy's total
    /// and silence limits); each line of its standard output goes to `on_line` as it comes.
    /// The end of its standard output (the last 64 KiB: the lines went to `on_line`).
    fn exec_input(
        &self,
        at: &PodRef,
        argv: &[&str],
        input: Input<'_>,
        limits: Limits,
        on_line: OnLine,
    ) -> Result<String, ClientError>;
    /// `kubectl apply -f -` of one manifest (JSON), in a context and namespace.
    fn apply(&self, context: &str, namespace: &str, manifest: &Value) -> Result<(), ClientError>;
    /// `kubectl wait --for=condition=Ready pod/NAME`.
    fn wait_ready(
        &self,
        context: &str,
        namespace: &str,
        pod: &str,
        timeout: Duration,
    ) -> Result<(), ClientError>;
    /// `kubectl delete pod NAME --ignore-not-found`.
    fn delete_pod(&self, context: &str, namespace: &str, pod: &str) -> Result<(), ClientError>;
    /// The equivalent command line of a call, for previews.
    fn command_line(&self, args: &[&str]) -> String {
        format!("kubectl {}", args.join(" "))
    }
}

/// The operator's `kubectl` (from `PATH`, or the program named by `$KUBECTL`).
#[derive(Debug, Clone)]
pub struct Kubectl {
    program: PathBuf,
    /// The limit of a call that is not a copy (a copy has `COPY_LIMIT`, or this if longer).
    limit: Duration,
}

impl Default for Kubectl {
    fn default() -> Self {
        Kubectl::new(
            std::env::var_os("KUBECTL")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("kubectl")),
        )
    }
}

fn base(context: &str, namespace: &str) -> Vec<String> {
    vec![
        "--context".into(),
        context.into(),
        "--namespace".into(),
        namespace.into(),
    ]
}

impl Kubectl {
    pub fn new(program: impl Into<PathBuf>) -> Kubectl {
        Kubectl {
            program: program.into(),
            limit: CALL_LIMIT,
        }
    }

    /// The same, with another limit per call (copies get at least `COPY_LIMIT`).
    pub fn with_limit(mut self, limit: Duration) -> Kubectl {
        self.limit = limit;
        self
    }

    fn run(&self, args: &[String], stdin: Option<&[u8]>) -> Result<String, ClientError> {
        let limit = if args.iter().any(|a| a == "cp") {
            self.limit.max(COPY_LIMIT)
        } else {
            self.limit
        };
        self.run_within(args, stdin, limit)
    }

    fn run_within(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
        limit: Duration,
    ) -> Result<String, ClientError> {
        let input = stdin.map_or(Input::None, Input::Bytes);
        self.run_limited(args, input, Limits::within(limit), None)
    }

    fn run_limited(
        &self,
        args: &[String],
        stdin: Input<'_>,
        limits: Limits,
        on_line: Option<OnLine>,
    ) -> Result<String, ClientError> {
        let shown = shown(args);
        // Status `Some(0)`: kubectl answered (or could not start) and another try would not
        // help; `None`: no answer from the cluster, worth another try.
        let out = process::run_with(
            Command::new(&self.program).args(args),
            stdin,
            limits,
            on_line,
        )
        .map_err(|e| {
            ClientError::new(
                Some(0),
                format!(
                    "cannot run `{}` ({e}); install kubectl or set $KUBECTL",
                    self.program.display()
                ),
            )
        })?;
        match &out.end {
            End::Exited(s) if s.success() => {
                return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            End::Exited(_) => {}
            // Stopped by us: a hang is not retried blindly, an interrupt never.
            _ => {
                return Err(ClientError::new(
                    Some(0),
                    format!(
                        "`{shown}` {}{}",
                        out.describe(),
                        match out.end {
                            End::TimedOut(_) =>
                                " (a credential plugin waiting for a login, or a stalled connection to the cluster?)",
                            _ => "",
                        }
                    ),
                ));
            }
        }
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // "Unable to connect", "i/o timeout", "connection refused": worth another try.
        let transient = ["Unable to connect", "timeout", "connection refused", "EOF"]
            .iter()
            .any(|m| said.contains(m));
        let mut e = ClientError::new(
            if transient { None } else { Some(0) },
            format!(
                "`{shown}` failed ({}): {}",
                out.describe(),
                if said.is_empty() { "no message" } else { &said }
            ),
        );
        e.said = said;
        Err(e)
    }
}

/// The longest argument a message shows whole.
const SHOWN_ARG: usize = 80;

/// A call's command line for messages: `kubectl ARGS…`, where an argument of several lines
/// (a script, a list of keys) is `<N lines>` and one longer than `SHOWN_ARG` characters is cut
/// (`…`), so that a failure says which call failed without repeating what it carried.
pub fn shown(args: &[String]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains('\n') {
                format!("<{} lines>", a.trim_end().lines().count())
            } else if a.chars().count() > SHOWN_ARG {
                let cut: String = a.chars().take(SHOWN_ARG - 1).collect();
                format!("{cut}…")
            } else {
                a.clone()
            }
        })
        .collect();
    format!("kubectl {}", words.join(" "))
}

impl PodFiles for Kubectl {
    fn copy_out(&self, at: &PodRef, remote: &str, local: &Path) -> Result<(), ClientError> {
        let mut a = base(&at.context, &at.namespace);
        a.extend([
            "cp".into(),
            "-c".into(),
            at.container.clone(),
            format!("{}:{remote}", at.pod),
            local.display().to_string(),
        ]);
        self.run(&a, None).map(|_| ())
    }

    fn copy_in(&self, at: &PodRef, local: &Path, remote: &str) -> Result<(), ClientError> {
        let mut a = base(&at.context, &at.namespace);
        a.extend([
            "cp".into(),
            "-c".into(),
            at.container.clone(),
            local.display().to_string(),
            format!("{}:{remote}", at.pod),
        ]);
        self.run(&a, None).map(|_| ())
    }

    fn exec(&self, at: &PodRef, argv: &[&str]) -> Result<String, ClientError> {
        let mut a = base(&at.context, &at.namespace);
        a.extend([
            "exec".into(),
            at.pod.clone(),
            "-c".into(),
            at.container.clone(),
            "--".into(),
        ]);
        a.extend(argv.iter().map(|s| s.to_string()));
        self.run(&a, None)
    }

    fn exec_input(
        &self,
        at: &PodRef,
        argv: &[&str],
        input: Input<'_>,
        limits: Limits,
        on_line: OnLine,
    ) -> Result<String, ClientError> {
        let mut a = base(&at.context, &at.namespace);
        a.extend([
            "exec".into(),
            "-i".into(),
            at.pod.clone(),
            "-c".into(),
            at.container.clone(),
            "--".into(),
        ]);
        a.extend(argv.iter().map(|s| s.to_string()));
        self.run_limited(&a, input, limits, Some(on_line))
    }

    fn apply(&self, context: &str, namespace: &str, manifest: &Value) -> Result<(), ClientError> {
        let mut a = base(context, namespace);
        a.extend(["apply".into(), "-f".into(), "-".into()]);
        self.run(&a, Some(manifest.to_string().as_bytes()))
            .map(|_| ())
    }

    fn wait_ready(
        &self,
        context: &str,
        namespace: &str,
        pod: &str,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let mut a = base(context, namespace);
        a.extend([
            "wait".into(),
            "--for=condition=Ready".into(),
            format!("pod/{pod}"),
            format!("--timeout={}s", timeout.as_secs().max(1)),
        ]);
        // kubectl's own timeout, and a margin for the process.
        self.run_within(&a, None, timeout + self.limit.min(Duration::from_secs(60)))
            .map(|_| ())
    }

    fn delete_pod(&self, context: &str, namespace: &str, pod: &str) -> Result<(), ClientError> {
        let mut a = base(context, namespace);
        a.extend([
            "delete".into(),
            "pod".into(),
            pod.into(),
            "--ignore-not-found".into(),
            "--wait=false".into(),
        ]);
        self.run(&a, None).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_arguments_are_shortened_in_the_shown_command() {
        let long = "x".repeat(200);
        let args: Vec<String> = [
            "--context",
            "c",
            "exec",
            "-i",
            "p",
            "--",
            "sh",
            "-c",
            "set -eu\nrsync -a \"$1\" \"$2\"\n",
            "transfer",
            long.as_str(),
            "/export/prod/",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = shown(&args);
        assert_eq!(
            s,
            format!(
                "kubectl --context c exec -i p -- sh -c <2 lines> transfer {}… /export/prod/",
                "x".repeat(79)
            )
        );
        assert!(!s.contains("rsync"), "{s}");
        // Short arguments are shown as they are.
        let short: Vec<String> = ["get", "pods"].iter().map(|s| s.to_string()).collect();
        assert_eq!(shown(&short), "kubectl get pods");
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let k = Kubectl::new("/nonexistent/kubectl");
        let at = PodRef {
            context: "c".into(),
            namespace: "n".into(),
            pod: "p".into(),
            container: "hub".into(),
        };
        let e = k.exec(&at, &["true"]).unwrap_err();
        assert!(
            e.message.contains("install kubectl or set $KUBECTL"),
            "{e:?}"
        );
        assert!(!e.retryable());
    }

    #[test]
    fn a_hanging_call_ends_at_its_limit_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("kubectl");
        std::fs::write(&prog, "#!/bin/sh\nsleep 30\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let k = Kubectl::new(&prog).with_limit(Duration::from_millis(300));
        let t0 = std::time::Instant::now();
        let e = k.delete_pod("c", "n", "p").unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert!(e.message.contains("timed out after"), "{e:?}");
        assert!(!e.retryable());
    }
}
