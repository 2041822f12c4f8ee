//! Evidence collectors. Each kind turns its configuration into raw bytes
//! plus the instant they speak for; parsing those bytes into records is
//! kept separate so stored evidence can be re-read exactly as received.

mod file;

pub(crate) use file::{closed_folder, newest_match};

use jiff::Timestamp;
use serde_json::Value;

use crate::config::{FileFormat, Source, SourceKind};
use dutywatch_checks::predicate::FieldPath;

/// What one successful collection produced, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub effective_at: Timestamp,
    pub media_type: &'static str,
    /// Where it came from, for the assessor: a file path, an API URL.
    pub origin: String,
    pub payload: Vec<u8>,
}

/// Why a collection failed. The text lands in verdicts and mails, so it
/// names the file and the place in it, and never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("no file matches `{pattern}`")]
    NoMatch { pattern: String },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Why stored or collected bytes are not readable records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{origin}` {location}: {message}")]
pub struct ParseError {
    pub origin: String,
    pub location: String,
    pub message: String,
}

/// Runs one collection for `source`.
pub fn collect(source: &Source) -> Result<Collected, CollectError> {
    match &source.kind {
        SourceKind::File {
            pattern,
            format,
            records,
        } => {
            let collected = file::collect(pattern, *format)?;
            // Refuse evidence we could not read later: a half-written or
            // malformed export is a failed collection, not evidence.
            parse_records(
                *format,
                records.as_ref(),
                &collected.origin,
                &collected.payload,
            )?;
            Ok(collected)
        }
    }
}

/// Reads stored or collected bytes into records (JSON objects).
pub fn parse_records(
    format: FileFormat,
    records: Option<&FieldPath>,
    origin: &str,
    payload: &[u8],
) -> Result<Vec<Value>, ParseError> {
    let error = |location: String, message: String| ParseError {
        origin: origin.to_owned(),
        location,
        message,
    };
    match format {
        FileFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(payload);
            let headers = reader
                .headers()
                .map_err(|e| {
                    error(
                        "line 1".to_owned(),
                        format!("the header row is unreadable: {e}"),
                    )
                })?
                .clone();
            let names =
                header_names(&headers).map_err(|message| error("line 1".to_owned(), message))?;
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line());
                    let message = match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => {
                            format!("has {len} fields where the header has {expected_len}")
                        }
                        csv::ErrorKind::Utf8 { .. } => {
                            "is not valid UTF-8; export the file as UTF-8".to_owned()
                        }
                        _ => e.to_string(),
                    };
                    error(format!("line {line}"), message)
                })?;
                let line = record.position().map_or(0, csv::Position::line);
                let mut object = serde_json::Map::new();
                for (index, (name, value)) in names.iter().zip(record.iter()).enumerate() {
                    let value = value.trim();
                    match name {
                        Some(name) => {
                            object.insert(name.clone(), Value::String(value.to_owned()));
                        }
                        None if value.is_empty() => {}
                        None => {
                            return Err(error(
                                format!("line {line}"),
                                format!(
                                    "column {} has a value but no name in the header row; name the column",
                                    index + 1
                                ),
                            ));
                        }
                    }
                }
                rows.push(Value::Object(object));
            }
            Ok(rows)
        }
        FileFormat::Json => {
            let value: Value = serde_json::from_slice(payload).map_err(|e| {
                error(
                    format!("line {}, column {}", e.line(), e.column()),
                    format!("is not valid JSON: {e}"),
                )
            })?;
            let list = match records {
                Some(path) => path.lookup(&value).cloned().ok_or_else(|| {
                    error(
                        String::new(),
                        format!("has no `{path}` field holding the records"),
                    )
                })?,
                // A bare array, Microsoft's `{"value": [...]}` envelope, or a
                // single object (e.g. the security-defaults policy).
                None => match &value {
                    Value::Object(map) if map.get("value").is_some_and(Value::is_array) => {
                        map["value"].clone()
                    }
                    _ => value,
                },
            };
            match list {
                Value::Array(items) => {
                    // A list of names or numbers has no fields to check: every
                    // comparison would quietly miss, which `expect = "none"`
                    // and `!=` would read as a pass.
                    if let Some((index, item)) =
                        items.iter().enumerate().find(|(_, item)| !item.is_object())
                    {
                        return Err(error(
                            format!("record {}", index + 1),
                            format!(
                                "is {}, not an object with fields; point `records` at the list of objects",
                                json_kind(item)
                            ),
                        ));
                    }
                    Ok(items)
                }
                object @ Value::Object(_) => Ok(vec![object]),
                _ => Err(error(
                    String::new(),
                    "holds no records (expected an array or objects)".to_owned(),
                )),
            }
        }
    }
}

/// The header row's names, trimmed. A repeated name is an error, since one column would
/// silently overwrite the other. A blank one is `None`: spreadsheet exports end rows with a
/// stray comma, and such a column may stay, as long as it stays empty.
fn header_names(headers: &csv::StringRecord) -> Result<Vec<Option<String>>, String> {
    let mut names: Vec<Option<String>> = Vec::with_capacity(headers.len());
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            names.push(None);
            continue;
        }
        if let Some(first) = names.iter().position(|seen| seen.as_deref() == Some(name)) {
            return Err(format!(
                "the header `{name}` names columns {} and {}; each column needs its own name",
                first + 1,
                index + 1
            ));
        }
        names.push(Some(name.to_owned()));
    }
    Ok(names)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The single record a hand-added piece of evidence stands for.
pub fn manual_record(completed_at: Timestamp, origin: &str, sha256: &str) -> Value {
    serde_json::json!({
        "completed_at": completed_at.to_string(),
        "origin": origin,
        "sha256": sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_objects_and_ragged_rows_name_their_line() {
        let ok = parse_records(FileFormat::Csv, None, "r.csv", b"a,b\n1, x \n2,y\n").unwrap();
        assert_eq!(
            ok,
            vec![
                serde_json::json!({"a": "1", "b": "x"}),
                serde_json::json!({"a": "2", "b": "y"})
            ]
        );
        let bad = parse_records(FileFormat::Csv, None, "r.csv", b"a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(
            bad.to_string(),
            "`r.csv` line 3: has 1 fields where the header has 2"
        );
        let bom = parse_records(FileFormat::Csv, None, "r.csv", b"\xef\xbb\xbfa,b\n1,2\n").unwrap();
        assert_eq!(
            bom,
            vec![serde_json::json!({"a": "1", "b": "2"})],
            "Excel's BOM"
        );
        let twice = parse_records(
            FileFormat::Csv,
            None,
            "r.csv",
            b"Status,id,Status \n1,2,3\n",
        )
        .unwrap_err();
        assert_eq!(
            twice.to_string(),
            "`r.csv` line 1: the header `Status` names columns 1 and 3; each column needs its own name"
        );
        // Excel's trailing comma: an unnamed column is fine while it is empty.
        let trailing = parse_records(FileFormat::Csv, None, "r.csv", b"a,b,\n1,2,\n").unwrap();
        assert_eq!(trailing, vec![serde_json::json!({"a": "1", "b": "2"})]);
        let blank =
            parse_records(FileFormat::Csv, None, "r.csv", b"a,,b\n1,,3\n4,5,6\n").unwrap_err();
        assert_eq!(
            blank.to_string(),
            "`r.csv` line 3: column 2 has a value but no name in the header row; name the column"
        );
        let bytes = parse_records(FileFormat::Csv, None, "r.csv", b"a\n\xff\xfe\n").unwrap_err();
        assert!(
            bytes.to_string().contains("line 2: is not valid UTF-8"),
            "{bytes}"
        );
    }

    #[test]
    fn json_envelopes_and_errors() {
        let graph = br#"{"value": [{"id": 1}, {"id": 2}], "@odata.nextLink": null}"#;
        assert_eq!(
            parse_records(FileFormat::Json, None, "g.json", graph)
                .unwrap()
                .len(),
            2
        );
        let ninja = br#"{"cursor": {}, "results": [{"id": 1}]}"#;
        let path: FieldPath = "results".parse().unwrap();
        assert_eq!(
            parse_records(FileFormat::Json, Some(&path), "n.json", ninja)
                .unwrap()
                .len(),
            1
        );
        let single = br#"{"isEnabled": true}"#;
        assert_eq!(
            parse_records(FileFormat::Json, None, "s.json", single)
                .unwrap()
                .len(),
            1
        );
        let broken =
            parse_records(FileFormat::Json, None, "b.json", b"{\n\"a\": [1,\n").unwrap_err();
        assert!(
            broken
                .to_string()
                .starts_with("`b.json` line 3, column 0: is not valid JSON"),
            "{broken}"
        );
        let names = parse_records(
            FileFormat::Json,
            None,
            "l.json",
            br#"{"value": [{"a": 1}, "bob"]}"#,
        )
        .unwrap_err();
        assert_eq!(
            names.to_string(),
            "`l.json` record 2: is text, not an object with fields; point `records` at the list of objects"
        );
        let missing = parse_records(FileFormat::Json, Some(&path), "m.json", b"{}").unwrap_err();
        assert!(
            missing.to_string().contains("no `results` field"),
            "{missing}"
        );
    }
}
