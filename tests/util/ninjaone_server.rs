//! A fake NinjaOne public API v2 on loopback: `POST /ws/oauth/token` (client credentials, the
//! `monitoring` scope), `/v2/queries/os-patches` and `/v2/queries/os-patch-installs` in cursor
//! pages `{"cursor": {name, offset, count, expires}, "results": [...]}` with float epoch
//! seconds, and `/v2/devices` paged `after` the last id, with faults scripted per page.

use std::sync::{Arc, Mutex};

use super::fake_http::{self, Fault, Reply, Request, Script};

pub(crate) const CLIENT_ID: &str = "nj-7Qe2a9c4";
pub(crate) const PATCHES: &str = "/v2/queries/os-patches";
pub(crate) const INSTALLS: &str = "/v2/queries/os-patch-installs";
pub(crate) const DEVICES: &str = "/v2/devices";

#[derive(Debug, Default)]
struct State {
    secret: String,
    issued: usize,
    valid_tokens: Vec<String>,
    /// Path → every item it lists.
    items: std::collections::HashMap<String, Vec<serde_json::Value>>,
    /// When the cursors it hands out expire, epoch seconds.
    cursor_expires: f64,
    /// The most items a page holds, whatever `pageSize` asks (a server's own cap).
    max_page_size: Option<usize>,
}

#[derive(Clone)]
pub(crate) struct NinjaServer {
    pub(crate) base: String,
    state: Arc<Mutex<State>>,
    script: Arc<Script>,
}

impl NinjaServer {
    pub(crate) fn start(secret: &str) -> NinjaServer {
        NinjaServer::start_on(secret, fake_http::any_port())
    }

    /// [`NinjaServer::start`] on `listener`.
    pub(crate) fn start_on(secret: &str, listener: std::net::TcpListener) -> NinjaServer {
        let state = Arc::new(Mutex::new(State {
            secret: secret.to_owned(),
            cursor_expires: 4_102_444_800.0,
            ..State::default()
        }));
        let script = Arc::new(Script::default());
        let (s, f) = (Arc::clone(&state), Arc::clone(&script));
        let base = fake_http::serve_on(listener, move |request| respond(&s, &f, request));
        NinjaServer {
            base,
            state,
            script,
        }
    }

    pub(crate) fn set_items(&self, path: &str, items: Vec<serde_json::Value>) {
        self.state
            .lock()
            .expect("state")
            .items
            .insert(path.to_owned(), items);
    }

    /// Cursors handed out from now on expire at `at` (epoch seconds).
    pub(crate) fn cursors_expire_at(&self, at: f64) {
        self.state.lock().expect("state").cursor_expires = at;
    }

    /// Pages hold at most `items` from now on, however many `pageSize` asks for.
    pub(crate) fn caps_pages_at(&self, items: usize) {
        self.state.lock().expect("state").max_page_size = Some(items);
    }

    pub(crate) fn fault(&self, path: &str, page: usize, fault: Fault) {
        self.script.add(path, page, fault);
    }

    pub(crate) fn seen(&self) -> Vec<Request> {
        self.script.seen()
    }

    pub(crate) fn token_requests(&self) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.path() == "/ws/oauth/token")
            .count()
    }
}

fn respond(state: &Mutex<State>, script: &Script, request: &Request) -> Reply {
    script.saw(request);
    let mut state = state.lock().expect("state");
    if request.method == "POST" && request.path() == "/ws/oauth/token" {
        let form = request.form();
        let get = |key: &str| form.get(key).map(String::as_str);
        if get("grant_type") != Some("client_credentials") {
            return Reply::json(
                400,
                oauth_error("unsupported_grant_type", "Unsupported grant type"),
            );
        }
        if get("client_id") != Some(CLIENT_ID)
            || get("client_secret") != Some(state.secret.as_str())
        {
            return Reply::json(401, oauth_error("invalid_client", "Bad client credentials"));
        }
        if !get("scope")
            .unwrap_or("")
            .split(' ')
            .any(|s| s == "monitoring")
        {
            return Reply::json(400, oauth_error("invalid_scope", "Invalid scope"));
        }
        state.issued += 1;
        let token = format!("nj-access-{}", state.issued);
        state.valid_tokens.push(token.clone());
        return Reply::json(
            200,
            serde_json::json!({"access_token": token, "expires_in": 3600, "scope": "monitoring", "token_type": "Bearer"}),
        );
    }
    let path = request.path().to_owned();
    let page_size: usize = request
        .query("pageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
        .min(state.max_page_size.unwrap_or(usize::MAX));
    let empty = Vec::new();
    let items = state.items.get(&path).unwrap_or(&empty);
    // Which page: a cursor names it (`c-<n>`), a device list pages after the last id.
    let (page, start) = if path == DEVICES {
        let after: Option<i64> = request.query("after").and_then(|s| s.parse().ok());
        let start = after.map_or(0, |after| {
            items
                .iter()
                .position(|d| d["id"].as_i64() == Some(after))
                .map_or(items.len(), |i| i + 1)
        });
        (start / page_size.max(1), start)
    } else {
        let page = request
            .query("cursor")
            .and_then(|c| c.strip_prefix("c-").and_then(|n| n.parse::<usize>().ok()))
            .unwrap_or(0);
        (page, page * page_size)
    };
    let chunk: Vec<_> = items.iter().skip(start).take(page_size).cloned().collect();
    let fault = script.next(&path, page);
    let count = chunk.len();
    let mut served = chunk;
    if matches!(fault, Some(Fault::ShortPage)) && path != DEVICES {
        served.pop();
    }
    let body = if path == DEVICES {
        serde_json::Value::Array(served)
    } else {
        serde_json::json!({
            "cursor": {"name": format!("c-{}", page + 1), "offset": start, "count": count, "expires": state.cursor_expires},
            "results": served,
        })
    }
    .to_string();
    match fault {
        Some(Fault::ExpireTokens) => state.valid_tokens.clear(),
        Some(Fault::Status(status)) => return Reply::json(status, api_error(status)),
        Some(fault) => {
            if let Some(reply) = fake_http::generic(&fault, &api_error(429), &body, request) {
                return reply;
            }
        }
        None => {}
    }
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| state.valid_tokens.iter().any(|v| v == t)) {
        return Reply::json(401, oauth_error("invalid_token", "Access token expired"));
    }
    if ![PATCHES, INSTALLS, DEVICES].contains(&path.as_str()) {
        return Reply::json(404, api_error(404));
    }
    Reply::json(200, body)
}

fn oauth_error(code: &str, description: &str) -> String {
    serde_json::json!({"error": code, "error_description": description}).to_string()
}

fn api_error(status: u16) -> String {
    let message = match status {
        403 => "Access denied: the client application lacks the required scope",
        404 => "Not found",
        429 => "Too many requests",
        _ => "Internal error",
    };
    serde_json::json!({"resultCode": "FAILURE", "errorMessage": message, "incidentId": "f3a9c2d1"})
        .to_string()
}

/// An os-patches item as in the vendor example.
pub(crate) fn patch(
    device: i64,
    kb: &str,
    severity: &str,
    pending_since: f64,
) -> serde_json::Value {
    serde_json::json!({
        "id": format!("0b3c5b2e-{device}-{kb}"),
        "name": format!("2026-11 Cumulative Update for Windows 11 ({kb})"),
        "severity": severity,
        "status": "APPROVED",
        "type": "SECURITY_UPDATES",
        "deviceId": device,
        "timestamp": pending_since,
        "kbNumber": kb,
    })
}

/// A /v2/devices item.
pub(crate) fn device(id: i64, name: &str, last_contact: f64) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "organizationId": 7,
        "locationId": 12,
        "nodeClass": "WINDOWS_WORKSTATION",
        "approvalStatus": "APPROVED",
        "offline": false,
        "displayName": name,
        "systemName": name,
        "dnsName": format!("{}.acme.local", name.to_lowercase()),
        "created": 1_700_000_000.5,
        "lastContact": last_contact,
        "lastUpdate": last_contact,
        "os": {"name": "Windows 11 Pro", "buildNumber": "22631"},
    })
}
