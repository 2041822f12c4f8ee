//! Reading stored or collected evidence bytes into typed records.
//!
//! The same function reads evidence when it is collected (a file that does
//! not read is a failed collection) and when it is evaluated from the store,
//! so what was accepted is exactly what is judged.

use serde_json::Value;

use crate::decode::{self, Fields, RecordsError};
use crate::line_index::LineIndex;
use crate::predicate::FieldPath;
use crate::record::{Finding, Position, RawRecord, Record, RecordReader, Shared};

/// How the bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Json => "application/json",
        }
    }
}

/// The readable records of one piece of evidence, and why the others are not.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub records: Vec<Record>,
    /// One or more per unreadable record, in record order.
    pub findings: Vec<Finding>,
    /// Records in the document, readable or not.
    pub total: usize,
}

impl Parsed {
    /// Records that could not be read.
    pub fn unreadable(&self) -> usize {
        self.total - self.records.len()
    }
}

/// Why bytes are not evidence at all. The text lands in verdicts and
/// mails, so it names the file and the place in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{origin}`{}: {message}", location.as_deref().map(|l| format!(" {l}")).unwrap_or_default())]
pub struct ReadError {
    pub origin: String,
    pub location: Option<String>,
    pub message: String,
}

/// Reads `payload` into records of `reader`'s kind.
pub fn read(
    format: Format,
    records_at: Option<&FieldPath>,
    origin: &str,
    payload: &[u8],
    reader: RecordReader<'_>,
) -> Result<Parsed, ReadError> {
    let error = |location: Option<String>, message: String| ReadError {
        origin: origin.to_owned(),
        location,
        message,
    };
    let (text, _) = decode::text(payload).map_err(|e| error(None, e.to_string()))?;
    if text.trim().is_empty() {
        return Err(error(
            None,
            "is empty: an export with nothing in it proves nothing".to_owned(),
        ));
    }
    // Each raw row becomes a record as soon as it is read (CSV) or taken out
    // of the document (JSON), and is dropped then: memory holds the bytes,
    // their text and the records, never every row twice.
    let mut taken = Taken {
        reader,
        total: 0,
        records: Vec::new(),
        findings: Vec::new(),
        dropped: 0,
        shared: Shared::new(reader.kind),
    };
    match format {
        Format::Csv => csv_rows(&text, reader, &mut |position, row| {
            taken.take(position, row);
        }),
        Format::Json => json_records(&text, records_at, reader, &mut |position, fields| {
            taken.take(position, fields);
        }),
    }
    .map_err(|(location, message)| error(location, message))?;
    let Taken {
        total,
        mut records,
        findings,
        dropped,
        ..
    } = taken;
    records.shrink_to_fit();
    let first = || {
        findings
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    if total > 0 && records.is_empty() {
        return Err(error(
            None,
            format!(
                "none of its {total} record(s) is a readable `{}` record; the first problem: {}",
                reader.kind.name,
                first()
            ),
        ));
    }
    if dropped > 0 {
        return Err(error(
            None,
            format!(
                "its {total} `{}` record(s) have more than {MAX_FINDINGS} problems ({} of them do not read at all): an export that broken is not judged record by record. The first problem: {}; mend the export, or map its fields with the source's `fields`",
                reader.kind.name,
                total - records.len(),
                first()
            ),
        ));
    }
    Ok(Parsed {
        records,
        findings,
        total,
    })
}

/// The most findings one document keeps. Each unreadable record is a subject of its own
/// (`no_evidence`), so each one is kept, but a document of millions of records none of which
/// reads (`[{}, {}, …]`) would otherwise hold some hundreds of bytes per record: a few MB of
/// input, a GB of findings. Past this many the document is not judged record by record.
pub const MAX_FINDINGS: usize = 10_000;

/// The records read so far, and why the others are not.
struct Taken<'r> {
    reader: RecordReader<'r>,
    total: usize,
    records: Vec<Record>,
    findings: Vec<Finding>,
    /// Findings past [`MAX_FINDINGS`], counted only.
    dropped: usize,
    /// Field names and repeated text, kept once for the whole document.
    shared: Shared,
}

impl Taken<'_> {
    fn take<R: RawRecord + ?Sized>(&mut self, position: Position, raw: &R) {
        self.total += 1;
        let reading = self.reader.read_shared(raw, position, &mut self.shared);
        self.records.extend(reading.record);
        let room = MAX_FINDINGS - self.findings.len();
        let found = reading.findings.len();
        self.findings
            .extend(reading.findings.into_iter().take(room));
        self.dropped += found.saturating_sub(room);
    }
}

type Problem = (Option<String>, String);

/// Hands each row, as a JSON object of its cells, to `take`.
fn csv_rows(
    text: &str,
    kind: RecordReader<'_>,
    take: &mut dyn FnMut(Position, &serde_json::Map<String, Value>),
) -> Result<(), Problem> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    // Lines from byte offsets, as the CRM reader counts them: `csv::Position::line` is one
    // short per row for `\r\n` files.
    let lines = LineIndex::new(text.as_bytes());
    let line_one = || Some("line 1".to_owned());
    let headers = reader
        .headers()
        .map_err(|e| (line_one(), format!("the header row is unreadable: {e}")))?
        .clone();
    let names = header_names(&headers).map_err(|message| (line_one(), message))?;
    required_columns(&names, kind).map_err(|message| (line_one(), message))?;
    let mut object = serde_json::Map::new();
    // One buffer for every row, like the object above.
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!(
                    "has {len} field{} where the header has {expected_len}",
                    if *len == 1 { "" } else { "s" }
                ),
                _ => e.to_string(),
            };
            (Some(format!("line {line}")), message)
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        for (index, (name, value)) in names.iter().zip(record.iter()).enumerate() {
            match name {
                // Every row sets every named column, so the row before's keys and buffers
                // are reused: no allocation per cell once the first row is read.
                Some(name) => match object.get_mut(name.as_str()) {
                    Some(Value::String(cell)) => {
                        cell.clear();
                        cell.push_str(value.trim());
                    }
                    _ => {
                        object.insert(name.clone(), Value::String(value.trim().to_owned()));
                    }
                },
                None if value.trim().is_empty() => {}
                None => {
                    return Err((
                        Some(format!("line {line}")),
                        format!(
                            "column {} has a value but no name in the header row; name the column",
                            index + 1
                        ),
                    ));
                }
            }
        }
        take(Position::Line(u64::from(line)), &object);
    }
    Ok(())
}

/// Every required field of the kind needs a column: without one, every row would be
/// unreadable, and a header row alone (a register with nothing in it yet, a garbage line)
/// could not be told apart. With its columns, a header without rows is zero records, and
/// the kind says whether that is a real answer.
fn required_columns(names: &[Option<String>], reader: RecordReader<'_>) -> Result<(), String> {
    let has = |path: &FieldPath| {
        let whole = path.to_string();
        let first = path
            .segments()
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        names
            .iter()
            .flatten()
            .any(|name| name.eq_ignore_ascii_case(&whole) || name.eq_ignore_ascii_case(first))
    };
    let missing: Vec<String> = reader
        .kind
        .fields
        .iter()
        .filter(|field| field.required)
        .filter(|field| !reader.mapping.paths(field).iter().any(has))
        .map(|field| {
            let paths: Vec<String> = reader
                .mapping
                .paths(field)
                .iter()
                .map(|p| format!("`{p}`"))
                .collect();
            format!("`{}` ({})", field.name, paths.join(" or "))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the header row has no column for {} required by `{}` records; name the columns so, or map them with the source's `fields`",
        missing.join(", "),
        reader.kind.name
    ))
}

/// The header row's names, trimmed. A repeated name is an error, since one
/// column would silently overwrite the other. A blank one is `None`:
/// spreadsheet exports end rows with a stray comma, and such a column may
/// stay, as long as it stays empty.
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

/// Hands each record of the document, in order, to `take`; the records are
/// moved out of the parsed document, not copied.
fn json_records(
    text: &str,
    records_at: Option<&FieldPath>,
    reader: RecordReader<'_>,
    take: &mut dyn FnMut(Position, &Fields),
) -> Result<(), Problem> {
    // The keys a record of the kind can be read from: the first key of each mapped path, and a
    // dotted path as one key (as a CSV header may be); case is ignored as the reader ignores
    // it. The others are parsed but not built (`decode::json_fields`).
    let mut wanted: Vec<String> = Vec::new();
    for field in &reader.kind.fields {
        for path in reader.mapping.paths(field) {
            if let Some(first) = path.segments().first() {
                wanted.push(first.clone());
            }
            if path.segments().len() > 1 {
                wanted.push(path.to_string());
            }
        }
    }
    // Each key of every record is asked about: a key is compared only with the names of its
    // length (a name of another length cannot be it in any spelling of case).
    let mut by_length: Vec<Vec<String>> = Vec::new();
    for name in wanted {
        let length = name.len();
        if by_length.len() <= length {
            by_length.resize(length + 1, Vec::new());
        }
        let names = &mut by_length[length];
        if !names.iter().any(|seen| seen.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    let keep = |key: &str| {
        by_length
            .get(key.len())
            .is_some_and(|names| names.iter().any(|name| name.eq_ignore_ascii_case(key)))
    };
    decode::json_fields(text, records_at, &keep, take).map_err(|error| match error {
        RecordsError::Json(error) => (None, error.to_string()),
        RecordsError::Misplaced(location, message) => (location, message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kinds;
    use crate::record::{FieldValue, Mapping, Reading, Subject};
    use crate::time::TimeReader;

    fn run(
        kind_name: &str,
        format: Format,
        records_at: Option<&str>,
        payload: &[u8],
    ) -> Result<Parsed, ReadError> {
        let kinds = Kinds::default();
        let kind = kinds.get(kind_name).unwrap();
        let mapping = Mapping::default();
        let time = TimeReader::new(jiff::tz::TimeZone::get("America/New_York").unwrap());
        let records_at: Option<FieldPath> = records_at.map(|p| p.parse().unwrap());
        read(
            format,
            records_at.as_ref(),
            "exports/evidence.dat",
            payload,
            RecordReader {
                kind,
                mapping: &mapping,
                time: &time,
            },
        )
    }

    fn json(kind: &str, payload: &str) -> Result<Parsed, ReadError> {
        run(kind, Format::Json, None, payload.as_bytes())
    }

    fn csv(kind: &str, payload: &str) -> Result<Parsed, ReadError> {
        run(kind, Format::Csv, None, payload.as_bytes())
    }

    fn error(result: Result<Parsed, ReadError>) -> String {
        match result {
            Ok(parsed) => panic!("read, but should not have: {parsed:?}"),
            Err(error) => error.to_string(),
        }
    }

    const USERS: &str = r#"{"value": [
        {"userPrincipalName": "alice@x", "userType": "member", "isMfaRegistered": true},
        {"userPrincipalName": "bob@x", "userType": "member", "isMfaRegistered": false}
    ]}"#;

    fn utf16le_with_bom(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn an_empty_file_is_an_error_not_an_empty_answer() {
        for payload in [&b""[..], b"  \r\n\t", b"\xEF\xBB\xBF", b"\xFF\xFE"] {
            for format in [Format::Csv, Format::Json] {
                let message = error(run("patch", format, None, payload));
                assert!(
                    message.starts_with("`exports/evidence.dat`: is empty"),
                    "{payload:?}: {message}"
                );
            }
        }
    }

    #[test]
    fn a_lone_header_is_zero_records_and_a_lone_garbage_line_an_error() {
        // A register with nothing in it yet: zero records; the kind decides
        // whether that is a real answer.
        let empty = csv("incident", "incident_id,detected_at,reported_at\r\n").unwrap();
        assert_eq!((empty.total, empty.records.len()), (0, 0));
        // A line that names none of the kind's columns is not a header.
        let message = error(csv("incident", "garbage\n"));
        assert!(
            message.contains(
                "line 1: the header row has no column for `id` (`incident_id` or `id`), `detected_at`"
            ),
            "{message}"
        );
        let message = error(csv(
            "incident",
            "incident_id,detected_at,reported_at\nINC-1,2026-11-20T08:00:00Z,\n%%garbage%%\n",
        ));
        assert!(
            message.contains("line 3: has 1 field where the header has 3"),
            "{message}"
        );
    }

    #[test]
    fn csv_headers_must_name_each_column_once() {
        let message = error(csv("patch", "deviceId,name,name\nd1,KB1,KB2\n"));
        assert!(
            message.contains("line 1: the header `name` names columns 2 and 3"),
            "{message}"
        );
        // A trailing stray comma may stay as long as its column is empty.
        let parsed = csv(
            "firewall_rule",
            "name,action,source,destination,\nr1,deny,any,any,\n",
        )
        .unwrap();
        assert_eq!(parsed.records.len(), 1);
        let message = error(csv(
            "firewall_rule",
            "name,action,source,destination,\nr1,deny,any,any,oops\n",
        ));
        assert!(
            message.contains("line 2: column 5 has a value but no name"),
            "{message}"
        );
    }

    #[test]
    fn csv_lines_are_the_same_for_crlf_and_lf_files() {
        // A good row, a row with a bad value, a quoted cell holding a line break, a blank
        // line, then a bad row again: the lines are those an editor shows, whichever line
        // ending the file was saved with.
        let lf = "name,action,source,destination\nr1,deny,any,any\nr2,permit,any,any\n\"r3\nwrapped\",allow,any,any\n\nr4,permit,any,any\n";
        let crlf = lf.replace('\n', "\r\n");
        for payload in [lf, crlf.as_str()] {
            let parsed = csv("firewall_rule", payload).unwrap();
            let records: Vec<Position> = parsed.records.iter().map(|r| r.position).collect();
            assert_eq!(
                records,
                [Position::Line(2), Position::Line(4)],
                "{payload:?}"
            );
            let findings: Vec<Position> = parsed.findings.iter().map(|f| f.position).collect();
            assert_eq!(
                findings,
                [Position::Line(3), Position::Line(7)],
                "{payload:?}"
            );
        }
        // A row with too few fields, after a row that runs over two lines.
        let lf = "name,action,source,destination\n\"r1\nwrapped\",deny,any,any\nr2,deny,any\n";
        let crlf = lf.replace('\n', "\r\n");
        for payload in [lf, crlf.as_str()] {
            let message = error(csv("firewall_rule", payload));
            assert!(
                message.contains("line 4: has 3 fields where the header has 4"),
                "{payload:?}: {message}"
            );
        }
    }

    #[test]
    fn csv_records_are_named_by_line_and_cells_are_trimmed() {
        let parsed = csv(
            "firewall_rule",
            "name , action,source,destination\n r1 , Deny ,any,any\nr2,permit,any,any\n\"r3\nwrapped\",allow,10.0.0.1,any\n",
        )
        .unwrap();
        assert_eq!(parsed.total, 3);
        assert_eq!(parsed.unreadable(), 1);
        assert_eq!(parsed.records[0].position, Position::Line(2));
        assert_eq!(parsed.records[0].subject, Some(Subject::new("r1")));
        assert_eq!(
            parsed.records[0].get("action"),
            Some(&FieldValue::Text("deny".into()))
        );
        assert_eq!(parsed.findings.len(), 1);
        assert_eq!(parsed.findings[0].position, Position::Line(3));
        assert!(
            parsed.findings[0].to_string().starts_with(
                "line 3 (r2): `action` is `permit`, not one of allow, deny, drop, reject"
            ),
            "{}",
            parsed.findings[0]
        );
        assert_eq!(parsed.records[1].position, Position::Line(4));
    }

    /// The memory a large export takes is mostly its records: one copy of each repeated
    /// text per document, the subject of a one-field subject shared with that field's value,
    /// and values no wider than 24 bytes.
    #[test]
    fn records_of_one_document_share_repeated_text() {
        assert!(std::mem::size_of::<FieldValue>() <= 24);
        let parsed = csv(
            "firewall_rule",
            "name,action,source,destination\nr1,deny,any,any\nr2,Deny,10.0.0.1,any\nr3,allow,any,any\n",
        )
        .unwrap();
        let text = |record: usize, field: &str| match parsed.records[record].get(field) {
            Some(FieldValue::Text(text)) => std::sync::Arc::clone(text),
            other => panic!("{field}: {other:?}"),
        };
        assert!(std::sync::Arc::ptr_eq(
            &text(0, "action"),
            &text(1, "action")
        ));
        assert!(std::sync::Arc::ptr_eq(
            &text(0, "source"),
            &text(2, "source")
        ));
        assert!(std::sync::Arc::ptr_eq(
            &text(0, "destination"),
            &text(1, "destination")
        ));
        assert!(!std::sync::Arc::ptr_eq(
            &text(0, "action"),
            &text(2, "action")
        ));
        assert_eq!(&*text(1, "source"), "10.0.0.1");
        // Shared, the values still read as before: a record equals one built from a map.
        let mut fields = std::collections::BTreeMap::new();
        for (name, value) in [
            ("name", "r1"),
            ("action", "deny"),
            ("source", "any"),
            ("destination", "any"),
        ] {
            fields.insert(name.to_owned(), FieldValue::Text(value.into()));
        }
        assert_eq!(
            parsed.records[0],
            Record::new(Some(Subject::new("r1")), Position::Line(2), fields)
        );
    }

    #[test]
    fn json_records_sit_in_an_array_a_value_envelope_one_object_or_a_named_path() {
        let parsed = json("mfa_registration", USERS).unwrap();
        assert_eq!(parsed.total, 2);
        assert_eq!(parsed.records[1].subject, Some(Subject::new("bob@x")));
        assert_eq!(parsed.records[1].position, Position::Record(2));
        let bare = json(
            "mfa_registration",
            r#"[{"userPrincipalName": "a", "isMfaRegistered": true}]"#,
        )
        .unwrap();
        assert_eq!(bare.total, 1);
        let single = json(
            "mfa_registration",
            r#"{"userPrincipalName": "a", "isMfaRegistered": true}"#,
        )
        .unwrap();
        assert_eq!(single.records[0].position, Position::Record(1));
        let nested = run(
            "patch",
            Format::Json,
            Some("data.results"),
            br#"{"data": {"results": [{"deviceId": "d", "name": "KB", "severity": "LOW",
                "status": "PENDING", "timestamp": 1760000000}]}}"#,
        )
        .unwrap();
        assert_eq!(nested.records.len(), 1);
    }

    #[test]
    fn zero_records_read_as_an_empty_set_for_the_rules_to_judge() {
        for payload in ["[]", r#"{"value": []}"#, " [ ] "] {
            let parsed = json("mfa_registration", payload).unwrap();
            assert_eq!((parsed.total, parsed.records.len()), (0, 0), "{payload}");
        }
        let parsed = run(
            "patch",
            Format::Json,
            Some("results"),
            br#"{"results": []}"#,
        )
        .unwrap();
        assert_eq!(parsed.total, 0);
    }

    #[test]
    fn records_that_are_not_where_the_source_says_are_an_error() {
        let message = error(run(
            "patch",
            Format::Json,
            Some("results"),
            br#"{"value": []}"#,
        ));
        assert!(
            message.contains("has no `results` field holding the records"),
            "{message}"
        );
        let message = error(run(
            "patch",
            Format::Json,
            Some("results"),
            br#"{"results": "none"}"#,
        ));
        assert!(
            message.contains("holds text where records were expected"),
            "{message}"
        );
        let message = error(json("patch", "42"));
        assert!(message.contains("holds a number"), "{message}");
        let message = error(json("patch", r#"[{"deviceId": "d"}, "x"]"#));
        assert!(
            message.contains("`exports/evidence.dat` record 2: is text, not an object"),
            "{message}"
        );
    }

    #[test]
    fn an_empty_error_field_is_no_error() {
        // Portals that always carry the field: `"error": ""`, `0`, `{}` when all is well.
        for root in [
            r#""error": """#,
            r#""error": 0"#,
            r#""error": {}"#,
            r#""error": []"#,
            r#""errorMessage": "OK""#,
        ] {
            let page = format!(r#"{{"success": true, {root}, "results": []}}"#);
            let read = run("patch", Format::Json, Some("results"), page.as_bytes());
            assert!(read.is_ok(), "{root}: {:?}", read.err());
        }
    }

    #[test]
    fn a_page_holding_fewer_records_than_its_cursor_count_is_incomplete_and_more_is_not() {
        let patch = r#"{"id": "p1", "deviceId": 7, "name": "KB1", "severity": "CRITICAL", "status": "PENDING", "timestamp": 1790000000.0}"#;
        let page = |count: u32, patches: usize| {
            let results = vec![patch; patches].join(",");
            format!(
                r#"{{"cursor": {{"name": "c1", "offset": 0, "count": {count}}}, "results": [{results}]}}"#
            )
        };
        let text = error(run(
            "patch",
            Format::Json,
            Some("results"),
            page(3, 2).as_bytes(),
        ));
        assert!(
            text.contains(
                "holds 2 record(s) where its `cursor.count` says 3: the page is incomplete"
            ),
            "{text}"
        );
        for (count, patches) in [(2, 2), (0, 2)] {
            let read = run(
                "patch",
                Format::Json,
                Some("results"),
                page(count, patches).as_bytes(),
            );
            assert!(read.is_ok(), "count {count}: {:?}", read.err());
        }
    }

    #[test]
    fn one_page_of_a_longer_list_or_an_error_answer_is_not_evidence_whatever_records_it_holds() {
        let page = r#"{"value": [{"userPrincipalName": "alice@x", "isMfaRegistered": true}],
                       "@odata.nextLink": "https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails?$skiptoken=x"}"#;
        let text = error(json("mfa_registration", page));
        assert!(
            text.contains(
                "is one page of a longer list: its `@odata.nextLink` names the next page"
            ),
            "{text}"
        );
        // The records' path given, ARM's link is seen too.
        let arm = r#"{"value": [{"name": "SigninLogs", "properties": {"retentionInDays": 90, "totalRetentionInDays": 90}}], "nextLink": "https://management.azure.com/…&$skiptoken=y"}"#;
        let text = error(run(
            "log_retention",
            Format::Json,
            Some("value"),
            arm.as_bytes(),
        ));
        assert!(
            text.contains("its `nextLink` names the next page"),
            "{text}"
        );
        // The last page says no more: read as usual.
        let last = r#"{"value": [{"userPrincipalName": "alice@x", "isMfaRegistered": true}], "@odata.nextLink": null}"#;
        assert_eq!(json("mfa_registration", last).unwrap().records.len(), 1);

        // Graph's error envelope beside records; NinjaOne-style text; Splunk's messages.
        let graph = r#"{"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"},
                        "value": [{"userPrincipalName": "alice@x", "isMfaRegistered": true}]}"#;
        let text = error(json("mfa_registration", graph));
        assert!(
            text.contains("is an error answer, not evidence: `error` says `Authorization_RequestDenied`: Insufficient privileges"),
            "{text}"
        );
        let saved = r#"{"resultCode": "FAILURE", "errorMessage": "Access denied"}"#;
        let text = error(run(
            "patch",
            Format::Json,
            Some("results"),
            saved.as_bytes(),
        ));
        assert!(
            text.contains("`errorMessage` says `Access denied`"),
            "{text}"
        );
        let ninja = r#"{"error": "invalid_token", "results": []}"#;
        let text = error(run(
            "patch",
            Format::Json,
            Some("results"),
            ninja.as_bytes(),
        ));
        assert!(text.contains("`error` says `invalid_token`"), "{text}");
        let alone = r#"{"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}}"#;
        let text = error(json("conditional_access_policy", alone));
        assert!(
            text.contains("`InvalidAuthenticationToken`: Access token has expired."),
            "{text}"
        );
        let splunk = r#"{"entry": [], "messages": [{"type": "ERROR", "text": "Unauthorized"}]}"#;
        let text = error(run(
            "log_retention",
            Format::Json,
            Some("entry"),
            splunk.as_bytes(),
        ));
        assert!(text.contains("its `messages` say `Unauthorized`"), "{text}");
        // No error said: read as usual.
        let fine =
            r#"{"error": null, "messages": [{"type": "INFO", "text": "ok"}], "results": []}"#;
        assert_eq!(
            run("patch", Format::Json, Some("results"), fine.as_bytes())
                .unwrap()
                .records
                .len(),
            0
        );
    }

    #[test]
    fn a_file_with_no_readable_record_is_an_error_naming_the_first_problem() {
        for payload in ["{}", "[{}]", r#"{"value": [{}, {}]}"#] {
            let message = error(json("firewall_rule", payload));
            assert!(
                message.contains("is a readable `firewall_rule` record; the first problem: record 1: `name` is missing"),
                "{payload}: {message}"
            );
        }
        let message = error(json(
            "patch",
            r#"[{"deviceId": "d", "name": "KB", "severityLevel": "CRITICAL", "status": "PENDING", "ts": 1}]"#,
        ));
        assert!(
            message.contains("none of its 1 record(s) is a readable `patch` record"),
            "{message}"
        );
        assert!(message.contains("`severity` is missing"), "{message}");
    }

    #[test]
    fn some_unreadable_records_are_findings_beside_the_readable_ones() {
        let parsed = json(
            "mfa_registration",
            r#"[{"userPrincipalName": "a", "isMfaRegistered": true},
                {"userPrincipalName": "b"},
                {"userPrincipalName": "c", "isMfaRegistered": "perhaps", "isAdmin": "sometimes"}]"#,
        )
        .unwrap();
        assert_eq!(parsed.total, 3);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.unreadable(), 2);
        // One finding per problem, in record order.
        let places: Vec<String> = parsed
            .findings
            .iter()
            .map(|f| format!("{} {}", f.position, f.field))
            .collect();
        assert_eq!(
            places,
            [
                "record 2 mfa_registered",
                "record 3 is_admin",
                "record 3 mfa_registered"
            ]
        );
    }

    #[test]
    fn a_document_with_more_problems_than_are_kept_is_not_judged_record_by_record() {
        let records = |unreadable: usize| {
            let mut text = String::from(r#"[{"userPrincipalName": "a", "isMfaRegistered": true}"#);
            for n in 0..unreadable {
                text.push_str(&format!(r#",{{"userPrincipalName": "u{n}"}}"#));
            }
            text.push(']');
            text
        };
        // One problem per unreadable record: as many as are kept still read.
        let parsed = json("mfa_registration", &records(MAX_FINDINGS)).unwrap();
        assert_eq!(parsed.findings.len(), MAX_FINDINGS);
        assert_eq!(parsed.records.len(), 1);
        // One more, and memory would grow with the document: it is refused whole.
        let message = error(json("mfa_registration", &records(MAX_FINDINGS + 1)));
        assert!(
            message.contains(&format!(
                "its {} `mfa_registration` record(s) have more than {MAX_FINDINGS} problems ({} of them do not read at all)",
                MAX_FINDINGS + 2,
                MAX_FINDINGS + 1
            )) && message.contains("record 2 (u0)"),
            "{message}"
        );
    }

    #[test]
    fn a_duplicate_json_key_makes_the_whole_file_unreadable() {
        let message = error(json(
            "mfa_registration",
            r#"{"value": [{"userPrincipalName": "bob@x", "isMfaRegistered": false, "isMfaRegistered": true}]}"#,
        ));
        assert!(
            message.contains("the key `isMfaRegistered` appears twice"),
            "{message}"
        );
        assert!(message.contains("value[0]"), "{message}");
        let message = error(json("mfa_registration", "[{\"a\": 1,}]"));
        assert!(message.contains("not valid JSON"), "{message}");
    }

    #[test]
    fn bom_and_utf16_files_read_the_same_records_as_plain_utf8() {
        let plain = json("mfa_registration", USERS).unwrap();
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(USERS.as_bytes());
        assert_eq!(
            run("mfa_registration", Format::Json, None, &bom).unwrap(),
            plain
        );
        let powershell = utf16le_with_bom(&USERS.replace('\n', "\r\n"));
        assert_eq!(
            run("mfa_registration", Format::Json, None, &powershell).unwrap(),
            plain
        );
        let table = "userPrincipalName,userType,isMfaRegistered\r\nalice@x,member,true\r\nbob@x,member,false\r\n";
        let plain_csv = csv("mfa_registration", table).unwrap();
        let mut bom_csv = b"\xEF\xBB\xBF".to_vec();
        bom_csv.extend(table.as_bytes());
        let read_bom = run("mfa_registration", Format::Csv, None, &bom_csv).unwrap();
        assert_eq!(read_bom, plain_csv);
        // Without stripping, the BOM would sit in the first header name and
        // `userPrincipalName` would be missing from every row.
        assert_eq!(read_bom.records.len(), 2);
        let utf16_csv = run(
            "mfa_registration",
            Format::Csv,
            None,
            &utf16le_with_bom(table),
        )
        .unwrap();
        assert_eq!(utf16_csv, plain_csv);
        // CSV and JSON agree on the records apart from where they sit.
        let subjects = |p: &Parsed| {
            p.records
                .iter()
                .map(|r| r.subject.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(subjects(&plain_csv), subjects(&plain));
    }

    #[test]
    fn bytes_that_are_not_text_are_an_error_with_their_place() {
        let message = error(run(
            "patch",
            Format::Csv,
            None,
            b"deviceId,name\nd1,K\xFFB\n",
        ));
        assert!(message.contains("line 2 (byte 18)"), "{message}");
        assert!(message.contains("not valid UTF-8"), "{message}");
    }

    #[test]
    fn deeply_nested_json_evidence_is_an_error_not_a_stack_overflow() {
        // serde_json's 128-level limit holds through `read`, closed or not,
        // in arrays, objects and under a `records` path.
        let deep = 100_000;
        let arrays = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
        let objects = format!("{}1{}", "{\"a\":".repeat(deep), "}".repeat(deep));
        for payload in [&arrays, &objects] {
            let message = error(json("patch", payload));
            assert!(message.contains("nested more than 128 levels"), "{message}");
            assert!(message.len() < 300, "{message}");
            let message = error(run("patch", Format::Json, Some("a"), payload.as_bytes()));
            assert!(message.contains("nested more than 128 levels"), "{message}");
        }
    }

    use crate::test_rng::Rng;

    /// A value of any JSON type, often one a field of the kinds below can read.
    fn any_value(rng: &mut Rng, depth: u32) -> Value {
        match rng.below(if depth > 1 { 9 } else { 11 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => Value::from(rng.below(2_000_000_000) as u64),
            3 => Value::from(rng.below(100) as f64 + 0.5),
            4 => Value::from(rng.pick(&["", "  ", " x ", "true", "no", "CRITICAL", "90"])),
            5 => Value::from(rng.pick(&["2026-11-02T14:05:00Z", "2026-11-02", "soon"])),
            6 | 7 => Value::from(format!("text {}", rng.below(5))),
            8 => Value::from(rng.pick(&["compliant", "Compliant", "noncompliant", "x"])),
            9 => Value::Array(
                (0..rng.below(4))
                    .map(|_| any_value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut object = serde_json::Map::new();
                for _ in 0..rng.below(4) {
                    let key = rng.pick(&["retentionInDays", "RetentionInDays", "plan", "name"]);
                    object.insert(key.to_owned(), any_value(rng, depth + 1));
                }
                Value::Object(object)
            }
        }
    }

    /// A value the field read from `key` is likely to read.
    fn readable_value(rng: &mut Rng, key: &str) -> Value {
        let lower = key.to_ascii_lowercase();
        if lower.starts_with("is") || lower.contains("registered") {
            Value::Bool(rng.below(2) == 0)
        } else if lower.contains("time") || lower.contains("since") || lower.contains("at") {
            Value::from(rng.pick(&["2026-11-02T14:05:00Z", "2026-10-01", "1795000000"]))
        } else if lower.contains("retention") {
            Value::from(rng.below(800) as u64)
        } else if lower == "properties" {
            serde_json::json!({"retentionInDays": 90, "totalRetentionInDays": rng.below(800),
                               "plan": "Analytics"})
        } else if lower.contains("compliance") {
            Value::from(rng.pick(&["compliant", "noncompliant", "inGracePeriod"]))
        } else if lower == "deviceid" {
            Value::from(rng.below(5) as u64)
        } else {
            Value::from(format!("{key} {}", rng.below(3)))
        }
    }

    /// Reading a list of records, whose keys now repeat the record before's and now do not,
    /// gives each record and finding that reading its whole object alone gives: the buffer
    /// the records are read into, the keys a record is read from and the paths' starts worked
    /// out for the record before change nothing.
    #[test]
    fn the_records_of_a_list_read_as_each_object_alone_reads() {
        // Spellings of case, aliases, dotted keys as one key, nested paths, and
        // keys no field reads. A `?` marks a key in one record of five, the others are in
        // nine of ten.
        let keys: &[(&str, &[&str])] = &[
            (
                "mfa_registration",
                &[
                    "userPrincipalName",
                    "?USERPRINCIPALNAME",
                    "?upn",
                    "?user",
                    // An optional field in two spellings of case, with fields after it.
                    "userDisplayName",
                    "?USERDISPLAYNAME",
                    "userType",
                    "isMfaRegistered",
                    "?ismfaregistered",
                    "?mfa_registered",
                    "isAdmin",
                    "?is_admin",
                    "?ISADMIN",
                    "methodsRegistered",
                    "lastUpdatedDateTime",
                    "id",
                    "other",
                ],
            ),
            (
                "patch",
                &[
                    "deviceId",
                    "?device",
                    "name",
                    "?Name",
                    "?title",
                    "severity",
                    "?SEVERITY",
                    "status",
                    "timestamp",
                    "?pending_since",
                    "kbNumber",
                    "id",
                    "installedAt",
                    "other",
                ],
            ),
            (
                "log_table",
                &[
                    "name",
                    "workspace",
                    "properties",
                    "?Properties",
                    "?properties.plan",
                    "?properties.retentionInDays",
                    "?retention_days",
                    "?total_retention_days",
                    "?plan",
                    "other",
                ],
            ),
            (
                "managed_device",
                &[
                    "deviceName",
                    "complianceState",
                    "?COMPLIANCESTATE",
                    "lastSyncDateTime",
                    "isEncrypted",
                    "operatingSystem",
                    "osVersion",
                    "id",
                    "userPrincipalName",
                    "?DEVICENAME",
                    "other",
                ],
            ),
        ];
        let kinds = Kinds::default();
        let mapping = Mapping::default();
        let time = TimeReader::new(jiff::tz::TimeZone::get("America/New_York").unwrap());
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut records_read, mut findings_read) = (0, 0);
        for round in 0..3_000 {
            let (kind_name, pool) = keys[round % keys.len()];
            let reader = RecordReader {
                kind: kinds.get(kind_name).unwrap(),
                mapping: &mapping,
                time: &time,
            };
            // Each object's keys in the order written (a map would sort them).
            let mut objects: Vec<Vec<(String, Value)>> = Vec::new();
            for _ in 0..1 + rng.below(6) {
                let previous = objects.last().filter(|_| rng.below(3) > 0);
                let mut names: Vec<String> = match previous {
                    // The same keys as the record before, mostly in the same order.
                    Some(previous) => previous.iter().map(|(name, _)| name.clone()).collect(),
                    None => pool
                        .iter()
                        .filter_map(|name| match name.strip_prefix('?') {
                            Some(rare) => (rng.below(5) == 0).then_some(rare),
                            None => (rng.below(10) < 9).then_some(*name),
                        })
                        .map(str::to_owned)
                        .collect(),
                };
                if names.len() > 1 && rng.below(4) == 0 {
                    let (a, b) = (rng.below(names.len()), rng.below(names.len()));
                    names.swap(a, b);
                }
                let object = names
                    .into_iter()
                    .map(|name| {
                        let value = if rng.below(4) == 0 {
                            any_value(&mut rng, 0)
                        } else {
                            readable_value(&mut rng, &name)
                        };
                        (name, value)
                    })
                    .collect();
                objects.push(object);
            }
            let pretty = rng.below(2) == 0;
            let written: Vec<String> = objects
                .iter()
                .map(|object| {
                    let fields: Vec<String> = object
                        .iter()
                        .map(|(name, value)| {
                            let value = if pretty {
                                serde_json::to_string_pretty(value).unwrap()
                            } else {
                                value.to_string()
                            };
                            format!("{}: {value}", Value::from(name.as_str()))
                        })
                        .collect();
                    format!("{{{}}}", fields.join(if pretty { ",\n  " } else { "," }))
                })
                .collect();
            let text = format!("[{}]", written.join(",\n"));
            let objects: Vec<serde_json::Map<String, Value>> = objects
                .into_iter()
                .map(|object| object.into_iter().collect())
                .collect();
            let alone: Vec<Reading> = objects
                .iter()
                .enumerate()
                .map(|(index, object)| reader.read(object, Position::Record(index + 1)))
                .collect();
            // And each object alone reads as the reader before key layouts read it, which
            // walked the whole object for every path of every field.
            for (index, (object, reading)) in objects.iter().zip(&alone).enumerate() {
                let reference =
                    crate::record::oracle::read(&reader, object, Position::Record(index + 1));
                assert_eq!(reading, &reference, "{object:?}");
            }
            let records: Vec<Record> = alone.iter().filter_map(|r| r.record.clone()).collect();
            let findings: Vec<Finding> = alone.iter().flat_map(|r| r.findings.clone()).collect();
            match read(Format::Json, None, "list.json", text.as_bytes(), reader) {
                Ok(parsed) => {
                    assert_eq!(parsed.records, records, "{text}");
                    assert_eq!(parsed.findings, findings, "{text}");
                    assert_eq!(parsed.total, objects.len());
                    records_read += records.len();
                    findings_read += findings.len();
                }
                Err(error) => {
                    assert!(records.is_empty(), "{text}: {error}");
                    assert!(
                        error.to_string().contains(&findings[0].to_string()),
                        "{text}: {error}"
                    );
                }
            }
        }
        assert!(
            records_read > 1_000 && findings_read > 2_000,
            "{records_read} records, {findings_read} findings"
        );
    }

    #[test]
    fn media_types() {
        assert_eq!(Format::Csv.media_type(), "text/csv");
        assert_eq!(Format::Json.media_type(), "application/json");
    }
}
