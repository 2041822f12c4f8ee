//! A fake Elasticsearch on loopback: `GET /_ilm/policy` and `/_ilm/policy/{names}` (policies
//! keyed by name), API key authentication (`Authorization: ApiKey …`), and Elastic's error
//! envelope (`resource_not_found_exception`, `security_exception`). Faults are scripted for
//! the one page there is.

use std::sync::{Arc, Mutex};

use super::fake_http::{self, Fault, Reply, Request, Script};

pub(crate) const POLICIES: &str = "/_ilm/policy";

#[derive(Clone)]
pub(crate) struct ElasticServer {
    pub(crate) base: String,
    policies: Arc<Mutex<serde_json::Map<String, serde_json::Value>>>,
    script: Arc<Script>,
}

impl ElasticServer {
    pub(crate) fn start(api_key: &str) -> ElasticServer {
        ElasticServer::start_on(api_key, fake_http::any_port())
    }

    /// A server that takes only HTTP Basic with `username` and `password` (a native realm
    /// user), no API key.
    pub(crate) fn start_basic(username: &str, password: &str) -> ElasticServer {
        ElasticServer::start_authorized(fake_http::basic(username, password), fake_http::any_port())
    }

    /// [`ElasticServer::start`] on `listener`.
    pub(crate) fn start_on(api_key: &str, listener: std::net::TcpListener) -> ElasticServer {
        ElasticServer::start_authorized(format!("ApiKey {api_key}"), listener)
    }

    /// A server that takes `authorization` as the whole `Authorization` header.
    fn start_authorized(authorization: String, listener: std::net::TcpListener) -> ElasticServer {
        let policies = Arc::new(Mutex::new(serde_json::Map::new()));
        let script = Arc::new(Script::default());
        let (p, f, k) = (Arc::clone(&policies), Arc::clone(&script), authorization);
        let base = fake_http::serve_on(listener, move |request| respond(&p, &f, &k, request));
        ElasticServer {
            base,
            policies,
            script,
        }
    }

    pub(crate) fn add_policy(&self, name: &str, policy: serde_json::Value) {
        self.policies
            .lock()
            .expect("policies")
            .insert(name.to_owned(), policy);
    }

    pub(crate) fn fault(&self, fault: Fault) {
        self.script.add(POLICIES, 0, fault);
    }

    pub(crate) fn seen(&self) -> Vec<Request> {
        self.script.seen()
    }
}

fn respond(
    policies: &Mutex<serde_json::Map<String, serde_json::Value>>,
    script: &Script,
    authorization: &str,
    request: &Request,
) -> Reply {
    script.saw(request);
    let policies = policies.lock().expect("policies").clone();
    let wanted = request
        .path()
        .strip_prefix(POLICIES)
        .map(|rest| rest.trim_start_matches('/'));
    let Some(wanted) = wanted else {
        return Reply::json(
            404,
            error(404, "resource_not_found_exception", "no handler found"),
        );
    };
    let mut answer = serde_json::Map::new();
    if wanted.is_empty() {
        answer = policies;
    } else {
        for name in wanted.split(',') {
            match policies.get(name) {
                Some(policy) => {
                    answer.insert(name.to_owned(), policy.clone());
                }
                None => {
                    return Reply::json(
                        404,
                        error(
                            404,
                            "resource_not_found_exception",
                            &format!("Lifecycle policy not found: {name}"),
                        ),
                    );
                }
            }
        }
    }
    let body = serde_json::Value::Object(answer).to_string();
    if let Some(fault) = script.next(POLICIES, 0) {
        match fault {
            Fault::Status(401) => {
                return Reply::json(401, error(401, "security_exception", "unable to authenticate with provided credentials and anonymous access is not allowed for this request"))
                    .header("WWW-Authenticate", "ApiKey");
            }
            Fault::Status(403) => {
                return Reply::json(
                    403,
                    error(
                        403,
                        "security_exception",
                        "action [cluster:admin/ilm/get] is unauthorized for API key id [VuaCfGcBCdbkQm-e5aOx] of user [svc-dutywatch], this action is granted by the cluster privileges [read_ilm,manage_ilm,manage,all]",
                    ),
                );
            }
            Fault::Status(status) => {
                return Reply::json(status, error(status, "internal_server_error", "failure"));
            }
            other => {
                if let Some(reply) = fake_http::generic(
                    &other,
                    &error(429, "es_rejected_execution_exception", "rejected execution"),
                    &body,
                    request,
                ) {
                    return reply;
                }
            }
        }
    }
    if request.header("authorization") != Some(authorization) {
        return Reply::json(
            401,
            error(
                401,
                "security_exception",
                "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
            ),
        );
    }
    Reply::json(200, body)
}

fn error(status: u16, kind: &str, reason: &str) -> String {
    serde_json::json!({
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status,
    })
    .to_string()
}

/// A policy as `GET /_ilm/policy` lists it; `delete_after` is the delete phase's `min_age`, or
/// none for a policy that never deletes.
pub(crate) fn policy(delete_after: Option<&str>, indices: &[&str]) -> serde_json::Value {
    let mut phases = serde_json::json!({
        "hot": {"min_age": "0ms", "actions": {"rollover": {"max_age": "30d", "max_primary_shard_size": "50gb"}}},
        "warm": {"min_age": "10d", "actions": {"forcemerge": {"max_num_segments": 1}}},
    });
    if let Some(age) = delete_after {
        phases["delete"] = serde_json::json!({"min_age": age, "actions": {"delete": {"delete_searchable_snapshot": true}}});
    }
    serde_json::json!({
        "version": 1,
        "modified_date": "2026-10-01T08:00:00.000Z",
        "policy": {"phases": phases},
        "in_use_by": {"indices": indices, "data_streams": [], "composable_templates": []},
    })
}
