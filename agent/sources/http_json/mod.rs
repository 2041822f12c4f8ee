//! `http_json`: an MSP's own portal. A bearer token or a named header, pages linked by a JSON
//! pointer to the next URL or the `Link` header (or one page), the records at a JSON pointer,
//! fields mapped onto a kind with the source's `fields`. The pages are stored as one answer
//! with the records at the same pointer, which is also what a saved page holds.

use dutywatch_checks::read::{Parsed, ReadError};
use reqwest::StatusCode;

use super::http::{Session, collect_link};
use crate::config::{Api, FileFormat, NextPage, Source, pointer_path};

pub(super) fn collect(
    session: &mut Session<'_>,
    api: &Api,
    records: &str,
    next: &NextPage,
) -> Result<Vec<u8>, String> {
    let items = collect_link(session, &api.url, records, next)?;
    serde_json::to_vec(&nest(records, serde_json::Value::Array(items)))
        .map_err(|error| format!("cannot merge the pages: {error}"))
}

pub(super) fn read(
    source: &Source,
    records: &str,
    origin: &str,
    payload: &[u8],
) -> Result<Parsed, ReadError> {
    let path = pointer_path(records);
    dutywatch_checks::read::read(
        FileFormat::Json,
        path.as_ref(),
        origin,
        payload,
        source.reader(),
    )
}

/// `items` placed at `pointer` in an otherwise empty document: `/data/items` →
/// `{"data": {"items": items}}`.
fn nest(pointer: &str, items: serde_json::Value) -> serde_json::Value {
    let keys: Vec<&str> = pointer.split('/').skip(1).collect();
    keys.into_iter()
        .rev()
        .fold(items, |inner, key| serde_json::json!({ key: inner }))
}

/// A portal's error: its status and body, and what to do for a refused credential.
pub(super) fn error(status: StatusCode, body: &[u8]) -> (String, &'static str) {
    let line = format!(
        "HTTP {} {}",
        status.as_u16(),
        String::from_utf8_lossy(body).trim()
    );
    let hint = match status {
        StatusCode::UNAUTHORIZED => "; check the source's `token` (and `header`)",
        StatusCode::FORBIDDEN => {
            "; the token is valid but may not read this list; ask the portal's administrator for read access"
        }
        _ => "",
    };
    (line, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_nested_back_at_their_pointer() {
        assert_eq!(
            nest("/data/items", serde_json::json!([1])),
            serde_json::json!({"data": {"items": [1]}})
        );
        assert_eq!(nest("", serde_json::json!([1])), serde_json::json!([1]));
    }
}
