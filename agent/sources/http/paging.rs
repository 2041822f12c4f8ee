//! Graph lists: `{"value": [...], "@odata.nextLink": "https://..."}` pages, the link followed
//! as the full URL it is (never rebuilt from `$skiptoken`), only to the first page's origin.

use reqwest::Url;
use reqwest::header::ACCEPT;

use super::{ClientCredentials, Http, Run, https_or_loopback, quote, read_capped, same_origin};

/// Every page from `first` merged into one `{"value": [...]}` document, or the reason there
/// is none: a page that fails fails the whole collection, so no partial list is ever stored
/// as complete. `limit` bounds the bytes of all pages together; `permission` is named when
/// Graph says one is missing.
pub(crate) fn collect_odata(
    http: &Http,
    run: &Run,
    credentials: &ClientCredentials<'_>,
    first: &Url,
    limit: u64,
    permission: Option<&str>,
) -> Result<Vec<u8>, String> {
    https_or_loopback(first)?;
    let mut items = Vec::new();
    let mut url = first.clone();
    let mut page = 1;
    let mut read = 0u64;
    let mut refreshed = false;
    loop {
        if page > http.policy.max_pages {
            return Err(format!(
                "{first}: more than {} pages; narrow the query with a `path` $filter",
                http.policy.max_pages
            ));
        }
        let what = format!("page {page} ({url})");
        let token = http.token(run, credentials)?;
        let response = http.send(run, &what, &|client| {
            client
                .get(url.clone())
                .bearer_auth(token.expose())
                .header(ACCEPT, "application/json")
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
            // Expired or revoked before we thought: one new token, the same page again.
            refreshed = true;
            http.forget_token(&credentials.key());
            tracing::info!(page, "HttpTokenRefreshedAfter401");
            continue;
        }
        let body = read_capped(response, limit - read, limit, &what)?;
        read += body.len() as u64;
        if !status.is_success() {
            return Err(format!(
                "{what}: {}",
                graph_error(status, &body, permission, credentials)
            ));
        }
        let document: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|error| format!("{what}: the answer is not JSON ({error})"))?;
        let serde_json::Value::Object(mut document) = document else {
            return Err(format!("{what}: the answer is not a JSON object"));
        };
        match document.remove("value") {
            Some(serde_json::Value::Array(values)) => items.extend(values),
            _ => return Err(format!("{what}: the answer has no `value` list")),
        }
        match document.remove("@odata.nextLink") {
            None | Some(serde_json::Value::Null) => break,
            Some(serde_json::Value::String(next)) => {
                let next = Url::parse(&next)
                    .map_err(|error| format!("{what}: `@odata.nextLink` is not a URL ({error})"))?;
                if !same_origin(first, &next) {
                    return Err(format!(
                        "{what}: `@odata.nextLink` leads to `{}`, away from `{}`; refused",
                        next.origin().ascii_serialization(),
                        first.origin().ascii_serialization()
                    ));
                }
                url = next;
                page += 1;
            }
            Some(_) => return Err(format!("{what}: `@odata.nextLink` is not a string")),
        }
    }
    tracing::debug!(origin = %first, pages = page, items = items.len(), "HttpPagesCollected");
    serde_json::to_vec(&serde_json::json!({ "value": items }))
        .map_err(|error| format!("{first}: cannot merge the pages: {error}"))
}

/// Graph's error envelope `{"error": {"code", "message", "innerError"}}` as one line: the
/// status, the codes (outer, then nested) and the message, with what to do for the errors
/// that say.
fn graph_error(
    status: reqwest::StatusCode,
    body: &[u8],
    permission: Option<&str>,
    credentials: &ClientCredentials<'_>,
) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().and_then(|json| json.get("error"));
    let Some(error) = error.filter(|error| error.is_object()) else {
        let text = String::from_utf8_lossy(body);
        return format!(
            "HTTP {} {}",
            status.as_u16(),
            quote(&text, Some(credentials.secret))
        );
    };
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
