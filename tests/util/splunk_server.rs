//! A fake Splunk management port on loopback: `GET /services/data/indexes?output_mode=json`
//! with `count`/`offset` paging (`count=0`: all), entries `{name, content}` whose numbers are
//! sometimes strings, `paging {total, perPage, offset}`, the `messages[]` error body, and a
//! bearer token or HTTP Basic. Faults are scripted per page.

use std::sync::{Arc, Mutex};

use super::fake_http::{self, Fault, Reply, Request, Script};

pub(crate) const INDEXES: &str = "/services/data/indexes";

#[derive(Clone)]
pub(crate) struct SplunkServer {
    pub(crate) base: String,
    entries: Arc<Mutex<Vec<serde_json::Value>>>,
    script: Arc<Script>,
}

impl SplunkServer {
    pub(crate) fn start(token: &str) -> SplunkServer {
        SplunkServer::start_on(token, fake_http::any_port())
    }

    /// [`SplunkServer::start`] on `listener`.
    pub(crate) fn start_on(token: &str, listener: std::net::TcpListener) -> SplunkServer {
        SplunkServer::start_authorized(format!("Bearer {token}"), listener)
    }

    /// A server that takes only HTTP Basic with `username` and `password` (a Splunk user).
    pub(crate) fn start_basic(username: &str, password: &str) -> SplunkServer {
        SplunkServer::start_authorized(fake_http::basic(username, password), fake_http::any_port())
    }

    /// A server that takes `authorization` as the whole `Authorization` header.
    fn start_authorized(authorization: String, listener: std::net::TcpListener) -> SplunkServer {
        let entries = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Script::default());
        let (e, f, t) = (Arc::clone(&entries), Arc::clone(&script), authorization);
        let base = fake_http::serve_on(listener, move |request| respond(&e, &f, &t, request));
        SplunkServer {
            base,
            entries,
            script,
        }
    }

    pub(crate) fn set_entries(&self, entries: Vec<serde_json::Value>) {
        *self.entries.lock().expect("entries") = entries;
    }

    /// The next request for page `page` (0 for the first, by `offset / count`) meets `fault`.
    pub(crate) fn fault(&self, page: usize, fault: Fault) {
        self.script.add(INDEXES, page, fault);
    }

    pub(crate) fn seen(&self) -> Vec<Request> {
        self.script.seen()
    }
}

fn respond(
    entries: &Mutex<Vec<serde_json::Value>>,
    script: &Script,
    authorization: &str,
    request: &Request,
) -> Reply {
    script.saw(request);
    if request.path() != INDEXES {
        return Reply::json(404, messages("ERROR", "Not Found"));
    }
    let entries = entries.lock().expect("entries").clone();
    let count: usize = request
        .query("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(30);
    let offset: usize = request
        .query("offset")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page_len = if count == 0 { entries.len() } else { count };
    let page = offset.checked_div(page_len).unwrap_or(0);
    let chunk: Vec<_> = entries
        .iter()
        .skip(offset)
        .take(page_len)
        .cloned()
        .collect();
    let fault = script.next(INDEXES, page);
    let said = if matches!(fault, Some(Fault::ErrorBeside)) {
        serde_json::json!([{"type": "ERROR", "text": "Search peer idx-2 is down; results may be incomplete"}])
    } else {
        serde_json::json!([])
    };
    let body = serde_json::json!({
        "links": {"create": "/services/data/indexes/_new"},
        "origin": "https://splunk.acme.local:8089/services/data/indexes",
        "updated": "2026-11-23T10:00:00+00:00",
        "generator": {"build": "d5d9d8a7f1a2", "version": "9.3.1"},
        "entry": chunk,
        "paging": {"total": entries.len(), "perPage": count, "offset": offset},
        "messages": said,
    })
    .to_string();
    if let Some(fault) = fault {
        if let Fault::Status(status) = fault {
            let text = match status {
                401 => "call not properly authenticated",
                403 => {
                    "You (user=svc-dutywatch) do not have permission to perform this operation (requires capability: indexes_list_all)."
                }
                _ => "Internal Server Error",
            };
            let kind = if status == 401 { "WARN" } else { "ERROR" };
            return Reply::json(status, messages(kind, text));
        }
        if let Some(reply) = fake_http::generic(
            &fault,
            &messages("ERROR", "Too many requests, retry later"),
            &body,
            request,
        ) {
            return reply;
        }
    }
    if request.header("authorization") != Some(authorization) {
        // Echoes the credential it was sent, as a careless proxy might: dutywatch must not
        // repeat it.
        let text = format!(
            "call not properly authenticated (got Authorization: {})",
            request.header("authorization").unwrap_or_default()
        );
        return Reply::json(401, messages("WARN", &text));
    }
    if request.query("output_mode").as_deref() != Some("json") {
        // Splunk answers Atom XML without it.
        return Reply {
            headers: vec![("Content-Type".to_owned(), "text/xml".to_owned())],
            ..Reply::json(200, "<?xml version=\"1.0\"?><feed/>")
        };
    }
    Reply::json(200, body)
}

fn messages(kind: &str, text: &str) -> String {
    serde_json::json!({"messages": [{"type": kind, "text": text}]}).to_string()
}

/// An index entry as Splunk lists it; `as_strings` writes its numbers as strings, as some
/// versions and proxies do.
pub(crate) fn index(name: &str, frozen_secs: u64, as_strings: bool) -> serde_json::Value {
    let number = |n: u64| {
        if as_strings {
            serde_json::json!(n.to_string())
        } else {
            serde_json::json!(n)
        }
    };
    serde_json::json!({
        "name": name,
        "id": format!("https://splunk.acme.local:8089/servicesNS/nobody/search/data/indexes/{name}"),
        "author": "nobody",
        "acl": {"app": "search", "owner": "nobody", "sharing": "global"},
        "content": {
            "datatype": "event",
            "disabled": false,
            "frozenTimePeriodInSecs": number(frozen_secs),
            "maxTotalDataSizeMB": number(500_000),
            "currentDBSizeMB": number(81_234),
            "minTime": "2025-03-01T00:00:02+00:00",
            "maxTime": "2026-11-23T10:11:12+00:00",
            "coldToFrozenDir": "",
            "homePath": format!("$SPLUNK_DB/{name}/db"),
        },
    })
}

/// An index at its size cap: it holds only `held_days` of events.
pub(crate) fn capped_index(name: &str, frozen_secs: u64, held_days: i64) -> serde_json::Value {
    let mut entry = index(name, frozen_secs, false);
    let max: jiff::Timestamp = "2026-11-23T10:00:00Z".parse().expect("time");
    let min = max - jiff::SignedDuration::from_hours(24 * held_days);
    entry["content"]["maxTotalDataSizeMB"] = serde_json::json!(10_000);
    entry["content"]["currentDBSizeMB"] = serde_json::json!(9_985);
    entry["content"]["minTime"] = serde_json::json!(min.to_string());
    entry["content"]["maxTime"] = serde_json::json!(max.to_string());
    entry
}
