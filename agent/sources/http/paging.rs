//! JSON lists and objects of the Microsoft APIs: Graph's `{"value": [...], "@odata.nextLink"}`
//! and ARM's `{"value": [...], "nextLink"}` pages, the link followed as the full URL it is
//! (never rebuilt from `$skiptoken`), only to the first page's origin; a single object (Graph's
//! security defaults, an ARM workspace) read the same way. Each API's error envelope is read
//! by its [`Dialect`].

use reqwest::Url;
use reqwest::header::ACCEPT;

use super::{ClientCredentials, Http, Run, https_or_loopback, quote, read_capped, same_origin};

/// Which Microsoft API answers: where its next-page link sits and how its errors read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Graph,
    Arm,
}

impl Dialect {
    fn next_link(self) -> &'static str {
        match self {
            Dialect::Graph => "@odata.nextLink",
            Dialect::Arm => "nextLink",
        }
    }
}

/// What a collection's requests share: the credentials, the permission (or Azure role) named
/// when the API refuses, request headers sent with every page (Graph does not carry them to
/// the next link), and the bytes all its answers may take together.
pub(crate) struct Api<'a> {
    pub(crate) credentials: &'a ClientCredentials<'a>,
    pub(crate) dialect: Dialect,
    pub(crate) permission: Option<&'a str>,
    pub(crate) headers: &'a [(&'static str, &'static str)],
    pub(crate) limit: u64,
    read: u64,
    /// A 401 is answered with one new token per collection, not one per page.
    refreshed: bool,
}

impl<'a> Api<'a> {
    pub(crate) fn new(
        credentials: &'a ClientCredentials<'a>,
        dialect: Dialect,
        permission: Option<&'a str>,
        limit: u64,
    ) -> Api<'a> {
        Api {
            credentials,
            dialect,
            permission,
            headers: &[],
            limit,
            read: 0,
            refreshed: false,
        }
    }

    /// One GET answered with a JSON object, or why not: the token (renewed once on a 401),
    /// throttling, the size left of the collection's budget, the API's error envelope.
    pub(crate) fn object(
        &mut self,
        http: &Http,
        run: &Run,
        url: &Url,
        what: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        https_or_loopback(url)?;
        loop {
            let token = http.token(run, self.credentials)?;
            let response = http.send(run, what, &|client| {
                let mut request = client
                    .get(url.clone())
                    .bearer_auth(token.expose())
                    .header(ACCEPT, "application/json");
                for (name, value) in self.headers {
                    request = request.header(*name, *value);
                }
                request
            })?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !self.refreshed {
                // Expired or revoked before we thought: one new token, the same page again.
                self.refreshed = true;
                http.forget_token(&self.credentials.key());
                tracing::info!(what, "HttpTokenRefreshedAfter401");
                continue;
            }
            let body = read_capped(response, self.limit - self.read, self.limit, what)?;
            self.read += body.len() as u64;
            if !status.is_success() {
                return Err(format!("{what}: {}", self.error(status, &body)));
            }
            let document: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|error| format!("{what}: the answer is not JSON ({error})"))?;
            return match document {
                serde_json::Value::Object(document) => Ok(document),
                _ => Err(format!("{what}: the answer is not a JSON object")),
            };
        }
    }

    /// Every item of the list at `first`, all its pages, or the reason there is none: a page
    /// that fails fails the whole collection, so no partial list is ever stored as complete.
    pub(crate) fn list(
        &mut self,
        http: &Http,
        run: &Run,
        first: &Url,
    ) -> Result<Vec<serde_json::Value>, String> {
        let mut items = Vec::new();
        let mut url = first.clone();
        let mut page = 1;
        let next_key = self.dialect.next_link();
        loop {
            if page > http.policy.max_pages {
                return Err(format!(
                    "{first}: more than {} pages; narrow the query with a `path` $filter",
                    http.policy.max_pages
                ));
            }
            let what = format!("page {page} ({url})");
            let mut document = self.object(http, run, &url, &what)?;
            match document.remove("value") {
                Some(serde_json::Value::Array(values)) => items.extend(values),
                _ => return Err(format!("{what}: the answer has no `value` list")),
            }
            match document.remove(next_key) {
                None | Some(serde_json::Value::Null) => break,
                Some(serde_json::Value::String(next)) if next.is_empty() => break,
                Some(serde_json::Value::String(next)) => {
                    let next = Url::parse(&next)
                        .map_err(|error| format!("{what}: `{next_key}` is not a URL ({error})"))?;
                    if !same_origin(first, &next) {
                        return Err(format!(
                            "{what}: `{next_key}` leads to `{}`, away from `{}`; refused",
                            next.origin().ascii_serialization(),
                            first.origin().ascii_serialization()
                        ));
                    }
                    url = next;
                    page += 1;
                }
                Some(_) => return Err(format!("{what}: `{next_key}` is not a string")),
            }
        }
        tracing::debug!(origin = %first, pages = page, items = items.len(), "HttpPagesCollected");
        Ok(items)
    }

    fn error(&self, status: reqwest::StatusCode, body: &[u8]) -> String {
        match self.dialect {
            Dialect::Graph => graph_error(status, body, self.permission, self.credentials),
            Dialect::Arm => arm_error(status, body, self.permission, self.credentials),
        }
    }
}

/// The bytes of a document dutywatch put together from pages.
pub(crate) fn to_document(origin: &Url, document: serde_json::Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&document)
        .map_err(|error| format!("{origin}: cannot merge the pages: {error}"))
}

/// The codes of an error envelope `{"error": {"code", "message", "innerError"}}`, outer first
/// then nested (`innerError` or `innererror`), and its message.
fn codes_and_message(error: &serde_json::Value) -> (Vec<String>, &str) {
    let mut codes = Vec::new();
    let mut level = Some(error);
    while let Some(current) = level {
        if let Some(code) = current.get("code").and_then(|code| code.as_str()) {
            codes.push(code.to_owned());
        }
        level = current
            .get("innerError")
            .or_else(|| current.get("innererror"))
            .filter(|inner| inner.is_object());
    }
    let message = error
        .get("message")
        .and_then(|message| message.as_str())
        .unwrap_or("");
    (codes, message)
}

/// The `error` object of an envelope, or the body quoted when there is none.
fn envelope<'b>(
    status: reqwest::StatusCode,
    body: &[u8],
    json: &'b Option<serde_json::Value>,
    credentials: &ClientCredentials<'_>,
) -> Result<&'b serde_json::Value, String> {
    json.as_ref()
        .and_then(|json| json.get("error"))
        .filter(|error| error.is_object())
        .ok_or_else(|| {
            let text = String::from_utf8_lossy(body);
            format!(
                "HTTP {} {}",
                status.as_u16(),
                quote(&text, Some(credentials.secret))
            )
        })
}

/// Graph's error envelope as one line: the status, the codes and the message, with what to
/// do for the errors that say.
fn graph_error(
    status: reqwest::StatusCode,
    body: &[u8],
    permission: Option<&str>,
    credentials: &ClientCredentials<'_>,
) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = match envelope(status, body, &json, credentials) {
        Ok(error) => error,
        Err(text) => return text,
    };
    let (codes, message) = codes_and_message(error);
    let mut text = format!(
        "HTTP {} {}: {}",
        status.as_u16(),
        codes.join("/"),
        quote(message, Some(credentials.secret))
    );
    if codes
        .iter()
        .any(|code| code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    {
        text.push_str("; this report needs an Entra ID P1 or P2 licence on the tenant");
    } else if status == reqwest::StatusCode::FORBIDDEN
        && let Some(permission) = permission
    {
        text.push_str(&format!(
            "; grant the app registration the application permission {permission} (with admin consent)"
        ));
    } else if status == reqwest::StatusCode::UNAUTHORIZED {
        text.push_str("; refused even with a new token");
    }
    text
}

/// ARM's error envelope `{"error": {"code", "message", "target", "details": [...]}}` as one
/// line, the first detail's code and message too; `role` is the Azure role named on a 403.
fn arm_error(
    status: reqwest::StatusCode,
    body: &[u8],
    role: Option<&str>,
    credentials: &ClientCredentials<'_>,
) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = match envelope(status, body, &json, credentials) {
        Ok(error) => error,
        Err(text) => return text,
    };
    let (mut codes, message) = codes_and_message(error);
    let mut message = quote(message, Some(credentials.secret));
    if let Some(target) = error.get("target").and_then(|target| target.as_str()) {
        message.push_str(&format!(" (target `{}`)", quote(target, None)));
    }
    if let Some(detail) = error
        .get("details")
        .and_then(|details| details.as_array())
        .and_then(|details| details.first())
    {
        let (detail_codes, detail_message) = codes_and_message(detail);
        codes.extend(detail_codes);
        if !detail_message.is_empty() {
            message.push_str(&format!(
                "; {}",
                quote(detail_message, Some(credentials.secret))
            ));
        }
    }
    let mut text = format!("HTTP {} {}: {message}", status.as_u16(), codes.join("/"));
    if status == reqwest::StatusCode::FORBIDDEN
        && let Some(role) = role
    {
        text.push_str(&format!(
            "; assign the app registration's service principal the Azure role {role} on the workspace (or its resource group)"
        ));
    } else if status == reqwest::StatusCode::UNAUTHORIZED {
        text.push_str("; refused even with a new token");
    } else if status == reqwest::StatusCode::NOT_FOUND {
        text.push_str("; check `subscription`, `resource_group` and `workspace`");
    }
    text
}
