//! The reading of one record as it was before records were read into a reused buffer with
//! paths' starts worked out per key layout (`layout.rs`): each field looked up on its own,
//! by walking the whole object for each of its paths. What a lookup found is settled into a
//! value or a problem by the reader's own `settle`, so the two differ only in the lookup. Kept for tests only, as the reference
//! the fast reader must agree with: a test that compares the fast reader only with itself
//! (a list against each object alone) shares its mistakes.

use std::sync::Arc;

use serde_json::Value;

use super::{
    FieldPath, FieldValue, Finding, Lookup, Position, Problems, Reading, Record, RecordReader,
    Shared, Subject, write_subject_text,
};

/// What [`RecordReader::read`] gives for `raw`, found the old way.
pub(crate) fn read(
    reader: &RecordReader<'_>,
    raw: &serde_json::Map<String, Value>,
    position: Position,
) -> Reading {
    let mut shared = Shared::new(reader.kind);
    let mut values: Vec<Option<FieldValue>> = Vec::new();
    let mut problems = Problems::default();
    for (index, field) in reader.kind.fields.iter().enumerate() {
        let paths = reader.mapping.paths(field);
        values.push(reader.settle(
            index,
            paths,
            find(raw, paths),
            &mut shared.texts,
            &mut problems,
        ));
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
        .found
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
    let record = (!problems.blocking).then(|| Record {
        subject,
        position,
        names: Arc::clone(&shared.names),
        values: values.into_boxed_slice(),
    });
    Reading { record, findings }
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
