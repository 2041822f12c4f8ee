//! The SQLite state of dutywatch: evidence, collector runs, verdicts, escalations and the
//! mail outbox.
//!
//! Only this module touches SQLite. One [`Store`] is one connection; the daemon keeps a single
//! writer (every write transaction is `IMMEDIATE`, so a second writer such as
//! `dutywatch evidence add` waits on `busy_timeout` instead of failing half-way), and reports
//! open their own [`Store::open_read_only`].
//!
//! Timestamps are stored as RFC 3339 text in UTC with whole seconds. One fixed width makes text
//! order equal time order, which the SQL relies on; sub-second precision means nothing for a
//! duty that is due on a day, so values read back are truncated to the second.

mod backup;
mod digests;
mod evidence;
mod files;
mod good_configs;
mod incidents;
mod keyed;
mod ladder;
mod outbox;
mod payload;
mod runs;
mod verdicts;

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

pub use digests::{DIGEST_DUTY, NewWeek, WeekRecord};
pub use evidence::{
    ChainPosition, ChainReport, CheckedEvidence, CheckedHeader, EvidenceHeader, NewEvidence,
    StoredEvidence, Tamper, Tampered,
};
pub use incidents::{
    IncidentChange, IncidentMail, IncidentRefusal, IncidentUpdate, StoredIncident, TimelineReport,
};
pub use keyed::KeyedMail;
pub use ladder::{
    Ack, AckKind, ComposedMail, DecidedStep, LadderState, LadderThread, NewAck, PlannedStep,
};
pub use outbox::{Lease, PendingMail, UndeliveredMail};
pub use verdicts::{
    CurrentSubject, CurrentVerdict, KeptDuty, MailThread, OutgoingMail, Recorded, SubjectChange,
    Transition,
};

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
/// Never edit a released migration: add the next one.
const MIGRATION_LIST: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_init.sql")),
    M::up(include_str!("migrations/0002_outbox_delivery.sql")),
    M::up(include_str!("migrations/0003_outbox_cancel.sql")),
    M::up(include_str!("migrations/0004_subjects.sql")),
    M::up(include_str!("migrations/0005_outbox_lease.sql")),
    M::up(include_str!("migrations/0006_keyed_escalations.sql")).foreign_key_check(),
    M::up(include_str!("migrations/0007_incidents.sql")),
    M::up(include_str!("migrations/0008_ladder.sql")),
    M::up(include_str!("migrations/0009_digest_weeks.sql")),
    M::up(include_str!("migrations/0012_payloads.sql")).foreign_key_check(),
    M::up(include_str!("migrations/0016_attention_index.sql")),
    M::up(include_str!("migrations/0017_met_subjects.sql")),
    M::up(include_str!("migrations/0018_payload_encoding.sql")),
    M::up(include_str!("migrations/0019_incident_chain.sql")),
    M::up(include_str!("migrations/0020_met_subjects_backfill.sql")),
    M::up(include_str!("migrations/0021_runs_by_start.sql")),
    M::up(include_str!("migrations/0022_good_configs.sql")),
    M::up(include_str!("migrations/0023_lean_subject_tables.sql")),
    M::up(include_str!("migrations/0024_incident_terms.sql")),
    M::up(include_str!("migrations/0025_subject_failing_since.sql")),
    M::up(include_str!("migrations/0026_duty_failing_since.sql")),
];
const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_LIST);

/// The name of the daemon's lock beside the database (`lock_path`), and its sender name in
/// the outbox (`engine::DAEMON_SENDER`).
pub const DAEMON_LOCK: &str = "daemon";

/// The lock file a sender `name` holds beside `database`: `<database>.<name>-lock`.
pub fn lock_path(database: &Path, name: &str) -> PathBuf {
    let mut lock = database.as_os_str().to_owned();
    lock.push(format!(".{name}-lock"));
    PathBuf::from(lock)
}

/// Whether another live process holds the lock at `lock` (none when the file is missing or
/// cannot be opened: nobody could have locked it).
fn locked_by_another(lock: &Path) -> bool {
    // Read-only is enough for `flock`, and works for a user who may not write the daemon's
    // 0600 lock file.
    std::fs::OpenOptions::new()
        .read(true)
        .open(lock)
        .is_ok_and(|file| matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// How long a statement waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store could not do what was asked. Every variant names the database or file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("no database at {} — run `dutywatch once` or start the daemon first", path.display())]
    Missing { path: PathBuf },
    #[error("cannot create directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create {}{}", path.display(), create_hint(path, source))]
    CreateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot restrict permissions of {} to 0600", path.display())]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open database {}{}", path.display(), sql_hint(source))]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot configure database {} ({setting}){}", path.display(), sql_hint(source))]
    Configure {
        path: PathBuf,
        setting: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {} stays in journal mode `{mode}`, expected `wal`", path.display())]
    NotWal { path: PathBuf, mode: String },
    #[error("cannot migrate database {}", path.display())]
    Migrate {
        path: PathBuf,
        #[source]
        source: rusqlite_migration::Error,
    },
    #[error(
        "the database file {} is DAMAGED ({}): restore the latest backup (README, Backup and restore: stop the unit, remove the -wal and -shm files beside the database, put the copy in place) before dutywatch writes to it again",
        path.display(),
        damage_summary(problems)
    )]
    Damaged {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("database {} {}", path.display(), schema_advice(*found, *expected))]
    SchemaVersion {
        path: PathBuf,
        found: i64,
        expected: usize,
    },
    #[error(
        "the database file {} was removed or replaced while dutywatch had it open, so what it writes now would be lost: stop the service, put the right database back (README, Backup and restore) and start it again",
        path.display()
    )]
    Replaced { path: PathBuf },
    /// Migrating would change the tables under a daemon of the version before, which reads
    /// and writes them as they were.
    #[error(
        "database {} is at schema version {found} and this dutywatch needs {expected}, but a dutywatch daemon is running on it ({} is locked) and would go on writing the old tables: stop the daemon (`systemctl stop dutywatch`), then start this version's daemon, which migrates it, or run this command again",
        path.display(),
        lock.display()
    )]
    DaemonOnOlderSchema {
        path: PathBuf,
        lock: PathBuf,
        found: i64,
        expected: usize,
    },
    /// A payload, intact, that the memory at hand cannot hold decoded.
    #[error(
        "not enough memory to read the payload of evidence {id} ({client}/{source_id}, {bytes} bytes); it is intact and is read again on the next pass: give the service more memory, or lower the source's `max_bytes`"
    )]
    NoRoom {
        id: dutywatch_checks::evidence::EvidenceId,
        client: String,
        source_id: String,
        bytes: u64,
    },
    #[error("{op} in {}{}", path.display(), sql_hint(source))]
    Sql {
        op: String,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no outbox mail with id {id} in {}", path.display())]
    NoSuchMail { id: i64, path: PathBuf },
    #[error("outbox mail {id} is not waiting: {why}")]
    MailNotPending { id: i64, why: String },
    #[error("refusing to back up database {} onto itself", path.display())]
    BackupOntoSelf { path: PathBuf },
    #[error("cannot back up database to {}", path.display())]
    Backup {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot finish backup file {}", path.display())]
    BackupFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One connection to the dutywatch database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The device and inode of the file opened at `path`, to tell when the file there is no
    /// longer the one written to (`Store::check_file`).
    file: Option<(u64, u64)>,
}

/// The device and inode of the file at `path`, if it is there.
fn file_id(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).map(|meta| (meta.dev(), meta.ino()))
}

impl Store {
    /// Opens (creating if needed) the database for writing and brings its schema up to date.
    ///
    /// The file is created 0600 before SQLite sees it, and SQLite gives `-wal`/`-shm` the main
    /// file's mode; existing files with group or other bits are tightened, as evidence may
    /// describe a contractor's controlled systems.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, false)
    }

    /// [`open`](Store::open) for a writer that runs cycles (`once`, the daemon): the file is
    /// first checked for damage (`Store::damage`), before any migration writes to it, and a
    /// damaged one is refused ([`StoreError::Damaged`]). It reads every page: about 2 s per
    /// GB of database on a warm cache.
    pub fn open_checked(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, true)
    }

    fn open_with(path: &Path, check_damage: bool) -> Result<Store, StoreError> {
        files::prepare_db_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        // Checked before `configure`, whose switch to WAL would write to the file.
        if check_damage {
            conn.busy_timeout(BUSY_TIMEOUT)
                .map_err(|source| StoreError::Configure {
                    path: path.to_owned(),
                    setting: "busy_timeout",
                    source,
                })?;
            backup::undamaged(&conn, path)?;
        }
        configure(&conn, path)?;
        // WAL must be set before any transaction (SQLite ignores the switch inside one), so
        // it happens above; migrations then take the write lock up front.
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        // Foreign keys are off while the schema changes, so a migration can rebuild a table
        // others refer to (SQLite's documented procedure); the migrations that do run
        // `foreign_key_check`, and the pragma cannot change inside their transaction.
        conn.pragma_update(None, "foreign_keys", "OFF")
            .map_err(|source| StoreError::Configure {
                path: path.to_owned(),
                setting: "foreign_keys",
                source,
            })?;
        // A newer dutywatch's database: said as what it is, not as a failed migration.
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let expected = MIGRATION_LIST.len();
        if usize::try_from(found).is_ok_and(|found| found > expected) {
            return Err(StoreError::SchemaVersion {
                path: path.to_owned(),
                found,
                expected,
            });
        }
        // An existing database of an older version with its daemon still running (a package
        // upgrade that replaced the binary, then a command before the restart): migrating it
        // now would leave that daemon writing tables it no longer knows.
        let lock = lock_path(path, DAEMON_LOCK);
        if found > 0
            && usize::try_from(found).is_ok_and(|found| found < expected)
            && locked_by_another(&lock)
        {
            return Err(StoreError::DaemonOnOlderSchema {
                path: path.to_owned(),
                lock,
                found,
                expected,
            });
        }
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        // The bundled SQLite enables foreign keys by default, a system one does not.
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|source| StoreError::Configure {
                path: path.to_owned(),
                setting: "foreign_keys",
                source,
            })?;
        files::restrict_sidecars(path)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
            file: file_id(path).ok(),
        })
    }

    /// Opens an existing database for reading (`dutywatch status`, reports). Never creates,
    /// migrates or chmods anything; fails if the schema is not the one this binary knows.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let (store, found) = Store::open_read_only_any_version(path)?;
        let expected = MIGRATION_LIST.len();
        if usize::try_from(found).ok() != Some(expected) {
            return Err(StoreError::SchemaVersion {
                path: path.to_owned(),
                found,
                expected,
            });
        }
        Ok(store)
    }

    /// [`open_read_only`](Store::open_read_only) of a database of any schema version, with
    /// that version: for `backup`, which must copy a database an upgrade is about to migrate.
    /// Only what does not depend on the schema (`backup_to`, `damage`) may be asked of it.
    pub fn open_read_only_any_version(path: &Path) -> Result<(Store, i64), StoreError> {
        // A failing stat (e.g. no permission on the directory) is not "missing": SQLite
        // reports the real cause below.
        if matches!(path.try_exists(), Ok(false)) {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|source| StoreError::Configure {
                path: path.to_owned(),
                setting: "busy_timeout",
                source,
            })?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok((
            Store {
                conn,
                path: path.to_owned(),
                file: file_id(path).ok(),
            },
            found,
        ))
    }

    /// The schema version this binary writes.
    pub fn schema_version() -> usize {
        MIGRATION_LIST.len()
    }

    /// The database file this store is connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file at the store's path is still the one it opened: deleted or replaced
    /// (another file renamed over it, a restore while the daemon runs), everything written
    /// would go to a file nobody reads again.
    pub fn check_file(&self) -> Result<(), StoreError> {
        let replaced = match (self.file, file_id(&self.path)) {
            (Some(opened), Ok(now)) => opened != now,
            (Some(_), Err(error)) => error.kind() == std::io::ErrorKind::NotFound,
            // Not known when opened (an unreadable directory): nothing to compare with.
            (None, _) => false,
        };
        if replaced {
            return Err(StoreError::Replaced {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Wraps a SQLite error with what was being done and the database path.
    /// Captures nothing borrowed, so `self` stays free for the operation itself.
    fn sql_error(&self, op: String) -> impl FnOnce(rusqlite::Error) -> StoreError + use<> {
        let path = self.path.clone();
        move |source| StoreError::Sql { op, path, source }
    }

    /// Starts a write transaction that holds the write lock from its first statement, so it
    /// cannot fail with `SQLITE_BUSY` half-way when upgrading from a read lock.
    fn write_tx(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
    }
}

/// Per-connection settings for the writer.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |setting: &'static str| {
        move |source| StoreError::Configure {
            path: path.to_owned(),
            setting,
            source,
        }
    };
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(fail("busy_timeout"))?;
    // `execute("PRAGMA journal_mode=WAL")` fails because the pragma returns a row; and
    // SQLite answers with the mode it actually uses, which we check.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(fail("journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    // NORMAL is durable across application crashes in WAL mode; only a power loss can drop
    // the last transactions, and the next evaluation rewrites those.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(fail("synchronous"))?;
    Ok(())
}

/// The first of the problems `quick_check` found, each on one short line: the error says the
/// file is damaged and where it starts; `evidence verify` lists them all.
fn damage_summary(problems: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut lines: Vec<String> = problems
        .iter()
        .flat_map(|problem| problem.lines())
        .map(|line| dutywatch_checks::printable::excerpt(line.trim(), 160))
        .collect();
    let more = lines.len().saturating_sub(SHOWN);
    lines.truncate(SHOWN);
    if more > 0 {
        lines.push(format!(
            "at least {more} more: `dutywatch evidence verify` lists the first of them"
        ));
    }
    lines.join("; ")
}

/// Why a file that exists could not be opened for writing, when that is the cause.
fn create_hint(path: &Path, source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::PermissionDenied && path.exists() {
        " (it exists, but this user may not write it: dutywatch writes the database and the \
         -wal and -shm files beside it, so it needs write access to the file and its \
         directory; `status` and `evidence verify` only read the database, but SQLite's WAL \
         mode needs them to write its -shm file beside it too: run them as the service's \
         user, e.g. `sudo -u dutywatch dutywatch status`)"
    } else {
        ""
    }
}

/// What to do about the SQLite failures an operator can fix: a database it may not write,
/// a disk that takes no more.
fn sql_hint(source: &rusqlite::Error) -> &'static str {
    let rusqlite::Error::SqliteFailure(error, _) = source else {
        return "";
    };
    match error.code {
        rusqlite::ErrorCode::ReadOnly => {
            ": this user may not write the database or its directory (SQLite writes the -wal \
             and -shm files beside it); give the service's user write access to both"
        }
        rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
            ": the database file is damaged: put the latest good backup in its place (README, \
             Backup and restore); while the file still opens, `dutywatch evidence verify` shows \
             where"
        }
        rusqlite::ErrorCode::DiskFull => {
            ": the disk is full; free some space and the next pass writes what this one could not"
        }
        rusqlite::ErrorCode::SystemIoFailure => {
            ": the system refused a write or read (a full disk, a file size limit, a failing \
             disk); check the free space (`df`) and the service's limits, and the kernel log"
        }
        _ => "",
    }
}

/// What to do about a database whose schema version is `found` when this binary's is
/// `expected`.
fn schema_advice(found: i64, expected: usize) -> String {
    if usize::try_from(found).is_ok_and(|found| found > expected) {
        format!(
            "was written by a newer dutywatch (schema version {found}; this one knows up to \
             {expected}): run that newer version, or restore a backup taken before the upgrade"
        )
    } else {
        format!(
            "was written by an older dutywatch (schema version {found}; this one expects \
             {expected}): `dutywatch once` or a restart of the daemon (`systemctl restart \
             dutywatch`) with this version brings it up to date; commands that only read it \
             never change it"
        )
    }
}

/// The stored form of an instant: UTC, whole seconds, RFC 3339 (`2026-11-23T09:00:00Z`).
fn ts_text(ts: Timestamp) -> String {
    whole_seconds(ts).to_string()
}

/// Drops sub-second precision, so every stored timestamp has the same width.
fn whole_seconds(ts: Timestamp) -> Timestamp {
    Timestamp::from_second(ts.as_second()).unwrap_or(ts)
}

/// Turns a decoding failure of column `idx` into the error rusqlite itself uses for bad
/// column data, so readers can stay in `rusqlite::Result`.
fn bad_column(idx: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(err))
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::PathBuf;

    use jiff::Timestamp;

    use super::Store;

    /// A temporary directory with a fresh store in it; the directory lives as long as this.
    pub(crate) struct TempStore {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) path: PathBuf,
        pub(crate) store: Store,
    }

    pub(crate) fn temp_store() -> TempStore {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("dutywatch.db");
        let store = Store::open(&path).unwrap();
        TempStore { dir, path, store }
    }

    pub(crate) fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::test_util::{temp_store, ts};
    use super::*;

    #[test]
    fn a_damaged_file_is_said_in_a_few_short_lines() {
        let problems = vec![
            "*** in database main ***\nPage 359: never used\nPage 360: never used".to_owned(),
            format!("Tree 17 page 359 cell 1: {}", "x".repeat(500)),
        ];
        let said = damage_summary(&problems);
        assert!(
            said.starts_with("*** in database main ***; Page 359: never used"),
            "{said}"
        );
        assert!(
            said.ends_with(
                "; at least 1 more: `dutywatch evidence verify` lists the first of them"
            ),
            "{said}"
        );
        assert!(said.len() < 400, "{said}");
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn sidecar(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    #[test]
    fn database_and_sidecars_are_private() {
        let mut t = temp_store();
        t.store
            .add_evidence(&NewEvidence {
                client: "acme",
                source: "manual",
                fetched_at: ts("2026-11-23T09:00:00Z"),
                effective_at: ts("2026-11-23T09:00:00Z"),
                media_type: "text/plain",
                origin: "test",
                payload: b"x",
            })
            .unwrap();
        assert_eq!(mode(&t.path), 0o600);
        for suffix in ["-wal", "-shm"] {
            let file = sidecar(&t.path, suffix);
            assert!(file.exists(), "{} should exist in WAL mode", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        assert_eq!(mode(t.path.parent().unwrap()), 0o700);
    }

    #[test]
    fn existing_world_readable_database_is_tightened() {
        let t = temp_store();
        drop(t.store);
        std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open(&t.path).unwrap();
        assert_eq!(mode(&t.path), 0o600);
    }

    #[test]
    fn connection_settings() {
        let t = temp_store();
        let conn = &t.store.conn;
        let journal: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(usize::try_from(version).unwrap(), MIGRATION_LIST.len());
    }

    #[test]
    fn reopening_is_idempotent() {
        let t = temp_store();
        drop(t.store);
        let again = Store::open(&t.path).unwrap();
        drop(again);
        Store::open(&t.path).unwrap();
    }

    #[test]
    fn read_only_of_missing_file_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let err = Store::open_read_only(&path).unwrap_err();
        assert!(matches!(err, StoreError::Missing { .. }));
        let text = err.to_string();
        assert!(text.contains("nope.db"), "{text}");
        assert!(text.contains("run `dutywatch once`"), "{text}");
        assert!(!path.exists(), "must not create the file");
    }

    #[test]
    fn read_only_reads_and_refuses_writes() {
        let mut t = temp_store();
        t.store
            .add_evidence(&NewEvidence {
                client: "acme",
                source: "manual",
                fetched_at: ts("2026-11-23T09:00:00Z"),
                effective_at: ts("2026-11-23T09:00:00Z"),
                media_type: "text/plain",
                origin: "test",
                payload: b"x",
            })
            .unwrap();
        drop(t.store);
        let mut reader = Store::open_read_only(&t.path).unwrap();
        assert_eq!(reader.verify_chain().unwrap().rows, 1);
        let err = reader
            .add_evidence(&NewEvidence {
                client: "acme",
                source: "manual",
                fetched_at: ts("2026-11-23T09:00:00Z"),
                effective_at: ts("2026-11-23T09:00:00Z"),
                media_type: "text/plain",
                origin: "test",
                payload: b"y",
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Sql { .. }), "{err}");
    }

    #[test]
    fn a_database_this_user_may_not_write_or_a_full_disk_says_what_to_do() {
        let t = temp_store();
        let denied = StoreError::CreateFile {
            path: t.path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(
            denied
                .to_string()
                .contains("it exists, but this user may not write it"),
            "{denied}"
        );
        let sql = |code: i32| StoreError::Sql {
            op: "recording a verdict".to_owned(),
            path: t.path.clone(),
            source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
        };
        let said = sql(rusqlite::ffi::SQLITE_READONLY).to_string();
        assert!(said.contains("write access to both"), "{said}");
        let said = sql(rusqlite::ffi::SQLITE_FULL).to_string();
        assert!(said.contains("the disk is full"), "{said}");
        // SQLITE_IOERR_WRITE, what a file size limit gives.
        let said = sql(778).to_string();
        assert!(said.contains("check the free space (`df`)"), "{said}");
        let said = sql(rusqlite::ffi::SQLITE_CORRUPT).to_string();
        assert!(
            said.contains("the database file is damaged: put the latest good backup"),
            "{said}"
        );
        let said = sql(rusqlite::ffi::SQLITE_CONSTRAINT).to_string();
        assert_eq!(said, format!("recording a verdict in {}", t.path.display()));
    }

    #[test]
    fn a_database_of_another_version_says_which_and_what_to_do() {
        let t = temp_store();
        drop(t.store);
        let newer = MIGRATION_LIST.len() + 1;
        Connection::open(&t.path)
            .unwrap()
            .pragma_update(None, "user_version", i64::try_from(newer).unwrap())
            .unwrap();
        for err in [
            Store::open(&t.path).unwrap_err(),
            Store::open_read_only(&t.path).unwrap_err(),
        ] {
            let said = err.to_string();
            assert!(
                said.contains(&format!(
                    "was written by a newer dutywatch (schema version {newer};"
                )) && said.contains("restore a backup taken before the upgrade"),
                "{said}"
            );
        }
        Connection::open(&t.path)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        let said = Store::open_read_only(&t.path).unwrap_err().to_string();
        assert!(
            said.contains("was written by an older dutywatch (schema version 3;")
                && said.contains("`dutywatch once` or a restart of the daemon"),
            "{said}"
        );
    }

    /// A database of the version before, with that version's daemon running on it, is not
    /// migrated under it: the command says to stop the daemon first. Without a daemon (or
    /// once it stopped), the same open migrates it.
    #[test]
    fn an_older_database_is_not_migrated_under_its_running_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dutywatch.db");
        let older = MIGRATION_LIST.len() - 1;
        let mut conn = Connection::open(&path).unwrap();
        MIGRATIONS.to_version(&mut conn, older).unwrap();
        drop(conn);
        let lock = std::fs::File::create(lock_path(&path, DAEMON_LOCK)).unwrap();
        lock.lock().unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::DaemonOnOlderSchema { found, expected, .. }
                if usize::try_from(found).unwrap() == older && expected == MIGRATION_LIST.len()),
            "{err}"
        );
        assert!(err.to_string().contains("stop the daemon"), "{err}");
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(usize::try_from(version).unwrap(), older, "nothing migrated");
        drop(lock);
        Store::open(&path).expect("migrates once the daemon is gone");
    }

    #[test]
    fn read_only_rejects_unmigrated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE x (y)")
            .unwrap();
        let err = Store::open_read_only(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaVersion {
                    found: 0,
                    expected,
                    ..
                } if expected == MIGRATION_LIST.len()
            ),
            "{err}"
        );
    }

    #[test]
    fn timestamps_are_whole_seconds() {
        let precise: Timestamp = "2026-11-23T09:00:00.123456789Z".parse().unwrap();
        assert_eq!(ts_text(precise), "2026-11-23T09:00:00Z");
        assert_eq!(ts_text(ts("2026-01-02T03:04:05Z")), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn mail_queued_before_message_tokens_gets_one_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let mut conn = Connection::open(&path).unwrap();
        Migrations::new(MIGRATION_LIST[..1].to_vec())
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO verdict_history (client, duty, state, at, verdict)
                 VALUES ('acme', 'training', 'no_evidence', '2026-11-23T15:00:00Z', '{}');
             INSERT INTO escalations (history_id, client, duty, state, created_at)
                 VALUES (1, 'acme', 'training', 'no_evidence', '2026-11-23T15:00:00Z');
             INSERT INTO outbox (escalation_id, mail_to, mail_cc, subject, body, created_at,
                                 attempts, next_attempt_at)
                 VALUES (1, '[\"it@acme.example\"]', '[]', 's', 'b', '2026-11-23T15:00:00Z',
                         0, '2026-11-23T15:00:00Z');",
        )
        .unwrap();
        drop(conn);

        let store = Store::open(&path).unwrap();
        let pending = store
            .pending_mail("2026-11-23T16:00:00Z".parse().unwrap(), 10)
            .unwrap();
        assert_eq!(pending.len(), 1, "the queued mail survives the upgrade");
        let token = &pending[0].message_token;
        assert!(
            token.len() == 16 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{token:?}"
        );
    }
}
