//! `transfer-homes`, `transfer-homes:final`: the home directories of a hub on
//! `jupyterhub-home-nfs`, copied between the `home-transfer` sidecars that `setup` added to
//! both hubs' NFS server pods (`playbook::hub_move::transfer`).
//!
//! 1. Expose the destination's sidecar: a LoadBalancer Service in the new hub's namespace of
//!    the target, selecting the NFS server's pods (`app=nfs-server`), port 22 (or the
//!    configured one) to the sidecar's sshd; wait until the load balancer has an address.
//! 2. In the source's sidecar (`kubectl exec -i`, through the operator's kubectl with the
//!    copy's time limits), run rsync over ssh to that address. The private key goes on the
//!    command's standard input, where a small script writes it to a 0600 file inside the
//!    container (removed when it ends): it is never an argument, a file of the repository or a
//!    line of any log. Each file copied is a line of rsync's output: progress.
//! 3. Delete the Service, whether the copy worked or not.
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
    EXPORT, NFS_POD_LABEL, SIDECAR, SIDECAR_PORT, SIDECAR_USER,
};
use crate::runtime::clients::kube::{KubeApi, LoadBalancerIngress};
use crate::runtime::clients::{PodFiles, PodRef};
use crate::runtime::process::Limits;
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

/// Runs in the source's sidecar: `$1` the source directory, `$2` `user@address:directory`,
/// `$3` the port, `$4` `--delete` or empty, `$5` rsync's I/O timeout; the private key on
/// standard input.
const SCRIPT: &str = r#"set -eu
umask 077
k=$(mktemp)
trap 'rm -f "$k"' EXIT
cat > "$k"
echo "entries $(find "$1" -mindepth 1 | wc -l)"
rsync -aHAX --numeric-ids --partial --timeout="$5" --out-format='copied %n' ${4:+"$4"} \
  -e "ssh -i $k -p $3 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" \
  "$1" "$2"
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
    address_wait: Duration,
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
            address_wait: if mv.transfer_address_wait.is_zero() {
                ADDRESS
            } else {
                mv.transfer_address_wait
            },
            timing: env.timing.clone(),
        })
    }

    fn manifest(&self) -> serde_json::Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": SERVICE,
                "labels": {"app.kubernetes.io/managed-by": "gitops-migrate"},
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
        })
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
        let pods = with_retries(&self.timing, || kube.list_pods(ns, Some(NFS_POD_LABEL)))?;
        let pod = pods
            .iter()
            .find(|p| p.phase == "Running" && !p.deleting)
            .ok_or_else(|| {
                StepError::retry(format!(
                    "no running jupyterhub-home-nfs pod (`{NFS_POD_LABEL}`) in namespace `{ns}` of the source: is the old hub deployed with the `{SIDECAR}` sidecar?"
                ))
            })?;
        Ok(PodRef {
            context: ctx.clone(),
            namespace: ns.clone(),
            pod: pod.name.clone(),
            container: SIDECAR.into(),
        })
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
    fn copy(&self, op: &mut dyn Operator, key: &str) -> Result<Outcome, StepError> {
        let address = self.address(op)?;
        op.say(&format!(
            "the sidecar of `{}` in `{}` answers at {address}:{}",
            self.target.1, self.target.2, self.port
        ));
        let at = self.source_pod()?;
        let dest = format!("{}@{address}:{}", self.user, self.dst_dir());
        let port = self.port.to_string();
        let src = self.src_dir();
        let delete = if self.delete { "--delete" } else { "" };
        let io_timeout = IO_TIMEOUT.to_string();
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
        ];
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let kubectl = self.kubectl.clone();
        // A stall ends at rsync's own `--timeout`; output comes only for changed files, so
        // silence alone says nothing.
        let limits = Limits {
            total: Some(self.timeout()),
            silence: None,
        };
        let started = Instant::now();
        let input = key.as_bytes().to_vec();
        let at2 = at.clone();
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let worker = std::thread::spawn(move || {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            kubectl.exec_input(
                &at2,
                &argv,
                &input,
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
                StepError::fatal(format!(
                    "rsync in the `{SIDECAR}` sidecar of {} failed: {}",
                    at.describe(),
                    redact.redact(&e.message)
                ))
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
        // Copies of large shares take hours; rsync resumes what a stopped one left.
        Duration::from_secs(48 * 3600)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let (sctx, sns, _) = &self.source;
        let (tctx, tns, _, _) = &self.target;
        Ok(Preview {
            action: Action::Run {
                touches: vec![
                    format!("service/{tns}/{SERVICE} (LoadBalancer, deleted after the copy)"),
                    format!("homes:{}/{tns}", self.target.2),
                ],
            },
            commands: vec![
                format!(
                    "kubectl --context {tctx} --namespace {tns} apply -f - <<< '{}'",
                    self.manifest()
                ),
                format!(
                    "kubectl --context {sctx} --namespace {sns} exec -i <{NFS_POD_LABEL} pod> -c {SIDECAR} -- rsync -aHAX --numeric-ids --partial{} {} {}@<load balancer>:{} (the private key on standard input)",
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
        let (_, ns, cluster, kube) = &self.target;
        with_retries(&self.timing, || kube.create_service(ns, &self.manifest()))?;
        op.say(&format!(
            "created Service `{ns}/{SERVICE}` (LoadBalancer) in `{cluster}` for the copy"
        ));
        let result = self.copy(op, &key);
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
