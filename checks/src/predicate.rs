//! A small, total predicate language over evidence records.
//!
//! Duties say which records count with expressions such as
//! `state == 'enabled' and grantControls.builtInControls contains 'mfa'` or
//! `signed_off_at <= now and decision in ['keep', 'modify', 'revoke']`.
//!
//! Vendor exports are untidy, so comparisons are forgiving in the ways real
//! data needs and strict everywhere else:
//! - strings compare ignoring ASCII case (Graph mixes `truePositive` and
//!   `TruePositive` for one enum);
//! - a number literal matches a JSON number or a numeric string (Splunk
//!   sends numbers as strings; CSV cells are always strings);
//! - `true`/`false` match JSON booleans and the CSV spellings `true`,
//!   `yes`, `1`, `false`, `no`, `0`;
//! - a time literal (`now`, `now-14d`, `'2026-01-01T00:00:00Z'` compared
//!   with `<`…) reads the field as RFC 3339 or as Unix epoch seconds;
//! - a missing field equals only `null`; every ordering comparison against a
//!   missing or unreadable field is false.
//!
//! Evaluation never fails: a record that cannot be read as the comparison
//! wants simply does not match. What a duty does with "nothing matched" is
//! the rule's business (and never "met" by default).

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde_json::Value;

use crate::period::Period;

/// A parsed expression, ready to test records.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate {
    source: String,
    expr: Expr,
}

/// A dotted path into a JSON record: `grantControls.builtInControls`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

/// Why an expression does not parse; `position` is a character offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("in `{source_text}` at character {position}: {message}")]
pub struct ParsePredicateError {
    source_text: String,
    position: usize,
    message: String,
}

impl Predicate {
    /// True when `record` satisfies the expression as of `now`.
    pub fn matches(&self, record: &Value, now: Timestamp) -> bool {
        self.expr.matches(record, now)
    }

    /// The expression as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
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
    /// Looks the path up in `record`; `None` when any step is missing.
    pub fn lookup<'a>(&self, record: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(record, |value, key| value.as_object()?.get(key))
            .filter(|value| !value.is_null())
    }

    /// Reads the field as an instant: RFC 3339 text (a bare date counts as
    /// midnight UTC) or Unix epoch seconds, integer or float.
    pub fn timestamp(&self, record: &Value) -> Option<Timestamp> {
        value_as_timestamp(self.lookup(record)?)
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

/// Reads a JSON value as an instant, see [`FieldPath::timestamp`].
pub fn value_as_timestamp(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(number) => {
            let seconds = number.as_f64()?;
            if !seconds.is_finite() {
                return None;
            }
            // Whole seconds are enough for deadlines measured in hours.
            Timestamp::from_second(seconds.trunc() as i64).ok()
        }
        Value::String(text) => parse_timestamp_text(text.trim()),
        _ => None,
    }
}

fn parse_timestamp_text(text: &str) -> Option<Timestamp> {
    if text.is_empty() {
        return None;
    }
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Some(timestamp);
    }
    // Spreadsheet exports often carry only a date, or a date and time
    // without an offset; both are read as UTC.
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    if let Ok(datetime) = text.parse::<jiff::civil::DateTime>() {
        return datetime
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return value_as_timestamp(&Value::from(seconds));
    }
    None
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@')
}

impl Expr {
    fn matches(&self, record: &Value, now: Timestamp) -> bool {
        match self {
            Expr::Or(parts) => parts.iter().any(|part| part.matches(record, now)),
            Expr::And(parts) => parts.iter().all(|part| part.matches(record, now)),
            Expr::Not(inner) => !inner.matches(record, now),
            Expr::Compare { field, op, value } => compare(field.lookup(record), *op, value, now),
        }
    }
}

fn compare(actual: Option<&Value>, op: Op, literal: &Literal, now: Timestamp) -> bool {
    match op {
        Op::Eq => equals(actual, literal, now),
        Op::Ne => !equals(actual, literal, now),
        Op::In => match literal {
            Literal::List(items) => items.iter().any(|item| equals(actual, item, now)),
            other => equals(actual, other, now),
        },
        Op::Contains => match actual {
            Some(Value::Array(items)) => items.iter().any(|item| equals(Some(item), literal, now)),
            Some(Value::String(text)) => match literal {
                Literal::Text(needle) => text
                    .to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase()),
                _ => false,
            },
            _ => false,
        },
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let Some(ordering) = actual.and_then(|value| order(value, literal, now)) else {
                return false;
            };
            match op {
                Op::Lt => ordering.is_lt(),
                Op::Le => ordering.is_le(),
                Op::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            }
        }
    }
}

fn equals(actual: Option<&Value>, literal: &Literal, now: Timestamp) -> bool {
    let Some(value) = actual else {
        return matches!(literal, Literal::Null);
    };
    match literal {
        Literal::Null => false,
        Literal::Bool(expected) => value_as_bool(value) == Some(*expected),
        Literal::Number(expected) => value_as_number(value) == Some(*expected),
        Literal::Text(expected) => match value {
            Value::String(text) => text.eq_ignore_ascii_case(expected),
            Value::Number(number) => number.to_string() == *expected,
            Value::Bool(flag) => flag.to_string().eq_ignore_ascii_case(expected),
            _ => false,
        },
        Literal::Now(_) => order(value, literal, now).is_some_and(|o| o.is_eq()),
        Literal::List(items) => items.iter().any(|item| equals(actual, item, now)),
    }
}

fn order(value: &Value, literal: &Literal, now: Timestamp) -> Option<std::cmp::Ordering> {
    match literal {
        Literal::Number(expected) => value_as_number(value)?.partial_cmp(expected),
        Literal::Now(offset) => {
            let instant = now
                .checked_add(jiff::SignedDuration::from_secs(*offset))
                .ok()?;
            Some(value_as_timestamp(value)?.cmp(&instant))
        }
        Literal::Text(expected) => {
            // A text literal that reads as an instant compares as time
            // (`reviewed_at >= '2026-01-01'`), else as text.
            if let (Some(instant), Some(actual)) =
                (parse_timestamp_text(expected), value_as_timestamp(value))
            {
                return Some(actual.cmp(&instant));
            }
            Some(value.as_str()?.cmp(expected.as_str()))
        }
        Literal::Null | Literal::Bool(_) | Literal::List(_) => None,
    }
}

fn value_as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn value_as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Some(true),
            "false" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        Value::Number(number) => match number.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        _ => None,
    }
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
/// levels.
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
                    let item = self.literal()?;
                    if matches!(item, Literal::List(_)) {
                        return Err(self.error_at(token.position, "lists cannot be nested"));
                    }
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
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn check(expression: &str, record: Value) -> bool {
        expression
            .parse::<Predicate>()
            .unwrap()
            .matches(&record, now())
    }

    #[test]
    fn equality_is_case_insensitive_for_text_and_reads_csv_spellings() {
        assert!(check("status == 'active'", json!({"status": "Active"})));
        assert!(check(
            "isMfaRegistered == true",
            json!({"isMfaRegistered": true})
        ));
        assert!(check("privileged == true", json!({"privileged": "yes"})));
        assert!(!check("privileged == true", json!({"privileged": "no"})));
        assert!(check("count == 3", json!({"count": "3"})));
        assert!(!check("status == 'active'", json!({"status": "disabled"})));
    }

    #[test]
    fn missing_fields_match_only_null() {
        assert!(check("reviewedDateTime == null", json!({})));
        assert!(check(
            "reviewedDateTime == null",
            json!({"reviewedDateTime": null})
        ));
        assert!(!check("reviewedDateTime == 'x'", json!({})));
        assert!(check("reviewedDateTime != 'x'", json!({})));
        assert!(!check("reviewedDateTime < now", json!({})));
        assert!(!check("reviewedDateTime >= now-1d", json!({})));
    }

    #[test]
    fn nested_paths_arrays_and_lists() {
        let policy = json!({"state": "enabled", "grantControls": {"builtInControls": ["mfa"]}});
        assert!(check(
            "state == 'enabled' and grantControls.builtInControls contains 'mfa'",
            policy.clone()
        ));
        assert!(!check(
            "grantControls.builtInControls contains 'block'",
            policy
        ));
        assert!(check(
            "severity in ['CRITICAL', 'IMPORTANT']",
            json!({"severity": "critical"})
        ));
        assert!(!check(
            "severity in ['CRITICAL']",
            json!({"severity": "OPTIONAL"})
        ));
        assert!(check(
            "title contains 'cumulative'",
            json!({"title": "2025-02 Cumulative Update"})
        ));
    }

    #[test]
    fn time_comparisons_read_rfc3339_dates_and_epoch_seconds() {
        assert!(check(
            "installedAt < now-14d",
            json!({"installedAt": 1_739_900_000.0})
        ));
        assert!(check(
            "signed_off_at >= now-30d",
            json!({"signed_off_at": "2026-11-01"})
        ));
        assert!(!check(
            "signed_off_at >= now-30d",
            json!({"signed_off_at": "2026-10-01"})
        ));
        assert!(check(
            "at > '2026-01-01'",
            json!({"at": "2026-03-02T09:12:00Z"})
        ));
        assert!(!check("at > now", json!({"at": "not a date"})));
    }

    #[test]
    fn boolean_structure_and_precedence() {
        let record = json!({"a": 1, "b": 2});
        assert!(
            check("a == 1 or b == 3 and a == 5", record.clone()),
            "and binds tighter"
        );
        assert!(!check("(a == 1 or b == 3) and a == 5", record.clone()));
        assert!(check("not a == 2", record.clone()));
        assert!(check("NOT (a == 2 OR b == 1)", record));
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            ("status = 'x'", "use `==`"),
            ("status == active", "quote text as 'active'"),
            ("status ==", "expected a value"),
            ("status", "must be compared"),
            ("(a == 1", "not closed"),
            ("a == 'open", "quoted text is not closed"),
            ("a in 'x'", "takes a list"),
            ("a == 1 b == 2", "expected `and`, `or`"),
            ("at > now-3x", "write a duration"),
        ];
        for (expression, expected) in cases {
            let error = expression.parse::<Predicate>().unwrap_err().to_string();
            assert!(error.contains(expected), "{expression}: {error}");
            assert!(error.contains("at character"), "{error}");
        }
    }

    #[test]
    fn nesting_is_bounded_so_no_config_line_can_overflow_the_stack() {
        let deep = |levels: usize| format!("{}a == 1{}", "(".repeat(levels), ")".repeat(levels));
        assert!(check(&deep(MAX_NESTING), json!({"a": 1})));
        let error = deep(MAX_NESTING + 1).parse::<Predicate>().unwrap_err();
        assert!(
            error.to_string().contains("nest more than 32 levels"),
            "{error}"
        );
        assert_eq!(
            error.position, MAX_NESTING,
            "points at the first `(` too many"
        );

        // Far past any stack: refused, not a crash.
        assert!(deep(200_000).parse::<Predicate>().is_err());
        let nots = format!("{}a == 1", "not ".repeat(200_000));
        let error = nots.parse::<Predicate>().unwrap_err();
        assert!(error.to_string().contains("simplify"), "{error}");
        // Even counts of `not` up to the limit still read as written.
        assert!(check(
            &format!("{}a == 1", "not ".repeat(MAX_NESTING)),
            json!({"a": 1})
        ));
    }

    #[test]
    fn field_timestamps() {
        let path: FieldPath = "props.createdTimeUtc".parse().unwrap();
        let record = json!({"props": {"createdTimeUtc": "2019-01-01T13:15:30Z"}});
        assert_eq!(
            path.timestamp(&record),
            Some("2019-01-01T13:15:30Z".parse().unwrap())
        );
        assert_eq!(path.timestamp(&json!({"props": {}})), None);
        assert!("a..b".parse::<FieldPath>().is_err());
    }
}
