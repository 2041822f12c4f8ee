//! The escalation ladder's state: lapse threads, the steps each has taken, and the
//! acknowledgements and silences people recorded.
//!
//! The ladder's policy (`dutywatch_checks::ladder`) says which steps are due; this module
//! makes each happen once. [`Store::record_ladder`] takes one pass's planned steps of a client
//! and, in ONE transaction, opens the threads they need, records each step under its key
//! (unique within its thread), lets the caller compose the mails from the steps that are new,
//! and queues those mails through the one outbox path. A step decided before (a second pass,
//! a restart, a second daemon) is dropped before composition, so it is never told twice, and a
//! failure leaves nothing recorded, so it is not lost either.

use dutywatch_checks::ladder::{Reach, Step};
use jiff::Timestamp;
use rusqlite::{OptionalExtension as _, Row, Transaction, params};
use std::collections::HashSet;

use super::keyed::{self, About, Decision};
use super::{OutgoingMail, Store, StoreError, ts_text, whole_seconds};

/// What people said about a duty: seen and worked on, or planned work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckKind {
    /// No management step, no repeats; ends at the given time or when the thread resolves.
    Ack,
    /// Nothing but the resolution is sent until it expires.
    Silence,
}

impl AckKind {
    fn as_str(self) -> &'static str {
        match self {
            AckKind::Ack => "ack",
            AckKind::Silence => "silence",
        }
    }
}

/// A recorded acknowledgement or silence.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ack {
    pub id: i64,
    pub kind: AckKind,
    pub client: String,
    pub duty: String,
    /// `None`: the whole duty.
    pub subject: Option<String>,
    pub by: String,
    pub reason: String,
    pub created_at: Timestamp,
    pub until: Option<Timestamp>,
}

impl Ack {
    /// Whether it covers `subject` of its duty (`""`: the duty itself).
    pub fn covers(&self, duty: &str, subject: &str) -> bool {
        self.duty == duty && self.subject.as_deref().is_none_or(|s| s == subject)
    }
}

/// An acknowledgement or a silence to record.
#[derive(Clone, Copy, Debug)]
pub struct NewAck<'a> {
    pub kind: AckKind,
    pub client: &'a str,
    pub duty: &'a str,
    /// `None`: the whole duty.
    pub subject: Option<&'a str>,
    pub by: &'a str,
    pub reason: &'a str,
    /// When it was said.
    pub at: Timestamp,
    /// Required for a silence (the table refuses one without).
    pub until: Option<Timestamp>,
}

/// An open lapse thread of one duty (subject `""`) or subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderThread {
    pub id: i64,
    pub duty: String,
    pub subject: String,
    /// Random, fixed when it opened: the root `Message-ID` is made of it.
    pub token: String,
    pub opened_at: Timestamp,
    pub reached: Reach,
    pub management: bool,
    pub repeats: u32,
    pub last_mail_at: Timestamp,
}

impl LadderThread {
    /// As the pure policy sees it.
    pub fn policy(&self) -> dutywatch_checks::ladder::Thread {
        dutywatch_checks::ladder::Thread {
            reached: self.reached,
            management: self.management,
            repeats: self.repeats,
            last_mail_at: self.last_mail_at,
        }
    }
}

/// What the ladder of one client knows before a pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LadderState {
    pub threads: Vec<LadderThread>,
    /// Acknowledgements and silences in force at the pass's instant.
    pub acks: Vec<Ack>,
    /// Whether the ladder of this client ever opened a thread: the first pass after installing
    /// sends one summary per recipient.
    pub ever_ran: bool,
    /// The steps the open threads took, by (thread id, step key): a step is taken once, so
    /// the pass need not plan it again.
    pub taken: HashSet<(i64, String)>,
}

/// A step the policy found due, with the caller's reference to what it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    pub duty: String,
    /// `""`: the duty itself.
    pub subject: String,
    pub step: Step,
    /// Index into the caller's own list of what the step is about.
    pub item: usize,
}

/// A step recorded now, for the first time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedStep {
    pub item: usize,
    pub step: Step,
    /// Its thread as it is after this step (resolved: closed by it).
    pub thread: LadderThread,
    /// Whether this step opened the thread.
    pub opened: bool,
    /// How far the thread had reached before this step.
    pub reached_before: Option<Reach>,
}

/// A mail composed from some decided steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposedMail {
    /// Indices into the decided steps it tells of (at least one).
    pub steps: Vec<usize>,
    /// The duty `status` and the outbox show it under (its most urgent one).
    pub duty: String,
    /// The worst state it tells of, which sets its retry ceiling.
    pub state: String,
    pub mail: OutgoingMail,
}

fn ack_row(row: &Row<'_>) -> rusqlite::Result<Ack> {
    let kind: String = row.get(1)?;
    Ok(Ack {
        id: row.get(0)?,
        kind: if kind == "silence" {
            AckKind::Silence
        } else {
            AckKind::Ack
        },
        client: row.get(2)?,
        duty: row.get(3)?,
        subject: row.get(4)?,
        by: row.get(5)?,
        reason: row.get(6)?,
        created_at: row.get(7)?,
        until: row.get(8)?,
    })
}

fn thread_row(row: &Row<'_>) -> rusqlite::Result<LadderThread> {
    let repeats: i64 = row.get(7)?;
    Ok(LadderThread {
        id: row.get(0)?,
        duty: row.get(1)?,
        subject: row.get(2)?,
        token: row.get(3)?,
        opened_at: row.get(4)?,
        reached: Reach::from_i64(row.get(5)?),
        management: row.get(6)?,
        repeats: u32::try_from(repeats).unwrap_or(u32::MAX),
        last_mail_at: row.get(8)?,
    })
}

const THREAD_COLUMNS: &str =
    "id, duty, subject, token, opened_at, reached, management, repeats, last_mail_at";

impl Store {
    /// Records an acknowledgement or a silence; its id.
    pub fn add_ack(&mut self, ack: &NewAck<'_>) -> Result<i64, StoreError> {
        let on_err = self.sql_error(format!(
            "recording the {} of {}/{}",
            ack.kind.as_str(),
            ack.client,
            ack.duty
        ));
        let mut write = || -> rusqlite::Result<i64> {
            let tx = self.write_tx()?;
            tx.prepare_cached(
                "INSERT INTO acks (kind, client, duty, subject, by_name, reason, created_at, until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                ack.kind.as_str(),
                ack.client,
                ack.duty,
                ack.subject,
                ack.by,
                ack.reason,
                ts_text(ack.at),
                ack.until.map(ts_text)
            ])?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        };
        write().map_err(on_err)
    }

    /// Acknowledgements and silences in force at `now`, of one client or all, oldest first:
    /// said by then, not expired, and (an acknowledgement) not ended by a resolution.
    pub fn active_acks(
        &self,
        client: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Ack>, StoreError> {
        let on_err = self.sql_error("reading acknowledgements and silences".to_owned());
        let read = || -> rusqlite::Result<Vec<Ack>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, kind, client, duty, subject, by_name, reason, created_at, until
                 FROM acks
                 WHERE (?1 IS NULL OR client = ?1) AND created_at <= ?2
                   AND (until IS NULL OR until > ?2) AND ended_at IS NULL
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![client, ts_text(now)], ack_row)?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// What the ladder of `client` knows at `now`: its open threads and the acknowledgements
    /// and silences in force.
    pub fn ladder_state(&self, client: &str, now: Timestamp) -> Result<LadderState, StoreError> {
        let acks = self.active_acks(Some(client), now)?;
        let on_err = self.sql_error(format!("reading the escalation threads of {client}"));
        type Read = (Vec<LadderThread>, bool, HashSet<(i64, String)>);
        let read = || -> rusqlite::Result<Read> {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {THREAD_COLUMNS} FROM ladder_threads
                 WHERE client = ?1 AND closed_at IS NULL ORDER BY id"
            ))?;
            let threads = stmt
                .query_map(params![client], thread_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let ever_ran = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM ladder_threads WHERE client = ?1)",
                params![client],
                |row| row.get(0),
            )?;
            let taken = self
                .conn
                .prepare_cached(
                    "SELECT s.thread_id, s.step FROM ladder_steps s
                     JOIN ladder_threads t ON t.id = s.thread_id
                     WHERE t.client = ?1 AND t.closed_at IS NULL",
                )?
                .query_map(params![client], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<HashSet<_>>>()?;
            Ok((threads, ever_ran, taken))
        };
        let (threads, ever_ran, taken) = read().map_err(on_err)?;
        Ok(LadderState {
            taken,
            threads,
            acks,
            ever_ran,
        })
    }

    /// Records one pass's ladder steps of `client` at `at` and queues the mails `compose`
    /// makes of the new ones, in one transaction. Answers how many mails were queued.
    pub fn record_ladder(
        &mut self,
        client: &str,
        at: Timestamp,
        planned: &[PlannedStep],
        compose: &mut dyn FnMut(&[DecidedStep]) -> Vec<ComposedMail>,
    ) -> Result<usize, StoreError> {
        let on_err = self.sql_error(format!("recording the escalations of {client}"));
        let mut write = || -> rusqlite::Result<usize> {
            let tx = self.write_tx()?;
            let queued = record_ladder_tx(&tx, client, whole_seconds(at), planned, compose)?;
            tx.commit()?;
            Ok(queued)
        };
        write().map_err(on_err)
    }
}

fn record_ladder_tx(
    tx: &Transaction<'_>,
    client: &str,
    at: Timestamp,
    planned: &[PlannedStep],
    compose: &mut dyn FnMut(&[DecidedStep]) -> Vec<ComposedMail>,
) -> rusqlite::Result<usize> {
    let at_text = ts_text(at);
    let mut decided = Vec::new();
    let mut step_rows = Vec::new();
    // A client's first pass opens a thread per failing subject, thousands of them; with no
    // thread open there is none to look up for each.
    let any_open: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM ladder_threads WHERE client = ?1 AND closed_at IS NULL)",
        )?
        .query_row(params![client], |row| row.get(0))?;
    // Prepared once: a first pass over a large client plans thousands of steps.
    let mut find_open = tx.prepare_cached(&format!(
        "SELECT {THREAD_COLUMNS} FROM ladder_threads
         WHERE client = ?1 AND duty = ?2 AND subject = ?3 AND closed_at IS NULL"
    ))?;
    // Nothing is read back: the new thread is what was written, and its id the row id (a
    // first pass opens thousands, and `RETURNING` costs each insert a statement journal).
    let mut open_thread = tx.prepare_cached(
        "INSERT INTO ladder_threads (client, duty, subject, token, opened_at,
                                     reached, management, repeats, last_mail_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?5)",
    )?;
    let mut tokens = Tokens::default();
    let mut take_step = tx.prepare_cached(
        "INSERT INTO ladder_steps (thread_id, step, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (thread_id, step) DO NOTHING",
    )?;
    // The thread the step before left, when it was this unit's: a unit's steps are planned
    // one after the other (a notice and its management step, for a problem first told late),
    // and a thread opened in this transaction is not looked up when none was open before.
    let mut previous: Option<LadderThread> = None;
    for (index, plan) in planned.iter().enumerate() {
        let open = match previous.take() {
            Some(thread) if thread.duty == plan.duty && thread.subject == plan.subject => {
                Some(thread)
            }
            _ if any_open => find_open
                .query_row(params![client, plan.duty, plan.subject], thread_row)
                .optional()?,
            _ => None,
        };
        let (thread, opened) = match open {
            Some(thread) => (thread, false),
            // A resolution without a thread has nobody to tell.
            None if plan.step.closes() => continue,
            None => {
                // Opened as its first step leaves it (see the update below).
                let repeats = match plan.step {
                    Step::Repeat(n) => n,
                    _ => 0,
                };
                let reached = plan.step.reach(None);
                let management = plan.step == Step::Management;
                let token = tokens.next(tx, planned.len() - index)?;
                open_thread.execute(params![
                    client,
                    plan.duty,
                    plan.subject,
                    token,
                    at_text,
                    reached.as_i64(),
                    management,
                    repeats
                ])?;
                let id = tx.last_insert_rowid();
                let thread = LadderThread {
                    id,
                    duty: plan.duty.clone(),
                    subject: plan.subject.clone(),
                    token,
                    opened_at: at,
                    reached,
                    management,
                    repeats,
                    last_mail_at: at,
                };
                (thread, true)
            }
        };
        let inserted = take_step.execute(params![thread.id, plan.step.key(), at_text])?;
        if inserted == 0 {
            continue;
        }
        step_rows.push(tx.last_insert_rowid());
        let reached_before = (!opened).then_some(thread.reached);
        let reached = thread.reached.max(plan.step.reach(reached_before));
        let management = thread.management || plan.step == Step::Management;
        let repeats = match plan.step {
            Step::Repeat(n) => n,
            _ => thread.repeats,
        };
        let closed = plan.step.closes().then_some(at_text.as_str());
        // A thread opened just now was written as this step leaves it.
        if !opened {
            tx.prepare_cached(
                "UPDATE ladder_threads SET reached = ?2, management = ?3, repeats = ?4,
                                       last_mail_at = ?5, closed_at = ?6
             WHERE id = ?1",
            )?
            .execute(params![
                thread.id,
                reached.as_i64(),
                management,
                repeats,
                at_text,
                closed
            ])?;
        }
        if closed.is_some() {
            // An acknowledgement is about the lapse it was said for: the resolution ends it
            // (a whole-duty one once none of the duty's threads is open).
            tx.prepare_cached(
                "UPDATE acks SET ended_at = ?4
                 WHERE kind = 'ack' AND ended_at IS NULL AND client = ?1 AND duty = ?2
                   AND (subject = ?3 OR (subject IS NULL AND NOT EXISTS (
                        SELECT 1 FROM ladder_threads
                        WHERE client = ?1 AND duty = ?2 AND closed_at IS NULL)))",
            )?
            .execute(params![client, plan.duty, plan.subject, at_text])?;
        }
        let thread = LadderThread {
            reached,
            management,
            repeats,
            last_mail_at: at,
            ..thread
        };
        if closed.is_none() {
            previous = Some(thread.clone());
        }
        decided.push(DecidedStep {
            item: plan.item,
            step: plan.step,
            thread,
            opened,
            reached_before,
        });
    }
    if decided.is_empty() {
        return Ok(0);
    }
    let mut queued = 0;
    for (n, composed) in compose(&decided).iter().enumerate() {
        let Some(first) = composed
            .steps
            .iter()
            .filter_map(|i| step_rows.get(*i))
            .min()
        else {
            continue;
        };
        // Step rows are never reused, so the key is new exactly when its steps are.
        let key = format!("ladder:{client}:{first}:{n}");
        let about = About {
            client,
            duty: &composed.duty,
            state: &composed.state,
        };
        let Some(escalation) =
            keyed::queue_in_as(tx, Decision::Key(&key), about, &composed.mail, at)?
        else {
            continue;
        };
        queued += 1;
        // One statement per mail, however many steps it tells of.
        let rows: Vec<i64> = composed
            .steps
            .iter()
            .filter_map(|i| step_rows.get(*i).copied())
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.prepare_cached(
            "UPDATE ladder_steps SET escalation_id = ?2
             WHERE id IN (SELECT value FROM json_each(?1)) AND escalation_id IS NULL",
        )?
        .execute(params![rows, escalation])?;
        // How many duties it tells of, for the outbox listing (a step may be in several
        // recipients' mails, and keeps only the first one's escalation).
        let duties: std::collections::BTreeSet<&str> = composed
            .steps
            .iter()
            .filter_map(|i| decided.get(*i))
            .map(|step| step.thread.duty.as_str())
            .collect();
        if duties.len() > 1 {
            tx.prepare_cached("UPDATE escalations SET duties = ?2 WHERE id = ?1")?
                .execute(params![
                    escalation,
                    i64::try_from(duties.len()).unwrap_or(i64::MAX)
                ])?;
        }
    }
    Ok(queued)
}

/// The random tokens of the threads one pass opens, drawn from SQLite's generator once for
/// all of them rather than once per thread.
#[derive(Default)]
struct Tokens {
    random: Vec<u8>,
}

impl Tokens {
    /// Bytes of randomness in a token (16 hex digits).
    const BYTES: usize = 8;

    /// The next token; `at_most` is how many more a pass can take (one per remaining step).
    fn next(&mut self, tx: &Transaction<'_>, at_most: usize) -> rusqlite::Result<String> {
        if self.random.len() < Self::BYTES {
            let wanted = i64::try_from(Self::BYTES * at_most.max(1)).unwrap_or(i64::MAX);
            self.random =
                tx.query_row("SELECT randomblob(?1)", params![wanted], |row| row.get(0))?;
        }
        let token = self
            .random
            .split_off(self.random.len().saturating_sub(Self::BYTES));
        Ok(hex::encode(token))
    }
}

#[cfg(test)]
mod tests {
    use dutywatch_checks::verdict::StateKind;

    use super::super::test_util::{temp_store, ts};
    use super::*;

    fn plan(duty: &str, step: Step) -> PlannedStep {
        PlannedStep {
            duty: duty.to_owned(),
            subject: String::new(),
            step,
            item: 0,
        }
    }

    fn one_mail(decided: &[DecidedStep]) -> Vec<ComposedMail> {
        vec![ComposedMail {
            steps: (0..decided.len()).collect(),
            duty: "restore-test".to_owned(),
            state: "lapsed".to_owned(),
            mail: OutgoingMail {
                to: vec!["it@acme.example".to_owned()],
                subject: format!("{} step(s)", decided.len()),
                ..OutgoingMail::default()
            },
        }]
    }

    #[test]
    fn a_step_is_recorded_and_mailed_once_and_a_resolution_closes_its_thread() {
        let mut t = temp_store();
        let at = ts("2026-12-01T09:00:00Z");
        let notice = [plan("restore-test", Step::Notice(StateKind::Lapsed))];
        assert_eq!(
            t.store
                .record_ladder("acme", at, &notice, &mut one_mail)
                .unwrap(),
            1
        );
        // The same step again, later or after a restart: nothing.
        let mut never = |_: &[DecidedStep]| -> Vec<ComposedMail> { panic!("nothing is new") };
        assert_eq!(
            t.store
                .record_ladder("acme", ts("2026-12-01T09:15:00Z"), &notice, &mut never)
                .unwrap(),
            0
        );
        let state = t.store.ladder_state("acme", at).unwrap();
        assert!(state.ever_ran);
        assert_eq!(state.threads.len(), 1);
        assert_eq!(state.threads[0].reached, Reach::Backup);

        t.store
            .add_ack(&NewAck {
                kind: AckKind::Ack,
                client: "acme",
                duty: "restore-test",
                subject: None,
                by: "Dana",
                reason: "restore scheduled",
                at,
                until: None,
            })
            .unwrap();
        assert_eq!(t.store.active_acks(Some("acme"), at).unwrap().len(), 1);

        let resolved = [plan("restore-test", Step::Resolved)];
        let later = ts("2026-12-02T09:00:00Z");
        assert_eq!(
            t.store
                .record_ladder("acme", later, &resolved, &mut one_mail)
                .unwrap(),
            1
        );
        assert!(
            t.store
                .ladder_state("acme", later)
                .unwrap()
                .threads
                .is_empty()
        );
        assert!(
            t.store.active_acks(Some("acme"), later).unwrap().is_empty(),
            "the resolution ends the acknowledgement"
        );
        // A resolution without an open thread tells nobody.
        assert_eq!(
            t.store
                .record_ladder("acme", later, &resolved, &mut never)
                .unwrap(),
            0
        );
        // The next lapse is a new thread with a new token.
        t.store
            .record_ladder("acme", ts("2026-12-09T09:00:00Z"), &notice, &mut one_mail)
            .unwrap();
        let again = t.store.ladder_state("acme", later).unwrap().threads;
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].token, state.threads[0].token);
    }

    #[test]
    fn a_thread_opened_by_a_step_is_handed_to_composition_as_it_is_stored() {
        let mut t = temp_store();
        let at = ts("2026-12-01T09:00:00Z");
        let mut steps = vec![
            plan("restore-test", Step::Notice(StateKind::Lapsed)),
            plan("mfa", Step::Management),
            plan("patches", Step::Repeat(3)),
        ];
        steps[1].subject = "bob@acme.example".to_owned();
        let mut handed: Vec<LadderThread> = Vec::new();
        t.store
            .record_ladder("acme", at, &steps, &mut |decided| {
                assert!(
                    decided
                        .iter()
                        .all(|d| d.opened && d.reached_before.is_none())
                );
                handed.extend(decided.iter().map(|d| d.thread.clone()));
                one_mail(decided)
            })
            .unwrap();
        let mut stored = t.store.ladder_state("acme", at).unwrap().threads;
        stored.sort_by_key(|thread| thread.id);
        handed.sort_by_key(|thread| thread.id);
        assert_eq!(handed.len(), 3);
        assert_eq!(handed, stored);
        assert!(stored[1].management && stored[2].repeats == 3);
        // One draw of randomness serves the pass: each thread still has its own token.
        let tokens: HashSet<&str> = stored.iter().map(|t| t.token.as_str()).collect();
        assert_eq!(tokens.len(), 3);
        assert!(stored.iter().all(|t| {
            t.token.len() == 16
                && t.token
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }));
    }

    #[test]
    fn a_silence_needs_an_expiry_and_ends_by_itself() {
        let mut t = temp_store();
        let at = ts("2026-12-01T09:00:00Z");
        let silence = NewAck {
            kind: AckKind::Silence,
            client: "acme",
            duty: "patching",
            subject: None,
            by: "ops",
            reason: "maintenance window",
            at,
            until: None,
        };
        let no_expiry = t.store.add_ack(&silence);
        assert!(no_expiry.is_err(), "a silence without an expiry is refused");
        t.store
            .add_ack(&NewAck {
                subject: Some("srv-01"),
                until: Some(ts("2026-12-03T09:00:00Z")),
                ..silence
            })
            .unwrap();
        let active = t
            .store
            .active_acks(None, ts("2026-12-03T08:59:59Z"))
            .unwrap();
        assert_eq!(active.len(), 1);
        assert!(active[0].covers("patching", "srv-01"));
        assert!(!active[0].covers("patching", "srv-02"));
        assert!(
            t.store
                .active_acks(None, ts("2026-12-03T09:00:00Z"))
                .unwrap()
                .is_empty()
        );
    }
}
