//! Typed evidence records: a raw export row or JSON object read against its
//! [`EvidenceKind`], once, when evidence is read.
//!
//! Reading is where absence is told from presence. A required field that is
//! missing, or a value of the wrong type, makes the record unreadable (a
//! [`Finding`] naming the line or record number and the field), never a
//! record whose comparisons quietly come out false.

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde_json::Value;

use crate::kind::{EvidenceKind, Field, FieldType};
use crate::period::Period;
use crate::predicate::FieldPath;
use crate::time::{TimeReader, When};

mod layout;
#[cfg(test)]
pub(crate) mod oracle;

use layout::{Layout, Start};

/// One value of a record, converted to its field's type.
///
/// Text is shared (`Arc<str>`): a large export repeats the same status, severity or name in
/// many records, and [`Shared`] keeps one copy of each per document. Every variant fits in
/// 16 bytes, so a value takes 24.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// Text, and enum words as the kind spells them.
    Text(Arc<str>),
    Bool(bool),
    Integer(i64),
    Number(f64),
    Time(When),
    Duration(Period),
    List(Box<[String]>),
}

/// Where a record sits in what it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    /// A CSV line, 1-based, the header being line 1.
    Line(u64),
    /// A JSON record, 1-based, in the list of records.
    Record(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(line) => write!(f, "line {line}"),
            Position::Record(index) => write!(f, "record {index}"),
        }
    }
}

/// What a record is about: a user, a device, a patch on a device, a table,
/// a policy, an incident. Verdicts, history and mail are kept per subject.
///
/// Shared like text values (a subject named by one text field is that field's value).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject(Arc<str>);

impl serde::Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Subject, D::Error> {
        String::deserialize(deserializer).map(Subject::new)
    }
}

impl Subject {
    pub fn new(text: impl Into<String>) -> Subject {
        Subject(Arc::from(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// As shown in a reason or a table: control characters written out (`crate::printable`).
/// Its identity is [`Subject::as_str`], as the evidence has it.
impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::printable::printable(&self.0))
    }
}

/// A readable record of a kind.
///
/// Its values sit in the kind's field order, beside the field names shared by every record
/// of the document, rather than in a map with a name per value: for a large export the
/// records are most of the memory a reading takes.
#[derive(Clone, Debug)]
pub struct Record {
    /// `None` for kinds without subject fields (a hand-added completion).
    pub subject: Option<Subject>,
    pub position: Position,
    /// The field names, shared (one pointer: records are many); `values[i]` is the value of
    /// `names[i]`.
    names: Arc<Names>,
    /// Present values only are `Some`: an absent optional field is `None`.
    values: Box<[Option<FieldValue>]>,
}

impl PartialEq for Record {
    /// The same subject, position and present values, however the names are laid out.
    fn eq(&self, other: &Record) -> bool {
        self.subject == other.subject
            && self.position == other.position
            && self.present().collect::<BTreeMap<_, _>>()
                == other.present().collect::<BTreeMap<_, _>>()
    }
}

impl Record {
    pub fn new(
        subject: Option<Subject>,
        position: Position,
        fields: BTreeMap<String, FieldValue>,
    ) -> Record {
        let (names, values): (Vec<Box<str>>, Vec<Option<FieldValue>>) = fields
            .into_iter()
            .map(|(name, value)| (name.into_boxed_str(), Some(value)))
            .unzip();
        Record {
            subject,
            position,
            names: Arc::new(names.into_boxed_slice()),
            values: values.into_boxed_slice(),
        }
    }

    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        let index = self.names.iter().position(|name| **name == *field)?;
        self.values.get(index)?.as_ref()
    }

    /// The value at `path`: a kind's field (one segment), or a joined record's field named
    /// `alias.field` (see [`crate::join`]).
    pub fn get_path(&self, path: &FieldPath) -> Option<&FieldValue> {
        if let Some(name) = path.as_name() {
            return self.get(name);
        }
        let segments = path.segments();
        let index = self.names.iter().position(|name| spells(name, segments))?;
        self.values.get(index)?.as_ref()
    }

    /// This record with `extra` values after its own (a join's partner fields): the same
    /// subject and position.
    pub(crate) fn extended(&self, extra: Vec<(Box<str>, Option<FieldValue>)>) -> Record {
        // A document's names may outnumber a record's values: pair them up first.
        let (mut names, mut values): (Vec<Box<str>>, Vec<Option<FieldValue>>) = self
            .present()
            .map(|(name, value)| (Box::from(name), Some(value.clone())))
            .unzip();
        names.reserve(extra.len());
        values.reserve(extra.len());
        for (name, value) in extra {
            names.push(name);
            values.push(value);
        }
        Record {
            subject: self.subject.clone(),
            position: self.position,
            names: Arc::new(names.into_boxed_slice()),
            values: values.into_boxed_slice(),
        }
    }

    /// Every present value with its field's name, in the kind's order.
    fn present(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.names
            .iter()
            .zip(self.values.iter())
            .filter_map(|(name, value)| value.as_ref().map(|value| (&**name, value)))
    }

    /// The subject, or the record's position for kinds without one.
    pub fn name(&self) -> String {
        self.subject
            .as_ref()
            .map_or_else(|| self.position.to_string(), ToString::to_string)
    }

    /// The record as JSON with the kind's own field names, times as text:
    /// what the store keeps of an event until it is closed. Reading it back
    /// with [`Mapping::identity`] gives the same record.
    pub fn to_json(&self) -> Value {
        let mut present: Vec<(&str, &FieldValue)> = self.present().collect();
        // By name, as the map these records were once kept in wrote them.
        present.sort_by_key(|(name, _)| *name);
        let object = present
            .into_iter()
            .map(|(name, value)| {
                let json = match value {
                    FieldValue::Text(text) => Value::String(text.to_string()),
                    FieldValue::Bool(flag) => Value::Bool(*flag),
                    FieldValue::Integer(n) => Value::from(*n),
                    FieldValue::Number(n) => Value::from(*n),
                    FieldValue::Time(When::At(at)) => Value::String(at.to_string()),
                    FieldValue::Time(When::Day(day)) => Value::String(day.to_string()),
                    FieldValue::Duration(period) => Value::String(period.to_string()),
                    FieldValue::List(items) => {
                        Value::Array(items.iter().cloned().map(Value::String).collect())
                    }
                };
                (name.to_owned(), json)
            })
            .collect();
        Value::Object(object)
    }
}

/// Why one record is not evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub position: Position,
    /// The record's subject, when its subject fields could be read.
    pub subject: Option<Subject>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.position)?;
        if let Some(subject) = &self.subject {
            write!(f, " ({subject})")?;
        }
        write!(f, ": `{}` {}", self.field, self.message)
    }
}

/// Where each field of a kind is read from in one source: the kind's own
/// `from` paths, or the source's `fields` mapping for that field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping(BTreeMap<String, FieldPath>);

impl Mapping {
    /// A source's overrides; names are checked against the kind by the caller.
    pub fn new(overrides: BTreeMap<String, FieldPath>) -> Mapping {
        Mapping(overrides)
    }

    /// Every field read from its own name: how kept records are read back.
    pub fn identity(kind: &EvidenceKind) -> Mapping {
        Mapping(
            kind.fields
                .iter()
                .map(|field| (field.name.clone(), FieldPath::single(&field.name)))
                .collect(),
        )
    }

    /// Where `field` is read from: the source's override, else the kind's paths.
    pub fn paths<'a>(&'a self, field: &'a Field) -> &'a [FieldPath] {
        self.0
            .get(&field.name)
            .map_or(field.from.as_slice(), std::slice::from_ref)
    }
}

/// Reads raw objects into records of one kind.
#[derive(Clone, Copy, Debug)]
pub struct RecordReader<'a> {
    pub kind: &'a EvidenceKind,
    pub mapping: &'a Mapping,
    pub time: &'a TimeReader,
}

impl RecordReader<'_> {
    /// Reads one raw object: the record, unless a required field is missing or unreadable,
    /// and every problem found. A bad value in an optional field is a finding and leaves
    /// that field absent, so the record is still judged — every condition on the field is
    /// unknown — and a clock whose completion cell is garbled keeps running and can lapse.
    pub fn read(&self, raw: &serde_json::Map<String, Value>, position: Position) -> Reading {
        self.read_shared(raw, position, &mut Shared::new(self.kind))
    }

    /// [`read`](RecordReader::read) of any [`RawRecord`], sharing field names and repeated
    /// text with the other records of the document through `shared` (made by [`Shared::new`]
    /// for this kind).
    pub fn read_shared<R: RawRecord + ?Sized>(
        &self,
        raw: &R,
        position: Position,
        shared: &mut Shared,
    ) -> Reading {
        // Built in the document's scratch row, then copied out at its exact length.
        let mut values = std::mem::take(&mut shared.row);
        values.clear();
        let mut problems = Problems::default();
        let starts = shared.layout.starts(raw, self);
        let mut first_start = 0;
        for (index, field) in self.kind.fields.iter().enumerate() {
            let paths = self.mapping.paths(field);
            // This field's starts, however many of them `find` looks at.
            let field_starts = starts
                .get(first_start..first_start + paths.len())
                .unwrap_or_default();
            first_start += paths.len();
            let lookup = find(raw, paths, field_starts.iter());
            values.push(self.settle(index, paths, lookup, &mut shared.texts, &mut problems));
        }
        let value_of = |name: &str| {
            self.kind
                .fields
                .iter()
                .position(|field| field.name == name)
                .and_then(|index| values[index].as_ref())
        };
        // The composed subject is a column of its own, after the fields.
        let subject_column = self.kind.fields.len();
        let subject = match self.kind.subject.as_slice() {
            [] => None,
            // Named by one text field: that value itself, no copy.
            [name] => match value_of(name) {
                Some(FieldValue::Text(text)) => Some(Subject(Arc::clone(text))),
                other => other.map(|value| {
                    Subject(shared.texts.written(subject_column, |out| {
                        write_subject_text(value, out);
                    }))
                }),
            },
            // Its parts' texts joined by ` / `, when every part is there.
            names if names.iter().all(|name| value_of(name).is_some()) => {
                Some(Subject(shared.texts.written(subject_column, |out| {
                    for (i, part) in names.iter().filter_map(|name| value_of(name)).enumerate() {
                        if i > 0 {
                            out.push_str(" / ");
                        }
                        write_subject_text(part, out);
                    }
                })))
            }
            _ => None,
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
        // Absent optional fields at the end take no room.
        let present = values
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |last| last + 1);
        let record = (!problems.blocking).then(|| Record {
            subject,
            position,
            names: Arc::clone(&shared.names),
            values: values.drain(..present).collect(),
        });
        values.clear();
        shared.row = values;
        Reading { record, findings }
    }
}

impl RecordReader<'_> {
    /// The value of the kind's field `index`, from what looking it up at `paths` found; a
    /// missing, ambiguous, empty or unreadable value is a problem instead, which keeps the
    /// record from being read if the field is required.
    fn settle(
        &self,
        index: usize,
        paths: &[FieldPath],
        lookup: Lookup<'_>,
        texts: &mut Texts,
        problems: &mut Problems,
    ) -> Option<FieldValue> {
        let field = &self.kind.fields[index];
        match lookup {
            Lookup::Absent => {
                if field.required {
                    problems.add(field, missing(paths));
                }
                None
            }
            Lookup::Ambiguous(why) => {
                problems.add(field, format!("is ambiguous: {why}"));
                None
            }
            Lookup::Found(raw_value) => {
                match convert(&field.ty, raw_value, self.time, texts, index) {
                    Ok(Some(converted)) => Some(converted),
                    Ok(None) => {
                        if field.required {
                            problems.add(field, "is empty".to_owned());
                        }
                        None
                    }
                    Err(message) => {
                        problems.add(field, message);
                        None
                    }
                }
            }
        }
    }
}

/// The problems of one record's fields, by field name, and whether one of them keeps the
/// record from being read (a required field's).
#[derive(Debug, Default)]
struct Problems {
    found: Vec<(String, String)>,
    blocking: bool,
}

impl Problems {
    fn add(&mut self, field: &Field, message: String) {
        self.blocking |= field.required;
        self.found.push((field.name.clone(), message));
    }
}

/// A kind's field names, in its order.
type Names = Box<[Box<str>]>;

/// What the records of one document share: the kind's field names, and one copy of each
/// text value seen (up to [`SHARED_TEXTS`] distinct ones of at most [`SHARED_TEXT_LEN`]
/// bytes, so a column of unique ids cannot grow the table without bound).
///
/// It serves the records of one document read by one reader (the paths' starts it keeps
/// are that reader's).
#[derive(Debug)]
pub struct Shared {
    names: Arc<Names>,
    texts: Texts,
    /// The values of the record being read.
    row: Vec<Option<FieldValue>>,
    /// Where the reader's paths start in records with the keys of the record before.
    layout: Layout,
}

impl Shared {
    pub fn new(kind: &EvidenceKind) -> Shared {
        Shared {
            names: Arc::new(
                kind.fields
                    .iter()
                    .map(|field| Box::from(field.name.as_str()))
                    .collect(),
            ),
            texts: Texts::default(),
            row: Vec::with_capacity(kind.fields.len()),
            layout: Layout::default(),
        }
    }
}

/// At most this many distinct text values are kept for sharing per document: the table then
/// takes some 17 MB, against the hundreds a document with that many records takes anyway.
const SHARED_TEXTS: usize = 1 << 19;
/// Longer text values are not looked up: long free text rarely repeats.
const SHARED_TEXT_LEN: usize = 256;

/// The shared text values of one document, and per column (a field, or the composed subject)
/// whether its values repeat enough to be looked up at all.
#[derive(Debug, Default)]
struct Texts {
    seen: HashSet<Arc<str>, foldhash::fast::RandomState>,
    columns: Vec<Column>,
    /// Where a text that is written first (a number, a composed subject) is written.
    scratch: String,
}

/// How a column's first values fared in the table.
#[derive(Clone, Copy, Debug, Default)]
struct Column {
    looked_up: u32,
    found: u32,
}

/// Values of a column looked up before it is judged: a column that found fewer than one in
/// four of them in the table (ids, names, serial numbers) is not looked up again, since each
/// lookup costs a hash and, below the cap, an insert, and buys no sharing.
const COLUMN_SAMPLE: u32 = 64;

impl Texts {
    /// The text `write` writes, of `column`, as [`text`](Texts::text) shares it: written into
    /// the same buffer each time rather than into a new string.
    fn written(&mut self, column: usize, write: impl FnOnce(&mut String)) -> Arc<str> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        write(&mut scratch);
        let text = self.text(column, &scratch);
        self.scratch = scratch;
        text
    }

    /// `text` of `column` as a shared string: the copy seen before, or a new one.
    fn text(&mut self, column: usize, text: &str) -> Arc<str> {
        if text.len() > SHARED_TEXT_LEN {
            return Arc::from(text);
        }
        if self.columns.len() <= column {
            self.columns.resize(column + 1, Column::default());
        }
        let stats = &mut self.columns[column];
        if stats.looked_up >= COLUMN_SAMPLE && stats.found * 4 < stats.looked_up {
            return Arc::from(text);
        }
        stats.looked_up = stats.looked_up.saturating_add(1);
        if let Some(seen) = self.seen.get(text) {
            stats.found = stats.found.saturating_add(1);
            return Arc::clone(seen);
        }
        let new: Arc<str> = Arc::from(text);
        if self.seen.len() < SHARED_TEXTS {
            self.seen.insert(Arc::clone(&new));
        }
        new
    }
}

/// What reading one raw object gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// `None` when a required field is missing, empty, ambiguous or unreadable.
    pub record: Option<Record>,
    /// Every problem of the object, also those of a record that was read.
    pub findings: Vec<Finding>,
}

impl Reading {
    /// The record when the object had no problem at all.
    pub fn clean(self) -> Result<Record, Vec<Finding>> {
        match self.record {
            Some(record) if self.findings.is_empty() => Ok(record),
            _ => Err(self.findings),
        }
    }
}

/// The top-level fields of one raw record, as a reader needs them: each key once, in any order.
///
/// A JSON object parsed whole is a `serde_json::Map`; the records of a large export are read
/// into a buffer reused from record to record instead (`decode::Fields`), so that reading
/// them does not build and free a map of strings for each.
pub trait RawRecord {
    /// Every key with its value, in the record's order.
    fn fields(&self) -> impl Iterator<Item = (&str, &Value)>;

    /// The value of the field at `index` in [`fields`](RawRecord::fields)' order.
    fn value_at(&self, index: usize) -> Option<&Value> {
        self.fields().nth(index).map(|(_, value)| value)
    }
}

impl RawRecord for serde_json::Map<String, Value> {
    fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.iter().map(|(key, value)| (key.as_str(), value))
    }
}

enum Lookup<'a> {
    Absent,
    Found(&'a Value),
    Ambiguous(String),
}

/// The first of `paths` present in `raw`. A key is matched ignoring ASCII
/// case (`Action` for `action`): exports differ in case, and reading the
/// value beats calling the record unreadable. Two keys that differ only in
/// case are ambiguous, even when one of them matches exactly.
///
/// Two of the field's paths present with different values (`isMfaRegistered`
/// and `mfa_registered`) are ambiguous too: which one the export meant
/// cannot be told, and taking the first would be a guess.
///
/// `starts` are where each of the paths starts among `raw`'s keys ([`Layout`]).
fn find<'a, 's, R: RawRecord + ?Sized>(
    raw: &'a R,
    paths: &[FieldPath],
    starts: impl Iterator<Item = &'s Start>,
) -> Lookup<'a> {
    let mut found: Option<(&FieldPath, &'a Value)> = None;
    for (path, start) in paths.iter().zip(starts) {
        match walk(raw, path, *start) {
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

/// The value at `path` in `raw`, the path starting at `start`. A CSV header may itself
/// contain dots (`properties.plan`): the whole path as one key comes first ([`Start::Joined`]).
fn walk<'a, R: RawRecord + ?Sized>(raw: &'a R, path: &FieldPath, start: Start) -> Lookup<'a> {
    let segments = path.segments();
    let mut value = match start {
        Start::Joined(index) => return raw.value_at(index).map_or(Lookup::Absent, present),
        Start::At(index) => match raw.value_at(index) {
            Some(value) => value,
            None => return Lookup::Absent,
        },
        Start::Absent => return Lookup::Absent,
        Start::Ambiguous => {
            return Lookup::Ambiguous(segments.first().cloned().unwrap_or_default());
        }
    };
    for segment in segments.iter().skip(1) {
        let Value::Object(object) = value else {
            return Lookup::Absent;
        };
        value = match one_spelling(object.fields(), segment) {
            Ok(value) => value,
            Err(lookup) => return lookup,
        };
    }
    present(value)
}

/// The value of the one key among `fields` that is `segment` ignoring ASCII case; else what
/// the lookup found (absent, or ambiguous). Even beside an exact match, another spelling of
/// case is a second value for the same field (`isMfaRegistered: true` next to
/// `ismfaregistered: false`): ambiguous, like a duplicate key.
fn one_spelling<'a>(
    fields: impl Iterator<Item = (&'a str, &'a Value)>,
    segment: &str,
) -> Result<&'a Value, Lookup<'a>> {
    let mut matches = fields.filter(|(key, _)| key.eq_ignore_ascii_case(segment));
    match (matches.next(), matches.next()) {
        (Some((_, value)), None) => Ok(value),
        (Some(_), Some(_)) => Err(Lookup::Ambiguous(segment.to_owned())),
        (None, _) => Err(Lookup::Absent),
    }
}

/// Whether `name` is `segments` joined by dots, as a path is written (`properties.plan`).
fn spells(name: &str, segments: &[String]) -> bool {
    let mut rest = name;
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            let Some(after) = rest.strip_prefix('.') else {
                return false;
            };
            rest = after;
        }
        let Some(after) = rest.strip_prefix(segment.as_str()) else {
            return false;
        };
        rest = after;
    }
    rest.is_empty()
}

fn present(value: &Value) -> Lookup<'_> {
    if value.is_null() {
        Lookup::Absent
    } else {
        Lookup::Found(value)
    }
}

fn missing(paths: &[FieldPath]) -> String {
    let names: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
    if names.len() == 1 {
        format!("is missing (looked for {})", names[0])
    } else {
        format!("is missing (looked for {})", names.join(", "))
    }
}

/// A value as a subject names it.
fn write_subject_text(value: &FieldValue, out: &mut String) {
    let _ = match value {
        // As the evidence has it: a subject's text is its identity (stored, acknowledged),
        // and is made printable only where it is shown (its `Display`).
        FieldValue::Text(text) => {
            out.push_str(text);
            Ok(())
        }
        FieldValue::Bool(flag) => write!(out, "{flag}"),
        FieldValue::Integer(n) => write!(out, "{n}"),
        FieldValue::Number(n) => write!(out, "{n}"),
        FieldValue::Time(When::At(at)) => write!(out, "{at}"),
        FieldValue::Time(When::Day(day)) => write!(out, "{day}"),
        FieldValue::Duration(period) => write!(out, "{period}"),
        FieldValue::List(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(item);
            }
            Ok(())
        }
    };
}

/// At most this many characters of a bad value are quoted in a finding.
const QUOTED: usize = 40;

fn quote(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    format!("`{}`", crate::printable::excerpt(&text, QUOTED))
}

/// Converts one present raw value. `Ok(None)`: an empty cell or text,
/// which counts as absent.
fn convert(
    ty: &FieldType,
    raw: &Value,
    time: &TimeReader,
    texts: &mut Texts,
    column: usize,
) -> Result<Option<FieldValue>, String> {
    // Text is trimmed once, here: blank text is absent, and the types read what is left.
    let trimmed = match raw {
        Value::String(text) => match text.trim() {
            "" => return Ok(None),
            trimmed => trimmed,
        },
        _ => "",
    };
    let wrong = |what: &str| format!("is {}, not {what}", quote(raw));
    let value = match ty {
        FieldType::Text => match raw {
            Value::String(_) => FieldValue::Text(texts.text(column, trimmed)),
            Value::Number(n) => FieldValue::Text(texts.written(column, |out| {
                let _ = write!(out, "{n}");
            })),
            Value::Bool(flag) => {
                FieldValue::Text(texts.text(column, if *flag { "true" } else { "false" }))
            }
            _ => return Err(format!("is {}, not text", json_kind(raw))),
        },
        FieldType::Enum(values) => {
            let Value::String(_) = raw else {
                return Err(format!(
                    "is {}, not one of {}",
                    json_kind(raw),
                    values.join(", ")
                ));
            };
            match values.iter().find(|v| v.eq_ignore_ascii_case(trimmed)) {
                Some(word) => FieldValue::Text(texts.text(column, word)),
                None => {
                    return Err(format!(
                        "is {}, not one of {}",
                        quote(raw),
                        values.join(", ")
                    ));
                }
            }
        }
        FieldType::Bool => match raw {
            Value::Bool(flag) => FieldValue::Bool(*flag),
            Value::String(_) => match trimmed.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => FieldValue::Bool(true),
                "false" | "no" | "n" | "0" => FieldValue::Bool(false),
                _ => return Err(wrong("true or false (yes/no)")),
            },
            Value::Number(n) if n.as_f64() == Some(1.0) => FieldValue::Bool(true),
            Value::Number(n) if n.as_f64() == Some(0.0) => FieldValue::Bool(false),
            _ => return Err(wrong("true or false")),
        },
        FieldType::Integer => match raw {
            Value::Number(n) => match n.as_i64() {
                Some(n) => FieldValue::Integer(n),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => FieldValue::Integer(f as i64),
                    Some(f) if f.fract() == 0.0 => {
                        return Err(wrong("a whole number of a size an export holds"));
                    }
                    _ => return Err(wrong("a whole number")),
                },
            },
            Value::String(_) => match trimmed.parse::<i64>() {
                Ok(n) => FieldValue::Integer(n),
                Err(_) => return Err(wrong("a whole number")),
            },
            _ => return Err(wrong("a whole number")),
        },
        FieldType::Number => match raw {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => FieldValue::Number(f),
                _ => return Err(wrong("a number")),
            },
            Value::String(_) => match trimmed.parse::<f64>() {
                Ok(f) if f.is_finite() => FieldValue::Number(f),
                _ => return Err(wrong("a number")),
            },
            _ => return Err(wrong("a number")),
        },
        FieldType::Timestamp => match time.read_json(raw) {
            Ok(when) => FieldValue::Time(when),
            Err(error) => return Err(format!("is not a time: {error}")),
        },
        FieldType::Date => match time.read_json(raw) {
            Ok(When::Day(day)) => FieldValue::Time(When::Day(day)),
            Ok(When::At(at)) => FieldValue::Time(When::Day(at.to_zoned(time.zone.clone()).date())),
            Err(error) => return Err(format!("is not a date: {error}")),
        },
        FieldType::Duration => match raw {
            Value::Number(n) => match n.as_f64() {
                Some(f) if (0.0..3.2e9).contains(&f) => {
                    FieldValue::Duration(Period::from_secs(f as i64))
                }
                _ => return Err(wrong("a length of time")),
            },
            Value::String(text) => match text.parse::<Period>() {
                Ok(period) => FieldValue::Duration(period),
                Err(_) => return Err(wrong("a length of time such as `30d`")),
            },
            _ => return Err(wrong("a length of time")),
        },
        FieldType::List => match raw {
            Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(text) => list.push(text.clone()),
                        Value::Number(n) => list.push(n.to_string()),
                        Value::Bool(flag) => list.push(flag.to_string()),
                        Value::Null => {}
                        _ => return Err("holds a list or object inside the list".to_owned()),
                    }
                }
                FieldValue::List(list.into_boxed_slice())
            }
            // A spreadsheet cell: `fido2; push`.
            Value::String(text) => FieldValue::List(
                text.split(';')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => return Err(format!("is {}, not a list", json_kind(raw))),
        },
    };
    Ok(Some(value))
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::kind::{Empty, Kinds, builtin};

    fn ny() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("America/New_York").unwrap()
    }

    fn object(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn read_as(kind: &EvidenceKind, mapping: &Mapping, raw: Value) -> Result<Record, Vec<Finding>> {
        let time = TimeReader::new(ny());
        RecordReader {
            kind,
            mapping,
            time: &time,
        }
        .read(&object(raw), Position::Record(1))
        .clean()
    }

    fn read(kind_name: &str, raw: Value) -> Result<Record, Vec<Finding>> {
        let kinds = Kinds::default();
        read_as(kinds.get(kind_name).unwrap(), &Mapping::default(), raw)
    }

    /// One vendor-shaped record per built-in kind, every field filled.
    fn samples() -> Vec<(&'static str, Value)> {
        vec![
            (
                "mfa_registration",
                json!({"userPrincipalName": "bob@contoso.com", "userDisplayName": "Bob",
                       "userType": "member", "isAdmin": false, "isMfaRegistered": true,
                       "isMfaCapable": true, "methodsRegistered": ["microsoftAuthenticatorPush", "fido2"],
                       "lastUpdatedDateTime": "2026-11-20T08:15:30.25Z"}),
            ),
            (
                "conditional_access_policy",
                json!({"displayName": "Require MFA", "id": "p1", "state": "ENABLED",
                       "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": ["breakglass"]},
                                      "applications": {"includeApplications": ["All"]}},
                       "grantControls": {"builtInControls": ["mfa"],
                                         "authenticationStrength": {"requirementsSatisfied": "mfa"}},
                       "modifiedDateTime": "2026-10-01T12:00:00Z"}),
            ),
            (
                "managed_device",
                json!({"deviceName": "LT-042", "id": "d1", "userPrincipalName": "bob@contoso.com",
                       "operatingSystem": "Windows", "osVersion": "10.0.26100", "complianceState": "noncompliant",
                       "isEncrypted": true, "lastSyncDateTime": "2026-11-22T03:00:00Z",
                       "enrolledDateTime": "2025-01-05T10:00:00Z"}),
            ),
            (
                "patch",
                json!({"deviceId": 42, "name": "KB5044284", "kbNumber": "5044284", "id": "p-1",
                       "severity": "CRITICAL", "status": "PENDING", "type": "SECURITY",
                       "timestamp": 1_760_000_000.5, "installedAt": "2026-11-01 09:00"}),
            ),
            (
                "log_table",
                json!({"name": "SigninLogs", "workspace": "ws1",
                       "properties": {"retentionInDays": 90, "totalRetentionInDays": 365.0,
                                      "retentionInDaysAsDefault": "false",
                                      "totalRetentionInDaysAsDefault": false, "plan": "Analytics"}}),
            ),
            (
                "access_review",
                json!({"review_id": "Q4-2026", "account_id": "bob@contoso.com", "account_name": "Bob",
                       "system": "M365", "role_or_group": "Global Admin", "privileged": "yes",
                       "reviewer": "Alice", "decision": "keep", "action_date": "11/02/2026",
                       "period_start": "2026-08-01", "period_end": "2026-10-31T23:00:00-04:00",
                       "signed_off_by": "Carol", "signed_off_at": "2026-11-02"}),
            ),
            (
                "training_completion",
                json!({"email": "bob@contoso.com", "employee": "Bob", "status": "complete",
                       "course": "CUI 101", "completed_on": "2026-09-30"}),
            ),
            (
                "incident",
                json!({"incident_id": "INC-7", "title": "Phish", "classification": "truePositive",
                       "severity": "high", "status": "active", "source_system": "Sentinel",
                       "detected_at": "2026-11-20T08:00:00Z", "discovered_at": "2026-11-20 07:00",
                       "handed_off_at": "2026-11-20T10:00:00Z", "acknowledged_at": "11/20/2026 9:05 AM",
                       "reported_at": "2026-11-21T12:00:00Z", "dibnet_report_number": "R-1",
                       "discovered_by": "Chris", "incident_number": 3190,
                       "provider_name": "Microsoft 365 Defender", "provider_incident_id": "2972395",
                       "redirect_incident_id": "2972390",
                       "tags": ["CUI"], "record_type": "incident"}),
            ),
            (
                "firewall_rule",
                json!({"name": "any-any", "action": "Allow", "source": "any", "destination": "any",
                       "service": "any", "enabled": 1}),
            ),
            (
                "restore_test",
                json!({"test_id": "RT-1", "system": "files", "restored_at": "2026-10-10T10:00:00Z",
                       "result": "SUCCESS", "verified_by": "Alice"}),
            ),
            (
                "scan_report",
                json!({"scan_id": "S-1", "scope": "10.0.0.0/24", "scan_finished_at": "2026-11-01T02:00:00Z",
                       "critical": "0", "high": 3, "score": "7.25"}),
            ),
            (
                "security_defaults",
                json!({"displayName": "Security Defaults", "id": "00000000-0000-0000-0000-000000000005",
                       "isEnabled": true}),
            ),
            (
                "access_review_definition",
                json!({"displayName": "Admins quarterly", "id": "def-1", "status": "InProgress",
                       "scope": {"query": "/groups/g1/transitiveMembers"},
                       "settings": {"recurrence": {"pattern": {"type": "absoluteMonthly", "interval": 3}}},
                       "createdDateTime": "2026-01-05T10:00:00Z"}),
            ),
            (
                "access_review_instance",
                json!({"id": "inst-1", "definitionId": "def-1", "definitionName": "Admins quarterly",
                       "status": "Completed", "startDateTime": "2026-10-01T00:00:00Z",
                       "endDateTime": "2026-10-15T00:00:00Z"}),
            ),
            (
                "access_review_decision",
                json!({"id": "139166ec", "accessReviewId": "inst-1", "instanceStatus": "Completed",
                       "instanceStartDateTime": "2026-10-01T00:00:00Z",
                       "instanceEndDateTime": "2026-10-15T00:00:00Z",
                       "definitionId": "def-1", "definitionName": "Guests quarterly",
                       "decision": "Deny", "recommendation": "Deny", "justification": "left",
                       "reviewedBy": {"id": "a1b2", "displayName": "Ann", "userPrincipalName": "ann@contoso.com"},
                       "reviewedDateTime": "2026-10-03T09:00:00Z", "appliedDateTime": "2026-10-15T01:00:00Z",
                       "applyResult": "AppliedSuccessfully",
                       "principal": {"@odata.type": "#microsoft.graph.userIdentity",
                                     "displayName": "Guest", "userPrincipalName": "guest@guest.com"}}),
            ),
            (
                "log_review",
                json!({"summary_id": "W44", "reviewer": "Alice", "reviewed_at": "2026-10-26 09:00",
                       "findings": "none"}),
            ),
            (
                "manual_completion",
                json!({"completed_at": "2026-11-02T15:00:00Z", "origin": "upload.pdf", "sha256": "ab12",
                       "outcome": "satisfied"}),
            ),
            (
                "rmm_device",
                json!({"id": 1042, "systemName": "WS-1042", "displayName": "Front desk",
                       "organizationId": 7, "nodeClass": "WINDOWS_WORKSTATION",
                       "approvalStatus": "APPROVED", "offline": false,
                       "os": {"name": "Windows 11 Pro"}, "lastContact": 1763900000.25,
                       "lastUpdate": 1763900000.5}),
            ),
            (
                "log_retention",
                json!({"name": "wineventlog", "system": "splunk", "retention": 31536000,
                       "kept_forever": false, "effective_retention": "90d", "size_capped": true,
                       "size_limit_mb": "500000", "size_mb": 81234.5, "archived": false,
                       "content": {"minTime": "2025-03-01T00:00:02+00:00", "disabled": false},
                       "in_use_by": {"indices": ["wineventlog"]}}),
            ),
        ]
    }

    #[test]
    fn to_json_read_back_with_the_identity_mapping_is_the_same_record() {
        let kinds = Kinds::default();
        let samples = samples();
        for kind in builtin() {
            let (_, raw) = samples
                .iter()
                .find(|(name, _)| *name == kind.name)
                .unwrap_or_else(|| panic!("no sample record for the kind `{}`", kind.name));
            let kind = kinds.get(&kind.name).unwrap();
            let record = read_as(kind, &Mapping::default(), raw.clone())
                .unwrap_or_else(|e| panic!("{}: {e:?}", kind.name));
            // The sample fills every field, so the round trip covers them all.
            for field in &kind.fields {
                assert!(
                    record.get(&field.name).is_some(),
                    "{}: {}",
                    kind.name,
                    field.name
                );
            }
            let stored = record.to_json();
            // What the store keeps is plain JSON text.
            let stored: Value = serde_json::from_str(&stored.to_string()).unwrap();
            let back = read_as(kind, &Mapping::identity(kind), stored)
                .unwrap_or_else(|e| panic!("{}: {e:?}", kind.name));
            assert_eq!(back, record, "{}", kind.name);
            assert_eq!(back.to_json(), record.to_json(), "{}", kind.name);
        }
    }

    #[test]
    fn durations_numbers_dates_and_enums_survive_the_round_trip() {
        let field = |name: &str, ty: FieldType| Field {
            name: name.to_owned(),
            ty,
            required: true,
            from: vec![FieldPath::single(name)],
            event: false,
        };
        let kind = EvidenceKind {
            name: "custom".to_owned(),
            fields: vec![
                field("key", FieldType::Text),
                field("grace", FieldType::Duration),
                field("seconds", FieldType::Duration),
                field("ratio", FieldType::Number),
                field("on", FieldType::Date),
                field(
                    "level",
                    FieldType::Enum(vec!["Low".to_owned(), "High".to_owned()]),
                ),
                field("tags", FieldType::List),
            ],
            subject: vec!["key".to_owned()],
            empty: Empty::NoEvidence,
        };
        let record = read_as(
            &kind,
            &Mapping::default(),
            json!({"key": " k1 ", "grace": "1d 12h", "seconds": 90, "ratio": 0.1,
                   "on": "2026-11-02T03:00:00Z", "level": "high", "tags": "a; b;; c"}),
        )
        .unwrap();
        assert_eq!(record.get("key"), Some(&FieldValue::Text("k1".into())));
        assert_eq!(
            record.get("grace"),
            Some(&FieldValue::Duration(Period::from_secs(129_600)))
        );
        assert_eq!(
            record.get("seconds"),
            Some(&FieldValue::Duration(Period::from_secs(90)))
        );
        // 03:00 UTC on 11-02 is 11-01 in New York.
        assert_eq!(
            record.get("on"),
            Some(&FieldValue::Time(When::Day("2026-11-01".parse().unwrap())))
        );
        assert_eq!(record.get("level"), Some(&FieldValue::Text("High".into())));
        assert_eq!(
            record.get("tags"),
            Some(&FieldValue::List(
                vec!["a".to_owned(), "b".to_owned(), "c".to_owned()].into()
            ))
        );
        let back = read_as(&kind, &Mapping::identity(&kind), record.to_json()).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_missing_required_field_is_a_finding_naming_where_it_was_looked_for() {
        let findings = read(
            "patch",
            json!({"deviceId": "d1", "name": "KB1", "severityLevel": "CRITICAL", "status": "PENDING",
                   "ts": 1_760_000_000}),
        )
        .unwrap_err();
        let fields: Vec<&str> = findings.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["severity", "pending_since"]);
        assert_eq!(
            findings[1].to_string(),
            "record 1 (d1 / KB1): `pending_since` is missing (looked for `timestamp`, `pending_since`)"
        );
        assert_eq!(findings[0].subject, Some(Subject::new("d1 / KB1")));
        // Without the subject fields the finding names only the position.
        let findings = read("firewall_rule", json!({"action": "allow"})).unwrap_err();
        assert_eq!(findings[0].subject, None);
        assert!(
            findings[0]
                .to_string()
                .starts_with("record 1: `name` is missing")
        );
    }

    #[test]
    fn null_and_empty_text_are_absent_not_values() {
        let base = json!({"userPrincipalName": "bob", "isMfaRegistered": true});
        let record = read("mfa_registration", base.clone()).unwrap();
        assert_eq!(record.get("user_type"), None);
        let mut with_null = base.clone();
        with_null["userType"] = Value::Null;
        with_null["methodsRegistered"] = json!("  ");
        let record = read("mfa_registration", with_null).unwrap();
        assert_eq!(record.get("user_type"), None);
        assert_eq!(record.get("methods"), None);
        let mut empty = base.clone();
        empty["isMfaRegistered"] = json!("");
        let findings = read("mfa_registration", empty).unwrap_err();
        assert_eq!(findings[0].field, "mfa_registered");
        assert_eq!(findings[0].message, "is empty");
        let mut null = base;
        null["isMfaRegistered"] = Value::Null;
        let findings = read("mfa_registration", null).unwrap_err();
        assert!(
            findings[0].message.starts_with("is missing"),
            "{:?}",
            findings
        );
    }

    #[test]
    fn wrong_types_are_findings_quoting_the_value() {
        let findings = read(
            "mfa_registration",
            json!({"userPrincipalName": {"a": 1}, "isMfaRegistered": "maybe", "isAdmin": 2,
                   "methodsRegistered": [["x"]], "lastUpdatedDateTime": "yesterday"}),
        )
        .unwrap_err();
        let messages: Vec<String> = findings
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        assert!(
            messages[0].starts_with("user: is an object, not text"),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("is_admin: is `2`, not true or false")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("mfa_registered: is `maybe`, not true or false")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("methods: holds a list")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("updated_at: is not a time: `yesterday`")),
            "{messages:?}"
        );
        let long = "x".repeat(100);
        let findings = read(
            "firewall_rule",
            json!({"name": "r", "action": long, "source": "a", "destination": "b"}),
        )
        .unwrap_err();
        assert!(
            findings[0]
                .message
                .starts_with(&format!("is `{}…`, not one of allow", "x".repeat(40))),
            "{}",
            findings[0].message
        );
        let findings = read(
            "log_table",
            json!({"name": "t", "retention_days": 1.5, "total_retention_days": "a year"}),
        )
        .unwrap_err();
        assert_eq!(findings.len(), 2);
        assert!(
            findings
                .iter()
                .all(|f| f.message.contains("not a whole number"))
        );
    }

    #[test]
    fn keys_match_ignoring_case_unless_two_spellings_clash() {
        let record = read(
            "firewall_rule",
            json!({"Name": "r1", "ACTION": "ALLOW", "Source": "any", "destination": "any"}),
        )
        .unwrap();
        assert_eq!(
            record.get("action"),
            Some(&FieldValue::Text("allow".into()))
        );
        assert_eq!(record.subject, Some(Subject::new("r1")));
        let findings = read(
            "firewall_rule",
            json!({"name": "r1", "Action": "allow", "ACTION": "deny", "source": "any", "destination": "any"}),
        )
        .unwrap_err();
        assert_eq!(findings[0].field, "action");
        assert!(
            findings[0].message.contains("is ambiguous"),
            "{}",
            findings[0].message
        );
        // An exact match does not hide a conflicting spelling of case.
        let findings = read(
            "mfa_registration",
            json!({"userPrincipalName": "bob", "isMfaRegistered": true, "ismfaregistered": false}),
        )
        .unwrap_err();
        assert_eq!(findings[0].field, "mfa_registered");
        assert!(
            findings[0]
                .message
                .contains("`isMfaRegistered` in more than one spelling"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn spreadsheet_spellings_convert() {
        let record = read(
            "access_review",
            json!({"review": "Q4", "account": "bob", "decision": "keep", "privileged": "Y",
                   "signed_off_at": "11/2/2026 9:05 AM", "action_date": "2026-11-02 23:30"}),
        )
        .unwrap();
        assert_eq!(record.get("privileged"), Some(&FieldValue::Bool(true)));
        assert_eq!(
            record.get("signed_off_at"),
            Some(&FieldValue::Time(When::At(
                "2026-11-02T14:05:00Z".parse().unwrap()
            )))
        );
        // A Date field holding an instant keeps its local day.
        assert_eq!(
            record.get("action_date"),
            Some(&FieldValue::Time(When::Day("2026-11-02".parse().unwrap())))
        );
        assert_eq!(record.subject, Some(Subject::new("Q4 / bob")));
        for (cell, value) in [("no", false), ("0", false), ("TRUE", true), ("n", false)] {
            let record = read(
                "mfa_registration",
                json!({"user": "bob", "mfa_registered": cell}),
            )
            .unwrap();
            assert_eq!(
                record.get("mfa_registered"),
                Some(&FieldValue::Bool(value)),
                "{cell}"
            );
        }
        // A CSV header may hold the dotted path as one column name.
        let record = read(
            "log_table",
            json!({"name": "t", "properties.retentionInDays": "90",
                   "properties.totalRetentionInDays": "365"}),
        )
        .unwrap();
        assert_eq!(
            record.get("total_retention_days"),
            Some(&FieldValue::Integer(365))
        );
    }

    #[test]
    fn a_source_mapping_replaces_the_kinds_paths() {
        let kinds = Kinds::default();
        let kind = kinds.get("patch").unwrap();
        let mapping = Mapping::new(
            [("severity".to_owned(), "severityLevel".parse().unwrap())]
                .into_iter()
                .collect(),
        );
        let raw = json!({"deviceId": "d1", "name": "KB1", "severityLevel": "CRITICAL",
                         "severity": "LOW", "status": "PENDING", "timestamp": "2026-11-01"});
        let record = read_as(kind, &mapping, raw.clone()).unwrap();
        assert_eq!(
            record.get("severity"),
            Some(&FieldValue::Text("CRITICAL".into()))
        );
        let record = read_as(kind, &Mapping::default(), raw).unwrap();
        assert_eq!(
            record.get("severity"),
            Some(&FieldValue::Text("LOW".into()))
        );
    }

    #[test]
    fn name_is_the_subject_or_the_position() {
        let record = read("manual_completion", json!({"completed_at": "2026-11-02"})).unwrap();
        assert_eq!(record.subject, None);
        assert_eq!(record.name(), "record 1");
        assert_eq!(Position::Line(3).to_string(), "line 3");
    }

    #[test]
    fn two_aliases_with_different_values_are_ambiguous() {
        let problems = read(
            "mfa_registration",
            json!({"userPrincipalName": "a@x", "isMfaRegistered": true, "mfa_registered": false}),
        )
        .unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("has both `isMfaRegistered` and `mfa_registered`, with different values"),
            "{problems:?}"
        );
        // The same value under both names is no contradiction.
        let record = read(
            "mfa_registration",
            json!({"userPrincipalName": "a@x", "isMfaRegistered": true, "mfa_registered": true}),
        )
        .unwrap();
        assert_eq!(record.get("mfa_registered"), Some(&FieldValue::Bool(true)));
    }

    #[test]
    fn a_bad_optional_value_leaves_the_field_absent_and_is_a_finding() {
        let time = TimeReader::new(ny());
        let kinds = Kinds::default();
        let reading = RecordReader {
            kind: kinds.get("mfa_registration").unwrap(),
            mapping: &Mapping::default(),
            time: &time,
        }
        .read(
            &object(json!({"userPrincipalName": "a@x", "isMfaRegistered": true, "lastUpdatedDateTime": "soon"})),
            Position::Record(1),
        );
        let record = reading.record.expect("required fields are fine");
        assert_eq!(record.get("updated_at"), None);
        assert_eq!(reading.findings.len(), 1);
        assert_eq!(reading.findings[0].field, "updated_at");
    }

    /// `find` stops at the first ambiguous path of a field; the next field must still be
    /// looked up at its own paths' starts, not at the ones the field before left unread.
    #[test]
    fn a_field_ambiguous_at_its_first_path_leaves_the_next_fields_their_own_paths() {
        let kinds = Kinds::default();
        let time = TimeReader::new(jiff::tz::TimeZone::get("America/New_York").unwrap());
        let mapping = Mapping::default();
        let reader = RecordReader {
            kind: kinds.get("mfa_registration").unwrap(),
            mapping: &mapping,
            time: &time,
        };
        // No MFA field at all, the display name in two spellings of case, `is_admin` true.
        let Value::Object(raw) = json!({"userPrincipalName": "bob@x", "userDisplayName": "A",
                                        "USERDISPLAYNAME": "B", "is_admin": true})
        else {
            unreachable!()
        };
        let reading = reader.read(&raw, Position::Record(1));
        assert!(
            reading.record.is_none(),
            "read without isMfaRegistered: {:?}",
            reading.record
        );
        assert!(
            reading
                .findings
                .iter()
                .any(|finding| finding.field == "mfa_registered"),
            "{:?}",
            reading.findings
        );
    }
}
