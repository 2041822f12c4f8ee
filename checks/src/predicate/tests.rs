//! The predicate language over typed records: parsing, binding to a kind,
//! and three-valued evaluation.

use std::collections::BTreeMap;

use super::*;
use crate::kind::Kinds;
use crate::record::Position;

fn ny() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
}

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn text(value: &str) -> FieldValue {
    FieldValue::Text(value.into())
}

fn at(value: &str) -> FieldValue {
    FieldValue::Time(When::At(value.parse().unwrap()))
}

fn day(value: &str) -> FieldValue {
    FieldValue::Time(When::Day(value.parse().unwrap()))
}

fn record(fields: &[(&str, FieldValue)]) -> Record {
    let fields: BTreeMap<String, FieldValue> = fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    Record::new(None, Position::Record(1), fields)
}

fn eval(expression: &str, record: &Record) -> Truth {
    let zone = ny();
    expression.parse::<Predicate>().unwrap().eval(
        record,
        Context {
            now: now(),
            zone: &zone,
            horizon: None,
        },
    )
}

fn kind(name: &str) -> std::sync::Arc<EvidenceKind> {
    Kinds::default().get(name).unwrap().clone()
}

fn bind(expression: &str, kind_name: &str) -> Result<(), String> {
    expression
        .parse::<Predicate>()
        .unwrap()
        .check_against(&kind(kind_name))
}

#[test]
fn text_equality_ignores_case_and_typed_values_compare_as_their_type() {
    let r = record(&[
        ("status", text("Active")),
        ("mfa_registered", FieldValue::Bool(true)),
        ("privileged", FieldValue::Bool(false)),
        ("count", FieldValue::Integer(3)),
        ("score", FieldValue::Number(7.5)),
    ]);
    assert_eq!(eval("status == 'active'", &r), Truth::True);
    assert_eq!(eval("status == 'disabled'", &r), Truth::False);
    assert_eq!(eval("mfa_registered == true", &r), Truth::True);
    assert_eq!(eval("privileged == true", &r), Truth::False);
    assert_eq!(eval("count == 3", &r), Truth::True);
    assert_eq!(eval("count >= 4", &r), Truth::False);
    assert_eq!(eval("score > 7", &r), Truth::True);
    assert_eq!(eval("score < 7.5", &r), Truth::False);
}

#[test]
fn a_comparison_on_an_absent_field_is_unknown_and_only_null_asks_about_absence() {
    let empty = record(&[]);
    for expression in [
        "reviewed_at == 'x'",
        "reviewed_at != 'x'",
        "reviewed_at < now",
        "reviewed_at >= now-1d",
        "methods contains 'fido2'",
        "severity in ['CRITICAL']",
        "not reviewed_at == 'x'",
    ] {
        assert_eq!(eval(expression, &empty), Truth::Unknown, "{expression}");
    }
    assert_eq!(eval("reviewed_at == null", &empty), Truth::True);
    assert_eq!(eval("reviewed_at != null", &empty), Truth::False);
    let present = record(&[("reviewed_at", at("2026-11-01T00:00:00Z"))]);
    assert_eq!(eval("reviewed_at == null", &present), Truth::False);
    assert_eq!(eval("reviewed_at != null", &present), Truth::True);
    assert_eq!(eval("not reviewed_at == null", &present), Truth::True);
}

#[test]
fn not_and_not_equal_never_turn_a_missing_value_into_a_pass() {
    let r = record(&[("x", FieldValue::Bool(true))]);
    assert_eq!(eval("not missing == true", &r), Truth::Unknown);
    assert_eq!(eval("missing != true", &r), Truth::Unknown);
    assert_eq!(eval("not (missing != true)", &r), Truth::Unknown);
    assert_eq!(eval("x != true", &r), Truth::False);
    assert_eq!(eval("x != false", &r), Truth::True);
    assert_eq!(eval("not x == true", &r), Truth::False);
}

#[test]
fn and_or_follow_kleene_tables() {
    // Atoms of each truth value over one record.
    let r = record(&[("x", FieldValue::Bool(true))]);
    let atoms = [
        (Truth::True, "x == true"),
        (Truth::False, "x == false"),
        (Truth::Unknown, "missing == true"),
    ];
    use Truth::{False as F, True as T, Unknown as U};
    let and = |a: Truth, b: Truth| match (a, b) {
        (F, _) | (_, F) => F,
        (T, T) => T,
        _ => U,
    };
    let or = |a: Truth, b: Truth| match (a, b) {
        (T, _) | (_, T) => T,
        (F, F) => F,
        _ => U,
    };
    for (a, left) in atoms {
        assert_eq!(eval(&format!("not {left}"), &r), a.not(), "not {left}");
        for (b, right) in atoms {
            assert_eq!(
                eval(&format!("{left} and {right}"), &r),
                and(a, b),
                "{left} and {right}"
            );
            assert_eq!(
                eval(&format!("{left} or {right}"), &r),
                or(a, b),
                "{left} or {right}"
            );
        }
    }
    // Longer chains: one decided false decides an `and` wherever it is.
    assert_eq!(
        eval("missing == true and x == true and x == false", &r),
        Truth::False
    );
    assert_eq!(
        eval("missing == true or x == false or x == true", &r),
        Truth::True
    );
    assert_eq!(
        eval("missing == true or x == false or x == false", &r),
        Truth::Unknown
    );
}

#[test]
fn lists_in_and_contains() {
    let policy = record(&[
        ("state", text("enabled")),
        (
            "grant_controls",
            FieldValue::List(vec!["mfa".to_owned(), "compliantDevice".to_owned()].into()),
        ),
        ("title", text("2025-02 Cumulative Update")),
        ("severity", text("critical")),
    ]);
    assert_eq!(
        eval(
            "state == 'enabled' and grant_controls contains 'MFA'",
            &policy
        ),
        Truth::True
    );
    assert_eq!(
        eval("grant_controls contains 'block'", &policy),
        Truth::False
    );
    assert_eq!(eval("title contains 'cumulative'", &policy), Truth::True);
    assert_eq!(
        eval("severity in ['CRITICAL', 'IMPORTANT']", &policy),
        Truth::True
    );
    assert_eq!(eval("severity in ['OPTIONAL']", &policy), Truth::False);
    assert_eq!(eval("severity in []", &policy), Truth::False);
}

#[test]
fn time_comparisons_with_now_offsets_and_quoted_times() {
    let r = record(&[
        ("installed_at", at("2025-02-18T17:33:20Z")),
        ("recent", day("2026-11-01")),
        ("old", day("2026-10-01")),
        ("at", at("2026-03-02T09:12:00Z")),
    ]);
    assert_eq!(eval("installed_at < now-14d", &r), Truth::True);
    assert_eq!(eval("recent >= now-30d", &r), Truth::True);
    assert_eq!(eval("old >= now-30d", &r), Truth::False);
    assert_eq!(eval("at > '2026-01-01'", &r), Truth::True);
    assert_eq!(eval("at < '2026-03-02T09:12:01Z'", &r), Truth::True);
    assert_eq!(eval("at == '2026-03-02T04:12:00-05:00'", &r), Truth::True);
    assert_eq!(eval("at > now+3d", &r), Truth::False);
    // `now - 14d` with spaces is the same offset.
    assert_eq!(eval("installed_at < now - 14d", &r), Truth::True);
}

#[test]
fn a_date_compares_as_the_start_of_its_local_day() {
    // 2026-11-02 starts at 05:00 UTC in New York; 2026-11-23T12:00Z is
    // 07:00 EST, so "now-7h" is still 2026-11-23 00:00 local.
    let r = record(&[("completed_on", day("2026-11-02"))]);
    assert_eq!(eval("completed_on == '2026-11-02'", &r), Truth::True);
    assert_eq!(eval("completed_on <= '2026-11-02'", &r), Truth::True);
    assert_eq!(eval("completed_on >= '2026-11-02'", &r), Truth::True);
    assert_eq!(eval("completed_on < '2026-11-02'", &r), Truth::False);
    assert_eq!(eval("completed_on > '2026-11-01'", &r), Truth::True);
    // An instant late on 11-01 local (01:30 UTC on 11-02) is before the
    // day 2026-11-02 where the contractor is.
    let late = record(&[("signed_off_at", at("2026-11-02T01:30:00Z"))]);
    assert_eq!(eval("signed_off_at < '2026-11-02'", &late), Truth::True);
    assert_eq!(
        eval("signed_off_at >= '2026-11-02T00:00:00Z'", &late),
        Truth::True
    );
}

#[test]
fn durations_compare_as_lengths() {
    let r = record(&[("grace", FieldValue::Duration("36h".parse().unwrap()))]);
    assert_eq!(eval("grace > '1d'", &r), Truth::True);
    assert_eq!(eval("grace == '1d 12h'", &r), Truth::True);
    assert_eq!(eval("grace <= '2d'", &r), Truth::True);
}

#[test]
fn boolean_structure_and_precedence() {
    let r = record(&[("a", FieldValue::Integer(1)), ("b", FieldValue::Integer(2))]);
    assert_eq!(
        eval("a == 1 or b == 3 and a == 5", &r),
        Truth::True,
        "and binds tighter"
    );
    assert_eq!(eval("(a == 1 or b == 3) and a == 5", &r), Truth::False);
    assert_eq!(eval("not a == 2", &r), Truth::True);
    assert_eq!(eval("NOT (a == 2 OR b == 1)", &r), Truth::True);
}

#[test]
fn parse_errors_say_where_and_what() {
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
        ("a in [['x']]", "cannot be nested"),
        ("a in ['x'", "not closed with `]`"),
        ("== 1", "expected a field name"),
        ("a == 1 and", "expected a comparison"),
        ("a # 1", "unexpected character `#`"),
        ("", "expected a comparison"),
    ];
    for (expression, expected) in cases {
        let error = expression.parse::<Predicate>().unwrap_err().to_string();
        assert!(error.contains(expected), "{expression}: {error}");
        assert!(error.contains("at character"), "{error}");
    }
    let error = "status = 'x'".parse::<Predicate>().unwrap_err();
    assert_eq!(error.position, 7);
}

#[test]
fn nesting_is_bounded_so_no_config_line_can_overflow_the_stack() {
    let r = record(&[("a", FieldValue::Integer(1))]);
    let deep = |levels: usize| format!("{}a == 1{}", "(".repeat(levels), ")".repeat(levels));
    assert_eq!(eval(&deep(MAX_NESTING), &r), Truth::True);
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
    assert_eq!(
        eval(&format!("{}a == 1", "not ".repeat(MAX_NESTING)), &r),
        Truth::True
    );
}

#[test]
fn field_paths_parse_and_look_up_json() {
    let path: FieldPath = "props.createdTimeUtc".parse().unwrap();
    assert_eq!(path.segments(), ["props", "createdTimeUtc"]);
    assert_eq!(path.as_name(), None);
    assert_eq!(path.to_string(), "props.createdTimeUtc");
    let document = serde_json::json!({"props": {"createdTimeUtc": "2019-01-01T13:15:30Z"}});
    assert_eq!(
        path.lookup(&document),
        Some(&serde_json::json!("2019-01-01T13:15:30Z"))
    );
    assert_eq!(path.lookup(&serde_json::json!({"props": {}})), None);
    assert_eq!(
        path.lookup(&serde_json::json!({"props": {"createdTimeUtc": null}})),
        None
    );
    assert_eq!("name".parse::<FieldPath>().unwrap().as_name(), Some("name"));
    assert!("a..b".parse::<FieldPath>().is_err());
    assert!("".parse::<FieldPath>().is_err());
    assert!("a b".parse::<FieldPath>().is_err());
}

#[test]
fn fields_lists_what_the_expression_reads() {
    let predicate: Predicate = "a == 1 and (b != null or not c < now)".parse().unwrap();
    let fields: Vec<String> = predicate.fields().iter().map(ToString::to_string).collect();
    assert_eq!(fields, ["a", "b", "c"]);
    assert_eq!(predicate.as_str(), "a == 1 and (b != null or not c < now)");
}

// ---- binding to a kind -------------------------------------------------------

#[test]
fn a_misspelt_field_is_refused_with_did_you_mean() {
    let error = bind("severty == 'CRITICAL'", "patch").unwrap_err();
    assert!(
        error.contains("`severty` is not a field of `patch`"),
        "{error}"
    );
    assert!(error.contains("did you mean `severity`?"), "{error}");
    // The vendor's spelling is not the kind's.
    let error = bind("isMfaRegistered == true", "mfa_registration").unwrap_err();
    assert!(error.contains("did you mean `mfa_registered`?"), "{error}");
    // Nothing close: the fields are listed.
    let error = bind("zzzzzzzz == 1", "log_table").unwrap_err();
    assert!(error.contains("`total_retention_days`"), "{error}");
    // A dotted vendor path is not a field either.
    assert!(
        bind(
            "grantControls.builtInControls contains 'mfa'",
            "conditional_access_policy"
        )
        .is_err()
    );
}

#[test]
fn a_comparison_the_field_type_cannot_make_is_refused() {
    let error = bind("mfa_registered == 'x'", "mfa_registration").unwrap_err();
    assert!(
        error.contains("`mfa_registered` is a bool field"),
        "{error}"
    );
    let error = bind("state == 'enabld'", "conditional_access_policy").unwrap_err();
    assert!(
        error.contains("`enabld` is not one of its words"),
        "{error}"
    );
    assert!(
        error.contains("enabledForReportingButNotEnforced"),
        "{error}"
    );
    let error = bind("state in ['enabled', 'on']", "conditional_access_policy").unwrap_err();
    assert!(error.contains("`on` is not one of its words"), "{error}");
    for (expression, kind, expected) in [
        ("action < 'allow'", "firewall_rule", "no order"),
        (
            "total_retention_days >= '365'",
            "log_table",
            "with a number",
        ),
        (
            "total_retention_days contains '3'",
            "log_table",
            "`contains` is for",
        ),
        (
            "pending_since contains '2026'",
            "patch",
            "does not apply to times",
        ),
        (
            "pending_since < 'last week'",
            "patch",
            "compare it with now",
        ),
        ("pending_since < 14", "patch", "compare it with now"),
        ("methods == 'fido2'", "mfa_registration", "contains 'x'"),
        (
            "mfa_registered < true",
            "mfa_registration",
            "== true or == false",
        ),
        ("severity < null", "patch", "with null using == or != only"),
        ("severity == 3", "patch", "quoted text"),
    ] {
        let error = bind(expression, kind).unwrap_err();
        assert!(error.contains(expected), "{expression}: {error}");
    }
}

#[test]
fn well_typed_conditions_are_accepted() {
    for (expression, kind) in [
        ("total_retention_days >= 365", "log_table"),
        ("retention_days in [90, 180]", "log_table"),
        (
            "severity == 'CRITICAL' and pending_since < now-14d",
            "patch",
        ),
        ("installed_at == null", "patch"),
        (
            "state == 'ENABLED' and grant_controls contains 'mfa'",
            "conditional_access_policy",
        ),
        (
            "mfa_registered == true and user_type == 'member'",
            "mfa_registration",
        ),
        (
            "methods contains 'fido2' or methods == null",
            "mfa_registration",
        ),
        (
            "signed_off_at <= now and decision in ['keep', 'modify', 'revoke']",
            "access_review",
        ),
        (
            "action == 'allow' and source == 'any' and destination == 'any'",
            "firewall_rule",
        ),
        ("period_end >= '2026-01-01'", "access_review"),
        ("reported_at > '2026-01-01T00:00:00Z'", "incident"),
    ] {
        bind(expression, kind).unwrap_or_else(|e| panic!("{expression}: {e}"));
    }
}

#[test]
fn deeply_nested_lists_are_refused_without_recursing() {
    // 100,000 `[` overflowed the stack before lists shared the limit.
    let expression = format!("a in {}'x'{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = expression.parse::<Predicate>().unwrap_err();
    assert!(error.to_string().contains("cannot be nested"), "{error}");
    assert_eq!(error.position, 6, "points at the second `[`");
    // Unclosed too.
    assert!(
        format!("a in {}", "[".repeat(100_000))
            .parse::<Predicate>()
            .is_err()
    );
    // A mixture of every nesting form.
    let mixed = format!("{}a in [{}", "(not ".repeat(50_000), "[".repeat(50_000));
    assert!(
        mixed
            .parse::<Predicate>()
            .unwrap_err()
            .to_string()
            .contains("simplify")
    );
}

#[test]
fn an_error_quotes_a_short_marked_excerpt_not_the_whole_expression() {
    let expression = format!("a in {}'x'{}", "[".repeat(100_000), "]".repeat(100_000));
    let message = expression.parse::<Predicate>().unwrap_err().to_string();
    assert!(message.len() < 200, "{} bytes: {message}", message.len());
    let quoted = format!("in `a in {}…` at character 6", "[".repeat(21));
    assert!(message.starts_with(&quoted), "{message}");
    // In the middle: marked on both sides.
    let long = format!(
        "{} and b = 1 and {}",
        "a == 1 and ".repeat(20),
        "a == 1 and ".repeat(20)
    );
    let error = long.parse::<Predicate>().unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`…") && message.contains("…`"),
        "{message}"
    );
    assert!(message.contains("b = 1"), "{message}");
    assert!(message.len() < 200, "{message}");
    // Short expressions are quoted whole, as before.
    let message = "status = 'x'".parse::<Predicate>().unwrap_err().to_string();
    assert!(
        message.starts_with("in `status = 'x'` at character 7"),
        "{message}"
    );
    assert_eq!(excerpt("ab", 99), "ab");
}

#[test]
fn an_event_time_compared_with_a_time_after_now_is_refused_as_never_holding() {
    for never in ["last_sync > now", "last_sync >= now+1d"] {
        let error = bind(never, "managed_device").unwrap_err();
        assert!(
            error.contains("`last_sync` is when something happened")
                && error.contains("could never hold; compare it with a time before now"),
            "{never}: {error}"
        );
    }
    // What such a field is for: within a while before now, or before a date.
    for fine in [
        "last_sync > now-7d",
        "last_sync < now",
        "last_sync <= now+1d",
        "last_sync > '2026-01-01'",
    ] {
        assert_eq!(bind(fine, "managed_device"), Ok(()), "{fine}");
    }
}
