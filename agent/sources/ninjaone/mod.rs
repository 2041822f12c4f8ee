//! NinjaOne public API v2: `/v2/queries/os-patches` and `/v2/queries/os-patch-installs`
//! (cursor pages `{"cursor": {name, offset, count, expires}, "results": [...]}`, times as
//! float epoch seconds) and `/v2/devices` (a list, paged `after` the last id), with OAuth
//! client credentials (scope `monitoring`). The pages are stored as one answer of the same
//! shape, `{"results": [...]}` or `[...]`, which is also what a saved answer holds; the
//! `patch` and `rmm_device` kinds read NinjaOne's field names directly.

use dutywatch_checks::predicate::FieldPath;
use dutywatch_checks::read::{Parsed, ReadError};
use reqwest::StatusCode;

use super::connector::text_at;
use super::http::{Session, collect_after, collect_cursor};
use crate::config::{Api, FileFormat, NinjaQuery, Source};

pub(super) fn collect(
    session: &mut Session<'_>,
    api: &Api,
    query: NinjaQuery,
) -> Result<Vec<u8>, String> {
    let merged = match query {
        NinjaQuery::OsPatches | NinjaQuery::OsPatchInstalls => {
            let results = collect_cursor(session, &api.url, api.page_size)?;
            serde_json::json!({ "results": results })
        }
        NinjaQuery::Devices => {
            serde_json::Value::Array(collect_after(session, &api.url, api.page_size)?)
        }
    };
    serde_json::to_vec(&merged).map_err(|error| format!("cannot merge the pages: {error}"))
}

/// The patch queries' records sit in `results`; the device list is the records.
pub(super) fn read(
    source: &Source,
    query: NinjaQuery,
    origin: &str,
    payload: &[u8],
) -> Result<Parsed, ReadError> {
    let results = FieldPath::single("results");
    let records = match query {
        NinjaQuery::OsPatches | NinjaQuery::OsPatchInstalls => Some(&results),
        NinjaQuery::Devices => None,
    };
    dutywatch_checks::read::read(FileFormat::Json, records, origin, payload, source.reader())
}

/// NinjaOne's error answers: the OAuth form (`error`, `error_description`) or the API's
/// (`errorMessage`, `resultCode`), with what to do for a refused credential or scope.
pub(super) fn error(status: StatusCode, body: &[u8]) -> (String, &'static str) {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = text_at(
        json.as_ref(),
        &["/errorMessage", "/error_description", "/message", "/error"],
    )
    .map_or_else(
        || String::from_utf8_lossy(body).trim().to_owned(),
        str::to_owned,
    );
    let code = text_at(json.as_ref(), &["/resultCode", "/error"])
        .filter(|code| *code != text)
        .map(|code| format!("{code}: "))
        .unwrap_or_default();
    let line = format!("HTTP {} {code}{text}", status.as_u16());
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            "; check the API client's client_id and client_secret (NinjaOne: Administration → Apps → API)"
        }
        StatusCode::FORBIDDEN => {
            "; the API client needs the `monitoring` scope and the client-credentials grant (Administration → Apps → API)"
        }
        _ => "",
    };
    (line, hint)
}
