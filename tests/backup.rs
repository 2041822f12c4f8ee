//! Online backup while cycles run, and restore.

use std::sync::{Arc, mpsc};

use dutywatch::engine::Engine;
use dutywatch::store::{CurrentVerdict, Store};
use jiff::{SignedDuration, Timestamp};

use crate::util::{self, MFA_BAD, MFA_OK, at, text};

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

    // The writer runs cycles, flipping the MFA export each time, and
    // reports the verdicts after every cycle.
    let (sender, receiver) = mpsc::channel::<Vec<CurrentVerdict>>();
    let first = engine.store().current_verdicts(None).expect("verdicts");
    sender.send(first).expect("send");
    let mfa = fixture.path("evidence/mfa.json");
    let writer = std::thread::spawn(move || {
        for i in 1..=40_i64 {
            let now = start + SignedDuration::from_mins(15 * i);
            std::fs::write(&mfa, if i % 2 == 0 { MFA_OK } else { MFA_BAD }).expect("write");
            let file = std::fs::File::options()
                .write(true)
                .open(&mfa)
                .expect("open");
            file.set_modified(std::time::SystemTime::from(now))
                .expect("mtime");
            engine.cycle(now).expect("cycle");
            sender
                .send(engine.store().current_verdicts(None).expect("verdicts"))
                .expect("send");
        }
    });

    let mut copies = Vec::new();
    for n in 0..8 {
        let copy = fixture.path(&format!("backups/copy-{n}.db"));
        let output = fixture.run(&[
            "backup",
            "--config",
            "dutywatch.toml",
            copy.to_str().expect("utf-8"),
        ]);
        assert!(output.status.success(), "{:?}", text(&output));
        assert!(
            text(&output).0.contains("chain intact"),
            "{:?}",
            text(&output)
        );
        copies.push(copy);
    }
    writer.join().expect("the writer finishes");
    let snapshots: Vec<Vec<CurrentVerdict>> = receiver.iter().collect();
    assert_eq!(snapshots.len(), 41);

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
    let now = Timestamp::now();
    let fixture = util::standard(now);
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
    let fixture = util::standard(Timestamp::now());
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let output = fixture.run(&["backup", "--config", "dutywatch.toml", "good.db"]);
    assert!(output.status.success(), "{:?}", text(&output));

    // Someone with write access to the database rewrites an export.
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    conn.execute_batch(
        "DROP TRIGGER evidence_no_update;
         UPDATE evidence SET payload = CAST('{\"value\": []}' AS BLOB)
          WHERE id = (SELECT MIN(id) FROM evidence);",
    )
    .expect("tamper");
    drop(conn);

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
