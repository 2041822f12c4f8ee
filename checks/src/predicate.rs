//! A small, total predicate language over typed evidence records.
//!
//! Duties say which records count with expressions such as
//! `state == 'enabled' and grant_controls contains 'mfa'` or
//! `signed_off_at <= now and decision in ['keep', 'modify', 'revoke']`.
//!
//! An expression is bound to the evidence kind it reads
//! ([`Predicate::check_against`]): a field the kind does not have is a
//! config error with a did-you-mean, and so is a comparison the field's
//! type cannot make (`mfa_registered == 'x'`, an enum word the kind does
//! not know). Text compares ignoring ASCII case; a time literal (`now`,
//! `now-14d`, `'2026-01-01T00:00:00Z'`) compares with a timestamp or date
//! field, a date meaning the start of its local day.
//!
//! Evaluation is three-valued ([`Truth`]): a comparison on an absent
//! optional field is `Unknown`, never quietly false, so `not`, `!=` and
//! `expect = "none"` cannot turn a missing value into a pass. Only
//! `field == null` and `field != null` ask about absence itself, and they
//! are decidable.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::horizon::Horizon;
use crate::kind::{EvidenceKind, FieldType};
use crate::period::Period;
use crate::record::{FieldValue, Record};
use crate::time::When;

/// A parsed expression, ready to test records.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate {
    source: String,
    expr: Expr,
}

/// A dotted path into a JSON document: `grantControls.builtInControls`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<String>);

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        field: FieldPath,
        op: Op,
        value: Literal,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    In,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::In => "in",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    /// `now` plus a signed offset in seconds.
    Now(i64),
    List(Vec<Literal>),
}

/// The outcome of testing one record: `Unknown` when the record lacks a
/// value the expression needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(value: bool) -> Truth {
        if value { Truth::True } else { Truth::False }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

/// What evaluation needs besides the record: the instant `now` stands
/// for, the zone a bare date's day starts in, and where a comparison with
/// the evaluation's own `now` notes when it may answer differently (`None`
/// when `now` is a snapshot's instant, which later evaluations read the same).
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub now: Timestamp,
    pub zone: &'a TimeZone,
    pub horizon: Option<&'a Horizon>,
}

/// Why an expression does not parse; `position` is a character offset.
/// Its message quotes only a short excerpt around `position` (see
/// [`excerpt`]), never a whole expression that may be kilobytes long.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("in `{}` at character {position}: {message}", excerpt(source_text, *position))]
pub struct ParsePredicateError {
    source_text: String,
    position: usize,
    message: String,
}

/// How many characters of the input an error message quotes on each side
/// of the position it points at.
const EXCERPT_RADIUS: usize = 20;

/// The part of `source` an error message quotes: all of it when short,
/// else [`EXCERPT_RADIUS`] characters either side of `position`, with `…`
/// marking each cut.
fn excerpt(source: &str, position: usize) -> String {
    let count = source.chars().count();
    if count <= 2 * EXCERPT_RADIUS {
        return source.to_owned();
    }
    let start = position.saturating_sub(EXCERPT_RADIUS).min(count);
    let end = (position + EXCERPT_RADIUS).min(count);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(source.chars().skip(start).take(end - start));
    if end < count {
        out.push('…');
    }
    out
}

impl Predicate {
    /// Tests `record`.
    pub fn eval(&self, record: &Record, context: Context<'_>) -> Truth {
        self.expr.eval(record, context)
    }

    /// The expression as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The fields the expression reads, in order of appearance.
    pub fn fields(&self) -> Vec<&FieldPath> {
        let mut out = Vec::new();
        self.expr.fields(&mut out);
        out
    }

    /// Checks the expression against the kind it will read: every field
    /// exists (else a did-you-mean) and every comparison suits its field's
    /// type. Refusing here is what keeps a typo from reading `met`.
    pub fn check_against(&self, kind: &EvidenceKind) -> Result<(), String> {
        self.expr.check(kind)
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Predicate {
    type Err = ParsePredicateError;

    fn from_str(source: &str) -> Result<Predicate, ParsePredicateError> {
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            source,
            tokens,
            next: 0,
            depth: 0,
        };
        let expr = parser.or()?;
        if let Some(token) = parser.peek() {
            return Err(parser.error_at(token.position, "expected `and`, `or` or the end"));
        }
        Ok(Predicate {
            source: source.trim().to_owned(),
            expr,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Predicate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Predicate, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Predicate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl FieldPath {
    /// A path of one key, taken as written (a CSV header may hold spaces).
    pub fn single(key: &str) -> FieldPath {
        FieldPath(vec![key.to_owned()])
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// The name when the path is one plain key, as kind fields are.
    pub fn as_name(&self) -> Option<&str> {
        match self.0.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Looks the path up in a JSON document; `None` when any step is
    /// missing or the value is null.
    pub fn lookup<'a>(&self, document: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.0
            .iter()
            .try_fold(document, |value, key| value.as_object()?.get(key))
            .filter(|value| !value.is_null())
    }
}

impl FromStr for FieldPath {
    type Err = ParsePredicateError;

    fn from_str(text: &str) -> Result<FieldPath, ParsePredicateError> {
        let text = text.trim();
        let error = |message: &str| ParsePredicateError {
            source_text: text.to_owned(),
            position: 0,
            message: message.to_owned(),
        };
        if text.is_empty() {
            return Err(error("a field name is empty"));
        }
        let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
        if parts
            .iter()
            .any(|part| !part.chars().all(is_field_char) || part.is_empty())
        {
            return Err(error(
                "a field name may hold letters, digits, `_`, `-`, `@` and `.` between parts",
            ));
        }
        Ok(FieldPath(parts))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl<'de> serde::Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FieldPath, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads a time literal of an expression: RFC 3339, or a date, which is
/// the start of its local day in `zone` (as a date field is), so that
/// `completed_on == '2026-11-02'` holds for that day west of UTC too.
fn literal_time(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let day = text.parse::<jiff::civil::Date>().ok()?;
    Some(When::Day(day).start(zone))
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@')
}

impl Expr {
    fn eval(&self, record: &Record, context: Context<'_>) -> Truth {
        match self {
            // Kleene logic: one decided `true` decides an `or`, one
            // decided `false` an `and`; otherwise an unknown part leaves
            // the whole unknown.
            Expr::Or(parts) => {
                let mut unknown = false;
                for part in parts {
                    match part.eval(record, context) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => unknown = true,
                        Truth::False => {}
                    }
                }
                if unknown {
                    Truth::Unknown
                } else {
                    Truth::False
                }
            }
            Expr::And(parts) => {
                let mut unknown = false;
                for part in parts {
                    match part.eval(record, context) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => unknown = true,
                        Truth::True => {}
                    }
                }
                if unknown { Truth::Unknown } else { Truth::True }
            }
            Expr::Not(inner) => inner.eval(record, context).not(),
            Expr::Compare { field, op, value } => {
                compare(record.get_path(field), *op, value, context)
            }
        }
    }

    fn fields<'a>(&'a self, out: &mut Vec<&'a FieldPath>) {
        match self {
            Expr::Or(parts) | Expr::And(parts) => parts.iter().for_each(|p| p.fields(out)),
            Expr::Not(inner) => inner.fields(out),
            Expr::Compare { field, .. } => out.push(field),
        }
    }

    fn check(&self, kind: &EvidenceKind) -> Result<(), String> {
        match self {
            Expr::Or(parts) | Expr::And(parts) => parts.iter().try_for_each(|p| p.check(kind)),
            Expr::Not(inner) => inner.check(kind),
            Expr::Compare { field, op, value } => {
                let name = field.to_string();
                // A joined duty checks against its combined kind, whose joined fields are
                // named `alias.field` (see `crate::join`).
                let Some(spec) = kind.field(&name) else {
                    return Err(format!(
                        "`{name}` is not a field of `{}` evidence; {}",
                        kind.name,
                        kind.unknown_field_hint(&name)
                    ));
                };
                check_comparison(&name, &spec.ty, *op, value)?;
                // An event time after now is not evidence (`kind::Field::event`): a condition
                // that needs one could never hold, and every subject would be unknown.
                let needs_future = matches!(op, Op::Gt | Op::Ge)
                    && matches!(value, Literal::Now(offset) if *offset >= 0);
                if spec.event && needs_future {
                    let fix = if crate::kind::is_builtin(&kind.name) {
                        "compare it with a time before now, such as `now-7d`".to_owned()
                    } else {
                        format!(
                            "if it is set ahead on purpose (an expiry, a due date), add `ahead = true` to its `[[kind.field]]` in kind `{}`",
                            kind.name
                        )
                    };
                    return Err(format!(
                        "`{name}` is when something happened, and a record dated after its evidence is not judged, so `{name} {} now…` could never hold; {fix}",
                        op.as_str()
                    ));
                }
                Ok(())
            }
        }
    }
}

fn check_comparison(name: &str, ty: &FieldType, op: Op, literal: &Literal) -> Result<(), String> {
    let op_text = op.as_str();
    let refuse = |what: &str| Err(format!("`{name}` is a {} field: {what}", ty.name()));
    if matches!(literal, Literal::Null) {
        return match op {
            Op::Eq | Op::Ne => Ok(()),
            _ => refuse("compare it with null using == or != only"),
        };
    }
    let items: Vec<&Literal> = match literal {
        Literal::List(items) => items.iter().collect(),
        other => vec![other],
    };
    match ty {
        FieldType::Text | FieldType::Enum(_) => {
            if op.is_ordering() && matches!(ty, FieldType::Enum(_)) {
                return refuse("its words have no order; use == or in");
            }
            for item in &items {
                let Literal::Text(text) = item else {
                    return refuse("compare it with quoted text, e.g. 'enabled'");
                };
                if let FieldType::Enum(values) = ty
                    && !values.iter().any(|v| v.eq_ignore_ascii_case(text))
                {
                    return refuse(&format!(
                        "`{text}` is not one of its words ({})",
                        values.join(", ")
                    ));
                }
            }
            Ok(())
        }
        FieldType::Bool => match (op, literal) {
            (Op::Eq | Op::Ne, Literal::Bool(_)) => Ok(()),
            _ => refuse("compare it with == true or == false"),
        },
        FieldType::Integer | FieldType::Number => {
            if op == Op::Contains {
                return refuse("`contains` is for text and lists");
            }
            if items.iter().all(|item| matches!(item, Literal::Number(_))) {
                Ok(())
            } else {
                refuse("compare it with a number, e.g. >= 365")
            }
        }
        FieldType::Timestamp | FieldType::Date => {
            if matches!(op, Op::Contains | Op::In) {
                return refuse(&format!(
                    "`{op_text}` does not apply to times; use <, <=, > or >="
                ));
            }
            match literal {
                Literal::Now(_) => Ok(()),
                Literal::Text(text) if literal_time(text, &TimeZone::UTC).is_some() => Ok(()),
                _ => refuse("compare it with now, now-14d or a quoted time such as '2026-01-01'"),
            }
        }
        FieldType::Duration => match literal {
            Literal::Text(text) if text.parse::<Period>().is_ok() && op != Op::Contains => Ok(()),
            _ => refuse("compare it with a quoted length of time such as '30d'"),
        },
        FieldType::List => match (op, literal) {
            (Op::Contains, Literal::Text(_)) => Ok(()),
            _ => refuse("ask `contains 'x'`, or == null for an absent list"),
        },
    }
}

fn compare(actual: Option<&FieldValue>, op: Op, literal: &Literal, context: Context<'_>) -> Truth {
    if matches!(literal, Literal::Null) {
        let absent = actual.is_none();
        return Truth::from_bool(if op == Op::Eq { absent } else { !absent });
    }
    let Some(value) = actual else {
        return Truth::Unknown;
    };
    match op {
        Op::Eq => equals(value, literal, context),
        Op::Ne => equals(value, literal, context).not(),
        Op::In => match literal {
            Literal::List(items) => {
                let mut truth = Truth::False;
                for item in items {
                    match equals(value, item, context) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => truth = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                truth
            }
            other => equals(value, other, context),
        },
        Op::Contains => match (value, literal) {
            (FieldValue::List(items), Literal::Text(needle)) => {
                Truth::from_bool(items.iter().any(|item| item.eq_ignore_ascii_case(needle)))
            }
            (FieldValue::Text(text), Literal::Text(needle)) => Truth::from_bool(
                text.to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase()),
            ),
            _ => Truth::Unknown,
        },
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let Some(ordering) = order(value, literal, context) else {
                return Truth::Unknown;
            };
            Truth::from_bool(match op {
                Op::Lt => ordering.is_lt(),
                Op::Le => ordering.is_le(),
                Op::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
    }
}

/// Equality of a present value with a literal; `Unknown` where the two
/// cannot be compared (binding refuses those, so only a kind changed under
/// a stored record gets here).
fn equals(value: &FieldValue, literal: &Literal, context: Context<'_>) -> Truth {
    match (value, literal) {
        (FieldValue::Text(text), Literal::Text(expected)) => {
            Truth::from_bool(text.eq_ignore_ascii_case(expected))
        }
        (FieldValue::Bool(flag), Literal::Bool(expected)) => Truth::from_bool(flag == expected),
        (FieldValue::Integer(_) | FieldValue::Number(_), Literal::Number(_))
        | (FieldValue::Time(_) | FieldValue::Duration(_), _) => order(value, literal, context)
            .map_or(Truth::Unknown, |ordering| {
                Truth::from_bool(ordering.is_eq())
            }),
        _ => Truth::Unknown,
    }
}

fn order(
    value: &FieldValue,
    literal: &Literal,
    context: Context<'_>,
) -> Option<std::cmp::Ordering> {
    match (value, literal) {
        (FieldValue::Integer(n), Literal::Number(expected)) => (*n as f64).partial_cmp(expected),
        (FieldValue::Number(n), Literal::Number(expected)) => n.partial_cmp(expected),
        // Like equality, ordering ignores ASCII case.
        (FieldValue::Text(text), Literal::Text(expected)) => Some(
            text.to_ascii_lowercase()
                .cmp(&expected.to_ascii_lowercase()),
        ),
        (FieldValue::Time(when), Literal::Now(offset)) => {
            let offset = jiff::SignedDuration::from_secs(*offset);
            let instant = context.now.checked_add(offset).ok()?;
            let at = instant_of(*when, context);
            // `at` against `now + offset` answers differently once `now` passes `at - offset`.
            if let (Some(horizon), Ok(flip)) = (context.horizon, at.checked_sub(offset)) {
                horizon.flips_at(flip);
            }
            Some(at.cmp(&instant))
        }
        (FieldValue::Time(when), Literal::Text(text)) => {
            Some(instant_of(*when, context).cmp(&literal_time(text, context.zone)?))
        }
        (FieldValue::Duration(period), Literal::Text(text)) => {
            Some(period.cmp(&text.parse::<Period>().ok()?))
        }
        _ => None,
    }
}

/// A date compares as the start of its local day.
fn instant_of(when: When, context: Context<'_>) -> Timestamp {
    when.start(context.zone)
}

// ---- parsing -------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    Word(String),
    Text(String),
    Number(f64),
    Op(Op),
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    Comma,
    /// `now+3d` / `now-14d`, already resolved to seconds.
    Now(i64),
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    position: usize,
}

fn tokenize(source: &str) -> Result<Vec<Token>, ParsePredicateError> {
    let error = |position: usize, message: &str| ParsePredicateError {
        source_text: source.trim().to_owned(),
        position,
        message: message.to_owned(),
    };
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => TokenKind::OpenParen,
            ')' => TokenKind::CloseParen,
            '[' => TokenKind::OpenBracket,
            ']' => TokenKind::CloseBracket,
            ',' => TokenKind::Comma,
            '\'' | '"' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(error(start, "this quoted text is not closed")),
                        Some(&ch) if ch == quote => break,
                        Some('\\') if chars.get(i + 1) == Some(&quote) => {
                            text.push(quote);
                            i += 1;
                        }
                        Some(&ch) => text.push(ch),
                    }
                    i += 1;
                }
                TokenKind::Text(text)
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', _) => (Op::Gt, 1),
                    _ => return Err(error(start, "use `==` or `!=` to compare")),
                };
                i += width;
                tokens.push(Token {
                    kind: TokenKind::Op(op),
                    position: start,
                });
                continue;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut end = i + 1;
                while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
                    end += 1;
                }
                let text: String = chars[i..end].iter().collect();
                let number = text
                    .parse()
                    .map_err(|_| error(start, "this is not a number"))?;
                i = end;
                tokens.push(Token {
                    kind: TokenKind::Number(number),
                    position: start,
                });
                continue;
            }
            c if is_field_char(c) => {
                let mut end = i;
                while end < chars.len() && (is_field_char(chars[end]) || chars[end] == '.') {
                    end += 1;
                }
                let mut word: String = chars[i..end].iter().collect();
                if word.starts_with("now-") {
                    // `-` is also a field character, so `now-14d` arrives
                    // as one word: give the offset back to the `now` path.
                    end = i + 3;
                    word.truncate(3);
                }
                i = end;
                if word == "now" {
                    // `now`, optionally followed by `+3d` / `- 14d`.
                    let mut j = i;
                    while j < chars.len() && chars[j] == ' ' {
                        j += 1;
                    }
                    let sign = match chars.get(j) {
                        Some('+') => 1,
                        Some('-') => -1,
                        _ => 0,
                    };
                    let mut offset = 0;
                    if sign != 0 {
                        let mut end = j + 1;
                        while end < chars.len() && chars[end] == ' ' {
                            end += 1;
                        }
                        let from = end;
                        while end < chars.len() && chars[end].is_ascii_alphanumeric() {
                            end += 1;
                        }
                        let text: String = chars[from..end].iter().collect();
                        let period: Period = text.parse().map_err(|_| {
                            error(from, "after `now+` / `now-` write a duration such as `14d`")
                        })?;
                        offset = sign * period.as_secs();
                        i = end;
                    }
                    tokens.push(Token {
                        kind: TokenKind::Now(offset),
                        position: start,
                    });
                    continue;
                }
                let kind = match word.as_str() {
                    "contains" => TokenKind::Op(Op::Contains),
                    "in" => TokenKind::Op(Op::In),
                    _ => TokenKind::Word(word),
                };
                tokens.push(Token {
                    kind,
                    position: start,
                });
                continue;
            }
            _ => return Err(error(start, &format!("unexpected character `{c}`"))),
        };
        i += 1;
        tokens.push(Token {
            kind,
            position: start,
        });
    }
    Ok(tokens)
}

/// How deeply `(` and `not` may nest. Parsing, matching and dropping an
/// expression all recurse once per level, so an unbounded depth would let
/// one config line overflow the stack; real conditions nest two or three
/// levels. The only other nesting form, a `[` list, is one level by
/// grammar: a `[` inside a list is refused before anything recurses, so
/// this one limit bounds every recursion of the parser.
const MAX_NESTING: usize = 32;

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    next: usize,
    /// `(` and `not` levels open at the current token.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn error_at(&self, position: usize, message: &str) -> ParsePredicateError {
        ParsePredicateError {
            source_text: self.source.trim().to_owned(),
            position,
            message: message.to_owned(),
        }
    }

    fn end_position(&self) -> usize {
        self.source.chars().count()
    }

    fn take_keyword(&mut self, keyword: &str) -> bool {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Word(word),
                ..
            }) if word.eq_ignore_ascii_case(keyword) => {
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    fn or(&mut self) -> Result<Expr, ParsePredicateError> {
        let mut parts = vec![self.and()?];
        while self.take_keyword("or") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, ParsePredicateError> {
        let mut parts = vec![self.unary()?];
        while self.take_keyword("and") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, ParsePredicateError> {
        let position = self.peek().map(|token| token.position);
        if self.take_keyword("not") {
            let inner = self.nested(position, Parser::unary)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::OpenParen)) {
            self.next += 1;
            let inner = self.nested(position, Parser::or)?;
            return match self.peek() {
                Some(Token {
                    kind: TokenKind::CloseParen,
                    ..
                }) => {
                    self.next += 1;
                    Ok(inner)
                }
                Some(token) => Err(self.error_at(token.position, "expected `)`")),
                None => Err(self.error_at(self.end_position(), "a `(` is not closed")),
            };
        }
        self.comparison()
    }

    /// Parses one more level of `(` or `not`, refusing past [`MAX_NESTING`].
    fn nested(
        &mut self,
        position: Option<usize>,
        parse: fn(&mut Self) -> Result<Expr, ParsePredicateError>,
    ) -> Result<Expr, ParsePredicateError> {
        if self.depth == MAX_NESTING {
            return Err(self.error_at(
                position.unwrap_or(0),
                &format!("`(` and `not` nest more than {MAX_NESTING} levels deep here; simplify the expression"),
            ));
        }
        self.depth += 1;
        let inner = parse(self);
        self.depth -= 1;
        inner
    }

    fn comparison(&mut self) -> Result<Expr, ParsePredicateError> {
        let field = match self.peek().cloned() {
            Some(Token {
                kind: TokenKind::Word(word),
                position,
            }) => {
                self.next += 1;
                word.parse::<FieldPath>()
                    .map_err(|_| self.error_at(position, "this is not a field name"))?
            }
            Some(token) => {
                return Err(self.error_at(token.position, "expected a field name"));
            }
            None => return Err(self.error_at(self.end_position(), "expected a comparison")),
        };
        let op = match self.peek().cloned() {
            Some(Token {
                kind: TokenKind::Op(op),
                ..
            }) => {
                self.next += 1;
                op
            }
            Some(token) => {
                return Err(self.error_at(
                    token.position,
                    "expected one of ==, !=, <, <=, >, >=, contains, in",
                ));
            }
            None => {
                return Err(self.error_at(
                    self.end_position(),
                    &format!(
                        "`{field}` must be compared with ==, !=, <, <=, >, >=, contains or in"
                    ),
                ));
            }
        };
        let value = self.literal()?;
        if op == Op::In && !matches!(value, Literal::List(_)) {
            return Err(self.error_at(self.end_position(), "`in` takes a list such as ['a', 'b']"));
        }
        Ok(Expr::Compare { field, op, value })
    }

    fn literal(&mut self) -> Result<Literal, ParsePredicateError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.error_at(self.end_position(), "expected a value"));
        };
        self.next += 1;
        Ok(match token.kind {
            TokenKind::Text(text) => Literal::Text(text),
            TokenKind::Number(number) => Literal::Number(number),
            TokenKind::Now(offset) => Literal::Now(offset),
            TokenKind::Word(word) => match word.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                _ => {
                    return Err(self.error_at(
                        token.position,
                        &format!("`{word}` is not a value: quote text as '{word}'"),
                    ));
                }
            },
            TokenKind::OpenBracket => {
                let mut items = Vec::new();
                loop {
                    if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::CloseBracket)) {
                        self.next += 1;
                        break;
                    }
                    // Refused before recursing: `literal` never goes more
                    // than one list deep, however many `[` follow.
                    if let Some(inner) = self
                        .peek()
                        .filter(|t| matches!(t.kind, TokenKind::OpenBracket))
                    {
                        return Err(self.error_at(inner.position, "lists cannot be nested"));
                    }
                    let item = self.literal()?;
                    items.push(item);
                    match self.peek().map(|t| t.kind.clone()) {
                        Some(TokenKind::Comma) => self.next += 1,
                        Some(TokenKind::CloseBracket) => {}
                        _ => {
                            return Err(
                                self.error_at(token.position, "a list is not closed with `]`")
                            );
                        }
                    }
                }
                Literal::List(items)
            }
            _ => return Err(self.error_at(token.position, "expected a value")),
        })
    }
}

#[cfg(test)]
mod tests;
