//! Collect → store → evaluate → escalate → mail, through the library.

use dutywatch::engine::Engine;
use dutywatch_checks::verdict::StateKind;

use crate::util::{self, MFA_BAD, at};

fn states(engine: &Engine) -> Vec<(String, StateKind)> {
    engine
        .store()
        .current_verdicts(None)
        .expect("verdicts")
        .into_iter()
        .map(|v| (v.duty, v.verdict.state.kind()))
        .collect()
}

#[test]
fn first_cycle_judges_every_duty_and_mails_what_needs_attention() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collected, 2);
    assert_eq!(summary.evaluated, 3);
    assert_eq!(
        states(&engine),
        [
            ("access-review".to_owned(), StateKind::Met),
            ("mfa-registered".to_owned(), StateKind::Met),
            ("training".to_owned(), StateKind::NoEvidence),
        ]
    );
    let mails = fixture.mails();
    assert_eq!(
        mails.len(),
        1,
        "only the manual duty without evidence needs attention"
    );
    assert!(
        mails[0].contains("Subject: [dutywatch] NO EVIDENCE: Annual training"),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("To: it@acme.example"));
}

#[test]
fn the_same_state_never_mails_twice_across_cycles_and_restarts() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
    {
        let mut engine = util::engine(&fixture);
        engine.cycle(now).expect("first cycle");
        assert_eq!(fixture.mails().len(), 2);
        engine
            .cycle(at("2026-11-23T15:15:00Z"))
            .expect("second cycle");
        assert_eq!(
            fixture.mails().len(),
            2,
            "a second cycle in the same states sends nothing"
        );
    }
    // A restart: a new engine on the same database.
    let mut engine = util::engine(&fixture);
    let summary = engine
        .cycle(at("2026-11-23T16:00:00Z"))
        .expect("after restart");
    assert_eq!(summary.changed, 0);
    assert_eq!(summary.mails_sent, 0);
    assert_eq!(
        fixture.mails().len(),
        2,
        "a restart does not repeat escalations"
    );

    // A real change of state escalates again: the MFA gap outlives its
    // 24 h tolerance and lapses. The MSP is responsible, so the accountable
    // contractor is copied.
    let summary = engine
        .cycle(at("2026-11-24T15:00:01Z"))
        .expect("a day later");
    assert_eq!(summary.changed, 1);
    let mails = fixture.mails();
    assert_eq!(mails.len(), 3);
    let lapse = mails
        .iter()
        .find(|m| m.contains("LAPSED"))
        .expect("a lapse mail");
    assert!(lapse.contains("To: soc@keystone.example"), "{lapse}");
    assert!(
        lapse.contains("Cc: it@acme.example"),
        "the accountable contractor is copied: {lapse}"
    );
    assert!(
        lapse.contains("b@acme.example"),
        "the mail names the offending account: {lapse}"
    );
}

#[test]
fn an_undelivered_escalation_survives_a_restart_and_is_sent_once() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // The outbox directory cannot be created: a file is in its way.
    fixture.write("outbox", "not a directory");
    {
        let mut engine = util::engine(&fixture);
        let summary = engine.cycle(now).expect("cycle");
        assert_eq!(summary.mail_failures, 1);
        assert_eq!(
            engine
                .store()
                .pending_mail(at("2026-11-23T16:00:00Z"), 10)
                .expect("pending")
                .len(),
            1
        );
    }
    std::fs::remove_file(fixture.path("outbox")).expect("clear the obstacle");
    let mut engine = util::engine(&fixture);
    // Before the retry time nothing is sent; after it, exactly once.
    util::assert_retried_once_a_minute_after(&mut engine, at("2026-11-23T15:00:00Z"));
    assert_eq!(fixture.mails().len(), 1);
}

#[test]
fn unreadable_evidence_is_a_named_source_error_not_a_pass() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated("evidence/mfa.json", "{\"value\": [", now);
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collection_failures, 1);
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::SourceError);
    assert!(
        mfa.reason.contains("mfa.json`: line 1, column 11"),
        "{}",
        mfa.reason
    );
    assert!(mfa.reason.contains("not valid JSON"), "{}", mfa.reason);

    // Deleting the export is just as visible.
    std::fs::remove_file(fixture.path("evidence/mfa.json")).expect("rm");
    engine.cycle(at("2026-11-23T16:00:00Z")).expect("cycle");
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::SourceError);
    assert!(mfa.reason.contains("no file matches"), "{}", mfa.reason);
}

#[test]
fn an_export_nobody_refreshes_goes_stale() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated(
        "evidence/mfa.json",
        util::MFA_OK,
        at("2026-11-20T15:00:00Z"),
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::StaleEvidence);
    assert!(
        mfa.reason.contains("(3d old); it may be at most 2d old"),
        "{}",
        mfa.reason
    );
}

#[test]
fn an_export_dated_ahead_of_now_is_named_not_silently_passed_over() {
    // A file share whose clock runs ten minutes fast writes the only export.
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated(
        "evidence/mfa.json",
        util::MFA_OK,
        at("2026-11-23T15:10:00Z"),
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::NoEvidence, "{}", mfa.reason);
    assert!(
        mfa.reason
            .contains("not used: 1 snapshot(s) dated after 2026-11-23T15:00:00Z"),
        "{}",
        mfa.reason
    );
    assert!(
        mfa.reason.contains("mfa.json` as of 2026-11-23T15:10:00Z"),
        "{}",
        mfa.reason
    );

    // Once the wall clock passes it, the same export counts.
    engine.cycle(at("2026-11-23T16:00:00Z")).expect("cycle");
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::Met, "{}", mfa.reason);
}

#[test]
fn evidence_is_deduplicated_and_its_chain_verifies() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    engine.cycle(at("2026-11-23T16:00:00Z")).expect("cycle");
    let report = engine.store().verify_chain().expect("verify");
    assert_eq!(
        report.rows, 2,
        "an unchanged export read twice is stored once"
    );
    assert!(report.broken.is_none());
    fixture.write_dated("evidence/mfa.json", MFA_BAD, at("2026-11-23T16:30:00Z"));
    engine.cycle(at("2026-11-23T17:00:00Z")).expect("cycle");
    assert_eq!(engine.store().verify_chain().expect("verify").rows, 3);
}

#[test]
fn a_mail_every_recipient_already_has_is_closed_without_sending_it_again() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // The mail folder cannot be created: the training escalation stays queued.
    fixture.write("outbox", "not a directory");
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!((summary.mails_sent, summary.mail_failures), (0, 1));

    // Its only recipient got it on an attempt whose outcome was never
    // recorded as a whole (say the disk filled up right after).
    let mut store =
        dutywatch::store::Store::open(&fixture.path("state/dutywatch.db")).expect("store");
    let pending = store
        .pending_mail(at("2100-01-01T00:00:00Z"), 10)
        .expect("outbox");
    store
        .mark_delivered_to(pending[0].id, "it@acme.example")
        .expect("record");
    std::fs::remove_file(fixture.path("outbox")).expect("rm");

    assert_eq!(
        engine.deliver(at("2026-11-23T15:01:00Z")).expect("deliver"),
        (1, 0)
    );
    assert!(fixture.mails().is_empty(), "nobody got it twice");
    assert!(
        engine
            .store()
            .undelivered_mail(None)
            .expect("outbox")
            .is_empty()
    );
}

/// The standard fixture with `max_bytes = {limit}` on the `mfa` source.
fn with_mfa_limit(fixture: &util::Fixture, limit: &str) {
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let mfa = "path = \"evidence/mfa.json\"\n";
    assert!(good.contains(mfa));
    fixture.write(
        "dutywatch.toml",
        &good.replacen(mfa, &format!("{mfa}max_bytes = {limit}\n"), 1),
    );
}

#[test]
fn an_export_over_max_bytes_is_a_source_error_naming_its_size_and_the_limit() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let size = std::fs::metadata(fixture.path("evidence/mfa.json"))
        .expect("the export")
        .len();
    with_mfa_limit(&fixture, "10");
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collection_failures, 1);
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::SourceError);
    for expected in [
        format!("mfa.json` is {size} bytes"),
        "over the limit of 10 bytes".to_owned(),
        "raise `max_bytes` on source `mfa`".to_owned(),
    ] {
        assert!(mfa.reason.contains(&expected), "{expected}: {}", mfa.reason);
    }

    // At the limit exactly, it is read.
    let fixture = util::standard(now);
    with_mfa_limit(&fixture, &size.to_string());
    let mut engine = util::engine(&fixture);
    assert_eq!(engine.cycle(now).expect("cycle").collection_failures, 0);
    let fixture = util::standard(now);
    with_mfa_limit(&fixture, &(size - 1).to_string());
    let mut engine = util::engine(&fixture);
    assert_eq!(engine.cycle(now).expect("cycle").collection_failures, 1);
}

#[test]
fn a_fifo_as_the_export_is_refused_without_blocking() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    std::fs::remove_file(fixture.path("evidence/mfa.json")).expect("rm");
    let status = std::process::Command::new("mkfifo")
        .arg(fixture.path("evidence/mfa.json"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let mut engine = util::engine(&fixture);
    // Opening the FIFO would block this test forever.
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collection_failures, 1);
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::SourceError);
    assert!(
        mfa.reason
            .contains("mfa.json` is a FIFO (named pipe), not a regular file"),
        "{}",
        mfa.reason
    );
}

/// Payloads stored once by content, and the parse cache of one long-lived engine: unchanged
/// evidence is read from memory, yet a payload edited in the database between two passes of
/// the same engine (the daemon) is refused in the next one, never evaluated from memory.
#[test]
fn a_payload_edited_under_a_running_engine_is_refused_in_its_next_pass() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::DueSoon, "{}", mfa.reason);
    assert!(engine.parse_cache_records() > 0, "what was read is kept");
    // The same content at a new instant (an API source's next call) is a row, not a copy.
    fixture.write_dated("evidence/mfa.json", MFA_BAD, at("2026-11-23T15:10:00Z"));
    engine.cycle(at("2026-11-23T15:15:00Z")).expect("cycle");
    let db = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        count("SELECT count(*) FROM evidence WHERE source = 'mfa'"),
        2
    );
    assert_eq!(
        count(
            "SELECT count(DISTINCT p.id) FROM payloads p JOIN evidence e ON e.sha256 = p.sha256
              WHERE e.source = 'mfa'"
        ),
        1,
        "one copy of the payload"
    );

    drop(db);
    // Edited through another connection while the engine holds the records.
    util::tamper_payload(&fixture, "source = 'mfa'", util::MFA_OK);
    engine.cycle(at("2026-11-23T15:30:00Z")).expect("cycle");
    let mfa = util::verdict_of(&engine, "mfa-registered");
    assert_eq!(mfa.state.kind(), StateKind::SourceError, "{}", mfa.reason);
    assert!(
        mfa.reason.contains("does not match its recorded hash"),
        "{}",
        mfa.reason
    );
    let review = util::verdict_of(&engine, "access-review");
    assert_eq!(review.state.kind(), StateKind::Met, "{}", review.reason);
}

/// When `path` last changed (its inode's change time), by the file system's clock.
fn changed_at(path: &std::path::Path) -> jiff::Timestamp {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).expect("metadata");
    jiff::Timestamp::from_second(metadata.ctime()).expect("a change time")
}

#[test]
fn a_file_unwritten_since_its_last_collection_is_not_read_again_but_any_write_is() {
    let hour = jiff::SignedDuration::from_hours(1);
    let fixture = util::standard(at(util::CLOCK));
    // The stamps are the file system's: the passes run an hour after the files were last
    // written, and the files say they were written then.
    let base = changed_at(&fixture.path("evidence/mfa.json"));
    fixture.write_dated("evidence/mfa.json", util::MFA_OK, base);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, base);
    let now = changed_at(&fixture.path("evidence/mfa.json"))
        .max(changed_at(&fixture.path("evidence/reviews.csv")))
        + hour;
    let mut engine = util::engine(&fixture);
    let first = engine.cycle(now).expect("first cycle");
    assert_eq!((first.collected, first.unchanged), (2, 0), "{first}");
    let runs = |fixture: &util::Fixture| -> (i64, i64) {
        let db = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("db");
        let count = |sql: &str| db.query_row(sql, [], |row| row.get(0)).expect(sql);
        (
            count("SELECT count(*) FROM evidence"),
            count("SELECT count(*) FROM source_runs WHERE outcome = 'ok'"),
        )
    };
    assert_eq!(runs(&fixture), (2, 2));

    // Unwritten since: each collection is recorded, neither file is read.
    let second = engine.cycle(now + hour).expect("second cycle");
    assert_eq!((second.collected, second.unchanged), (2, 2), "{second}");
    assert_eq!(runs(&fixture), (2, 4), "a run each, no new evidence");
    assert_eq!(
        util::verdict_of(&engine, "mfa-registered").state.kind(),
        StateKind::Met
    );

    // Other content of the same size under the same modification time: the write moved the
    // change time, so the file is read, and the new user without MFA counts.
    let other = util::MFA_OK.replace(r#""isMfaRegistered": true"#, r#""isMfaRegistered":false"#);
    assert_eq!(other.len(), util::MFA_OK.len());
    fixture.write_dated("evidence/mfa.json", &other, base);
    let third = engine.cycle(now + hour * 2).expect("third cycle");
    assert_eq!((third.collected, third.unchanged), (2, 1), "{third}");
    assert_eq!(runs(&fixture), (3, 6));
    assert_ne!(
        util::verdict_of(&engine, "mfa-registered").state.kind(),
        StateKind::Met
    );

    // A day after a file was last read, it is read again however unwritten it looks: the
    // reviews were read by the first pass, the MFA export by the third.
    let day_on = engine.cycle(now + hour * 25).expect("a day on");
    assert_eq!((day_on.collected, day_on.unchanged), (2, 1), "{day_on}");
    assert_eq!(
        runs(&fixture),
        (3, 8),
        "same bytes, same instant: no new evidence"
    );

    // A restarted daemon knows no file: it reads each once.
    let mut restarted = util::engine(&fixture);
    let fourth = restarted.cycle(now + hour * 26).expect("fourth cycle");
    assert_eq!((fourth.collected, fourth.unchanged), (2, 0), "{fourth}");
    assert_eq!(runs(&fixture), (3, 10));
}

#[test]
fn a_pass_counts_what_it_gets_done_for_the_watchdog() {
    let now = util::at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    let progress = engine.progress();
    let before = progress.load(std::sync::atomic::Ordering::Relaxed);
    engine.cycle(now).expect("cycle");
    // Two collections recorded and one contractor judged, at least.
    let after = progress.load(std::sync::atomic::Ordering::Relaxed);
    assert!(after >= before + 3, "{before} -> {after}");
}

#[test]
fn a_recurring_duty_fed_one_file_per_period_keeps_the_last_periods_completion() {
    // The reviews arrive one file per quarter, as `access-review-*.csv` exports do.
    let q3 = at("2026-10-01T12:00:00Z");
    let fixture = util::standard(q3);
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &text.replace(
            "path = \"evidence/reviews.csv\"",
            "path = \"evidence/access-review-*.csv\"",
        ),
    );
    std::fs::remove_file(fixture.path("evidence/reviews.csv")).expect("remove");
    fixture.write_dated("evidence/access-review-2026-q3.csv", util::REVIEWS, q3);
    let review = |engine: &Engine| {
        engine
            .store()
            .current_verdicts(Some("acme"))
            .expect("verdicts")
            .into_iter()
            .find(|v| v.duty == "access-review")
            .expect("the access review")
            .verdict
    };
    let now = at("2026-12-01T15:00:00Z");
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let before = review(&engine);
    assert_eq!(before.state.kind(), StateKind::Met, "{before:?}");

    // Q4's file appears, with nothing in it yet, then with its review still pending: the Q3
    // sign-off still counts.
    let header_only = "review_id,account_id,decision,signed_off_at\n";
    fixture.write_dated("evidence/access-review-2026-q4.csv", header_only, now);
    let later = now + jiff::SignedDuration::from_hours(1);
    engine.cycle(later).expect("cycle");
    let after = review(&engine);
    assert_eq!(after.state, before.state, "{after:?}");
    fixture.write_dated(
        "evidence/access-review-2026-q4.csv",
        "review_id,account_id,decision,signed_off_at\nQ4,alice,pending,\n",
        later,
    );
    let later = now + jiff::SignedDuration::from_hours(24);
    engine.cycle(later).expect("cycle");
    let after = review(&engine);
    assert_eq!(after.state, before.state, "{after:?}");
    assert!(after.reason.contains("2026-10-01"), "{}", after.reason);

    // Two quarters on with no sign-off the duty has lapsed, still on that completion.
    fixture.write_dated(
        "evidence/access-review-2027-q1.csv",
        "review_id,account_id,decision,signed_off_at\nQ1,alice,pending,\n",
        at("2027-02-01T12:00:00Z"),
    );
    let lapsed_at = at("2027-02-01T15:00:00Z");
    let mut engine = util::engine(&fixture);
    // (The MFA export is kept fresh; only the review is under test.)
    fixture.write_dated("evidence/mfa.json", util::MFA_OK, lapsed_at);
    engine.cycle(lapsed_at).expect("cycle");
    let lapsed = review(&engine);
    assert_eq!(lapsed.state.kind(), StateKind::Lapsed, "{lapsed:?}");
    assert!(lapsed.reason.contains("2026-10-01"), "{}", lapsed.reason);
}

#[test]
fn a_completion_withdrawn_in_the_same_file_no_longer_counts() {
    let q3 = at("2026-10-01T12:00:00Z");
    let fixture = util::standard(q3);
    let now = at("2026-12-01T15:00:00Z");
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let state = |engine: &Engine| {
        states(engine)
            .into_iter()
            .find(|(duty, _)| duty == "access-review")
            .expect("the access review")
            .1
    };
    assert_eq!(state(&engine), StateKind::Met);
    // The sign-off was recorded in error: the export is corrected in place.
    let later = now + jiff::SignedDuration::from_hours(1);
    fixture.write_dated(
        "evidence/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ3,alice,pending,\n",
        later,
    );
    engine.cycle(later).expect("cycle");
    assert_eq!(state(&engine), StateKind::NoEvidence);
}

#[test]
fn a_file_the_source_no_longer_reads_does_not_stand_in_for_the_one_it_reads() {
    let fixture = util::standard(at("2026-10-01T12:00:00Z"));
    let now = at("2026-12-01T15:00:00Z");
    let state = |engine: &Engine| {
        states(engine)
            .into_iter()
            .find(|(duty, _)| duty == "access-review")
            .expect("the access review")
            .1
    };
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("cycle");
    assert_eq!(state(&engine), StateKind::Met);
    // The exports move to another folder, where the review export holds no sign-off yet: the
    // old folder's sign-off is no longer this source's evidence.
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &text.replace(
            "path = \"evidence/reviews.csv\"",
            "path = \"moved/reviews.csv\"",
        ),
    );
    let later = now + jiff::SignedDuration::from_hours(1);
    fixture.write_dated(
        "moved/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ4,alice,pending,\n",
        later,
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(later).expect("cycle");
    assert_eq!(state(&engine), StateKind::NoEvidence);
}

/// A subject failing longer than the evidence window keeps the start of its failure: a week
/// of daily exports of the same failing user reads "failing since" the first of them, and
/// its deadline and lapse instant stay where they were, in `status` and the stored state.
#[test]
fn a_failure_longer_than_the_evidence_window_keeps_its_start_and_its_deadline() {
    let first = util::at("2026-11-20T06:00:00Z");
    let fixture = util::standard(first);
    let mut engine = util::engine(&fixture);
    let mut dues = Vec::new();
    for day in 0..9 {
        let now = first + jiff::SignedDuration::from_hours(24 * day);
        fixture.write_dated("evidence/mfa.json", util::MFA_BAD, now);
        engine
            .cycle(now + jiff::SignedDuration::from_mins(30))
            .expect("cycle");
        let subjects = engine
            .store()
            .subjects("acme", "mfa-registered")
            .expect("subjects");
        let b = subjects
            .iter()
            .find(|s| s.subject == "b@acme.example")
            .expect("the failing user");
        dues.push((b.due, b.reason.clone()));
    }
    // The window is 4 days (twice the tolerance and the source's max_age); day 8 is past it.
    let due = Some(util::at("2026-11-21T06:00:00Z"));
    for (day, (got, reason)) in dues.iter().enumerate() {
        assert_eq!(*got, due, "day {day}: {reason}");
        assert!(
            reason.contains("failing since at least 2026-11-20 01:00 EST"),
            "day {day}: {reason}"
        );
    }
}

/// The export of one user without MFA: no record satisfies `expect = "any"`.
const ONLY_B: &str =
    r#"{"value": [{"userPrincipalName": "b@acme.example", "isMfaRegistered": false}]}"#;

/// The standard config with `mfa-registered` judged as a whole, at `tolerance`.
fn whole_duty_config(tolerance: &str) -> String {
    util::contractor_config("").replace(
        "check = \"mfa_registered == true\"\ntolerance = \"24h\"",
        &format!(
            "check = \"mfa_registered == true\"\nexpect = \"any\"\ntolerance = \"{tolerance}\""
        ),
    )
}

/// Writes the failing export dated `at`, runs a cycle half an hour later and gives the
/// whole duty's verdict.
fn whole_duty_fails_at(
    fixture: &util::Fixture,
    engine: &mut dutywatch::engine::Engine,
    at: jiff::Timestamp,
) -> dutywatch_checks::verdict::Verdict {
    fixture.write_dated("evidence/mfa.json", ONLY_B, at);
    engine
        .cycle(at + jiff::SignedDuration::from_mins(30))
        .expect("cycle");
    util::verdict_of(engine, "mfa-registered")
}

/// The same for a duty judged as a whole (`expect = "any"`): a week with no record passing
/// keeps the first day as the start of its failure and the deadline that follows from it.
#[test]
fn a_whole_duty_failing_longer_than_the_window_keeps_its_start_and_its_deadline() {
    let first = util::at("2026-11-20T06:00:00Z");
    let fixture = util::standard(first);
    fixture.write("dutywatch.toml", &whole_duty_config("24h"));
    let mut engine = util::engine(&fixture);
    for day in 0..9 {
        let now = first + jiff::SignedDuration::from_hours(24 * day);
        let verdict = whole_duty_fails_at(&fixture, &mut engine, now);
        let lapsed_at = util::at("2026-11-21T06:00:00Z");
        match verdict.state {
            dutywatch_checks::verdict::State::DueSoon { due } => {
                assert_eq!(due, lapsed_at, "day {day}: {}", verdict.reason);
            }
            dutywatch_checks::verdict::State::Lapsed { since, .. } => {
                assert_eq!(since, lapsed_at, "day {day}: {}", verdict.reason);
            }
            ref other => panic!("day {day}: {other:?}: {}", verdict.reason),
        }
        assert!(
            verdict
                .reason
                .contains("failing since at least 2026-11-20 01:00 EST"),
            "day {day}: {}",
            verdict.reason
        );
    }
}

/// The start is stored, not worked back from the deadline: a tolerance lowered while a duty
/// judged as a whole is failing counts from the day the failure began, not from the old
/// deadline less the new tolerance, nor from the oldest snapshot of the narrower window.
#[test]
fn a_whole_duty_whose_tolerance_is_edited_while_failing_keeps_its_start() {
    let first = util::at("2026-11-20T06:00:00Z");
    let fixture = util::standard(first);
    let day = |n: i64| first + jiff::SignedDuration::from_hours(24 * n);
    fixture.write("dutywatch.toml", &whole_duty_config("5d"));
    let mut engine = util::engine(&fixture);
    for n in 0..12 {
        whole_duty_fails_at(&fixture, &mut engine, day(n));
    }
    fixture.write("dutywatch.toml", &whole_duty_config("24h"));
    let mut engine = util::engine(&fixture);
    for n in 12..14 {
        let verdict = whole_duty_fails_at(&fixture, &mut engine, day(n));
        match verdict.state {
            dutywatch_checks::verdict::State::Lapsed { since, .. } => {
                assert_eq!(since, day(1), "day {n}: {}", verdict.reason);
            }
            ref other => panic!("day {n}: {other:?}: {}", verdict.reason),
        }
        assert!(
            verdict
                .reason
                .contains("failing since at least 2026-11-20 01:00 EST"),
            "day {n}: {}",
            verdict.reason
        );
    }
}
