//! Online backup of the live database.
//!
//! The copy is one consistent snapshot: SQLite's backup API copies all pages in a single step
//! under one read transaction, which in WAL mode does not block the writer. It is written to
//! `<dest>.partial` (mode 0600) and renamed over `dest` only when complete, so a crash never
//! leaves a half-written file under the backup's name.

use std::fs::File;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::{BUSY_TIMEOUT, Store, StoreError, files};

/// Pause between attempts while the destination is locked.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How many of the problems `PRAGMA quick_check` finds are reported: the first few say the
/// file is damaged and where; a badly damaged one would list thousands.
const DAMAGE_SHOWN: usize = 10;

/// [`Store::damage`] of a connection (also before migrations, `Store::open_checked`).
pub(super) fn damage_of(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    let check = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(&format!("PRAGMA quick_check({DAMAGE_SHOWN})"))?;
        let found = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(if found == ["ok"] { Vec::new() } else { found })
    };
    match check() {
        // A file damaged enough that the check itself cannot read it.
        Err(rusqlite::Error::SqliteFailure(error, message))
            if error.code == rusqlite::ErrorCode::DatabaseCorrupt =>
        {
            Ok(vec![message.unwrap_or_else(|| error.to_string())])
        }
        other => other,
    }
}

/// [`Store::ensure_undamaged`] of a connection to `path` (also before migrations,
/// `Store::open_checked`).
pub(super) fn undamaged(conn: &rusqlite::Connection, path: &Path) -> Result<(), StoreError> {
    let problems = damage_of(conn).map_err(|source| StoreError::Sql {
        op: "checking the database file for damage".to_owned(),
        path: path.to_owned(),
        source,
    })?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(StoreError::Damaged {
        path: path.to_owned(),
        problems,
    })
}

impl Store {
    /// The damage SQLite finds in the database file (`PRAGMA quick_check`: every page and
    /// record well formed, without cross-checking indexes), at most the first few problems;
    /// empty when it is sound. A restore that left an old `-wal` file beside the copy, or a
    /// disk that lost a write, shows here although every evidence row may still verify.
    pub fn damage(&self) -> Result<Vec<String>, StoreError> {
        let on_err = self.sql_error("checking the database file for damage".to_owned());
        damage_of(&self.conn).map_err(on_err)
    }

    /// [`damage`](Store::damage) as an error ([`StoreError::Damaged`]), for what must not
    /// rest on a damaged file (an assessor's package).
    pub fn ensure_undamaged(&self) -> Result<(), StoreError> {
        undamaged(&self.conn, &self.path)
    }

    /// Copies the database to `dest` (created 0600, replaced if it exists) while other
    /// connections keep writing. The copy is a normal dutywatch database: `Store::open` it.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if is_same_file(&self.path, dest) {
            return Err(StoreError::BackupOntoSelf {
                path: dest.to_owned(),
            });
        }
        files::create_parent(dest)?;
        let partial = files::with_suffix(dest, ".partial");
        files::create_fresh_private_file(&partial)?;
        let result = self
            .copy_into(&partial)
            .and_then(|()| finish(&partial, dest));
        if result.is_err() {
            // Best effort: the error being returned matters more than a leftover file.
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    fn copy_into(&self, partial: &Path) -> Result<(), StoreError> {
        let fail = |source| StoreError::Backup {
            path: partial.to_owned(),
            source,
        };
        let mut out = Connection::open(partial).map_err(fail)?;
        {
            let backup = Backup::new(&self.conn, &mut out).map_err(fail)?;
            let deadline = Instant::now() + BUSY_TIMEOUT;
            loop {
                // -1: all pages in one step, so other writers cannot force a restart.
                match backup.step(-1).map_err(fail)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                        thread::sleep(RETRY_PAUSE);
                    }
                    StepResult::Busy | StepResult::Locked => {
                        return Err(fail(rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                            Some("backup destination stayed locked".to_owned()),
                        )));
                    }
                    // StepResult is non-exhaustive; anything new is worth retrying once
                    // more within the deadline rather than failing outright.
                    _ if Instant::now() < deadline => thread::sleep(RETRY_PAUSE),
                    _ => {
                        return Err(fail(rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                            Some("backup did not finish".to_owned()),
                        )));
                    }
                }
            }
        }
        // Closing checkpoints and removes the copy's own -wal/-shm, so the single file is
        // the whole backup.
        out.close().map_err(|(_, source)| fail(source))
    }
}

/// Flushes the finished copy to disk and moves it to its final name.
fn finish(partial: &Path, dest: &Path) -> Result<(), StoreError> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::BackupFile { path, source }
    };
    File::open(partial)
        .and_then(|file| file.sync_all())
        .map_err(fail(partial))?;
    std::fs::rename(partial, dest).map_err(fail(dest))?;
    if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Makes the rename itself durable.
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(fail(dir))?;
    }
    Ok(())
}

/// Whether `a` and `b` name the same existing file (a backup must not replace the live
/// database under its open connections).
fn is_same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use dutywatch_checks::verdict::State;
    use jiff::{Timestamp, ToSpan};

    use super::super::NewEvidence;
    use super::super::test_util::{temp_store, ts};
    use super::super::verdicts::tests::{due_soon, verdict};
    use super::*;

    #[test]
    fn backup_while_another_connection_writes() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        for duty in ["access_review", "backup_test", "incident_drill"] {
            t.store
                .record_verdict("acme", duty, at, &due_soon(), &mut |_| None)
                .unwrap();
        }

        // A second writer adds evidence and flips another client's verdicts meanwhile.
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = Arc::clone(&stop);
            let path = t.path.clone();
            thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                let mut i: i64 = 0;
                let start: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
                while !stop.load(Ordering::Relaxed) || i < 50 {
                    let when = start.checked_add(i.seconds()).unwrap();
                    let payload = i.to_string().into_bytes();
                    store
                        .add_evidence(&NewEvidence {
                            client: "globex",
                            source: "manual",
                            fetched_at: when,
                            effective_at: when,
                            media_type: "text/plain",
                            origin: "load test",
                            payload: &payload,
                        })
                        .unwrap();
                    let state = if i % 2 == 0 {
                        State::NoEvidence
                    } else {
                        State::Met { next_due: None }
                    };
                    store
                        .record_verdict(
                            "globex",
                            "flapping",
                            when,
                            &verdict(state, "x"),
                            &mut |_| None,
                        )
                        .unwrap();
                    i += 1;
                }
            })
        };

        let dest = t.dir.path().join("backups").join("dutywatch-backup.db");
        for _ in 0..3 {
            t.store.backup_to(&dest).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();

        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The backup is one self-contained file: no partial copy, no -wal/-shm/-journal.
        let mut left: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, vec![std::ffi::OsString::from("dutywatch-backup.db")]);

        let copy = Store::open(&dest).unwrap();
        let integrity: String = copy
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        assert_eq!(
            copy.current_verdicts(Some("acme")).unwrap(),
            t.store.current_verdicts(Some("acme")).unwrap()
        );
        let chain = copy.verify_chain().unwrap();
        assert_eq!(chain.broken, None);
    }

    #[test]
    fn backup_onto_itself_is_refused() {
        let t = temp_store();
        let err = t.store.backup_to(&t.path).unwrap_err();
        assert!(matches!(err, StoreError::BackupOntoSelf { .. }), "{err}");
        // The live database is untouched.
        assert_eq!(t.store.verify_chain().unwrap().rows, 0);
    }
}
