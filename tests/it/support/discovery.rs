//! The Kubernetes double's discovery documents and `/version`, as a real API server serves
//! them to clients that find resources by name (`kubectl get ns`, `kubectl scale deploy/x`):
//! `/api` (`APIVersions`), `/apis` (`APIGroupList`), `/apis/<group>` (`APIGroup`) and each
//! group version's `APIResourceList` with the resources the double implements, their verbs,
//! short names and subresources. Only the legacy (unaggregated) discovery: a client that asks
//! for aggregated discovery (`as=APIGroupDiscoveryList`) gets these as `application/json` and
//! falls back to them, as it does with an API server older than 1.26.
//!
//! Owns no state: the documents are the same for every double.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Answer, answer};

/// The Kubernetes version the double claims: kubectl warns when its own minor version is
/// more than one away.
pub const MINOR: &str = "32";

/// `GET /version`.
pub fn version() -> Answer {
    answer(
        200,
        json!({
            "major": "1",
            "minor": MINOR,
            "gitVersion": format!("v1.{MINOR}.4"),
            "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
            "gitTreeState": "clean",
            "buildDate": "2025-04-22T16:00:00Z",
            "goVersion": "go1.23.6",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

fn resource(
    name: &str,
    singular: &str,
    namespaced: bool,
    kind: &str,
    verbs: &[&str],
    short: &[&str],
) -> Value {
    let mut r = json!({
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    });
    if !short.is_empty() {
        r["shortNames"] = json!(short);
    }
    r
}

const OBJECT_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The groups other than the core one, with their (single, preferred) version.
const GROUPS: &[(&str, &str)] = &[("apps", "v1"), ("coordination.k8s.io", "v1")];

fn group(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv], "preferredVersion": gv})
}

fn resource_list(group_version: &str, resources: Vec<Value>) -> Answer {
    answer(
        200,
        json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }),
    )
}

/// The discovery document at `segs` (the path's segments), if it is one.
pub fn answer_for(segs: &[&str], headers: &BTreeMap<String, String>) -> Option<Answer> {
    let host = headers.get("host").cloned().unwrap_or_default();
    Some(match segs {
        ["api"] => answer(
            200,
            json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }),
        ),
        ["apis"] => answer(
            200,
            json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": GROUPS.iter().map(|(g, v)| group(g, v)).collect::<Vec<_>>(),
            }),
        ),
        ["apis", g] => {
            let (g, v) = GROUPS.iter().find(|(name, _)| name == g)?;
            let mut doc = group(g, v);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            answer(200, doc)
        }
        ["api", "v1"] => resource_list(
            "v1",
            vec![
                resource(
                    "namespaces",
                    "namespace",
                    false,
                    "Namespace",
                    &[
                        "create", "delete", "get", "list", "patch", "update", "watch",
                    ],
                    &["ns"],
                ),
                resource("pods", "pod", true, "Pod", OBJECT_VERBS, &["po"]),
                resource(
                    "services",
                    "service",
                    true,
                    "Service",
                    OBJECT_VERBS,
                    &["svc"],
                ),
            ],
        ),
        ["apis", "apps", "v1"] => resource_list(
            "apps/v1",
            vec![
                resource(
                    "deployments",
                    "deployment",
                    true,
                    "Deployment",
                    OBJECT_VERBS,
                    &["deploy"],
                ),
                {
                    let mut r = resource(
                        "deployments/scale",
                        "",
                        true,
                        "Scale",
                        &["get", "patch", "update"],
                        &[],
                    );
                    r["group"] = json!("autoscaling");
                    r["version"] = json!("v1");
                    r
                },
            ],
        ),
        ["apis", "coordination.k8s.io", "v1"] => resource_list(
            "coordination.k8s.io/v1",
            vec![resource(
                "leases",
                "lease",
                true,
                "Lease",
                OBJECT_VERBS,
                &[],
            )],
        ),
        _ => return None,
    })
}
