//! The scheduler: what runs when, reloads, restarts.

use dutywatch::daemon::Daemon;
use dutywatch_checks::verdict::StateKind;

use crate::util::{self, at};

fn start(fixture: &util::Fixture, now: jiff::Timestamp) -> Daemon {
    Daemon::start(fixture.config_path(), fixture.load(), now).expect("daemon starts")
}

#[test]
fn sources_never_run_are_collected_at_start_then_on_their_cron_schedule() {
    // 15:00 UTC = 10:00 in New York.
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    assert_eq!(daemon.next_wake(), now);
    let summary = daemon.step(now).expect("step").expect("work was due");
    assert_eq!(summary.collected, 2);
    assert_eq!(summary.evaluated, 3);
    // Next: the hourly MFA source at 11:00 New York time.
    assert_eq!(
        daemon.next_wake(),
        at("2026-11-23T15:15:00Z"),
        "the 15-minute evaluation comes first"
    );
    let summary = daemon
        .step(at("2026-11-23T15:15:00Z"))
        .expect("step")
        .expect("evaluation due");
    // Nothing changed in between: each duty's verdict still holds, so none is judged again.
    assert_eq!(
        (summary.collected, summary.evaluated, summary.held),
        (0, 0, 3)
    );
    assert_eq!(daemon.next_wake(), at("2026-11-23T15:30:00Z"));
    // Nothing is due in between.
    assert!(
        daemon
            .step(at("2026-11-23T15:20:00Z"))
            .expect("step")
            .is_none()
    );
    // At 11:00 New York the MFA source runs; only its duty is re-evaluated.
    let summary = daemon
        .step(at("2026-11-23T16:00:00Z"))
        .expect("step")
        .expect("due");
    assert_eq!(summary.collected, 1);
}

#[test]
fn a_suspended_daemon_catches_up_once_not_once_per_missed_run() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    // The host sleeps for 20 hours: 20 hourly MFA runs were missed.
    let later = at("2026-11-24T11:00:30Z");
    let summary = daemon.step(later).expect("step").expect("work");
    assert_eq!(
        summary.collected, 2,
        "each source runs once on wake, however many runs it missed"
    );
    assert!(daemon.next_wake() > later);
}

#[test]
fn a_restarted_daemon_runs_what_it_missed_while_down() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    {
        let mut daemon = start(&fixture, now);
        daemon.step(now).expect("step");
    }
    // Down from 15:00 to 15:30: the hourly source (next 16:00) is not due,
    // the daily 06:00 one is not due either.
    let daemon = start(&fixture, at("2026-11-23T15:30:00Z"));
    assert_eq!(
        daemon.next_wake(),
        at("2026-11-23T15:30:00Z"),
        "evaluation runs at start"
    );
    // Down until the next day at 12:00: both sources missed a run.
    let mut daemon = start(&fixture, at("2026-11-24T17:00:00Z"));
    let summary = daemon
        .step(at("2026-11-24T17:00:00Z"))
        .expect("step")
        .expect("work");
    assert_eq!(summary.collected, 2);
}

#[test]
fn a_reload_with_a_broken_config_keeps_the_old_one_running() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");

    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let broken = good.replace("every = \"90d\"", "every = \"ninety days\"");
    fixture.write("dutywatch.toml", &broken);
    let errors = daemon
        .reload(at("2026-11-23T15:05:00Z"))
        .expect_err("the broken config is rejected");
    let text = errors.to_string();
    assert!(text.contains("dutywatch.toml:"), "names the file: {text}");
    assert!(
        text.contains("`ninety days` is not a cadence"),
        "says what is wrong: {text}"
    );
    assert_eq!(
        daemon.config().contractors[0].duties.len(),
        3,
        "the old config still runs"
    );
    daemon
        .step(at("2026-11-23T15:15:00Z"))
        .expect("the daemon keeps working");

    // A valid change is taken, and applies at once.
    let renamed = good.replace(
        "title = \"MFA registered\"",
        "title = \"MFA registered for everyone\"",
    );
    fixture.write("dutywatch.toml", &renamed);
    daemon
        .reload(at("2026-11-23T15:20:00Z"))
        .expect("a valid config is taken");
    let duty = daemon.config().contractors[0]
        .duty("mfa-registered")
        .expect("duty");
    assert_eq!(duty.title, "MFA registered for everyone");
    assert_eq!(
        daemon.next_wake(),
        at("2026-11-23T15:20:00Z"),
        "duties are re-evaluated after a reload"
    );
}

#[test]
fn a_reload_with_a_deeply_nested_check_is_refused_and_the_old_config_keeps_running() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");

    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &good.replace(
            "check = \"mfa_registered == true\"",
            &crate::cli::deeply_nested_check(),
        ),
    );
    let errors = daemon
        .reload(at("2026-11-23T15:05:00Z"))
        .expect_err("the deep config is rejected, not a stack overflow");
    let text = errors.to_string();
    assert!(text.contains("lists cannot be nested"), "{text}");
    assert!(text.len() < 1_000, "a short excerpt, not 200 KB: {text}");
    assert_eq!(daemon.config().contractors[0].duties.len(), 3);
    daemon
        .step(at("2026-11-23T15:15:00Z"))
        .expect("the daemon keeps working on the old config");
}

#[test]
fn a_reload_the_store_cannot_plan_is_rejected_whole() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &good.replace("schedule = \"0 * * * *\"", "schedule = \"30 * * * *\""),
    );
    // The store cannot say when sources last ran (a damaged table).
    rusqlite::Connection::open(fixture.path("state/dutywatch.db"))
        .expect("open")
        .execute_batch("ALTER TABLE source_runs RENAME TO source_runs_damaged")
        .expect("damage");

    let error = daemon
        .reload(at("2026-11-23T15:05:00Z"))
        .expect_err("rejected, not half applied");
    assert!(
        format!("{error:#}").contains("planning the new config's collections"),
        "{error:#}"
    );
    let mfa = daemon.config().contractors[0]
        .source("mfa")
        .expect("the mfa source");
    assert_eq!(
        mfa.schedule.next_after(now),
        Some(at("2026-11-23T16:00:00Z")),
        "the old schedule still runs"
    );
}

#[test]
fn a_removed_duty_leaves_the_status_and_its_history_stays() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let start_of_training = good
        .find("[[contractor.duty]]\nid = \"training\"")
        .expect("training duty");
    fixture.write("dutywatch.toml", &good[..start_of_training]);
    daemon.reload(at("2026-11-23T15:05:00Z")).expect("reload");
    daemon.step(at("2026-11-23T15:05:00Z")).expect("step");
    let store = daemon.engine().store();
    let current: Vec<String> = store
        .current_verdicts(None)
        .expect("current")
        .into_iter()
        .map(|v| v.duty)
        .collect();
    assert_eq!(current, ["access-review", "mfa-registered"]);
    let history = store.history("acme", "training").expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].1.state.kind(), StateKind::NoEvidence);
}

#[test]
fn the_daemon_wakes_to_retry_a_failed_mail_on_time() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    fixture.write("outbox", "a file where the mail folder should be");
    let mut daemon = start(&fixture, now);
    let summary = daemon.step(now).expect("step").expect("work");
    assert_eq!(summary.mail_failures, 1);
    // The first retry is a minute out, long before the next evaluation.
    assert_eq!(daemon.next_wake(), at("2026-11-23T15:01:00Z"));
    std::fs::remove_file(fixture.path("outbox")).expect("clear the obstacle");
    let summary = daemon
        .step(at("2026-11-23T15:01:00Z"))
        .expect("step")
        .expect("the retry ran");
    assert_eq!(
        (summary.collected, summary.evaluated, summary.mails_sent),
        (0, 0, 1)
    );
    assert_eq!(fixture.mails().len(), 1);
    assert_eq!(
        daemon.next_wake(),
        at("2026-11-23T15:15:00Z"),
        "nothing left to retry"
    );
}

#[test]
fn a_pass_that_cannot_record_a_delivery_backs_off_instead_of_resending() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // Outbox leases run on the wall clock; this one is moved with the steps.
    let clock = std::sync::Arc::new(dutywatch::clock::ManualClock::new(now));
    let mut daemon = Daemon::start_with_clock(
        fixture.config_path(),
        fixture.load(),
        now,
        std::sync::Arc::clone(&clock) as std::sync::Arc<dyn dutywatch::clock::Clock>,
    )
    .expect("daemon starts");
    let step = |daemon: &mut Daemon, at: jiff::Timestamp| {
        clock.set(at);
        daemon.step(at)
    };
    // The store refuses to record deliveries (as a full disk would), after the
    // mailer has already handed the mail over.
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    conn.execute_batch(
        "CREATE TRIGGER refuse_sent BEFORE UPDATE OF sent_at ON outbox
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .expect("trigger");

    let error = step(&mut daemon, now).expect_err("the pass fails");
    assert!(format!("{error:#}").contains("disk is full"), "{error:#}");
    assert_eq!(fixture.mails().len(), 1, "the mail went out once");
    assert!(
        daemon.next_wake() > now,
        "the failed pass is not retried at the same instant"
    );
    assert!(
        step(&mut daemon, at("2026-11-23T15:00:30Z"))
            .expect("nothing due")
            .is_none(),
        "nothing is due within the back-off"
    );
    assert_eq!(fixture.mails().len(), 1, "not resent within the back-off");

    // The disk has room again: once the claim runs out, one duplicate at
    // most, then done.
    conn.execute_batch("DROP TRIGGER refuse_sent")
        .expect("drop trigger");
    step(&mut daemon, at("2026-11-23T15:29:00Z")).expect("step");
    assert_eq!(fixture.mails().len(), 1, "still claimed by the failed pass");
    step(&mut daemon, at("2026-11-23T15:30:00Z")).expect("step");
    assert_eq!(fixture.mails().len(), 2, "at most one duplicate");
    step(&mut daemon, at("2026-11-23T15:45:00Z")).expect("step");
    step(&mut daemon, at("2026-11-23T16:30:00Z")).expect("step");
    assert_eq!(fixture.mails().len(), 2);
}

#[test]
fn work_recorded_ahead_of_the_clock_holds_the_daemon_until_the_clock_passes_it() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // A host whose clock ran a week ahead recorded its collections and verdicts then; its
    // clock is now set right. Judging now would write history before what it follows.
    let ahead = at("2026-11-30T15:00:00Z");
    util::engine(&fixture)
        .cycle(ahead)
        .expect("a cycle a week ahead");
    let mut daemon = start(&fixture, now);
    let error = daemon.step(now).expect_err("held");
    assert!(
        error
            .to_string()
            .contains("restore a backup from before it"),
        "{error}"
    );
    // Past that week, the held sources run at once.
    let past = at("2026-11-30T15:10:00Z");
    let summary = daemon.step(past).expect("step").expect("work");
    assert_eq!(summary.collected, 2, "both sources, held until now");
}

/// Log lines written while `f` runs on this thread, as text.
pub(crate) fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
    (value, text)
}

#[test]
fn a_chain_break_between_cycles_is_found_and_logged_once() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    let (_, logs) = logs_of(|| daemon.step(now).expect("step"));
    assert_eq!(daemon.chain_break(), None, "{logs}");
    let verified = daemon.chain_verified().expect("verified").clone();
    assert_eq!(verified.id.0, 2, "both collected rows are verified");

    // Between two cycles, the newest row is backdated in the database.
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    conn.execute_batch(
        "DROP TRIGGER evidence_no_update;
         UPDATE evidence SET effective_at = '2026-11-22T15:00:00Z' WHERE id = 2;",
    )
    .expect("tamper");
    drop(conn);

    let broken = Some((
        verified.id,
        "chain does not match the row's recorded fields".to_owned(),
    ));
    let (_, logs) = logs_of(|| {
        daemon.step(at("2026-11-23T15:15:00Z")).expect("step");
        assert_eq!(daemon.chain_break(), broken.as_ref());
        // The next cycles find the same break and say nothing new.
        daemon.step(at("2026-11-23T15:30:00Z")).expect("step");
        daemon.step(at("2026-11-23T15:45:00Z")).expect("step");
    });
    assert_eq!(daemon.chain_break(), broken.as_ref());
    assert_eq!(logs.matches("EvidenceChainBroken").count(), 1, "{logs}");
    let line = logs
        .lines()
        .find(|l| l.contains("EvidenceChainBroken"))
        .expect("logged");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("evidence=E2"), "{line}");
    assert!(
        line.contains("chain does not match the row's recorded fields"),
        "{line}"
    );
    // The duty that reads that row (sources are collected in id order: `mfa`, then
    // `reviews`) is not evaluated on it (logged each evaluation).
    assert!(logs.contains("EvidenceTampered"), "{logs}");
    let review = daemon
        .engine()
        .store()
        .current_verdicts(None)
        .expect("verdicts")
        .into_iter()
        .find(|v| v.duty == "access-review")
        .expect("access-review");
    assert_eq!(review.verdict.state.kind(), StateKind::SourceError);
    assert!(
        review.verdict.reason.contains("evidence E2 (`"),
        "{}",
        review.verdict.reason
    );

    // A restart verifies the whole chain once, and finds it again.
    let mut restarted = start(&fixture, at("2026-11-23T16:00:00Z"));
    let (_, logs) = logs_of(|| restarted.step(at("2026-11-23T16:00:00Z")).expect("step"));
    assert_eq!(restarted.chain_break(), broken.as_ref());
    assert_eq!(logs.matches("EvidenceChainBroken").count(), 1, "{logs}");
}

#[test]
fn a_clock_stepped_back_holds_every_job_until_it_has_caught_up() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step").expect("work was due");
    let mails = fixture.mails().len();
    let store = || dutywatch::store::Store::open(&fixture.path("state/dutywatch.db")).expect("db");
    let history = store().history("acme", "training").expect("history");

    // The host's clock steps back a day: the first step says why, and nothing runs.
    let behind = at("2026-11-22T15:00:00Z");
    let error = daemon.step(behind).expect_err("held");
    assert!(
        error
            .to_string()
            .contains("the clock reads 2026-11-22T15:00:00Z, but the database already holds work done as of 2026-11-23T15:00:00Z"),
        "{error}"
    );
    assert_eq!(
        daemon.next_wake(),
        at("2026-11-22T15:01:00Z"),
        "looks again in a minute"
    );
    // Held quietly after that, however much work its schedule says is due.
    assert!(
        daemon
            .step(at("2026-11-22T16:00:00Z"))
            .expect("held")
            .is_none()
    );
    assert_eq!(fixture.mails().len(), mails, "nothing was mailed");
    assert_eq!(
        store().history("acme", "training").expect("history"),
        history
    );

    // A restart reads the same from the database.
    let mut restarted = start(&fixture, behind);
    assert!(restarted.step(behind).is_err());

    // Once the clock reads past the database's latest work, the jobs run again.
    let caught_up = at("2026-11-23T16:00:00Z");
    assert!(daemon.step(caught_up).expect("runs").is_some());
    assert!(daemon.next_wake() > caught_up);
}

#[test]
fn a_database_removed_or_replaced_under_the_daemon_holds_every_job() {
    let now = at("2026-11-23T15:00:00Z");
    for replace in [false, true] {
        let fixture = util::standard(now);
        let mut daemon = start(&fixture, now);
        daemon.step(now).expect("step").expect("work was due");
        let db = fixture.path("state/dutywatch.db");
        if replace {
            // A copy renamed over it, as a restore while the service runs does.
            let copy = fixture.path("state/copy.db");
            std::fs::copy(&db, &copy).expect("copy");
            std::fs::rename(&copy, &db).expect("rename");
        } else {
            std::fs::remove_file(&db).expect("remove");
        }
        let mails = fixture.mails().len();
        let next = at("2026-11-24T15:00:00Z");
        let error = daemon.step(next).expect_err("held");
        assert!(
            error
                .to_string()
                .contains("was removed or replaced while dutywatch had it open")
                && error.to_string().contains("stop the service"),
            "{error}"
        );
        assert_eq!(daemon.next_wake(), at("2026-11-24T15:01:00Z"));
        assert!(
            daemon
                .step(at("2026-11-24T15:01:00Z"))
                .expect("held")
                .is_none()
        );
        assert_eq!(fixture.mails().len(), mails, "nothing was mailed");
        assert_eq!(db.exists(), replace, "nothing was created in its place");
    }
}

#[test]
fn a_source_pointed_elsewhere_is_collected_at_once_on_reload_and_at_start() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    let state = |daemon: &Daemon, duty: &str| {
        daemon
            .engine()
            .store()
            .duty_state("acme", duty)
            .expect("state")
    };
    assert_eq!(
        state(&daemon, "access-review"),
        Some(dutywatch_checks::verdict::StateKind::Met)
    );
    let mails = fixture.mails().len();

    // The export moves to a folder of its own, and the config follows it (reviews run at
    // 06:00 only, so until tomorrow nothing would read the new path).
    let moved = |fixture: &util::Fixture, from: &str, to: &str, at: jiff::Timestamp| {
        fixture.write_dated(to, util::REVIEWS, at);
        std::fs::remove_file(fixture.path(from)).expect("remove");
        let config = std::fs::read_to_string(fixture.config_path()).expect("read");
        fixture.write(
            "dutywatch.toml",
            &config.replace(&format!("path = \"{from}\""), &format!("path = \"{to}\"")),
        );
    };
    let t1 = at("2026-11-23T15:05:00Z");
    moved(
        &fixture,
        "evidence/reviews.csv",
        "evidence/iam/reviews.csv",
        t1,
    );
    daemon.reload(t1).expect("reload");
    daemon.step(t1).expect("step");
    assert_eq!(
        state(&daemon, "access-review"),
        Some(dutywatch_checks::verdict::StateKind::Met),
        "judged on the file at its new path, not on none"
    );
    let (_, origin) = daemon
        .engine()
        .store()
        .newest_evidence("acme", "reviews")
        .expect("origin")
        .expect("evidence");
    assert!(origin.ends_with("evidence/iam/reviews.csv"), "{origin}");
    drop(daemon);

    // Across a restart too.
    let t2 = at("2026-11-23T15:10:00Z");
    moved(
        &fixture,
        "evidence/iam/reviews.csv",
        "evidence/soc/reviews.csv",
        t2,
    );
    let mut daemon = start(&fixture, t2);
    daemon.step(t2).expect("step");
    assert_eq!(
        state(&daemon, "access-review"),
        Some(dutywatch_checks::verdict::StateKind::Met)
    );
    assert_eq!(fixture.mails().len(), mails, "no mail: nothing changed");
    let last = |daemon: &Daemon| {
        daemon
            .engine()
            .store()
            .last_run("acme", "reviews")
            .expect("last run")
    };
    let collected = last(&daemon);
    assert_eq!(collected, Some(t2));
    // Nothing moved: neither a reload nor a restart collects it before its 06:00 run.
    let t3 = at("2026-11-23T15:15:00Z");
    daemon.reload(t3).expect("reload");
    daemon.step(t3).expect("step");
    assert_eq!(last(&daemon), collected);
    drop(daemon);
    let t4 = at("2026-11-23T15:20:00Z");
    let mut daemon = start(&fixture, t4);
    daemon.step(t4).expect("step");
    assert_eq!(last(&daemon), collected);
}
