//! The records of a JSON document, read one at a time as the parser meets them.
//!
//! [`json`](super::json) builds the whole document as a `Value` tree: for an export of 50,000
//! Intune devices of 55 fields that is millions of small allocations, and some ten times the
//! document's size held at once. Here the records' list is streamed instead: each record is
//! built as an object of only the keys its kind can read (`keep`: the first segment of each
//! mapped path, or a whole dotted path), handed to `take` and dropped, so memory holds the
//! text, one record and the records read. The other keys are parsed without being built.
//!
//! It reads exactly what [`json`](super::json) followed by the records lookup reads: the same
//! documents are refused with the same messages (a duplicate key anywhere, however deep, even
//! among the keys skipped; the nesting limit; trailing content), a syntax error anywhere wins
//! over a misplaced list, and the records come in the same order with the same positions. The
//! read module's tests hold both paths to that.
//!
//! The records' fields are read into one [`Fields`] buffer kept from record to record: an
//! export's records have the same keys, so after the first record a key or a text value is
//! copied into the string the record before left in its place, and reading a record
//! allocates little beyond what the record keeps (an escaped key, a nested object).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{JsonError, Path, ValueSeed, duplicate_key};
use crate::predicate::FieldPath;
use crate::record::{Position, RawRecord, json_kind};

/// Why the records cannot be had: the text is not JSON dutywatch uses, or the records are not
/// where the source says (a location such as `record 3`, and what is wrong).
#[derive(Debug)]
pub enum RecordsError {
    Json(JsonError),
    Misplaced(Option<String>, String),
}

/// Where the records sit: under `path` (exact keys), or (`None`) a bare array, Microsoft's
/// `{"value": [...]}` envelope or one object. Each record is handed to `take` as an object of
/// the keys `keep` wants (see [`json_fields`], which this builds the objects from).
pub fn json_records(
    text: &str,
    path: Option<&FieldPath>,
    keep: &dyn Fn(&str) -> bool,
    take: &mut dyn FnMut(Position, &Map<String, Value>),
) -> Result<(), RecordsError> {
    json_fields(text, path, keep, &mut |position, fields| {
        take(position, &fields.to_map());
    })
}

/// [`json_records`], each record handed to `take` in the one [`Fields`] buffer the records
/// are read into: what the evidence reader uses, since it builds no object per record.
pub fn json_fields(
    text: &str,
    path: Option<&FieldPath>,
    keep: &dyn Fn(&str) -> bool,
    take: &mut dyn FnMut(Position, &Fields),
) -> Result<(), RecordsError> {
    let mut reading = Reading {
        keep,
        take,
        fields: Fields::default(),
        found: false,
        misplaced: None,
        refused: None,
        announced: None,
        listed: 0,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Level {
        reading: &mut reading,
        rest: path.map(FieldPath::segments),
        at: &Path::Root,
    };
    seed.deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|err| RecordsError::Json(JsonError::from_serde(&err)))?;
    // What the answer says of itself comes before what its records are.
    if let Some(message) = reading.refused {
        return Err(RecordsError::Misplaced(None, message));
    }
    // Only fewer than said is a loss; what `count` means beyond that is not documented
    // (values in NinjaOne's examples are illustrative), so more is not refused.
    if let Some(announced) = reading.announced
        && reading.found
        && announced > reading.listed
    {
        return Err(RecordsError::Misplaced(
            None,
            format!(
                "holds {} record(s) where its `cursor.count` says {announced}: the page is incomplete (cut short while saved or sent), so it proves nothing; export it again",
                reading.listed
            ),
        ));
    }
    if let Some((location, message)) = reading.misplaced {
        return Err(RecordsError::Misplaced(location, message));
    }
    if !reading.found {
        let message = match path {
            Some(path) => {
                format!("has no `{path}` field holding the records; check the source's `records`")
            }
            // Unreachable: without a path every document has its records or is misplaced.
            None => "holds no records".to_owned(),
        };
        return Err(RecordsError::Misplaced(None, message));
    }
    Ok(())
}

/// One record's top-level fields of the kept keys, in the document's order, each key once.
///
/// The buffer outlives its record: the next record's fields overwrite it in place, a key or
/// text in the string already there, so an export whose records share their keys (every
/// export) is read without allocating for each record.
#[derive(Debug, Default)]
pub struct Fields {
    /// The first `len` are the record's; the rest are left from an earlier, longer record.
    entries: Vec<(String, Value)>,
    len: usize,
}

impl Fields {
    fn clear(&mut self) {
        self.len = 0;
    }

    /// The place of `key`'s value, holding whatever the record before had there.
    fn slot(&mut self, key: &str) -> &mut Value {
        if self.len == self.entries.len() {
            self.entries.push((String::new(), Value::Null));
        }
        self.len += 1;
        let (name, value) = &mut self.entries[self.len - 1];
        name.clear();
        name.push_str(key);
        value
    }

    /// One object's fields (a document whose records are one object).
    fn of(object: Map<String, Value>) -> Fields {
        let entries: Vec<(String, Value)> = object.into_iter().collect();
        Fields {
            len: entries.len(),
            entries,
        }
    }

    /// The fields as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        self.fields()
            .map(|(key, value)| (key.to_owned(), value.clone()))
            .collect()
    }
}

impl RawRecord for Fields {
    fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries
            .iter()
            .take(self.len)
            .map(|(key, value)| (key.as_str(), value))
    }

    fn value_at(&self, index: usize) -> Option<&Value> {
        self.entries
            .get(..self.len)?
            .get(index)
            .map(|(_, value)| value)
    }
}

struct Reading<'k, 't> {
    keep: &'k dyn Fn(&str) -> bool,
    take: &'t mut dyn FnMut(Position, &Fields),
    /// The record being read.
    fields: Fields,
    /// The records' place was found (whatever it held).
    found: bool,
    /// The first problem with what that place holds; reported once the whole text parsed.
    misplaced: Option<(Option<String>, String)>,
    /// What the document's root says of the answer as a whole ([`refusal`]): a page of a
    /// longer list, or an error. Its records, whatever they are, are then not the evidence.
    refused: Option<String>,
    /// How many records the root's `cursor.count` (NinjaOne's queries) says the page holds.
    announced: Option<u64>,
    /// How many items the records' list held.
    listed: u64,
}

impl Reading<'_, '_> {
    fn misplaced(&mut self, location: Option<String>, message: String) {
        self.misplaced.get_or_insert((location, message));
    }

    fn holds(&mut self, value: &Value) {
        self.misplaced(
            None,
            format!(
                "holds {} where records were expected (an array of objects, or one object)",
                json_kind(value)
            ),
        );
    }
}

/// One level of the document on the way to the records: `rest` the keys still to follow
/// (`Some(&[])`: this value holds the records; `None`: the root without a path).
struct Level<'r, 'k, 't, 'p> {
    reading: &'r mut Reading<'k, 't>,
    rest: Option<&'p [String]>,
    at: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for Level<'_, '_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Level<'_, '_, '_, '_> {
    /// This value holds the records (or is the root without a path).
    fn is_place(&self) -> bool {
        self.rest.is_none_or(<[String]>::is_empty)
    }

    /// A scalar met here: what the records' place holds, or a level with no key to follow
    /// (so no records field).
    fn scalar(self, value: &Value) {
        match self.rest {
            // `null` where the records should be is no records field at all.
            Some([]) if value.is_null() => {}
            Some([]) | None => {
                self.reading.found = true;
                self.reading.holds(value);
            }
            Some(_) => {}
        }
    }
}

impl<'de> Visitor<'de> for Level<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    // A scalar is built as `ValueSeed` builds it, to be named (`json_kind`).
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        let value = ValueSeed(self.at).visit_bool(value)?;
        self.scalar(&value);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        let value = ValueSeed(self.at).visit_i64(value)?;
        self.scalar(&value);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        let value = ValueSeed(self.at).visit_u64(value)?;
        self.scalar(&value);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        let value = ValueSeed(self.at).visit_f64(value)?;
        self.scalar(&value);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar(&Value::String(String::new()));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(&Value::Null);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(&Value::Null);
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        if !self.is_place() {
            // A list where a key was to be followed: no records field.
            return Skip(self.at).visit_seq(seq);
        }
        self.reading.found = true;
        stream(self.reading, self.at, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let reading = self.reading;
        match self.rest {
            // The records' place is one object: it is the one record.
            Some([]) => {
                reading.found = true;
                let object = ValueSeed(self.at).visit_map(map)?;
                if let Value::Object(object) = object {
                    reading.listed = 1;
                    (reading.take)(Position::Record(1), &Fields::of(object));
                }
                Ok(())
            }
            Some([next, rest @ ..]) => {
                let mut seen = Keys::default();
                while let Some(key) = map.next_key_seed(KeySeed)? {
                    seen.insert(key.clone(), self.at)?;
                    let here = Path::Key(self.at, &key);
                    if key == next.as_str() {
                        map.next_value_seed(Level {
                            reading: &mut *reading,
                            rest: Some(rest),
                            at: &here,
                        })?;
                    } else if matches!(self.at, Path::Root) && SIGNALS.contains(&&*key) {
                        let value = map.next_value_seed(ValueSeed(&here))?;
                        if let Some(why) = refusal(&key, &value) {
                            reading.refused.get_or_insert(why);
                        }
                        if key == "cursor" {
                            reading.announced = value.get("count").and_then(Value::as_u64);
                        }
                    } else {
                        map.next_value_seed(Skip(&here))?;
                    }
                }
                Ok(())
            }
            // The root without a path: a `value` list is the records, else the object is one.
            None => {
                let mut object = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if object.contains_key(&key) {
                        return Err(de::Error::custom(duplicate_key(&key, self.at)));
                    }
                    let here = Path::Key(self.at, &key);
                    if key == "value" && !reading.found {
                        let list = map.next_value_seed(Envelope {
                            reading: &mut *reading,
                            at: &here,
                        })?;
                        // Not a list: an ordinary field of the one object.
                        if let Some(value) = list {
                            object.insert(key, value);
                        } else {
                            object.insert(key, Value::Null);
                        }
                    } else {
                        let value = map.next_value_seed(ValueSeed(&here))?;
                        // The root is the record here: its own `errorMessage` is a field.
                        if key != "errorMessage"
                            && let Some(why) = refusal(&key, &value)
                        {
                            reading.refused.get_or_insert(why);
                        }
                        object.insert(key, value);
                    }
                }
                if !reading.found {
                    reading.found = true;
                    (reading.take)(Position::Record(1), &Fields::of(object));
                }
                Ok(())
            }
        }
    }
}

/// The keys of a document's root that speak of the answer as a whole (see [`refusal`]).
const SIGNALS: [&str; 7] = [
    "@odata.nextLink",
    "odata.nextLink",
    "nextLink",
    "error",
    "errorMessage",
    "messages",
    "cursor",
];

/// Why a document whose root has `key` = `value` is not evidence, whatever records it holds:
/// - a next-page link (Graph's `@odata.nextLink`, ARM's `nextLink`): the file is one page
///   of a longer list, as Graph Explorer or a script that stopped early saves it, and the
///   subjects on the other pages are missing;
/// - an error envelope (Graph, ARM, Elastic `error`; NinjaOne `errorMessage`, beside a
///   records path only; Splunk `messages` of type `ERROR`):
///   the vendor refused, and what records sit beside it are not its answer.
fn refusal(key: &str, value: &Value) -> Option<String> {
    match (key, value) {
        ("@odata.nextLink" | "odata.nextLink" | "nextLink", Value::String(link))
            if !link.trim().is_empty() =>
        {
            Some(format!(
                "is one page of a longer list: its `{key}` names the next page, so the records on the pages after it are missing; export every page into one file (or collect it with the `graph` or `arm` connector, which follows the pages)"
            ))
        }
        // Portals that always carry the field say "no error" as they can.
        ("error", Value::Null | Value::Bool(false)) => None,
        ("error", Value::String(text)) if text.trim().is_empty() => None,
        ("error", Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        ("error", Value::Object(fields)) if fields.is_empty() => None,
        ("error", Value::Array(items)) if items.is_empty() => None,
        ("error", error) => Some(format!(
            "is an error answer, not evidence: `error` says {}; fix what the vendor refused and export again",
            error_words(error)
        )),
        // NinjaOne's error answers (a portal's "OK" is none).
        ("errorMessage", Value::String(text))
            if !["", "ok", "success", "none"]
                .contains(&text.trim().to_ascii_lowercase().as_str()) =>
        {
            Some(format!(
                "is an error answer, not evidence: `errorMessage` says {}; fix what the vendor refused and export again",
                error_words(value)
            ))
        }
        ("messages", Value::Array(messages)) => messages
            .iter()
            .find(|m| {
                m.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("error") || t.eq_ignore_ascii_case("fatal"))
            })
            .map(|message| {
                format!(
                    "is an error answer, not evidence: its `messages` say {}; fix what the vendor refused and export again",
                    error_words(message.get("text").unwrap_or(message))
                )
            }),
        _ => None,
    }
}

/// An error's code and message (Graph and ARM `code`/`message`, Elastic `type`/`reason`, an
/// OAuth `error_description`), or the value itself, cut short.
fn error_words(error: &Value) -> String {
    const AT_MOST: usize = 200;
    let text = match error {
        Value::String(text) => format!("`{text}`"),
        Value::Object(fields) => {
            let word = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|name| fields.get(*name).and_then(Value::as_str))
            };
            match (
                word(&["code", "type"]),
                word(&["message", "reason", "error_description"]),
            ) {
                (Some(code), Some(message)) => format!("`{code}`: {message}"),
                (Some(code), None) => format!("`{code}`"),
                (None, Some(message)) => message.to_owned(),
                (None, None) => error.to_string(),
            }
        }
        other => other.to_string(),
    };
    if text.chars().count() > AT_MOST {
        let cut: String = text.chars().take(AT_MOST).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The `value` of a root object read without a path: a list is streamed as the records (and
/// yields `None`), anything else is built and handed back as that field's value.
struct Envelope<'r, 'k, 't, 'p> {
    reading: &'r mut Reading<'k, 't>,
    at: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for Envelope<'_, '_, '_, '_> {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<Value>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Envelope<'_, '_, '_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    // Anything but a list is built by `ValueSeed`.
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_bool(value).map(Some)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_i64(value).map(Some)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_u64(value).map(Some)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_f64(value).map(Some)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_str(value).map(Some)
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_string(value).map(Some)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_unit().map(Some)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Value>, E> {
        ValueSeed(self.at).visit_none().map(Some)
    }

    fn visit_some<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<Value>, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        self.reading.found = true;
        stream(self.reading, self.at, seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
        ValueSeed(self.at).visit_map(map).map(Some)
    }
}

/// The records' list: each object read as a record as soon as it is parsed; the first item
/// that is not an object makes the list misplaced (what follows is still parsed, so a syntax
/// error later in the text is what is reported).
fn stream<'de, A: SeqAccess<'de>>(
    reading: &mut Reading<'_, '_>,
    at: &Path<'_>,
    mut seq: A,
) -> Result<(), A::Error> {
    let mut index = 0;
    let mut keys = RecordKeys::default();
    loop {
        let here = Path::Index(at, index);
        let seed = RecordSeed {
            keep: reading.keep,
            fields: &mut reading.fields,
            keys: &mut keys,
            at: &here,
        };
        let Some(item) = seq.next_element_seed(seed)? else {
            return Ok(());
        };
        index += 1;
        reading.listed += 1;
        match item {
            Item::Record => {
                if reading.misplaced.is_none() {
                    (reading.take)(Position::Record(index), &reading.fields);
                }
            }
            Item::Other(kind) => reading.misplaced(
                Some(format!("record {index}")),
                format!(
                    "is {kind}, not an object with fields; point `records` at the list of objects"
                ),
            ),
        }
    }
}

enum Item {
    /// An object, its fields read into the seed's [`Fields`].
    Record,
    /// Not an object: what it is (`json_kind`).
    Other(&'static str),
}

/// One item of the records' list: an object whose keys `keep` wants are read into `fields`,
/// the others parsed and checked (duplicates) but not built.
struct RecordSeed<'k, 'f, 'p, 'de> {
    keep: &'k dyn Fn(&str) -> bool,
    fields: &'f mut Fields,
    /// The keys of the list's records.
    keys: &'f mut RecordKeys<'de>,
    at: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_, '_, 'de> {
    type Value = Item;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_, '_, 'de> {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    // Not an object: built as `ValueSeed` builds it, to be named.
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Item, E> {
        Ok(Item::Other(json_kind(
            &ValueSeed(self.at).visit_bool(value)?,
        )))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Item, E> {
        Ok(Item::Other(json_kind(
            &ValueSeed(self.at).visit_i64(value)?,
        )))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Item, E> {
        Ok(Item::Other(json_kind(
            &ValueSeed(self.at).visit_u64(value)?,
        )))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Item, E> {
        Ok(Item::Other(json_kind(
            &ValueSeed(self.at).visit_f64(value)?,
        )))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Item, E> {
        Ok(Item::Other(json_kind(&Value::String(String::new()))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Other(json_kind(&Value::Null)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Other(json_kind(&Value::Null)))
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item, A::Error> {
        Skip(self.at).visit_seq(seq)?;
        Ok(Item::Other(json_kind(&Value::Array(Vec::new()))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        self.fields.clear();
        self.keys.start();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let kept = self.keys.next(key.clone(), self.keep, self.at)?;
            let here = Path::Key(self.at, &key);
            if kept {
                map.next_value_seed(Refill {
                    slot: self.fields.slot(&key),
                    at: &here,
                })?;
            } else {
                map.next_value_seed(Skip(&here))?;
            }
        }
        self.keys.finish();
        Ok(Item::Record)
    }
}

/// A value read into `slot` as [`ValueSeed`] builds it, reusing the string or list the slot
/// held (the same field of the record before) instead of allocating a new one. An object is
/// built anew: records seldom nest them.
struct Refill<'v, 'p> {
    slot: &'v mut Value,
    at: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for Refill<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Refill<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_bool(value)?;
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_i64(value)?;
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_u64(value)?;
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_f64(value)?;
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        if let Value::String(text) = self.slot {
            text.clear();
            text.push_str(value);
        } else {
            *self.slot = ValueSeed(self.at).visit_str(value)?;
        }
        Ok(())
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_string(value)?;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_unit()?;
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        *self.slot = ValueSeed(self.at).visit_none()?;
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = match std::mem::take(self.slot) {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let mut len = 0;
        loop {
            if len == items.len() {
                items.push(Value::Null);
            }
            let here = Path::Index(self.at, len);
            let Some(slot) = items.get_mut(len) else {
                break;
            };
            if seq.next_element_seed(Refill { slot, at: &here })?.is_none() {
                break;
            }
            len += 1;
        }
        items.truncate(len);
        *self.slot = Value::Array(items);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        *self.slot = ValueSeed(self.at).visit_map(map)?;
        Ok(())
    }
}

/// A key as the text holds it: borrowed unless it had escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(value))
    }
}

/// The keys one object has named so far; a second of the same is the duplicate [`json`]
/// refuses, reported at the repeated key.
///
/// A record has a few dozen keys: they are compared one by one, which costs less than hashing
/// each. Past [`SCAN_KEYS`] a hashed set takes over, so an object of hostile size is not
/// checked in quadratic time.
#[derive(Default)]
struct Keys<'de> {
    /// Every key so far, in the object's order.
    named: Vec<Cow<'de, str>>,
    /// Past [`SCAN_KEYS`] keys, the same keys, hashed.
    hashed: HashSet<Cow<'de, str>>,
}

/// How many keys are compared one by one before they are hashed.
const SCAN_KEYS: usize = 32;

impl<'de> Keys<'de> {
    fn clear(&mut self) {
        self.named.clear();
        self.hashed.clear();
    }

    fn insert<E: de::Error>(&mut self, key: Cow<'de, str>, at: &Path<'_>) -> Result<(), E> {
        let seen = if self.hashed.is_empty() {
            self.named.contains(&key)
        } else {
            self.hashed.contains(&key)
        };
        if seen {
            return Err(E::custom(duplicate_key(&key, at)));
        }
        if !self.hashed.is_empty() || self.named.len() >= SCAN_KEYS {
            if self.hashed.is_empty() {
                self.hashed.extend(self.named.iter().cloned());
            }
            self.hashed.insert(key.clone());
        }
        self.named.push(key);
        Ok(())
    }
}

/// The keys of the records of one list, record by record: duplicates refused as [`Keys`]
/// refuses them, and whether `keep` keeps each.
///
/// A record's keys are nearly always the record before's, in the same order. While they are,
/// a key is compared with one key only, the record before's in its place: those were
/// distinct, so keys that repeat them in order repeat none of each other, and what `keep`
/// said of each is known. From the first key that differs on, the record's keys are checked
/// as any object's are.
#[derive(Default)]
struct RecordKeys<'de> {
    /// The record before's keys, in order, and whether each was kept.
    before: Vec<(String, bool)>,
    /// How many keys of this record were the record before's first ones.
    matched: usize,
    /// Every key so far was (so the record has `matched` keys).
    same: bool,
    /// From the first key that differed, all of this record's keys so far.
    rest: Keys<'de>,
    /// Whether each key of `rest` after the first `matched` was kept.
    rest_kept: Vec<bool>,
}

impl<'de> RecordKeys<'de> {
    /// A new record begins.
    fn start(&mut self) {
        self.matched = 0;
        self.same = true;
        self.rest.clear();
        self.rest_kept.clear();
    }

    /// Refuses `key` if the record named it already; else whether `keep` keeps it.
    fn next<E: de::Error>(
        &mut self,
        key: Cow<'de, str>,
        keep: &dyn Fn(&str) -> bool,
        at: &Path<'_>,
    ) -> Result<bool, E> {
        if self.same {
            if let Some((name, kept)) = self.before.get(self.matched)
                && *name == key
            {
                self.matched += 1;
                return Ok(*kept);
            }
            self.same = false;
            for (name, _) in self.before.iter().take(self.matched) {
                self.rest.insert::<E>(Cow::Owned(name.clone()), at)?;
            }
        }
        let kept = keep(&key);
        self.rest.insert(key, at)?;
        self.rest_kept.push(kept);
        Ok(kept)
    }

    /// The record's keys are all read: they are the ones the next record is compared with.
    fn finish(&mut self) {
        self.before.truncate(self.matched);
        if !self.same {
            let others = self.rest.named.iter().skip(self.matched);
            for (name, kept) in others.zip(&self.rest_kept) {
                self.before.push((name.to_string(), *kept));
            }
        }
    }
}

/// A value parsed and checked as [`ValueSeed`] would (duplicate keys at any depth, the
/// nesting limit) without being built.
struct Skip<'p>(&'p Path<'p>);

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let here = Path::Index(self.0, index);
            if seq.next_element_seed(Skip(&here))?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Keys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            seen.insert(key.clone(), self.0)?;
            let here = Path::Key(self.0, &key);
            map.next_value_seed(Skip(&here))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reading gave: each record's position and the kept fields, or the error text.
    type Outcome = Result<Vec<(Position, Map<String, Value>)>, String>;

    fn keep(key: &str) -> bool {
        ["id", "name", "Name", "a.b"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
    }

    fn filtered(object: &Map<String, Value>) -> Map<String, Value> {
        object
            .iter()
            .filter(|(key, _)| keep(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// The streaming reader.
    fn streamed(text: &str, path: Option<&FieldPath>) -> Outcome {
        let mut records = Vec::new();
        let mut take = |position: Position, object: &Map<String, Value>| {
            records.push((position, object.clone()));
        };
        match json_records(text, path, &keep, &mut take) {
            Ok(()) => Ok(records),
            Err(RecordsError::Json(error)) => Err(error.to_string()),
            Err(RecordsError::Misplaced(location, message)) => {
                Err(format!("{location:?} {message}"))
            }
        }
    }

    /// The whole document built first, then the records looked up: what was read before the
    /// streaming reader, kept here as the reference it must agree with.
    fn built(text: &str, path: Option<&FieldPath>) -> Outcome {
        let mut value = super::super::json(text).map_err(|e| e.to_string())?;
        let misplaced =
            |location: Option<String>, message: String| Err(format!("{location:?} {message}"));
        let list = match path {
            Some(path) => match path
                .segments()
                .iter()
                .try_fold(&mut value, |value, key| value.as_object_mut()?.get_mut(key))
                .filter(|value| !value.is_null())
                .map(Value::take)
            {
                Some(list) => list,
                None => {
                    return misplaced(
                        None,
                        format!(
                            "has no `{path}` field holding the records; check the source's `records`"
                        ),
                    );
                }
            },
            None => match value {
                Value::Object(mut map) if map.get("value").is_some_and(Value::is_array) => {
                    map.remove("value").unwrap_or(Value::Null)
                }
                other => other,
            },
        };
        match list {
            Value::Array(items) => {
                if let Some((index, other)) = items.iter().enumerate().find(|(_, i)| !i.is_object())
                {
                    return misplaced(
                        Some(format!("record {}", index + 1)),
                        format!(
                            "is {}, not an object with fields; point `records` at the list of objects",
                            json_kind(other)
                        ),
                    );
                }
                Ok(items
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| {
                        item.as_object()
                            .map(|o| (Position::Record(index + 1), filtered(o)))
                    })
                    .collect())
            }
            // One object is read whole: its fields are all there, as before.
            Value::Object(object) => Ok(vec![(Position::Record(1), object)]),
            other => misplaced(
                None,
                format!(
                    "holds {} where records were expected (an array of objects, or one object)",
                    json_kind(&other)
                ),
            ),
        }
    }

    use crate::test_rng::Rng;

    const KEYS: [&str; 8] = ["value", "results", "a", "b", "id", "name", "Name", "a.b"];

    fn value(rng: &mut Rng, depth: u32, out: &mut String) {
        let choice = if depth > 3 {
            rng.below(5)
        } else {
            rng.below(8)
        };
        match choice {
            0 => out.push_str("null"),
            1 => out.push_str(if rng.below(2) == 0 { "true" } else { "false" }),
            2 => out.push_str(&format!("{}", rng.below(1000))),
            3 => out.push_str(&format!("{}.5", rng.below(10))),
            4 => out.push_str(&format!("\"t{}\\u0041\"", rng.below(10))),
            5 | 6 => {
                out.push('{');
                let n = rng.below(5);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    let key = KEYS[rng.below(8)];
                    // Sometimes escaped: the same key to a JSON reader.
                    if key == "id" && rng.below(3) == 0 {
                        out.push_str("\"\\u0069d\":");
                    } else {
                        out.push_str(&format!("\"{key}\":"));
                    }
                    value(rng, depth + 1, out);
                }
                out.push('}');
            }
            _ => {
                out.push('[');
                let n = rng.below(4);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    value(rng, depth + 1, out);
                }
                out.push(']');
            }
        }
    }

    #[test]
    fn a_duplicate_among_many_keys_is_found_whichever_keys_it_repeats() {
        let keys: Vec<String> = (0..80).map(|i| format!("k{i}")).collect();
        for repeated in [1, 31, 32, 33, 60, 79] {
            for at in [40, 79] {
                if at <= repeated {
                    continue;
                }
                let mut names = keys.clone();
                names.insert(at, keys[repeated].clone());
                let fields: Vec<String> = names.iter().map(|k| format!("\"{k}\": 1")).collect();
                let text = format!("[{{{}}}]", fields.join(", "));
                let error = streamed(&text, None).unwrap_err();
                assert!(
                    error.contains(&format!("the key `{}` appears twice", keys[repeated])),
                    "{repeated} again at {at}: {error}"
                );
                assert_eq!(built(&text, None).unwrap_err(), error);
            }
        }
        let distinct: Vec<String> = keys.iter().map(|k| format!("\"{k}\": 1")).collect();
        assert!(streamed(&format!("[{{{}}}]", distinct.join(", ")), None).is_ok());
    }

    /// Each record is read into the buffer the record before left: texts, lists and lists in
    /// lists of other lengths and types, keys in another order or missing, leave nothing of it.
    #[test]
    fn a_record_read_over_the_one_before_keeps_nothing_of_it() {
        let text = r#"[{"id": "a longer first text", "name": [1, "two", [3, "x"]], "a.b": {"c": 1}},
            {"id": "b", "name": [4], "a.b": "t"},
            {"name": "n", "id": ["x", "y", "z"]},
            {"id": null, "other": "skipped"},
            {"Name": "x\u0041", "id": 5.5, "name": [[]]},
            {"id": ["q"]},
            {}]"#;
        let records = streamed(text, None).unwrap();
        assert_eq!(Ok(records.clone()), built(text, None));
        let texts: Vec<String> = records
            .iter()
            .map(|(_, object)| Value::Object(object.clone()).to_string())
            .collect();
        assert_eq!(
            texts,
            [
                r#"{"a.b":{"c":1},"id":"a longer first text","name":[1,"two",[3,"x"]]}"#,
                r#"{"a.b":"t","id":"b","name":[4]}"#,
                r#"{"id":["x","y","z"],"name":"n"}"#,
                r#"{"id":null}"#,
                r#"{"Name":"xA","id":5.5,"name":[[]]}"#,
                r#"{"id":["q"]}"#,
                "{}",
            ]
        );
    }

    /// A record's keys are compared with the record before's, in order, while they are the
    /// same: a repeat is still found after the records' keys part (a key left out, another
    /// order, one more), and wherever the repeat sits.
    #[test]
    fn a_duplicate_is_found_in_a_record_with_the_keys_of_the_one_before() {
        let record = |keys: &[&str]| {
            let fields: Vec<String> = keys.iter().map(|k| format!("\"{k}\": 1")).collect();
            format!("{{{}}}", fields.join(", "))
        };
        let first = record(&["id", "name", "a", "b"]);
        for second in [
            &["id", "name", "a", "b", "id"][..],
            &["id", "name", "id"],
            &["id", "id"],
            &["name", "id", "name"],
            &["id", "b", "a", "b"],
            &["id", "name", "a", "b", "c", "a"],
            &["x", "id", "name", "a", "x"],
        ] {
            let repeated = second.last().unwrap();
            for text in [
                format!("[{first}, {}]", record(second)),
                format!("[{first}, {first}, {}, {first}]", record(second)),
            ] {
                let error = streamed(&text, None).unwrap_err();
                assert!(
                    error.contains(&format!("the key `{repeated}` appears twice")),
                    "{text}: {error}"
                );
                assert_eq!(built(&text, None).unwrap_err(), error);
            }
        }
        // The same keys in another order, fewer or more of them, are no repeat; what is kept
        // of each record is its own keys'.
        let text = format!(
            "[{first}, {}, {}, {}, {first}]",
            record(&["name", "id", "b", "a"]),
            record(&["id", "name"]),
            record(&["id", "name", "a", "b", "Name"]),
        );
        assert_eq!(streamed(&text, None), built(&text, None));
        assert_eq!(streamed(&text, None).unwrap()[3].1.len(), 3);
    }

    #[test]
    fn streaming_the_records_reads_what_building_the_document_read() {
        let paths: Vec<Option<FieldPath>> = vec![
            None,
            Some("value".parse().unwrap()),
            Some("results".parse().unwrap()),
            Some("a.b".parse().unwrap()),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut read, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::new();
            value(&mut rng, 0, &mut text);
            // Now and then broken: cut short, or trailing content.
            match rng.below(10) {
                0 => {
                    let cut = rng.below(text.len() + 1);
                    text.truncate(text.floor_char_boundary(cut));
                }
                1 => text.push_str(" x"),
                _ => {}
            }
            for path in &paths {
                let expected = built(&text, path.as_ref());
                assert_eq!(
                    streamed(&text, path.as_ref()),
                    expected,
                    "`{text}` at {path:?}"
                );
                match expected {
                    Ok(records) if !records.is_empty() => read += 1,
                    Ok(_) => {}
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(
            read > 2_000 && refused > 2_000,
            "{read} read, {refused} refused"
        );
    }

    #[test]
    fn cursor_count_against_the_results() {
        let path: FieldPath = "results".parse().unwrap();
        // One object where the list is: one record, which the count rule reads as none.
        let one = r#"{"cursor": {"name": "c", "offset": 0, "count": 1}, "results": {"id": 1}}"#;
        assert_eq!(
            streamed(one, Some(&path)).map(|r| r.len()),
            Ok(1),
            "one object"
        );
    }
}
