//! Data-driven cases: a duty, evidence bytes read through the real reading
//! path, an exact `now`, and the verdict that must come out.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{evaluate, evaluate_holding};
use crate::duty::{Continuous, Duty, EventClock, Quantifier, Recurring, Rule, Step};
use crate::evidence::{Collection, EvidenceId, EvidenceView, Snapshot};
use crate::kind::{EvidenceKind, Kinds};
use crate::party::Party;
use crate::period::Period;
use crate::predicate::{FieldPath, Predicate};
use crate::read::{self, Format, Parsed, ReadError};
use crate::record::{Mapping, Record, RecordReader, Subject};
use crate::time::TimeReader;
use crate::verdict::{State, StateKind, SubjectVerdict, Verdict};

// ---- helpers -----------------------------------------------------------------

fn ny() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn period(text: &str) -> Period {
    text.parse().unwrap()
}

fn kind(name: &str) -> Arc<EvidenceKind> {
    Kinds::default().get(name).unwrap().clone()
}

/// Reads `payload` as the agent does: the kind's own paths, the zone's clock.
fn parse(
    kind_name: &str,
    format: Format,
    records_at: Option<&str>,
    payload: &[u8],
) -> Result<Parsed, ReadError> {
    let kind = kind(kind_name);
    let mapping = Mapping::default();
    let time = TimeReader::new(ny());
    let records_at: Option<FieldPath> = records_at.map(|path| path.parse().unwrap());
    read::read(
        format,
        records_at.as_ref(),
        "evidence/export",
        payload,
        RecordReader {
            kind: &kind,
            mapping: &mapping,
            time: &time,
        },
    )
}

fn snapshot_of(id: i64, effective_at: &str, parsed: Parsed) -> Snapshot {
    Snapshot {
        id: EvidenceId(id),
        effective_at: at(effective_at),
        records: parsed.records.into(),
        findings: parsed.findings.into(),
    }
}

/// A snapshot of literal CSV or JSON bytes, which must read.
fn snapshot(id: i64, effective_at: &str, kind_name: &str, format: Format, text: &str) -> Snapshot {
    let parsed = parse(kind_name, format, None, text.as_bytes())
        .unwrap_or_else(|e| panic!("the test evidence does not read: {e}"));
    snapshot_of(id, effective_at, parsed)
}

fn csv(id: i64, effective_at: &str, kind_name: &str, text: &str) -> Snapshot {
    snapshot(id, effective_at, kind_name, Format::Csv, text)
}

fn json(id: i64, effective_at: &str, kind_name: &str, text: &str) -> Snapshot {
    snapshot(id, effective_at, kind_name, Format::Json, text)
}

fn ok() -> Collection {
    Collection::Ok {
        at: at("2026-11-23T00:00:00Z"),
    }
}

fn run_with(
    duty: &Duty,
    kind_name: &str,
    collection: &Collection,
    snapshots: &[Snapshot],
    kept: &[Record],
    now: &str,
) -> Verdict {
    let kind = kind(kind_name);
    let zone = ny();
    let view = EvidenceView {
        source: "src",
        kind: &kind,
        zone: &zone,
        collection,
        snapshots,
        kept,
        failing_since: &crate::evidence::NONE_FAILING,
        duty_failing_since: None,
    };
    evaluate(duty, view, at(now))
}

fn run(duty: &Duty, kind_name: &str, snapshots: &[Snapshot], now: &str) -> Verdict {
    run_with(duty, kind_name, &ok(), snapshots, &[], now)
}

/// What a piece of evidence amounts to: unreadable (the agent records a
/// source error), or a verdict.
#[derive(Debug)]
enum Judged {
    Unreadable(String),
    Verdict(Verdict),
}

impl Judged {
    fn is_met(&self) -> bool {
        matches!(self, Judged::Verdict(v) if v.state.kind() == StateKind::Met)
    }

    fn verdict(self) -> Verdict {
        match self {
            Judged::Verdict(verdict) => verdict,
            Judged::Unreadable(error) => panic!("expected a verdict, got a read error: {error}"),
        }
    }

    fn read_error(self) -> String {
        match self {
            Judged::Unreadable(error) => error,
            Judged::Verdict(verdict) => panic!("expected a read error, got {verdict:?}"),
        }
    }
}

/// Reads `payload` into a snapshot as of `effective_at` and judges it at `now`.
fn judge(
    duty: &Duty,
    kind_name: &str,
    format: Format,
    records_at: Option<&str>,
    payload: &[u8],
    effective_at: &str,
    now: &str,
) -> Judged {
    match parse(kind_name, format, records_at, payload) {
        Err(error) => Judged::Unreadable(error.to_string()),
        Ok(parsed) => Judged::Verdict(run(
            duty,
            kind_name,
            &[snapshot_of(1, effective_at, parsed)],
            now,
        )),
    }
}

fn predicate(text: &str, kind_name: &str) -> Predicate {
    let predicate: Predicate = text.parse().unwrap();
    predicate
        .check_against(&kind(kind_name))
        .unwrap_or_else(|e| panic!("`{text}` does not bind to `{kind_name}`: {e}"));
    predicate
}

fn duty(rule: Rule) -> Duty {
    Duty {
        id: "test-duty".parse().unwrap(),
        title: "test duty".to_owned(),
        objectives: vec!["3.1.1[a]".parse().unwrap()],
        responsible: Party::Contractor,
        source: "src".to_owned(),
        max_age: None,
        zone: ny(),
        rule,
    }
}

fn continuous(
    kind_name: &str,
    expect: Quantifier,
    filter: Option<&str>,
    check: &str,
    tolerance: &str,
) -> Duty {
    duty(Rule::Continuous(Continuous {
        expect,
        filter: filter.map(|f| predicate(f, kind_name)),
        check: predicate(check, kind_name),
        // As the config defaults it.
        min_records: usize::from(expect != Quantifier::None),
        tolerance: period(tolerance),
        unknown_when: None,
        required_subjects: Vec::new(),
        required_field: None,
        joins: Vec::new(),
        min_share: None,
    }))
}

fn firewall_none() -> Duty {
    continuous(
        "firewall_rule",
        Quantifier::None,
        None,
        "action == 'allow' and source == 'any' and destination == 'any'",
        "24h",
    )
}

fn patch_none() -> Duty {
    continuous(
        "patch",
        Quantifier::None,
        None,
        "severity == 'CRITICAL' and pending_since < now-14d",
        "1d",
    )
}

fn mfa_all() -> Duty {
    continuous(
        "mfa_registration",
        Quantifier::All,
        Some("user_type == 'member'"),
        "mfa_registered == true",
        "24h",
    )
}

fn recurring(
    kind_name: &str,
    every: &str,
    warn: &str,
    completed_at: &str,
    filter: Option<&str>,
) -> Duty {
    duty(Rule::Recurring(Recurring {
        every: every.parse().unwrap(),
        warn_before: period(warn),
        completed_at: completed_at.parse().unwrap(),
        filter: filter.map(|f| predicate(f, kind_name)),
    }))
}

fn access_review() -> Duty {
    recurring(
        "access_review",
        "90d",
        "14d",
        "signed_off_at",
        Some("decision in ['keep', 'modify', 'revoke']"),
    )
}

fn log_review() -> Duty {
    recurring("log_review", "7d", "1d", "reviewed_at", None)
}

fn step(name: &str, starts: &str, done: &str, within: &str, warn: &str) -> Step {
    Step {
        name: name.to_owned(),
        starts: starts.parse().unwrap(),
        done: done.parse().unwrap(),
        within: period(within),
        warn_before: period(warn),
    }
}

fn incident_clock() -> Duty {
    duty(Rule::EventClock(EventClock {
        filter: Some(predicate(
            "classification == null or classification != 'falsePositive'",
            "incident",
        )),
        steps: vec![
            step(
                "hand-off to contractor",
                "detected_at",
                "handed_off_at",
                "24h",
                "12h",
            ),
            step(
                "report to DoD",
                "discovered_at",
                "reported_at",
                "72h",
                "24h",
            ),
        ],
    }))
}

const INCIDENT_HEADER: &str =
    "incident_id,classification,detected_at,handed_off_at,discovered_at,reported_at\n";

fn incidents(rows: &str) -> String {
    format!("{INCIDENT_HEADER}{rows}")
}

fn subject<'a>(verdict: &'a Verdict, name: &str) -> &'a SubjectVerdict {
    verdict
        .subjects
        .iter()
        .flatten()
        .find(|s| s.subject.as_str() == name)
        .unwrap_or_else(|| panic!("no subject {name} in {verdict:#?}"))
}

fn assert_reason(reason: &str, parts: &[&str]) {
    for part in parts {
        assert!(reason.contains(part), "`{part}` is not in: {reason}");
    }
}

// ---- 1. no-evidence files never make a duty met --------------------------------

#[test]
fn firewall_files_without_rules_never_make_the_duty_met() {
    let duty = firewall_none();
    let now = "2026-11-23T12:00:00Z";
    let as_of = "2026-11-23T00:00:00Z";
    for payload in ["{}", "[{}]"] {
        let judged = judge(
            &duty,
            "firewall_rule",
            Format::Json,
            None,
            payload.as_bytes(),
            as_of,
            now,
        );
        let error = judged.read_error();
        assert!(
            error.contains("none of its 1 record(s) is a readable `firewall_rule` record"),
            "{payload}: {error}"
        );
    }
    for payload in ["[]", r#"{"value": []}"#] {
        let verdict = judge(
            &duty,
            "firewall_rule",
            Format::Json,
            None,
            payload.as_bytes(),
            as_of,
            now,
        )
        .verdict();
        assert_eq!(verdict.state, State::NoEvidence, "{payload}");
        assert_reason(
            &verdict.reason,
            &["holds no records; an empty `firewall_rule` export is not plausible"],
        );
    }
}

#[test]
fn an_any_to_any_rule_with_capitalised_keys_is_read_and_breaks_the_duty() {
    let duty = firewall_none();
    let rules = r#"[{"Name": "any-any", "Action": "Allow", "Source": "any", "Destination": "ANY"},
                    {"Name": "web", "Action": "allow", "Source": "any", "Destination": "10.0.0.5"}]"#;
    let snapshots = [json(1, "2026-11-23T00:00:00Z", "firewall_rule", rules)];
    let verdict = run(&duty, "firewall_rule", &snapshots, "2026-11-23T12:00:00Z");
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-11-24T00:00:00Z")
        }
    );
    assert_reason(
        &verdict.reason,
        &[
            "no record may satisfy `action == 'allow' and source == 'any' and destination == 'any'`",
            "1 of 2 break it: any-any",
            "must hold again by 2026-11-23 19:00 EST (tolerance 1d)",
        ],
    );
    assert_eq!(
        subject(&verdict, "web").state,
        State::Met { next_due: None }
    );
    let later = run(&duty, "firewall_rule", &snapshots, "2026-11-24T00:00:01Z");
    assert_eq!(
        later.state,
        State::Lapsed {
            since: at("2026-11-24T00:00:00Z"),
            overdue: period("1s")
        }
    );
}

#[test]
fn a_rule_missing_its_action_keeps_the_duty_from_met() {
    let rules = "name,action,source,destination\ndeny-all,deny,any,any\nmystery,,any,any\n";
    let snapshots = [csv(1, "2026-11-23T00:00:00Z", "firewall_rule", rules)];
    let verdict = run(
        &firewall_none(),
        "firewall_rule",
        &snapshots,
        "2026-11-23T12:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_reason(
        &verdict.reason,
        &[
            "1 of 2 cannot be decided: mystery",
            "its record could not be read: line 3 (mystery): `action` is empty",
        ],
    );
    assert_eq!(subject(&verdict, "deny-all").state.kind(), StateKind::Met);
}

#[test]
fn a_patch_export_with_renamed_fields_is_unreadable_not_clean() {
    let export = r#"{"results": [
        {"deviceId": "d1", "name": "KB5044284", "severityLevel": "CRITICAL", "status": "PENDING", "ts": 1760000000},
        {"deviceId": "d2", "name": "KB5044284", "severityLevel": "CRITICAL", "status": "PENDING", "ts": 1760000000}
    ]}"#;
    let error = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        export.as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T12:00:00Z",
    )
    .read_error();
    assert_reason(
        &error,
        &[
            "none of its 2 record(s) is a readable `patch` record",
            "record 1 (d1 / KB5044284): `severity` is missing (looked for `severity`)",
        ],
    );
}

#[test]
fn broken_incident_registers_never_make_the_duty_met() {
    let duty = incident_clock();
    let as_of = "2026-11-23T00:00:00Z";
    let now = "2026-11-23T01:00:00Z";
    let judged = |text: &str| {
        judge(
            &duty,
            "incident",
            Format::Csv,
            None,
            text.as_bytes(),
            as_of,
            now,
        )
    };
    assert!(judged("").read_error().contains("is empty"));
    // A register with its header and no rows yet holds no open incident:
    // for incidents an empty set is a real answer, as a JSON `[]` is.
    let empty = judged(INCIDENT_HEADER).verdict();
    assert_eq!(empty.state.kind(), StateKind::Met);
    assert_eq!(empty.subjects, Some(Vec::new()));
    assert!(duty.rule.judges_subjects());
    assert!(
        judged("%%garbage%%\n")
            .read_error()
            .contains("the header row has no column for")
    );
    assert!(
        judged(&incidents("%%garbage%%\n"))
            .read_error()
            .contains("line 2: has 1 field where the header has 6")
    );

    // Reported "in the future": a typo, not a report.
    let future = judged(&incidents(
        "INC-1,,2026-11-20T08:00:00Z,2026-11-20T10:00:00Z,2026-11-20T12:00:00Z,2026-12-01T12:00:00Z\n",
    ))
    .verdict();
    assert_eq!(
        future.state,
        State::DueSoon {
            due: at("2026-11-23T12:00:00Z")
        }
    );
    assert_reason(
        &future.reason,
        &[
            "`reported_at` 2026-12-01 07:00 EST is in the future, so report to DoD is not counted as done",
        ],
    );

    // Reported before it was discovered.
    let before = judged(&incidents(
        "INC-2,,2026-11-20T08:00:00Z,2026-11-20T10:00:00Z,2026-11-20T12:00:00Z,2026-11-19\n",
    ))
    .verdict();
    assert_eq!(before.state.kind(), StateKind::DueSoon);
    assert_reason(
        &before.reason,
        &[
            "`reported_at` 2026-11-19 is before `discovered_at` 2026-11-20 07:00 EST, so report to DoD is not counted as done",
        ],
    );

    // Reported in the very second it was discovered: done then, not before.
    let same = judged(&incidents(
        "INC-3,,2026-11-20T08:00:00Z,2026-11-20T10:00:00Z,2026-11-20T12:00:00Z,2026-11-20T12:00:00Z\n",
    ))
    .verdict();
    assert!(
        !same.reason.contains("not counted as done"),
        "{}",
        same.reason
    );

    // Empty time cells: no detection time is no evidence, not a closed event.
    let empty = judged(&incidents(
        "INC-3,,,,,\nINC-4,,2026-11-01T00:00:00Z,2026-11-01T05:00:00Z,,\n",
    ))
    .verdict();
    assert_eq!(empty.state, State::NoEvidence);
    assert_reason(
        &empty.reason,
        &[
            "event INC-3: its record could not be read, so its clocks cannot be checked: line 2 (INC-3): `detected_at` is empty",
        ],
    );
    assert_eq!(subject(&empty, "INC-4").state.kind(), StateKind::Met);
    // A register whose only row lacks its detection time does not read.
    assert!(
        judged(&incidents("INC-3,,,,,\n"))
            .read_error()
            .contains("`detected_at` is empty")
    );
}

// ---- 3. three-valued logic in rules ------------------------------------------------

#[test]
fn an_undecidable_check_under_expect_none_is_no_evidence_for_its_subject() {
    let duty = continuous(
        "firewall_rule",
        Quantifier::None,
        None,
        "action == 'allow' and service == 'any'",
        "24h",
    );
    let rules =
        "name,action,source,destination,service\nopen,allow,any,any,\nclosed,deny,any,any,\n";
    let snapshots = [csv(1, "2026-11-23T00:00:00Z", "firewall_rule", rules)];
    let verdict = run(&duty, "firewall_rule", &snapshots, "2026-11-23T12:00:00Z");
    assert_eq!(verdict.state, State::NoEvidence);
    assert_reason(
        &verdict.reason,
        &[
            "1 of 2 cannot be decided: open",
            "most urgent open: `action == 'allow' and service == 'any'` cannot be decided: `service` absent",
        ],
    );
    // A decided false part decides the `and` even with `service` absent.
    assert_eq!(subject(&verdict, "closed").state.kind(), StateKind::Met);
}

#[test]
fn an_undecidable_check_under_expect_all_is_no_evidence_for_its_subject() {
    let duty = continuous(
        "mfa_registration",
        Quantifier::All,
        Some("user_type == 'member'"),
        "mfa_registered == true and mfa_capable == true",
        "24h",
    );
    let users = r#"{"value": [
        {"userPrincipalName": "alice@x", "userType": "member", "isMfaRegistered": true},
        {"userPrincipalName": "bob@x", "userType": "member", "isMfaRegistered": true, "isMfaCapable": true},
        {"userPrincipalName": "carol@x", "isMfaRegistered": true, "isMfaCapable": true}
    ]}"#;
    let snapshots = [json(1, "2026-11-23T00:00:00Z", "mfa_registration", users)];
    let verdict = run(
        &duty,
        "mfa_registration",
        &snapshots,
        "2026-11-23T12:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_eq!(subject(&verdict, "bob@x").state.kind(), StateKind::Met);
    let alice = subject(&verdict, "alice@x");
    assert_eq!(alice.state, State::NoEvidence);
    assert_reason(&alice.reason, &["`mfa_capable` absent"]);
    // A user whose type is unknown cannot be left out as a guest.
    let carol = subject(&verdict, "carol@x");
    assert_eq!(carol.state, State::NoEvidence);
    assert_reason(
        &carol.reason,
        &["whether `user_type == 'member'` applies cannot be told"],
    );
    assert_reason(
        &verdict.reason,
        &["2 of 3 cannot be decided: alice@x, carol@x"],
    );
}

// ---- 4. encodings and duplicate keys --------------------------------------------------

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
fn a_duplicate_key_is_a_read_error_naming_the_key() {
    let export = r#"{"value": [
        {"userPrincipalName": "bob@x", "userType": "member", "isMfaRegistered": false, "isMfaRegistered": true}
    ]}"#;
    let error = judge(
        &mfa_all(),
        "mfa_registration",
        Format::Json,
        None,
        export.as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .read_error();
    assert_reason(
        &error,
        &["the key `isMfaRegistered` appears twice", "value[0]"],
    );
}

#[test]
fn bom_and_utf16_exports_judge_the_same_as_plain_utf8() {
    let duty = mfa_all();
    let judged = |format: Format, bytes: &[u8]| {
        judge(
            &duty,
            "mfa_registration",
            format,
            None,
            bytes,
            "2026-11-23T00:00:00Z",
            "2026-11-23T01:00:00Z",
        )
        .verdict()
    };
    let plain = judged(Format::Json, USERS.as_bytes());
    assert_eq!(plain.state.kind(), StateKind::DueSoon);
    assert_reason(&plain.reason, &["1 of 2 break it: bob@x"]);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(USERS.as_bytes());
    assert_eq!(judged(Format::Json, &bom), plain);
    assert_eq!(
        judged(
            Format::Json,
            &utf16le_with_bom(&USERS.replace('\n', "\r\n"))
        ),
        plain
    );

    let table = "userPrincipalName,userType,isMfaRegistered\r\nalice@x,member,TRUE\r\nbob@x,member,FALSE\r\n";
    let plain_csv = judged(Format::Csv, table.as_bytes());
    let mut bom_csv = b"\xEF\xBB\xBF".to_vec();
    bom_csv.extend(table.as_bytes());
    assert_eq!(judged(Format::Csv, &bom_csv), plain_csv);
    assert_eq!(plain_csv.state, plain.state);
    assert_eq!(plain_csv.subjects, plain.subjects);
}

// ---- 5. per subject ---------------------------------------------------------------------

fn users(id: i64, as_of: &str, alice: bool, bob: bool) -> Snapshot {
    let text = format!(
        "userPrincipalName,userType,isMfaRegistered\nalice@x,member,{alice}\nbob@x,member,{bob}\ncarol@x,member,true\nguest@y,guest,false\n"
    );
    csv(id, as_of, "mfa_registration", &text)
}

#[test]
fn two_failing_users_are_two_subjects_with_their_own_reasons() {
    let snapshots = [users(1, "2026-11-23T00:00:00Z", false, false)];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T06:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-11-24T00:00:00Z")
        }
    );
    assert!(mfa_all().rule.judges_subjects() && verdict.subjects.is_some());
    for name in ["alice@x", "bob@x"] {
        let user = subject(&verdict, name);
        assert_eq!(user.state.kind(), StateKind::DueSoon, "{name}");
        assert_reason(
            &user.reason,
            &[
                "failing since at least 2026-11-22 19:00 EST; must hold again by 2026-11-23 19:00 EST",
            ],
        );
        assert_eq!(user.keep, None);
    }
    assert_eq!(subject(&verdict, "carol@x").state.kind(), StateKind::Met);
    // The guest is not a subject of this duty.
    assert_eq!(verdict.subjects.as_ref().unwrap().len(), 3);
    assert_reason(&verdict.reason, &["2 of 3 break it: alice@x, bob@x"]);
}

#[test]
fn each_user_keeps_its_own_failure_start_and_the_duty_takes_the_worst() {
    let snapshots = [
        users(1, "2026-11-21T00:00:00Z", true, true),
        users(2, "2026-11-22T00:00:00Z", false, true),
        users(3, "2026-11-23T00:00:00Z", false, false),
    ];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T06:00:00Z",
    );
    let alice = subject(&verdict, "alice@x");
    assert_eq!(
        alice.state,
        State::Lapsed {
            since: at("2026-11-23T00:00:00Z"),
            overdue: period("6h")
        }
    );
    assert_reason(
        &alice.reason,
        // What the condition read of it, then since when.
        &[
            "`mfa_registered` = false; failing since 2026-11-21 19:00 EST; lapsed at 2026-11-22 19:00 EST (tolerance 1d)",
        ],
    );
    let bob = subject(&verdict, "bob@x");
    assert_eq!(
        bob.state,
        State::DueSoon {
            due: at("2026-11-24T00:00:00Z")
        }
    );
    assert_reason(
        &bob.reason,
        &["failing since 2026-11-22 19:00 EST; must hold again by 2026-11-23 19:00 EST"],
    );
    assert_eq!(verdict.state, alice.state);
    assert_eq!(verdict.evidence, vec![EvidenceId(2), EvidenceId(3)]);
    assert_reason(
        &verdict.reason,
        &["most urgent alice@x: `mfa_registered` = false; failing since 2026-11-21 19:00 EST"],
    );
}

// ---- ported: continuous ------------------------------------------------------------------

#[test]
fn continuous_met_while_the_condition_holds() {
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &[users(1, "2026-11-23T00:00:00Z", true, true)],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state, State::Met { next_due: None });
    assert_reason(
        &verdict.reason,
        &[
            "holds as of 2026-11-22 19:00 EST",
            "checked over 3 record(s) where `user_type == 'member'`",
        ],
    );
    assert!(verdict.attention().next().is_none());
}

#[test]
fn continuous_within_tolerance_is_due_soon_then_lapses() {
    let snapshots = [
        users(1, "2026-11-22T00:00:00Z", true, true),
        users(2, "2026-11-22T12:00:00Z", true, false),
        users(3, "2026-11-23T00:00:00Z", true, false),
    ];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T06:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-11-23T12:00:00Z")
        }
    );
    assert_reason(
        &verdict.reason,
        &[
            "1 of 3 break it: bob@x",
            "failing since 2026-11-22 07:00 EST",
        ],
    );
    assert_eq!(verdict.evidence, vec![EvidenceId(2), EvidenceId(3)]);
    let at_limit = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T12:00:00Z",
    );
    assert_eq!(at_limit.state.kind(), StateKind::DueSoon);
    let lapsed = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T12:30:00Z",
    );
    assert_eq!(
        lapsed.state,
        State::Lapsed {
            since: at("2026-11-23T12:00:00Z"),
            overdue: period("30m")
        }
    );
}

#[test]
fn continuous_never_seen_holding_says_at_least() {
    let snapshots = [users(5, "2026-11-20T00:00:00Z", true, false)];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);
    assert_reason(
        &verdict.reason,
        &["failing since at least 2026-11-19 19:00 EST"],
    );
}

#[test]
fn continuous_over_no_matching_records_is_no_evidence() {
    let snapshots = [csv(
        1,
        "2026-11-23T00:00:00Z",
        "mfa_registration",
        "user,user_type,mfa_registered\ng@y,guest,false\n",
    )];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_reason(
        &verdict.reason,
        &["0 matching record(s) where `user_type == 'member'`"],
    );
}

#[test]
fn expect_none_passes_on_an_empty_patch_report_and_names_an_old_critical() {
    let empty = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        br#"{"results": []}"#,
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .verdict();
    assert_eq!(empty.state, State::Met { next_due: None });
    assert_reason(&empty.reason, &["checked over 0 record(s)"]);
    let old_critical = r#"{"results": [
        {"deviceId": "d1", "name": "KB1", "severity": "CRITICAL", "status": "PENDING", "timestamp": 1760000000.0},
        {"deviceId": "d1", "name": "KB2", "severity": "CRITICAL", "status": "PENDING", "timestamp": "2026-11-20 09:00"},
        {"deviceId": "d2", "name": "KB1", "severity": "LOW", "status": "PENDING", "timestamp": 1760000000}
    ]}"#;
    let verdict = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        old_critical.as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .verdict();
    assert_eq!(verdict.state.kind(), StateKind::DueSoon);
    assert_reason(&verdict.reason, &["1 of 3 break it: d1 / KB1"]);
}

#[test]
fn expect_any_judges_the_duty_as_a_whole() {
    let duty = continuous(
        "conditional_access_policy",
        Quantifier::Any,
        None,
        "state == 'enabled' and grant_controls contains 'mfa'",
        "24h",
    );
    let policies = |state: &str| {
        format!(
            r#"{{"value": [{{"displayName": "MFA", "state": "{state}", "grantControls": {{"builtInControls": ["mfa"]}}}},
                           {{"displayName": "Block legacy", "state": "enabled", "grantControls": {{"builtInControls": ["block"]}}}}]}}"#
        )
    };
    let met = run(
        &duty,
        "conditional_access_policy",
        &[json(
            1,
            "2026-11-23T00:00:00Z",
            "conditional_access_policy",
            &policies("enabled"),
        )],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(met.state, State::Met { next_due: None });
    assert_eq!(met.subjects, None);
    // What the store is told: subjects it kept for this duty under another rule are retired.
    assert!(!duty.rule.judges_subjects());
    let failing = run(
        &duty,
        "conditional_access_policy",
        &[
            json(
                1,
                "2026-11-22T00:00:00Z",
                "conditional_access_policy",
                &policies("enabled"),
            ),
            json(
                2,
                "2026-11-23T00:00:00Z",
                "conditional_access_policy",
                &policies("disabled"),
            ),
        ],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(
        failing.state,
        State::DueSoon {
            due: at("2026-11-24T00:00:00Z")
        }
    );
    assert_reason(
        &failing.reason,
        &["none of 2 record(s) does, failing since 2026-11-22 19:00 EST"],
    );
    // A policy whose controls are unknown cannot vouch for the duty.
    let unknown = run(
        &duty,
        "conditional_access_policy",
        &[json(
            1,
            "2026-11-23T00:00:00Z",
            "conditional_access_policy",
            r#"[{"displayName": "MFA", "state": "enabled"}, {"displayName": "Off", "state": "disabled"}]"#,
        )],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(unknown.state, State::NoEvidence);
    assert_reason(&unknown.reason, &["`grant_controls` absent"]);
}

// ---- ported: the gates ---------------------------------------------------------------------

fn reviews(signed_off: &str) -> Vec<Snapshot> {
    vec![csv(
        7,
        "2026-11-20T00:00:00Z",
        "access_review",
        &format!(
            "review_id,account_id,decision,signed_off_at\nQ1,bob@x,keep,2026-05-01\nQ2,bob@x,keep,{signed_off}\nQ3,bob@x,pending,2026-11-19\n"
        ),
    )]
}

#[test]
fn a_failed_collector_is_source_error_even_with_good_old_evidence() {
    let failed = Collection::Failed {
        since: at("2026-11-22T06:00:00Z"),
        error: "reading evidence/reviews.csv: permission denied".to_owned(),
    };
    let verdict = run_with(
        &access_review(),
        "access_review",
        &failed,
        &reviews("2026-11-01"),
        &[],
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::SourceError {
            since: at("2026-11-22T06:00:00Z"),
            error: "reading evidence/reviews.csv: permission denied".to_owned()
        }
    );
    assert_reason(
        &verdict.reason,
        &["has failed since 2026-11-22 01:00 EST", "permission denied"],
    );
    assert_eq!(verdict.subjects, None);
}

#[test]
fn nothing_collected_is_no_evidence() {
    let verdict = run_with(
        &access_review(),
        "access_review",
        &Collection::NeverRun,
        &[],
        &[],
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_reason(&verdict.reason, &["not been collected yet"]);
    let manual = run_with(
        &access_review(),
        "access_review",
        &Collection::Manual,
        &[],
        &[],
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(manual.state, State::NoEvidence);
    assert_reason(&manual.reason, &["dutywatch evidence add --duty test-duty"]);
}

#[test]
fn stale_evidence_beats_a_completion_it_shows() {
    let mut duty = access_review();
    duty.max_age = Some(period("8d"));
    let mut snapshots = reviews("2026-11-01");
    snapshots[0].effective_at = at("2026-11-10T00:00:00Z");
    let verdict = run(&duty, "access_review", &snapshots, "2026-11-23T00:00:00Z");
    assert_eq!(
        verdict.state,
        State::StaleEvidence {
            as_of: at("2026-11-10T00:00:00Z"),
            age: period("13d"),
            max_age: period("8d"),
        }
    );
    assert_reason(&verdict.reason, &["as of 2026-11-09 19:00 EST (13d old)"]);
    // Exactly at the limit it is still fresh.
    let verdict = run(&duty, "access_review", &snapshots, "2026-11-18T00:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::Met);
}

// ---- ported: recurring ---------------------------------------------------------------------

#[test]
fn recurring_met_then_due_soon_exactly_at_the_window_then_lapsed() {
    // Done 2026-09-01 09:00 EDT; 90 calendar days later is 2026-11-30 09:00
    // EST (14:00 UTC); the 14-day window opens 2026-11-16 14:00 UTC.
    let snapshots = reviews("2026-09-01 09:00");
    let duty = access_review();
    let met = run(&duty, "access_review", &snapshots, "2026-11-01T00:00:00Z");
    assert_eq!(
        met.state,
        State::Met {
            next_due: Some(at("2026-11-30T14:00:00Z"))
        }
    );
    assert_eq!(met.evidence, vec![EvidenceId(7)]);
    assert!(met.subjects.is_none() && !duty.rule.judges_subjects());
    assert_reason(
        &met.reason,
        &["last done 2026-09-01 09:00 EDT; next due 2026-11-30 09:00 EST"],
    );
    let before = run(&duty, "access_review", &snapshots, "2026-11-16T13:59:59Z");
    assert_eq!(before.state.kind(), StateKind::Met);
    let window = run(&duty, "access_review", &snapshots, "2026-11-16T14:00:00Z");
    assert_eq!(
        window.state,
        State::DueSoon {
            due: at("2026-11-30T14:00:00Z")
        }
    );
    assert_reason(
        &window.reason,
        &["due again by 2026-11-30 09:00 EST (in 14d)"],
    );
    let lapsed = run(&duty, "access_review", &snapshots, "2026-12-03T20:00:00Z");
    assert_eq!(
        lapsed.state,
        State::Lapsed {
            since: at("2026-11-30T14:00:00Z"),
            overdue: period("3d 6h")
        }
    );
    assert_reason(&lapsed.reason, &["is 3d 6h overdue"]);
}

#[test]
fn a_lapse_within_the_first_second_is_one_second_overdue_and_reads_back() {
    let snapshots = reviews("2026-08-20");
    // 2026-08-20 + 90 days = 2026-11-18, due at its end: 2026-11-19 05:00 UTC.
    let verdict = run(
        &access_review(),
        "access_review",
        &snapshots,
        "2026-11-19T05:00:00.004Z",
    );
    assert_eq!(
        verdict.state,
        State::Lapsed {
            since: at("2026-11-19T05:00:00Z"),
            overdue: period("1s"),
        }
    );
    let stored = serde_json::to_string(&verdict).unwrap();
    assert_eq!(serde_json::from_str::<Verdict>(&stored).unwrap(), verdict);
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["state"]["state"], "lapsed");
    assert_eq!(json["state"]["overdue"], "1s");
}

#[test]
fn recurring_ignores_filtered_out_future_and_unreadable_completions() {
    let snapshots = [csv(
        1,
        "2026-11-20T00:00:00Z",
        "access_review",
        "review_id,account_id,decision,signed_off_at\n\
         Q1,a,keep,2026-06-01\n\
         Q2,a,keep,2027-01-01\n\
         Q3,a,keep,soon\n\
         Q4,a,pending,2026-11-19\n\
         Q5,a,keep,\n",
    )];
    let verdict = run(
        &access_review(),
        "access_review",
        &snapshots,
        "2026-11-21T00:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);
    assert_reason(
        &verdict.reason,
        &[
            "last done 2026-06-01",
            "Q2 / a: `signed_off_at` 2027-01-01 is in the future, so it is not counted",
            "Q5 / a has no `signed_off_at`, so it is not a completion",
            "1 problem(s) in the records, whose values in question are not counted (first: line 4 (Q3 / a): `signed_off_at` is not a time: `soon`",
        ],
    );
}

#[test]
fn recurring_without_any_completion_is_no_evidence_not_met() {
    let snapshots = [csv(
        3,
        "2026-11-20T00:00:00Z",
        "access_review",
        "review_id,account_id,decision,signed_off_at\nQ1,a,pending,2026-11-01\n",
    )];
    let verdict = run(
        &access_review(),
        "access_review",
        &snapshots,
        "2026-11-21T00:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_reason(
        &verdict.reason,
        &["no completion found in source `src` where `decision in ['keep', 'modify', 'revoke']`"],
    );
}

// ---- 7. local time ---------------------------------------------------------------------------

#[test]
fn a_date_only_sign_off_is_due_at_the_end_of_the_local_day() {
    // 2026-11-02 + 90 days = 2027-01-31, which ends at 2027-02-01 00:00 EST.
    let due = at("2027-02-01T05:00:00Z");
    for written in ["2026-11-02", "11/02/2026", "11/2/2026"] {
        let snapshots = reviews(written);
        let duty = access_review();
        let met = run(&duty, "access_review", &snapshots, "2027-01-18T04:59:59Z");
        assert_eq!(
            met.state,
            State::Met {
                next_due: Some(due)
            },
            "{written}"
        );
        assert_reason(
            &met.reason,
            &["last done 2026-11-02; next due 2027-02-01 00:00 EST"],
        );
        let soon = run(&duty, "access_review", &snapshots, "2027-01-18T05:00:00Z");
        assert_eq!(soon.state, State::DueSoon { due }, "{written}");
        let last = run(&duty, "access_review", &snapshots, "2027-02-01T05:00:00Z");
        assert_eq!(last.state, State::DueSoon { due }, "{written}");
        let lapsed = run(&duty, "access_review", &snapshots, "2027-02-01T05:00:01Z");
        assert_eq!(
            lapsed.state,
            State::Lapsed {
                since: due,
                overdue: period("1s")
            },
            "{written}"
        );
    }
}

#[test]
fn us_date_times_and_bare_local_times_are_read_in_the_zone() {
    // 11/2/2026 9:05 AM EST is 14:05 UTC; 90 calendar days on is 2027-01-31 09:05 EST.
    let verdict = run(
        &access_review(),
        "access_review",
        &reviews("11/2/2026 9:05 AM"),
        "2026-12-01T00:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::Met {
            next_due: Some(at("2027-01-31T14:05:00Z"))
        }
    );
    assert_reason(&verdict.reason, &["last done 2026-11-02 09:05 EST"]);
    let snapshots = [csv(
        1,
        "2026-11-30T12:00:00Z",
        "log_review",
        "summary_id,reviewer,reviewed_at\nW48,alice,2026-11-29 23:00\n",
    )];
    let verdict = run(
        &log_review(),
        "log_review",
        &snapshots,
        "2026-11-30T12:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::Met {
            next_due: Some(at("2026-12-07T04:00:00Z"))
        }
    );
    assert_reason(
        &verdict.reason,
        &["last done 2026-11-29 23:00 EST; next due 2026-12-06 23:00 EST"],
    );
}

#[test]
fn a_weekly_review_stays_on_monday_nine_across_both_dst_changes() {
    let weekly = |done: &str| {
        [csv(
            1,
            "2026-12-31T00:00:00Z",
            "log_review",
            &format!("summary_id,reviewer,reviewed_at\nW1,alice,{done}\n"),
        )]
    };
    // November: Monday 09:00 EDT (13:00 UTC) → Monday 09:00 EST (14:00 UTC).
    // Seven elapsed days would have lapsed at 13:00 UTC.
    let fall = weekly("2026-10-26 09:00");
    let duty = log_review();
    let verdict = run(&duty, "log_review", &fall, "2026-11-02T13:30:00Z");
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-11-02T14:00:00Z")
        }
    );
    assert_reason(
        &verdict.reason,
        &["due again by 2026-11-02 09:00 EST (in 30m)"],
    );
    assert_eq!(
        run(&duty, "log_review", &fall, "2026-11-02T14:00:01Z")
            .state
            .kind(),
        StateKind::Lapsed
    );
    // March: Monday 09:00 EST (14:00 UTC) → Monday 09:00 EDT (13:00 UTC).
    // Seven elapsed days would still be an hour away at 13:30 UTC.
    let spring = weekly("2026-03-02 09:00");
    let verdict = run(&duty, "log_review", &spring, "2026-03-09T12:30:00Z");
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-03-09T13:00:00Z")
        }
    );
    assert_reason(&verdict.reason, &["due again by 2026-03-09 09:00 EDT"]);
    let verdict = run(&duty, "log_review", &spring, "2026-03-09T13:30:00Z");
    assert_eq!(
        verdict.state,
        State::Lapsed {
            since: at("2026-03-09T13:00:00Z"),
            overdue: period("30m")
        }
    );
}

#[test]
fn an_unparsable_time_is_a_finding_with_its_line_and_value() {
    let parsed = parse(
        "log_review",
        Format::Csv,
        None,
        b"summary_id,reviewer,reviewed_at\nW1,alice,2026-11-23 09:00\nW2,bob,2026-13-45\n",
    )
    .unwrap();
    assert_eq!(parsed.records.len(), 1);
    assert_eq!(parsed.findings.len(), 1);
    let finding = parsed.findings[0].to_string();
    assert!(
        finding.starts_with(
            "line 3 (W2): `reviewed_at` is not a time: `2026-13-45` is not a date or time"
        ),
        "{finding}"
    );
    let verdict = run(
        &log_review(),
        "log_review",
        &[snapshot_of(1, "2026-11-23T15:00:00Z", parsed)],
        "2026-11-23T15:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::Met);
    assert_reason(
        &verdict.reason,
        &[
            "1 problem(s) in the records, whose values in question are not counted (first: line 3 (W2)",
        ],
    );
}

// ---- 8. empty sets ---------------------------------------------------------------------------

#[test]
fn an_empty_set_means_what_its_kind_says() {
    let as_of = "2026-11-23T00:00:00Z";
    let now = "2026-11-23T01:00:00Z";
    let patches = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        br#"{"results": []}"#,
        as_of,
        now,
    )
    .verdict();
    assert_eq!(patches.state, State::Met { next_due: None });
    let users = judge(
        &mfa_all(),
        "mfa_registration",
        Format::Json,
        None,
        br#"{"value": []}"#,
        as_of,
        now,
    )
    .verdict();
    assert_eq!(users.state, State::NoEvidence);
    assert_reason(
        &users.reason,
        &["an empty `mfa_registration` export is not plausible"],
    );
    let incidents = judge(
        &incident_clock(),
        "incident",
        Format::Json,
        None,
        b"[]",
        as_of,
        now,
    )
    .verdict();
    assert_eq!(incidents.state, State::Met { next_due: None });
    assert_reason(
        &incidents.reason,
        &["no open step in 0 event(s) as of 2026-11-22 19:00 EST"],
    );
}

// ---- 6. event clocks ---------------------------------------------------------------------------

fn one_register(rows: &str) -> [Snapshot; 1] {
    [csv(1, "2026-11-21T12:00:00Z", "incident", &incidents(rows))]
}

/// A kept record as the store gives it back: written with `to_json`, read
/// with the identity mapping.
fn kept(json_text: &str) -> Record {
    let stored = parse("incident", Format::Json, None, json_text.as_bytes())
        .unwrap()
        .records
        .remove(0)
        .to_json()
        .to_string();
    let kind = kind("incident");
    let mapping = Mapping::identity(&kind);
    let time = TimeReader::new(ny());
    let records_at = None;
    read::read(
        Format::Json,
        records_at,
        "store",
        stored.as_bytes(),
        RecordReader {
            kind: &kind,
            mapping: &mapping,
            time: &time,
        },
    )
    .unwrap()
    .records
    .remove(0)
}

#[test]
fn event_clock_without_open_steps_is_met() {
    let snapshots = one_register(
        "INC-1,,2026-11-01T00:00:00Z,2026-11-01T05:00:00Z,2026-11-01T06:00:00Z,2026-11-02T06:00:00Z\n",
    );
    let verdict = run(
        &incident_clock(),
        "incident",
        &snapshots,
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state, State::Met { next_due: None });
    assert_reason(&verdict.reason, &["no open step in 1 event(s)"]);
    assert_eq!(subject(&verdict, "INC-1").keep, None);
}

#[test]
fn a_running_report_clock_is_open_then_due_soon_then_lapsed() {
    // Discovered 2026-11-20 12:00 UTC: the report is due 72 h later.
    let snapshots = one_register(
        "INC-7,,2026-11-20T08:00:00Z,2026-11-20T10:00:00Z,2026-11-20T12:00:00Z,\n\
         FP-1,FalsePositive,2026-11-01T00:00:00Z,,,\n",
    );
    let due = at("2026-11-23T12:00:00Z");
    let duty = incident_clock();
    // 40 hours left of 72, the 24-hour warning not begun.
    let open = run(&duty, "incident", &snapshots, "2026-11-21T20:00:00Z");
    assert_eq!(open.state, State::Open { due });
    assert_reason(
        &open.reason,
        &["event INC-7: report to DoD is due by 2026-11-23 07:00 EST (in 1d 16h)"],
    );
    assert!(open.attention().any(|s| s.subject.as_str() == "INC-7"));
    // The false positive opens no clock at all.
    assert_eq!(open.subjects.as_ref().unwrap().len(), 1);
    let inc = subject(&open, "INC-7");
    assert!(inc.keep.is_some(), "an open event is kept");
    assert_eq!(inc.keep.as_ref().unwrap()["id"], "INC-7");
    let soon = run(&duty, "incident", &snapshots, "2026-11-22T12:00:00Z");
    assert_eq!(soon.state, State::DueSoon { due });
    assert_reason(&soon.reason, &["(in 1d)"]);
    let last = run(&duty, "incident", &snapshots, "2026-11-23T12:00:00Z");
    assert_eq!(last.state, State::DueSoon { due });
    let lapsed = run(&duty, "incident", &snapshots, "2026-11-23T12:00:01Z");
    assert_eq!(
        lapsed.state,
        State::Lapsed {
            since: due,
            overdue: period("1s"),
        }
    );
    assert_reason(
        &lapsed.reason,
        &["report to DoD was due 2026-11-23 07:00 EST and is 1s overdue"],
    );
    assert!(subject(&lapsed, "INC-7").keep.is_some());
}

#[test]
fn two_incidents_one_after_the_other_are_two_subjects() {
    let snapshots = [csv(
        1,
        "2026-11-22T12:00:00Z",
        "incident",
        &incidents(
            "INC-1,,2026-11-20T08:00:00Z,2026-11-20T10:00:00Z,2026-11-20T12:00:00Z,\n\
             INC-2,,2026-11-22T08:00:00Z,,,\n",
        ),
    )];
    let verdict = run(
        &incident_clock(),
        "incident",
        &snapshots,
        "2026-11-22T12:00:00Z",
    );
    let first = subject(&verdict, "INC-1");
    assert_eq!(
        first.state,
        State::DueSoon {
            due: at("2026-11-23T12:00:00Z")
        }
    );
    let second = subject(&verdict, "INC-2");
    assert_eq!(
        second.state,
        State::Open {
            due: at("2026-11-23T08:00:00Z")
        }
    );
    assert_reason(
        &second.reason,
        &["hand-off to contractor is due by 2026-11-23 03:00 EST (in 20h)"],
    );
    assert_eq!(verdict.state, first.state);
    assert_reason(
        &verdict.reason,
        &[
            "event INC-1: report to DoD is due by 2026-11-23 07:00 EST (in 1d) (1 more event(s) need attention)",
        ],
    );
}

#[test]
fn the_worst_step_is_reported_and_late_completions_are_noted() {
    let snapshots = [csv(
        1,
        "2026-11-23T00:00:00Z",
        "incident",
        &incidents(
            "A,,2026-11-22T20:00:00Z,,,\n\
             B,,2026-11-10T00:00:00Z,2026-11-12T00:00:00Z,2026-11-12T00:00:00Z,2026-11-13T00:00:00Z\n\
             C,,2026-11-20T00:00:00Z,,2026-11-20T00:00:00Z,\n",
        ),
    )];
    let verdict = run(
        &incident_clock(),
        "incident",
        &snapshots,
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::Lapsed {
            since: at("2026-11-21T00:00:00Z"),
            overdue: period("2d")
        }
    );
    assert!(
        verdict.reason.starts_with(
            "event C: hand-off to contractor was due 2026-11-20 19:00 EST and is 2d overdue (1 more open step(s)) (1 more event(s) need attention)"
        ),
        "{}",
        verdict.reason
    );
    let b = subject(&verdict, "B");
    assert_eq!(b.state, State::Met { next_due: None });
    assert_eq!(
        b.reason,
        "every step is done; hand-off to contractor done 1d late"
    );
    assert_eq!(subject(&verdict, "A").state.kind(), StateKind::Open);
}

#[test]
fn an_unreadable_incident_row_is_no_evidence_and_outranks_a_running_clock() {
    let snapshots = [csv(
        1,
        "2026-11-23T00:00:00Z",
        "incident",
        &incidents(
            "INC-2,,2026-11-22T12:00:00Z,,,\n\
             INC-7,,2026-02-30 09:12,,,\n\
             ,,2026-11-20T00:00:00Z,,,\n",
        ),
    )];
    let verdict = run(
        &incident_clock(),
        "incident",
        &snapshots,
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_eq!(subject(&verdict, "INC-2").state.kind(), StateKind::DueSoon);
    let unreadable = subject(&verdict, "INC-7");
    assert_reason(
        &unreadable.reason,
        &["`detected_at` is not a time: `2026-02-30 09:12`"],
    );
    // Without its id the row is named by its line.
    let unnamed = subject(&verdict, "line 4");
    assert_eq!(unnamed.state, State::NoEvidence);
    assert_reason(&unnamed.reason, &["`id` is empty"]);
}

#[test]
fn a_kept_incident_gone_from_the_export_stays_open() {
    let latest = one_register(
        "INC-1,,2026-11-01T00:00:00Z,2026-11-01T05:00:00Z,2026-11-01T06:00:00Z,2026-11-02T06:00:00Z\n",
    );
    let gone = kept(
        r#"{"incident_id": "INC-9", "detected_at": "2026-11-20T08:00:00Z", "handed_off_at": "2026-11-20T09:00:00Z",
            "discovered_at": "2026-11-20 07:00"}"#,
    );
    let verdict = run_with(
        &incident_clock(),
        "incident",
        &ok(),
        &latest,
        std::slice::from_ref(&gone),
        "2026-11-21T20:00:00Z",
    );
    // Discovered 07:00 EST = 12:00 UTC, so the report is due 2026-11-23 12:00 UTC.
    let inc = subject(&verdict, "INC-9");
    assert_eq!(
        inc.state,
        State::Open {
            due: at("2026-11-23T12:00:00Z")
        }
    );
    assert_reason(
        &inc.reason,
        &["no longer in the export as of 2026-11-21 07:00 EST, kept open as last seen"],
    );
    assert_eq!(inc.keep.as_ref(), Some(&gone.to_json()));
    assert_eq!(verdict.state.kind(), StateKind::Open);
    assert_eq!(subject(&verdict, "INC-1").keep, None);

    // Closed in its kept record: met, and no longer kept.
    let closed = kept(
        r#"{"incident_id": "INC-8", "detected_at": "2026-11-20T08:00:00Z", "handed_off_at": "2026-11-20T09:00:00Z",
            "discovered_at": "2026-11-20T12:00:00Z", "reported_at": "2026-11-21T12:00:00Z"}"#,
    );
    let verdict = run_with(
        &incident_clock(),
        "incident",
        &ok(),
        &latest,
        std::slice::from_ref(&closed),
        "2026-11-21T20:00:00Z",
    );
    let inc = subject(&verdict, "INC-8");
    assert_eq!(inc.state, State::Met { next_due: None });
    assert_eq!(inc.keep, None);
    assert_eq!(verdict.state, State::Met { next_due: None });
    assert_reason(&verdict.reason, &["no open step in 2 event(s)"]);

    // A kept event still in the export is judged on the export's record.
    let again = kept(r#"{"incident_id": "INC-1", "detected_at": "2026-11-20T08:00:00Z"}"#);
    let verdict = run_with(
        &incident_clock(),
        "incident",
        &ok(),
        &latest,
        std::slice::from_ref(&again),
        "2026-11-21T20:00:00Z",
    );
    assert_eq!(verdict.state, State::Met { next_due: None });
}

#[test]
fn a_kept_open_incident_whose_row_turns_unreadable_is_still_kept() {
    // The row is in the export but cannot be read: whatever its state, the
    // open clock must not be forgotten, or it is met once the row leaves.
    let latest = one_register(
        "INC-1,,2026-11-01T00:00:00Z,2026-11-01T05:00:00Z,,\n\
         INC-9,,2026-11-20 25:00,,,\n",
    );
    let open = kept(r#"{"incident_id": "INC-9", "detected_at": "2026-11-21T08:00:00Z"}"#);
    let verdict = run_with(
        &incident_clock(),
        "incident",
        &ok(),
        &latest,
        std::slice::from_ref(&open),
        "2026-11-21T09:00:00Z",
    );
    let inc = subject(&verdict, "INC-9");
    assert_ne!(inc.state.kind(), StateKind::Met);
    assert_eq!(inc.keep.as_ref(), Some(&open.to_json()), "{inc:?}");
}

// ---- 9. mutated evidence never reads as met ---------------------------------------------------

/// xorshift64*: deterministic, no crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Debug)]
enum Doc {
    /// The document and the key of the records list in it, if any.
    Json(serde_json::Value, Option<&'static str>),
    /// Header, then rows; cells hold no commas or quotes.
    Csv(Vec<Vec<String>>),
}

struct Case {
    name: &'static str,
    duty: Duty,
    kind: &'static str,
    records_at: Option<&'static str>,
    doc: Doc,
    /// Records that must stay: deleting the last one of a kind whose
    /// empty set is a real answer legitimately reads as "none left".
    min_records: usize,
}

const AS_OF: &str = "2026-11-23T00:00:00Z";
const NOW: &str = "2026-11-23T12:00:00Z";

fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

fn failing_cases() -> Vec<Case> {
    vec![
        Case {
            name: "mfa all",
            duty: mfa_all(),
            kind: "mfa_registration",
            records_at: None,
            doc: Doc::Json(
                serde_json::json!({"value": [
                    {"userPrincipalName": "bob@x", "userType": "member", "isMfaRegistered": false, "isAdmin": true},
                    {"userPrincipalName": "guest@y", "userType": "guest", "isMfaRegistered": true}
                ]}),
                Some("value"),
            ),
            min_records: 0,
        },
        Case {
            name: "firewall none",
            duty: firewall_none(),
            kind: "firewall_rule",
            records_at: None,
            doc: Doc::Json(
                serde_json::json!([
                    {"name": "any-any", "action": "allow", "source": "any", "destination": "any", "enabled": true}
                ]),
                None,
            ),
            min_records: 0,
        },
        Case {
            name: "patch none",
            duty: patch_none(),
            kind: "patch",
            records_at: Some("results"),
            doc: Doc::Json(
                serde_json::json!({"results": [
                    {"deviceId": "d1", "name": "KB1", "severity": "CRITICAL", "status": "PENDING", "timestamp": 1760000000},
                    {"deviceId": "d2", "name": "KB1", "severity": "CRITICAL", "status": "PENDING", "timestamp": "2026-10-01 09:00"}
                ]}),
                Some("results"),
            ),
            min_records: 1,
        },
        Case {
            name: "access review",
            duty: access_review(),
            kind: "access_review",
            records_at: None,
            doc: Doc::Csv(rows(
                "review_id,account_id,decision,signed_off_at,reviewer\nQ1,bob@x,keep,2026-05-01,alice\nQ1,carol@x,revoke,05/02/2026,alice",
            )),
            min_records: 0,
        },
        Case {
            name: "incident clock",
            duty: incident_clock(),
            kind: "incident",
            records_at: None,
            doc: Doc::Csv(rows(
                "incident_id,classification,detected_at,handed_off_at,discovered_at,reported_at\n\
                 INC-1,truePositive,2026-11-20T08:00:00Z,,2026-11-20T09:00:00Z,\n\
                 INC-2,,2026-11-21 09:00,,,",
            )),
            min_records: 1,
        },
    ]
}

fn passing_cases() -> Vec<Case> {
    vec![
        Case {
            name: "mfa all",
            duty: mfa_all(),
            kind: "mfa_registration",
            records_at: None,
            doc: Doc::Json(
                serde_json::json!({"value": [
                    {"userPrincipalName": "bob@x", "userType": "member", "isMfaRegistered": true},
                    {"userPrincipalName": "guest@y", "userType": "guest", "isMfaRegistered": false}
                ]}),
                Some("value"),
            ),
            min_records: 0,
        },
        Case {
            name: "firewall none",
            duty: firewall_none(),
            kind: "firewall_rule",
            records_at: None,
            doc: Doc::Json(
                serde_json::json!([{"name": "deny-all", "action": "deny", "source": "any", "destination": "any"}]),
                None,
            ),
            min_records: 0,
        },
        Case {
            name: "patch none",
            duty: patch_none(),
            kind: "patch",
            records_at: Some("results"),
            doc: Doc::Json(
                serde_json::json!({"results": [
                    {"deviceId": "d1", "name": "KB1", "severity": "LOW", "status": "PENDING", "timestamp": 1760000000}
                ]}),
                Some("results"),
            ),
            min_records: 0,
        },
        Case {
            name: "access review",
            duty: access_review(),
            kind: "access_review",
            records_at: None,
            doc: Doc::Csv(rows(
                "review_id,account_id,decision,signed_off_at\nQ4,bob@x,keep,2026-11-02",
            )),
            min_records: 0,
        },
        Case {
            name: "incident clock",
            duty: incident_clock(),
            kind: "incident",
            records_at: None,
            doc: Doc::Csv(rows(
                "incident_id,detected_at,handed_off_at,discovered_at,reported_at\n\
                 INC-1,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,2026-11-20T09:00:00Z,2026-11-21T09:00:00Z",
            )),
            min_records: 0,
        },
    ]
}

/// Whether garbage text would be a valid value of the field `key` feeds
/// (any text is a valid name), so that only "" may replace it.
fn takes_any_text(kind_name: &str, key: &str) -> bool {
    kind(kind_name).fields.iter().any(|field| {
        matches!(
            field.ty,
            crate::kind::FieldType::Text | crate::kind::FieldType::List
        ) && field
            .from
            .iter()
            .any(|path| path.to_string().eq_ignore_ascii_case(key))
    })
}

const SENTINEL: &str = "__duplicate_of__";

/// One structural mutation; returns the key to duplicate textually, if any.
fn mutate(rng: &mut Rng, case: &Case, doc: &mut Doc, duplicate: &mut Option<String>) {
    match doc {
        Doc::Json(value, wrapper) => {
            let records = match wrapper {
                Some(key) => value
                    .get_mut(*key)
                    .and_then(serde_json::Value::as_array_mut),
                None => value.as_array_mut(),
            };
            // Now and then, a key of the envelope itself.
            if wrapper.is_some() && rng.chance(5) {
                if let Some(object) = value.as_object_mut() {
                    let key = (*wrapper).unwrap_or_default().to_owned();
                    if let Some(inner) = object.remove(&key) {
                        let renamed = if rng.chance(50) {
                            key.to_ascii_uppercase()
                        } else {
                            format!("{key}Renamed")
                        };
                        object.insert(renamed, inner);
                    }
                }
                return;
            }
            let Some(records) = records else { return };
            if records.is_empty() {
                return;
            }
            let index = rng.below(records.len());
            let choice = rng.below(6);
            if choice == 0 {
                if records.len() > case.min_records {
                    records.remove(index);
                }
                return;
            }
            let Some(record) = records[index].as_object_mut() else {
                return;
            };
            let keys: Vec<String> = record.keys().filter(|k| *k != SENTINEL).cloned().collect();
            if keys.is_empty() {
                return;
            }
            let key = keys[rng.below(keys.len())].clone();
            // The key given a duplicate stays as it is: deleting it would
            // leave the duplicate as the only value, a plain replacement.
            if record.contains_key(SENTINEL)
                && duplicate
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&key))
            {
                return;
            }
            match choice {
                1 => {
                    record.remove(&key);
                }
                2 => {
                    let value = record.remove(&key).unwrap_or_default();
                    record.insert(format!("{key}Renamed"), value);
                }
                3 => {
                    let value = record.remove(&key).unwrap_or_default();
                    let changed = if rng.chance(50) {
                        key.to_ascii_uppercase()
                    } else {
                        key.to_ascii_lowercase()
                    };
                    record.insert(changed, value);
                }
                4 => {
                    let garbage = match rng.below(5) {
                        0 => serde_json::json!(""),
                        1 => serde_json::Value::Null,
                        2 => serde_json::json!({"x": 1}),
                        3 => serde_json::json!([{}]),
                        _ if takes_any_text(case.kind, &key) => serde_json::json!(""),
                        _ => serde_json::json!("%%garbage%%"),
                    };
                    record.insert(key, garbage);
                }
                _ => {
                    if !record.contains_key(SENTINEL) {
                        let value = if rng.chance(50) {
                            serde_json::json!(true)
                        } else {
                            record[&key].clone()
                        };
                        record.insert(SENTINEL.to_owned(), value);
                        *duplicate = Some(key);
                    }
                }
            }
        }
        Doc::Csv(table) => {
            if table.is_empty() || table[0].is_empty() {
                return;
            }
            let columns = table[0].len();
            let column = rng.below(columns);
            match rng.below(6) {
                0 => {
                    if table.len() - 1 > case.min_records {
                        let row = 1 + rng.below(table.len() - 1);
                        table.remove(row);
                    }
                }
                1 => {
                    for row in table.iter_mut() {
                        if column < row.len() {
                            row.remove(column);
                        }
                    }
                }
                2 => table[0][column] = format!("{}Renamed", table[0][column]),
                3 => table[0][column] = table[0][column].to_ascii_uppercase(),
                4 => {
                    if table.len() > 1 {
                        let row = 1 + rng.below(table.len() - 1);
                        let header = table[0][column].clone();
                        let garbage = if rng.chance(50) || takes_any_text(case.kind, &header) {
                            String::new()
                        } else {
                            "%%garbage%%".to_owned()
                        };
                        if let Some(cell) = table[row].get_mut(column) {
                            *cell = garbage;
                        }
                    }
                }
                _ => {
                    for row in table.iter_mut() {
                        if let Some(cell) = row.get(column).cloned() {
                            row.push(cell);
                        }
                    }
                }
            }
        }
    }
}

fn bytes_of(rng: &mut Rng, doc: &Doc, duplicate: Option<&str>) -> Vec<u8> {
    let mut text = match doc {
        Doc::Json(value, _) => {
            if rng.chance(50) {
                serde_json::to_string_pretty(value).unwrap()
            } else {
                value.to_string()
            }
        }
        Doc::Csv(table) => {
            let mut text = table
                .iter()
                .map(|row| row.join(","))
                .collect::<Vec<_>>()
                .join(if rng.chance(50) { "\n" } else { "\r\n" });
            text.push('\n');
            text
        }
    };
    if let Some(key) = duplicate {
        let quoted = serde_json::to_string(key).unwrap();
        text = text.replace(&format!("\"{SENTINEL}\""), &quoted);
    }
    let mut bytes = text.into_bytes();
    match rng.below(20) {
        0 => bytes.clear(),
        1 | 2 => bytes.truncate(rng.below(bytes.len())),
        3 => {
            let mut bom = b"\xEF\xBB\xBF".to_vec();
            bom.extend(bytes);
            bytes = bom;
        }
        4 => {
            let text = String::from_utf8(bytes).unwrap();
            bytes = utf16le_with_bom(&text);
        }
        _ => {}
    }
    bytes
}

fn format_of(doc: &Doc) -> Format {
    match doc {
        Doc::Json(..) => Format::Json,
        Doc::Csv(_) => Format::Csv,
    }
}

/// Runs `iterations` random mutations of each case and hands every outcome
/// to `check`.
fn mutations(
    cases: &[Case],
    iterations: usize,
    seed: u64,
    mut check: impl FnMut(&Case, &[u8], Judged),
) {
    let mut rng = Rng(seed);
    for case in cases {
        for _ in 0..iterations {
            let mut doc = case.doc.clone();
            let mut duplicate = None;
            for _ in 0..=rng.below(3) {
                mutate(&mut rng, case, &mut doc, &mut duplicate);
            }
            let bytes = bytes_of(&mut rng, &doc, duplicate.as_deref());
            let judged = judge(
                &case.duty,
                case.kind,
                format_of(&doc),
                case.records_at,
                &bytes,
                AS_OF,
                NOW,
            );
            check(case, &bytes, judged);
        }
    }
}

#[test]
fn mutated_evidence_of_an_unmet_duty_never_reads_as_met() {
    let cases = failing_cases();
    for case in &cases {
        let bytes = bytes_of(&mut Rng(1), &case.doc, None);
        let judged = judge(
            &case.duty,
            case.kind,
            format_of(&case.doc),
            case.records_at,
            &bytes,
            AS_OF,
            NOW,
        );
        assert!(
            matches!(&judged, Judged::Verdict(v) if matches!(v.state.kind(), StateKind::DueSoon | StateKind::Lapsed)),
            "{}: the original must be failing: {judged:?}",
            case.name
        );
    }
    let mut unreadable = 0;
    let mut judged_count = 0;
    mutations(&cases, 800, 0x9E37_79B9_7F4A_7C15, |case, bytes, judged| {
        // A cut exactly after the header leaves a valid, empty register or
        // patch list, which for these kinds is a real answer ("none"): like
        // deleting every record, indistinguishable from a fixed export.
        let emptied = matches!(&judged, Judged::Verdict(v) if v.subjects.as_ref().is_some_and(Vec::is_empty))
            && matches!(case.kind, "incident" | "patch");
        assert!(
            !judged.is_met() || emptied,
            "{}: mutated evidence reads as met:\n{}\n{judged:?}",
            case.name,
            String::from_utf8_lossy(bytes)
        );
        match judged {
            Judged::Unreadable(_) => unreadable += 1,
            Judged::Verdict(_) => judged_count += 1,
        }
    });
    // Both paths were exercised.
    assert!(
        unreadable > 100 && judged_count > 100,
        "{unreadable} / {judged_count}"
    );
}

#[test]
fn mutated_evidence_of_a_met_duty_never_panics() {
    let cases = passing_cases();
    for case in &cases {
        let bytes = bytes_of(&mut Rng(1), &case.doc, None);
        let judged = judge(
            &case.duty,
            case.kind,
            format_of(&case.doc),
            case.records_at,
            &bytes,
            AS_OF,
            NOW,
        );
        assert!(
            judged.is_met(),
            "{}: the original must be met: {judged:?}",
            case.name
        );
    }
    let mut seen = 0;
    mutations(&cases, 300, 0xD1B5_4A32_D192_ED03, |_, _, judged| {
        if let Judged::Verdict(verdict) = judged {
            assert!(!verdict.reason.is_empty());
        }
        seen += 1;
    });
    assert_eq!(seen, 1500);
}

#[test]
fn subjects_are_named_after_their_kind() {
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &[users(1, "2026-11-23T00:00:00Z", false, true)],
        "2026-11-23T01:00:00Z",
    );
    let names: Vec<&Subject> = verdict
        .subjects
        .iter()
        .flatten()
        .map(|s| &s.subject)
        .collect();
    assert_eq!(
        names,
        [
            &Subject::new("alice@x"),
            &Subject::new("bob@x"),
            &Subject::new("carol@x")
        ]
    );
}

#[test]
fn a_garbled_completion_cell_keeps_the_clock_running_and_it_lapses() {
    let duty = incident_clock();
    // Handed off "yesterday" (not a time): the hand-off is not done, its
    // 24 h ran out at 2026-11-21 08:00 UTC, and the report clock runs too.
    let judged = judge(
        &duty,
        "incident",
        Format::Csv,
        None,
        incidents("INC-1,,2026-11-20T08:00:00Z,yesterday,,\n").as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .verdict();
    let inc = subject(&judged, "INC-1");
    assert_eq!(inc.state.kind(), StateKind::Lapsed, "{}", inc.reason);
    assert!(
        inc.reason.contains("its row has 1 problem(s)"),
        "{}",
        inc.reason
    );
    assert!(
        inc.reason.contains("`handed_off_at` is not a time"),
        "{}",
        inc.reason
    );
    assert!(inc.keep.is_some(), "an open event is kept");

    // Every step done, but the row has a problem: not vouched for as met.
    let done = judge(
        &duty,
        "incident",
        Format::Csv,
        None,
        incidents("INC-2,,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,maybe?,\n").as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .verdict();
    assert_ne!(done.state.kind(), StateKind::Met, "{}", done.reason);
}

// ---- stale subjects and required subjects ---------------------------------------

#[test]
fn a_device_not_synced_for_a_week_is_unknown_not_compliant() {
    let mut duty = continuous(
        "managed_device",
        Quantifier::All,
        None,
        "compliance == 'compliant'",
        "24h",
    );
    if let Rule::Continuous(rule) = &mut duty.rule {
        rule.unknown_when = Some(predicate("last_sync < now-7d", "managed_device"));
    }
    let devices = r#"{"value": [
        {"deviceName": "FRESH", "complianceState": "compliant", "lastSyncDateTime": "2026-11-22T08:00:00Z"},
        {"deviceName": "STALE", "complianceState": "Compliant", "lastSyncDateTime": "2026-11-01T08:00:00Z"},
        {"deviceName": "BROKEN", "complianceState": "noncompliant", "lastSyncDateTime": "2026-11-22T08:00:00Z"}
    ]}"#;
    let verdict = run(
        &duty,
        "managed_device",
        &[json(1, "2026-11-23T00:00:00Z", "managed_device", devices)],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(subject(&verdict, "FRESH").state.kind(), StateKind::Met);
    let stale = subject(&verdict, "STALE");
    assert_eq!(stale.state.kind(), StateKind::NoEvidence, "{stale:?}");
    assert!(
        stale.reason.contains("last_sync < now-7d"),
        "{}",
        stale.reason
    );
    assert_eq!(subject(&verdict, "BROKEN").state.kind(), StateKind::DueSoon);
    // Without the stale device the duty would be judged on the others only; with it the
    // duty is never met while the stale device is unknown.
    let only_stale = r#"{"value": [
        {"deviceName": "STALE", "complianceState": "compliant", "lastSyncDateTime": "2026-11-01T08:00:00Z"}
    ]}"#;
    let verdict = run(
        &duty,
        "managed_device",
        &[json(
            1,
            "2026-11-23T00:00:00Z",
            "managed_device",
            only_stale,
        )],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence, "{verdict:?}");
}

#[test]
fn a_required_table_missing_from_the_export_is_a_failing_subject() {
    let mut duty = continuous(
        "log_table",
        Quantifier::All,
        None,
        "total_retention_days >= 365",
        "24h",
    );
    if let Rule::Continuous(rule) = &mut duty.rule {
        rule.required_subjects = vec!["SigninLogs".to_owned(), "auditlogs".to_owned()];
    }
    let tables = r#"{"value": [
        {"name": "AuditLogs", "properties": {"retentionInDays": 90, "totalRetentionInDays": 400}}
    ]}"#;
    let verdict = run(
        &duty,
        "log_table",
        &[json(1, "2026-11-23T00:00:00Z", "log_table", tables)],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(subject(&verdict, "AuditLogs").state.kind(), StateKind::Met);
    let missing = subject(&verdict, "SigninLogs");
    assert_eq!(missing.state.kind(), StateKind::DueSoon, "{missing:?}");
    assert!(
        missing.reason.contains("required but absent"),
        "{}",
        missing.reason
    );
    assert_eq!(verdict.state.kind(), StateKind::DueSoon);
    // Absent in two snapshots a day apart: failing since the first, so lapsed.
    let verdict = run(
        &duty,
        "log_table",
        &[
            json(1, "2026-11-21T00:00:00Z", "log_table", tables),
            json(2, "2026-11-23T00:00:00Z", "log_table", tables),
        ],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(
        subject(&verdict, "SigninLogs").state.kind(),
        StateKind::Lapsed
    );
}

// ---- access review cadence ---------------------------------------------------------

/// The README's access review cadence duty: every decision of every review that ended in the
/// last quarter (92 days) made or auto-applied, in a completed review, and each required
/// definition with such a decision.
fn review_cadence(required: &[&str]) -> Duty {
    let kind_name = "access_review_decision";
    let mut duty = continuous(
        kind_name,
        Quantifier::All,
        Some("instance_end >= now-92d and (instance_end <= now or instance_status == 'Completed')"),
        "instance_status == 'Completed' and (reviewed_at != null or (applied_at != null and apply_result in ['AppliedSuccessfully', 'AppliedSuccessfullyButObjectNotFound']))",
        "7d",
    );
    if let Rule::Continuous(rule) = &mut duty.rule {
        rule.required_subjects = required.iter().map(|r| (*r).to_owned()).collect();
        rule.required_field = Some("definition_name".parse().unwrap());
    }
    duty
}

/// One decision as the graph connector stores it, marked with its instance and definition.
fn decision(
    definition: &str,
    instance: &str,
    (status, end): (&str, &str),
    principal: &str,
    (decision, reviewed, applied): (&str, Option<&str>, Option<&str>),
) -> serde_json::Value {
    let reviewer = if reviewed.is_some() {
        serde_json::json!({"id": "5a8b7c6d-0000-4000-8000-000000000001", "displayName": "Ann",
                           "userPrincipalName": "ann@contoso.com"})
    } else {
        serde_json::json!({"id": "00000000-0000-0000-0000-000000000000", "displayName": ""})
    };
    serde_json::json!({
        "id": format!("{instance}-{principal}"),
        "accessReviewId": instance,
        "decision": decision,
        "recommendation": "Deny",
        "justification": "",
        "reviewedBy": reviewer,
        "reviewedDateTime": reviewed,
        "appliedDateTime": applied,
        "applyResult": if applied.is_some() { "AppliedSuccessfully" } else { "New" },
        "principal": {"@odata.type": "#microsoft.graph.userIdentity", "userPrincipalName": principal},
        "instanceId": instance,
        "instanceStatus": status,
        "instanceStartDateTime": "2026-10-01T00:00:00Z",
        "instanceEndDateTime": end,
        "definitionId": format!("id-{definition}"),
        "definitionName": definition,
    })
}

fn decisions(items: &[serde_json::Value]) -> Snapshot {
    let text = serde_json::json!({ "value": items }).to_string();
    json(1, "2026-11-23T00:00:00Z", "access_review_decision", &text)
}

const DONE: (&str, &str) = ("Completed", "2026-10-15T00:00:00Z");
const REVIEWED: (&str, Option<&str>, Option<&str>) =
    ("Approve", Some("2026-10-03T09:00:00Z"), None);

#[test]
fn access_reviews_completed_in_the_quarter_with_every_decision_made_are_met() {
    let auto_applied = ("NotReviewed", None, Some("2026-10-15T01:00:00Z"));
    let snapshot = decisions(&[
        decision(
            "Guests quarterly",
            "g-q4",
            DONE,
            "guest@fabrikam.com",
            REVIEWED,
        ),
        decision(
            "Guests quarterly",
            "g-q4",
            DONE,
            "vendor@tailspin.com",
            auto_applied,
        ),
        decision(
            "Admins quarterly",
            "a-q4",
            DONE,
            "admin@contoso.com",
            REVIEWED,
        ),
        // A review of last year: outside the period, not judged.
        decision(
            "Admins quarterly",
            "a-2025",
            ("Completed", "2025-10-15T00:00:00Z"),
            "old@contoso.com",
            ("NotReviewed", None, None),
        ),
    ]);
    let duty = review_cadence(&["Guests quarterly", "admins QUARTERLY"]);
    let verdict = run(
        &duty,
        "access_review_decision",
        &[snapshot],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::Met, "{verdict:?}");
    let subjects = verdict.subjects.as_ref().unwrap();
    assert_eq!(
        subjects.len(),
        3,
        "the old review is not judged: {subjects:?}"
    );
}

#[test]
fn an_undecided_decision_a_review_open_past_its_end_and_a_missing_review_are_each_a_subject() {
    let snapshot = decisions(&[
        decision(
            "Guests quarterly",
            "g-q4",
            DONE,
            "guest@fabrikam.com",
            REVIEWED,
        ),
        // Completed, but nobody decided and nothing was applied.
        decision(
            "Guests quarterly",
            "g-q4",
            DONE,
            "contractor@tailspin.com",
            ("NotReviewed", None, None),
        ),
        // Still in progress a week after it should have ended.
        decision(
            "Admins quarterly",
            "a-q4",
            ("InProgress", "2026-11-16T00:00:00Z"),
            "admin@contoso.com",
            REVIEWED,
        ),
        // In progress and not yet due: neither passes nor fails.
        decision(
            "Finance app",
            "f-q4",
            ("InProgress", "2026-12-01T00:00:00Z"),
            "cfo@contoso.com",
            ("NotReviewed", None, None),
        ),
    ]);
    let duty = review_cadence(&["Guests quarterly", "Admins quarterly", "Finance app"]);
    let verdict = run(
        &duty,
        "access_review_decision",
        &[snapshot],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::DueSoon, "{verdict:?}");
    assert_eq!(
        subject(&verdict, "g-q4 / guest@fabrikam.com").state.kind(),
        StateKind::Met
    );
    for failing in ["g-q4 / contractor@tailspin.com", "a-q4 / admin@contoso.com"] {
        let found = subject(&verdict, failing);
        assert_eq!(found.state.kind(), StateKind::DueSoon, "{found:?}");
    }
    let missing = subject(&verdict, "Finance app");
    assert_eq!(missing.state.kind(), StateKind::DueSoon, "{missing:?}");
    assert!(
        missing
            .reason
            .contains("required, but no record selected by `instance_end >= now-92d")
            && missing
                .reason
                .contains("has `definition_name` = 'Finance app'"),
        "{}",
        missing.reason
    );
    assert_eq!(verdict.subjects.as_ref().unwrap().len(), 4);
}

#[test]
fn a_quarter_without_a_completed_review_lapses_after_the_tolerance_and_nothing_is_never_met() {
    // The last review ended in July: on 23 November it is outside the 92 days.
    let july = decisions(&[decision(
        "Guests quarterly",
        "g-q3",
        ("Completed", "2026-07-15T00:00:00Z"),
        "guest@fabrikam.com",
        REVIEWED,
    )]);
    let duty = review_cadence(&["Guests quarterly"]);
    let older = Snapshot {
        id: EvidenceId(0),
        effective_at: at("2026-11-01T00:00:00Z"),
        ..july.clone()
    };
    let verdict = run(
        &duty,
        "access_review_decision",
        &[older, july.clone()],
        "2026-11-23T01:00:00Z",
    );
    let missing = subject(&verdict, "Guests quarterly");
    assert_eq!(missing.state.kind(), StateKind::Lapsed, "{missing:?}");
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);

    // No required definitions and nothing in the period: not `met`.
    let verdict = run(
        &review_cadence(&[]),
        "access_review_decision",
        &[july],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence, "{verdict:?}");
    // An empty decision list proves nothing either.
    let verdict = run(
        &review_cadence(&["Guests quarterly"]),
        "access_review_decision",
        &[decisions(&[])],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence, "{verdict:?}");
}

// ---- joins across sources ------------------------------------------------------

/// One joined source of a test: its id, kind and evidence.
struct Side {
    source: &'static str,
    kind: Arc<EvidenceKind>,
    collection: Collection,
    snapshots: Vec<Snapshot>,
}

fn side(source: &'static str, kind_name: &str, snapshots: Vec<Snapshot>) -> Side {
    Side {
        source,
        kind: kind(kind_name),
        collection: ok(),
        snapshots,
    }
}

fn run_joined(duty: &Duty, patches: &[Snapshot], sides: &[Side], now: &str) -> Verdict {
    let primary = kind("patch");
    let zone = ny();
    let collection = ok();
    let view = EvidenceView {
        source: "ninja-patches",
        kind: &primary,
        zone: &zone,
        collection: &collection,
        snapshots: patches,
        kept: &[],
        failing_since: &crate::evidence::NONE_FAILING,
        duty_failing_since: None,
    };
    let joined: Vec<EvidenceView<'_>> = sides
        .iter()
        .map(|side| EvidenceView {
            source: side.source,
            kind: &side.kind,
            zone: &zone,
            collection: &side.collection,
            snapshots: &side.snapshots,
            kept: &[],
            failing_since: &crate::evidence::NONE_FAILING,
            duty_failing_since: None,
        })
        .collect();
    super::evaluate_joined(duty, view, &joined, at(now))
}

/// Critical patches within 14 days, important within 30, over NinjaOne devices and
/// Intune, a device Intune has not seen for a week unknown.
fn patch_deadlines() -> Duty {
    use crate::join::{check_join, combined_kind, parse_key};
    let joins = vec![
        crate::duty::Join {
            source: "ninja-devices".to_owned(),
            alias: "rmm".to_owned(),
            on: Some(parse_key("device = id").unwrap()),
            max_age: Some(period("1d")),
        },
        crate::duty::Join {
            source: "intune".to_owned(),
            alias: "intune".to_owned(),
            on: Some(parse_key("rmm.device = device").unwrap()),
            max_age: Some(period("1d")),
        },
    ];
    let patch = kind("patch");
    let rmm = kind("rmm_device");
    let intune = kind("managed_device");
    let after_rmm = combined_kind(&patch, &[("rmm", &rmm)]);
    check_join(&joins[0], &patch, &rmm).unwrap();
    check_join(&joins[1], &after_rmm, &intune).unwrap();
    let all = combined_kind(&patch, &[("rmm", &rmm), ("intune", &intune)]);
    let bound = |text: &str| {
        let predicate: Predicate = text.parse().unwrap();
        predicate
            .check_against(&all)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        predicate
    };
    duty(Rule::Continuous(Continuous {
        expect: Quantifier::All,
        filter: None,
        check: bound(
            "not ((severity == 'critical' and pending_since < now-14d) or (severity == 'important' and pending_since < now-30d))",
        ),
        min_records: 0,
        tolerance: period("1h"),
        unknown_when: Some(bound("intune.last_sync < now-7d or intune == null")),
        required_subjects: Vec::new(),
        required_field: None,
        joins,
        min_share: None,
    }))
}

fn ninja_patches() -> serde_json::Value {
    serde_json::json!([
        {"deviceId": "101", "name": "KB1", "severity": "CRITICAL", "status": "APPROVED", "timestamp": "2026-11-01T00:00:00Z"},
        {"deviceId": "101", "name": "KB2", "severity": "IMPORTANT", "status": "APPROVED", "timestamp": "2026-11-10T00:00:00Z"},
        {"deviceId": "102", "name": "KB1", "severity": "CRITICAL", "status": "APPROVED", "timestamp": "2026-11-01T00:00:00Z"},
        {"deviceId": "103", "name": "KB1", "severity": "CRITICAL", "status": "APPROVED", "timestamp": "2026-11-01T00:00:00Z"},
        // Within their deadline: unknown only because Intune saw the device too long ago, or
        // never, so a mutation can only keep them from met.
        {"deviceId": "102", "name": "KB2", "severity": "IMPORTANT", "status": "APPROVED", "timestamp": "2026-11-20T00:00:00Z"},
        {"deviceId": "103", "name": "KB2", "severity": "IMPORTANT", "status": "APPROVED", "timestamp": "2026-11-20T00:00:00Z"}
    ])
}

fn ninja_devices() -> serde_json::Value {
    serde_json::json!([
        {"id": "101", "systemName": "WS-01"},
        {"id": "102", "systemName": "WS-02"},
        {"id": "103", "systemName": "WS-03"}
    ])
}

/// WS-01 in use, WS-02 last seen ten days ago, WS-03 unknown to Intune.
fn intune_devices() -> serde_json::Value {
    serde_json::json!([
        {"deviceName": "ws-01", "complianceState": "compliant", "lastSyncDateTime": "2026-11-22T20:00:00Z"},
        {"deviceName": "WS-02", "complianceState": "compliant", "lastSyncDateTime": "2026-11-13T00:00:00Z"}
    ])
}

fn patch_sides() -> Vec<Side> {
    vec![
        side(
            "ninja-devices",
            "rmm_device",
            vec![json(2, AS_OF, "rmm_device", &ninja_devices().to_string())],
        ),
        side(
            "intune",
            "managed_device",
            vec![json(
                3,
                AS_OF,
                "managed_device",
                &intune_devices().to_string(),
            )],
        ),
    ]
}

#[test]
fn a_joined_patch_duty_judges_in_use_devices_and_leaves_the_rest_unknown() {
    let patches = [json(1, AS_OF, "patch", &ninja_patches().to_string())];
    let verdict = run_joined(&patch_deadlines(), &patches, &patch_sides(), NOW);
    assert_eq!(
        verdict.state.kind(),
        StateKind::Lapsed,
        "{}",
        verdict.reason
    );
    // Every joined snapshot is named.
    assert_eq!(
        verdict.evidence,
        [EvidenceId(1), EvidenceId(2), EvidenceId(3)]
    );
    let failing = subject(&verdict, "101 / KB1");
    assert_eq!(
        failing.state.kind(),
        StateKind::Lapsed,
        "{}",
        failing.reason
    );
    assert_eq!(subject(&verdict, "101 / KB2").state.kind(), StateKind::Met);
    let stale = subject(&verdict, "102 / KB1");
    assert_eq!(stale.state.kind(), StateKind::NoEvidence);
    assert!(
        stale
            .reason
            .contains("`intune.last_sync < now-7d or intune == null` holds"),
        "{}",
        stale.reason
    );
    let unknown = subject(&verdict, "103 / KB1");
    assert_eq!(unknown.state.kind(), StateKind::NoEvidence);
    assert!(
        unknown.reason.contains(
            "no record of `intune` (source `intune`) has `device` = 'ws-03' (`rmm.device = device`): it is unknown to that side"
        ),
        "{}",
        unknown.reason
    );
}

#[test]
fn a_record_without_a_partner_is_unknown_even_when_the_check_ignores_the_join() {
    // No `unknown_when`, a check that reads only the patch: the device NinjaOne knows
    // and Intune does not is still not judged.
    let mut duty = patch_deadlines();
    if let Rule::Continuous(rule) = &mut duty.rule {
        rule.unknown_when = None;
        rule.check = predicate("severity != 'critical'", "patch");
    }
    let patches = [json(
        1,
        AS_OF,
        "patch",
        r#"[{"deviceId": "103", "name": "KB9", "severity": "LOW", "status": "APPROVED", "timestamp": "2026-11-20T00:00:00Z"},
            {"deviceId": "999", "name": "KB9", "severity": "LOW", "status": "APPROVED", "timestamp": "2026-11-20T00:00:00Z"}]"#,
    )];
    let verdict = run_joined(&duty, &patches, &patch_sides(), NOW);
    assert_eq!(
        verdict.state.kind(),
        StateKind::NoEvidence,
        "{}",
        verdict.reason
    );
    assert!(
        subject(&verdict, "999 / KB9")
            .reason
            .contains("no record of `rmm` (source `ninja-devices`) has `id` = '999'"),
        "{verdict:?}"
    );
}

#[test]
fn a_failed_stale_or_empty_joined_source_is_never_met() {
    // The patch list alone would be met: nothing critical is pending.
    let patches = [json(
        1,
        AS_OF,
        "patch",
        r#"[{"deviceId": "101", "name": "KB2", "severity": "IMPORTANT", "status": "APPROVED", "timestamp": "2026-11-20T00:00:00Z"}]"#,
    )];
    let duty = patch_deadlines();
    assert_eq!(
        run_joined(&duty, &patches, &patch_sides(), NOW)
            .state
            .kind(),
        StateKind::Met
    );

    let mut failed = patch_sides();
    failed[1].collection = Collection::Failed {
        since: at("2026-11-22T00:00:00Z"),
        error: "HTTP 403".to_owned(),
    };
    let verdict = run_joined(&duty, &patches, &failed, NOW);
    assert_eq!(verdict.state.kind(), StateKind::SourceError);
    assert!(
        verdict
            .reason
            .contains("the collector for joined source `intune` (as `intune`) has failed"),
        "{}",
        verdict.reason
    );

    let mut stale = patch_sides();
    stale[0].snapshots = vec![json(
        2,
        "2026-11-20T00:00:00Z",
        "rmm_device",
        &ninja_devices().to_string(),
    )];
    let verdict = run_joined(&duty, &patches, &stale, NOW);
    assert_eq!(verdict.state.kind(), StateKind::StaleEvidence);
    assert_eq!(verdict.evidence, [EvidenceId(1), EvidenceId(2)]);
    assert!(
        verdict.reason.contains("joined source `ninja-devices`"),
        "{}",
        verdict.reason
    );

    let mut missing = patch_sides();
    missing[1].snapshots.clear();
    missing[1].collection = Collection::NeverRun;
    let verdict = run_joined(&duty, &patches, &missing, NOW);
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence);
    assert!(verdict.reason.contains("has not been collected yet"));

    let mut empty = patch_sides();
    empty[1].snapshots = vec![json(3, AS_OF, "managed_device", "[]")];
    let verdict = run_joined(&duty, &patches, &empty, NOW);
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence);
    assert!(
        verdict.reason.contains("holds no records"),
        "{}",
        verdict.reason
    );

    // A joined source the engine did not hand over is not a pass either.
    let verdict = run_joined(&duty, &patches, &[], NOW);
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence);
}

#[test]
fn two_partners_for_one_key_are_unknown_not_a_guess() {
    let mut sides = patch_sides();
    sides[1].snapshots = vec![json(
        3,
        AS_OF,
        "managed_device",
        r#"[{"deviceName": "WS-01", "complianceState": "compliant", "lastSyncDateTime": "2026-11-22T20:00:00Z"},
            {"deviceName": "ws-01", "complianceState": "compliant", "lastSyncDateTime": "2026-11-01T00:00:00Z"}]"#,
    )];
    let patches = [json(
        1,
        AS_OF,
        "patch",
        r#"[{"deviceId": "101", "name": "KB2", "severity": "IMPORTANT", "status": "APPROVED", "timestamp": "2026-11-20T00:00:00Z"}]"#,
    )];
    let verdict = run_joined(&patch_deadlines(), &patches, &sides, NOW);
    assert_eq!(verdict.state.kind(), StateKind::NoEvidence);
    assert!(
        subject(&verdict, "101 / KB2")
            .reason
            .contains("2 records of `intune` (source `intune`) have `device` = 'ws-01'"),
        "{verdict:?}"
    );
}

#[test]
fn a_join_without_on_reads_the_single_record_of_its_source() {
    use crate::join::{check_join, combined_kind};
    let ca = kind("conditional_access_policy");
    let sd = kind("security_defaults");
    let join = crate::duty::Join {
        source: "defaults".to_owned(),
        alias: "sd".to_owned(),
        on: None,
        max_age: None,
    };
    check_join(&join, &ca, &sd).unwrap();
    let all = combined_kind(&ca, &[("sd", &sd)]);
    let check: Predicate = "(state == 'enabled' and include_users contains 'All' and (grant_controls contains 'mfa' or authentication_strength != null)) or sd.enabled == true".parse().unwrap();
    check.check_against(&all).unwrap();
    let duty = duty(Rule::Continuous(Continuous {
        expect: Quantifier::Any,
        filter: None,
        check,
        min_records: 1,
        tolerance: period("1h"),
        unknown_when: None,
        required_subjects: Vec::new(),
        required_field: None,
        joins: vec![join],
        min_share: None,
    }));
    let policies = json(
        1,
        AS_OF,
        "conditional_access_policy",
        r#"[{"displayName": "MFA all", "state": "enabledForReportingButNotEnforced",
             "conditions": {"users": {"includeUsers": ["All"]}}, "grantControls": {"builtInControls": ["mfa"]}}]"#,
    );
    let judge_with = |enabled: bool| {
        let kind_ca = kind("conditional_access_policy");
        let zone = ny();
        let collection = ok();
        let defaults = [json(
            2,
            AS_OF,
            "security_defaults",
            &format!(r#"{{"displayName": "Security Defaults", "isEnabled": {enabled}}}"#),
        )];
        let view = EvidenceView {
            source: "ca",
            kind: &kind_ca,
            zone: &zone,
            collection: &collection,
            snapshots: std::slice::from_ref(&policies),
            kept: &[],
            failing_since: &crate::evidence::NONE_FAILING,
            duty_failing_since: None,
        };
        let joined = [EvidenceView {
            source: "defaults",
            kind: &sd,
            zone: &zone,
            collection: &collection,
            snapshots: &defaults,
            kept: &[],
            failing_since: &crate::evidence::NONE_FAILING,
            duty_failing_since: None,
        }];
        super::evaluate_joined(&duty, view, &joined, at(NOW))
    };
    // Report-only does not count; security defaults do.
    assert_eq!(judge_with(false).state.kind(), StateKind::Lapsed);
    let met = judge_with(true);
    assert_eq!(met.state.kind(), StateKind::Met, "{}", met.reason);
    assert_eq!(met.evidence, [EvidenceId(1), EvidenceId(2)]);
}

#[test]
fn min_share_holds_the_duty_while_enough_subjects_pass_and_lists_the_rest() {
    let mut duty = mfa_all();
    let Rule::Continuous(rule) = &mut duty.rule else {
        unreachable!()
    };
    rule.filter = None;
    rule.min_share = Some(0.6);
    let doc = |registered: [bool; 5]| {
        let users: Vec<serde_json::Value> = registered
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::json!({"userPrincipalName": format!("u{i}@x"), "isMfaRegistered": r}))
            .collect();
        json(
            1,
            AS_OF,
            "mfa_registration",
            &serde_json::Value::from(users).to_string(),
        )
    };
    let verdict = run(
        &duty,
        "mfa_registration",
        &[doc([true, true, true, false, false])],
        NOW,
    );
    assert_eq!(verdict.state.kind(), StateKind::Met, "{}", verdict.reason);
    assert!(
        verdict
            .reason
            .contains("3 of 5 subject(s) pass (60.0%), at least 60.0% must"),
        "{}",
        verdict.reason
    );
    let failing = |kind: StateKind| matches!(kind, StateKind::DueSoon | StateKind::Lapsed);
    assert!(failing(subject(&verdict, "u3@x").state.kind()));
    let verdict = run(
        &duty,
        "mfa_registration",
        &[doc([true, true, false, false, false])],
        NOW,
    );
    assert!(failing(verdict.state.kind()), "{}", verdict.reason);
    assert!(verdict.reason.contains("2 of 5 subject(s) pass (40.0%)"));
}

/// Deleting, renaming or blanking fields on either side of a join, or removing a partner
/// record, never turns a subject that is not met into a met one.
#[test]
fn mutated_evidence_of_an_unmet_joined_duty_never_reads_as_met() {
    let duty = patch_deadlines();
    let docs = [
        ("patch", ninja_patches()),
        ("rmm_device", ninja_devices()),
        ("managed_device", intune_devices()),
    ];
    let judge_docs = |docs: &[(&str, Vec<u8>)]| -> Option<Verdict> {
        let mut snapshots = Vec::new();
        for (i, (kind_name, bytes)) in docs.iter().enumerate() {
            let parsed = parse(kind_name, Format::Json, None, bytes).ok()?;
            snapshots.push(snapshot_of(i64::try_from(i).unwrap() + 1, AS_OF, parsed));
        }
        let rest = snapshots.split_off(1);
        let mut rest = rest.into_iter();
        let sides = [
            side(
                "ninja-devices",
                "rmm_device",
                rest.next().into_iter().collect(),
            ),
            side(
                "intune",
                "managed_device",
                rest.next().into_iter().collect(),
            ),
        ];
        Some(run_joined(&duty, &snapshots, &sides, NOW))
    };
    let original: Vec<(&str, Vec<u8>)> = docs
        .iter()
        .map(|(k, v)| (*k, v.to_string().into_bytes()))
        .collect();
    let before = judge_docs(&original).unwrap();
    let unmet: Vec<Subject> = before
        .subjects
        .iter()
        .flatten()
        .filter(|s| s.state.kind() != StateKind::Met)
        .map(|s| s.subject.clone())
        .collect();
    assert_eq!(unmet.len(), 5, "{before:?}");
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    let (mut unreadable, mut judged) = (0, 0);
    for _ in 0..1500 {
        let mut mutated = original.clone();
        // One side or several, one to three mutations each.
        for (side_index, (kind_name, doc)) in docs.iter().enumerate() {
            if side_index > 0 && !rng.chance(60) {
                continue;
            }
            let case = Case {
                name: "joined",
                duty: duty.clone(),
                kind: kind_name,
                records_at: None,
                doc: Doc::Json(doc.clone(), None),
                min_records: 0,
            };
            let mut changed = case.doc.clone();
            let mut duplicate = None;
            for _ in 0..=rng.below(3) {
                mutate(&mut rng, &case, &mut changed, &mut duplicate);
            }
            mutated[side_index].1 = bytes_of(&mut rng, &changed, duplicate.as_deref());
        }
        let Some(verdict) = judge_docs(&mutated) else {
            unreadable += 1;
            continue;
        };
        judged += 1;
        let texts = || {
            mutated
                .iter()
                .map(|(k, b)| format!("{k}: {}", String::from_utf8_lossy(b)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let subjects = verdict.subjects.iter().flatten();
        for s in subjects {
            assert!(
                !(unmet.contains(&s.subject) && s.state.kind() == StateKind::Met),
                "{} turned met:\n{}\n{verdict:?}",
                s.subject,
                texts()
            );
        }
        // The duty as a whole is met only once every unmet subject has left the patch list.
        if verdict.state.kind() == StateKind::Met {
            let still: Vec<&Subject> = verdict
                .subjects
                .iter()
                .flatten()
                .map(|s| &s.subject)
                .filter(|s| unmet.contains(s))
                .collect();
            assert!(still.is_empty(), "met with {still:?}:\n{}", texts());
        }
    }
    assert!(unreadable > 100 && judged > 300, "{unreadable} / {judged}");
}

// ---- 10. a verdict holds until its horizon ----------------------------------------------------

/// What must not change before a verdict's horizon: the duty's state kind and due instant, and
/// each subject's.
type States = (
    StateKind,
    Option<Timestamp>,
    Vec<(String, StateKind, Option<Timestamp>)>,
);

fn states_of(verdict: &Verdict) -> States {
    let subjects = verdict
        .subjects
        .iter()
        .flatten()
        .map(|s| (s.subject.to_string(), s.state.kind(), s.state.due()))
        .collect();
    (verdict.state.kind(), verdict.state.due(), subjects)
}

fn holding(
    duty: &Duty,
    kind_name: &str,
    snapshots: &[Snapshot],
    now: Timestamp,
) -> (Verdict, Timestamp) {
    let kind = kind(kind_name);
    let zone = ny();
    let view = EvidenceView {
        source: "src",
        kind: &kind,
        zone: &zone,
        collection: &ok(),
        snapshots,
        kept: &[],
        failing_since: &crate::evidence::NONE_FAILING,
        duty_failing_since: None,
    };
    evaluate_holding(duty, view, &[], now)
}

/// An instant `seconds` from `base`, as the evidence writes it.
fn stamp(base: Timestamp, seconds: i64) -> String {
    base.checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One random duty with random evidence around `now`: (duty, kind, snapshots).
fn timed_case(rng: &mut Rng, now: Timestamp) -> (Duty, &'static str, Vec<Snapshot>) {
    const DAY: i64 = 86_400;
    let mut within = |back_days: i64, ahead_days: i64| -> i64 {
        let span = u64::try_from((back_days + ahead_days) * DAY).unwrap();
        i64::try_from(rng.next() % span).unwrap() - back_days * DAY
    };
    let case = within(0, 6) % 6;
    let max_age = [None, Some("2d"), Some("7d")][usize::try_from(within(0, 3) % 3).unwrap_or(0)];
    // Snapshots at up to ten days before `now`, oldest first, none after it.
    let mut times: Vec<i64> = (0..=within(0, 3) % 3)
        .map(|_| -within(10, 0).abs())
        .collect();
    times.sort_unstable();
    let (mut duty, kind_name, texts): (Duty, &'static str, Vec<String>) = match case {
        0 => {
            let texts = times
                .iter()
                .map(|_| {
                    let rows: Vec<String> = (0..4)
                        .map(|d| {
                            let severity = if within(0, 2) % 2 == 0 { "CRITICAL" } else { "LOW" };
                            format!(
                                r#"{{"deviceId":"d{d}","name":"KB{d}","severity":"{severity}","status":"PENDING","timestamp":"{}"}}"#,
                                stamp(now, within(30, 0))
                            )
                        })
                        .collect();
                    format!(r#"{{"results":[{}]}}"#, rows.join(","))
                })
                .collect();
            (patch_none(), "patch", texts)
        }
        1 => {
            let texts = times
                .iter()
                .map(|_| {
                    let rows: Vec<String> = ["a", "b", "c"]
                        .iter()
                        .map(|user| format!("{user}@x,member,{}", within(0, 2) % 2 == 0))
                        .collect();
                    format!("user,user_type,mfa_registered\n{}\n", rows.join("\n"))
                })
                .collect();
            (mfa_all(), "mfa_registration", texts)
        }
        2 | 5 => {
            let texts = times
                .iter()
                .map(|_| {
                    let rows: Vec<String> = (0..3)
                        .map(|q| format!("Q{q},bob@x,keep,{}", stamp(now, within(120, 3))))
                        .collect();
                    format!(
                        "review_id,account_id,decision,signed_off_at\n{}\n",
                        rows.join("\n")
                    )
                })
                .collect();
            let duty = if case == 2 {
                access_review()
            } else {
                // A filter read at the evaluation's own `now`: completions age out of it.
                recurring(
                    "access_review",
                    "90d",
                    "14d",
                    "signed_off_at",
                    Some("decision == 'keep' and signed_off_at >= now-60d"),
                )
            };
            (duty, "access_review", texts)
        }
        3 => {
            let texts = times
                .iter()
                .map(|_| {
                    format!(
                        "summary_id,reviewer,reviewed_at\nW1,alice,{}\nW2,bob,{}\n",
                        stamp(now, within(12, 2)),
                        stamp(now, within(12, 2))
                    )
                })
                .collect();
            (log_review(), "log_review", texts)
        }
        _ => {
            let texts = times
                .iter()
                .map(|_| {
                    let rows: Vec<String> = (0..3)
                        .map(|i| {
                            let detected = within(5, 0);
                            let optional = |rng_value: i64, at: i64| {
                                if rng_value % 2 == 0 {
                                    stamp(now, at)
                                } else {
                                    String::new()
                                }
                            };
                            format!(
                                "INC-{i},,{},{},{},{}",
                                stamp(now, detected),
                                optional(within(0, 2), detected + within(0, 2).abs()),
                                stamp(now, detected + 3600),
                                optional(within(0, 2), detected + within(0, 4).abs())
                            )
                        })
                        .collect();
                    incidents(&rows.join("\n"))
                })
                .collect();
            (incident_clock(), "incident", texts)
        }
    };
    duty.max_age = max_age.map(period);
    let snapshots = times
        .iter()
        .zip(texts)
        .enumerate()
        .map(|(i, (offset, text))| {
            let format = if text.starts_with('{') {
                Format::Json
            } else {
                Format::Csv
            };
            let id = i64::try_from(i).unwrap() + 1;
            let parsed = parse(
                kind_name,
                format,
                (format == Format::Json).then_some("results"),
                text.as_bytes(),
            )
            .unwrap_or_else(|e| panic!("the generated evidence does not read: {e}\n{text}"));
            snapshot_of(id, &stamp(now, *offset), parsed)
        })
        .collect();
    (duty, kind_name, snapshots)
}

#[test]
fn a_verdict_reads_the_same_at_every_instant_before_its_horizon() {
    let mut rng = Rng(0x00DD_B1A5_E5C0_FFEE);
    let base = at(NOW);
    let (mut bounded, mut changed_at_horizon) = (0, 0);
    for trial in 0..3000 {
        let now = base
            .checked_add(jiff::SignedDuration::from_secs(
                i64::try_from(rng.next() % (30 * 86_400)).unwrap(),
            ))
            .unwrap();
        let (duty, kind_name, snapshots) = timed_case(&mut rng, now);
        let (verdict, until) = holding(&duty, kind_name, &snapshots, now);
        assert!(until > now, "trial {trial}: a horizon at or before now");
        let expected = states_of(&verdict);
        let last_before = if until == Timestamp::MAX {
            now.checked_add(jiff::SignedDuration::from_hours(24 * 400))
                .unwrap()
        } else {
            bounded += 1;
            until
                .checked_sub(jiff::SignedDuration::from_nanos(1))
                .unwrap()
        };
        let span = last_before.duration_since(now).as_secs().max(1);
        let middle = now
            .checked_add(jiff::SignedDuration::from_secs(
                i64::try_from(rng.next() % u64::try_from(span).unwrap()).unwrap(),
            ))
            .unwrap();
        for later in [middle, last_before] {
            let (again, _) = holding(&duty, kind_name, &snapshots, later);
            assert_eq!(
                states_of(&again),
                expected,
                "trial {trial}: `{}` judged at {now} holds until {until}, yet reads differently at {later}:\n{}\n{}",
                duty.id,
                verdict.reason,
                again.reason
            );
        }
        if until != Timestamp::MAX {
            let (at_horizon, _) = holding(&duty, kind_name, &snapshots, until);
            let moved = until
                .checked_add(jiff::SignedDuration::from_secs(1))
                .unwrap();
            let (after, _) = holding(&duty, kind_name, &snapshots, moved);
            if states_of(&at_horizon) != expected || states_of(&after) != expected {
                changed_at_horizon += 1;
            }
        }
    }
    // The horizons are not all "now" nor all "never", and many are exactly where the verdict
    // turns: the test could catch a horizon noted too late.
    assert!(bounded > 1000, "{bounded} bounded horizons");
    assert!(
        changed_at_horizon > 300,
        "{changed_at_horizon} verdicts changed at their horizon"
    );
}

#[test]
fn snapshots_of_the_same_records_judge_as_if_each_were_read_on_its_own() {
    // An API answering the same bytes at every call: one parse shared by many snapshots, whose
    // outcomes `history` reuses while no condition turns. Each read on its own, nothing is
    // reused: both must give the same verdict, reasons included.
    let mut rng = Rng(0x51DE_CA5E_0BAD_F00D);
    let base = at(NOW);
    let mut shared_reused = 0;
    for trial in 0..400 {
        let rows: Vec<String> = (0..6)
            .map(|d| {
                let severity = if rng.chance(60) { "CRITICAL" } else { "LOW" };
                let age = i64::try_from(rng.next() % (20 * 86_400)).unwrap();
                format!(
                    r#"{{"deviceId":"d{d}","name":"KB{d}","severity":"{severity}","status":"PENDING","timestamp":"{}"}}"#,
                    stamp(base, -age)
                )
            })
            .collect();
        let text = format!(r#"{{"results":[{}]}}"#, rows.join(","));
        let read = || parse("patch", Format::Json, Some("results"), text.as_bytes()).unwrap();
        let count = 2 + rng.below(40);
        let mut instants: Vec<Timestamp> = (0..count)
            .map(|_| {
                base.checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(rng.next() % (3 * 86_400)).unwrap(),
                ))
                .unwrap()
            })
            .collect();
        instants.sort();
        let now = *instants.last().unwrap() + jiff::SignedDuration::from_secs(60);
        let one = read();
        let (records, findings): (Arc<[Record]>, Arc<[crate::record::Finding]>) =
            (one.records.into(), one.findings.into());
        let shared: Vec<Snapshot> = instants
            .iter()
            .enumerate()
            .map(|(i, at)| Snapshot {
                id: EvidenceId(i64::try_from(i).unwrap() + 1),
                effective_at: *at,
                records: Arc::clone(&records),
                findings: Arc::clone(&findings),
            })
            .collect();
        let apart: Vec<Snapshot> = instants
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let parsed = read();
                Snapshot {
                    id: EvidenceId(i64::try_from(i).unwrap() + 1),
                    effective_at: *at,
                    records: parsed.records.into(),
                    findings: parsed.findings.into(),
                }
            })
            .collect();
        let duty = patch_none();
        let a = holding(&duty, "patch", &shared, now);
        let b = holding(&duty, "patch", &apart, now);
        assert_eq!(a.0, b.0, "trial {trial}: {text}");
        assert_eq!(a.1, b.1, "trial {trial}");
        if a.0.state.kind() != StateKind::Met {
            shared_reused += 1;
        }
    }
    // Most trials have a failing patch, so the history is walked and reused.
    assert!(shared_reused > 200, "{shared_reused}");
}

#[test]
fn of_a_subjects_several_records_the_worst_outcome_counts_and_the_first_of_equals() {
    use super::{Outcome, worst_per_subject};
    let found = |pairs: &[(&str, Outcome)]| -> Vec<(Subject, Outcome)> {
        pairs
            .iter()
            .map(|(subject, outcome)| (Subject::new(*subject), outcome.clone()))
            .collect()
    };
    let undecided = |why: &str| Outcome::Undecided(why.to_owned());
    let merged = worst_per_subject(found(&[
        ("b", Outcome::Passes),
        ("a", undecided("first")),
        ("b", Outcome::Fails(None)),
        ("c", Outcome::Passes),
        ("a", undecided("second")),
        ("b", Outcome::Passes),
        ("a", Outcome::Passes),
        ("d", Outcome::Absent),
        ("d", Outcome::Fails(None)),
    ]));
    let merged: Vec<(String, Outcome)> = merged
        .into_iter()
        .map(|(subject, outcome)| (subject.as_str().to_owned(), outcome))
        .collect();
    assert_eq!(
        merged,
        [
            ("a".to_owned(), undecided("first")),
            ("b".to_owned(), Outcome::Fails(None)),
            ("c".to_owned(), Outcome::Passes),
            ("d".to_owned(), Outcome::Absent),
        ]
    );
}

#[test]
fn outcomes_are_found_by_subject_and_a_required_one_is_set_in_its_place() {
    use super::{Outcome, worst_per_subject};
    let mut outcomes = worst_per_subject(vec![
        (Subject::new("m"), Outcome::Passes),
        (Subject::new("c"), Outcome::Fails(None)),
    ]);
    outcomes.set(Subject::new("g"), Outcome::Absent);
    outcomes.set(Subject::new("c"), Outcome::Passes);
    assert_eq!(outcomes.get(&Subject::new("g")), Some(&Outcome::Absent));
    assert_eq!(outcomes.get(&Subject::new("c")), Some(&Outcome::Passes));
    assert_eq!(outcomes.get(&Subject::new("x")), None);
    let order: Vec<String> = outcomes
        .subjects()
        .map(|subject| subject.as_str().to_owned())
        .collect();
    assert_eq!(order, ["c", "g", "m"]);
}

#[test]
fn an_event_dated_after_its_evidence_is_not_judged_so_next_years_training_is_not_met() {
    // Every completion typed a year ahead: "completed within the year" holds for each, and
    // read as dates they are no less recent than today's.
    let duty = continuous(
        "training_completion",
        Quantifier::All,
        None,
        "completed_on >= now-365d",
        "30d",
    );
    let roster = "email,completed_on\n\
                  dana@x,2027-10-22\n\
                  lee@x,2026-11-23\n\
                  sam@x,2026-11-30\n";
    let snapshots = [csv(
        1,
        "2026-11-23T17:00:00Z",
        "training_completion",
        roster,
    )];
    let verdict = run(
        &duty,
        "training_completion",
        &snapshots,
        "2026-11-24T12:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence, "{}", verdict.reason);
    let dana = subject(&verdict, "dana@x");
    assert_eq!(dana.state, State::NoEvidence);
    assert_reason(
        &dana.reason,
        &["`completed_on` 2027-10-22 is after the evidence's instant"],
    );
    // Today's date is today's, not ahead; a day after the export is ahead.
    assert_eq!(subject(&verdict, "lee@x").state.kind(), StateKind::Met);
    assert_eq!(subject(&verdict, "sam@x").state, State::NoEvidence);

    // A patch pending "since" next month hides nothing: it is not judged, so the duty is
    // not met either.
    let patches = r#"{"results": [
        {"deviceId": "7", "name": "KB1", "severity": "CRITICAL", "status": "PENDING",
         "timestamp": 1830000000}
    ]}"#;
    let verdict = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        patches.as_bytes(),
        "2026-11-23T17:00:00Z",
        "2026-11-24T12:00:00Z",
    )
    .verdict();
    assert_eq!(verdict.state, State::NoEvidence, "{}", verdict.reason);
    assert_reason(&verdict.reason, &["after the evidence's instant"]);
}

#[test]
fn an_event_a_few_seconds_after_its_evidence_is_a_clock_difference_and_is_judged() {
    let users = r#"{"value": [
        {"userPrincipalName": "alice@x", "userType": "member", "isMfaRegistered": true,
         "lastUpdatedDateTime": "2026-11-23T00:01:00Z"}
    ]}"#;
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &[json(1, "2026-11-23T00:00:00Z", "mfa_registration", users)],
        "2026-11-23T12:00:00Z",
    );
    assert_eq!(verdict.state.kind(), StateKind::Met, "{}", verdict.reason);
}

#[test]
fn a_failing_subject_says_the_values_its_condition_read() {
    let report = r#"{"results": [
        {"deviceId": "d1", "name": "KB1", "severity": "CRITICAL", "status": "PENDING", "timestamp": "2026-10-01T13:00:00Z"}
    ]}"#;
    let verdict = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        report.as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .verdict();
    let patch = subject(&verdict, "d1 / KB1");
    // Read back in the duty's zone, as every time in a reason is.
    assert_reason(
        &patch.reason,
        &["`severity` = 'CRITICAL', `pending_since` = 2026-10-01 09:00 EDT; failing since"],
    );
}

#[test]
fn control_characters_of_the_evidence_never_reach_a_subject_or_a_reason() {
    let report = r#"{"results": [
        {"deviceId": "d\u001b]0;pwned\u0007\nFAKE: met\r", "name": "KB\u202e1", "severity": "CRITICAL", "status": "PENDING", "timestamp": "2026-10-01T13:00:00Z"}
    ]}"#;
    let verdict = judge(
        &patch_none(),
        "patch",
        Format::Json,
        Some("results"),
        report.as_bytes(),
        "2026-11-23T00:00:00Z",
        "2026-11-23T01:00:00Z",
    )
    .verdict();
    let subjects = verdict.subjects.as_ref().expect("judged per subject");
    assert_eq!(subjects.len(), 1);
    let shown = format!(
        "{} {} {}",
        subjects[0].subject, subjects[0].reason, verdict.reason
    );
    assert!(
        !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{shown:?}"
    );
    // Shown (a reason, a subject's Display) with its controls written out; its identity, what
    // is stored and acknowledged, is the evidence's own text, so an upgrade splits nothing.
    assert_eq!(
        subjects[0].subject.to_string(),
        "d\\u{1b}]0;pwned\\u{7}\\nFAKE: met / KB\\u{202e}1"
    );
    assert_eq!(
        subjects[0].subject.as_str(),
        "d\u{1b}]0;pwned\u{7}\nFAKE: met / KB\u{202e}1"
    );
}

#[test]
fn only_states_that_show_the_work_done_now_count_as_implemented() {
    use StateKind::*;
    let all = [
        Met,
        Open,
        DueSoon,
        Lapsed,
        NoEvidence,
        StaleEvidence,
        SourceError,
    ];
    let shown = |duty: Duty| -> Vec<StateKind> {
        all.into_iter()
            .filter(|&state| duty.rule.shows_implemented(state))
            .collect()
    };
    // Done and its period still covers today.
    assert_eq!(shown(access_review()), [Met, DueSoon]);
    // Failing now, however much tolerance is left.
    assert_eq!(shown(mfa_all()), [Met]);
    // An incident handled inside its deadline.
    assert_eq!(shown(incident_clock()), [Met, Open, DueSoon]);
}

#[test]
fn evidence_that_tells_nothing_for_a_while_does_not_restart_a_lapse() {
    let header = "userPrincipalName,userType,isMfaRegistered\n";
    // Alice fails on the 21st; on the 22nd her record cannot be decided (no value), or the
    // export is empty (not plausible for MFA registrations); on the 23rd she fails again.
    let undecided = csv(
        2,
        "2026-11-22T00:00:00Z",
        "mfa_registration",
        &format!("{header}alice@x,member,\nbob@x,member,true\ncarol@x,member,true\n"),
    );
    let empty = csv(2, "2026-11-22T00:00:00Z", "mfa_registration", header);
    for between in [undecided, empty] {
        let snapshots = [
            users(1, "2026-11-21T00:00:00Z", false, true),
            between,
            users(3, "2026-11-23T00:00:00Z", false, true),
        ];
        let verdict = run(
            &mfa_all(),
            "mfa_registration",
            &snapshots,
            "2026-11-23T06:00:00Z",
        );
        let alice = subject(&verdict, "alice@x");
        assert_eq!(
            alice.state,
            State::Lapsed {
                since: at("2026-11-22T00:00:00Z"),
                overdue: period("30h")
            },
            "{}",
            alice.reason
        );
        assert_reason(
            &alice.reason,
            &["failing since at least 2026-11-20 19:00 EST"],
        );
    }
    // A snapshot in which she passes still ends the run.
    let snapshots = [
        users(1, "2026-11-21T00:00:00Z", false, true),
        users(2, "2026-11-22T00:00:00Z", true, true),
        users(3, "2026-11-23T00:00:00Z", false, true),
    ];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T06:00:00Z",
    );
    assert_eq!(
        subject(&verdict, "alice@x").state.kind(),
        StateKind::DueSoon
    );
}

#[test]
fn a_subject_absent_from_a_usable_snapshot_ends_its_run_of_failures() {
    let header = "userPrincipalName,userType,isMfaRegistered\n";
    // Alice fails, is absent from the next pull (out of scope, removed, or missing: which
    // cannot be told, and her stored state says gone), and fails again: a new failure.
    let without_alice = csv(
        2,
        "2026-11-22T00:00:00Z",
        "mfa_registration",
        &format!("{header}bob@x,member,true\ncarol@x,member,true\n"),
    );
    let snapshots = [
        users(1, "2026-11-21T00:00:00Z", false, true),
        without_alice,
        users(3, "2026-11-23T00:00:00Z", false, true),
    ];
    let verdict = run(
        &mfa_all(),
        "mfa_registration",
        &snapshots,
        "2026-11-23T06:00:00Z",
    );
    assert_eq!(
        subject(&verdict, "alice@x").state.kind(),
        StateKind::DueSoon
    );

    // A critical patch pending, then installed (gone from the pending list), then pending
    // again: a new failure, from its return.
    let patches = |id: i64, at: &str, pending: bool| {
        let rows = if pending {
            r#"{"deviceId": "d1", "name": "KB1", "severity": "CRITICAL", "status": "PENDING", "timestamp": "2026-10-01 09:00"}"#
        } else {
            r#"{"deviceId": "d2", "name": "KB9", "severity": "LOW", "status": "PENDING", "timestamp": "2026-10-01 09:00"}"#
        };
        let text = format!(r#"{{"results": [{rows}]}}"#);
        let parsed = parse("patch", Format::Json, Some("results"), text.as_bytes())
            .expect("the test evidence reads");
        snapshot_of(id, at, parsed)
    };
    let snapshots = [
        patches(1, "2026-11-21T00:00:00Z", true),
        patches(2, "2026-11-22T00:00:00Z", false),
        patches(3, "2026-11-23T00:00:00Z", true),
    ];
    let verdict = run(&patch_none(), "patch", &snapshots, "2026-11-23T06:00:00Z");
    let kb1 = verdict
        .subjects
        .iter()
        .flatten()
        .find(|s| s.subject.as_str().contains("KB1"))
        .expect("KB1");
    assert_eq!(kb1.state.kind(), StateKind::DueSoon, "{}", kb1.reason);
}

#[test]
fn under_any_a_snapshot_that_held_ends_the_run_however_few_its_records() {
    let mut duty = continuous(
        "conditional_access_policy",
        Quantifier::Any,
        None,
        "state == 'enabled' and grant_controls contains 'mfa'",
        "24h",
    );
    if let Rule::Continuous(rule) = &mut duty.rule {
        rule.min_records = 2;
    }
    let policies = |mfa: &str, more: bool| {
        let extra = if more {
            r#", {"displayName": "Block legacy", "state": "enabled", "grantControls": {"builtInControls": ["block"]}}"#
        } else {
            ""
        };
        format!(
            r#"{{"value": [{{"displayName": "MFA", "state": "{mfa}", "grantControls": {{"builtInControls": ["mfa"]}}}}{extra}]}}"#
        )
    };
    let kind = "conditional_access_policy";
    let snapshots = [
        json(1, "2026-11-20T00:00:00Z", kind, &policies("disabled", true)),
        // One record only, fewer than `min_records`, but it holds.
        json(2, "2026-11-21T00:00:00Z", kind, &policies("enabled", false)),
        json(3, "2026-11-23T00:00:00Z", kind, &policies("disabled", true)),
    ];
    let verdict = run(&duty, kind, &snapshots, "2026-11-23T06:00:00Z");
    // Failing since the 23rd, not the 20th: due soon, not lapsed.
    assert_eq!(
        verdict.state.kind(),
        StateKind::DueSoon,
        "{}",
        verdict.reason
    );
    // An undecidable snapshot between two failures neither ends nor restarts the run.
    let snapshots = [
        json(1, "2026-11-20T00:00:00Z", kind, &policies("disabled", true)),
        json(
            2,
            "2026-11-21T00:00:00Z",
            kind,
            r#"{"value": [{"displayName": "MFA", "state": "enabled"}, {"displayName": "Other", "state": "enabled"}]}"#,
        ),
        json(3, "2026-11-23T00:00:00Z", kind, &policies("disabled", true)),
    ];
    let verdict = run(&duty, kind, &snapshots, "2026-11-23T06:00:00Z");
    assert_eq!(
        verdict.state.kind(),
        StateKind::Lapsed,
        "{}",
        verdict.reason
    );
}

#[test]
fn a_verification_never_recorded_says_how_to_record_what_was_looked_at() {
    let mut duty = access_review();
    duty.id = "ver-3.5.3".parse().expect("an id");
    let verdict = run_with(
        &duty,
        "access_review",
        &Collection::Manual,
        &[],
        &[],
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert_reason(
        &verdict.reason,
        &["--duty ver-3.5.3 --file <file> --looked-at \"…\" --outcome satisfied|not-satisfied"],
    );
}

/// A run of failures that reaches back past the window's oldest snapshot began when an
/// earlier evaluation saw it begin (`EvidenceView::failing_since`): its start, deadline and
/// lapse instant stay where they were as the window slides. A run the window shows beginning
/// (the snapshot before it passed) starts there, whatever was carried.
#[test]
fn a_failure_longer_than_the_window_keeps_its_start() {
    let duty = mfa_all();
    let kind = kind("mfa_registration");
    let zone = ny();
    let judge = |snapshots: &[Snapshot], carried: &BTreeMap<Subject, Timestamp>| {
        let view = EvidenceView {
            source: "src",
            kind: &kind,
            zone: &zone,
            collection: &ok(),
            snapshots,
            kept: &[],
            failing_since: carried,
            duty_failing_since: None,
        };
        evaluate(&duty, view, at("2026-11-23T12:00:00Z"))
    };
    let failing = [
        users(1, "2026-11-22T00:00:00Z", false, true),
        users(2, "2026-11-23T00:00:00Z", false, true),
    ];
    let carried: BTreeMap<Subject, Timestamp> =
        [(Subject::new("alice@x"), at("2026-11-10T05:00:00Z"))].into();
    let verdict = judge(&failing, &carried);
    let alice = subject(&verdict, "alice@x");
    assert_eq!(
        alice.state,
        State::Lapsed {
            since: at("2026-11-11T05:00:00Z"),
            overdue: Period::between(at("2026-11-11T05:00:00Z"), at("2026-11-23T12:00:00Z")),
        }
    );
    assert_eq!(alice.failing_since, Some(at("2026-11-10T05:00:00Z")));
    assert_reason(
        &alice.reason,
        &["failing since at least 2026-11-10 00:00 EST; lapsed at 2026-11-11 00:00 EST"],
    );
    // Without what was carried, the window's oldest snapshot is the start.
    let alone = judge(&failing, &crate::evidence::NONE_FAILING);
    assert_eq!(
        subject(&alone, "alice@x").failing_since,
        Some(at("2026-11-22T00:00:00Z"))
    );
    // A pass inside the window ends the run carried from before: the new run starts after it.
    let broken = [
        users(1, "2026-11-22T00:00:00Z", true, true),
        users(2, "2026-11-23T00:00:00Z", false, true),
    ];
    let verdict = judge(&broken, &carried);
    assert_eq!(
        subject(&verdict, "alice@x").failing_since,
        Some(at("2026-11-23T00:00:00Z"))
    );
    assert_eq!(
        subject(&verdict, "alice@x").state,
        State::DueSoon {
            due: at("2026-11-24T00:00:00Z")
        }
    );
    // A subject met now carries nothing.
    assert_eq!(subject(&verdict, "bob@x").failing_since, None);
    // One undecided between (a record that cannot be read): the start is carried on, so the
    // next failure is still the same run.
    let undecided = [csv(
        3,
        "2026-11-23T00:00:00Z",
        "mfa_registration",
        "userPrincipalName,userType,isMfaRegistered\nalice@x,member,maybe\nbob@x,member,true\n",
    )];
    let verdict = judge(&undecided, &carried);
    let alice = subject(&verdict, "alice@x");
    assert_eq!(
        alice.state.kind(),
        StateKind::NoEvidence,
        "{}",
        alice.reason
    );
    assert_eq!(alice.failing_since, Some(at("2026-11-10T05:00:00Z")));
}
