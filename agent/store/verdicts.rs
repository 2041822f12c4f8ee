//! Verdicts: each duty's current state and each of its subjects', the history of their
//! changes, and the escalations decided on those changes.
//!
//! Escalation is decided in the transaction that records the change, keyed on the history
//! row, so a change produces at most one mail — also across restarts and crashes — and a
//! decided mail is never lost. A subject that newly needs attention is a change even while the
//! duty's own state stays the same, so a second incident or a second failing user is told.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use dutywatch_checks::record::Subject;
use dutywatch_checks::verdict::{StateKind, SubjectVerdict, Verdict, WholeRun};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::keyed::{self, About, Decision};
use super::{Store, StoreError, bad_column, ts_text, whole_seconds};

/// A change of one subject's state, handed to the escalation policy.
#[derive(Clone, Debug)]
pub struct SubjectChange<'a> {
    pub subject: Subject,
    /// `None` when the subject had no recorded state (new, or back after it was gone).
    pub from: Option<StateKind>,
    /// `None` when the subject left the evidence.
    pub to: Option<&'a SubjectVerdict>,
}

impl SubjectChange<'_> {
    /// Whether the subject newly needs someone's attention.
    pub fn needs_attention(&self) -> bool {
        self.to
            .is_some_and(|verdict| verdict.state.kind().needs_attention())
    }
}

/// A change of a duty's state kind or of its subjects', handed to the escalation policy.
#[derive(Clone, Copy, Debug)]
pub struct Transition<'a> {
    pub client: &'a str,
    pub duty: &'a str,
    /// `None` when the duty had no recorded state (first evaluation, or re-added to config).
    pub from: Option<StateKind>,
    pub to: StateKind,
    pub verdict: &'a Verdict,
    /// The subjects whose state changed in this evaluation.
    pub subjects: &'a [SubjectChange<'a>],
    /// The `verdict_history` row of this change.
    pub history_id: i64,
    /// The evaluation instant, whole seconds.
    pub at: Timestamp,
}

impl Transition<'_> {
    /// Whether the duty's own state kind changed (not only a subject's).
    pub fn duty_changed(&self) -> bool {
        self.from != Some(self.to)
    }
}

/// A mail the escalation policy (or the digest) wants sent. `body` is the plain text every
/// client can read; `html`, when given, goes beside it as the alternative (multipart).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    pub thread: MailThread,
}

/// Where a mail sits in a conversation. All empty: a mail of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailThread {
    /// This mail's `Message-ID` (with angle brackets) when it opens a thread: the root the
    /// later ones answer. `None`: the outbox row's own id.
    pub message_id: Option<String>,
    /// The thread root it answers (`In-Reply-To`).
    pub in_reply_to: Option<String>,
    /// Every thread root it belongs to (`References`).
    pub references: Vec<String>,
}

/// What recording an evaluation changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The duty's new state kind, if it changed.
    pub state: Option<StateKind>,
    /// How many subjects changed state (appeared needing attention, recovered, left).
    pub subjects: usize,
}

/// A duty's latest verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentVerdict {
    pub client: String,
    pub duty: String,
    pub verdict: Verdict,
    /// When the duty entered its current state kind.
    pub state_since: Timestamp,
    pub evaluated_at: Timestamp,
    /// How many subjects the latest judgement of them found met; `None` for a duty judged
    /// as a whole. Those met since first seen have no [`CurrentSubject`].
    pub met_subjects: Option<u64>,
}

/// A subject's latest state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CurrentSubject {
    pub subject: String,
    pub state: StateKind,
    pub since: Timestamp,
    pub due: Option<Timestamp>,
    pub reason: String,
    /// When it left the evidence, if it did.
    pub gone_at: Option<Timestamp>,
}

impl Store {
    /// Records an evaluation of one duty. In ONE immediate transaction: upserts `duty_state`
    /// and, when the verdict judges subjects, `subject_state`; if the duty's state kind
    /// differs from the previous one (or there is none), or any subject's does (a subject
    /// that first appears `met` is no change), inserts a `verdict_history` row and its
    /// `subject_history` rows and calls `decide`; if that returns a mail, inserts an
    /// `escalations` row and an `outbox` row due at `at`.
    ///
    /// A same-state re-evaluation only refreshes reasons, evidence and `evaluated_at`, so the
    /// same state never mails twice. If anything fails, nothing is recorded — including the
    /// decided mail.
    pub fn record_verdict(
        &mut self,
        client: &str,
        duty: &str,
        at: Timestamp,
        verdict: &Verdict,
        decide: &mut dyn FnMut(&Transition<'_>) -> Option<OutgoingMail>,
    ) -> Result<Recorded, StoreError> {
        let on_err = self.sql_error(format!("recording verdict of {client}/{duty}"));
        let mut inner = |store: &mut Store| {
            let tx = store.write_tx()?;
            let changed = record_verdict_tx(&tx, client, duty, at, verdict, decide)?;
            tx.commit()?;
            Ok(changed)
        };
        inner(self).map_err(on_err)
    }

    /// [`record_verdict`](Store::record_verdict) of each of one client's `verdicts` (duty,
    /// verdict), deciding no mail (the ladder decides a duty's), in ONE transaction: a
    /// client's duties share the pages of its rows, written once per commit rather than once
    /// per duty.
    ///
    /// Each duty is written in a savepoint of its own and answers for itself: a duty whose
    /// stored rows no longer read is recorded as nothing and answers its error, and the
    /// client's other duties are recorded all the same (a per-client all-or-nothing would let
    /// one damaged row freeze every duty of the client). The outer error is the transaction's
    /// own (begin or commit), which records nothing.
    pub fn record_verdicts(
        &mut self,
        client: &str,
        at: Timestamp,
        verdicts: &[(&str, &Verdict)],
    ) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
        if verdicts.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let on_err = self.sql_error(format!("recording the verdicts of {client}"));
        let inner = |store: &mut Store| {
            let tx = store.write_tx()?;
            let mut recorded = Vec::with_capacity(verdicts.len());
            for (duty, verdict) in verdicts {
                tx.prepare_cached("SAVEPOINT duty")?.execute([])?;
                match record_verdict_tx(&tx, client, duty, at, verdict, &mut |_| None) {
                    Ok(one) => {
                        tx.prepare_cached("RELEASE duty")?.execute([])?;
                        recorded.push(Ok(one));
                    }
                    // SQLite itself rolled the whole transaction back (a full disk, an I/O
                    // error): nothing of the client's is recorded, and that is the error.
                    Err(source) if tx.is_autocommit() => return Err(source),
                    Err(source) => {
                        tx.prepare_cached("ROLLBACK TO duty")?.execute([])?;
                        tx.prepare_cached("RELEASE duty")?.execute([])?;
                        recorded.push(Err(StoreError::Sql {
                            op: format!("recording verdict of {client}/{duty}"),
                            path: path.clone(),
                            source,
                        }));
                    }
                }
            }
            tx.commit()?;
            Ok(recorded)
        };
        inner(self).map_err(on_err)
    }

    /// The recorded state kind of one duty, `None` when it has none (never evaluated, or
    /// forgotten).
    pub fn duty_state(&self, client: &str, duty: &str) -> Result<Option<StateKind>, StoreError> {
        let on_err = self.sql_error(format!("reading the state of {client}/{duty}"));
        self.conn
            .prepare_cached("SELECT state FROM duty_state WHERE client = ?1 AND duty = ?2")
            .and_then(|mut statement| {
                statement
                    .query_row(params![client, duty], |row| kind_column(row, 0))
                    .optional()
            })
            .map_err(on_err)
    }

    /// Current verdicts, of one client or all, ordered by client and duty. Their `subjects`
    /// are `None`: [`Store::subjects`] has them.
    pub fn current_verdicts(
        &self,
        client: Option<&str>,
    ) -> Result<Vec<CurrentVerdict>, StoreError> {
        let on_err = self.sql_error("reading current verdicts".to_owned());
        let read = || -> rusqlite::Result<Vec<CurrentVerdict>> {
            // Two statements: `?1 IS NULL OR client = ?1` would read every client's rows
            // to find one client's.
            let mut stmt = self.conn.prepare_cached(if client.is_some() {
                "SELECT client, duty, verdict, state_since, evaluated_at, met_subjects
                 FROM duty_state WHERE client = ?1 ORDER BY client, duty"
            } else {
                "SELECT client, duty, verdict, state_since, evaluated_at, met_subjects
                 FROM duty_state WHERE ?1 IS NULL ORDER BY client, duty"
            })?;
            let rows = stmt.query_map([client], |row| {
                Ok(CurrentVerdict {
                    client: row.get(0)?,
                    duty: row.get(1)?,
                    verdict: verdict_column(row, 2)?,
                    state_since: row.get(3)?,
                    evaluated_at: row.get(4)?,
                    met_subjects: row
                        .get::<_, Option<i64>>(5)?
                        .and_then(|n| u64::try_from(n).ok()),
                })
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// The subjects of one duty, worst first, then by name; gone ones last.
    pub fn subjects(&self, client: &str, duty: &str) -> Result<Vec<CurrentSubject>, StoreError> {
        let on_err = self.sql_error(format!("reading the subjects of {client}/{duty}"));
        let read = || -> rusqlite::Result<Vec<CurrentSubject>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT subject, state, state_since, due, reason, gone_at FROM subject_state
                 WHERE client = ?1 AND duty = ?2 ORDER BY subject",
            )?;
            let subjects = stmt
                .query_map(params![client, duty], subject_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(worst_first(subjects))
        };
        read().map_err(on_err)
    }

    /// What the escalation ladder reads of one duty's subjects: those it may have to tell of
    /// (live and not met, or with an open thread), ordered as [`Store::subjects`], and the
    /// worst state of the live ones. A client's thousands of met subjects without a thread
    /// are not read into memory on every pass.
    pub fn subjects_to_escalate(
        &self,
        client: &str,
        duty: &str,
    ) -> Result<(Vec<CurrentSubject>, Option<StateKind>), StoreError> {
        let on_err = self.sql_error(format!("reading the subjects of {client}/{duty}"));
        let read = || -> rusqlite::Result<(Vec<CurrentSubject>, Option<StateKind>)> {
            // Both read the partial index `subject_state_attention`.
            let mut worst: Option<StateKind> = None;
            let mut stmt = self.conn.prepare_cached(
                "SELECT DISTINCT state FROM subject_state
                 WHERE client = ?1 AND duty = ?2 AND gone_at IS NULL AND state != 'met'",
            )?;
            for kind in stmt.query_map(params![client, duty], |row| kind_column(row, 0))? {
                let kind = kind?;
                if worst.is_none_or(|w| kind.severity() > w.severity()) {
                    worst = Some(kind);
                }
            }
            if worst.is_none() {
                let any_live: bool = self
                    .conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM subject_state
                                        WHERE client = ?1 AND duty = ?2 AND gone_at IS NULL)",
                    )?
                    .query_row(params![client, duty], |row| row.get(0))?;
                worst = any_live.then_some(StateKind::Met);
            }
            let mut stmt = self.conn.prepare_cached(
                "SELECT subject, state, state_since, due, reason, gone_at FROM subject_state
                 WHERE client = ?1 AND duty = ?2 AND gone_at IS NULL AND state != 'met'
                 UNION
                 SELECT s.subject, s.state, s.state_since, s.due, s.reason, s.gone_at
                 FROM ladder_threads t
                 JOIN subject_state s
                   ON s.client = t.client AND s.duty = t.duty AND s.subject = t.subject
                 WHERE t.client = ?1 AND t.duty = ?2 AND t.closed_at IS NULL
                 ORDER BY subject",
            )?;
            let subjects = stmt
                .query_map(params![client, duty], subject_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((worst_first(subjects), worst))
        };
        read().map_err(on_err)
    }

    /// The event records kept for a duty's subjects whose clocks were open when last
    /// evaluated and that are still tracked: the evaluation carries them on when they leave
    /// the export.
    pub fn kept_events(
        &self,
        client: &str,
        duty: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let on_err = self.sql_error(format!("reading the open events of {client}/{duty}"));
        let read = || -> rusqlite::Result<Vec<serde_json::Value>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT record FROM subject_state
                 WHERE client = ?1 AND duty = ?2 AND record IS NOT NULL AND gone_at IS NULL
                 ORDER BY subject",
            )?;
            let rows = stmt.query_map(params![client, duty], |row| {
                let text = row.get_ref(0)?.as_str()?;
                serde_json::from_str(text).map_err(|e| bad_column(0, e))
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// The subjects of a duty still failing when last evaluated (or undecided since, which
    /// neither ends nor extends a run), and since when their run of failures began
    /// (`SubjectVerdict::failing_since`), for the next evaluation to carry on.
    ///
    /// Only while the duty's subjects were last judged at or after `window_start` (the
    /// oldest evidence the next evaluation reads): evidence older than that window and newer
    /// than that judging was never looked at, and a pass in it would end the run.
    pub fn failing_since(
        &self,
        client: &str,
        duty: &str,
        window_start: Timestamp,
    ) -> Result<BTreeMap<Subject, Timestamp>, StoreError> {
        let on_err = self.sql_error(format!("reading the failing subjects of {client}/{duty}"));
        let read = || -> rusqlite::Result<BTreeMap<Subject, Timestamp>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT subject, failing_since FROM subject_state
                 WHERE client = ?1 AND duty = ?2 AND failing_since IS NOT NULL
                   AND gone_at IS NULL AND state IN ('due_soon', 'lapsed', 'no_evidence')
                   AND EXISTS (SELECT 1 FROM duty_state
                               WHERE client = ?1 AND duty = ?2 AND subjects_judged_at >= ?3)",
            )?;
            let rows = stmt.query_map(params![client, duty, ts_text(window_start)], |row| {
                Ok((
                    Subject::new(row.get::<_, String>(0)?),
                    row.get::<_, Timestamp>(1)?,
                ))
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// When the run of failures of a duty judged as a whole (`expect = "any"`) began, as its
    /// last judging evaluation stored it (`Verdict::whole_run`), while that evaluation was at
    /// or after `window_start`: see [`Store::failing_since`].
    pub fn duty_failing_since(
        &self,
        client: &str,
        duty: &str,
        window_start: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let on_err = self.sql_error(format!("reading the state of {client}/{duty}"));
        let read = || -> rusqlite::Result<Option<Timestamp>> {
            self.conn
                .prepare_cached(
                    "SELECT failing_since FROM duty_state
                     WHERE client = ?1 AND duty = ?2 AND failing_since IS NOT NULL
                       AND subjects_judged_at >= ?3",
                )?
                .query_row(params![client, duty, ts_text(window_start)], |row| {
                    row.get(0)
                })
                .optional()
        };
        read().map_err(on_err)
    }

    /// The state changes of one duty, oldest first: when each began and its first verdict.
    pub fn history(
        &self,
        client: &str,
        duty: &str,
    ) -> Result<Vec<(Timestamp, Verdict)>, StoreError> {
        let on_err = self.sql_error(format!("reading verdict history of {client}/{duty}"));
        let read = || -> rusqlite::Result<Vec<(Timestamp, Verdict)>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT at, verdict FROM verdict_history WHERE client = ?1 AND duty = ?2
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![client, duty], |row| {
                Ok((row.get(0)?, verdict_column(row, 1)?))
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// The state changes of one subject, oldest first: (at, from, to), `to` being a state
    /// name or `gone`. An audit's question, not a cycle's: it scans `subject_history`, which
    /// keeps no index (migration 0023: a first cycle writes hundreds of thousands of rows).
    pub fn subject_history(
        &self,
        client: &str,
        duty: &str,
        subject: &str,
    ) -> Result<Vec<(Timestamp, Option<String>, String)>, StoreError> {
        let on_err = self.sql_error(format!("reading the history of {client}/{duty}/{subject}"));
        let read = || -> rusqlite::Result<Vec<(Timestamp, Option<String>, String)>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT at, from_state, state FROM subject_history
                 WHERE client = ?1 AND duty = ?2 AND subject = ?3 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![client, duty, subject], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// Brings the stored duties of `client` in line with its configured ones (`kept`):
    /// - a duty no longer configured loses its `duty_state` and `subject_state` rows, and its
    ///   open escalation threads close (`forget`); history, escalations and the outbox stay
    ///   as the record of what happened;
    /// - a duty whose rule now judges it as a whole (it judged each subject before) has its
    ///   live subjects recorded as gone, in one history row, so the ladder resolves their
    ///   threads instead of reminding of subjects nothing judges any more, and its count of
    ///   met subjects is cleared.
    ///
    /// Answers how many duties had their subjects retired (what the ladder reads changed).
    pub fn retain_duties(
        &mut self,
        client: &str,
        kept: &[KeptDuty<'_>],
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let on_err = self.sql_error(format!("settling the stored duties of {client}"));
        let at_text = ts_text(whole_seconds(at));
        let inner = |store: &mut Store| {
            // Found through the small `duty_state` (a duty's subjects are written with its
            // state, and its count of met subjects with them): a pass that changes nothing
            // does not walk every subject of the client.
            let stored: Vec<(String, bool)> = store
                .conn
                .prepare_cached(
                    "SELECT duty, met_subjects IS NOT NULL FROM duty_state WHERE client = ?1",
                )?
                .query_map(params![client], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            // A client with the duty library has hundreds of duties: looked up, not searched.
            let judges: HashMap<&str, bool> =
                kept.iter().map(|k| (k.id, k.judges_subjects)).collect();
            let mut gone = Vec::new();
            let mut retired = Vec::new();
            for (duty, had_subjects) in &stored {
                match judges.get(duty.as_str()) {
                    None => gone.push(duty),
                    Some(false) if *had_subjects => retired.push(duty),
                    Some(_) => {}
                }
            }
            if gone.is_empty() && retired.is_empty() {
                return Ok(0);
            }
            let tx = store.write_tx()?;
            for duty in gone {
                forget(&tx, client, Some(duty), &at_text)?;
            }
            for duty in &retired {
                retire_subjects(&tx, client, duty, &at_text)?;
            }
            tx.commit().map(|()| retired.len())
        };
        inner(self).map_err(on_err)
    }
}

impl Store {
    /// Forgets the current state of every client `kept` does not name (one removed from the
    /// config), as [`Store::retain_duties`] does for a removed duty. Answers the clients
    /// forgotten.
    pub fn retain_clients(
        &mut self,
        kept: &[&str],
        at: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let on_err =
            self.sql_error("settling the stored clients with the configured ones".to_owned());
        let at_text = ts_text(whole_seconds(at));
        let inner = |store: &mut Store| {
            let stored: Vec<String> = store
                .conn
                .prepare_cached("SELECT DISTINCT client FROM duty_state")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let kept: HashSet<&str> = kept.iter().copied().collect();
            let gone: Vec<String> = stored
                .into_iter()
                .filter(|client| !kept.contains(client.as_str()))
                .collect();
            if gone.is_empty() {
                return Ok(gone);
            }
            let tx = store.write_tx()?;
            for client in &gone {
                forget(&tx, client, None, &at_text)?;
            }
            tx.commit().map(|()| gone)
        };
        inner(self).map_err(on_err)
    }
}

impl Store {
    /// Forgets, as [`Store::retain_duties`] does, every duty with an open escalation thread
    /// that `configured(client, duty)` no longer names, although no state of it is left: a
    /// dutywatch before this one forgot a removed duty's state but left its threads open, and
    /// a duty put back would have taken up the old thread. Answers how many duties.
    pub fn close_unconfigured_threads(
        &mut self,
        configured: &dyn Fn(&str, &str) -> bool,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let on_err =
            self.sql_error("closing the threads of duties no longer configured".to_owned());
        let at_text = ts_text(whole_seconds(at));
        let inner = |store: &mut Store| {
            let open: Vec<(String, String)> = store
                .conn
                .prepare_cached(
                    "SELECT DISTINCT client, duty FROM ladder_threads WHERE closed_at IS NULL",
                )?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let gone: Vec<&(String, String)> = open
                .iter()
                .filter(|(client, duty)| !configured(client, duty))
                .collect();
            if gone.is_empty() {
                return Ok(0);
            }
            let tx = store.write_tx()?;
            for (client, duty) in &gone {
                forget(&tx, client, Some(duty), &at_text)?;
            }
            tx.commit().map(|()| gone.len())
        };
        inner(self).map_err(on_err)
    }
}

/// Why a thread closed without its unit being resolved: nothing watches it any more.
const UNWATCHED: &str = "unwatched";

/// Forgets the current state of `duty` of `client` (every duty of it when `None`): its duty
/// and subject states go; its open escalation threads close with an `unwatched` step, and its
/// acknowledgements and silences in force end, so a duty configured anew starts a thread of
/// its own, unacknowledged; and its ladder mail not sent yet is cancelled, so no reminder of it
/// goes out (one that also tells of other duties still goes, and so does the mail of a state
/// change, such as a lifted quarantine's "back to normal"). History, evidence and sent mail
/// stay.
fn forget(
    tx: &Transaction<'_>,
    client: &str,
    duty: Option<&str>,
    at_text: &str,
) -> rusqlite::Result<()> {
    // Spelled out per case rather than `(?2 IS NULL OR duty = ?2)`, which SQLite cannot
    // answer from the (client, duty, …) indexes.
    let scope_of = |table: &str| match duty {
        Some(_) => format!("{table}client = ?1 AND {table}duty = ?2"),
        None => format!("{table}client = ?1 AND ?2 IS NULL"),
    };
    let (scope, e_scope, t_scope) = (scope_of(""), scope_of("e."), scope_of("t."));
    let run = |sql: String, at: bool| -> rusqlite::Result<usize> {
        if at {
            tx.execute(&sql, params![client, duty, at_text])
        } else {
            tx.execute(&sql, params![client, duty])
        }
    };
    for table in ["duty_state", "subject_state"] {
        run(format!("DELETE FROM {table} WHERE {scope}"), false)?;
    }
    let reason = format!("{UNWATCHED}: its duty or client is no longer in the config");
    tx.execute(
        &format!(
            "UPDATE outbox SET cancelled_at = ?3, cancel_reason = ?4
              WHERE sent_at IS NULL AND cancelled_at IS NULL
                AND escalation_id IN (
                    SELECT e.id FROM escalations AS e
                     WHERE {e_scope}
                       AND EXISTS (SELECT 1 FROM ladder_steps AS s
                                    WHERE s.escalation_id = e.id)
                       AND NOT EXISTS (
                           SELECT 1 FROM ladder_steps AS s
                             JOIN ladder_threads AS t ON t.id = s.thread_id
                            WHERE s.escalation_id = e.id AND NOT ({t_scope})))"
        ),
        params![client, duty, at_text, reason],
    )?;
    run(
        format!(
            "UPDATE acks SET ended_at = ?3
              WHERE {scope} AND ended_at IS NULL"
        ),
        true,
    )?;
    tx.execute(
        &format!(
            "INSERT INTO ladder_steps (thread_id, step, at)
             SELECT id, ?3, ?4 FROM ladder_threads
              WHERE {scope} AND closed_at IS NULL
             ON CONFLICT (thread_id, step) DO NOTHING"
        ),
        params![client, duty, UNWATCHED, at_text],
    )?;
    run(
        format!("UPDATE ladder_threads SET closed_at = ?3 WHERE {scope} AND closed_at IS NULL"),
        true,
    )?;
    Ok(())
}

/// A configured duty, as [`Store::retain_duties`] needs it.
#[derive(Clone, Copy, Debug)]
pub struct KeptDuty<'a> {
    pub id: &'a str,
    /// Whether its rule judges each subject (`Rule::judges_subjects`).
    pub judges_subjects: bool,
}

/// Why a subject of a duty now judged as a whole left: not the evidence, the rule.
const RETIRED: &str = "no longer judged one by one: the duty's rule now judges it as a whole";

/// Records the live subjects of `duty` as gone (one `verdict_history` row repeating the
/// duty's current state, a `subject_history` row each) and clears its count of met subjects.
fn retire_subjects(
    tx: &Transaction<'_>,
    client: &str,
    duty: &str,
    at_text: &str,
) -> rusqlite::Result<()> {
    let live: Vec<(String, String)> = tx
        .prepare(
            "SELECT subject, state FROM subject_state
             WHERE client = ?1 AND duty = ?2 AND gone_at IS NULL",
        )?
        .query_map(params![client, duty], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if !live.is_empty() {
        let history_id: i64 = tx.query_row(
            "INSERT INTO verdict_history (client, duty, state, at, verdict)
             SELECT client, duty, state, ?3, verdict FROM duty_state
             WHERE client = ?1 AND duty = ?2
             RETURNING id",
            params![client, duty, at_text],
            |row| row.get(0),
        )?;
        let mut history = tx.prepare(
            "INSERT INTO subject_history (history_id, client, duty, subject, from_state, state,
                                          at, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, 'gone', ?6, ?7)",
        )?;
        for (subject, state) in &live {
            history.execute(params![
                history_id, client, duty, subject, state, at_text, RETIRED
            ])?;
        }
        tx.execute(
            "UPDATE subject_state SET gone_at = ?3, record = NULL, evaluated_at = ?3, reason = ?4
             WHERE client = ?1 AND duty = ?2 AND gone_at IS NULL",
            params![client, duty, at_text, RETIRED],
        )?;
    }
    tx.execute(
        "UPDATE duty_state SET met_subjects = NULL WHERE client = ?1 AND duty = ?2",
        params![client, duty],
    )?;
    Ok(())
}

/// A subject's state as stored: its kind, and whether it has left the evidence.
struct StoredSubject {
    kind: StateKind,
    gone: bool,
    /// The columns an evaluation writes, as stored: when they are what it would write again,
    /// the row is left as it is.
    due: Option<String>,
    reason: String,
    record: Option<String>,
    failing_since: Option<String>,
}

fn record_verdict_tx(
    tx: &Transaction<'_>,
    client: &str,
    duty: &str,
    at: Timestamp,
    verdict: &Verdict,
    decide: &mut dyn FnMut(&Transition<'_>) -> Option<OutgoingMail>,
) -> rusqlite::Result<Recorded> {
    let at = whole_seconds(at);
    let at_text = ts_text(at);
    // Subjects live in their own table; the duty's row keeps the duty's verdict.
    // Built field by field: `..verdict.clone()` copied every subject only to drop them.
    let duty_verdict = Verdict {
        state: verdict.state.clone(),
        reason: verdict.reason.clone(),
        evidence: verdict.evidence.clone(),
        subjects: None,
        whole_run: WholeRun::NotJudged,
    };
    let json = serde_json::to_string(&duty_verdict)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let to = verdict.state.kind();
    // A verdict that could not look at the subjects leaves their count as it was.
    let met = verdict.subjects.as_ref().map(|subjects| {
        subjects
            .iter()
            .filter(|s| s.state.kind() == StateKind::Met)
            .count() as i64
    });
    // When the subjects (or the duty as a whole) were judged, for `Store::failing_since` and
    // `Store::duty_failing_since`; and the whole duty's start, written only when judged.
    let (judged_whole, whole_start) = match verdict.whole_run {
        WholeRun::NotJudged => (false, None),
        WholeRun::NoRun => (true, None),
        WholeRun::FailingSince(start) => (true, Some(ts_text(start))),
    };
    let judged_at = (verdict.subjects.is_some() || judged_whole).then_some(at_text.as_str());
    let from = tx
        .query_row(
            "SELECT state FROM duty_state WHERE client = ?1 AND duty = ?2",
            params![client, duty],
            |row| kind_column(row, 0),
        )
        .optional()?;

    let changes = match &verdict.subjects {
        Some(subjects) => write_subjects(tx, client, duty, &at_text, subjects)?,
        None => Vec::new(),
    };

    if from == Some(to) && changes.is_empty() {
        tx.prepare_cached(
            "UPDATE duty_state SET verdict = ?3, evaluated_at = ?4,
                                   met_subjects = COALESCE(?5, met_subjects),
                                   subjects_judged_at = COALESCE(?6, subjects_judged_at),
                                   failing_since = CASE WHEN ?7 THEN ?8 ELSE failing_since END
             WHERE client = ?1 AND duty = ?2",
        )?
        .execute(params![
            client,
            duty,
            json,
            at_text,
            met,
            judged_at,
            judged_whole,
            whole_start
        ])?;
        return Ok(Recorded::default());
    }

    tx.prepare_cached(
        "INSERT INTO duty_state (client, duty, state, state_since, verdict, evaluated_at,
                                 met_subjects, subjects_judged_at, failing_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7, ?9)
         ON CONFLICT (client, duty) DO UPDATE SET
             state = excluded.state,
             state_since = CASE WHEN state = excluded.state THEN state_since
                                ELSE excluded.state_since END,
             verdict = excluded.verdict,
             evaluated_at = excluded.evaluated_at,
             met_subjects = COALESCE(excluded.met_subjects, met_subjects),
             subjects_judged_at = COALESCE(excluded.subjects_judged_at, subjects_judged_at),
             failing_since = CASE WHEN ?8 THEN excluded.failing_since ELSE failing_since END",
    )?
    .execute(params![
        client,
        duty,
        to.as_str(),
        at_text,
        json,
        met,
        judged_at,
        judged_whole,
        whole_start
    ])?;
    tx.prepare_cached(
        "INSERT INTO verdict_history (client, duty, state, at, verdict)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![client, duty, to.as_str(), at_text, json])?;
    let history_id = tx.last_insert_rowid();
    let mut history = tx.prepare_cached(
        "INSERT INTO subject_history (history_id, client, duty, subject, from_state, state, at,
                                      reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for change in &changes {
        let (state, reason) = match change.to {
            Some(verdict) => (verdict.state.kind().as_str(), verdict.reason.as_str()),
            None => ("gone", "no longer in the evidence"),
        };
        history.execute(params![
            history_id,
            client,
            duty,
            change.subject.as_str(),
            change.from.map(StateKind::as_str),
            state,
            at_text,
            reason
        ])?;
    }
    let transition = Transition {
        client,
        duty,
        from,
        to,
        verdict,
        subjects: &changes,
        history_id,
        at,
    };
    if let Some(mail) = decide(&transition) {
        let about = About {
            client,
            duty,
            state: to.as_str(),
        };
        keyed::queue_in(tx, Decision::Change(history_id), about, &mail, at)?;
    }
    Ok(Recorded {
        state: (from != Some(to)).then_some(to),
        subjects: changes.len(),
    })
}

/// Writes the subjects' states and returns what changed: a subject whose state kind differs
/// from its stored one, a new or returning subject that is not `met`, and a stored subject
/// that is no longer judged (gone from the evidence).
///
/// Rows are kept for subjects that were ever not met: a subject that has been met since it
/// was first seen has none, and leaving the evidence is then no change either.
///
/// Only rows that differ are written: a subject judged as before (same state, due, reason and
/// kept record) keeps its row untouched, so an unchanged evaluation of 2,500 devices writes
/// nothing. A subject row's `evaluated_at` is therefore when it last changed; when the duty
/// was last evaluated is `duty_state.evaluated_at`.
fn write_subjects<'a>(
    tx: &Transaction<'_>,
    client: &str,
    duty: &str,
    at_text: &str,
    subjects: &'a [SubjectVerdict],
) -> rusqlite::Result<Vec<SubjectChange<'a>>> {
    let mut stored: BTreeMap<String, StoredSubject> = BTreeMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT subject, state, gone_at IS NOT NULL, due, reason, record, failing_since
             FROM subject_state WHERE client = ?1 AND duty = ?2",
        )?;
        let rows = stmt.query_map(params![client, duty], |row| {
            Ok((
                row.get::<_, String>(0)?,
                StoredSubject {
                    kind: kind_column(row, 1)?,
                    gone: row.get(2)?,
                    due: row.get(3)?,
                    reason: row.get(4)?,
                    record: row.get(5)?,
                    failing_since: row.get(6)?,
                },
            ))
        })?;
        for row in rows {
            let (subject, state) = row?;
            stored.insert(subject, state);
        }
    }
    // Prepared once, not looked up in the statement cache per subject: a first cycle writes
    // thousands per duty.
    let mut upsert = tx.prepare_cached(
        "INSERT INTO subject_state (client, duty, subject, state, state_since, due, reason,
                                    evaluated_at, record, gone_at, failing_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?8, NULL, ?9)
         ON CONFLICT (client, duty, subject) DO UPDATE SET
             state_since = CASE WHEN state = excluded.state AND gone_at IS NULL
                                THEN state_since ELSE excluded.state_since END,
             state = excluded.state,
             due = excluded.due,
             reason = excluded.reason,
             evaluated_at = excluded.evaluated_at,
             record = excluded.record,
             gone_at = NULL,
             failing_since = excluded.failing_since",
    )?;
    let mut changes = Vec::new();
    for subject in subjects {
        let kind = subject.state.kind();
        let stored_row = stored.remove(subject.subject.as_str());
        let known = stored_row.is_some();
        let row = stored_row.filter(|s| !s.gone);
        let before = row.as_ref().map(|s| s.kind);
        let changed = match before {
            Some(before) => before != kind,
            None => kind != StateKind::Met,
        };
        let keep = subject
            .keep
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        // A subject met since it was first seen gets no row: its state is the duty's count
        // of met subjects, and at 1,000 clients such rows were most of what a first cycle
        // wrote. It gets one the first time it is anything but met (or keeps a record).
        if !known && kind == StateKind::Met && keep.is_none() {
            continue;
        }
        let due = subject.state.due().map(ts_text);
        let failing_since = subject.failing_since.map(ts_text);
        let same_row = row.is_some_and(|row| {
            row.kind == kind
                && row.due == due
                && row.reason == subject.reason
                && row.record == keep
                && row.failing_since == failing_since
        });
        if same_row {
            continue;
        }
        upsert.execute(params![
            client,
            duty,
            subject.subject.as_str(),
            kind.as_str(),
            at_text,
            due,
            subject.reason,
            keep,
            failing_since
        ])?;
        if changed {
            changes.push(SubjectChange {
                subject: subject.subject.clone(),
                from: before,
                to: Some(subject),
            });
        }
    }
    // What is left was stored but is not judged any more: it left the evidence.
    let mut leave = tx.prepare_cached(
        "UPDATE subject_state SET gone_at = ?4, record = NULL, failing_since = NULL,
                                 evaluated_at = ?4
         WHERE client = ?1 AND duty = ?2 AND subject = ?3",
    )?;
    for (name, state) in stored {
        if state.gone {
            continue;
        }
        leave.execute(params![client, duty, name, at_text])?;
        changes.push(SubjectChange {
            subject: Subject::new(name),
            from: Some(state.kind),
            to: None,
        });
    }
    Ok(changes)
}

/// A `subject_state` row read as `SELECT subject, state, state_since, due, reason, gone_at`.
fn subject_row(row: &Row<'_>) -> rusqlite::Result<CurrentSubject> {
    Ok(CurrentSubject {
        subject: row.get(0)?,
        state: kind_column(row, 1)?,
        since: row.get(2)?,
        due: row.get(3)?,
        reason: row.get(4)?,
        gone_at: row.get(5)?,
    })
}

/// Subjects as [`Store::subjects`] orders them: worst first, gone ones last (the sort is
/// stable, so the query's order by subject stays within each).
fn worst_first(mut subjects: Vec<CurrentSubject>) -> Vec<CurrentSubject> {
    subjects.sort_by_key(|s| (s.gone_at.is_some(), std::cmp::Reverse(s.state.severity())));
    subjects
}

/// Reads a stored verdict; a row this binary cannot parse is an error naming the column,
/// never a panic.
fn verdict_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Verdict> {
    let text = row.get_ref(idx)?.as_str()?;
    serde_json::from_str(text).map_err(|e| bad_column(idx, e))
}

fn kind_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<StateKind> {
    let text = row.get_ref(idx)?.as_str()?;
    StateKind::from_str(text).map_err(|e| bad_column(idx, UnknownState(e)))
}

/// A state kind in the database this binary does not know (written by a newer version?).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UnknownState(String);

#[cfg(test)]
pub(super) mod tests {
    use dutywatch_checks::verdict::State;

    use super::super::test_util::{temp_store, ts};
    use super::*;

    pub(in super::super) fn verdict(state: State, reason: &str) -> Verdict {
        Verdict {
            state,
            reason: reason.to_owned(),
            evidence: Vec::new(),
            subjects: None,
            whole_run: WholeRun::NotJudged,
        }
    }

    pub(in super::super) fn due_soon() -> Verdict {
        verdict(
            State::DueSoon {
                due: ts("2026-12-01T00:00:00Z"),
            },
            "access review due in 8 days",
        )
    }

    /// Lapsed at `since`, an hour overdue.
    pub(in super::super) fn lapsed(since: Timestamp, reason: &str) -> Verdict {
        verdict(
            State::Lapsed {
                since,
                overdue: dutywatch_checks::period::Period::from_secs(3_600),
            },
            reason,
        )
    }

    /// An escalation policy that mails on every change and remembers what it saw.
    pub(in super::super) fn mail_on_change(
        seen: &mut Vec<(Option<StateKind>, StateKind, i64)>,
    ) -> impl FnMut(&Transition<'_>) -> Option<OutgoingMail> + '_ {
        |t| {
            seen.push((t.from, t.to, t.history_id));
            Some(OutgoingMail {
                to: vec!["it@acme.example".to_owned()],
                cc: vec!["msp@example.net".to_owned()],
                subject: format!("{}: {}", t.duty, t.to),
                body: t.verdict.reason.clone(),
                ..OutgoingMail::default()
            })
        }
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// A verdict judging `devices` (name, met?, reason).
    fn judged(devices: &[(&str, bool, &str)]) -> Verdict {
        let subjects = devices
            .iter()
            .map(|(name, met, reason)| SubjectVerdict {
                subject: Subject::new(*name),
                state: if *met {
                    State::Met { next_due: None }
                } else {
                    State::Lapsed {
                        since: ts("2026-11-20T00:00:00Z"),
                        overdue: dutywatch_checks::period::Period::from_secs(86_400),
                    }
                },
                reason: (*reason).to_owned(),
                keep: None,
                failing_since: None,
            })
            .collect();
        Verdict {
            subjects: Some(subjects),
            whole_run: WholeRun::NotJudged,
            ..verdict(State::Met { next_due: None }, "devices")
        }
    }

    /// (subject, evaluated_at) of every subject row of acme/devices.
    fn written(store: &Store) -> Vec<(String, String)> {
        let mut stmt = store
            .conn
            .prepare("SELECT subject, evaluated_at FROM subject_state ORDER BY subject")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_clients_verdicts_are_recorded_together_and_each_says_what_changed() {
        let mut t = temp_store();
        let devices = judged(&[("ws-01", false, "off"), ("ws-02", true, "")]);
        let review = due_soon();
        let recorded = t
            .store
            .record_verdicts(
                "acme",
                ts("2026-11-23T09:00:00Z"),
                &[("devices", &devices), ("review", &review)],
            )
            .unwrap()
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(recorded.len(), 2);
        assert_eq!(
            recorded[0].subjects, 1,
            "ws-01 is news, ws-02 is only counted"
        );
        assert_eq!(recorded[1].state, Some(StateKind::DueSoon));
        assert_eq!(count(&t.store, "verdict_history"), 2);
        assert_eq!(
            count(&t.store, "escalations"),
            0,
            "the ladder decides a duty's mail"
        );
        // The same again changes nothing, and nothing at all is no transaction.
        let again = t
            .store
            .record_verdicts(
                "acme",
                ts("2026-11-23T09:15:00Z"),
                &[("devices", &devices), ("review", &review)],
            )
            .unwrap();
        assert!(again.iter().all(|r| {
            r.as_ref()
                .is_ok_and(|r| r.state.is_none() && r.subjects == 0)
        }));
        assert!(
            t.store
                .record_verdicts("acme", ts("2026-11-23T09:30:00Z"), &[])
                .unwrap()
                .is_empty()
        );
        assert_eq!(count(&t.store, "verdict_history"), 2);
    }

    #[test]
    fn a_duty_whose_rows_no_longer_read_does_not_keep_the_clients_others_unrecorded() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        let devices = judged(&[("ws-01", false, "off")]);
        for duty in ["devices", "review"] {
            t.store
                .record_verdict("acme", duty, at, &due_soon(), &mut |_| None)
                .unwrap();
        }
        // The stored state of `devices` is damaged (no state this version knows).
        t.store
            .conn
            .execute_batch("UPDATE duty_state SET state = 'waived' WHERE duty = 'devices'")
            .unwrap();
        let lapsed = lapsed(at, "no review");
        let recorded = t
            .store
            .record_verdicts(
                "acme",
                ts("2026-11-23T10:00:00Z"),
                &[("devices", &devices), ("review", &lapsed)],
            )
            .unwrap();
        let err = recorded[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("acme/devices"), "{err}");
        assert_eq!(
            recorded[1].as_ref().unwrap().state,
            Some(StateKind::Lapsed),
            "the other duty is recorded"
        );
        assert_eq!(
            t.store.duty_state("acme", "review").unwrap(),
            Some(StateKind::Lapsed)
        );
        // Nothing of the damaged duty's was written: no subject, no history row.
        assert_eq!(count(&t.store, "subject_state"), 0);
        assert_eq!(count(&t.store, "verdict_history"), 3);
    }

    #[test]
    fn a_duty_that_fails_half_way_leaves_nothing_of_its_own_and_the_others_recorded() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        for duty in ["devices", "review"] {
            t.store
                .record_verdict("acme", duty, at, &due_soon(), &mut |_| None)
                .unwrap();
        }
        // The history row of `review` is refused after its state row was written.
        t.store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON verdict_history
                 WHEN NEW.duty = 'review' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let lapsed = lapsed(at, "late");
        let recorded = t
            .store
            .record_verdicts(
                "acme",
                ts("2026-11-23T10:00:00Z"),
                &[("review", &lapsed), ("devices", &lapsed)],
            )
            .unwrap();
        assert!(recorded[0].is_err());
        assert!(recorded[1].is_ok());
        assert_eq!(
            t.store.duty_state("acme", "review").unwrap(),
            Some(StateKind::DueSoon),
            "its state row was rolled back with its history"
        );
        assert_eq!(
            t.store.duty_state("acme", "devices").unwrap(),
            Some(StateKind::Lapsed)
        );
    }

    #[test]
    fn only_subjects_that_changed_are_written() {
        let mut t = temp_store();
        fn record(store: &mut Store, at: &str, verdict: &Verdict) -> Recorded {
            store
                .record_verdict("acme", "devices", ts(at), verdict, &mut |_| None)
                .unwrap()
        }
        let first = judged(&[("pc-1", true, "compliant"), ("pc-2", false, "noncompliant")]);
        record(&mut t.store, "2026-11-23T09:00:00Z", &first);
        record(&mut t.store, "2026-11-23T10:00:00Z", &first);
        let rows = written(&t.store);
        assert_eq!(
            rows,
            vec![("pc-2".to_owned(), "2026-11-23T09:00:00Z".to_owned())],
            "judged as before: left as they were; pc-1, met since it was first seen, has no row"
        );
        // A new reason is written, though the state is the same.
        let second = judged(&[
            ("pc-1", true, "compliant"),
            ("pc-2", false, "noncompliant, 9 days"),
        ]);
        let recorded = record(&mut t.store, "2026-11-23T11:00:00Z", &second);
        assert_eq!(recorded.subjects, 0, "no state changed");
        assert_eq!(
            written(&t.store),
            vec![("pc-2".to_owned(), "2026-11-23T11:00:00Z".to_owned())]
        );
        let subjects = t.store.subjects("acme", "devices").unwrap();
        let pc2 = subjects.iter().find(|s| s.subject == "pc-2").unwrap();
        assert_eq!(pc2.reason, "noncompliant, 9 days");
        assert_eq!(pc2.since, ts("2026-11-23T09:00:00Z"), "state since kept");
        // A state change is written and counted: pc-1 fails for the first time.
        let third = judged(&[
            ("pc-1", false, "noncompliant"),
            ("pc-2", false, "noncompliant, 9 days"),
        ]);
        assert_eq!(
            record(&mut t.store, "2026-11-23T12:00:00Z", &third).subjects,
            1
        );
        assert_eq!(
            written(&t.store)[0],
            ("pc-1".to_owned(), "2026-11-23T12:00:00Z".to_owned())
        );
        // Once it was not met, its recovery is a change and its row stays, now met.
        let fourth = judged(&[
            ("pc-1", true, "compliant"),
            ("pc-2", false, "noncompliant, 9 days"),
        ]);
        assert_eq!(
            record(&mut t.store, "2026-11-23T13:00:00Z", &fourth).subjects,
            1
        );
        let subjects = t.store.subjects("acme", "devices").unwrap();
        let pc1 = subjects.iter().find(|s| s.subject == "pc-1").unwrap();
        assert_eq!(pc1.state, StateKind::Met);
        assert_eq!(pc1.since, ts("2026-11-23T13:00:00Z"));
    }

    /// A failing subject's start is handed back while the duty's subjects were judged within
    /// the window the next evaluation reads; a verdict that could not judge them (a failed
    /// collector) leaves the judging time, so a window that starts after it gets none.
    #[test]
    fn a_failing_start_is_carried_only_while_the_subjects_were_judged_within_the_window() {
        let mut t = temp_store();
        let mut failing = judged(&[("pc-1", true, "compliant"), ("pc-2", false, "noncompliant")]);
        if let Some(subjects) = failing.subjects.as_mut() {
            subjects[1].failing_since = Some(ts("2026-11-18T00:00:00Z"));
        }
        t.store
            .record_verdict(
                "acme",
                "devices",
                ts("2026-11-23T09:00:00Z"),
                &failing,
                &mut |_| None,
            )
            .unwrap();
        let carried = |store: &Store, window_start: &str| {
            store
                .failing_since("acme", "devices", ts(window_start))
                .unwrap()
                .into_iter()
                .map(|(s, at)| (s.as_str().to_owned(), at))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            carried(&t.store, "2026-11-20T00:00:00Z"),
            [("pc-2".to_owned(), ts("2026-11-18T00:00:00Z"))]
        );
        // A failed collector for a week: the subjects are not judged.
        let failed = verdict(
            State::SourceError {
                since: ts("2026-11-24T00:00:00Z"),
                error: "timed out".to_owned(),
            },
            "the collector failed",
        );
        t.store
            .record_verdict(
                "acme",
                "devices",
                ts("2026-11-30T09:00:00Z"),
                &failed,
                &mut |_| None,
            )
            .unwrap();
        assert!(carried(&t.store, "2026-11-27T00:00:00Z").is_empty());
        assert_eq!(carried(&t.store, "2026-11-23T09:00:00Z").len(), 1);
    }

    #[test]
    fn a_subject_always_met_leaves_no_row_and_no_change() {
        let mut t = temp_store();
        let mut record = |at: &str, verdict: &Verdict| {
            t.store
                .record_verdict("acme", "devices", ts(at), verdict, &mut |_| None)
                .unwrap()
        };
        record(
            "2026-11-23T09:00:00Z",
            &judged(&[("pc-1", true, "compliant"), ("pc-2", false, "noncompliant")]),
        );
        // pc-1 leaves the evidence: it was never anything but met, so nothing is told.
        let gone = record(
            "2026-11-23T10:00:00Z",
            &judged(&[("pc-2", false, "noncompliant")]),
        );
        assert_eq!(gone.subjects, 0);
        // pc-2 leaves: it was failing, so that is a change, and its row says gone.
        let gone = record(
            "2026-11-23T11:00:00Z",
            &judged(&[("pc-1", true, "compliant")]),
        );
        assert_eq!(gone.subjects, 1);
        // pc-2 comes back met: its row is no longer gone.
        record(
            "2026-11-23T12:00:00Z",
            &judged(&[("pc-1", true, "compliant"), ("pc-2", true, "compliant")]),
        );
        let subjects = t.store.subjects("acme", "devices").unwrap();
        let names: Vec<(&str, StateKind, bool)> = subjects
            .iter()
            .map(|s| (s.subject.as_str(), s.state, s.gone_at.is_some()))
            .collect();
        assert_eq!(names, vec![("pc-2", StateKind::Met, false)]);
    }

    #[test]
    fn same_kind_twice_is_one_change_and_one_mail() {
        let mut t = temp_store();
        let mut seen = Vec::new();
        let mut decide = mail_on_change(&mut seen);
        let first = t
            .store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-23T09:00:00Z"),
                &due_soon(),
                &mut decide,
            )
            .unwrap();
        assert_eq!(first.state, Some(StateKind::DueSoon));
        let mut later = due_soon();
        later.reason = "access review due in 7 days".to_owned();
        let second = t
            .store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-24T09:00:00Z"),
                &later,
                &mut decide,
            )
            .unwrap();
        assert_eq!(second.state, None);
        drop(decide);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, None);
        assert_eq!(seen[0].1, StateKind::DueSoon);
        assert_eq!(count(&t.store, "verdict_history"), 1);
        assert_eq!(count(&t.store, "escalations"), 1);
        assert_eq!(count(&t.store, "outbox"), 1);

        // duty_state follows every evaluation; state_since stays at the change.
        let current = t.store.current_verdicts(Some("acme")).unwrap();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].verdict, later);
        assert_eq!(current[0].state_since, ts("2026-11-23T09:00:00Z"));
        assert_eq!(current[0].evaluated_at, ts("2026-11-24T09:00:00Z"));
    }

    #[test]
    fn kind_change_is_a_second_change_and_mail() {
        let mut t = temp_store();
        let mut seen = Vec::new();
        let mut decide = mail_on_change(&mut seen);
        t.store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-23T09:00:00Z"),
                &due_soon(),
                &mut decide,
            )
            .unwrap();
        let met = verdict(State::Met { next_due: None }, "reviewed by bob");
        let changed = t
            .store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-25T09:00:00Z"),
                &met,
                &mut decide,
            )
            .unwrap();
        assert_eq!(changed.state, Some(StateKind::Met));
        drop(decide);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, Some(StateKind::DueSoon));
        assert_eq!(seen[1].1, StateKind::Met);
        assert_ne!(seen[0].2, seen[1].2);
        assert_eq!(t.store.escalation_count(None).unwrap(), 2);
        assert_eq!(count(&t.store, "outbox"), 2);

        let history = t.store.history("acme", "access_review").unwrap();
        assert_eq!(
            history,
            vec![
                (ts("2026-11-23T09:00:00Z"), due_soon()),
                (ts("2026-11-25T09:00:00Z"), met)
            ]
        );
        let current = t.store.current_verdicts(None).unwrap();
        assert_eq!(current[0].state_since, ts("2026-11-25T09:00:00Z"));
    }

    #[test]
    fn a_change_without_mail_records_no_escalation() {
        let mut t = temp_store();
        let changed = t
            .store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-23T09:00:00Z"),
                &verdict(State::Met { next_due: None }, "ok"),
                &mut |_| None,
            )
            .unwrap();
        assert_eq!(changed.state, Some(StateKind::Met));
        assert_eq!(count(&t.store, "verdict_history"), 1);
        assert_eq!(t.store.escalation_count(None).unwrap(), 0);
        assert_eq!(count(&t.store, "outbox"), 0);
    }

    #[test]
    fn reopening_does_not_mail_the_same_state_again() {
        let t = temp_store();
        let path = t.path.clone();
        let mut seen = Vec::new();
        {
            let mut store = t.store;
            store
                .record_verdict(
                    "acme",
                    "access_review",
                    ts("2026-11-23T09:00:00Z"),
                    &due_soon(),
                    &mut mail_on_change(&mut seen),
                )
                .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let changed = store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-23T10:00:00Z"),
                &due_soon(),
                &mut mail_on_change(&mut seen),
            )
            .unwrap();
        assert_eq!(changed.state, None);
        assert_eq!(seen.len(), 1);
        assert_eq!(store.escalation_count(Some("acme")).unwrap(), 1);
        assert_eq!(count(&store, "outbox"), 1);
    }

    #[test]
    fn current_verdicts_are_ordered_and_filtered() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        for (client, duty) in [
            ("globex", "b"),
            ("acme", "z"),
            ("acme", "a"),
            ("globex", "a"),
        ] {
            t.store
                .record_verdict(client, duty, at, &due_soon(), &mut |_| None)
                .unwrap();
        }
        let keys = |client| -> Vec<(String, String)> {
            t.store
                .current_verdicts(client)
                .unwrap()
                .into_iter()
                .map(|v| (v.client, v.duty))
                .collect()
        };
        let pair = |c: &str, d: &str| (c.to_owned(), d.to_owned());
        assert_eq!(
            keys(None),
            vec![
                pair("acme", "a"),
                pair("acme", "z"),
                pair("globex", "a"),
                pair("globex", "b")
            ]
        );
        assert_eq!(
            keys(Some("globex")),
            vec![pair("globex", "a"), pair("globex", "b")]
        );
    }

    #[test]
    fn retain_duties_forgets_only_current_state() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        for (client, duty) in [("acme", "keep"), ("acme", "gone"), ("globex", "gone")] {
            t.store
                .record_verdict(client, duty, at, &due_soon(), &mut |_| {
                    Some(OutgoingMail {
                        to: vec!["a@b.example".to_owned()],
                        cc: Vec::new(),
                        subject: "s".to_owned(),
                        body: "b".to_owned(),
                        ..OutgoingMail::default()
                    })
                })
                .unwrap();
        }
        let kept = |ids: &[&'static str]| -> Vec<KeptDuty<'static>> {
            ids.iter()
                .map(|id| KeptDuty {
                    id,
                    judges_subjects: true,
                })
                .collect()
        };
        t.store
            .retain_duties("acme", &kept(&["keep", "never-seen"]), at)
            .unwrap();
        let left: Vec<(String, String)> = t
            .store
            .current_verdicts(None)
            .unwrap()
            .into_iter()
            .map(|v| (v.client, v.duty))
            .collect();
        assert_eq!(
            left,
            vec![
                ("acme".to_owned(), "keep".to_owned()),
                ("globex".to_owned(), "gone".to_owned())
            ]
        );
        assert_eq!(t.store.history("acme", "gone").unwrap().len(), 1);
        assert_eq!(t.store.escalation_count(Some("acme")).unwrap(), 2);

        t.store.retain_duties("acme", &kept(&[]), at).unwrap();
        assert!(t.store.current_verdicts(Some("acme")).unwrap().is_empty());
    }

    #[test]
    fn a_removed_duty_or_client_closes_its_open_threads() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        let later = ts("2026-11-24T09:00:00Z");
        let units = [("acme", "keep"), ("acme", "gone"), ("globex", "any")];
        for (client, duty) in units {
            // Each with a mail the relay has not taken yet and an acknowledgement in force.
            t.store
                .record_verdict(client, duty, at, &due_soon(), &mut |_| {
                    Some(OutgoingMail {
                        to: vec!["a@b.example".to_owned()],
                        subject: format!("about {duty}"),
                        body: "b".to_owned(),
                        ..OutgoingMail::default()
                    })
                })
                .unwrap();
            t.store
                .conn
                .execute(
                    "INSERT INTO acks (kind, client, duty, by_name, reason, created_at)
                     VALUES ('ack', ?1, ?2, 'it', 'on it', ?3)",
                    params![client, duty, ts_text(at)],
                )
                .unwrap();
            t.store
                .conn
                .execute(
                    "INSERT INTO ladder_threads (client, duty, subject, token, opened_at,
                                                 reached, last_mail_at)
                     VALUES (?1, ?2, '', 'tok', ?3, 0, ?3)",
                    params![client, duty, ts_text(at)],
                )
                .unwrap();
        }
        // The mails are the threads' first steps (ladder mail, not a state change's).
        t.store
            .conn
            .execute(
                "INSERT INTO ladder_steps (thread_id, step, at, escalation_id)
                 SELECT t.id, 'notice:due_soon', t.opened_at, e.id
                   FROM ladder_threads AS t
                   JOIN escalations AS e ON e.client = t.client AND e.duty = t.duty",
                [],
            )
            .unwrap();
        let open = |store: &Store| -> Vec<(String, String)> {
            store
                .conn
                .prepare(
                    "SELECT client, duty FROM ladder_threads WHERE closed_at IS NULL ORDER BY id",
                )
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let keep = [KeptDuty {
            id: "keep",
            judges_subjects: false,
        }];
        t.store.retain_duties("acme", &keep, later).unwrap();
        assert_eq!(
            open(&t.store),
            [
                ("acme".to_owned(), "keep".to_owned()),
                ("globex".to_owned(), "any".to_owned())
            ]
        );

        assert_eq!(
            t.store.retain_clients(&["acme"], later).unwrap(),
            ["globex"]
        );
        assert_eq!(open(&t.store), [("acme".to_owned(), "keep".to_owned())]);
        assert!(t.store.current_verdicts(Some("globex")).unwrap().is_empty());
        assert_eq!(
            t.store.history("globex", "any").unwrap().len(),
            1,
            "history stays"
        );
        // Each closed thread says why, once.
        assert_eq!(
            t.store
                .conn
                .query_row(
                    "SELECT count(*) FROM ladder_steps WHERE step = 'unwatched' AND at = ?1",
                    params![ts_text(later)],
                    |row| row.get::<_, i64>(0),
                )
                .unwrap(),
            2
        );
        assert!(t.store.retain_clients(&["acme"], later).unwrap().is_empty());
        // Their reminders waiting for the relay are cancelled, their acknowledgements end.
        let waiting: Vec<String> = t
            .store
            .undelivered_mail(None)
            .unwrap()
            .into_iter()
            .map(|m| m.subject)
            .collect();
        assert_eq!(waiting, ["about keep"]);
        let acked: Vec<String> = t
            .store
            .active_acks(None, later)
            .unwrap()
            .into_iter()
            .map(|a| a.duty)
            .collect();
        assert_eq!(acked, ["keep"]);
    }

    #[test]
    fn threads_left_open_for_a_duty_forgotten_earlier_are_closed() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        // Two open threads and no state: their duties' state was forgotten, not their threads.
        for duty in ["kept", "removed"] {
            t.store
                .conn
                .execute(
                    "INSERT INTO ladder_threads (client, duty, subject, token, opened_at,
                                                 reached, last_mail_at)
                     VALUES ('acme', ?1, '', 'tok', ?2, 0, ?2)",
                    params![duty, ts_text(at)],
                )
                .unwrap();
        }
        let configured = |_: &str, duty: &str| duty == "kept";
        assert_eq!(
            t.store.close_unconfigured_threads(&configured, at).unwrap(),
            1
        );
        let open: Vec<String> = t
            .store
            .ladder_state("acme", at)
            .unwrap()
            .threads
            .into_iter()
            .map(|thread| thread.duty)
            .collect();
        assert_eq!(open, ["kept"]);
        assert_eq!(
            t.store.close_unconfigured_threads(&configured, at).unwrap(),
            0
        );
    }

    #[test]
    fn subjects_stored_before_the_count_of_met_subjects_are_retired_too() {
        // A database from before 0017: every subject of a per-subject duty has a row, met
        // ones too, and the duty has no count of met subjects.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v16.db");
        let before_0017 = super::super::MIGRATION_LIST
            .iter()
            .position(|m| format!("{m:?}").contains("met_subjects"))
            .unwrap();
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        rusqlite_migration::Migrations::new(super::super::MIGRATION_LIST[..before_0017].to_vec())
            .to_latest(&mut conn)
            .unwrap();
        let verdict = serde_json::to_string(&judged(&[
            ("pc1", false, "not compliant"),
            ("pc2", true, "ok"),
        ]))
        .unwrap();
        let at = "2026-11-23T09:00:00Z";
        conn.execute(
            "INSERT INTO duty_state (client, duty, state, state_since, verdict, evaluated_at)
             VALUES ('acme', 'devices', 'lapsed', ?1, ?2, ?1)",
            params![at, verdict],
        )
        .unwrap();
        for (subject, state) in [("pc1", "lapsed"), ("pc2", "met")] {
            conn.execute(
                "INSERT INTO subject_state (client, duty, subject, state, state_since, reason,
                                            evaluated_at)
                 VALUES ('acme', 'devices', ?1, ?2, ?3, 'as judged then', ?3)",
                params![subject, state, at],
            )
            .unwrap();
        }
        drop(conn);

        let mut store = Store::open(&path).unwrap();
        let current = store.current_verdicts(Some("acme")).unwrap();
        assert_eq!(current[0].met_subjects, Some(1), "counted from its rows");
        let whole = [KeptDuty {
            id: "devices",
            judges_subjects: false,
        }];
        let later = ts("2026-11-24T09:00:00Z");
        assert_eq!(store.retain_duties("acme", &whole, later).unwrap(), 1);
        let subjects = store.subjects("acme", "devices").unwrap();
        assert!(
            subjects
                .iter()
                .all(|s| s.gone_at == Some(later) && s.reason == RETIRED),
            "{subjects:?}"
        );
        let (live, worst) = store.subjects_to_escalate("acme", "devices").unwrap();
        assert!(live.is_empty() && worst.is_none(), "{live:?}");
    }

    #[test]
    fn subjects_of_a_duty_now_judged_as_a_whole_are_retired_once() {
        let mut t = temp_store();
        let at = ts("2026-11-23T09:00:00Z");
        let later = ts("2026-11-24T09:00:00Z");
        t.store
            .record_verdict(
                "acme",
                "devices",
                at,
                &judged(&[("pc1", false, "not compliant"), ("pc2", true, "ok")]),
                &mut |_| None,
            )
            .unwrap();
        let per_subject = [KeptDuty {
            id: "devices",
            judges_subjects: true,
        }];
        assert_eq!(
            t.store.retain_duties("acme", &per_subject, later).unwrap(),
            0
        );
        assert_eq!(count(&t.store, "subject_history"), 1, "nothing retired yet");
        let whole = [KeptDuty {
            id: "devices",
            judges_subjects: false,
        }];
        assert_eq!(t.store.retain_duties("acme", &whole, later).unwrap(), 1);

        let subjects = t.store.subjects("acme", "devices").unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].subject, "pc1");
        assert_eq!(subjects[0].gone_at, Some(later));
        assert_eq!(subjects[0].reason, RETIRED);
        let history = t.store.subject_history("acme", "devices", "pc1").unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(
            history.last().unwrap(),
            &(later, Some("lapsed".to_owned()), "gone".to_owned())
        );
        let current = t.store.current_verdicts(Some("acme")).unwrap();
        assert_eq!(
            current[0].met_subjects, None,
            "no count of met subjects is shown"
        );
        // The ladder no longer sees it as live, only through a thread it may still have.
        let (live, worst) = t.store.subjects_to_escalate("acme", "devices").unwrap();
        assert!(live.is_empty() && worst.is_none(), "{live:?}");

        // Settled: a second pass records nothing more.
        let histories = count(&t.store, "verdict_history");
        assert_eq!(t.store.retain_duties("acme", &whole, later).unwrap(), 0);
        assert_eq!(count(&t.store, "verdict_history"), histories);
        assert_eq!(count(&t.store, "subject_history"), 2);
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let mut t = temp_store();
        t.store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-23T09:00:00Z"),
                &due_soon(),
                &mut |_| None,
            )
            .unwrap();
        t.store
            .conn
            .execute_batch("UPDATE duty_state SET verdict = '{', state = 'waived'")
            .unwrap();
        let err = t.store.current_verdicts(None).unwrap_err();
        assert!(matches!(err, StoreError::Sql { .. }), "{err}");
        let err = t
            .store
            .record_verdict(
                "acme",
                "access_review",
                ts("2026-11-23T10:00:00Z"),
                &due_soon(),
                &mut |_| None,
            )
            .unwrap_err();
        assert!(err.to_string().contains("acme/access_review"), "{err}");
    }
}
