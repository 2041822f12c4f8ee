//! Exact-`now` tests of the incident clocks and warnings.

use super::*;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn h(hours: i64) -> SignedDuration {
    SignedDuration::from_hours(hours)
}

fn entry(step: Step, at: &str, by: &str) -> Entry {
    Entry {
        step,
        at: ts(at),
        by: by.to_owned(),
        note: None,
        report_number: None,
    }
}

fn incident(entries: Vec<Entry>) -> Incident {
    Incident {
        id: "INC-7".to_owned(),
        title: Some("Phishing".to_owned()),
        severity: Some("high".to_owned()),
        classification: Some("truePositive".to_owned()),
        reportable: true,
        terms: None,
        entries,
    }
}

fn keys(warnings: &[Warning]) -> Vec<String> {
    warnings.iter().map(|w| w.key.clone()).collect()
}

fn clock(incident: &Incident, name: ClockName, now: &str) -> Deadline {
    clocks(incident, &Policy::default(), ts(now))
        .into_iter()
        .find(|d| d.clock == name)
        .unwrap()
}

#[test]
fn until_discovery_is_recorded_the_report_clock_runs_from_detection() {
    let inc = incident(vec![entry(
        Step::Detected,
        "2026-11-23T09:00:00Z",
        "defender",
    )]);
    let report = clock(&inc, ClockName::Report, "2026-11-23T10:00:00Z");
    assert_eq!(report.basis, Some(Basis::Detection));
    assert_eq!(report.due, ts("2026-11-26T09:00:00Z"));
    assert_eq!(report.left, Some(h(71)));

    let mut inc = inc;
    inc.entries
        .push(entry(Step::Discovered, "2026-11-23T15:00:00Z", "chris"));
    let report = clock(&inc, ClockName::Report, "2026-11-23T15:00:00Z");
    assert_eq!(report.basis, Some(Basis::Discovery));
    assert_eq!(report.due, ts("2026-11-26T15:00:00Z"));
    assert_eq!(report.left, Some(h(72)));
}

#[test]
fn the_report_ladder_warns_at_24_48_60_68_hours_and_lapses_at_72() {
    let inc = incident(vec![
        entry(Step::Detected, "2026-11-23T09:00:00Z", "defender"),
        entry(Step::HandedOff, "2026-11-23T10:00:00Z", "soc"),
        entry(Step::Acknowledged, "2026-11-23T10:30:00Z", "chris"),
        entry(Step::Discovered, "2026-11-23T12:00:00Z", "chris"),
    ]);
    let p = Policy::default();
    let at = |now: &str| warnings_due(&inc, &p, ts(now));
    assert!(at("2026-11-24T11:59:59Z").is_empty(), "before 24 h nothing");
    let w = at("2026-11-24T12:00:00Z");
    assert_eq!(keys(&w), ["incident:INC-7:report-24h"]);
    assert_eq!(w[0].left, h(48));
    assert_eq!(
        w[0].recipients,
        [
            (Party::Contractor, Seniority::Primary),
            (Party::Msp, Seniority::Primary)
        ]
    );
    assert_eq!(w[0].missing, [Step::Reported]);
    let w = at("2026-11-25T12:00:00Z");
    assert_eq!(keys(&w), ["incident:INC-7:report-48h"]);
    assert_eq!(w[0].left, h(24));
    assert_eq!(w[0].recipients[0], (Party::Contractor, Seniority::Backup));
    let w = at("2026-11-26T00:00:00Z");
    assert_eq!(keys(&w), ["incident:INC-7:report-60h"]);
    assert_eq!(w[0].left, h(12));
    assert_eq!(w[0].recipients[1], (Party::Msp, Seniority::Management));
    let w = at("2026-11-26T08:00:00Z");
    assert_eq!(keys(&w), ["incident:INC-7:report-68h"]);
    assert_eq!(w[0].left, h(4));
    let w = at("2026-11-26T12:00:00Z");
    assert_eq!(keys(&w), ["incident:INC-7:report-lapsed"]);
    assert!(w[0].lapsed);
    assert_eq!(w[0].left, SignedDuration::ZERO);
}

#[test]
fn a_daemon_back_late_sends_the_rung_reached_last_not_every_rung() {
    let inc = incident(vec![
        entry(Step::Detected, "2026-11-23T09:00:00Z", "defender"),
        entry(Step::HandedOff, "2026-11-23T10:00:00Z", "soc"),
        entry(Step::Acknowledged, "2026-11-23T10:30:00Z", "chris"),
    ]);
    let w = warnings_due(&inc, &Policy::default(), ts("2026-11-25T11:00:00Z"));
    assert_eq!(keys(&w), ["incident:INC-7:report-48h"]);
    assert_eq!(w[0].left, h(22));
    assert_eq!(w[0].basis, Some(Basis::Detection));
    assert_eq!(w[0].missing, [Step::Discovered, Step::Reported]);
}

#[test]
fn an_overdue_handoff_warns_the_msp_backup_and_the_contractor() {
    let policy = Policy {
        terms: Terms {
            handoff_within: h(4),
            ..Terms::default()
        },
        ..Policy::default()
    };
    let inc = incident(vec![entry(
        Step::Detected,
        "2026-11-23T09:00:00Z",
        "defender",
    )]);
    assert!(warnings_due(&inc, &policy, ts("2026-11-23T12:59:59Z")).is_empty());
    let w = warnings_due(&inc, &policy, ts("2026-11-23T13:00:00Z"));
    assert_eq!(keys(&w), ["incident:INC-7:handoff-overdue"]);
    assert_eq!(
        w[0].recipients,
        [
            (Party::Msp, Seniority::Backup),
            (Party::Contractor, Seniority::Primary)
        ]
    );
}

#[test]
fn an_unacknowledged_handoff_warns_the_contractor_backup() {
    let inc = incident(vec![
        entry(Step::Detected, "2026-11-23T09:00:00Z", "defender"),
        entry(Step::HandedOff, "2026-11-23T10:00:00Z", "soc"),
    ]);
    let p = Policy::default();
    assert!(warnings_due(&inc, &p, ts("2026-11-23T13:59:00Z")).is_empty());
    let w = warnings_due(&inc, &p, ts("2026-11-23T14:00:00Z"));
    assert_eq!(keys(&w), ["incident:INC-7:ack-overdue"]);
    assert_eq!(w[0].recipients, [(Party::Contractor, Seniority::Backup)]);
}

#[test]
fn a_report_on_time_stops_the_ladder_and_starts_preservation_and_the_prime() {
    let mut rep = entry(Step::Reported, "2026-11-24T09:00:00Z", "chris");
    rep.report_number = Some("DIB-1".to_owned());
    let inc = incident(vec![
        entry(Step::Detected, "2026-11-23T09:00:00Z", "defender"),
        entry(Step::HandedOff, "2026-11-23T10:00:00Z", "soc"),
        entry(Step::Acknowledged, "2026-11-23T10:30:00Z", "chris"),
        rep,
    ]);
    let policy = Policy {
        terms: Terms {
            subcontractor: true,
            ..Terms::default()
        },
        ..Policy::default()
    };
    assert_eq!(inc.report_number(), Some("DIB-1"));
    assert_eq!(inc.preserve_until(), Some(ts("2027-02-22T09:00:00Z")));
    let w = warnings_due(&inc, &policy, ts("2026-11-25T09:00:00Z"));
    assert_eq!(keys(&w), ["incident:INC-7:prime-overdue"]);
    // 14 days before the 90 end: the reminder.
    let w = warnings_due(&inc, &policy, ts("2027-02-08T08:59:59Z"));
    assert_eq!(keys(&w), ["incident:INC-7:prime-overdue"]);
    let w = warnings_due(&inc, &policy, ts("2027-02-08T09:00:00Z"));
    assert!(keys(&w).contains(&"incident:INC-7:preservation-ending".to_owned()));
    assert_eq!(
        w.iter()
            .find(|w| w.step == WarningStep::PreservationEnding)
            .unwrap()
            .left,
        h(14 * 24)
    );
    assert!(inc.close_blocker(ts("2027-02-22T08:59:59Z")).is_some());
    assert_eq!(inc.close_blocker(ts("2027-02-22T09:00:00Z")), None);
}

#[test]
fn a_discovery_across_the_spring_dst_change_still_gets_72_wall_clock_hours() {
    // 01:30 EST on 2026-03-08; clocks go forward at 02:00 that night.
    let zone = TimeZone::get("America/New_York").unwrap();
    let discovered = jiff::civil::datetime(2026, 3, 8, 1, 30, 0, 0)
        .to_zoned(zone.clone())
        .unwrap()
        .timestamp();
    assert_eq!(discovered, ts("2026-03-08T06:30:00Z"));
    let inc = incident(vec![
        entry(Step::Detected, "2026-03-08T06:00:00Z", "sentinel"),
        entry(Step::HandedOff, "2026-03-08T06:10:00Z", "soc"),
        entry(Step::Acknowledged, "2026-03-08T06:20:00Z", "chris"),
        entry(Step::Discovered, "2026-03-08T06:30:00Z", "chris"),
    ]);
    let report = clock(&inc, ClockName::Report, "2026-03-08T06:30:00Z");
    assert_eq!(report.due, ts("2026-03-11T06:30:00Z"));
    // Local 02:30 EDT, not 01:30: three calendar days would be an hour short.
    assert_eq!(
        report.due.to_zoned(zone).datetime(),
        jiff::civil::datetime(2026, 3, 11, 2, 30, 0, 0)
    );
    let p = Policy::default();
    // 01:30 local the next day is only 23 hours later.
    assert!(warnings_due(&inc, &p, ts("2026-03-09T05:30:00Z")).is_empty());
    let w = warnings_due(&inc, &p, ts("2026-03-09T06:30:00Z"));
    assert_eq!(keys(&w), ["incident:INC-7:report-24h"]);
    assert_eq!(w[0].left, h(48));
}

#[test]
fn steps_keep_their_order() {
    let inc = incident(vec![entry(
        Step::Detected,
        "2026-11-23T09:00:00Z",
        "defender",
    )]);
    let at = ts("2026-11-23T10:00:00Z");
    assert_eq!(
        inc.check_step(Step::Acknowledged, at),
        Err(StepError::OutOfOrder {
            step: Step::Acknowledged,
            needs: Step::HandedOff
        })
    );
    assert!(matches!(
        inc.check_step(Step::PrimeNotified, at),
        Err(StepError::OutOfOrder { .. })
    ));
    assert!(matches!(
        inc.check_step(Step::HandedOff, ts("2026-11-23T08:00:00Z")),
        Err(StepError::BeforeDetection { .. })
    ));
    assert_eq!(inc.check_step(Step::HandedOff, at), Ok(()));
    let mut done = inc.clone();
    done.entries
        .push(entry(Step::HandedOff, "2026-11-23T10:00:00Z", "soc"));
    assert!(matches!(
        done.check_step(Step::HandedOff, at),
        Err(StepError::Already { .. })
    ));
    assert!(matches!(
        done.check_step(Step::Acknowledged, ts("2026-11-23T09:30:00Z")),
        Err(StepError::Earlier { .. })
    ));
    // Not reported: a reportable incident does not close without force.
    let blocker = done.close_blocker(at).unwrap();
    assert_eq!(blocker, Blocker::NotReported);
    assert!(blocker.to_string().contains("not reported"));
    done.entries
        .push(entry(Step::Closed, "2026-11-23T11:00:00Z", "chris"));
    assert_eq!(done.check_step(Step::Reported, at), Err(StepError::Closed));
    assert!(clocks(&done, &Policy::default(), at).is_empty());
}

#[test]
fn hours_are_said_exactly() {
    assert_eq!(hours_text(h(48)), "48 hours");
    assert_eq!(hours_text(h(1)), "1 hour");
    assert_eq!(
        hours_text(h(47) + SignedDuration::from_mins(55)),
        "47 hours 55 minutes"
    );
    assert_eq!(hours_text(SignedDuration::from_mins(-35)), "35 minutes");
    assert_eq!(hours_text(h(95)), "95 hours");
    assert_eq!(hours_text(h(96)), "4 days");
    assert_eq!(hours_text(h(14 * 24 + 5)), "14 days 5 hours");
}

fn seen(
    severity: Option<&str>,
    class: Option<&str>,
    tags: &[&str],
    ty: Option<&str>,
) -> Observation {
    Observation {
        id: "1".to_owned(),
        aliases: vec!["1".to_owned()],
        title: None,
        severity: severity.map(str::to_owned),
        classification: class.map(str::to_owned),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        record_type: ty.map(str::to_owned),
        steps: Vec::new(),
        ahead: Vec::new(),
        report_number: None,
    }
}

#[test]
fn the_policy_decides_what_opens_a_clock() {
    let policy = Reportable {
        severities: vec!["high".to_owned(), "medium".to_owned()],
        tags: vec!["CUI".to_owned()],
        ..Reportable::default()
    };
    assert!(policy.opens(&seen(Some("High"), Some("truePositive"), &[], None)));
    assert!(policy.opens(&seen(Some("medium"), None, &[], None)));
    assert!(!policy.opens(&seen(Some("low"), None, &[], None)));
    assert!(
        policy.opens(&seen(Some("low"), None, &["cui"], None)),
        "a tag opens one"
    );
    assert!(!policy.opens(&seen(Some("High"), Some("FalsePositive"), &[], None)));
    assert!(!policy.opens(&seen(Some("high"), Some("false_positive"), &[], None)));
    assert!(
        !policy.opens(&seen(Some("high"), None, &[], Some("Alert"))),
        "an alert opens nothing"
    );
    assert!(
        !policy.opens(&seen(None, None, &[], None)),
        "no severity: not on the list"
    );
    assert!(Reportable::default().opens(&seen(None, None, &[], None)));
}

fn record(fields: &[(&str, FieldValue)]) -> Record {
    Record::new(
        None,
        crate::record::Position::Record(1),
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn text(t: &str) -> FieldValue {
    FieldValue::Text(t.into())
}

#[test]
fn a_sentinel_incident_mirrored_from_defender_takes_the_defender_id() {
    let at = FieldValue::Time(crate::time::When::At(ts("2026-11-23T09:00:00Z")));
    let defender = observe(
        &record(&[("id", text("2972395")), ("detected_at", at.clone())]),
        &TimeZone::UTC,
        ts("2026-11-24T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(defender.id, "2972395");
    let path = "/subscriptions/s/resourceGroups/r/providers/Microsoft.OperationalInsights/workspaces/w/providers/Microsoft.SecurityInsights/incidents/73e01a99";
    let mirrored = observe(
        &record(&[
            ("id", text(path)),
            ("provider_name", text("Microsoft 365 Defender")),
            ("provider_incident_id", text("2972395")),
            ("detected_at", at.clone()),
        ]),
        &TimeZone::UTC,
        ts("2026-11-24T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(mirrored.id, "2972395");
    assert_eq!(mirrored.aliases, ["2972395", "73e01a99", path]);
    // Sentinel's own incidents number themselves: never taken for a Defender id.
    let native = observe(
        &record(&[
            ("id", text(path)),
            ("provider_name", text("Azure Sentinel")),
            ("provider_incident_id", text("3177")),
            ("detected_at", at),
        ]),
        &TimeZone::UTC,
        ts("2026-11-24T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(native.id, "73e01a99");
    let capital = observe(
        &record(&[
            ("id", text(&path.replace("/incidents/", "/Incidents/"))),
            (
                "detected_at",
                FieldValue::Time(crate::time::When::At(ts("2026-11-23T09:00:00Z"))),
            ),
        ]),
        &TimeZone::UTC,
        ts("2026-11-24T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(capital.id, "73e01a99");
    assert!(!native.aliases.contains(&"3177".to_owned()));
}

#[test]
fn a_defender_incident_merged_into_another_is_that_incident() {
    let at = FieldValue::Time(crate::time::When::At(ts("2026-11-23T09:00:00Z")));
    let merged = observe(
        &record(&[
            ("id", text("2972396")),
            ("redirect_incident_id", text("2972395")),
            ("detected_at", at),
        ]),
        &TimeZone::UTC,
        ts("2026-11-24T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(merged.id, "2972395");
    assert_eq!(merged.aliases, ["2972395", "2972396"]);
}

#[test]
fn the_next_step_is_the_running_clock_due_first() {
    let inc = incident(vec![entry(
        Step::Detected,
        "2026-11-23T09:00:00Z",
        "defender",
    )]);
    let p = Policy::default();
    // Hand-off due at 24 h, the report (from detection) at 72 h: the hand-off is next.
    let all = clocks(&inc, &p, ts("2026-11-23T10:00:00Z"));
    let next = next_deadline(&all).unwrap();
    assert_eq!(next.clock, ClockName::Handoff);
    assert_eq!(next.stopped_by(), Step::HandedOff);

    // Handed off and acknowledged: the report is what is left, overdue or not.
    let mut inc = inc;
    inc.entries
        .push(entry(Step::HandedOff, "2026-11-23T11:00:00Z", "soc"));
    inc.entries
        .push(entry(Step::Acknowledged, "2026-11-23T12:00:00Z", "chris"));
    let all = clocks(&inc, &p, ts("2026-11-27T09:00:00Z"));
    let next = next_deadline(&all).unwrap();
    assert_eq!(next.stopped_by(), Step::Reported);
    assert!(next.overdue());

    // Reported: preservation runs until its release; the report clock is done.
    inc.entries
        .push(entry(Step::Reported, "2026-11-27T10:00:00Z", "chris"));
    let all = clocks(&inc, &p, ts("2026-11-27T11:00:00Z"));
    assert_eq!(next_deadline(&all).unwrap().stopped_by(), Step::Released);

    inc.entries
        .push(entry(Step::Closed, "2026-11-27T12:00:00Z", "chris"));
    assert!(next_deadline(&clocks(&inc, &p, ts("2026-11-27T13:00:00Z"))).is_none());
}

#[test]
fn steps_dated_ahead_of_now_are_set_apart_and_a_detection_is_taken_as_of_now() {
    let now = ts("2026-11-24T00:00:00Z");
    let time = |text: &str| FieldValue::Time(crate::time::When::At(ts(text)));
    let seen = observe(
        &record(&[
            ("id", text("INC-7")),
            ("detected_at", time("2026-11-23T08:00:00Z")),
            // Two minutes ahead: two systems' clocks, taken as stated.
            ("handed_off_at", time("2026-11-24T00:02:00Z")),
            ("discovered_at", time("2027-01-01T00:00:00Z")),
            ("reported_at", time("2027-06-25T00:00:00Z")),
        ]),
        &TimeZone::UTC,
        now,
    )
    .unwrap();
    assert_eq!(
        seen.steps,
        [
            (Step::Detected, ts("2026-11-23T08:00:00Z"), None),
            (Step::HandedOff, ts("2026-11-24T00:02:00Z"), None),
        ]
    );
    assert_eq!(
        seen.ahead,
        [
            (Step::Discovered, ts("2027-01-01T00:00:00Z")),
            (Step::Reported, ts("2027-06-25T00:00:00Z")),
        ]
    );
    let detected_ahead = observe(
        &record(&[
            ("id", text("INC-8")),
            ("detected_at", time("2027-03-01T00:00:00Z")),
        ]),
        &TimeZone::UTC,
        now,
    )
    .unwrap();
    assert_eq!(detected_ahead.steps, [(Step::Detected, now, None)]);
    assert_eq!(
        detected_ahead.ahead,
        [(Step::Detected, ts("2027-03-01T00:00:00Z"))]
    );
}

#[test]
fn a_deadline_on_record_says_what_became_of_it_and_by_how_much() {
    let due = ts("2026-11-23T06:00:00Z");
    let deadline = |clock, done: Option<&str>, now: &str| Deadline {
        clock,
        starts: ts("2026-11-20T06:00:00Z"),
        due,
        done: done.map(ts),
        left: done.is_none().then(|| due.duration_since(ts(now))),
        basis: None,
    };
    let hours = |h: i64| Some(SignedDuration::from_hours(h));
    let cases = [
        // (clock, done, as of, closed) → outcome, by how much
        (
            ClockName::Report,
            Some("2026-11-22T06:00:00Z"),
            "2026-11-24T00:00:00Z",
            false,
            Outcome::Kept,
            None,
        ),
        (
            ClockName::Report,
            Some("2026-11-24T07:00:00Z"),
            "2026-11-25T00:00:00Z",
            false,
            Outcome::Missed,
            hours(25),
        ),
        (
            ClockName::Report,
            None,
            "2026-11-22T06:00:00Z",
            false,
            Outcome::Running,
            None,
        ),
        (
            ClockName::Report,
            None,
            "2026-11-23T16:00:00Z",
            false,
            Outcome::Overdue,
            hours(10),
        ),
        (
            ClockName::Report,
            None,
            "2026-11-24T12:00:00Z",
            true,
            Outcome::MissedNotDone,
            hours(30),
        ),
        (
            ClockName::Report,
            None,
            "2026-11-21T06:00:00Z",
            true,
            Outcome::ClosedBeforeDue,
            None,
        ),
        (
            ClockName::Preservation,
            None,
            "2026-11-22T06:00:00Z",
            false,
            Outcome::Holding,
            None,
        ),
        (
            ClockName::Preservation,
            None,
            "2026-11-22T06:00:00Z",
            true,
            Outcome::ClosedDuringHold,
            hours(24),
        ),
        (
            ClockName::Preservation,
            None,
            "2026-11-24T06:00:00Z",
            false,
            Outcome::HoldEnded,
            None,
        ),
        (
            ClockName::Preservation,
            Some("2026-11-21T06:00:00Z"),
            "2026-11-24T00:00:00Z",
            false,
            Outcome::ReleasedEarly,
            hours(48),
        ),
    ];
    // Each case's media were preserved; without that the hold is `not_preserved` (below).
    let preserved = incident(vec![entry(Step::Preserved, "2026-11-21T07:00:00Z", "it")]);
    for (clock, done, now, closed, outcome, by) in cases {
        let d = deadline(clock, done, now);
        assert_eq!(
            d.outcome(&preserved, closed),
            (outcome, by),
            "{clock:?} {done:?} {now} closed {closed}"
        );
        // Only what was not kept is red on the page and a finding in OSCAL.
        let not_kept = matches!(
            outcome,
            Outcome::Missed
                | Outcome::Overdue
                | Outcome::MissedNotDone
                | Outcome::ClosedDuringHold
                | Outcome::ReleasedEarly
        );
        assert_eq!(outcome.not_kept(), not_kept, "{outcome:?}");
    }
    // Nothing preserved: a hold neither released nor closed says so whatever its dates,
    // running or ended, and it is not kept; a release or a close on record keeps its
    // outcome (the export's note says what is missing); the other clocks are as before.
    let nothing = incident(Vec::new());
    for now in ["2026-11-22T06:00:00Z", "2026-11-24T06:00:00Z"] {
        let hold = deadline(ClockName::Preservation, None, now);
        assert_eq!(hold.outcome(&nothing, false), (Outcome::NotPreserved, None));
    }
    let closed = deadline(ClockName::Preservation, None, "2026-11-22T06:00:00Z");
    assert_eq!(closed.outcome(&nothing, true).0, Outcome::ClosedDuringHold);
    let released = deadline(
        ClockName::Preservation,
        Some("2026-11-21T06:00:00Z"),
        "2026-11-24T00:00:00Z",
    );
    assert_eq!(released.outcome(&nothing, false).0, Outcome::ReleasedEarly);
    assert!(Outcome::NotPreserved.not_kept());
    let report = deadline(ClockName::Report, None, "2026-11-22T06:00:00Z");
    assert_eq!(report.outcome(&nothing, false).0, Outcome::Running);
}

/// An incident keeps the hours it opened under: a policy changed since moves none of its
/// deadlines; one opened before terms were recorded follows the policy.
#[test]
fn an_incident_is_held_to_the_terms_it_opened_under_not_the_policy_in_force() {
    let mut inc = incident(vec![
        entry(Step::Detected, "2026-11-23T09:00:00Z", "defender"),
        entry(Step::HandedOff, "2026-11-23T12:00:00Z", "msp soc"),
        entry(Step::Reported, "2026-11-24T09:00:00Z", "chris"),
    ]);
    let opened_under = Policy {
        terms: Terms {
            handoff_within: h(24),
            ack_within: h(4),
            subcontractor: false,
            ..Terms::default()
        },
        ..Policy::default()
    };
    inc.terms = Some(opened_under.terms);
    let now_in_force = Policy {
        terms: Terms {
            handoff_within: h(2),
            ack_within: h(1),
            subcontractor: true,
            prime_within: h(8),
        },
        ..Policy::default()
    };
    let now = ts("2026-11-24T10:00:00Z");
    let due = |inc: &Incident, policy: &Policy| -> Vec<(ClockName, Timestamp)> {
        clocks(inc, policy, now)
            .into_iter()
            .map(|d| (d.clock, d.due))
            .collect()
    };
    let held = [
        (ClockName::Handoff, ts("2026-11-24T09:00:00Z")),
        (ClockName::Acknowledge, ts("2026-11-23T16:00:00Z")),
        (ClockName::Report, ts("2026-11-26T09:00:00Z")),
        (ClockName::Preservation, ts("2027-02-22T09:00:00Z")),
    ];
    assert_eq!(due(&inc, &now_in_force), held);
    assert_eq!(due(&inc, &opened_under), held);
    // The hand-off 3 hours after detection was inside its 24 hours, not 1 hour late.
    let handoff = &deadlines_on_record(&inc, &now_in_force, now)[0];
    assert_eq!(handoff.outcome(&inc, false).0, Outcome::Kept);

    inc.terms = None;
    assert_eq!(
        due(&inc, &now_in_force),
        [
            (ClockName::Handoff, ts("2026-11-23T11:00:00Z")),
            (ClockName::Acknowledge, ts("2026-11-23T13:00:00Z")),
            (ClockName::Report, ts("2026-11-26T09:00:00Z")),
            (ClockName::Prime, ts("2026-11-24T17:00:00Z")),
            (ClockName::Preservation, ts("2027-02-22T09:00:00Z")),
        ]
    );
    assert_eq!(
        opened_under.terms.describe(),
        "hand-off within 24 hours, acknowledgement within 4 hours, no prime to notify"
    );
    assert_eq!(
        now_in_force.terms.describe(),
        "hand-off within 2 hours, acknowledgement within 1 hour, report number to the prime within 8 hours"
    );
}

/// An incident's texts from evidence are kept printable: control characters and direction
/// overrides are written out as escapes, so a title cannot recolour a terminal or forge a
/// line of `status` or of a mail.
#[test]
fn the_texts_an_incident_takes_from_evidence_are_printable() {
    let at = FieldValue::Time(crate::time::When::At(ts("2026-11-23T09:00:00Z")));
    let seen = observe(
        &record(&[
            ("id", text("INC-\u{202e}7")),
            (
                "title",
                text("Phish\u{1b}[31mRED\u{1b}[0m\r\n  acme  mfa  met  forged"),
            ),
            ("severity", text("high\u{0}")),
            ("detected_at", at),
        ]),
        &TimeZone::UTC,
        ts("2026-11-24T00:00:00Z"),
    )
    .unwrap();
    let title = seen.title.as_deref().unwrap();
    assert_eq!(
        title,
        "Phish\\u{1b}[31mRED\\u{1b}[0m\\r\\n  acme  mfa  met  forged"
    );
    assert!(!title.chars().any(char::is_control), "{title:?}");
    assert_eq!(seen.id, "INC-\\u{202e}7");
    assert_eq!(seen.severity.as_deref(), Some("high\\u{0}"));
}
