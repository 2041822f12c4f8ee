//! Elastic ILM `GET /_ilm/policy` (or `/_ilm/policy/{names}`), with an API key
//! (`Authorization: ApiKey …`). One answer, no paging, stored as received; a saved answer is
//! the same. Its policies are keyed by name, so the normalizer turns each into a
//! `log_retention` record: the delete phase's `min_age` is the retention, and a policy without
//! a delete phase keeps its indices forever (`kept_forever`, and an `effective_retention` of
//! 100 years, the longest length of time dutywatch has).

use dutywatch_checks::read::{Parsed, ReadError};
use reqwest::StatusCode;

use super::connector::{read_records, text_at, vendor_json};
use super::http::Session;
use crate::config::{Api, Source};

/// What `effective_retention` says for a policy that never deletes: 100 years.
pub(crate) const FOREVER_SECONDS: i64 = 36_500 * 86_400;

pub(super) fn collect(session: &mut Session<'_>, api: &Api) -> Result<Vec<u8>, String> {
    let what = format!("page 1 ({})", api.url);
    let page = session.fetch(&api.url, &what)?;
    if !page.json.is_object() {
        return Err(format!(
            "{what}: the answer is not a JSON object of policies"
        ));
    }
    serde_json::to_vec(&page.json).map_err(|error| format!("cannot store the answer: {error}"))
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

/// `{"name": {"version", "policy": {"phases": …}, "in_use_by": …}, …}` → one record per
/// policy: its entry with `name`, `system`, `retention` and `effective_retention` (seconds,
/// or the `min_age` as written when it does not read), and `kept_forever`.
fn normalize(document: serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
    let serde_json::Value::Object(policies) = document else {
        return Err(
            "is not an Elastic `_ilm/policy` answer (a JSON object of policies by name)".to_owned(),
        );
    };
    if policies.contains_key("error") {
        return Err("is an Elastic error answer, not policies".to_owned());
    }
    let mut records = Vec::with_capacity(policies.len());
    for (name, entry) in policies {
        let serde_json::Value::Object(mut record) = entry else {
            return Err(format!("policy `{name}` is not an object"));
        };
        // Kept forever is what the phases say when none deletes: without phases there is no
        // policy to read that from (a renamed key, another API's answer), so no evidence.
        let Some(phases) = record
            .get("policy")
            .and_then(|p| p.get("phases"))
            .and_then(serde_json::Value::as_object)
        else {
            return Err(format!(
                "policy `{name}` has no `policy.phases` object: not an `_ilm/policy` answer, so how long it keeps data cannot be told"
            ));
        };
        let delete = phases.get("delete");
        let (retention, kept_forever) = match delete {
            None | Some(serde_json::Value::Null) => (None, true),
            // A delete phase without `min_age` starts at once (Elastic's default `0ms`).
            Some(phase) => {
                let min_age = phase
                    .get("min_age")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("0ms");
                let value = elastic_seconds(min_age)
                    .map_or_else(|| serde_json::json!(min_age), |s| serde_json::json!(s));
                (Some(value), false)
            }
        };
        record.insert("name".to_owned(), serde_json::json!(name));
        record.insert("system".to_owned(), serde_json::json!("elastic"));
        record.insert("kept_forever".to_owned(), serde_json::json!(kept_forever));
        let effective = retention
            .clone()
            .unwrap_or(serde_json::json!(FOREVER_SECONDS));
        if let Some(retention) = retention {
            record.insert("retention".to_owned(), retention);
        }
        record.insert("effective_retention".to_owned(), effective);
        records.push(serde_json::Value::Object(record));
    }
    Ok(records)
}

/// Elastic's time units (`90d`, `2160h`, `30m`, `0ms`, `1.5d`) as whole seconds.
fn elastic_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = match unit {
        "d" => 86_400.0,
        "h" => 3_600.0,
        "m" => 60.0,
        "s" => 1.0,
        "ms" => 1e-3,
        "micros" => 1e-6,
        "nanos" => 1e-9,
        _ => return None,
    };
    let seconds = number * unit;
    (seconds.is_finite() && seconds < 3.2e9).then_some(seconds.trunc() as i64)
}

/// Elastic's `{"error": {"root_cause", "type", "reason"}, "status"}` as one line, with what to
/// do for an unknown policy, a refused key or a missing privilege.
pub(super) fn error(status: StatusCode, body: &[u8]) -> (String, &'static str) {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let kind = text_at(json.as_ref(), &["/error/type", "/error/root_cause/0/type"]);
    let reason = text_at(
        json.as_ref(),
        &["/error/reason", "/error/root_cause/0/reason", "/error"],
    );
    let text = match (kind, reason) {
        (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
        (None, Some(reason)) => reason.to_owned(),
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let line = format!("HTTP {} {text}", status.as_u16());
    let hint = match (status, kind) {
        (StatusCode::NOT_FOUND, Some("resource_not_found_exception")) => {
            "; check the policy names in `resource` (GET /_ilm/policy lists them)"
        }
        (StatusCode::UNAUTHORIZED, _) => {
            "; check the API key in `token` (the base64 `encoded` value Elastic showed when it was created), or with `username`, the user's password"
        }
        (StatusCode::FORBIDDEN, _) => {
            "; the API key (or the user's role) needs the cluster privilege `read_ilm` (or `manage_ilm`)"
        }
        _ => "",
    };
    (line, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_by_name_become_records_and_no_delete_phase_keeps_forever() {
        let records = normalize(serde_json::json!({
            "logs-90d": {"version": 1, "policy": {"phases": {
                "hot": {"min_age": "0ms", "actions": {"rollover": {"max_age": "30d"}}},
                "delete": {"min_age": "2160h", "actions": {"delete": {}}}}},
                "in_use_by": {"indices": ["logs-000001"], "data_streams": [], "composable_templates": []}},
            "keep": {"version": 2, "policy": {"phases": {"hot": {"actions": {}}}}},
            "odd": {"policy": {"phases": {"delete": {"min_age": "soon"}}}}
        }))
        .unwrap();
        let by_name = |name: &str| records.iter().find(|r| r["name"] == name).unwrap();
        assert_eq!(by_name("logs-90d")["retention"], 90 * 86_400);
        assert_eq!(by_name("logs-90d")["kept_forever"], false);
        assert_eq!(by_name("keep")["kept_forever"], true);
        assert!(by_name("keep").get("retention").is_none());
        assert_eq!(by_name("keep")["effective_retention"], FOREVER_SECONDS);
        assert_eq!(
            by_name("odd")["retention"],
            "soon",
            "kept as written: a finding"
        );
        assert_eq!(elastic_seconds("90d"), Some(7_776_000));
        assert_eq!(elastic_seconds("1.5d"), Some(129_600));
        assert_eq!(elastic_seconds("0ms"), Some(0));
        assert_eq!(elastic_seconds("30x"), None);
    }

    #[test]
    fn an_entry_without_policy_phases_is_not_a_policy_kept_forever() {
        for document in [
            serde_json::json!({"acknowledged": {"x": 1}}),
            serde_json::json!({"logs": {"version": 1, "polcy": {"phases": {}}}}),
            serde_json::json!({"logs": {"version": 1, "policy": {"name": "logs"}}}),
        ] {
            let error = normalize(document.clone()).unwrap_err();
            assert!(
                error.contains("has no `policy.phases` object"),
                "{document}: {error}"
            );
        }
    }
}
