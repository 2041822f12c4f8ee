//! Evidence read as typed kinds, verdicts per subject, events kept until
//! closed: the cases that used to read `met` over no evidence, end to end.

use dutywatch::engine::Engine;
use dutywatch_checks::verdict::StateKind;
use jiff::{SignedDuration, Timestamp};

use crate::util::{self, CRM, Fixture, at, text};

/// The standard CRM with the incident requirements shared: the MSP detects
/// and hands off, the contractor reports.
fn crm_with_incidents() -> String {
    format!(
        "{CRM}3.6.1,shared,Reports incidents to DoD,Detects and hands off incidents,both,Incident register,,\n"
    )
}

const INCIDENTS: &str = r#"
[[contractor.source]]
id = "incidents"
kind = "file"
evidence = "incident"
path = "evidence/incidents.csv"
schedule = "*/10 * * * *"
max_age = "1d"

[[contractor.duty]]
id = "incident-report"
title = "Incidents reported to DoD within 72 h"
objectives = ["3.6.1"]
party = "contractor"
source = "incidents"
rule = "event_clock"

[[contractor.duty.step]]
name = "report to DoD"
starts = "discovered_at"
done = "reported_at"
within = "72h"
"#;

/// A NinjaOne pending-patches source and its 14-day critical-patch duty.
const PATCHES: &str = r#"
[[contractor.source]]
id = "patches"
kind = "file"
evidence = "patch"
path = "evidence/patches.json"
records = "results"
schedule = "0 6 * * *"
max_age = "3d"

[[contractor.duty]]
id = "critical-patches"
title = "No critical patch pending more than 14 days"
objectives = ["3.14.1"]
source = "patches"
rule = "continuous"
expect = "none"
check = "severity == 'CRITICAL' and pending_since < now-14d"
tolerance = "2d"
"#;

const REGISTER_HEADER: &str = "incident_id,title,detected_at,discovered_at,reported_at\n";

fn incident_fixture(now: Timestamp) -> Fixture {
    let fixture = util::standard(now);
    fixture.write("crm.csv", &crm_with_incidents());
    fixture.write("dutywatch.toml", &util::contractor_config(INCIDENTS));
    fixture
}

/// The outbox as the store holds it (subject, body), oldest first: the
/// plain text, before any mail encoding.
fn outbox(fixture: &Fixture) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("db");
    let mut stmt = conn
        .prepare("SELECT subject, body FROM outbox ORDER BY id")
        .expect("query");
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("outbox")
}

fn state_of(engine: &Engine, duty: &str) -> (StateKind, String) {
    let verdict = util::verdict_of(engine, duty);
    (verdict.state.kind(), verdict.reason)
}

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

#[test]
fn a_typo_in_a_check_is_refused_with_a_did_you_mean() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let extra = &PATCHES.replace("check = \"severity", "check = \"severty");
    let config = util::contractor_config(extra);
    fixture.write("dutywatch.toml", &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = config
        .lines()
        .position(|l| l.starts_with("check = \"severty"))
        .expect("line")
        + 1;
    assert!(
        stderr.contains(&format!(
            "dutywatch.toml:{line}: contractor[acme].duty[critical-patches].check: `severty` is not a field of `patch` evidence; did you mean `severity`?"
        )),
        "{stderr}"
    );

    // A source's own field mapping is checked the same way.
    let mapped = config.replace(
        "records = \"results\"",
        "records = \"results\"\nfields = { severty = \"severityLevel\" }",
    );
    fixture.write("dutywatch.toml", &mapped);
    let (_, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    assert!(
        stderr.contains("source[patches].fields.severty: `severty` is not a field of `patch` evidence; did you mean `severity`?"),
        "{stderr}"
    );
}

#[test]
fn a_renamed_vendor_field_is_a_source_error_and_a_fields_mapping_reads_it() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let extra = PATCHES;
    fixture.write("dutywatch.toml", &util::contractor_config(extra));
    // NinjaOne's `severity` arrives as `severityLevel`: a 20-day-old critical patch.
    let old = now - SignedDuration::from_hours(20 * 24);
    let patches = format!(
        r#"{{"cursor": {{}}, "results": [{{"deviceId": 1042, "name": "KB5070311", "severityLevel": "CRITICAL", "status": "APPROVED", "timestamp": {}}}]}}"#,
        old.as_second()
    );
    fixture.write_dated("evidence/patches.json", &patches, now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("`severity` is missing (looked for `severity`)"),
        "{reason}"
    );

    // Told where the field is, the same export shows the overdue patch.
    let mapped = util::contractor_config(extra).replace(
        "records = \"results\"",
        "records = \"results\"\nfields = { severity = \"severityLevel\" }",
    );
    fixture.write("dutywatch.toml", &mapped);
    let mut engine = util::engine(&fixture);
    engine.cycle(now + hours(1)).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    assert!(reason.contains("1042 / KB5070311"), "{reason}");
}

#[test]
fn two_incidents_opened_one_after_the_other_are_each_escalated_once() {
    let t0 = at("2026-11-23T15:00:00Z");
    let fixture = incident_fixture(t0);
    let first = format!(
        "{REGISTER_HEADER}INC-1,Phishing,{},{},\n",
        t0 - hours(3),
        t0 - hours(2)
    );
    fixture.write_dated("evidence/incidents.csv", &first, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    let mails = outbox(&fixture);
    let about = |needle: &str| {
        mails
            .iter()
            .filter(|(_, body)| body.contains(needle))
            .count()
    };
    assert_eq!(about("  - INC-1 [open"), 1, "{mails:#?}");
    let (state, _) = state_of(&engine, "incident-report");
    assert_eq!(state, StateKind::Open, "a running clock is open, not met");

    // A second incident while the first is still open: the duty stays
    // `open`, and the new one is told all the same, in a mail of its own.
    let t1 = t0 + hours(1);
    let both = format!(
        "{first}INC-2,OAuth consent grant,{},{},\n",
        t1 - hours(1),
        t1 - SignedDuration::from_mins(10)
    );
    fixture.write_dated("evidence/incidents.csv", &both, t1);
    engine.cycle(t1).expect("cycle");
    let mails = outbox(&fixture);
    let newest = &mails.last().expect("a mail").1;
    assert!(newest.contains("  - INC-2 [open"), "{newest}");
    assert!(
        !newest.contains("  - INC-1 ["),
        "INC-1 is not told twice: {newest}"
    );
    assert!(
        mails.last().expect("mail").0.contains("1 newly open"),
        "{mails:#?}"
    );
    let count = mails.len();

    // Nothing new: nothing sent; a restart repeats nothing either.
    engine
        .cycle(t1 + SignedDuration::from_mins(10))
        .expect("cycle");
    let mut engine = util::engine(&fixture);
    engine
        .cycle(t1 + SignedDuration::from_mins(20))
        .expect("cycle");
    assert_eq!(outbox(&fixture).len(), count);

    // Each has its own subject state.
    let subjects = engine
        .store()
        .subjects("acme", "incident-report")
        .expect("subjects");
    let names: Vec<(&str, StateKind)> = subjects
        .iter()
        .map(|s| (s.subject.as_str(), s.state))
        .collect();
    assert_eq!(
        names,
        [("INC-1", StateKind::Open), ("INC-2", StateKind::Open)]
    );
}

#[test]
fn an_incident_removed_from_the_export_stays_open_until_reported() {
    let t0 = at("2026-11-23T15:00:00Z");
    let fixture = incident_fixture(t0);
    let register = format!(
        "{REGISTER_HEADER}INC-1,Phishing,{},{},\n",
        t0 - hours(3),
        t0 - hours(2)
    );
    fixture.write_dated("evidence/incidents.csv", &register, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");

    // Someone tidies the register before the report is filed.
    let t1 = t0 + hours(2);
    fixture.write_dated("evidence/incidents.csv", REGISTER_HEADER, t1);
    // The register is down to its header: INC-1 is still open, kept as last seen…
    engine.cycle(t1).expect("cycle");
    let (state, reason) = state_of(&engine, "incident-report");
    assert_eq!(state, StateKind::Open, "{reason}");
    assert!(reason.contains("no longer in the export"), "{reason}");
    // …and so it is when the export lists only other, closed incidents.
    let t2 = t1 + hours(1);
    let other = format!(
        "{REGISTER_HEADER}INC-0,Old one,{},{},{}\n",
        t0 - hours(200),
        t0 - hours(199),
        t0 - hours(190)
    );
    fixture.write_dated("evidence/incidents.csv", &other, t2);
    engine.cycle(t2).expect("cycle");
    let (state, reason) = state_of(&engine, "incident-report");
    assert_eq!(state, StateKind::Open, "{reason}");
    assert!(reason.contains("event INC-1"), "{reason}");
    assert!(reason.contains("no longer in the export"), "{reason}");

    // Past its 72 hours it lapses, export or not.
    let late = t0 - hours(2) + hours(73);
    fixture.write_dated("evidence/incidents.csv", &other, late);
    engine.cycle(late).expect("cycle");
    let (state, reason) = state_of(&engine, "incident-report");
    assert_eq!(state, StateKind::Lapsed, "{reason}");

    // Reported (it is back in the export with its report time): closed,
    // and no longer kept.
    let done = late + hours(1);
    let reported = format!(
        "{other}INC-1,Phishing,{},{},{}\n",
        t0 - hours(3),
        t0 - hours(2),
        late
    );
    fixture.write_dated("evidence/incidents.csv", &reported, done);
    engine.cycle(done).expect("cycle");
    assert_eq!(state_of(&engine, "incident-report").0, StateKind::Met);
    assert!(
        engine
            .store()
            .kept_events("acme", "incident-report")
            .expect("kept")
            .is_empty()
    );
}

#[test]
fn a_second_failing_user_escalates_while_the_duty_is_already_due_soon() {
    let t0 = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(t0);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    assert_eq!(state_of(&engine, "mfa-registered").0, StateKind::DueSoon);
    let before = outbox(&fixture).len();

    let t1 = t0 + hours(1);
    let worse = r#"{"value": [{"userPrincipalName": "a@acme.example", "isMfaRegistered": true}, {"userPrincipalName": "b@acme.example", "isMfaRegistered": false}, {"userPrincipalName": "c@acme.example", "isMfaRegistered": false}]}"#;
    fixture.write_dated("evidence/mfa.json", worse, t1);
    engine.cycle(t1).expect("cycle");
    let mails = outbox(&fixture);
    assert_eq!(mails.len(), before + 1, "{mails:#?}");
    let (subject, body) = mails.last().expect("mail");
    assert!(subject.contains("1 newly due soon"), "{subject}");
    assert!(body.contains("  - c@acme.example [due_soon"), "{body}");
    assert!(!body.contains("  - b@acme.example ["), "{body}");

    // b recovers, c leaves the tenant: both recorded, neither mailed.
    let t2 = t1 + hours(1);
    fixture.write_dated(
        "evidence/mfa.json",
        util::MFA_OK.replace("a@", "b@").as_str(),
        t2,
    );
    engine.cycle(t2).expect("cycle");
    assert_eq!(outbox(&fixture).len(), before + 1);
    let history = |who: &str| {
        engine
            .store()
            .subject_history("acme", "mfa-registered", who)
            .expect("history")
            .into_iter()
            .map(|(_, from, to)| (from, to))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        history("b@acme.example"),
        [
            (None, "due_soon".to_owned()),
            (Some("due_soon".to_owned()), "met".to_owned())
        ]
    );
    assert_eq!(
        history("c@acme.example"),
        [
            (None, "due_soon".to_owned()),
            (Some("due_soon".to_owned()), "gone".to_owned())
        ]
    );

    // status --subjects shows them under the duty.
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--subjects"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("    c@acme.example  gone since"),
        "{stdout}"
    );
    assert!(stdout.contains("(1 subject(s) met)"), "{stdout}");
}

#[test]
fn a_date_only_review_is_due_at_the_end_of_the_local_day() {
    // Signed off on 2026-08-25 (a bare date) in America/New_York, due every
    // 90 days: due on 2026-11-23, so it lapses at the end of that local day.
    let now = at("2026-11-24T04:59:00Z");
    let fixture = util::standard(now);
    fixture.write_dated(
        "evidence/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ3,alice,keep,2026-08-25\n",
        now,
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "access-review");
    assert_eq!(
        state,
        StateKind::DueSoon,
        "23:59 local, still due: {reason}"
    );
    assert!(reason.contains("2026-11-24 00:00 EST"), "{reason}");
    engine.cycle(at("2026-11-24T05:00:01Z")).expect("cycle");
    assert_eq!(state_of(&engine, "access-review").0, StateKind::Lapsed);
}

#[test]
fn us_dates_as_excel_writes_them_are_read_not_dropped() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated(
        "evidence/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ3,alice,keep,11/2/2026 9:05 AM\nQ3,bob,keep,13/45/2026\n",
        now,
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "access-review");
    assert_eq!(state, StateKind::Met, "{reason}");
    assert!(
        reason.contains("last done 2026-11-02 09:05 EST"),
        "{reason}"
    );
    // The unreadable one is named with its line and value, not dropped.
    assert!(
        reason.contains("line 3 (Q3 / bob): `signed_off_at` is not a time"),
        "{reason}"
    );
    assert!(reason.contains("13/45/2026"), "{reason}");
}

/// A tiny deterministic generator, so the property test needs no crate and
/// always runs the same cases.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of an export's text: what a broken export, a renamed
/// field, a hand edit or a half-written file does to it.
fn mutate(text: &str, json: bool, rng: &mut XorShift) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match rng.below(12) {
        // Truncated mid-write.
        0 => text
            .char_indices()
            .nth(rng.below(text.chars().count()))
            .map_or_else(String::new, |(at, _)| text[..at].to_owned()),
        // Emptied.
        1 => String::new(),
        // A line (a CSV record, or part of a JSON document) deleted.
        2 => {
            let drop = rng.below(lines.len());
            lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("\n")
        }
        // A key renamed (a vendor renaming a field, or a header edited).
        3..=5 => {
            let keys = keys(text);
            if keys.is_empty() {
                return text.to_owned();
            }
            let key = &keys[rng.below(keys.len())];
            let renamed = if rng.below(2) == 0 {
                format!("{key}Level")
            } else {
                key.to_uppercase()
            };
            text.replacen(key.as_str(), &renamed, 1 + rng.below(3))
        }
        // A value deleted (blanked or nulled), or one of the wrong type in
        // JSON. (A different word in its place is a different statement,
        // not missing evidence, so it is not a mutation here.)
        6..=9 => {
            let values = values(text);
            if values.is_empty() {
                return text.to_owned();
            }
            let value = &values[rng.below(values.len())];
            let replacement = if json {
                ["\"\"", "null", "[]", "{}"][rng.below(4)]
            } else {
                ""
            };
            text.replacen(value.as_str(), replacement, 1)
        }
        // A key given twice, the second time with another value.
        10 => {
            let keys = keys(text);
            match keys.first() {
                Some(key) => text.replacen(
                    &format!("\"{key}\":"),
                    &format!("\"{key}\": \"x\", \"{key}\":"),
                    1,
                ),
                None => text.to_owned(),
            }
        }
        // The records replaced by nothing at all. (`{"results": []}` is not
        // here: for pending patches that is a real answer, "none pending".)
        _ => ["{}", "[]", "[{}]", "{\"value\": []}", "\u{feff}"][rng.below(5)].to_owned(),
    }
}

/// JSON keys (`"name":`) and CSV header names in `text`.
fn keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = text
        .split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].trim_start().starts_with(':') && !w[0].is_empty())
        .map(|w| w[0].to_owned())
        .collect();
    if !text.trim_start().starts_with(['{', '['])
        && let Some(header) = text.lines().next()
    {
        keys.extend(header.split(',').map(str::to_owned));
    }
    keys.retain(|k| !k.is_empty() && k.len() < 40);
    keys
}

/// JSON values after a `:` and CSV cells, as they stand in the text.
fn values(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    for part in text.split(": ").skip(1) {
        let end = part.find([',', '}', '\n']).unwrap_or(part.len());
        if end > 0 {
            values.push(part[..end].to_owned());
        }
    }
    for line in text.lines().skip(1) {
        values.extend(line.split(',').filter(|c| !c.is_empty()).map(str::to_owned));
    }
    values
}

/// Mutations per run: enough that each kind of mutation hits each demo file several times.
const ROUNDS: usize = 800;

#[test]
fn no_mutation_of_the_demo_evidence_turns_a_duty_that_is_not_met_into_met() {
    let now = at("2026-11-23T15:00:00Z");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    let baseline_dir = tempfile::tempdir().expect("tmp");
    dutywatch::demo::render_into(&demo, baseline_dir.path(), now).expect("render");
    let verdicts = |dir: &std::path::Path| {
        let config = dutywatch::config::load(&dir.join("dutywatch.toml")).expect("config");
        let store = dutywatch::store::Store::open(&dir.join("state/dutywatch.db")).expect("db");
        let mut engine = Engine::new(std::sync::Arc::new(config), store);
        engine.cycle(now).expect("cycle");
        let mut out = std::collections::BTreeMap::new();
        for current in engine.store().current_verdicts(None).expect("verdicts") {
            let subjects = engine
                .store()
                .subjects(&current.client, &current.duty)
                .expect("subjects");
            out.insert(current.duty.clone(), (current.verdict, subjects));
        }
        out
    };
    let baseline = verdicts(baseline_dir.path());
    let not_met: Vec<&String> = baseline
        .iter()
        .filter(|(_, (v, _))| v.state.kind() != StateKind::Met)
        .map(|(duty, _)| duty)
        .collect();
    assert!(
        not_met.len() >= 8,
        "the demo has duties in every state: {not_met:?}"
    );
    // The exports the demo's sources read; `attestations/` holds hand-added files, which
    // the demo records through `evidence add` and no source parses.
    let files: Vec<std::path::PathBuf> = walk(&baseline_dir.path().join("evidence"))
        .into_iter()
        .filter(|path| !path.components().any(|c| c.as_os_str() == "attestations"))
        .collect();
    assert!(files.len() >= 10, "{files:?}");

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut mutated_files = 0;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("tmp");
        dutywatch::demo::render_into(&demo, dir.path(), now).expect("render");
        let relative = files[rng.below(files.len())]
            .strip_prefix(baseline_dir.path())
            .expect("inside")
            .to_owned();
        let path = dir.path().join(&relative);
        let original = std::fs::read_to_string(&path).expect("read");
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        let json = relative.extension().is_some_and(|e| e == "json");
        let changed = mutate(&original, json, &mut rng);
        if changed == original {
            continue;
        }
        mutated_files += 1;
        std::fs::write(&path, &changed).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(modified))
            .expect("keep the mtime");
        let after = verdicts(dir.path());
        for duty in &not_met {
            let (before, before_subjects) = &baseline[*duty];
            let (now_verdict, now_subjects) = &after[*duty];
            if now_verdict.state.kind() != StateKind::Met {
                continue;
            }
            // Met now: only because the records that failed are gone from
            // the export (a deleted failing user is indistinguishable from
            // a fixed one), never because a failing subject reads met.
            for subject in before_subjects.iter().filter(|s| s.state != StateKind::Met) {
                let still_there = now_subjects
                    .iter()
                    .find(|s| s.subject == subject.subject && s.gone_at.is_none());
                // A subject may leave the verdict only with its record: its
                // name must be gone from the export, not merely unreadable.
                let record_deleted = subject
                    .subject
                    .split(" / ")
                    .any(|part| !changed.contains(part));
                assert!(
                    still_there.is_some() || record_deleted,
                    "round {round}: `{}` made {duty}'s subject {} vanish though its record is still there (was {})\n--- mutated:\n{changed}",
                    relative.display(),
                    subject.subject,
                    subject.state,
                );
                assert!(
                    still_there.is_none_or(|s| s.state != StateKind::Met),
                    "round {round}: `{}` in {} made {duty}'s subject {} met (was {}: {})\n--- mutated:\n{changed}",
                    relative.display(),
                    dir.path().display(),
                    subject.subject,
                    subject.state,
                    before.reason,
                );
            }
            assert!(
                !before_subjects.is_empty()
                    && before_subjects.iter().any(|s| s.state != StateKind::Met),
                "round {round}: `{}` made {duty} met though it was {} as a whole ({})\n--- mutated:\n{changed}",
                relative.display(),
                before.state.kind(),
                before.reason
            );
        }
    }
    assert!(
        mutated_files >= ROUNDS * 9 / 10,
        "only {mutated_files} mutations ran"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn check_config_reads_each_current_export_as_its_kind() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated(
        "evidence/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ3,alice,keep,2026-10-01\nQ3,bob,keep,soon\n",
        now,
    );
    fixture.write_dated("evidence/mfa.json", r#"{"value": [{"upn": 1}]}"#, now);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    // (The fixture's small CRM leaves objectives unowned, so the exit code is
    // the CRM's business; what matters here is what it says of the exports.)
    let (stdout, _) = text(&output);
    assert!(
        stdout.contains("source[reviews]: `")
            && stdout.contains("holds 2 readable `access_review` record(s) of 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("source[reviews]: line 3 (Q3 / bob): `signed_off_at` is not a time"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "source[mfa]: the current export does not read as `mfa_registration` evidence"
        ) && stdout.contains("`mfa_registered` is missing"),
        "{stdout}"
    );
}
