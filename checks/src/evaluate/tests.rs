//! Data-driven cases: a duty, its evidence and an exact `now`, and the
//! verdict that must come out.

use serde_json::{Value, json};

use super::evaluate;
use crate::duty::{Continuous, Duty, EventClock, Quantifier, Recurring, Rule, Step};
use crate::evidence::{Collection, EvidenceId, EvidenceView, Snapshot};
use crate::party::Party;
use crate::period::Period;
use crate::verdict::{State, StateKind, Verdict};

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn period(text: &str) -> Period {
    text.parse().unwrap()
}

fn duty(rule: Rule) -> Duty {
    Duty {
        id: "test-duty".parse().unwrap(),
        title: "test duty".to_owned(),
        objectives: vec!["3.1.1[a]".parse().unwrap()],
        responsible: Party::Contractor,
        source: "src".to_owned(),
        max_age: Some(period("8d")),
        label: Some("name".parse().unwrap()),
        rule,
    }
}

fn snapshot(id: i64, effective_at: &str, records: Value) -> Snapshot {
    let Value::Array(records) = records else {
        panic!("records must be an array")
    };
    Snapshot {
        id: EvidenceId(id),
        effective_at: at(effective_at),
        records,
    }
}

fn run(duty: &Duty, collection: Collection, snapshots: &[Snapshot], now: &str) -> Verdict {
    let view = EvidenceView {
        source: "src",
        collection: &collection,
        snapshots,
    };
    evaluate(duty, view, at(now))
}

fn ok() -> Collection {
    Collection::Ok {
        at: at("2026-11-23T00:00:00Z"),
    }
}

fn access_review() -> Duty {
    duty(Rule::Recurring(Recurring {
        every: period("90d"),
        warn_before: period("14d"),
        completed_at: "signed_off_at".parse().unwrap(),
        filter: Some("decision in ['keep', 'modify', 'revoke']".parse().unwrap()),
    }))
}

fn reviews(signed_off: &str) -> Vec<Snapshot> {
    vec![snapshot(
        7,
        "2026-11-20T00:00:00Z",
        json!([
            {"name": "q1", "decision": "keep", "signed_off_at": "2026-05-01T00:00:00Z"},
            {"name": "q2", "decision": "keep", "signed_off_at": signed_off},
            {"name": "draft", "decision": "", "signed_off_at": "2026-11-19T00:00:00Z"},
        ]),
    )]
}

#[test]
fn recurring_met_before_the_warning_window() {
    let verdict = run(
        &access_review(),
        ok(),
        &reviews("2026-09-01T00:00:00Z"),
        "2026-11-01T00:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::Met {
            next_due: Some(at("2026-11-30T00:00:00Z"))
        }
    );
    assert_eq!(verdict.evidence, vec![EvidenceId(7)]);
    assert!(
        verdict.reason.contains("last done 2026-09-01 00:00 UTC"),
        "{}",
        verdict.reason
    );
}

#[test]
fn recurring_due_soon_exactly_at_the_start_of_the_window() {
    // Due 2026-11-30; the 14-day window opens 2026-11-16 00:00.
    let snapshots = reviews("2026-09-01T00:00:00Z");
    let before = run(&access_review(), ok(), &snapshots, "2026-11-15T23:59:59Z");
    assert_eq!(before.state.kind(), StateKind::Met);
    let verdict = run(&access_review(), ok(), &snapshots, "2026-11-16T00:00:00Z");
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-11-30T00:00:00Z")
        }
    );
    assert!(verdict.reason.contains("in 14d"), "{}", verdict.reason);
}

#[test]
fn recurring_lapses_one_second_after_due_and_says_how_late() {
    let snapshots = reviews("2026-08-20T00:00:00Z");
    let on_time = run(&access_review(), ok(), &snapshots, "2026-11-18T00:00:00Z");
    assert_eq!(on_time.state.kind(), StateKind::DueSoon);
    let verdict = run(&access_review(), ok(), &snapshots, "2026-11-21T06:00:00Z");
    assert_eq!(
        verdict.state,
        State::Lapsed {
            since: at("2026-11-18T00:00:00Z"),
            overdue: period("3d 6h"),
        }
    );
    assert!(
        verdict.reason.contains("3d 6h overdue"),
        "{}",
        verdict.reason
    );
}

#[test]
fn a_lapse_within_the_first_second_is_one_second_overdue_and_reads_back() {
    // Date-only completions put the deadline on a whole second; a cron run
    // lands a few milliseconds after it.
    let snapshots = reviews("2026-08-20");
    let verdict = run(
        &access_review(),
        ok(),
        &snapshots,
        "2026-11-18T00:00:00.004Z",
    );
    let lapsed = State::Lapsed {
        since: at("2026-11-18T00:00:00Z"),
        overdue: period("1s"),
    };
    assert_eq!(verdict.state, lapsed);
    // The store keeps verdicts as JSON; what it writes it must read.
    let stored = serde_json::to_string(&verdict).unwrap();
    assert_eq!(serde_json::from_str::<Verdict>(&stored).unwrap(), verdict);
}

#[test]
fn recurring_ignores_filtered_out_future_and_unreadable_completions() {
    let snapshots = vec![snapshot(
        1,
        "2026-11-20T00:00:00Z",
        json!([
            {"decision": "keep", "signed_off_at": "2026-06-01T00:00:00Z"},
            {"decision": "keep", "signed_off_at": "2027-01-01T00:00:00Z"},
            {"decision": "keep", "signed_off_at": "soon"},
            {"decision": "", "signed_off_at": "2026-11-19T00:00:00Z"},
        ]),
    )];
    let verdict = run(&access_review(), ok(), &snapshots, "2026-11-21T00:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);
    assert!(
        verdict.reason.contains("last done 2026-06-01"),
        "{}",
        verdict.reason
    );
    assert!(
        verdict
            .reason
            .contains("1 record(s) ignored: `signed_off_at` is missing or not a date")
    );
    assert!(
        verdict
            .reason
            .contains("1 record(s) ignored: `signed_off_at` is in the future")
    );
}

#[test]
fn recurring_without_any_completion_is_no_evidence_not_met() {
    let snapshots = vec![snapshot(
        3,
        "2026-11-20T00:00:00Z",
        json!([{"decision": ""}]),
    )];
    let verdict = run(&access_review(), ok(), &snapshots, "2026-11-21T00:00:00Z");
    assert_eq!(verdict.state, State::NoEvidence);
    assert!(
        verdict.reason.contains("no completion found"),
        "{}",
        verdict.reason
    );
}

#[test]
fn a_failed_collector_is_source_error_even_with_good_old_evidence() {
    let failed = Collection::Failed {
        since: at("2026-11-22T06:00:00Z"),
        error: "reading evidence/reviews.csv: permission denied".to_owned(),
    };
    let verdict = run(
        &access_review(),
        failed,
        &reviews("2026-11-01T00:00:00Z"),
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(
        verdict.state,
        State::SourceError {
            since: at("2026-11-22T06:00:00Z"),
            error: "reading evidence/reviews.csv: permission denied".to_owned()
        }
    );
    assert!(verdict.reason.contains("permission denied"));
}

#[test]
fn nothing_collected_is_no_evidence() {
    let verdict = run(
        &access_review(),
        Collection::NeverRun,
        &[],
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(verdict.state, State::NoEvidence);
    assert!(verdict.reason.contains("not been collected yet"));
    let manual = run(
        &access_review(),
        Collection::Manual,
        &[],
        "2026-11-23T00:00:00Z",
    );
    assert_eq!(manual.state, State::NoEvidence);
    assert!(
        manual
            .reason
            .contains("dutywatch evidence add --duty test-duty"),
        "{}",
        manual.reason
    );
}

#[test]
fn stale_evidence_beats_a_completion_it_shows() {
    // Evidence as of 2026-11-10 is 13 days old on 11-23; max age 8d.
    let mut snapshots = reviews("2026-11-01T00:00:00Z");
    snapshots[0].effective_at = at("2026-11-10T00:00:00Z");
    let verdict = run(&access_review(), ok(), &snapshots, "2026-11-23T00:00:00Z");
    assert_eq!(
        verdict.state,
        State::StaleEvidence {
            as_of: at("2026-11-10T00:00:00Z"),
            age: period("13d"),
            max_age: period("8d"),
        }
    );
    // Exactly at the limit it is still fresh.
    let verdict = run(&access_review(), ok(), &snapshots, "2026-11-18T00:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::Met);
}

fn mfa_enforced() -> Duty {
    duty(Rule::Continuous(Continuous {
        expect: Quantifier::All,
        filter: Some("userType == 'member'".parse().unwrap()),
        check: "isMfaRegistered == true".parse().unwrap(),
        min_records: 1,
        tolerance: period("24h"),
    }))
}

fn users(id: i64, as_of: &str, bob_registered: bool) -> Snapshot {
    snapshot(
        id,
        as_of,
        json!([
            {"name": "alice", "userType": "member", "isMfaRegistered": true},
            {"name": "bob", "userType": "member", "isMfaRegistered": bob_registered},
            {"name": "guest", "userType": "guest", "isMfaRegistered": false},
        ]),
    )
}

#[test]
fn continuous_met_while_the_condition_holds() {
    let verdict = run(
        &mfa_enforced(),
        ok(),
        &[users(1, "2026-11-23T00:00:00Z", true)],
        "2026-11-23T01:00:00Z",
    );
    assert_eq!(verdict.state, State::Met { next_due: None });
    assert!(
        verdict.reason.contains("checked over 2 record(s)"),
        "{}",
        verdict.reason
    );
}

#[test]
fn continuous_within_tolerance_is_due_soon_naming_the_offender() {
    let snapshots = [
        users(1, "2026-11-22T00:00:00Z", true),
        users(2, "2026-11-22T12:00:00Z", false),
        users(3, "2026-11-23T00:00:00Z", false),
    ];
    let verdict = run(&mfa_enforced(), ok(), &snapshots, "2026-11-23T06:00:00Z");
    assert_eq!(
        verdict.state,
        State::DueSoon {
            due: at("2026-11-23T12:00:00Z")
        }
    );
    assert!(
        verdict.reason.contains("1 of 2 record(s) break it: bob"),
        "{}",
        verdict.reason
    );
    assert!(
        verdict
            .reason
            .contains("failing since 2026-11-22 12:00 UTC")
    );
    assert_eq!(verdict.evidence, vec![EvidenceId(2), EvidenceId(3)]);
}

#[test]
fn continuous_lapses_once_failing_longer_than_the_tolerance() {
    let snapshots = [
        users(1, "2026-11-22T00:00:00Z", true),
        users(2, "2026-11-22T12:00:00Z", false),
        users(3, "2026-11-23T12:00:00Z", false),
    ];
    let at_limit = run(&mfa_enforced(), ok(), &snapshots, "2026-11-23T12:00:00Z");
    assert_eq!(at_limit.state.kind(), StateKind::DueSoon);
    let verdict = run(&mfa_enforced(), ok(), &snapshots, "2026-11-23T12:30:00Z");
    assert_eq!(
        verdict.state,
        State::Lapsed {
            since: at("2026-11-23T12:00:00Z"),
            overdue: period("30m"),
        }
    );
}

#[test]
fn continuous_never_seen_holding_says_at_least() {
    let snapshots = [users(5, "2026-11-20T00:00:00Z", false)];
    let verdict = run(&mfa_enforced(), ok(), &snapshots, "2026-11-23T00:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);
    assert!(
        verdict.reason.contains("failing since at least 2026-11-20"),
        "{}",
        verdict.reason
    );
}

#[test]
fn continuous_over_no_matching_records_is_no_evidence() {
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([{"name": "g", "userType": "guest"}]),
    )];
    let verdict = run(&mfa_enforced(), ok(), &snapshots, "2026-11-23T01:00:00Z");
    assert_eq!(verdict.state, State::NoEvidence);
    assert!(
        verdict.reason.contains("0 matching record(s)"),
        "{}",
        verdict.reason
    );
}

#[test]
fn continuous_none_quantifier_passes_on_an_empty_report() {
    let duty = duty(Rule::Continuous(Continuous {
        expect: Quantifier::None,
        filter: None,
        check: "severity == 'CRITICAL' and timestamp < now-14d"
            .parse()
            .unwrap(),
        min_records: 0,
        tolerance: period("1d"),
    }));
    let empty = [snapshot(1, "2026-11-23T00:00:00Z", json!([]))];
    assert_eq!(
        run(&duty, ok(), &empty, "2026-11-23T01:00:00Z")
            .state
            .kind(),
        StateKind::Met
    );
    let old_critical = [snapshot(
        2,
        "2026-11-23T00:00:00Z",
        json!([{"name": "KB1", "severity": "CRITICAL", "timestamp": 1_760_000_000.0}]),
    )];
    let verdict = run(&duty, ok(), &old_critical, "2026-11-23T01:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::DueSoon);
    assert!(verdict.reason.contains("KB1"), "{}", verdict.reason);
}

fn incident_clock() -> Duty {
    duty(Rule::EventClock(EventClock {
        event_id: "id".parse().unwrap(),
        filter: Some("classification != 'falsePositive'".parse().unwrap()),
        steps: vec![
            Step {
                name: "hand-off to contractor".to_owned(),
                starts: "detected_at".parse().unwrap(),
                done: "handed_off_at".parse().unwrap(),
                within: period("24h"),
                warn_before: period("24h"),
            },
            Step {
                name: "report to DoD".to_owned(),
                starts: "discovered_at".parse().unwrap(),
                done: "reported_at".parse().unwrap(),
                within: period("72h"),
                warn_before: period("72h"),
            },
        ],
    }))
}

#[test]
fn event_clock_without_open_steps_is_met() {
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([{"id": "INC-1", "detected_at": "2026-11-01T00:00:00Z", "handed_off_at": "2026-11-01T05:00:00Z",
                "discovered_at": "2026-11-01T06:00:00Z", "reported_at": "2026-11-02T06:00:00Z"}]),
    )];
    let verdict = run(&incident_clock(), ok(), &snapshots, "2026-11-23T01:00:00Z");
    assert_eq!(verdict.state, State::Met { next_due: None });
    assert!(verdict.reason.contains("no open step in 1 event(s)"));
}

#[test]
fn event_clock_open_report_is_due_soon_then_lapsed_at_72_hours() {
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([
            {"id": "INC-7", "detected_at": "2026-11-20T08:00:00Z", "handed_off_at": "2026-11-20T10:00:00Z",
             "discovered_at": "2026-11-20T12:00:00Z"},
            {"id": "FP-1", "classification": "FalsePositive", "detected_at": "2026-11-01T00:00:00Z"},
        ]),
    )];
    let running = run(&incident_clock(), ok(), &snapshots, "2026-11-22T12:00:00Z");
    assert_eq!(
        running.state,
        State::DueSoon {
            due: at("2026-11-23T12:00:00Z")
        }
    );
    assert!(
        running
            .reason
            .contains("event INC-7: report to DoD is due by 2026-11-23 12:00 UTC (in 1d)"),
        "{}",
        running.reason
    );
    let lapsed = run(&incident_clock(), ok(), &snapshots, "2026-11-23T12:00:01Z");
    assert_eq!(
        lapsed.state,
        State::Lapsed {
            since: at("2026-11-23T12:00:00Z"),
            overdue: period("1s"),
        }
    );
}

#[test]
fn event_clock_reports_the_worst_step_and_notes_late_completions() {
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([
            {"id": "A", "detected_at": "2026-11-22T20:00:00Z"},
            {"id": "B", "detected_at": "2026-11-10T00:00:00Z", "handed_off_at": "2026-11-12T00:00:00Z",
             "discovered_at": "2026-11-12T00:00:00Z", "reported_at": "2026-11-13T00:00:00Z"},
            {"id": "C", "detected_at": "2026-11-20T00:00:00Z"},
            {"detected_at": "2026-11-20T00:00:00Z"},
        ]),
    )];
    let verdict = run(&incident_clock(), ok(), &snapshots, "2026-11-23T00:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);
    assert!(verdict.reason.starts_with("event C: hand-off to contractor was due 2026-11-21 00:00 UTC and is 2d overdue (2 more open step(s))"), "{}", verdict.reason);
    assert!(
        verdict
            .reason
            .contains("completed late: B: hand-off to contractor done 1d late")
    );
    assert!(
        verdict
            .reason
            .contains("1 event(s) without `id`, named by their record number")
    );
}

#[test]
fn an_event_without_its_id_still_runs_its_clock() {
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([{"detected_at": "2026-11-20T00:00:00Z", "handed_off_at": ""}]),
    )];
    let verdict = run(&incident_clock(), ok(), &snapshots, "2026-11-23T00:00:00Z");
    assert_eq!(
        verdict.state,
        State::Lapsed {
            since: at("2026-11-21T00:00:00Z"),
            overdue: period("2d"),
        }
    );
    assert!(
        verdict
            .reason
            .starts_with("event record 1: hand-off to contractor"),
        "{}",
        verdict.reason
    );
}

#[test]
fn an_unreadable_start_time_is_never_met() {
    // A spreadsheet's local date format: present, but not a date we can read.
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([
            {"id": "INC-1", "detected_at": "2026-11-01T00:00:00Z", "handed_off_at": "2026-11-01T05:00:00Z"},
            {"id": "INC-7", "detected_at": "03/02/2026 09:12", "handed_off_at": ""},
        ]),
    )];
    let verdict = run(&incident_clock(), ok(), &snapshots, "2026-11-23T01:00:00Z");
    assert_eq!(verdict.state, State::NoEvidence);
    assert!(
        verdict
            .reason
            .contains("whether the clock runs is unknown: INC-7 `detected_at`"),
        "{}",
        verdict.reason
    );

    // A running clock elsewhere still decides, with the unknown one named.
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([
            {"id": "INC-2", "detected_at": "2026-11-22T12:00:00Z"},
            {"id": "INC-7", "detected_at": "03/02/2026 09:12"},
        ]),
    )];
    let verdict = run(&incident_clock(), ok(), &snapshots, "2026-11-23T01:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::DueSoon);
    assert!(
        verdict.reason.contains("INC-7 `detected_at`"),
        "{}",
        verdict.reason
    );

    // A clock that runs but is not due soon yet does not vouch for the unknown one.
    let mut relaxed = incident_clock();
    if let Rule::EventClock(rule) = &mut relaxed.rule {
        rule.steps[0].warn_before = period("1h");
        rule.steps[1].warn_before = period("1h");
    }
    let verdict = run(&relaxed, ok(), &snapshots, "2026-11-23T01:00:00Z");
    assert_eq!(verdict.state, State::NoEvidence, "{}", verdict.reason);
    assert!(verdict.reason.contains("is running"), "{}", verdict.reason);
}

#[test]
fn an_unreadable_completion_does_not_stop_the_clock() {
    let snapshots = [snapshot(
        1,
        "2026-11-23T00:00:00Z",
        json!([{"id": "INC-3", "detected_at": "2026-11-20T00:00:00Z", "handed_off_at": "yesterday"}]),
    )];
    let verdict = run(&incident_clock(), ok(), &snapshots, "2026-11-23T00:00:00Z");
    assert_eq!(verdict.state.kind(), StateKind::Lapsed);
    assert!(
        verdict
            .reason
            .contains("not a date, so not counted as done: INC-3 `handed_off_at`"),
        "{}",
        verdict.reason
    );
}

#[test]
fn verdicts_serialize_with_a_state_tag() {
    let verdict = run(
        &access_review(),
        ok(),
        &reviews("2026-08-20T00:00:00Z"),
        "2026-11-21T06:00:00Z",
    );
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["state"]["state"], "lapsed");
    assert_eq!(json["state"]["overdue"], "3d 6h");
    let back: Verdict = serde_json::from_value(json).unwrap();
    assert_eq!(back, verdict);
}

/// With no new evidence, time can only make things worse: met, then due
/// soon, then lapsed, never back; and the switches happen exactly at the
/// instants the rule defines.
#[test]
fn without_new_evidence_states_only_worsen_as_time_passes() {
    fn rank(kind: StateKind) -> u8 {
        match kind {
            StateKind::Met => 0,
            StateKind::DueSoon => 1,
            StateKind::Lapsed => 2,
            other => panic!("unexpected {other}"),
        }
    }
    let mut recurring = access_review();
    recurring.max_age = None;
    let mut continuous = mfa_enforced();
    continuous.max_age = None;
    let cases = [
        // Done 09-01 (and exported then), every 90d, 14d warning: due 11-30.
        (
            recurring,
            exported_at(reviews("2026-09-01T00:00:00Z"), "2026-09-01T00:00:00Z"),
            "2026-11-16T00:00:00Z",
            "2026-11-30T00:00:01Z",
        ),
        // Failing from 11-22 with a 24h tolerance.
        (
            continuous,
            vec![
                users(1, "2026-11-20T00:00:00Z", true),
                users(2, "2026-11-22T00:00:00Z", false),
            ],
            "2026-11-22T00:00:00Z",
            "2026-11-23T00:00:01Z",
        ),
    ];
    for (duty, snapshots, due_soon_at, lapsed_at) in cases {
        let switches = [at(due_soon_at), at(lapsed_at)];
        let mut now = at("2026-11-22T00:00:00Z") - jiff::SignedDuration::from_hours(24 * 100);
        let end = at("2027-01-01T00:00:00Z");
        let mut worst = 0;
        let mut first_seen = [None, None];
        while now < end {
            // Evidence does not exist before it was collected.
            let known: Vec<Snapshot> = snapshots
                .iter()
                .filter(|s| s.effective_at <= now)
                .cloned()
                .collect();
            if !known.is_empty() {
                let view = EvidenceView {
                    source: "src",
                    collection: &ok(),
                    snapshots: &known,
                };
                let kind = evaluate(&duty, view, now).state.kind();
                let rank = rank(kind);
                assert!(
                    rank >= worst,
                    "{}: {kind} at {now} after a worse state",
                    duty.id
                );
                worst = rank;
                for (level, seen) in first_seen.iter_mut().enumerate() {
                    if usize::from(rank) > level && seen.is_none() {
                        *seen = Some(now);
                    }
                }
            }
            // On the hour, but every second close to a switch.
            let close = switches
                .iter()
                .any(|s| (s.as_second() - now.as_second()).abs() <= 2);
            let step = if close {
                1
            } else {
                3600 - now.as_second().rem_euclid(3600)
            };
            now += jiff::SignedDuration::from_secs(step);
        }
        assert_eq!(
            first_seen,
            [Some(switches[0]), Some(switches[1])],
            "{}",
            duty.id
        );
    }
}

fn exported_at(mut snapshots: Vec<Snapshot>, effective_at: &str) -> Vec<Snapshot> {
    for snapshot in &mut snapshots {
        snapshot.effective_at = at(effective_at);
    }
    snapshots
}
