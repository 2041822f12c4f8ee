//! Splunk Enterprise `GET /services/data/indexes?output_mode=json`, paged by `count` and
//! `offset`, with a bearer authentication token. The pages are stored as one answer of the
//! same shape (`{"entry": [...], "paging": {...}}`, as a saved answer is), and read into
//! `log_retention` records: `frozenTimePeriodInSecs` is the age limit, and an index at its
//! size cap (`maxTotalDataSizeMB`) keeps only what fits, so its effective retention is the
//! span of events it holds when that is shorter.

use dutywatch_checks::read::{Parsed, ReadError};
use reqwest::StatusCode;

use super::connector::{read_records, vendor_json};
use super::http::{Session, collect_offset, splunk_messages};
use crate::config::{Api, Source};

/// An index this close to its size cap is freezing its oldest buckets by size.
const AT_SIZE_CAP: f64 = 0.9;

pub(super) fn collect(session: &mut Session<'_>, api: &Api) -> Result<Vec<u8>, String> {
    let entries = collect_offset(session, &api.url, api.page_size)?;
    let total = entries.len();
    serde_json::to_vec(&serde_json::json!({
        "entry": entries,
        "paging": { "total": total, "perPage": total, "offset": 0 },
        "messages": [],
    }))
    .map_err(|error| format!("cannot merge the pages: {error}"))
}

pub(super) fn read(source: &Source, origin: &str, payload: &[u8]) -> Result<Parsed, ReadError> {
    let document = vendor_json(origin, payload)?;
    let records = normalize(document).map_err(|message| ReadError {
        origin: origin.to_owned(),
        location: None,
        message,
    })?;
    read_records(source, origin, records)
}

/// Each `entry` as a record: the entry itself (`name`, `content.*`) and the computed
/// `system`, `retention`, `kept_forever`, `archived`, `size_capped` and
/// `effective_retention` (seconds).
fn normalize(document: serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
    let serde_json::Value::Object(mut document) = document else {
        return Err("is not a Splunk answer (a JSON object with `entry`)".to_owned());
    };
    // An error said (a saved error answer, or one beside entries): refused as the API's is.
    let messages = serde_json::json!({ "messages": document.get("messages") });
    let errors = splunk_messages(&messages, true);
    if !errors.is_empty() {
        let said: String = errors.join("; ").chars().take(300).collect();
        return Err(format!("is a Splunk error answer, not indexes: {said}"));
    }
    let Some(serde_json::Value::Array(entries)) = document.remove("entry") else {
        return Err(
            "has no `entry` list, so it is not Splunk's /services/data/indexes answer".to_owned(),
        );
    };
    // One page of several, saved alone: the indexes on the others are missing.
    if let Some(total) = document
        .get("paging")
        .and_then(|p| p.get("total"))
        .and_then(serde_json::Value::as_u64)
        && total > entries.len() as u64
    {
        return Err(format!(
            "holds {} of the {total} indexes its `paging.total` announces: one page of several; save the whole list (`count=0`) or collect it with the `splunk` connector",
            entries.len()
        ));
    }
    Ok(entries
        .into_iter()
        .map(|mut entry| {
            let content = entry.get("content");
            let number = |key: &str| content.and_then(|c| c.get(key)).and_then(number);
            let text = |key: &str| {
                content
                    .and_then(|c| c.get(key))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            let age_limit = number("frozenTimePeriodInSecs");
            let size_capped = match (number("maxTotalDataSizeMB"), number("currentDBSizeMB")) {
                (Some(limit), Some(size)) if limit > 0.0 => Some(size >= limit * AT_SIZE_CAP),
                _ => None,
            };
            let held = span_held(&text("minTime"), &text("maxTime"));
            let effective = match (age_limit, size_capped) {
                (Some(age), Some(false)) => Some(age),
                // At the cap: what it holds, if shorter than the age limit, and unknown when
                // the span cannot be told.
                (Some(age), Some(true)) => held.map(|held| held.min(age)),
                // No size figures: whether the cap cuts the data short cannot be told.
                (Some(_), None) => None,
                (None, _) => None,
            };
            let archived =
                !text("coldToFrozenDir").is_empty() || !text("coldToFrozenScript").is_empty();
            let computed = serde_json::json!({
                "system": "splunk",
                "retention": age_limit.map(seconds),
                "kept_forever": false,
                "archived": archived,
                "size_capped": size_capped,
                "effective_retention": effective.map(seconds),
            });
            if let (serde_json::Value::Object(entry), serde_json::Value::Object(computed)) =
                (&mut entry, computed)
            {
                entry.extend(computed.into_iter().filter(|(_, v)| !v.is_null()));
            }
            entry
        })
        .collect())
}

/// Splunk writes numbers, and strings of them.
fn number(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite() && *n >= 0.0)
}

fn seconds(value: f64) -> serde_json::Value {
    serde_json::json!(value.trunc() as i64)
}

/// Seconds from the oldest to the newest event an index holds.
fn span_held(min_time: &str, max_time: &str) -> Option<f64> {
    let min: jiff::Timestamp = min_time.parse().ok()?;
    let max: jiff::Timestamp = max_time.parse().ok()?;
    Some(max.duration_since(min).as_secs_f64().max(0.0))
}

/// Splunk's `{"messages": [{"type": "ERROR", "text": "…"}]}` as one line, with what to do for
/// a refused token or a missing capability.
pub(super) fn error(status: StatusCode, body: &[u8]) -> (String, &'static str) {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let messages: Vec<String> = json
        .as_ref()
        .map(|json| splunk_messages(json, false))
        .unwrap_or_default();
    let text = if messages.is_empty() {
        String::from_utf8_lossy(body).trim().to_owned()
    } else {
        messages.join("; ")
    };
    let line = format!("HTTP {} {text}", status.as_u16());
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            "; check the authentication token (Settings → Tokens) and that token authentication is enabled, or with `username`, the account's password"
        }
        StatusCode::FORBIDDEN => {
            "; the token's user needs a role with the `indexes_list_all` capability to list every index"
        }
        _ => "",
    };
    (line, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_at_its_size_cap_keeps_only_the_span_it_holds() {
        let records = normalize(serde_json::json!({"entry": [
            {"name": "wineventlog", "content": {"frozenTimePeriodInSecs": 31536000,
             "maxTotalDataSizeMB": 500000, "currentDBSizeMB": 81234, "coldToFrozenDir": ""}},
            {"name": "firewall", "content": {"frozenTimePeriodInSecs": "31536000",
             "maxTotalDataSizeMB": "10000", "currentDBSizeMB": "9990",
             "minTime": "2026-09-01T00:00:00+00:00", "maxTime": "2026-11-30T00:00:00+00:00",
             "coldToFrozenDir": "/archive/firewall"}},
            {"name": "odd", "content": {"frozenTimePeriodInSecs": "soon"}}
        ]}))
        .unwrap();
        assert_eq!(records[0]["effective_retention"], 31536000);
        assert_eq!(records[0]["size_capped"], false);
        assert_eq!(records[0]["archived"], false);
        assert_eq!(records[1]["retention"], 31536000, "a string of seconds");
        assert_eq!(records[1]["size_capped"], true);
        assert_eq!(records[1]["effective_retention"], 90 * 86400);
        assert_eq!(records[1]["archived"], true);
        assert!(records[2].get("retention").is_none());
        assert!(
            records[2].get("effective_retention").is_none(),
            "unknown, not zero"
        );
        assert!(normalize(serde_json::json!({"messages": []})).is_err());
        let error = normalize(serde_json::json!({"messages": [
            {"type": "ERROR", "text": "Unauthorized"}
        ]}))
        .unwrap_err();
        assert!(
            error.contains("is a Splunk error answer, not indexes: ERROR: Unauthorized"),
            "{error}"
        );
    }

    #[test]
    fn an_index_without_its_size_figures_or_one_page_of_several_is_no_evidence() {
        // The age limit alone: whether the size cap cuts the data short cannot be told.
        let records = normalize(serde_json::json!({"entry": [
            {"name": "main", "content": {"frozenTimePeriodInSecs": 31536000}},
            {"name": "sized", "content": {"frozenTimePeriodInSecs": 31536000,
             "maxTotalDataSizeMB": 500000}}
        ]}))
        .unwrap();
        for record in &records {
            assert!(record.get("effective_retention").is_none(), "{record}");
            assert_eq!(record["retention"], 31536000);
        }
        let error = normalize(serde_json::json!({
            "entry": [{"name": "main", "content": {"frozenTimePeriodInSecs": 31536000}}],
            "paging": {"total": 10, "perPage": 1, "offset": 0}
        }))
        .unwrap_err();
        assert!(
            error.contains("holds 1 of the 10 indexes its `paging.total` announces"),
            "{error}"
        );
    }
}
