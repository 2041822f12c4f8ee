//! The one place evidence bytes become text, and text becomes JSON values.
//!
//! Evidence arrives as files exported by other tools (Microsoft Graph,
//! NinjaOne, Azure, spreadsheets). They disagree on encodings: Windows
//! PowerShell 5.1's `Out-File` and `>` write UTF-16 LE with a BOM, Excel
//! writes UTF-8 with a BOM, most everything else plain UTF-8. [`text`] reads
//! all of these the same way for CSV and JSON alike, and refuses, with the
//! line and byte of the problem, anything it cannot read unambiguously.
//!
//! [`json`] is stricter than `serde_json::from_str` in one way: an object
//! that names the same key twice is refused. serde_json keeps the last value,
//! so `"isMfaRegistered": false, "isMfaRegistered": true` would silently turn
//! a failing user into a passing one; an export like that is ambiguous and
//! no verdict should rest on it.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

mod records;

pub use records::{Fields, RecordsError, json_fields, json_records};

/// Which encoding the bytes were in, for the record (an assessor may ask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 without a byte order mark.
    Utf8,
    /// UTF-8 behind an `EF BB BF` byte order mark (Excel's "CSV UTF-8").
    Utf8Bom,
    /// UTF-16 little-endian, behind an `FF FE` mark or recognised without one.
    Utf16Le,
    /// UTF-16 big-endian, behind an `FE FF` mark or recognised without one.
    Utf16Be,
}

/// Why bytes are not text dutywatch can read.
///
/// The position points at the first bad sequence so that whoever produced
/// the export can find it: `line` is 1-based and counts line feeds decoded
/// before it; `byte_offset` is 0-based from the very start of the file, BOM
/// included, as a hex editor shows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line} (byte {byte_offset}): {message}")]
pub struct DecodeError {
    pub line: u64,
    pub byte_offset: usize,
    message: &'static str,
}

impl DecodeError {
    /// What is wrong and what to do about it, without the position.
    pub fn message(&self) -> &str {
        self.message
    }
}

const NOT_UTF8: &str = "not valid UTF-8; save the file as UTF-8 or UTF-16 with a BOM";
const LONE_SURROGATE: &str =
    "not valid UTF-16 (a lone surrogate); save the file as UTF-8 or UTF-16 with a BOM";
const ODD_LENGTH: &str = "UTF-16 text with an odd number of bytes, so the file is cut short";
const NUL: &str = "a NUL character, so this is a binary file or UTF-32, not a text export; \
     save it as UTF-8";

/// Bytes → text.
///
/// Accepted, in this order of detection:
/// - `EF BB BF`: UTF-8 with a BOM, which is stripped;
/// - `FF FE` / `FE FF`: UTF-16 LE / BE with a BOM, which is stripped;
/// - UTF-16 without a BOM, when the first four bytes are two ASCII text
///   characters (printable, tab, CR or LF) each paired with a `00` byte:
///   `a 00 b 00` is LE, `00 a 00 b` is BE, and the length must then be
///   even. Read as UTF-8 those bytes hold a NUL, which is refused anyway,
///   so this guess can only rescue a file that would otherwise be refused,
///   never change how an accepted one reads. JSON and CSV exports start
///   that way (`{"`, `[{`, a header name); one that does not (`Jé…`) is
///   refused for its NUL rather than misread.
/// - anything else as UTF-8.
///
/// Refused, naming the first bad position: invalid UTF-8, a lone UTF-16
/// surrogate, UTF-16 with an odd number of bytes, and a NUL character in
/// the decoded text (no export contains one: it means a binary file, or
/// UTF-32, whose BOM `FF FE 00 00` decodes to a NUL here). Lines are counted
/// by line feeds, so CRLF files count as expected.
///
/// Plain UTF-8, with or without BOM, is borrowed, not copied.
pub fn text(bytes: &[u8]) -> Result<(Cow<'_, str>, Encoding), DecodeError> {
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            utf8(rest, 3).map(|text| (Cow::Borrowed(text), Encoding::Utf8Bom))
        }
        [0xFF, 0xFE, rest @ ..] => {
            utf16(rest, 2, u16::from_le_bytes).map(|text| (Cow::Owned(text), Encoding::Utf16Le))
        }
        [0xFE, 0xFF, rest @ ..] => {
            utf16(rest, 2, u16::from_be_bytes).map(|text| (Cow::Owned(text), Encoding::Utf16Be))
        }
        [a, 0, b, 0, ..] if is_text_ascii(*a) && is_text_ascii(*b) => {
            utf16(bytes, 0, u16::from_le_bytes).map(|text| (Cow::Owned(text), Encoding::Utf16Le))
        }
        [0, a, 0, b, ..] if is_text_ascii(*a) && is_text_ascii(*b) => {
            utf16(bytes, 0, u16::from_be_bytes).map(|text| (Cow::Owned(text), Encoding::Utf16Be))
        }
        _ => utf8(bytes, 0).map(|text| (Cow::Borrowed(text), Encoding::Utf8)),
    }
}

/// Whether `bytes` are text with nothing but blanks in it: empty, only a byte-order mark (what
/// Notepad saves for an empty file), or whitespace in any encoding [`text`] reads. Bytes that
/// are not text (a PDF) are not blank.
pub fn is_blank(bytes: &[u8]) -> bool {
    text(bytes).is_ok_and(|(text, _)| text.trim().is_empty())
}

fn is_text_ascii(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | b'\r' | 0x20..=0x7E)
}

fn lines_in(bytes: &[u8]) -> u64 {
    1 + bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// `body` starts `base` bytes into the file.
fn utf8(body: &[u8], base: usize) -> Result<&str, DecodeError> {
    let (valid_up_to, text) = match std::str::from_utf8(body) {
        Ok(text) => (body.len(), Some(text)),
        Err(err) => (err.valid_up_to(), None),
    };
    let valid = body.get(..valid_up_to).unwrap_or_default();
    // A NUL before the first invalid byte is the more telling complaint. Exports have none,
    // so the fast `contains` (a word at a time) answers, and only a file with one is
    // searched again for where.
    let nul = if valid.contains(&0) {
        valid.iter().position(|&b| b == 0)
    } else {
        None
    };
    let (at, message) = match (nul, text) {
        (Some(at), _) => (at, NUL),
        (None, Some(text)) => return Ok(text),
        (None, None) => (valid_up_to, NOT_UTF8),
    };
    Err(DecodeError {
        line: lines_in(body.get(..at).unwrap_or_default()),
        byte_offset: base + at,
        message,
    })
}

/// `body` starts `base` bytes into the file; `unit` reads one code unit.
fn utf16(body: &[u8], base: usize, unit: fn([u8; 2]) -> u16) -> Result<String, DecodeError> {
    let (pairs, rest) = body.as_chunks::<2>();
    let mut out = String::with_capacity(pairs.len());
    let mut line = 1;
    let mut at = base;
    for decoded in char::decode_utf16(pairs.iter().map(|&pair| unit(pair))) {
        let message = match decoded {
            Ok('\0') => NUL,
            Ok(c) => {
                if c == '\n' {
                    line += 1;
                }
                out.push(c);
                at += 2 * c.len_utf16();
                continue;
            }
            Err(_) => LONE_SURROGATE,
        };
        return Err(DecodeError {
            line,
            byte_offset: at,
            message,
        });
    }
    if rest.is_empty() {
        Ok(out)
    } else {
        Err(DecodeError {
            line,
            byte_offset: at,
            message: ODD_LENGTH,
        })
    }
}

/// Why text is not a JSON document dutywatch will use.
///
/// `line` and `column` are 1-based, as serde_json counts them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    message: String,
}

impl JsonError {
    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn from_serde(err: &serde_json::Error) -> JsonError {
        let (line, column) = (err.line(), err.column());
        let full = err.to_string();
        let bare = full
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&full);
        let message = if err.is_data() {
            // Only our own duplicate-key complaint is a data error here.
            bare.to_owned()
        } else if bare == "recursion limit exceeded" {
            "nested more than 128 levels deep; no real export is, so it is not read".to_owned()
        } else {
            format!("not valid JSON: {bare}")
        };
        JsonError {
            line,
            column,
            message,
        }
    }
}

/// Text → JSON value, refusing duplicate object keys at any depth.
///
/// Everything else is exactly `serde_json::from_str::<Value>`: the same
/// numbers (u64, i64 or f64), the same 128-level nesting limit (so hostile
/// input cannot overflow the stack), and trailing content after the value
/// is an error. Keys are compared after unescaping, so `"a"` and `"\u0061"`
/// are the same key, as they are to every JSON reader.
///
/// A duplicate is reported at the repeated key, with the path of the object
/// holding it (`value[2]`), because an export that says two things about one
/// field is ambiguous and none of it should count as evidence.
pub fn json(text: &str) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = ValueSeed(&Path::Root)
        .deserialize(&mut de)
        .map_err(|err| JsonError::from_serde(&err))?;
    de.end().map_err(|err| JsonError::from_serde(&err))?;
    Ok(value)
}

/// Where in the document a value sits, as a list running back to the root.
/// It lives on the parser's stack, so tracking it costs no allocation.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn write_to(&self, out: &mut String) {
        match *self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write_to(out);
                let simple = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if simple {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                } else {
                    let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"));
                    let _ = write!(out, "[{quoted}]");
                }
            }
            Path::Index(parent, index) => {
                parent.write_to(out);
                let _ = write!(out, "[{index}]");
            }
        }
    }
}

/// At most this many characters of the input appear in a message.
const QUOTE_LIMIT: usize = 60;

fn clip(text: &str) -> Cow<'_, str> {
    if text.chars().count() <= QUOTE_LIMIT {
        Cow::Borrowed(text)
    } else {
        let mut cut: String = text.chars().take(QUOTE_LIMIT - 1).collect();
        cut.push('…');
        Cow::Owned(cut)
    }
}

fn duplicate_key(key: &str, object: &Path<'_>) -> String {
    let key = if key.chars().any(char::is_control) {
        Cow::Owned(key.escape_debug().to_string())
    } else {
        Cow::Borrowed(key)
    };
    let mut path = String::new();
    object.write_to(&mut path);
    let place = if path.is_empty() {
        "the top-level object".to_owned()
    } else {
        format!("`{}`", clip(&path))
    };
    format!(
        "the key `{}` appears twice in {place}; the export is ambiguous, so none of it is used",
        clip(&key)
    )
}

/// Builds a `Value` as serde_json's own visitor does, but knows its path
/// and refuses a key its object already has.
struct ValueSeed<'a>(&'a Path<'a>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let here = Path::Index(self.0, items.len());
            match seq.next_element_seed(ValueSeed(&here))? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(duplicate_key(&key, self.0)));
            }
            let here = Path::Key(self.0, &key);
            let value = map.next_value_seed(ValueSeed(&here))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    fn utf16be(text: &str, bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFE, 0xFF] } else { Vec::new() };
        bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        bytes
    }

    fn decode_err(bytes: &[u8]) -> DecodeError {
        text(bytes).unwrap_err()
    }

    fn json_err(input: &str) -> JsonError {
        json(input).unwrap_err()
    }

    const GRAPH: &str = "{\r\n  \"value\": [\r\n    {\"displayName\": \"José Núñez\", \"isMfaRegistered\": true}\r\n  ]\r\n}\r\n";

    #[test]
    fn plain_utf8_is_borrowed() {
        let bytes = "id,name\n1,José\n".as_bytes();
        let (decoded, encoding) = text(bytes).unwrap();
        assert_eq!(encoding, Encoding::Utf8);
        assert!(matches!(decoded, Cow::Borrowed(s) if s == "id,name\n1,José\n"));
        assert!(matches!(
            text(b"").unwrap(),
            (Cow::Borrowed(""), Encoding::Utf8)
        ));
    }

    #[test]
    fn utf8_bom_is_stripped_and_still_borrowed() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(GRAPH.as_bytes());
        let (decoded, encoding) = text(&bytes).unwrap();
        assert_eq!(encoding, Encoding::Utf8Bom);
        assert!(matches!(decoded, Cow::Borrowed(s) if s == GRAPH));
        assert_eq!(json(&decoded).unwrap()["value"][0]["isMfaRegistered"], true);
    }

    #[test]
    fn utf16_le_with_bom_as_powershell_writes_it() {
        let bytes = utf16le(GRAPH, true);
        let (decoded, encoding) = text(&bytes).unwrap();
        assert_eq!(encoding, Encoding::Utf16Le);
        assert!(matches!(&decoded, Cow::Owned(s) if s == GRAPH));
        let value = json(&decoded).unwrap();
        assert_eq!(value["value"][0]["displayName"], "José Núñez");
        assert_eq!(value, serde_json::from_str::<Value>(GRAPH).unwrap());
    }

    #[test]
    fn utf16_be_with_bom() {
        let doc = "name\nJosé 😀\n";
        let bytes = utf16be(doc, true);
        let (decoded, encoding) = text(&bytes).unwrap();
        assert_eq!(encoding, Encoding::Utf16Be);
        assert_eq!(decoded, doc);
    }

    #[test]
    fn utf16_without_bom_is_recognised_from_its_first_two_units() {
        let doc = "[{\"user\": \"José\", \"ok\": false}]";
        let bytes = utf16le(doc, false);
        let (decoded, encoding) = text(&bytes).unwrap();
        assert_eq!(encoding, Encoding::Utf16Le);
        assert_eq!(json(&decoded).unwrap()[0]["user"], "José");

        let bytes = utf16be("id,name\r\n", false);
        let (decoded, encoding) = text(&bytes).unwrap();
        assert_eq!(
            (decoded.as_ref(), encoding),
            ("id,name\r\n", Encoding::Utf16Be)
        );

        // One unit is not enough to tell: read as UTF-8, which holds a NUL.
        let err = decode_err(&utf16le("{", false));
        assert_eq!((err.line, err.byte_offset, err.message()), (1, 1, NUL));
        // Nor is a first unit that is not ASCII text: `J\0é\0` stays UTF-8.
        assert_eq!(decode_err(b"\x01\x00a\x00").byte_offset, 1);
    }

    #[test]
    fn odd_length_utf16_is_an_error_on_its_last_line() {
        let mut bytes = utf16le("ab\r\ncd", true);
        bytes.push(b'e');
        let err = decode_err(&bytes);
        assert_eq!(
            (err.line, err.byte_offset, err.message()),
            (2, 14, ODD_LENGTH)
        );

        let mut bytes = utf16le("ab\ncd", false);
        bytes.push(0);
        assert_eq!(decode_err(&bytes).message(), ODD_LENGTH);
    }

    #[test]
    fn unpaired_surrogates_are_errors_with_their_position() {
        // A high surrogate followed by an ordinary unit, on line 3.
        let mut bytes = utf16le("x\ny\n", true);
        bytes.extend([0x00, 0xD8, b'z', 0x00]);
        let err = decode_err(&bytes);
        assert_eq!(
            (err.line, err.byte_offset, err.message()),
            (3, 10, LONE_SURROGATE)
        );
        assert_eq!(
            err.to_string(),
            "line 3 (byte 10): not valid UTF-16 (a lone surrogate); save the file as UTF-8 or UTF-16 with a BOM"
        );

        // A low surrogate on its own, big-endian.
        let mut bytes = utf16be("ok", true);
        bytes.extend([0xDC, 0x00]);
        assert_eq!(decode_err(&bytes).byte_offset, 6);

        // A high surrogate as the very last unit.
        let mut bytes = utf16le("a😀", true);
        bytes.extend([0x3D, 0xD8]);
        let err = decode_err(&bytes);
        assert_eq!((err.line, err.byte_offset), (1, 8));
    }

    #[test]
    fn invalid_utf8_names_line_and_byte() {
        let err = decode_err(b"id,name\n1,Jos\xE9\n2,Ann\n");
        assert_eq!((err.line, err.byte_offset), (2, 13));
        assert_eq!(
            err.to_string(),
            "line 2 (byte 13): not valid UTF-8; save the file as UTF-8 or UTF-16 with a BOM"
        );
        // The BOM counts towards the offset; the line does not change.
        let err = decode_err(b"\xEF\xBB\xBFid\n\xFF");
        assert_eq!((err.line, err.byte_offset, err.message()), (2, 6, NOT_UTF8));
        // A truncated multi-byte sequence at the end.
        let err = decode_err("a\nb\nJos\u{e9}".as_bytes().split_last().unwrap().1);
        assert_eq!((err.line, err.byte_offset), (3, 7));
    }

    #[test]
    fn nul_is_an_error_in_any_encoding() {
        let err = decode_err(b"a,b\n1,\x002\n");
        assert_eq!((err.line, err.byte_offset, err.message()), (2, 6, NUL));
        // Reported before a later invalid byte.
        assert_eq!(decode_err(b"\x00\xFF").message(), NUL);

        let err = decode_err(&utf16le("a\nb\0", true));
        assert_eq!((err.line, err.byte_offset, err.message()), (2, 8, NUL));

        // UTF-32 LE with its BOM starts like UTF-16 LE, then decodes to NUL.
        let utf32: Vec<u8> = [0xFEFF_u32, u32::from('{'), u32::from('}')]
            .into_iter()
            .flat_map(u32::to_le_bytes)
            .collect();
        assert_eq!(decode_err(&utf32).message(), NUL);
        // UTF-32 BE with its BOM, and UTF-32 LE without, are read as UTF-8.
        assert_eq!(decode_err(b"\x00\x00\xFE\xFF\x00\x00\x00{").message(), NUL);
        assert_eq!(decode_err(b"{\x00\x00\x00}\x00\x00\x00").byte_offset, 1);
    }

    #[test]
    fn duplicate_top_level_key() {
        let err = json_err("{\"a\": 1,\n \"a\": 2}");
        assert_eq!(
            err.to_string(),
            "line 2, column 4: the key `a` appears twice in the top-level object; \
             the export is ambiguous, so none of it is used"
        );
    }

    #[test]
    fn duplicate_key_inside_value_2() {
        let doc = r#"{
  "value": [
    {"id": "1", "isMfaRegistered": false},
    {"id": "2", "isMfaRegistered": true},
    {"id": "3", "isMfaRegistered": false, "isMfaRegistered": true}
  ]
}"#;
        let err = json_err(doc);
        assert_eq!((err.line, err.column), (5, 59));
        assert_eq!(
            err.to_string(),
            "line 5, column 59: the key `isMfaRegistered` appears twice in `value[2]`; \
             the export is ambiguous, so none of it is used"
        );
        // serde_json alone would have taken the last value.
        let lax: Value = serde_json::from_str(doc).unwrap();
        assert_eq!(lax["value"][2]["isMfaRegistered"], true);
    }

    #[test]
    fn duplicate_key_nested_deeper() {
        let err = json_err(r#"{"a": {"b": [0, {"c": {"d": 1, "e": [], "d": 2}}]}}"#);
        assert!(
            err.message().contains("`d` appears twice in `a.b[1].c`"),
            "{err}"
        );

        let err = json_err(r#"[[], {"k": 1, "k": 1}]"#);
        assert!(
            err.message().contains("`k` appears twice in `[1]`"),
            "{err}"
        );

        let err = json_err(r#"{"@odata.context": {"x y": {"z": 1, "z": 1}}}"#);
        assert!(
            err.message().contains(r#"in `["@odata.context"]["x y"]`"#),
            "{err}"
        );

        // Escapes are undone before comparing: these are the same key.
        let err = json_err(r#"{"a": 1, "\u0061": 2}"#);
        assert!(err.message().contains("the key `a` appears twice"), "{err}");
    }

    #[test]
    fn quotes_are_clipped_to_60_characters() {
        let key = "k".repeat(200);
        let err = json_err(&format!(r#"{{"{key}": {{"{key}": 1, "{key}": 2}}}}"#));
        let shown = format!("{}…", "k".repeat(59));
        assert_eq!(
            err.message(),
            format!(
                "the key `{shown}` appears twice in `{shown}`; \
                 the export is ambiguous, so none of it is used"
            )
        );
        let err = json_err(r#"{"a\nb": 1, "a\u000ab": 2}"#);
        assert!(err.message().contains(r"the key `a\nb`"), "{err}");
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        let doc = r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#;
        assert_eq!(
            json(doc).unwrap(),
            serde_json::from_str::<Value>(doc).unwrap()
        );
    }

    #[test]
    fn empty_containers_and_scalars() {
        for doc in [
            "{}",
            "[]",
            " {\"a\": {}, \"b\": []} \n",
            "null",
            "\"x\"",
            "true",
        ] {
            assert_eq!(
                json(doc).unwrap(),
                serde_json::from_str::<Value>(doc).unwrap(),
                "{doc}"
            );
        }
    }

    #[test]
    fn numbers_are_stored_as_serde_json_stores_them() {
        let doc =
            "[0, -1, 18446744073709551615, -9223372036854775808, 1.5, 1e3, 0.1, -0.0, 1e-400]";
        let ours = json(doc).unwrap();
        assert_eq!(ours, serde_json::from_str::<Value>(doc).unwrap());
        assert!(ours[2].is_u64() && ours[3].is_i64() && ours[5].is_f64());
        assert_eq!(ours[3].as_i64(), Some(i64::MIN));
        assert!(
            json_err("[1e400]")
                .message()
                .starts_with("not valid JSON: number out of range")
        );
    }

    #[test]
    fn trailing_content_is_an_error() {
        let err = json_err("{\"a\": 1}\n x");
        assert_eq!(
            err.to_string(),
            "line 2, column 2: not valid JSON: trailing characters"
        );
        assert!(json("{} {}").is_err());
        assert!(json("[1],").is_err());
        assert!(json("").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let err = json_err(&"[".repeat(100_000));
        assert_eq!((err.line, err.column), (1, 128));
        assert!(
            err.message()
                .starts_with("nested more than 128 levels deep"),
            "{err}"
        );
        assert!(json(&"{\"a\":".repeat(100_000)).is_err());
        // The same limit as serde_json's, to the level.
        for depth in 120..135 {
            let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                json(&doc).is_ok(),
                serde_json::from_str::<Value>(&doc).is_ok(),
                "{depth}"
            );
        }
    }

    use crate::test_rng::Rng;

    #[test]
    fn mutated_documents_never_panic_and_agree_with_serde_json() {
        let seed =
            r#"{"value": [{"id": 1, "name": "José", "ok": true, "n": -2.5e3}, {"a": [null, {}]}]}"#;
        let bases = [
            seed.as_bytes().to_vec(),
            utf16le(seed, true),
            utf16le(seed, false),
            utf16be(seed, true),
        ];
        let specials = [
            0x00, 0xFF, 0xFE, 0xEF, 0xBB, 0xBF, 0xD8, 0xDC, b'"', b'{', b'[', b'\\', b'\n',
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut read, mut parsed) = (0, 0);
        for _ in 0..4_000 {
            let mut bytes = bases[rng.below(bases.len())].clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                let byte = if rng.below(2) == 0 {
                    specials[rng.below(specials.len())]
                } else {
                    rng.next() as u8
                };
                match rng.below(4) {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    2 => {
                        let end = (at + rng.below(12)).min(bytes.len());
                        let chunk = bytes[at..end].to_vec();
                        bytes.splice(at..at, chunk);
                    }
                    _ => bytes.insert(at, byte),
                }
            }
            let Ok((decoded, _)) = text(&bytes) else {
                continue;
            };
            read += 1;
            let ours = json(&decoded);
            let lax = serde_json::from_str::<Value>(&decoded);
            match (&ours, &lax) {
                (Ok(ours), Ok(lax)) => {
                    parsed += 1;
                    assert_eq!(ours, lax);
                }
                (Err(err), Ok(_)) => assert!(err.message().contains("appears twice"), "{err}"),
                (Err(err), Err(_)) => assert!(err.to_string().chars().count() < 250, "{err}"),
                (Ok(_), Err(err)) => panic!("accepted what serde_json refuses: {err}"),
            }
        }
        // The loop exercised both readers, not just the decoder's refusals.
        assert!(read > 1_000 && parsed > 100, "{read} read, {parsed} parsed");
    }
}
