//! `update-dns`: moves the hub's domain to the target cluster. Reads the target's ingress
//! address (namespace `support`, Service `cluster-entrypoint`, else the older
//! `support-ingress-nginx-controller`; `status.loadBalancer.ingress[0]`), prints the record to
//! set — `A` for an IP, `CNAME` for a hostname (AWS) — waits for the operator to set it, then
//! polls DNS until the domain resolves to that address, with progress, before the cutover is
//! declared done. Already resolving there = done.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{MoveEnv, StepEnv, Timing, nap, with_retries};
use crate::playbook::Step;
use crate::runtime::clients::Resolver;
use crate::runtime::clients::kube::{KubeApi, LoadBalancerIngress};
use crate::runtime::{Action, Operator, Outcome, Preview, StepError, StepRunner};
use crate::util::time::human;

/// Where the ingress of a 2i2c cluster is, newest first.
pub const INGRESS_NAMESPACE: &str = "support";
pub const INGRESS_SERVICES: [&str; 2] = ["cluster-entrypoint", "support-ingress-nginx-controller"];

/// The record the domain needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    A(IpAddr),
    Cname(String),
}

impl Record {
    /// `hub.example.org. 300 IN A 203.0.113.7`.
    pub fn zone_line(&self, domain: &str) -> String {
        match self {
            Record::A(ip) => format!(
                "{domain}. 300 IN {} {ip}",
                if ip.is_ipv4() { "A" } else { "AAAA" }
            ),
            Record::Cname(h) => format!("{domain}. 300 IN CNAME {}.", h.trim_end_matches('.')),
        }
    }
}

pub struct UpdateDns {
    id: String,
    title: String,
    domain: String,
    cluster: String,
    context: String,
    kube: Arc<dyn KubeApi>,
    resolver: Arc<dyn Resolver>,
    timing: Timing,
}

impl UpdateDns {
    pub fn new(
        step: &Step,
        env: &StepEnv,
        mv: &MoveEnv,
        kube: Arc<dyn KubeApi>,
        resolver: Arc<dyn Resolver>,
    ) -> UpdateDns {
        UpdateDns {
            id: step.id.clone(),
            title: step.title.clone(),
            domain: mv.domain.clone(),
            cluster: mv.target.cluster.clone(),
            context: mv.target.context.clone().unwrap_or_default(),
            kube,
            resolver,
            timing: env.timing.clone(),
        }
    }

    /// The target's ingress address and the Service it was read from.
    fn ingress(&self) -> Result<(Record, String), StepError> {
        for name in INGRESS_SERVICES {
            let Some(svc) = with_retries(&self.timing, || {
                self.kube.get_service(INGRESS_NAMESPACE, name)
            })?
            else {
                continue;
            };
            let Some(first) = svc.ingress.first() else {
                return Err(StepError::retry(format!(
                    "Service `{INGRESS_NAMESPACE}/{name}` of `{}` has no load balancer address yet",
                    self.cluster
                )));
            };
            let record = match first {
                LoadBalancerIngress::Ip(ip) => Record::A(ip.parse().map_err(|_| {
                    StepError::fatal(format!(
                        "Service `{INGRESS_NAMESPACE}/{name}` of `{}` has a load balancer IP `{ip}` that is not an address",
                        self.cluster
                    ))
                })?),
                LoadBalancerIngress::Hostname(h) => Record::Cname(h.clone()),
            };
            return Ok((record, name.to_string()));
        }
        Err(StepError::fatal(format!(
            "cluster `{}` has no ingress Service in namespace `{INGRESS_NAMESPACE}` ({}): is the support chart deployed?",
            self.cluster,
            INGRESS_SERVICES.join(" or ")
        )))
    }

    /// The addresses the domain must resolve to (one of them is enough: load balancers
    /// behind a hostname answer with rotating subsets).
    fn expected(&self, record: &Record) -> Result<Vec<IpAddr>, String> {
        match record {
            Record::A(ip) => Ok(vec![*ip]),
            Record::Cname(h) => self.resolver.resolve(h),
        }
    }

    /// Whether the domain resolves to the ingress now, and what it resolves to.
    fn check(&self, record: &Record) -> (bool, String) {
        let now = match self.resolver.resolve(&self.domain) {
            Ok(ips) => ips,
            Err(e) => return (false, e),
        };
        let shown = now
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match self.expected(record) {
            Ok(want) => (
                now.iter().any(|ip| want.contains(ip)),
                format!("{} resolves to {shown}", self.domain),
            ),
            Err(e) => (false, e),
        }
    }
}

impl StepRunner for UpdateDns {
    fn id(&self) -> &str {
        &self.id
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn timeout(&self) -> Duration {
        self.timing.dns + Duration::from_secs(60)
    }

    fn preview(&self, _op: &mut dyn Operator) -> Result<Preview, StepError> {
        let (record, svc) = self.ingress()?;
        let (done, seen) = self.check(&record);
        if done {
            return Ok(Preview {
                action: Action::Skip {
                    reason: format!(
                        "{seen}: already the ingress of `{}` (`{}`)",
                        self.cluster,
                        record.zone_line(&self.domain)
                    ),
                },
                commands: Vec::new(),
            });
        }
        Ok(Preview {
            action: Action::Run {
                touches: vec![format!("dns/{}", self.domain)],
            },
            commands: vec![
                format!(
                    "kubectl --context {} --namespace {INGRESS_NAMESPACE} get svc {svc} -o jsonpath='{{.status.loadBalancer.ingress[0]}}'",
                    self.context
                ),
                format!("(at the DNS provider) {}", record.zone_line(&self.domain)),
                format!("dig +short {}", self.domain),
            ],
        })
    }

    fn run(&self, _preview: &Preview, op: &mut dyn Operator) -> Result<Outcome, StepError> {
        let (record, svc) = self.ingress()?;
        let line = record.zone_line(&self.domain);
        let (done, seen) = self.check(&record);
        if !done {
            op.say(&format!(
                "the ingress of `{}` (`{INGRESS_NAMESPACE}/{svc}`) wants this record; now {seen}:\n    {line}",
                self.cluster
            ));
            // A person's edit at the DNS provider: `--yes` does not answer it, and the time
            // spent on it is not the step's (its wait starts after the answer).
            if !op.verify(&format!(
                "Set `{line}` at the DNS provider (replacing the old record)?"
            )) {
                return Err(StepError::fatal(format!(
                    "the DNS record of {} was not confirmed",
                    self.domain
                )));
            }
        }
        let started = Instant::now();
        let deadline = started + self.timing.dns;
        let mut polls = 0u64;
        loop {
            let (done, seen) = self.check(&record);
            if done {
                return Ok(Outcome {
                    touched: vec![format!("dns/{}", self.domain)],
                    summary: format!(
                        "{seen}, the ingress of `{}` (`{line}`), after {}",
                        self.cluster,
                        human(started.elapsed())
                    ),
                });
            }
            polls += 1;
            let waited = started.elapsed();
            op.progress(
                &self.id,
                waited.as_secs(),
                self.timing.dns.as_secs(),
                &format!("waiting for DNS ({seen}; poll {polls})"),
            );
            if Instant::now() >= deadline {
                return Err(StepError::fatal(format!(
                    "after {}, {seen}, not the ingress of `{}`: check the record `{line}` (old records live for their TTL); --resume polls again",
                    human(waited),
                    self.cluster
                )));
            }
            nap(self.timing.poll.max(Duration::from_millis(10)), deadline)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_lines() {
        let a = Record::A("203.0.113.7".parse().unwrap());
        assert_eq!(
            a.zone_line("hub.example.org"),
            "hub.example.org. 300 IN A 203.0.113.7"
        );
        let c = Record::Cname("abc.elb.amazonaws.com".into());
        assert_eq!(
            c.zone_line("hub.example.org"),
            "hub.example.org. 300 IN CNAME abc.elb.amazonaws.com."
        );
        let v6 = Record::A("2001:db8::1".parse().unwrap());
        assert!(v6.zone_line("h").contains("IN AAAA 2001:db8::1"));
    }
}
