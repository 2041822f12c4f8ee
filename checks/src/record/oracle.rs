//! The reading of one record as it was before records were read into a reused buffer with
//! paths' starts worked out per key layout (`layout.rs`): each field looked up on its own,
//! by walking the whole object for each of its paths. Kept for tests only, as the reference
//! the fast reader must agree with: a test that compares the fast reader only with itself
//! (a list against each object alone) shares its mistakes.

use std::sync::Arc;

use serde_json::Value;

use super::{
    FieldPath, FieldValue, Finding, Position, Reading, Record, RecordReader, Shared, Subject,
    convert, missing, write_subject_text,
};

/// What [`RecordReader::read`] gives for `raw`, found the old way.
pub(crate) fn read(
    reader: &RecordReader<'_>,
    raw: &serde_json::Map<String, Value>,
    position: Position,
) -> Reading {
    let mut shared = Shared::new(reader.kind);
    let mut values: Vec<Option<FieldValue>> = Vec::new();
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut required_problem = false;
    for (index, field) in reader.kind.fields.iter().enumerate() {
        let paths = reader.mapping.paths(field);
        let mut value = None;
        match find(raw, paths) {
            Lookup::Absent => {
                if field.required {
                    required_problem = true;
                    problems.push((field.name.clone(), missing(paths)));
                }
            }
            Lookup::Ambiguous(why) => {
                required_problem |= field.required;
                problems.push((field.name.clone(), format!("is ambiguous: {why}")));
            }
            Lookup::Found(raw_value) => {
                match convert(&field.ty, raw_value, reader.time, &mut shared.texts, index) {
                    Ok(Some(converted)) => value = Some(converted),
                    Ok(None) => {
                        if field.required {
                            required_problem = true;
                            problems.push((field.name.clone(), "is empty".to_owned()));
                        }
                    }
                    Err(message) => {
                        required_problem |= field.required;
                        problems.push((field.name.clone(), message));
                    }
                }
            }
        }
        values.push(value);
    }
    let value_of = |name: &str| {
        reader
            .kind
            .fields
            .iter()
            .position(|field| field.name == name)
            .and_then(|index| values[index].as_ref())
    };
    let text = |value: &FieldValue| {
        let mut out = String::new();
        write_subject_text(value, &mut out);
        out
    };
    let subject = match reader.kind.subject.as_slice() {
        [] => None,
        names => names
            .iter()
            .map(|name| value_of(name).map(text))
            .collect::<Option<Vec<String>>>()
            .map(|parts| Subject(Arc::from(parts.join(" / ")))),
    };
    let findings = problems
        .into_iter()
        .map(|(field, message)| Finding {
            position,
            subject: subject.clone(),
            field,
            message,
        })
        .collect();
    let present = values
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |last| last + 1);
    values.truncate(present);
    let record = (!required_problem).then(|| Record {
        subject,
        position,
        names: Arc::clone(&shared.names),
        values: values.into_boxed_slice(),
    });
    Reading { record, findings }
}

enum Lookup<'a> {
    Absent,
    Found(&'a Value),
    Ambiguous(String),
}

/// The first of `paths` present in `raw`, keys matched ignoring ASCII case; two spellings of
/// one key, or two paths with different values, are ambiguous.
fn find<'a>(raw: &'a serde_json::Map<String, Value>, paths: &[FieldPath]) -> Lookup<'a> {
    let mut found: Option<(&FieldPath, &'a Value)> = None;
    for path in paths {
        match walk(raw, path) {
            Lookup::Absent => continue,
            Lookup::Ambiguous(key) => {
                return Lookup::Ambiguous(format!(
                    "the record has `{key}` in more than one spelling of case"
                ));
            }
            Lookup::Found(value) => match found {
                None => found = Some((path, value)),
                Some((first, seen)) if seen != value => {
                    return Lookup::Ambiguous(format!(
                        "the record has both `{first}` and `{path}`, with different values"
                    ));
                }
                Some(_) => {}
            },
        }
    }
    found.map_or(Lookup::Absent, |(_, value)| Lookup::Found(value))
}

fn walk<'a>(raw: &'a serde_json::Map<String, Value>, path: &FieldPath) -> Lookup<'a> {
    // A CSV header may itself contain dots: the whole path as one key first.
    if path.segments().len() > 1
        && let Some(value) = raw.get(&path.to_string())
    {
        return present(value);
    }
    let mut object = raw;
    let segments = path.segments();
    for (index, segment) in segments.iter().enumerate() {
        let mut matches = object
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(segment));
        let value = match (matches.next(), matches.next()) {
            (Some((_, value)), None) => value,
            (Some(_), Some(_)) => return Lookup::Ambiguous(segment.clone()),
            (None, _) => return Lookup::Absent,
        };
        if index + 1 == segments.len() {
            return present(value);
        }
        match value {
            Value::Object(inner) => object = inner,
            _ => return Lookup::Absent,
        }
    }
    Lookup::Absent
}

fn present(value: &Value) -> Lookup<'_> {
    if value.is_null() {
        Lookup::Absent
    } else {
        Lookup::Found(value)
    }
}
