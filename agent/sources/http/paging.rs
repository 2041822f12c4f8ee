//! Paging as each API does it, every page or none: a page that fails fails the collection, so
//! no partial list is ever stored as complete.
//! - The Microsoft APIs: Graph's `{"value": [...], "@odata.nextLink"}` and ARM's
//!   `{"value": [...], "nextLink"}` pages, the link followed as the full URL it is (never
//!   rebuilt from `$skiptoken`), only to the first page's origin; a single object (Graph's
//!   security defaults, an ARM workspace) read the same way. Each API's error envelope is
//!   read by its [`Dialect`].
//! - NinjaOne `/v2/queries/*`: `{"cursor": {name, offset, count, expires}, "results": [...]}`,
//!   the cursor's name sent back as `?cursor=` until an empty page or one that names no
//!   cursor (a short page may be the server's own cap); `/v2/devices` `after` the last id.
//! - Splunk: `count`/`offset` query parameters against `paging.total`.
//! - A portal: the next page's URL at a JSON pointer in the body, or in the `Link` header.

use reqwest::Url;
use reqwest::header::ACCEPT;

use super::fetch::Session;
use super::{
    Cap, ClientCredentials, Http, Run, Secrets, answer_json, https_or_loopback, leads_away, quote,
    read_capped,
};
use crate::config::NextPage;

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
            let response = http.send(run, url, what, &|client| {
                let mut request = client
                    .get(url.clone())
                    .bearer_auth(token.expose())
                    .header(ACCEPT, "application/json");
                for (name, value) in self.headers {
                    request = request.header(*name, *value);
                }
                request
            })?;
            let status = response.0.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !self.refreshed {
                // Expired or revoked before we thought: one new token, the same page again.
                self.refreshed = true;
                http.forget_token(&self.credentials.key(), &token);
                tracing::info!(what, "HttpTokenRefreshedAfter401");
                continue;
            }
            let body = read_capped(
                response,
                self.limit - self.read,
                Cap::Source(self.limit),
                what,
            )?;
            self.read += body.len() as u64;
            if !status.is_success() {
                let secrets = Secrets::client(self.credentials, Some(&token));
                return Err(format!("{what}: {}", self.error(status, &body, &secrets)));
            }
            let document = answer_json(&body, what)?;
            return match document {
                // An error said in a 200 beside the data (as Log Analytics' query API says a
                // `PartialError`; a throttled or failed part of an answer): what came may be
                // incomplete. `"error": null` says there is none.
                serde_json::Value::Object(document)
                    if document.get("error").is_some_and(|e| !e.is_null()) =>
                {
                    let secrets = Secrets::client(self.credentials, Some(&token));
                    let error = &document["error"];
                    let (codes, message) = codes_and_message(error);
                    let said = if codes.is_empty() && message.is_empty() {
                        quote(&error.to_string(), &secrets)
                    } else {
                        format!(
                            "{}: {}",
                            quote(&codes.join("/"), &secrets),
                            quote(message, &secrets)
                        )
                    };
                    Err(format!(
                        "{what}: HTTP {} with an error beside the data ({said}); the answer may be incomplete, so none of it is used",
                        status.as_u16()
                    ))
                }
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
        self.pages(http, run, first, &mut |page| {
            items.extend(page);
            Ok(())
        })?;
        Ok(items)
    }

    /// [`list`](Api::list) as the document dutywatch stores, `{"value": [...]}`, the same
    /// bytes: each page's items are written out as the page arrives, so memory holds one page
    /// as values and the document as text, not every page's values (a tenant's 50,000 devices
    /// are some ten times their text as values).
    pub(crate) fn list_document(
        &mut self,
        http: &Http,
        run: &Run,
        first: &Url,
    ) -> Result<Vec<u8>, String> {
        let mut document = b"{\"value\":[".to_vec();
        let mut count = 0_usize;
        self.pages(http, run, first, &mut |page| {
            for item in page {
                if count > 0 {
                    document.push(b',');
                }
                count += 1;
                serde_json::to_writer(&mut document, &item)
                    .map_err(|error| format!("{first}: cannot merge the pages: {error}"))?;
            }
            Ok(())
        })?;
        document.extend_from_slice(b"]}");
        Ok(document)
    }

    /// Follows the list at `first` page by page, handing each page's items to `each`.
    fn pages(
        &mut self,
        http: &Http,
        run: &Run,
        first: &Url,
        each: &mut dyn FnMut(Vec<serde_json::Value>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut url = first.clone();
        let mut page = 1;
        let mut items = 0;
        let next_key = self.dialect.next_link();
        let mut visited = std::collections::HashSet::from([first.to_string()]);
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
                Some(serde_json::Value::Array(values)) => {
                    items += values.len();
                    each(values)?;
                }
                _ => return Err(format!("{what}: the answer has no `value` list")),
            }
            match document.remove(next_key) {
                None | Some(serde_json::Value::Null) => break,
                Some(serde_json::Value::String(next)) if next.is_empty() => break,
                Some(serde_json::Value::String(next)) => {
                    let next = Url::parse(&next)
                        .map_err(|error| format!("{what}: `{next_key}` is not a URL ({error})"))?;
                    if let Some(why) = leads_away(first, &next) {
                        return Err(format!("{what}: `{next_key}` {why}; refused"));
                    }
                    // A link back to this page, or to one before (A → B → A), would page
                    // until `max_pages`.
                    if next == url {
                        return Err(format!(
                            "{what}: `{next_key}` names this same page; the pages do not advance"
                        ));
                    }
                    if !visited.insert(next.to_string()) {
                        return Err(format!(
                            "{what}: `{next_key}` leads back to a page read before ({next}); the pages go round in a loop"
                        ));
                    }
                    url = next;
                    page += 1;
                }
                Some(_) => return Err(format!("{what}: `{next_key}` is not a string")),
            }
        }
        tracing::debug!(origin = %first, pages = page, items, "HttpPagesCollected");
        Ok(())
    }

    fn error(&self, status: reqwest::StatusCode, body: &[u8], secrets: &Secrets<'_>) -> String {
        match self.dialect {
            Dialect::Graph => graph_error(status, body, self.permission, secrets),
            Dialect::Arm => arm_error(status, body, self.permission, secrets),
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
    secrets: &Secrets<'_>,
) -> Result<&'b serde_json::Value, String> {
    json.as_ref()
        .and_then(|json| json.get("error"))
        .filter(|error| error.is_object())
        .ok_or_else(|| {
            let text = String::from_utf8_lossy(body);
            format!("HTTP {} {}", status.as_u16(), quote(&text, secrets))
        })
}

/// Graph's error envelope as one line: the status, the codes and the message, with what to
/// do for the errors that say.
fn graph_error(
    status: reqwest::StatusCode,
    body: &[u8],
    permission: Option<&str>,
    secrets: &Secrets<'_>,
) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = match envelope(status, body, &json, secrets) {
        Ok(error) => error,
        Err(text) => return text,
    };
    let (codes, message) = codes_and_message(error);
    let mut text = format!(
        "HTTP {} {}: {}",
        status.as_u16(),
        quote(&codes.join("/"), secrets),
        quote(message, secrets)
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
    secrets: &Secrets<'_>,
) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = match envelope(status, body, &json, secrets) {
        Ok(error) => error,
        Err(text) => return text,
    };
    let (mut codes, message) = codes_and_message(error);
    let mut message = quote(message, secrets);
    if let Some(target) = error.get("target").and_then(|target| target.as_str()) {
        message.push_str(&format!(" (target `{}`)", quote(target, secrets)));
    }
    if let Some(detail) = error
        .get("details")
        .and_then(|details| details.as_array())
        .and_then(|details| details.first())
    {
        let (detail_codes, detail_message) = codes_and_message(detail);
        codes.extend(detail_codes);
        if !detail_message.is_empty() {
            message.push_str(&format!("; {}", quote(detail_message, secrets)));
        }
    }
    let mut text = format!(
        "HTTP {} {}: {message}",
        status.as_u16(),
        quote(&codes.join("/"), secrets)
    );
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

/// A pager's pages, items merged in order.
fn check_page_count(session: &Session<'_>, page: usize, first: &Url) -> Result<(), String> {
    let max = session.policy().max_pages;
    if page > max {
        return Err(format!("{first}: more than {max} pages; narrow the query"));
    }
    Ok(())
}

/// Takes the array at `key` out of a page that must be a JSON object.
fn take_list(
    page: &mut serde_json::Value,
    key: &str,
    what: &str,
) -> Result<Vec<serde_json::Value>, String> {
    let serde_json::Value::Object(object) = page else {
        return Err(format!("{what}: the answer is not a JSON object"));
    };
    match object.remove(key) {
        Some(serde_json::Value::Array(items)) => Ok(items),
        Some(serde_json::Value::Null) | None => {
            Err(format!("{what}: the answer has no `{key}` list"))
        }
        Some(_) => Err(format!("{what}: `{key}` is not a list")),
    }
}

/// A NinjaOne cursor as a page describes the next one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cursor {
    pub(crate) name: String,
    /// When the server forgets it, epoch seconds (a float in NinjaOne's answers).
    pub(crate) expires: Option<f64>,
}

/// Every page of a NinjaOne query from `first` (which carries the filters), `page_size` items
/// a page: the first page without a cursor, each next one with the cursor the page before
/// named. An empty page, or one that names no next cursor, is the last; a short page is not,
/// since a server may hold fewer than asked to its own cap, and stopping there would store
/// part of the report as all of it. A cursor that has expired by the time it would
/// be used is a failed collection: the server would answer from a fresh start, and the pages
/// together would no longer be one consistent report.
pub(crate) fn collect_cursor(
    session: &mut Session<'_>,
    first: &Url,
    page_size: u32,
) -> Result<Vec<serde_json::Value>, String> {
    let mut items = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut page = 1;
    loop {
        check_page_count(session, page, first)?;
        let mut url = first.clone();
        url.query_pairs_mut()
            .append_pair("pageSize", &page_size.to_string());
        if let Some(cursor) = &cursor {
            if let Some(expires) = cursor.expires
                && (session.run.now().as_millisecond() as f64) / 1000.0 >= expires
            {
                let at = jiff::Timestamp::from_millisecond((expires * 1000.0) as i64)
                    .map_or_else(|_| expires.to_string(), |t| t.to_string());
                return Err(format!(
                    "page {page} ({first}): the cursor of page {} expired at {at}, before the next page was fetched; the report is incomplete, so nothing is stored (the next scheduled collection starts over)",
                    page - 1
                ));
            }
            url.query_pairs_mut().append_pair("cursor", &cursor.name);
        }
        let what = format!("page {page} ({url})");
        let mut json = session.fetch(&url, &what)?.json;
        let results = take_list(&mut json, "results", &what)?;
        let count = results.len();
        // The page says how many results it holds: fewer came (cut short on the way). More
        // is not refused: what `count` means beyond that is not documented.
        if let Some(said) = json
            .get("cursor")
            .and_then(|c| c.get("count"))
            .and_then(serde_json::Value::as_u64)
            && said > count as u64
        {
            return Err(format!(
                "{what}: the page holds {count} result(s) where its `cursor.count` says {said}; the report is incomplete, so nothing is stored"
            ));
        }
        items.extend(results);
        if count == 0 {
            break;
        }
        let next = match json.get("cursor") {
            Some(serde_json::Value::Object(next)) => match next.get("name") {
                Some(serde_json::Value::String(name)) if !name.is_empty() => Cursor {
                    name: name.clone(),
                    expires: next.get("expires").and_then(serde_json::Value::as_f64),
                },
                _ => break,
            },
            None | Some(serde_json::Value::Null) => break,
            Some(_) => return Err(format!("{what}: `cursor` is not an object")),
        };
        // A server that hands back the cursor it was given would page forever.
        if cursor
            .as_ref()
            .is_some_and(|before| before.name == next.name)
        {
            return Err(format!(
                "{what}: the page names the cursor it was asked with; the pages do not advance"
            ));
        }
        cursor = Some(next);
        page += 1;
    }
    tracing::debug!(origin = %first, pages = page, items = items.len(), "HttpPagesCollected");
    Ok(items)
}

/// Every page of NinjaOne's `/v2/devices` from `first`: `pageSize` devices a page, each next
/// page `after` the last device id of the one before, until an empty page (a short one may be
/// the server's own cap, as in [`collect_cursor`]).
pub(crate) fn collect_after(
    session: &mut Session<'_>,
    first: &Url,
    page_size: u32,
) -> Result<Vec<serde_json::Value>, String> {
    let mut items: Vec<serde_json::Value> = Vec::new();
    let mut page = 1;
    loop {
        check_page_count(session, page, first)?;
        let mut url = first.clone();
        url.query_pairs_mut()
            .append_pair("pageSize", &page_size.to_string());
        if let Some(last) = items.last() {
            let id = match last.get("id") {
                Some(serde_json::Value::Number(id)) => id.to_string(),
                Some(serde_json::Value::String(id)) => id.clone(),
                _ => {
                    return Err(format!(
                        "page {} ({first}): its last device has no `id` to page after",
                        page - 1
                    ));
                }
            };
            url.query_pairs_mut().append_pair("after", &id);
        }
        let what = format!("page {page} ({url})");
        let json = session.fetch(&url, &what)?.json;
        let serde_json::Value::Array(devices) = json else {
            return Err(format!("{what}: the answer is not a list of devices"));
        };
        let count = devices.len();
        // A server that ignores `after` would serve the first page forever.
        if count > 0 && devices.last() == items.last() {
            return Err(format!(
                "{what}: the page ends with the device it was asked to page after; the pages do not advance"
            ));
        }
        items.extend(devices);
        if count == 0 {
            break;
        }
        page += 1;
    }
    tracing::debug!(origin = %first, pages = page, items = items.len(), "HttpPagesCollected");
    Ok(items)
}

/// Every page of a Splunk collection from `first`: `count` entries a page at increasing
/// `offset`, until `paging.total` entries are read (or an empty page, when the server says no
/// total).
/// Splunk's `messages` (`[{"type", "text"}]`) as lines, `TYPE: text` (a message without text
/// as written); only those of type ERROR or FATAL when `errors_only`.
pub(crate) fn splunk_messages(json: &serde_json::Value, errors_only: bool) -> Vec<String> {
    json.get("messages")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|message| {
            let kind = message
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let error = kind.eq_ignore_ascii_case("error") || kind.eq_ignore_ascii_case("fatal");
            if errors_only && !error {
                return None;
            }
            let text = message
                .get("text")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| message.to_string(), str::to_owned);
            Some(if kind.is_empty() {
                text
            } else {
                format!("{kind}: {text}")
            })
        })
        .collect()
}

pub(crate) fn collect_offset(
    session: &mut Session<'_>,
    first: &Url,
    page_size: u32,
) -> Result<Vec<serde_json::Value>, String> {
    let mut items = Vec::new();
    let mut page = 1;
    loop {
        check_page_count(session, page, first)?;
        let mut url = first.clone();
        url.query_pairs_mut()
            .append_pair("count", &page_size.to_string())
            .append_pair("offset", &items.len().to_string());
        let what = format!("page {page} ({url})");
        let mut json = session.fetch(&url, &what)?.json;
        // An error said beside the entries (a 200 page): the list may be incomplete.
        let errors = splunk_messages(&json, true);
        if !errors.is_empty() {
            return Err(format!(
                "{what}: Splunk says {}",
                session.quote(&errors.join("; "))
            ));
        }
        let entries = take_list(&mut json, "entry", &what)?;
        let count = entries.len();
        // A server that ignores `offset` serves the first page again and again, which
        // would add up to `paging.total` with every entry read twice.
        let asked = items.len() as u64;
        if let Some(said) = paging_number(&json, "/paging/offset")
            && said != asked
        {
            return Err(format!(
                "{what}: the page says `paging.offset` {said} where offset {asked} was asked; the server ignores `offset`, so the pages do not advance"
            ));
        }
        if page > 1 && count > 0 && items.ends_with(&entries) {
            return Err(format!(
                "{what}: the page holds the same entries as the page before; the pages do not advance"
            ));
        }
        items.extend(entries);
        let total = paging_number(&json, "/paging/total");
        match total {
            Some(total) if items.len() as u64 >= total => break,
            Some(total) if count == 0 => {
                return Err(format!(
                    "{what}: an empty page after {} of the {total} entries `paging.total` announced; the list changed while it was read",
                    items.len()
                ));
            }
            // Without a total only an empty page ends the list (a short one may be a cap).
            None if count == 0 => break,
            _ => {}
        }
        page += 1;
    }
    // Every index once: an entry twice means pages that overlap, and the list is not the
    // server's.
    let mut names = std::collections::HashSet::new();
    if let Some(twice) = items
        .iter()
        .filter_map(|entry| entry.get("name").and_then(serde_json::Value::as_str))
        .find(|name| !names.insert(*name))
    {
        return Err(format!(
            "{first}: the pages hold the entry `{}` twice; they overlap instead of advancing, so the list is incomplete",
            session.quote(twice)
        ));
    }
    tracing::debug!(origin = %first, pages = page, items = items.len(), "HttpPagesCollected");
    Ok(items)
}

/// A Splunk `paging` number at `pointer`: Splunk writes numbers, some proxies strings.
fn paging_number(json: &serde_json::Value, pointer: &str) -> Option<u64> {
    json.pointer(pointer).and_then(|value| match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Every page of a portal's list from `first`, the records of each at `records` (a JSON
/// pointer; `""` for a page that is the list itself). Next links stay on `first`'s origin.
pub(crate) fn collect_link(
    session: &mut Session<'_>,
    first: &Url,
    records: &str,
    paging: &NextPage,
) -> Result<Vec<serde_json::Value>, String> {
    let mut items = Vec::new();
    let mut url = first.clone();
    let mut page = 1;
    let mut visited = std::collections::HashSet::from([first.to_string()]);
    loop {
        check_page_count(session, page, first)?;
        let what = format!("page {page} ({url})");
        let fetched = session.fetch(&url, &what)?;
        let mut json = fetched.json;
        let next = match paging {
            NextPage::None => None,
            NextPage::Pointer(pointer) => match json.pointer(pointer) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(next)) if next.is_empty() => None,
                Some(serde_json::Value::String(next)) => Some(next.clone()),
                Some(_) => return Err(format!("{what}: `{pointer}` is not a URL string")),
            },
            NextPage::LinkHeader => next_from_link_header(&fetched.headers),
        };
        match json.pointer_mut(records).map(serde_json::Value::take) {
            Some(serde_json::Value::Array(records)) => items.extend(records),
            Some(_) => {
                return Err(format!("{what}: the records at `{records}` are not a list"));
            }
            None => {
                return Err(format!(
                    "{what}: the answer has nothing at `{records}`, where the records should be; check `records_pointer`"
                ));
            }
        }
        let Some(next) = next else { break };
        let next = url
            .join(&next)
            .map_err(|error| format!("{what}: the next link `{next}` is not a URL ({error})"))?;
        if let Some(why) = leads_away(first, &next) {
            return Err(format!("{what}: the next link {why}; refused"));
        }
        if !visited.insert(next.to_string()) {
            return Err(format!(
                "{what}: the next link leads back to a page read before ({next}); the pages go round in a loop"
            ));
        }
        url = next;
        page += 1;
    }
    tracing::debug!(origin = %first, pages = page, items = items.len(), "HttpPagesCollected");
    Ok(items)
}

/// The `rel="next"` target of the `Link` headers, if any.
fn next_from_link_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            params
                .split(';')
                .filter_map(|param| param.trim().split_once('='))
                .any(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("rel")
                        && value
                            .trim()
                            .trim_matches('"')
                            .split_whitespace()
                            .any(|rel| rel.eq_ignore_ascii_case("next"))
                })
                .then(|| target.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_link_headers() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append(
            reqwest::header::LINK,
            "<https://portal.example/api/devices?page=1>; rel=\"prev\", <https://portal.example/api/devices?page=3>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_from_link_header(&headers).as_deref(),
            Some("https://portal.example/api/devices?page=3")
        );
        let mut last = reqwest::header::HeaderMap::new();
        last.append(
            reqwest::header::LINK,
            "<https://portal.example/api/devices?page=1>; rel=first"
                .parse()
                .unwrap(),
        );
        assert_eq!(next_from_link_header(&last), None);
    }
}
