//! A small blocking client for the few GitHub REST calls `pr` makes: find the open pull
//! request for a branch, create one, update one, add labels.
//!
//! Sends through the one HTTP layer (`http::Endpoint`: the platform's trust store, no
//! redirects, so a renamed repository's 301 is reported as such instead of being followed
//! without the `Authorization` header into a misleading 404) rather than octocrab, which is
//! async (a tokio runtime for four requests) and much heavier to build. Works with github.com
//! (`https://api.github.com`) and GitHub Enterprise (`https://HOST/api/v3`).
//!
//! Owns: the pull-request calls and what GitHub's answers mean. Does not own: HTTP, TLS, the
//! token's secrecy (`http::Endpoint` holds it as a `redact::Secret` and scrubs it from every
//! error), or finding the repository and the token's source beyond `gh`/`GITHUB_TOKEN`.

use serde_json::{Value, json};

use crate::http::{ClientError, Endpoint, Reply, encode_query};

/// A GitHub call that failed; the text never holds the token.
pub type GitHubError = ClientError;

/// The public API of github.com.
pub const DEFAULT_API: &str = "https://api.github.com";

/// `OWNER/REPO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl RepoId {
    /// Parses `OWNER/REPO` (a trailing `.git` is dropped).
    pub fn parse(s: &str) -> Option<RepoId> {
        let (owner, name) = s.split_once('/')?;
        let name = name.strip_suffix(".git").unwrap_or(name);
        (valid_part(owner) && valid_part(name)).then(|| RepoId {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    /// The host and repository of a Git remote URL: `https://host/o/r(.git)`,
    /// `git@host:o/r.git`, `ssh://git@host[:port]/o/r.git`. `None` for other forms
    /// (`file://`, local paths).
    pub fn from_remote_url(url: &str) -> Option<(String, RepoId)> {
        let url = url.trim();
        let (host, path) = if let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .or_else(|| url.strip_prefix("ssh://"))
            .or_else(|| url.strip_prefix("git://"))
        {
            let (authority, path) = rest.split_once('/')?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host.split_once(':').map_or(host, |(h, _)| h);
            (host, path)
        } else if url.contains("://") {
            return None;
        } else {
            // scp-like: [user@]host:owner/repo.git
            let (authority, path) = url.split_once(':')?;
            if authority.contains('/') {
                return None;
            }
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (host, path)
        };
        if host.is_empty() {
            return None;
        }
        let path = path.trim_start_matches('/').trim_end_matches('/');
        Some((host.to_string(), RepoId::parse(path)?))
    }
}

/// The API base for a Git host: github.com's public API, or `https://HOST/api/v3` for a
/// GitHub Enterprise host.
pub fn api_for_host(host: &str) -> String {
    if host.eq_ignore_ascii_case("github.com") || host.eq_ignore_ascii_case("www.github.com") {
        DEFAULT_API.to_string()
    } else {
        format!("https://{host}/api/v3")
    }
}

/// Where the GitHub token came from (not to be confused with `config::TokenSource`, where a
/// service token is to be read from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOrigin {
    Env,
    Gh,
}

/// The token: `GITHUB_TOKEN`, else `gh auth token` (for `host` when it is not github.com)
/// when `gh` is installed; `None` when neither gives one.
pub fn find_token(host: Option<&str>) -> Option<(String, TokenOrigin)> {
    if let Ok(t) = std::env::var("GITHUB_TOKEN") {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Some((t, TokenOrigin::Env));
        }
    }
    let mut cmd = std::process::Command::new("gh");
    cmd.args(["auth", "token"]);
    if let Some(h) = host.filter(|h| !h.eq_ignore_ascii_case("github.com")) {
        cmd.args(["--hostname", h]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!t.is_empty()).then_some((t, TokenOrigin::Gh))
}

/// A pull request, as far as `pr` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
    pub state: String,
    pub title: String,
    pub draft: bool,
    pub head_ref: String,
    pub base_ref: String,
}

impl PullRequest {
    fn from_json(v: &Value) -> Option<PullRequest> {
        Some(PullRequest {
            number: v.get("number")?.as_u64()?,
            html_url: v.get("html_url")?.as_str()?.to_string(),
            state: v
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("open")
                .to_string(),
            title: v
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            draft: v.get("draft").and_then(Value::as_bool).unwrap_or(false),
            head_ref: v
                .pointer("/head/ref")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            base_ref: v
                .pointer("/base/ref")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
    }
}

/// The client for one repository.
#[derive(Debug)]
pub struct GitHub {
    ep: Endpoint,
    pub repo: RepoId,
}

impl GitHub {
    pub fn new(api: &str, token: String, repo: RepoId) -> GitHub {
        GitHub {
            ep: Endpoint::new(api, token),
            repo,
        }
    }

    /// The API base the client talks to.
    pub fn api(&self) -> &str {
        &self.ep.base
    }

    /// Replaces the token wherever it occurs in `text`.
    pub fn redact(&self, text: &str) -> String {
        self.ep.clean(text)
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/repos/{}/{}{path}",
            self.ep.base, self.repo.owner, self.repo.name
        )
    }

    /// One request; the JSON of a 2xx answer, else the error for `action`.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        action: &str,
    ) -> Result<Value, GitHubError> {
        let reply = self
            .ep
            .send(
                method,
                &self.url(path),
                &[
                    ("Accept", "application/vnd.github+json"),
                    ("X-GitHub-Api-Version", "2022-11-28"),
                ],
                body.map(|b| ("application/json", b.to_string())),
                "the GitHub API",
            )
            .map_err(|mut e| {
                e.message = format!(
                    "cannot reach the GitHub API at {} to {action} in {}: {}",
                    self.ep.base, self.repo, e.message
                );
                e
            })?;
        if reply.ok() {
            return Ok(reply.json());
        }
        Err(ClientError::answered(
            &reply,
            self.redact(&self.status_message(&reply, action)),
        ))
    }

    fn status_message(&self, reply: &Reply, action: &str) -> String {
        let status = reply.status;
        let said = reply.said();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let repo = &self.repo;
        match status {
            401 => format!(
                "GitHub refused the token (401{said}) when trying to {action} in {repo}; check GITHUB_TOKEN or `gh auth status`"
            ),
            403 => format!(
                "GitHub denied access (403{said}) when trying to {action} in {repo}; the token needs permission to write pull requests there (classic token: the `repo` scope), or a rate limit was hit"
            ),
            404 => format!(
                "GitHub answered 404{said} when trying to {action}: {repo} does not exist at {}, or the token cannot see it (check --github-repo / --github-api)",
                self.ep.base
            ),
            s if (300..400).contains(&s) => format!(
                "GitHub answered {s}{said} when trying to {action} in {repo}: the repository was renamed or moved{}; the redirect was not followed (it would drop the token): use --github-repo with its new name",
                reply
                    .location
                    .as_deref()
                    .map(|l| format!(" (to {l})"))
                    .unwrap_or_default()
            ),
            422 => format!("GitHub refused to {action} in {repo} (422{said})"),
            s if s >= 500 => format!(
                "GitHub failed with a server error ({s}{said}) when trying to {action} in {repo}; try again later"
            ),
            s => format!("GitHub answered {s}{said} when trying to {action} in {repo}"),
        }
    }

    /// The open pull request whose head is `branch` in this repository, if any.
    pub fn find_open_pr(&self, branch: &str) -> Result<Option<PullRequest>, GitHubError> {
        let head = format!("{}:{branch}", self.repo.owner);
        let path = format!(
            "/pulls?head={}&state=open&per_page=100",
            encode_query(&head)
        );
        let v = self.call("GET", &path, None, "look for an open pull request")?;
        let list = v
            .as_array()
            .ok_or_else(|| self.bad_answer("the pull request list"))?;
        Ok(list
            .iter()
            .filter_map(PullRequest::from_json)
            .find(|p| p.head_ref == branch && p.state == "open"))
    }

    /// Opens a pull request from `head` (a branch of this repository) into `base`.
    pub fn create_pr(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullRequest, GitHubError> {
        let payload = json!({
            "title": title,
            "head": head,
            "base": base,
            "body": body,
            "draft": draft,
        });
        let v = self.call("POST", "/pulls", Some(payload), "open the pull request")?;
        PullRequest::from_json(&v).ok_or_else(|| self.bad_answer("the new pull request"))
    }

    /// Sets a pull request's title and body (and its base, when given).
    pub fn update_pr(
        &self,
        number: u64,
        title: &str,
        body: &str,
        base: Option<&str>,
    ) -> Result<PullRequest, GitHubError> {
        let mut payload = json!({ "title": title, "body": body });
        if let Some(b) = base {
            payload["base"] = json!(b);
        }
        let v = self.call(
            "PATCH",
            &format!("/pulls/{number}"),
            Some(payload),
            &format!("update pull request #{number}"),
        )?;
        PullRequest::from_json(&v).ok_or_else(|| self.bad_answer("the updated pull request"))
    }

    /// Adds labels to a pull request (labels it already has stay).
    pub fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), GitHubError> {
        if labels.is_empty() {
            return Ok(());
        }
        self.call(
            "POST",
            &format!("/issues/{number}/labels"),
            Some(json!({ "labels": labels })),
            &format!("label pull request #{number}"),
        )?;
        Ok(())
    }

    fn bad_answer(&self, what: &str) -> GitHubError {
        ClientError::new(
            None,
            format!(
                "unexpected answer from the GitHub API at {} for {what} in {}",
                self.ep.base, self.repo
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remote_urls() {
        let id = |o: &str, r: &str| RepoId {
            owner: o.into(),
            name: r.into(),
        };
        assert_eq!(
            RepoId::from_remote_url("https://github.com/lsst-sqre/phalanx.git"),
            Some(("github.com".into(), id("lsst-sqre", "phalanx")))
        );
        assert_eq!(
            RepoId::from_remote_url("https://user:tok@github.example.org/o/r"),
            Some(("github.example.org".into(), id("o", "r")))
        );
        assert_eq!(
            RepoId::from_remote_url("git@github.com:lsst-sqre/phalanx.git"),
            Some(("github.com".into(), id("lsst-sqre", "phalanx")))
        );
        assert_eq!(
            RepoId::from_remote_url("ssh://git@ghe.example.org:2222/o/r.git/"),
            Some(("ghe.example.org".into(), id("o", "r")))
        );
        assert_eq!(RepoId::from_remote_url("file:///tmp/r.git"), None);
        assert_eq!(RepoId::from_remote_url("/tmp/r.git"), None);
        assert_eq!(
            RepoId::from_remote_url("https://github.com/o/r/extra"),
            None
        );
    }

    #[test]
    fn parses_owner_repo() {
        assert!(RepoId::parse("o/r").is_some());
        assert!(RepoId::parse("o").is_none());
        assert!(RepoId::parse("o/r/x").is_none());
        assert!(RepoId::parse("/r").is_none());
        assert!(RepoId::parse("o/r r").is_none());
    }

    #[test]
    fn api_for_enterprise_hosts() {
        assert_eq!(api_for_host("github.com"), DEFAULT_API);
        assert_eq!(
            api_for_host("ghe.example.org"),
            "https://ghe.example.org/api/v3"
        );
    }
}
