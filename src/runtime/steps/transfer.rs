//! `transfer-homes`, `transfer-homes:final`: the home directories of a hub on
//! `jupyterhub-home-nfs`, copied between the `home-transfer` sidecars that `setup` added to
//! both hubs' NFS server pods (`playbook::hub_move::transfer`).
//!
//! 1. Read the destination sidecar's sshd host keys through the target's Kubernetes API
//!    (`kubectl exec` into the sidecar: the authenticated channel), before anything is
//!    exposed: the copy trusts only the server that shows one of them.
//! 2. Expose the destination's sidecar: a LoadBalancer Service in the new hub's namespace of
//!    the target, selecting the NFS server's pods (`app=nfs-server`), port 22 (or the
//!    configured one) to the sidecar's sshd, reachable only from `--transfer-allow` ranges
//!    when given (`loadBalancerSourceRanges`); wait until the load balancer has an address.
//!    A Service of that name that is not one of ours is left alone, and the step stops.
//! 3. In the source's sidecar (`kubectl exec -i`, through the operator's kubectl with the
//!    copy's time limit), run rsync over ssh to that address, with strict host key checking
//!    against the keys of step 1. The private key goes on the command's standard input, where
//!    a small script writes it to a 0600 file inside the container (removed when it ends): it
//!    is never an argument, a file of the repository or a line of any log. The input then
//!    stays open while kubectl runs: its end (kubectl stopped at its limit or interrupted)
//!    ends rsync in the pod too. Each file copied is a line of rsync's output: progress.
//! 4. Delete the Service, whether the copy worked or not.
//!
//! The initial copy never deletes; the final one deletes in the target what is gone from the
//! source only with `--delete`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{MoveEnv, Side, StepEnv, Timing, cleanup_with_retries, nap, with_retries, within_wait};
use crate::playbook::Step;
use crate::playbook::hub_move::transfer::{
    EXPORT, NFS_POD_LABEL, SIDECAR, SIDECAR_PORT, SIDECAR_USER, check_public_key,
};
use crate::runtime::clients::kube::{KubeApi, LoadBalancerIngress};
use crate::runtime::clients::{PodFiles, PodRef};
use crate::runtime::process::{Input, Limits};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::redact::Redactor;
use crate::util::time::human;

/// The Service that exposes the destination's sidecar during a copy.
pub const SERVICE: &str = "gitops-migrate-home-transfer";
/// The port the Service listens on by default.
pub const DEFAULT_PORT: u16 = 22;
/// How long rsync waits for data before it gives up (`--timeout`, in seconds; rsync sends
/// keep-alives while it scans, so a long scan of unchanged files is not a stall).
const IO_TIMEOUT: u32 = 600;
/// How long a load balancer may take to get an address.
const ADDRESS: Duration = Duration::from_secs(10 * 60);
/// How long a copy may take: copies of large shares take hours; rsync resumes what a stopped
/// one left.
const LIMIT: Duration = Duration::from_secs(48 * 3600);

/// The label value (`app.kubernetes.io/component`) that marks the Service as the transfer's.
const COMPONENT: &str = "home-transfer";
/// The line that ends the private key on the script's standard input.
const END_OF_KEY: &str = "gitops-migrate: end of key";
/// Where the sidecar image keeps its sshd host keys (`ssh_host_*_key.pub`): the first that
/// has some is read.
const HOST_KEY_DIRS: [&str; 2] = ["/config/ssh_host_keys", "/etc/ssh"];

/// Runs in the destination's sidecar: prints the readable public host keys of the first of
/// `$@` that has some.
const HOST_KEYS_SCRIPT: &str = r#"for d in "$@"; do
  found=
  for f in "$d"/ssh_host_*_key.pub; do
    if [ -r "$f" ] && cat "$f" && echo; then found=1; fi
  done
  if [ -n "$found" ]; then exit 0; fi
done
echo "no readable ssh_host_*_key.pub in $*" >&2
exit 3
"#;

/// Runs in the source's sidecar: `$1` the source directory, `$2` `user@address:directory`,
/// `$3` the port, `$4` `--delete` or empty, `$5` rsync's I/O timeout, `$6` the destination's
/// host keys (one per line), `$7` the line that ends the key; the private key on standard
/// input up to that line. The host keys are known as `gitops-migrate-home-transfer`
/// (`HostKeyAlias`: whatever address and port the load balancer has), and no other key is
/// accepted. The input then stays open while kubectl runs; when it ends (kubectl stopped or
/// interrupted), rsync is stopped. Every 30 s the script prints `alive`: rsync prints only
/// what it copies, and an exec stream silent for minutes may be closed on the way (a load
/// balancer's idle timeout in front of the API server, the kubelet's idle limit).
const SCRIPT: &str = r#"set -eu
umask 077
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
while IFS= read -r l; do
  [ "$l" = "$7" ] && break
  printf '%s\n' "$l" >> "$d/key"
done
[ -s "$d/key" ] || { echo "no private key on standard input" >&2; exit 2; }
printf '%s\n' "$6" | while IFS= read -r h; do
  [ -z "$h" ] || printf '%s %s\n' gitops-migrate-home-transfer "$h"
done > "$d/known_hosts"
echo "entries $(find "$1" -mindepth 1 | wc -l)"
rsync -aHAX --numeric-ids --partial --timeout="$5" --out-format='copied %n' ${4:+"$4"} \
  -e "ssh -F /dev/null -i $d/key -p $3 -o BatchMode=yes -o HostKeyAlias=gitops-migrate-home-transfer -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$d/known_hosts -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR" \
  "$1" "$2" &
r=$!
exec 3<&0
( while IFS= read -r _ <&3; do :; done; kill "$r" 2>/dev/null ) >/dev/null 2>&1 &
w=$!
( trap 'kill "$p" 2>/dev/null; exit 0' TERM
  while :; do sleep 30 </dev/null >/dev/null 2>&1 & p=$!; wait "$p"; echo alive; done ) &
a=$!
s=0
wait "$r" || s=$?
kill "$w" "$a" 2>/dev/null || true
exit "$s"
"#;

pub struct TransferHomes {
    id: String,
    title: String,
    delete: bool,
    source: (String, String, Arc<dyn KubeApi>),
    target: (String, String, String, Arc<dyn KubeApi>),
    kubectl: Arc<dyn PodFiles>,
    key: Option<PathBuf>,
    user: String,
    port: u16,
    /// `loadBalancerSourceRanges` (empty: reachable from anywhere).
    allow: Vec<String>,
    address_wait: Duration,
    limit: Duration,
    timing: Timing,
}

impl TransferHomes {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        mv: &MoveEnv,
        last: bool,
        kubectl: Arc<dyn PodFiles>,
    ) -> Result<TransferHomes, StepError> {
        let id = step.id.as_str();
        let side = |s: &Side| -> Result<(String, Arc<dyn KubeApi>), StepError> {
            Ok((s.context(id)?.to_string(), s.kube(id)?))
        };
        let (sctx, skube) = side(&mv.source)?;
        let (tctx, tkube) = side(&mv.target)?;
        Ok(TransferHomes {
            id: step.id.clone(),
            title: step.title.clone(),
            delete: last && mv.delete_homes,
            source: (sctx, mv.source.namespace.clone(), skube),
            target: (
                tctx,
                mv.target.namespace.clone(),
                mv.target.cluster.clone(),
                tkube,
            ),
            kubectl,
            key: mv.transfer_key.clone(),
            user: if mv.transfer_user.is_empty() {
                SIDECAR_USER.to_string()
            } else {
                mv.transfer_user.clone()
            },
            port: if mv.transfer_port == 0 {
                DEFAULT_PORT
            } else {
                mv.transfer_port
            },
            allow: mv.transfer_allow.clone(),
            address_wait: if mv.transfer_address_wait.is_zero() {
                ADDRESS
            } else {
                mv.transfer_address_wait
            },
            limit: if mv.transfer_limit.is_zero() {
                LIMIT
            } else {
                mv.transfer_limit
            },
            timing: env.timing.clone(),
        })
    }

    fn manifest(&self) -> serde_json::Value {
        let mut m = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": SERVICE,
                "labels": {
                    "app.kubernetes.io/managed-by": "gitops-migrate",
                    "app.kubernetes.io/component": COMPONENT,
                },
            },
            "spec": {
                "type": "LoadBalancer",
                "selector": selector(),
                "ports": [{
                    "name": "ssh-transfer",
                    "protocol": "TCP",
                    "port": self.port,
                    "targetPort": SIDECAR_PORT,
                }],
            },
        });
        if !self.allow.is_empty() {
            m["spec"]["loadBalancerSourceRanges"] = json!(self.allow);
        }
        m
    }

    /// The public host keys of the destination sidecar's sshd (`type base64` lines), read in
    /// the sidecar through the target's API; refused when there is none.
    fn host_keys(&self) -> Result<(PodRef, Vec<String>), StepError> {
        let (ctx, ns, cluster, kube) = &self.target;
        let at = running_pod(&self.timing, kube.as_ref(), ctx, ns, "target")?;
        let mut argv = vec!["sh", "-c", HOST_KEYS_SCRIPT, "host-keys"];
        argv.extend(HOST_KEY_DIRS);
        // A sidecar still starting (its keys not made yet, its container not running) or a
        // call that got no answer may do better later: nothing is exposed yet, so the step is
        // tried again.
        let said = self.kubectl.exec(&at, &argv).map_err(|e| {
            StepError::retry(format!(
                "cannot read the sshd host key of the `{SIDECAR}` sidecar of {} in `{cluster}` ({}): the copy verifies the server it reaches with it; is the new hub deployed with the sidecar? Nothing was exposed or copied",
                at.describe(),
                e.message
            ))
        })?;
        let mut keys = Vec::new();
        for line in said.lines().map(str::trim).filter(|l| !l.is_empty()) {
            check_public_key(line).map_err(|why| {
                StepError::fatal(format!(
                    "the sshd host key read from the `{SIDECAR}` sidecar of {} is unusable ({why}): nothing was exposed or copied",
                    at.describe()
                ))
            })?;
            let words: Vec<&str> = line.split_whitespace().take(2).collect();
            keys.push(words.join(" "));
        }
        if keys.is_empty() {
            return Err(StepError::retry(format!(
                "the `{SIDECAR}` sidecar of {} has no sshd host key to verify the copy with (in {}): nothing was exposed or copied",
                at.describe(),
                HOST_KEY_DIRS.join(" or ")
            )));
        }
        Ok((at, keys))
    }

    fn src_dir(&self) -> String {
        format!("{EXPORT}/{}/", self.source.1)
    }

    fn dst_dir(&self) -> String {
        format!("{EXPORT}/{}/", self.target.1)
    }

    /// The private key, read now; refused (without showing it) unless it is one.
    fn key(&self) -> Result<String, StepError> {
        let path = self.key.as_ref().ok_or_else(|| {
            StepError::fatal(format!(
                "step `{}` needs the private key of the transfer: pass --transfer-key FILE (the key whose `.pub` setup put into the sidecars)",
                self.id
            ))
        })?;
        let path = match path.to_str().and_then(|p| p.strip_suffix(".pub")) {
            Some(p) => PathBuf::from(p),
            None => path.clone(),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            StepError::fatal(format!(
                "cannot read the transfer key {}: {e}",
                path.display()
            ))
        })?;
        if !text.contains("PRIVATE KEY-----") {
            return Err(StepError::fatal(format!(
                "{} is not a private key (OpenSSH or PEM)",
                path.display()
            )));
        }
        Ok(text)
    }

    /// The NFS server pod of the source hub, whose sidecar runs rsync.
    fn source_pod(&self) -> Result<PodRef, StepError> {
        let (ctx, ns, kube) = &self.source;
        running_pod(&self.timing, kube.as_ref(), ctx, ns, "source")
    }

    /// Waits until the Service's load balancer has an address.
    fn address(&self, op: &mut dyn Operator) -> Result<String, StepError> {
        let (_, ns, cluster, kube) = &self.target;
        let started = Instant::now();
        let deadline = started + self.address_wait;
        loop {
            let svc = within_wait(&self.timing, deadline, || kube.get_service(ns, SERVICE))?
                .ok_or_else(|| {
                    StepError::fatal(format!(
                        "Service `{ns}/{SERVICE}` of `{cluster}` disappeared while waiting for its address"
                    ))
                })?;
            if let Some(first) = svc.ingress.first() {
                return Ok(match first {
                    LoadBalancerIngress::Ip(ip) => ip.clone(),
                    LoadBalancerIngress::Hostname(h) => h.clone(),
                });
            }
            op.progress(
                &self.id,
                started.elapsed().as_secs(),
                self.address_wait.as_secs(),
                &format!("waiting for the load balancer of `{ns}/{SERVICE}`"),
            );
            if Instant::now() >= deadline {
                return Err(StepError::fatal(format!(
                    "after {}, Service `{ns}/{SERVICE}` of `{cluster}` has no load balancer address: does the cluster provision LoadBalancer Services?",
                    human(started.elapsed())
                )));
            }
            nap(self.timing.poll.max(Duration::from_millis(10)), deadline)?;
        }
    }

    /// The copy itself, once the Service exists.
    fn copy(
        &self,
        op: &mut dyn Operator,
        key: &str,
        host_keys: &[String],
        target_pod: &PodRef,
        at: PodRef,
    ) -> Result<Outcome, StepError> {
        let address = self.address(op)?;
        op.say(&format!(
            "the sidecar of `{}` in `{}` answers at {address}:{}",
            self.target.1, self.target.2, self.port
        ));
        if self.allow.is_empty() {
            op.say(&format!(
                "{address}:{} is reachable from anywhere (no --transfer-allow): the copy is protected by the key pair and the sidecar's host key, pinned from the target's API",
                self.port
            ));
        } else {
            op.say(&format!(
                "{address}:{} is reachable only from {}",
                self.port,
                self.allow.join(", ")
            ));
        }
        // An IPv6 address is bracketed for rsync (`user@[2001:db8::1]:/dir`).
        let host = if address.contains(':') {
            format!("[{address}]")
        } else {
            address.clone()
        };
        let dest = format!("{}@{host}:{}", self.user, self.dst_dir());
        let port = self.port.to_string();
        let src = self.src_dir();
        let delete = if self.delete { "--delete" } else { "" };
        let io_timeout = IO_TIMEOUT.to_string();
        let known = host_keys.join("\n");
        let argv = [
            "sh",
            "-c",
            SCRIPT,
            "transfer",
            src.as_str(),
            dest.as_str(),
            port.as_str(),
            delete,
            io_timeout.as_str(),
            known.as_str(),
            END_OF_KEY,
        ];
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let kubectl = self.kubectl.clone();
        // A stall ends at rsync's own `--timeout`; output comes only for changed files, so
        // silence alone says nothing.
        let limits = Limits {
            total: Some(self.limit),
            silence: None,
        };
        let started = Instant::now();
        let mut input = key.trim_end().as_bytes().to_vec();
        input.extend_from_slice(format!("\n{END_OF_KEY}\n").as_bytes());
        let at2 = at.clone();
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let worker = std::thread::spawn(move || {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            kubectl.exec_input(
                &at2,
                &argv,
                Input::BytesHeldOpen(&input),
                limits,
                Box::new(move |line: &str| {
                    let _ = tx.send(line.to_string());
                }),
            )
        });
        let (mut total, mut copied) = (0u64, 0u64);
        for line in rx {
            if let Some(n) = line.strip_prefix("entries ") {
                total = n.trim().parse().unwrap_or(0);
            } else if let Some(name) = line.strip_prefix("copied ") {
                copied += 1;
                op.progress(&self.id, copied, total.max(copied), name);
            }
        }
        let redact = Redactor::new(key.lines().filter(|l| l.len() > 16));
        worker
            .join()
            .map_err(|_| StepError::fatal("the transfer's thread failed"))?
            .map_err(|e| {
                let why = redact.redact(&e.message);
                if why.contains("Host key verification failed") {
                    StepError::fatal(format!(
                        "the server answering at {address}:{} did not show the host key of the `{SIDECAR}` sidecar of {} (read through the target's API): something else answers at the load balancer's address, or the sidecar's keys changed since; nothing was copied to it (ssh in the `{SIDECAR}` sidecar of {}: Host key verification failed)",
                        self.port,
                        target_pod.describe(),
                        at.describe(),
                    ))
                } else {
                    StepError::fatal(format!(
                        "rsync in the `{SIDECAR}` sidecar of {} failed: {why}",
                        at.describe(),
                    ))
                }
            })?;
        Ok(Outcome {
            touched: vec![format!("homes:{}/{}", self.target.2, self.target.1)],
            summary: format!(
                "copied {} of {} entries from {}:{} to {}:{} through {address}:{} in {}{}",
                copied,
                total,
                at.describe(),
                self.src_dir(),
                self.target.2,
                self.dst_dir(),
                self.port,
                human(started.elapsed()),
                if self.delete { ", with --delete" } else { "" }
            ),
        })
    }
}

/// The running NFS server pod of a side's namespace, as the `home-transfer` sidecar to reach.
fn running_pod(
    timing: &Timing,
    kube: &dyn KubeApi,
    ctx: &str,
    ns: &str,
    side: &str,
) -> Result<PodRef, StepError> {
    let pods = with_retries(timing, || kube.list_pods(ns, Some(NFS_POD_LABEL)))?;
    let pod = pods
        .iter()
        .find(|p| p.phase == "Running" && !p.deleting)
        .ok_or_else(|| {
            StepError::retry(format!(
                "no running jupyterhub-home-nfs pod (`{NFS_POD_LABEL}`) in namespace `{ns}` of the {side}: is the hub deployed with the `{SIDECAR}` sidecar?"
            ))
        })?;
    Ok(PodRef {
        context: ctx.to_string(),
        namespace: ns.to_string(),
        pod: pod.name.clone(),
        container: SIDECAR.into(),
    })
}

/// The Service's selector: the NFS server's pods, as `NFS_POD_LABEL` names them.
fn selector() -> serde_json::Value {
    let (key, value) = NFS_POD_LABEL
        .split_once('=')
        .expect("NFS_POD_LABEL is key=value");
    json!({ key: value })
}

impl StepRunner for TransferHomes {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn destructive(&self) -> bool {
        self.delete
    }

    fn timeout(&self) -> Duration {
        self.limit
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let (sctx, sns, _) = &self.source;
        let (tctx, tns, _, _) = &self.target;
        Ok(Preview {
            action: Action::Run {
                touches: vec![
                    format!(
                        "service/{tns}/{SERVICE} (LoadBalancer reachable {}, deleted after the copy)",
                        if self.allow.is_empty() {
                            "from anywhere".to_string()
                        } else {
                            format!("only from {}", self.allow.join(", "))
                        }
                    ),
                    format!("homes:{}/{tns}", self.target.2),
                ],
            },
            commands: vec![
                format!(
                    "kubectl --context {tctx} --namespace {tns} exec <{NFS_POD_LABEL} pod> -c {SIDECAR} -- cat {}/ssh_host_*_key.pub (the host keys the copy accepts; else {}/…)",
                    HOST_KEY_DIRS[0], HOST_KEY_DIRS[1]
                ),
                format!(
                    "kubectl --context {tctx} --namespace {tns} apply -f - <<< '{}'",
                    self.manifest()
                ),
                format!(
                    "kubectl --context {sctx} --namespace {sns} exec -i <{NFS_POD_LABEL} pod> -c {SIDECAR} -- rsync -aHAX --numeric-ids --partial{} {} {}@<load balancer>:{} (ssh with StrictHostKeyChecking=yes against those host keys; the private key on standard input)",
                    if self.delete { " --delete" } else { "" },
                    self.src_dir(),
                    self.user,
                    self.dst_dir()
                ),
                format!("kubectl --context {tctx} --namespace {tns} delete service {SERVICE}"),
            ],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let key = self.key()?;
        // Read before anything is exposed: the copy trusts only the server showing one.
        let (target_pod, host_keys) = self.host_keys()?;
        // And the pod that copies: no load balancer is made for a source that is not there.
        let source_pod = self.source_pod()?;
        op.say(&format!(
            "read the sshd host key{} of the `{SIDECAR}` sidecar of {}: {}",
            if host_keys.len() == 1 { "" } else { "s" },
            target_pod.describe(),
            host_keys
                .iter()
                .map(|k| k.split(' ').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let (_, ns, cluster, kube) = &self.target;
        with_retries(&self.timing, || kube.create_service(ns, &self.manifest()))?;
        op.say(&format!(
            "created Service `{ns}/{SERVICE}` (LoadBalancer) in `{cluster}` for the copy"
        ));
        let result = self.copy(op, &key, &host_keys, &target_pod, source_pod);
        // The Service goes whatever happened.
        let deleted = cleanup_with_retries(&self.timing, || kube.delete_service(ns, SERVICE));
        match (&result, deleted) {
            (_, Ok(_)) => op.say(&format!("deleted Service `{ns}/{SERVICE}`")),
            (Ok(_), Err(e)) => {
                return Err(StepError::fatal(format!(
                    "the copy worked, but Service `{ns}/{SERVICE}` of `{cluster}` could not be deleted ({e}): delete it (`kubectl --namespace {ns} delete service {SERVICE}`)"
                )));
            }
            (Err(_), Err(e)) => op.say(&format!(
                "Service `{ns}/{SERVICE}` of `{cluster}` could not be deleted ({e}): delete it by hand"
            )),
        }
        result
    }
}
