//! Online backup while cycles run, and restore.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use dutywatch::engine::Engine;
use dutywatch::store::{CurrentVerdict, Store};
use jiff::SignedDuration;

use crate::util::{self, MFA_BAD, MFA_OK, at, text};

/// The writer's limit, far more than the backups need; reaching it fails the test.
const MAX_CYCLES: i64 = 20_000;

fn integrity(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open the copy");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}

#[test]
fn backups_taken_while_cycles_run_restore_intact_and_consistent() {
    let start = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(start);
    let config = fixture.load();
    let database = config.database.clone();
    let mut engine = Engine::new(Arc::new(config), Store::open(&database).expect("store"));
    engine.cycle(start).expect("first cycle");

    // The writer runs cycles, flipping the MFA export each time, and reports the verdicts
    // after every cycle, until the backups are done: every backup runs while it writes.
    let (sender, receiver) = mpsc::channel::<Vec<CurrentVerdict>>();
    let first = engine.store().current_verdicts(None).expect("verdicts");
    sender.send(first).expect("send");
    let mfa = fixture.path("evidence/mfa.json");
    let stop = Arc::new(AtomicBool::new(false));
    // Cycles committed so far: read before and after each backup, it shows writes that
    // happened while that backup ran.
    let committed = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, committed) = (Arc::clone(&stop), Arc::clone(&committed));
        std::thread::spawn(move || {
            let mut i = 1_i64;
            while !stop.load(Ordering::SeqCst) && i <= MAX_CYCLES {
                let now = start + SignedDuration::from_mins(15 * i);
                std::fs::write(&mfa, if i % 2 == 0 { MFA_OK } else { MFA_BAD }).expect("write");
                let file = std::fs::File::options()
                    .write(true)
                    .open(&mfa)
                    .expect("open");
                file.set_modified(std::time::SystemTime::from(now))
                    .expect("mtime");
                engine.cycle(now).expect("cycle");
                committed.fetch_add(1, Ordering::SeqCst);
                sender
                    .send(engine.store().current_verdicts(None).expect("verdicts"))
                    .expect("send");
                i += 1;
            }
        })
    };
    while committed.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }

    // At least 8 backups, and more until 3 of them provably overlapped a whole cycle: two
    // increments during one backup mean the cycle between them began and committed while
    // the backup ran.
    let mut copies = Vec::new();
    let mut overlapped = 0;
    while copies.len() < 8 || (overlapped < 3 && copies.len() < 60) {
        let copy = fixture.path(&format!("backups/copy-{}.db", copies.len()));
        let before = committed.load(Ordering::SeqCst);
        let output = fixture.run(&[
            "backup",
            "--config",
            "dutywatch.toml",
            copy.to_str().expect("utf-8"),
        ]);
        let during = committed.load(Ordering::SeqCst) - before;
        assert!(output.status.success(), "{:?}", text(&output));
        assert!(
            text(&output).0.contains("chain intact"),
            "{:?}",
            text(&output)
        );
        if during >= 2 {
            overlapped += 1;
        }
        copies.push(copy);
    }
    let writer_still_ran = !writer.is_finished();
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("the writer finishes");
    assert!(
        writer_still_ran,
        "the writer ran out of cycles before the last backup"
    );
    assert!(
        overlapped >= 3,
        "only {overlapped} of {} backups overlapped a whole cycle of writes",
        copies.len()
    );
    let snapshots: Vec<Vec<CurrentVerdict>> = receiver.iter().collect();
    assert_eq!(snapshots.len(), committed.load(Ordering::SeqCst) + 1);

    // Taken at rest, a copy holds exactly the final verdicts.
    let last = fixture.path("backups/at-rest.db");
    let output = fixture.run(&[
        "backup",
        "--config",
        "dutywatch.toml",
        last.to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let at_rest = Store::open(&last)
        .expect("open")
        .current_verdicts(None)
        .expect("verdicts");
    assert_eq!(Some(&at_rest), snapshots.last());

    for copy in &copies {
        assert_eq!(integrity(copy), "ok", "{}", copy.display());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(copy).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "a backup holds security data");
        let restored = Store::open(copy).expect("a backup opens as a database");
        // Each verdict is its own transaction, so a copy taken mid-cycle
        // may mix cycles across duties, but never tears a row: every
        // duty's row is exactly what that duty had after some cycle.
        for row in restored.current_verdicts(None).expect("verdicts") {
            assert!(
                snapshots.iter().any(|cycle| cycle.contains(&row)),
                "{row:?} matches no state the writer committed"
            );
        }
        assert!(restored.verify_chain().expect("verify").broken.is_none());
    }
}

#[test]
fn a_restored_backup_serves_status_with_the_same_verdicts() {
    // Evidence as fresh as the clock `once` runs on.
    let fixture = util::standard(at(util::CLOCK));
    let output = fixture.run(&["once", "--config", "dutywatch.toml", "--json"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let before: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "backup.db"]);
    assert!(output.status.success(), "{:?}", text(&output));

    // Disaster: the state directory is gone. Restore = put the copy back.
    std::fs::remove_dir_all(fixture.path("state")).expect("lose the state");
    std::fs::create_dir_all(fixture.path("state")).expect("mkdir");
    std::fs::copy(
        fixture.path("backup.db"),
        fixture.path("state/dutywatch.db"),
    )
    .expect("restore");
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--json"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let after: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(before, after);
    // And the restored database does not mail again what it already mailed.
    let mails = fixture.mails().len();
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(output.status.success());
    assert_eq!(fixture.mails().len(), mails);
}

#[test]
fn tampered_evidence_fails_verify_and_backup() {
    let fixture = util::standard(at(util::CLOCK));
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "good.db"]);
    assert!(output.status.success(), "{:?}", text(&output));

    // Someone with write access to the database rewrites an export.
    util::tamper_payload(
        &fixture,
        "id = (SELECT MIN(id) FROM evidence)",
        "{\"value\": []}",
    );

    let output = fixture.run(&["evidence", "verify", "--config", "dutywatch.toml"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("evidence chain BROKEN at"), "{stdout}");

    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "bad.db"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("chain BROKEN"), "{stdout}");
    assert!(stderr.contains("keep an older one"), "{stderr}");
}

#[test]
fn mail_decided_after_a_restore_never_reuses_a_message_id() {
    let start = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(start);
    let once = |now: &str| {
        let output = fixture.run(&["once", "--config", "dutywatch.toml", "--at", now]);
        assert!(output.status.success(), "{:?}", text(&output));
    };
    once("2026-11-23T15:00:00Z");
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "backup.db"]);
    assert!(output.status.success(), "{:?}", text(&output));

    // A second escalation, mailed after the backup was taken.
    fixture.write_dated("evidence/mfa.json", MFA_BAD, at("2026-11-23T15:30:00Z"));
    once("2026-11-23T16:00:00Z");
    assert_eq!(fixture.mails().len(), 2);

    // The database is restored from the backup: the same escalation is
    // decided again, as outbox row 2 again, and mailed again.
    std::fs::copy(
        fixture.path("backup.db"),
        fixture.path("state/dutywatch.db"),
    )
    .expect("restore");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(fixture.path(&format!("state/dutywatch.db{suffix}")));
    }
    once("2026-11-23T16:15:00Z");
    let mails = fixture.mails();
    assert_eq!(mails.len(), 3);
    let mut ids: Vec<&str> = mails
        .iter()
        .map(|mail| {
            mail.lines()
                .find_map(|line| line.strip_prefix("Message-ID: "))
                .expect("a Message-ID")
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "a Message-ID was used twice: {ids:?}");
}

#[test]
fn a_damaged_database_file_fails_verify_and_says_how_to_restore() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    assert!(
        fixture
            .run(&["once", "--config", "dutywatch.toml"])
            .status
            .success()
    );
    // Every page but the first (the header and the schema) overwritten, as a disk that lost
    // its writes, or a restore onto an old `-wal` file, leaves it.
    let path = fixture.path("state/dutywatch.db");
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 4096 * 2, "{}", bytes.len());
    bytes[4096..].fill(0xab);
    std::fs::write(&path, &bytes).expect("write");

    let output = fixture.run(&["evidence", "verify", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("database file DAMAGED (")
            && stdout.contains("remove the -wal and -shm files beside the database"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("intact"), "{stdout}");
    let output = fixture.run(&["evidence", "verify", "--config", "dutywatch.toml", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        json["database"]["damaged"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{json}"
    );
    // Commands that only meet the damage on their way say so too, and where to go next.
    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stderr.contains("the database file is damaged: put the latest good backup in its place"),
        "{stderr}"
    );
    // Nor does a backup of it replace the last good one.
    let good = b"the last good backup".to_vec();
    std::fs::write(fixture.path("copy.db"), &good).expect("write");
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "copy.db"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("is damaged (") && stderr.contains("so no backup was written"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(fixture.path("copy.db")).expect("read"), good);
}

#[test]
fn damage_no_cycle_reads_stops_once_and_the_daemon_before_they_write() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    assert!(
        fixture
            .run(&[
                "once",
                "--config",
                "dutywatch.toml",
                "--at",
                "2026-11-23T15:00:00Z"
            ])
            .status
            .success()
    );
    // A table no cycle reads, spread over several pages; one of its leaves is lost, as a
    // disk that dropped a write leaves it. A cycle would never meet the damage.
    let path = fixture.path("state/dutywatch.db");
    let page = {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE spare (x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64)
             INSERT INTO spare SELECT randomblob(1000) FROM n;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("a spare table");
        let root: i64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'spare'",
                [],
                |r| r.get(0),
            )
            .expect("its root");
        let size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size");
        // The page after the root is one of its leaves.
        (root * size, size)
    };
    let mut bytes = std::fs::read(&path).expect("read");
    let (from, size) = (page.0 as usize, page.1 as usize);
    bytes[from..from + size].fill(0xab);
    std::fs::write(&path, &bytes).expect("write");
    // Nothing else may be written first either: no migration, no checkpoint.
    let _ = std::fs::remove_file(fixture.path("state/dutywatch.db-wal"));

    let output = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-23T16:00:00Z",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("is DAMAGED (") && stderr.contains("restore the latest backup"),
        "{stderr}"
    );
    // Nor does anything else write to it, or build an assessor's package on it.
    for args in [
        &["ack", "access-review", "--by", "Dana", "--reason", "on it"][..],
        &["export", "--out", "package"][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--config", "dutywatch.toml"]);
        let output = fixture.run(&all);
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success(), "{args:?}: {stdout}");
        assert!(stderr.contains("is DAMAGED ("), "{args:?}: {stderr}");
    }
    let daemon = dutywatch::daemon::Daemon::start_with_clock(
        fixture.config_path(),
        fixture.load(),
        at("2026-11-23T16:00:00Z"),
        std::sync::Arc::new(dutywatch::clock::FixedClock(at("2026-11-23T16:00:00Z"))),
    );
    let Err(error) = daemon else {
        panic!("the daemon refuses to start on a damaged database");
    };
    let error = format!("{error:#}");
    assert!(error.contains("is DAMAGED ("), "{error}");
    assert!(
        std::fs::read(&path).expect("read") == bytes,
        "the damaged file is left exactly as it was"
    );
}

#[test]
fn a_database_of_an_older_version_can_be_backed_up_before_it_is_migrated() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    assert!(
        fixture
            .run(&["once", "--config", "dutywatch.toml"])
            .status
            .success()
    );
    let db = fixture.path("state/dutywatch.db");
    rusqlite::Connection::open(&db)
        .expect("open")
        .pragma_update(None, "user_version", 10)
        .expect("an older version");
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "before-upgrade.db"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("as it is, at schema version 10"),
        "{stdout}"
    );
    let copy = rusqlite::Connection::open(fixture.path("before-upgrade.db")).expect("copy");
    let version: i64 = copy
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 10, "copied as it was, not migrated");
    assert_eq!(integrity(&fixture.path("before-upgrade.db")), "ok");

    // An empty file is no database of any version: the backup there stays.
    std::fs::write(&db, b"").expect("truncate");
    let good = std::fs::read(fixture.path("before-upgrade.db")).expect("read");
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "before-upgrade.db"]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("is not a dutywatch database"), "{stderr}");
    assert_eq!(
        std::fs::read(fixture.path("before-upgrade.db")).expect("read"),
        good
    );
}
