//! `KubeClient`: the `KubeApi` calls as REST over the one HTTP layer (`crate::http`), with the
//! access a kubeconfig gives (`kubeconfig::Access`: server, TLS, credentials, proxy,
//! impersonation); the rollout wait polls under the wait's deadline and stops at an interrupt.
//!
//! Owns: the REST paths, the requests, what statuses mean (404 on delete = already gone; 409
//! on a namespace that is `Terminating` = already going) and error texts without a token.
//! Does not own: the objects' shapes (`model`), retries beyond a wait's own (`steps`).

use std::fmt;

use serde_json::{Value, json};

use super::super::kubeconfig::Access;
use crate::http::{ClientError, Reply, encode};
use crate::util::redact::Redactor;

use super::api::*;
use super::model::*;

/// The Kubernetes API of one context.
pub struct KubeClient {
    context: String,
    server: String,
    access: Access,
}

impl fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeClient")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("auth", &self.access.kind())
            .finish()
    }
}

impl KubeClient {
    /// A client for `server` with a bearer token (or none), trusting the platform's store:
    /// for tests and plain-http doubles.
    pub fn with_token(server: &str, token: Option<String>) -> KubeClient {
        KubeClient::from_access("", server, Access::token(server, token))
    }

    pub(in crate::runtime::clients) fn from_access(
        context: &str,
        server: &str,
        access: Access,
    ) -> KubeClient {
        KubeClient {
            context: context.to_string(),
            server: server.trim_end_matches('/').to_string(),
            access,
        }
    }

    /// How requests reach and authenticate to the server.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The context this client was made for (empty for `with_token`).
    pub fn context(&self) -> &str {
        &self.context
    }

    /// One call; a 401 with a refreshable credential is tried once more with a fresh one.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{path}", self.server);
        let what = format!("the Kubernetes API at {}", self.server);
        let mut refresh = false;
        loop {
            let token = self.access.bearer(refresh)?;
            let auth = token.as_ref().map(|t| format!("Bearer {t}"));
            let mut headers = vec![("Accept", "application/json")];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.as_str()));
            }
            for (k, v) in self.access.impersonation() {
                headers.push((k.as_str(), v.as_str()));
            }
            let reply = self
                .access
                .http()
                .send(method, &url, &headers, body.clone(), &what)
                .map_err(|mut e| {
                    e.message = Redactor::new(token.as_deref()).redact(&e.message);
                    e
                })?;
            if reply.status == 401 && !refresh && self.access.refreshable() {
                refresh = true;
                continue;
            }
            return Ok(reply);
        }
    }

    /// The error for an answer the caller cannot accept.
    fn refused(&self, reply: &Reply, action: &str) -> ClientError {
        let said = reply.said();
        let server = &self.server;
        let s = reply.status;
        let explained = crate::http::explained(&said);
        let message = match s {
            401 => format!(
                "the Kubernetes API at {server} refused the credentials (401) to {action}; check the context's user in the kubeconfig (an expired token?)"
            ),
            403 => format!("the Kubernetes API at {server} forbids {action} (403{explained})"),
            s if (300..400).contains(&s) => format!(
                "the Kubernetes API at {server} redirected ({s}) instead of answering {action}: is the server URL right?"
            ),
            s if s >= 500 => format!(
                "the Kubernetes API at {server} failed with a server error ({s}{explained}) to {action}"
            ),
            s => format!("the Kubernetes API at {server} answered {s}{explained} to {action}"),
        };
        let secret = self.access.bearer(false).ok().flatten().unwrap_or_default();
        ClientError {
            said,
            ..ClientError::answered(reply, Redactor::new([secret]).redact(&message))
        }
    }

    fn get_json(&self, path: &str, action: &str) -> Result<Option<Value>, ClientError> {
        let reply = self.call("GET", path, None)?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(Some(reply.json())),
            _ => Err(self.refused(&reply, action)),
        }
    }

    /// A DELETE whose 404 means the object is already gone.
    fn delete(&self, path: &str, action: &str) -> Result<Deleted, ClientError> {
        let reply = self.call("DELETE", path, None)?;
        match reply.status {
            404 => Ok(Deleted::AlreadyGone),
            _ if reply.ok() => Ok(Deleted::Deleting),
            _ => Err(self.refused(&reply, action)),
        }
    }

    fn bad_answer(&self, what: &str) -> ClientError {
        ClientError::new(
            None,
            format!(
                "unexpected answer from the Kubernetes API at {} for {what}",
                self.server
            ),
        )
    }

    fn list<T>(
        &self,
        base: &str,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
        what: &str,
        parse: fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let mut cont: Option<String> = None;
        loop {
            let mut q = vec!["limit=500".to_string()];
            if let Some(l) = label_selector.filter(|s| !s.is_empty()) {
                q.push(format!("labelSelector={}", encode(l)));
            }
            if let Some(f) = field_selector.filter(|s| !s.is_empty()) {
                q.push(format!("fieldSelector={}", encode(f)));
            }
            if let Some(c) = &cont {
                q.push(format!("continue={}", encode(c)));
            }
            let path = format!("{base}?{}", q.join("&"));
            let v = self
                .get_json(&path, &format!("list {what}"))?
                .ok_or_else(|| self.bad_answer(&format!("the list of {what} (404)")))?;
            let items = v
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| self.bad_answer(&format!("the list of {what}")))?;
            out.extend(items.iter().filter_map(parse));
            cont = v
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cont.is_none() {
                return Ok(out);
            }
        }
    }
}

pub(super) fn deployment_path(namespace: &str, name: &str) -> String {
    format!(
        "/apis/apps/v1/namespaces/{}/deployments/{}",
        encode(namespace),
        encode(name)
    )
}

impl KubeApi for KubeClient {
    fn server(&self) -> &str {
        &self.server
    }

    fn list_namespaces(
        &self,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Namespace>, ClientError> {
        self.list(
            "/api/v1/namespaces",
            label_selector,
            field_selector,
            "namespaces",
            Namespace::from_json,
        )
    }

    fn get_namespace(&self, name: &str) -> Result<Option<Namespace>, ClientError> {
        match self.get_json(
            &format!("/api/v1/namespaces/{}", encode(name)),
            &format!("get namespace `{name}`"),
        )? {
            None => Ok(None),
            Some(v) => Namespace::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("namespace `{name}`"))),
        }
    }

    fn delete_namespace(&self, name: &str) -> Result<Deleted, ClientError> {
        let reply = self.call(
            "DELETE",
            &format!("/api/v1/namespaces/{}", encode(name)),
            None,
        )?;
        match reply.status {
            404 => Ok(Deleted::AlreadyGone),
            _ if reply.ok() => Ok(Deleted::Deleting),
            // A namespace being emptied answers 409 ("The system is ensuring all content is
            // removed from this namespace"): it is already going.
            409 => match self.get_namespace(name)? {
                None => Ok(Deleted::AlreadyGone),
                Some(ns) if ns.terminating() => Ok(Deleted::Deleting),
                Some(_) => Err(self.refused(&reply, &format!("delete namespace `{name}`"))),
            },
            _ => Err(self.refused(&reply, &format!("delete namespace `{name}`"))),
        }
    }

    fn get_deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Deployment>, ClientError> {
        match self.get_json(
            &deployment_path(namespace, name),
            &format!("get Deployment `{name}` in namespace `{namespace}`"),
        )? {
            None => Ok(None),
            Some(v) => Deployment::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("Deployment `{namespace}/{name}`"))),
        }
    }

    fn delete_deployment(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError> {
        self.delete(
            &format!(
                "{}?propagationPolicy=Background",
                deployment_path(namespace, name)
            ),
            &format!("delete Deployment `{name}` in namespace `{namespace}`"),
        )
    }

    fn restart_deployment(
        &self,
        namespace: &str,
        name: &str,
        at: &str,
    ) -> Result<Deployment, ClientError> {
        let patch = json!({
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}
        });
        let reply = self.call(
            "PATCH",
            &deployment_path(namespace, name),
            Some(("application/strategic-merge-patch+json", patch.to_string())),
        )?;
        let action = format!("restart Deployment `{name}` in namespace `{namespace}`");
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Deployment::from_json(&reply.json()).ok_or_else(|| self.bad_answer(&action))
    }

    fn list_pods(
        &self,
        namespace: &str,
        label_selector: Option<&str>,
    ) -> Result<Vec<Pod>, ClientError> {
        self.list(
            &format!("/api/v1/namespaces/{}/pods", encode(namespace)),
            label_selector,
            None,
            &format!("pods in namespace `{namespace}`"),
            Pod::from_json,
        )
    }

    fn delete_pod(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError> {
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}",
            encode(namespace),
            encode(name)
        );
        self.delete(
            &path,
            &format!("delete pod `{name}` in namespace `{namespace}`"),
        )
    }

    fn scale_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: i64,
    ) -> Result<Deployment, ClientError> {
        let patch = json!({"spec": {"replicas": replicas}});
        let reply = self.call(
            "PATCH",
            &deployment_path(namespace, name),
            Some(("application/merge-patch+json", patch.to_string())),
        )?;
        let action = format!("scale Deployment `{name}` in namespace `{namespace}` to {replicas}");
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Deployment::from_json(&reply.json()).ok_or_else(|| self.bad_answer(&action))
    }

    fn get_service(&self, namespace: &str, name: &str) -> Result<Option<Service>, ClientError> {
        match self.get_json(
            &service_path(namespace, name),
            &format!("get Service `{name}` in namespace `{namespace}`"),
        )? {
            None => Ok(None),
            Some(v) => Service::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("Service `{namespace}/{name}`"))),
        }
    }

    fn delete_service(&self, namespace: &str, name: &str) -> Result<Deleted, ClientError> {
        self.delete(
            &service_path(namespace, name),
            &format!("delete Service `{name}` in namespace `{namespace}`"),
        )
    }

    fn create_service(&self, namespace: &str, manifest: &Value) -> Result<Service, ClientError> {
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let path = format!("/api/v1/namespaces/{}/services", encode(namespace));
        let reply = self.call(
            "POST",
            &path,
            Some(("application/json", manifest.to_string())),
        )?;
        let action = format!("create Service `{name}` in namespace `{namespace}`");
        if reply.status == 409 {
            // Taken over only when it is the one this manifest makes (left by an earlier
            // run): every label of the manifest, the same selector and source ranges.
            let found = self
                .get_service(namespace, &name)?
                .ok_or_else(|| self.bad_answer(&action))?;
            let labels = string_map(manifest.pointer("/metadata/labels"));
            let selector = string_map(manifest.pointer("/spec/selector"));
            let ranges = source_ranges(manifest);
            let ours = labels.iter().all(|(k, v)| found.labels.get(k) == Some(v))
                && found.selector == selector
                && found.source_ranges == ranges;
            if !ours {
                let shown_map = |m: &std::collections::BTreeMap<String, String>| {
                    if m.is_empty() {
                        "none".to_string()
                    } else {
                        format!("`{}`", selector_text(m))
                    }
                };
                let shown_list = |l: &[String]| {
                    if l.is_empty() {
                        "any".to_string()
                    } else {
                        format!("`{}`", l.join(","))
                    }
                };
                return Err(ClientError {
                    permanent: true,
                    ..ClientError::new(
                        Some(409),
                        format!(
                            "Service `{name}` already exists in namespace `{namespace}` and is not the one to create (labels {}, selector {}, source ranges {}; expected labels {}, selector {}, source ranges {}): it is left alone; delete it (`kubectl --namespace {namespace} delete service {name}`) if nothing needs it, and try again",
                            shown_map(&found.labels),
                            shown_map(&found.selector),
                            shown_list(&found.source_ranges),
                            shown_map(&labels),
                            shown_map(&selector),
                            shown_list(&ranges),
                        ),
                    )
                });
            }
            return Ok(found);
        }
        if !reply.ok() {
            return Err(self.refused(&reply, &action));
        }
        Service::from_json(&reply.json()).ok_or_else(|| self.bad_answer(&action))
    }

    fn get_lease(&self, namespace: &str, name: &str) -> Result<Option<Lease>, ClientError> {
        match self.get_json(
            &lease_path(namespace, Some(name)),
            &format!("get Lease `{name}` in namespace `{namespace}`"),
        )? {
            None => Ok(None),
            Some(v) => Lease::from_json(&v)
                .map(Some)
                .ok_or_else(|| self.bad_answer(&format!("Lease `{namespace}/{name}`"))),
        }
    }

    fn create_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError> {
        self.write_lease("POST", &lease_path(&lease.namespace, None), lease)
    }

    fn update_lease(&self, lease: &Lease) -> Result<Written<Lease>, ClientError> {
        self.write_lease(
            "PUT",
            &lease_path(&lease.namespace, Some(&lease.name)),
            lease,
        )
    }
}

pub(super) fn lease_path(namespace: &str, name: Option<&str>) -> String {
    let base = format!(
        "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
        encode(namespace)
    );
    match name {
        Some(n) => format!("{base}/{}", encode(n)),
        None => base,
    }
}

impl KubeClient {
    /// A create or update whose 409 is a `Conflict`, not an error.
    fn write_lease(
        &self,
        method: &str,
        path: &str,
        lease: &Lease,
    ) -> Result<Written<Lease>, ClientError> {
        let reply = self.call(
            method,
            path,
            Some(("application/json", lease.to_json().to_string())),
        )?;
        let action = format!(
            "{} Lease `{}` in namespace `{}`",
            if method == "POST" { "create" } else { "update" },
            lease.name,
            lease.namespace
        );
        match reply.status {
            409 => Ok(Written::Conflict(reply.said())),
            _ if reply.ok() => Lease::from_json(&reply.json())
                .map(Written::Done)
                .ok_or_else(|| self.bad_answer(&action)),
            _ => Err(self.refused(&reply, &action)),
        }
    }
}

pub(super) fn service_path(namespace: &str, name: &str) -> String {
    format!(
        "/api/v1/namespaces/{}/services/{}",
        encode(namespace),
        encode(name)
    )
}
