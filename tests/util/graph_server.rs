//! A fake Microsoft Graph and Entra token endpoint on loopback, for the `graph` source tests:
//! the documented paths, field names and envelopes (`{"value": [...], "@odata.nextLink"}`
//! pages, single objects, the token endpoint's form and JSON, the Graph error envelope), and
//! faults scripted per page, on `fake_http`'s plain HTTP/1.1 plumbing. The same server speaks
//! ARM for `arm_server` ([`Flavor::Arm`]): `nextLink`, the ARM error envelope, `api-version`
//! required, the ARM token audience.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use super::fake_http::{self, Reply, Request, decode};

pub(crate) const TENANT: &str = "contoso.onmicrosoft.com";
pub(crate) const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub(crate) const USERS: &str = "/v1.0/reports/authenticationMethods/userRegistrationDetails";
pub(crate) const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
pub(crate) const DEVICES: &str = "/v1.0/deviceManagement/managedDevices";
pub(crate) const SECURITY_DEFAULTS: &str =
    "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
pub(crate) const REVIEW_DEFINITIONS: &str = "/v1.0/identityGovernance/accessReviews/definitions";
pub(crate) const INCIDENTS: &str = "/v1.0/security/incidents";

/// Which API the server plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Flavor {
    #[default]
    Graph,
    Arm,
}

impl Flavor {
    fn scope(self) -> &'static str {
        match self {
            Flavor::Graph => "https://graph.microsoft.com/.default",
            Flavor::Arm => "https://management.azure.com/.default",
        }
    }

    fn next_link(self) -> &'static str {
        match self {
            Flavor::Graph => "@odata.nextLink",
            Flavor::Arm => "nextLink",
        }
    }
}

/// What the server does instead of serving a page, once.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// 429 with the Graph envelope, `Retry-After` as given (seconds or an HTTP date) or none.
    Throttle(Option<String>),
    /// 503 with `Retry-After` as given.
    Unavailable(Option<String>),
    /// Every token issued so far expires now; the request gets 401 `InvalidAuthenticationToken`.
    ExpireTokens,
    /// A Graph error envelope with this status and code.
    Error(u16, &'static str, &'static str),
    /// The page as usual, its `@odata.nextLink` pointing at this URL instead.
    NextLink(String),
    /// No answer for this long, then the page.
    Hang(std::time::Duration),
    /// 200 with a body that is not JSON (an HTML error page from a proxy).
    Malformed,
    /// 200 whose body breaks off halfway (the connection closes before `Content-Length`).
    Truncated,
    /// This status and this body, `{authorization}` in it replaced by the request's
    /// `Authorization` header, as a careless server or proxy echoes it.
    Raw(u16, String),
    /// 302 to this `Location`.
    Redirect(String),
    /// The headers, then nothing more for this long (the body never comes in time).
    Stall(std::time::Duration),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) authorization: Option<String>,
    pub(crate) prefer: Option<String>,
    pub(crate) body: String,
}

#[derive(Debug, Default)]
struct State {
    flavor: Flavor,
    secret: String,
    /// What the token answers say as `expires_in`: a number of seconds, or whatever a test
    /// sets.
    expires_in: serde_json::Value,
    issued: usize,
    /// The token every answer hands out, instead of a fresh one each.
    fixed_token: Option<String>,
    valid_tokens: Vec<String>,
    /// Path → its pages.
    pages: HashMap<String, Vec<serde_json::Value>>,
    /// (path, page index) → faults, first first.
    faults: HashMap<(String, usize), VecDeque<Fault>>,
    seen: Vec<Seen>,
}

#[derive(Debug, Clone)]
pub(crate) struct GraphServer {
    pub(crate) base: String,
    state: Arc<Mutex<State>>,
}

impl GraphServer {
    /// Starts the server; it accepts `secret` as the client secret and issues tokens valid for
    /// `expires_in` seconds (in what it says; validity is ended by [`Fault::ExpireTokens`]).
    pub(crate) fn start(secret: &str) -> GraphServer {
        GraphServer::start_as(secret, Flavor::Graph)
    }

    /// [`GraphServer::start`] playing `flavor`.
    pub(crate) fn start_as(secret: &str, flavor: Flavor) -> GraphServer {
        GraphServer::start_on(secret, flavor, fake_http::any_port())
    }

    /// [`GraphServer::start_as`] on `listener`.
    pub(crate) fn start_on(secret: &str, flavor: Flavor, listener: TcpListener) -> GraphServer {
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            secret: secret.to_owned(),
            flavor,
            expires_in: serde_json::json!(3599),
            ..State::default()
        }));
        let server = GraphServer { base, state };
        let handler = server.clone();
        fake_http::serve_on(listener, move |request| handler.reply(request));
        server
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.base)
    }

    /// The token answers hand out `token` from now on (valid as any other).
    pub(crate) fn set_access_token(&self, token: &str) {
        self.state.lock().expect("state").fixed_token = Some(token.to_owned());
    }

    /// The token answers say `expires_in` as `value` from now on.
    pub(crate) fn set_expires_in(&self, value: serde_json::Value) {
        self.state.lock().expect("state").expires_in = value;
    }

    /// `path` serves `object` as it is, one document with no paging.
    pub(crate) fn set_object(&self, path: &str, object: serde_json::Value) {
        self.state
            .lock()
            .expect("state")
            .pages
            .insert(path.to_owned(), vec![object]);
    }

    /// `path` serves `pages`, each a list of items, linked by `@odata.nextLink` (ARM:
    /// `nextLink`, keeping the `api-version`).
    pub(crate) fn set_pages(&self, path: &str, pages: Vec<Vec<serde_json::Value>>) {
        let flavor = self.state.lock().expect("state").flavor;
        let count = pages.len();
        let documents = pages
            .into_iter()
            .enumerate()
            .map(|(index, items)| {
                let mut page = serde_json::json!({ "value": items });
                if flavor == Flavor::Graph {
                    page["@odata.context"] =
                        serde_json::json!(format!("{}/v1.0/$metadata#Collection", self.base));
                    if index == 0 {
                        page["@odata.count"] = serde_json::json!(count);
                    }
                }
                if index + 1 < count {
                    let query = match flavor {
                        Flavor::Graph => String::new(),
                        Flavor::Arm => format!("api-version={ARM_API_VERSION}&"),
                    };
                    page[flavor.next_link()] = serde_json::json!(format!(
                        "{}{path}?{query}$skiptoken=page{}",
                        self.base,
                        index + 1
                    ));
                }
                page
            })
            .collect();
        self.state
            .lock()
            .expect("state")
            .pages
            .insert(path.to_owned(), documents);
    }

    /// The next request for page `page` (0 for the first) of `path` meets `fault`.
    pub(crate) fn fault(&self, path: &str, page: usize, fault: Fault) {
        self.state
            .lock()
            .expect("state")
            .faults
            .entry((path.to_owned(), page))
            .or_default()
            .push_back(fault);
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state").seen.clone()
    }

    pub(crate) fn token_requests(&self) -> usize {
        self.seen()
            .iter()
            .filter(|seen| seen.target.ends_with("/oauth2/v2.0/token"))
            .count()
    }

    /// One request, as the plumbing in `fake_http` hands it over.
    fn reply(&self, request: &Request) -> Reply {
        let seen = Seen {
            method: request.method.clone(),
            target: request.target.clone(),
            authorization: request.header("authorization").map(str::to_owned),
            prefer: request.header("prefer").map(str::to_owned),
            body: request.body.clone(),
        };
        let (status, extra, response) = self.respond(&seen);
        self.state.lock().expect("state").seen.push(seen);
        // A truncated answer promises its whole length and sends half.
        let truncated = extra.iter().any(|(name, _)| name == TRUNCATE);
        let stall = extra
            .iter()
            .find(|(name, _)| name == STALL)
            .and_then(|(_, millis)| millis.parse().ok())
            .map(std::time::Duration::from_millis);
        Reply {
            headers: extra
                .into_iter()
                .filter(|(name, _)| name != TRUNCATE && name != STALL)
                .collect(),
            cut_after: truncated.then_some(response.len() / 2),
            stall,
            ..Reply::json(status, response)
        }
    }

    fn respond(&self, seen: &Seen) -> (u16, Vec<(String, String)>, String) {
        let mut state = self.state.lock().expect("state");
        let flavor = state.flavor;
        let error = |code: &str, message: &str| match flavor {
            Flavor::Graph => graph_error(code, message),
            Flavor::Arm => arm_error(code, message),
        };
        if seen.method == "POST" && seen.target == format!("/{TENANT}/oauth2/v2.0/token") {
            let form: HashMap<String, String> = seen
                .body
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect();
            let get = |key: &str| form.get(key).map(String::as_str);
            if get("grant_type") != Some("client_credentials")
                || get("scope") != Some(flavor.scope())
            {
                return (
                    400,
                    vec![],
                    token_error(
                        "invalid_scope",
                        "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
                    ),
                );
            }
            if get("client_id") != Some(CLIENT_ID)
                || get("client_secret") != Some(state.secret.as_str())
            {
                // Echoes what it was sent, as a careless server might: dutywatch must not repeat it.
                let description = format!(
                    "AADSTS7000215: Invalid client secret provided: '{}'.",
                    get("client_secret").unwrap_or_default()
                );
                return (401, vec![], token_error("invalid_client", &description));
            }
            state.issued += 1;
            let token = state
                .fixed_token
                .clone()
                .unwrap_or_else(|| format!("eyJ0.fake-token-{}", state.issued));
            state.valid_tokens.push(token.clone());
            let body = serde_json::json!({
                "token_type": "Bearer",
                "expires_in": state.expires_in,
                "ext_expires_in": state.expires_in,
                "access_token": token,
            });
            return (200, vec![], body.to_string());
        }
        let (path, query) = seen
            .target
            .split_once('?')
            .unwrap_or((seen.target.as_str(), ""));
        let page = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("$skiptoken=page"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let fault = state
            .faults
            .get_mut(&(path.to_owned(), page))
            .and_then(VecDeque::pop_front);
        match fault {
            Some(Fault::Throttle(retry_after)) => {
                let headers = retry_after
                    .map(|v| ("Retry-After".to_owned(), v))
                    .into_iter()
                    .collect();
                return (429, headers, error("TooManyRequests", "Too many requests."));
            }
            Some(Fault::Unavailable(retry_after)) => {
                let headers = retry_after
                    .map(|v| ("Retry-After".to_owned(), v))
                    .into_iter()
                    .collect();
                return (
                    503,
                    headers,
                    error(
                        "serviceNotAvailable",
                        "The service is temporarily unavailable.",
                    ),
                );
            }
            Some(Fault::ExpireTokens) => state.valid_tokens.clear(),
            Some(Fault::NextLink(link)) => {
                let mut page = state
                    .pages
                    .get(path)
                    .and_then(|p| p.get(page))
                    .cloned()
                    .unwrap_or_default();
                page[flavor.next_link()] = serde_json::json!(link);
                return (200, vec![], page.to_string());
            }
            Some(Fault::Hang(duration)) => {
                drop(state);
                std::thread::sleep(duration);
                state = self.state.lock().expect("state");
            }
            Some(Fault::Error(status, code, message)) => {
                return (status, vec![], error(code, message));
            }
            Some(Fault::Raw(status, body)) => {
                let authorization = seen.authorization.clone().unwrap_or_default();
                return (
                    status,
                    vec![],
                    body.replace("{authorization}", &authorization),
                );
            }
            Some(Fault::Redirect(location)) => {
                return (302, vec![("Location".to_owned(), location)], String::new());
            }
            Some(Fault::Stall(duration)) => {
                let page = state
                    .pages
                    .get(path)
                    .and_then(|p| p.get(page))
                    .cloned()
                    .unwrap_or_default();
                return (
                    200,
                    vec![(STALL.to_owned(), duration.as_millis().to_string())],
                    page.to_string(),
                );
            }
            Some(Fault::Malformed) => {
                return (
                    200,
                    vec![],
                    "<html><body>502 Bad Gateway</body></html>".to_owned(),
                );
            }
            Some(Fault::Truncated) => {
                let page = state
                    .pages
                    .get(path)
                    .and_then(|p| p.get(page))
                    .cloned()
                    .unwrap_or_default();
                return (
                    200,
                    vec![(TRUNCATE.to_owned(), String::new())],
                    page.to_string(),
                );
            }
            None => {}
        }
        if flavor == Flavor::Arm
            && !query
                .split('&')
                .any(|pair| pair.starts_with("api-version="))
        {
            return (
                400,
                vec![],
                error(
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ),
            );
        }
        let token = seen
            .authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("Bearer "));
        if !token.is_some_and(|token| state.valid_tokens.iter().any(|t| t == token)) {
            return (
                401,
                vec![],
                error(
                    "InvalidAuthenticationToken",
                    "Access token has expired or is not yet valid.",
                ),
            );
        }
        match state.pages.get(path).and_then(|pages| pages.get(page)) {
            Some(document) => (200, vec![], document.to_string()),
            None => (
                404,
                vec![],
                error(
                    "Request_ResourceNotFound",
                    "Resource not found for the segment.",
                ),
            ),
        }
    }
}

fn graph_error(code: &str, message: &str) -> String {
    serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-11-23T15:00:00",
                "request-id": "0d7c2b07-a3f9-4c22-8d39-5e4d8b8a3c10",
                "client-request-id": "0d7c2b07-a3f9-4c22-8d39-5e4d8b8a3c10"
            }
        }
    })
    .to_string()
}

/// The api-version the fake ARM serves and links with.
pub(crate) const ARM_API_VERSION: &str = "2022-10-01";

/// A marker header (never sent) telling `handle` to cut the body short.
const TRUNCATE: &str = "x-fake-truncate";

/// A marker header (never sent) telling `handle` to stall after the headers, its value in
/// milliseconds.
const STALL: &str = "x-fake-stall";

/// ARM's error envelope, as in the common-types spec.
fn arm_error(code: &str, message: &str) -> String {
    serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "target": null,
            "details": [],
            "additionalInfo": []
        }
    })
    .to_string()
}

fn token_error(code: &str, description: &str) -> String {
    serde_json::json!({
        "error": code,
        "error_description": description,
        "error_codes": [7000215],
        "timestamp": "2026-11-23 15:00:00Z",
        "trace_id": "255d1aef-8c98-452f-ac51-23d051240864",
        "correlation_id": "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7"
    })
    .to_string()
}

/// A userRegistrationDetails item, as in the vendor example.
pub(crate) fn user(upn: &str, registered: bool) -> serde_json::Value {
    serde_json::json!({
        "id": format!("id-{upn}"),
        "userPrincipalName": upn,
        "userDisplayName": upn.split('@').next().unwrap_or(upn),
        "userType": "member",
        "isAdmin": false,
        "isMfaRegistered": registered,
        "isMfaCapable": registered,
        "isPasswordlessCapable": false,
        "methodsRegistered": if registered { serde_json::json!(["microsoftAuthenticatorPush"]) } else { serde_json::json!([]) },
        "userPreferredMethodForSecondaryAuthentication": if registered { "push" } else { "" },
        "lastUpdatedDateTime": "2026-11-20T19:15:41.6195833Z"
    })
}

/// An access review decision as Graph v1.0 sends it (`…/instances/{id}/decisions`): one
/// reviewed at `reviewed_at` was approved by a named reviewer; one nobody reviewed
/// (`None`) is `NotReviewed`, with the all-zero GUID as its reviewer and
/// `reviewedDateTime: null`.
pub(crate) fn review_decision(
    instance: &str,
    upn: &str,
    reviewed_at: Option<&str>,
) -> serde_json::Value {
    let (decision, by) = match reviewed_at {
        Some(_) => (
            "Approve",
            serde_json::json!({ "id": "5a8b7c6d-1111-4000-8000-000000000001",
                                "displayName": "Ann Reviewer", "userPrincipalName": "ann@contoso.com" }),
        ),
        None => (
            "NotReviewed",
            serde_json::json!({ "id": "00000000-0000-0000-0000-000000000000", "displayName": "" }),
        ),
    };
    serde_json::json!({
        "id": format!("dec-{instance}-{upn}"),
        "accessReviewId": instance,
        "decision": decision,
        "recommendation": "Approve",
        "justification": "",
        "reviewedBy": by,
        "reviewedDateTime": reviewed_at,
        "applyResult": "New",
        "appliedDateTime": null,
        "principal": { "@odata.type": "#microsoft.graph.userIdentity",
                       "displayName": upn, "userPrincipalName": upn },
        "target": { "userPrincipalName": upn }
    })
}
