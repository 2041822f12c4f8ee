//! The mail outbox: escalations decided but not yet delivered.
//!
//! Rows are written together with their escalation (see `verdicts`), so the sender only has
//! to drain this table: a mail is retried until [`Store::mark_sent`] (at-least-once).
//!
//! A sender first [claims](Store::claim_mail) a row: a [`Lease`] on the wall clock, held by
//! the sender's owner token, taken in one write before the relay sees the mail; the outcome
//! clears it. A second process on the same database (`dutywatch once` beside the daemon, even
//! one running `--at` an earlier instant) cannot pick up a row whose lease has not run out by
//! its own clock. If the relay takes the mail and `mark_sent` then fails (disk full) or the
//! process dies, the mail goes out again once: when the lease runs out, or at once when the
//! dead process was the daemon and the next daemon [takes over](Store::take_over_claims).

use jiff::Timestamp;
use rusqlite::{OptionalExtension as _, params};

use super::{MailThread, OutgoingMail, Store, StoreError, bad_column, ts_text};

/// The delivery record, see [`Store::mark_sent`].
const RECORD_DELIVERY: &str =
    "UPDATE outbox SET sent_at = ?2, last_attempt_at = ?2, last_error = NULL,
                       claimed_until = NULL, claimed_by = NULL
     WHERE id = ?1 AND sent_at IS NULL";

/// An outbox mail due for (another) delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMail {
    /// Outbox row id, for [`Store::mark_sent`] / [`Store::mark_failed`].
    pub id: i64,
    pub mail: OutgoingMail,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Random, fixed when the mail was decided: with the row id it makes a Message-ID that
    /// a redelivery repeats and no other mail, even after a restore, ever carries.
    pub message_token: String,
    pub client: String,
    pub duty: String,
    /// The state the duty entered when the mail was decided (`lapsed`, `open`, …).
    pub state: String,
    /// Recipients the relay already took it for.
    pub delivered_to: Vec<String>,
}

/// A claim on an outbox row: who holds it (a random token per sending process) and until
/// when, both instants read from the sender's wall clock, never from a pass's logical `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease<'a> {
    pub owner: &'a str,
    /// The wall clock as the claim is taken: an older lease of someone else's that ran out by
    /// then may be taken over.
    pub at: Timestamp,
    pub until: Timestamp,
}

impl PendingMail {
    /// The recipients still waiting for it.
    pub fn remaining(&self) -> Vec<String> {
        waiting(&self.mail.to, &self.mail.cc, &self.delivered_to)
    }
}

/// Who still waits for a mail: `to` then `cc`, each address once (ignoring case), less those
/// the relay already took it for.
fn waiting(to: &[String], cc: &[String], delivered_to: &[String]) -> Vec<String> {
    let mut all: Vec<&String> = Vec::new();
    for address in to.iter().chain(cc) {
        if !all.iter().any(|seen| seen.eq_ignore_ascii_case(address)) {
            all.push(address);
        }
    }
    all.into_iter()
        .filter(|address| !delivered_to.contains(address))
        .cloned()
        .collect()
}

/// A mail not delivered yet, as `dutywatch status` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UndeliveredMail {
    pub id: i64,
    pub client: String,
    pub duty: String,
    /// How many duties the mail is about: a ladder mail (a first run's summary, a
    /// reminder) may tell of several, `duty` being the first of them (`escalations.duties`).
    pub duties: u32,
    pub subject: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub queued_at: Timestamp,
    /// Failed attempts so far; 0 when none was made yet.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    /// Recipients the relay already took it for; the rest are still waiting.
    pub delivered_to: Vec<String>,
}

impl UndeliveredMail {
    /// The recipients still waiting for it.
    pub fn remaining(&self) -> Vec<String> {
        waiting(&self.to, &self.cc, &self.delivered_to)
    }
}

/// An address list column (a JSON array).
fn addresses(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(row.get_ref(idx)?.as_str()?).map_err(|e| bad_column(idx, e))
}

impl Store {
    /// Every unsent mail of one client or all, oldest first: a relay that refuses mail must
    /// show where people look, not only in the log.
    pub fn undelivered_mail(
        &self,
        client: Option<&str>,
    ) -> Result<Vec<UndeliveredMail>, StoreError> {
        let on_err = self.sql_error("reading the mail outbox".to_owned());
        let read = || -> rusqlite::Result<Vec<UndeliveredMail>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT o.id, e.client, e.duty, o.subject, o.mail_to, o.mail_cc, o.created_at,
                        o.attempts, o.next_attempt_at, o.last_error, o.delivered_to,
                        COALESCE(e.duties, 1)
                 FROM outbox AS o JOIN escalations AS e ON e.id = o.escalation_id
                 WHERE o.sent_at IS NULL AND o.cancelled_at IS NULL
                   AND (?1 IS NULL OR e.client = ?1)
                 ORDER BY o.id",
            )?;
            let rows = stmt.query_map(params![client], |row| {
                let addresses = |idx| addresses(row, idx);
                let attempts: i64 = row.get(7)?;
                Ok(UndeliveredMail {
                    id: row.get(0)?,
                    client: row.get(1)?,
                    duty: row.get(2)?,
                    duties: row.get(11)?,
                    subject: row.get(3)?,
                    to: addresses(4)?,
                    cc: addresses(5)?,
                    queued_at: row.get(6)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    next_attempt_at: row.get(8)?,
                    last_error: row.get(9)?,
                    delivered_to: addresses(10)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// When the earliest unsent mail is next due, or its lease runs out if that is later;
    /// `None` when the outbox is empty. The daemon wakes for it, so a retry is not held back
    /// until some other job runs.
    pub fn next_mail_attempt(&self) -> Result<Option<Timestamp>, StoreError> {
        let on_err = self.sql_error("reading the mail outbox".to_owned());
        self.conn
            .query_row(
                "SELECT MIN(max(next_attempt_at, COALESCE(claimed_until, next_attempt_at)))
                 FROM outbox WHERE sent_at IS NULL AND cancelled_at IS NULL",
                [],
                |row| row.get::<_, Option<Timestamp>>(0),
            )
            .map_err(on_err)
    }

    /// Unsent mail whose next attempt is due at `now`, oldest first, at most `limit`, less
    /// those under a lease at `now`.
    pub fn pending_mail(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingMail>, StoreError> {
        self.due_mail(now, now, limit)
    }

    /// Unsent mail whose next attempt is due at `now` (a pass's instant, maybe a what-if's),
    /// oldest first, at most `limit`, less those under a lease that has not run out at
    /// `clock` (the wall clock).
    pub fn due_mail(
        &self,
        now: Timestamp,
        clock: Timestamp,
        limit: usize,
    ) -> Result<Vec<PendingMail>, StoreError> {
        let on_err = self.sql_error("reading the mail outbox".to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let read = || -> rusqlite::Result<Vec<PendingMail>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT o.id, o.mail_to, o.mail_cc, o.subject, o.body, o.attempts,
                        e.client, e.duty, o.message_token, o.delivered_to, e.state,
                        o.html_body, o.message_id, o.in_reply_to, o.mail_references
                 FROM outbox AS o JOIN escalations AS e ON e.id = o.escalation_id
                 WHERE o.sent_at IS NULL AND o.cancelled_at IS NULL AND o.next_attempt_at <= ?1
                   AND (o.claimed_until IS NULL OR o.claimed_until <= ?3)
                 ORDER BY o.id
                 LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![ts_text(now), limit, ts_text(clock)], |row| {
                let addresses = |idx| addresses(row, idx);
                let attempts: i64 = row.get(5)?;
                Ok(PendingMail {
                    id: row.get(0)?,
                    mail: OutgoingMail {
                        to: addresses(1)?,
                        cc: addresses(2)?,
                        subject: row.get(3)?,
                        body: row.get(4)?,
                        html: row.get(11)?,
                        thread: MailThread {
                            message_id: row.get(12)?,
                            in_reply_to: row.get(13)?,
                            references: addresses(14)?,
                        },
                    },
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    client: row.get(6)?,
                    duty: row.get(7)?,
                    message_token: row.get(8)?,
                    delivered_to: addresses(9)?,
                    state: row.get(10)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// Takes a mail due at `now` for one delivery attempt under `lease`, unless another
    /// sender's lease on it has not run out at `lease.at`; [`mark_sent`](Store::mark_sent) or
    /// [`mark_failed`](Store::mark_failed) settle it. `false` when it is not due, is held, or
    /// was sent or cancelled.
    pub fn claim_mail(
        &mut self,
        id: i64,
        now: Timestamp,
        lease: &Lease<'_>,
    ) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("claiming outbox mail {id}"));
        let (now, at, until) = (ts_text(now), ts_text(lease.at), ts_text(lease.until));
        let owner = lease.owner;
        let mut claim = || -> rusqlite::Result<bool> {
            let tx = self.write_tx()?;
            let changed = tx.execute(
                "UPDATE outbox SET claimed_until = ?4, claimed_by = ?5, last_attempt_at = ?2
                 WHERE id = ?1 AND sent_at IS NULL AND cancelled_at IS NULL
                   AND next_attempt_at <= ?2
                   AND (claimed_until IS NULL OR claimed_until <= ?3)",
                params![id, now, at, until, owner],
            )?;
            tx.commit()?;
            Ok(changed == 1)
        };
        let claimed = claim().map_err(on_err)?;
        if claimed {
            // Parsed now, so recording the relay's acceptance is one step of a statement
            // already compiled (see `mark_sent`); a failure here shows there again.
            let _ = self.conn.prepare_cached(RECORD_DELIVERY);
        }
        Ok(claimed)
    }

    /// Puts off a mail that was not attempted (the relay was found down earlier in the pass)
    /// until `retry_at`, saying why, without counting an attempt: an outage must not push a
    /// mail up the back-off. Leaves alone a mail another sender holds under a lease that has
    /// not run out at `clock`; `false` then, or when it was sent or cancelled meanwhile.
    pub fn defer_mail(
        &mut self,
        id: i64,
        clock: Timestamp,
        reason: &str,
        retry_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("deferring outbox mail {id}"));
        let (clock, retry_at) = (ts_text(clock), ts_text(retry_at));
        let mut defer = || -> rusqlite::Result<bool> {
            let tx = self.write_tx()?;
            let changed = tx.execute(
                "UPDATE outbox SET last_error = ?3, next_attempt_at = ?4
                 WHERE id = ?1 AND sent_at IS NULL AND cancelled_at IS NULL
                   AND (claimed_until IS NULL OR claimed_until <= ?2)",
                params![id, clock, reason, retry_at],
            )?;
            tx.commit()?;
            Ok(changed == 1)
        };
        defer().map_err(on_err)
    }

    /// Makes `token` the sender called `name` (the daemon) and releases every claim its
    /// previous token still holds, so those mails are due again at once instead of when
    /// their leases run out; returns how many. Only for a caller that knows the previous
    /// holder of `name` is gone (the daemon holds a lock on the database for its lifetime):
    /// releasing the claims of a live sender would let a mail it is sending go out twice.
    pub fn take_over_claims(
        &mut self,
        name: &str,
        token: &str,
        clock: Timestamp,
    ) -> Result<usize, StoreError> {
        let on_err = self.sql_error(format!("taking over the outbox claims of `{name}`"));
        let clock = ts_text(clock);
        let mut take_over = || -> rusqlite::Result<usize> {
            let tx = self.write_tx()?;
            let previous: Option<String> = tx
                .query_row(
                    "SELECT token FROM outbox_senders WHERE name = ?1",
                    [name],
                    |row| row.get(0),
                )
                .optional()?;
            let released = match previous {
                Some(previous) if previous != token => tx.execute(
                    "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL
                     WHERE claimed_by = ?1 AND sent_at IS NULL",
                    [&previous],
                )?,
                _ => 0,
            };
            tx.execute(
                "INSERT INTO outbox_senders (name, token, started_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET token = ?2, started_at = ?3",
                params![name, token, clock],
            )?;
            tx.commit()?;
            Ok(released)
        };
        take_over().map_err(on_err)
    }

    /// A fresh random owner token (128 bits, hex) for a sending process.
    pub fn new_owner_token(&self) -> Result<String, StoreError> {
        let on_err = self.sql_error("drawing an owner token".to_owned());
        self.conn
            .query_row("SELECT lower(hex(randomblob(16)))", [], |row| row.get(0))
            .map_err(on_err)
    }

    /// Records that the relay took the mail for `address`, while others are still due. Like
    /// [`mark_sent`](Store::mark_sent) one prepared statement run the moment the relay answered,
    /// and not checked against the lease: it is what the relay did.
    pub fn mark_delivered_to(&mut self, id: i64, address: &str) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE outbox SET delivered_to = json_insert(delivered_to, '$[#]', ?2)
                 WHERE id = ?1 AND sent_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM json_each(delivered_to) WHERE value = ?2)",
            )
            .and_then(|mut statement| statement.execute(params![id, address]));
        match changed {
            Ok(1) => Ok(()),
            Ok(_) => self.mail_exists(id),
            Err(source) => Err(self
                .sql_error(format!("recording a delivery of outbox mail {id}"))(
                source
            )),
        }
    }

    /// Gives up on an undelivered mail for good: it is kept, with when and why, and never
    /// retried. Refused for a mail already delivered or cancelled, or an unknown id.
    pub fn cancel_mail(&mut self, id: i64, at: Timestamp, reason: &str) -> Result<(), StoreError> {
        let on_err = self.sql_error(format!("cancelling outbox mail {id}"));
        let path = self.path.clone();
        // When nothing changed: the row's (sent_at, cancelled_at, claimed_until).
        type Unchanged = (Option<String>, Option<String>, Option<String>);
        let mut cancel = || -> rusqlite::Result<Option<Unchanged>> {
            let tx = self.write_tx()?;
            let at = ts_text(at);
            let changed = tx.execute(
                "UPDATE outbox SET cancelled_at = ?2, cancel_reason = ?3
                 WHERE id = ?1 AND sent_at IS NULL AND cancelled_at IS NULL
                   AND (claimed_until IS NULL OR claimed_until <= ?2)",
                params![id, at, reason],
            )?;
            let state = if changed == 1 {
                None
            } else {
                tx.query_row(
                    "SELECT sent_at, cancelled_at, claimed_until FROM outbox WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?
                // No row at all: an unknown id.
                .or(Some((None, None, None)))
            };
            tx.commit()?;
            Ok(state)
        };
        match cancel().map_err(on_err)? {
            None => Ok(()),
            Some((Some(sent_at), _, _)) => Err(StoreError::MailNotPending {
                id,
                why: format!("it was delivered at {sent_at}"),
            }),
            Some((None, Some(cancelled_at), _)) => Err(StoreError::MailNotPending {
                id,
                why: format!("it was already cancelled at {cancelled_at}"),
            }),
            Some((None, None, Some(claimed_until))) => Err(StoreError::MailNotPending {
                id,
                why: format!(
                    "it is being sent right now (held until {claimed_until}); try again once that attempt is over"
                ),
            }),
            Some((None, None, None)) => Err(StoreError::NoSuchMail { id, path }),
        }
    }

    /// Marks a mail delivered. Marking an already delivered mail again keeps the first
    /// delivery time; an unknown id is an error.
    ///
    /// This is the write that closes the duplicate window: the engine calls it the moment the
    /// relay has answered the message's final dot, before QUIT, so everything between that
    /// reply and this write returning is the only time a kill can make the mail go out twice.
    /// Hence one statement in autocommit, prepared when the mail was claimed
    /// ([`claim_mail`](Store::claim_mail)), on the engine's own connection (the daemon's only
    /// writer, so no wait on a lock in a daemon alone): SQLite takes the write lock at the
    /// statement's start exactly as `BEGIN IMMEDIATE` would and commits when it ends, and
    /// with WAL and `synchronous = NORMAL` that commit is a few `write()`s into the WAL, no
    /// fsync. A SIGKILL cannot undo a `write()` that returned (the data is in the kernel's page
    /// cache); only a power loss before the next checkpoint's fsync can, and then the mail is
    /// sent once more with the same Message-ID. It does not check the lease: the relay took
    /// the mail, and that is true whoever holds the row now.
    pub fn mark_sent(&mut self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        let at = ts_text(at);
        let changed = self
            .conn
            .prepare_cached(RECORD_DELIVERY)
            .and_then(|mut statement| statement.execute(params![id, at]));
        match changed {
            Ok(1) => Ok(()),
            // Already delivered (fine), or no such mail.
            Ok(_) => self.mail_exists(id),
            Err(source) => Err(self.sql_error(format!("marking outbox mail {id} sent"))(
                source,
            )),
        }
    }

    /// `Ok` when outbox mail `id` exists, else [`StoreError::NoSuchMail`].
    fn mail_exists(&self, id: i64) -> Result<(), StoreError> {
        let exists = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE id = ?1)",
                [id],
                |r| r.get::<_, bool>(0),
            )
            .map_err(self.sql_error(format!("looking up outbox mail {id}")))?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::NoSuchMail {
                id,
                path: self.path.clone(),
            })
        }
    }

    /// Records a failed delivery attempt by `owner` (`attempts` + 1) and when to try again;
    /// `true` when recorded. Only the holder of the row's lease may: a sender whose lease ran
    /// out and was taken over (by a `once` beside it, or a restarted daemon) must not overwrite
    /// what the new holder is doing or has done, so it gets `false`, as it does for a mail that
    /// was delivered meanwhile (which stays delivered). An unknown id is an error.
    pub fn mark_failed(
        &mut self,
        id: i64,
        owner: &str,
        at: Timestamp,
        error: &str,
        retry_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("marking outbox mail {id} failed"));
        let (at, retry_at) = (ts_text(at), ts_text(retry_at));
        let mut changed = false;
        self.update_unsent(id, |tx| {
            let rows = tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?2,
                                   last_error = ?3, next_attempt_at = ?4, claimed_until = NULL,
                                   claimed_by = NULL
                 WHERE id = ?1 AND sent_at IS NULL AND claimed_by = ?5",
                params![id, at, error, retry_at, owner],
            )?;
            changed = rows == 1;
            Ok(rows)
        })
        .map_err(on_err)??;
        Ok(changed)
    }

    /// Runs `update` (which touches only unsent rows) in a write transaction; if it changed
    /// nothing, tells a delivered mail (fine) from an unknown id (error).
    fn update_unsent(
        &mut self,
        id: i64,
        update: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<Result<(), StoreError>> {
        let path = self.path.clone();
        let tx = self.write_tx()?;
        let changed = update(&tx)?;
        let exists = changed > 0
            || tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE id = ?1)",
                [id],
                |r| r.get::<_, bool>(0),
            )?;
        tx.commit()?;
        Ok(if exists {
            Ok(())
        } else {
            Err(StoreError::NoSuchMail { id, path })
        })
    }

    /// Escalations decided so far, of one client or all.
    pub fn escalation_count(&self, client: Option<&str>) -> Result<u64, StoreError> {
        let on_err = self.sql_error("counting escalations".to_owned());
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM escalations WHERE ?1 IS NULL OR client = ?1",
                [client],
                |row| row.get(0),
            )
            .map_err(on_err)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use dutywatch_checks::verdict::State;

    use super::super::test_util::{temp_store, ts};
    use super::super::verdicts::tests::{due_soon, mail_on_change, verdict};
    use super::*;

    #[test]
    fn pending_sent_and_retry_timing() {
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
        t.store
            .record_verdict(
                "globex",
                "backup_test",
                ts("2026-11-23T09:30:00Z"),
                &verdict(State::NoEvidence, "no backup report"),
                &mut decide,
            )
            .unwrap();
        drop(decide);

        // Not due before it was decided.
        assert!(
            t.store
                .pending_mail(ts("2026-11-23T08:59:59Z"), 10)
                .unwrap()
                .is_empty()
        );
        let pending = t
            .store
            .pending_mail(ts("2026-11-23T10:00:00Z"), 10)
            .unwrap();
        assert_eq!(pending.len(), 2);
        let first = &pending[0];
        assert_eq!(
            (first.client.as_str(), first.duty.as_str()),
            ("acme", "access_review")
        );
        assert_eq!(first.attempts, 0);
        assert_eq!(
            first.mail,
            OutgoingMail {
                to: vec!["it@acme.example".to_owned()],
                cc: vec!["msp@example.net".to_owned()],
                subject: "access_review: due_soon".to_owned(),
                body: "access review due in 8 days".to_owned(),
                ..OutgoingMail::default()
            }
        );
        assert_eq!(pending[1].client, "globex");
        let limited = t.store.pending_mail(ts("2026-11-23T10:00:00Z"), 1).unwrap();
        assert_eq!(limited.len(), 1);
        assert_eq!(limited[0].id, first.id);

        // A failure postpones the mail until retry_at.
        assert!(claim_and_fail(
            &mut t.store,
            first.id,
            "2026-11-23T10:00:00Z",
            "451 try again later",
            "2026-11-23T10:05:00Z",
        ));
        let ids = |store: &Store, now: &str| -> Vec<i64> {
            store
                .pending_mail(ts(now), 10)
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect()
        };
        assert_eq!(ids(&t.store, "2026-11-23T10:04:59Z"), vec![pending[1].id]);
        let retried = t
            .store
            .pending_mail(ts("2026-11-23T10:05:00Z"), 10)
            .unwrap();
        assert_eq!(retried[0].id, first.id, "still oldest first");
        assert_eq!(retried[0].attempts, 1);

        assert!(claim_and_fail(
            &mut t.store,
            first.id,
            "2026-11-23T10:05:00Z",
            "451 again",
            "2026-11-23T10:15:00Z",
        ));
        assert_eq!(
            t.store
                .pending_mail(ts("2026-11-23T10:15:00Z"), 10)
                .unwrap()[0]
                .attempts,
            2
        );

        // Sent mail is never pending again, and a late failure report does not revive it.
        t.store
            .mark_sent(first.id, ts("2026-11-23T10:15:01Z"))
            .unwrap();
        t.store
            .mark_sent(first.id, ts("2026-11-23T10:16:00Z"))
            .unwrap();
        assert!(
            !t.store
                .mark_failed(
                    first.id,
                    "sender",
                    ts("2026-11-23T10:16:00Z"),
                    "late",
                    ts("2026-11-23T10:17:00Z"),
                )
                .unwrap()
        );
        assert_eq!(ids(&t.store, "2026-12-01T00:00:00Z"), vec![pending[1].id]);
        let sent_at: String = t
            .store
            .conn
            .query_row(
                "SELECT sent_at FROM outbox WHERE id = ?1",
                [first.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sent_at, "2026-11-23T10:15:01Z");
    }

    /// Queues acme's access-review due-soon mail, decided 2026-11-23 09:00.
    fn queue_access_review_mail(store: &mut Store) {
        let mut seen = Vec::new();
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

    fn lease<'a>(owner: &'a str, at: &str, until: &str) -> Lease<'a> {
        Lease {
            owner,
            at: ts(at),
            until: ts(until),
        }
    }

    fn claim(store: &mut Store, id: i64, now: &str, lease: Lease<'_>) -> bool {
        store.claim_mail(id, ts(now), &lease).unwrap()
    }

    /// One failed attempt by the sender `sender` at `at`: claimed, then marked failed.
    fn claim_and_fail(store: &mut Store, id: i64, at: &str, error: &str, retry_at: &str) -> bool {
        let until = ts(at)
            .checked_add(jiff::SignedDuration::from_mins(30))
            .unwrap();
        let lease = Lease {
            owner: "sender",
            at: ts(at),
            until,
        };
        assert!(store.claim_mail(id, ts(at), &lease).unwrap(), "claimed");
        store
            .mark_failed(id, "sender", ts(at), error, ts(retry_at))
            .unwrap()
    }

    /// A sender whose lease ran out and was taken over by another must not overwrite the new
    /// holder's outcome: neither while the new holder is sending nor after it delivered.
    #[test]
    fn a_failure_is_recorded_only_by_the_holder_of_the_lease() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        let mut other = Store::open(&t.path).unwrap();
        let start = "2026-11-23T10:00:00Z";
        let id = t.store.pending_mail(ts(start), 10).unwrap()[0].id;
        assert!(claim(
            &mut t.store,
            id,
            start,
            lease("slow", start, "2026-11-23T10:30:00Z")
        ));
        // The slow sender's lease runs out; another takes the mail over.
        let later = "2026-11-23T10:31:00Z";
        assert!(claim(
            &mut other,
            id,
            later,
            lease("new", later, "2026-11-23T11:01:00Z")
        ));
        // The slow sender's relay finally times out: its failure must not clear the new
        // holder's lease, count an attempt or push the mail back.
        assert!(
            !t.store
                .mark_failed(id, "slow", ts(later), "timeout", ts("2026-11-23T12:00:00Z"))
                .unwrap(),
            "not the holder"
        );
        let mail = &other.undelivered_mail(None).unwrap()[0];
        assert_eq!(mail.attempts, 0);
        assert_eq!(mail.last_error, None);
        assert!(
            other.due_mail(ts(later), ts(later), 10).unwrap().is_empty(),
            "still held by the new sender"
        );
        let held_by: Option<String> = other
            .conn
            .query_row("SELECT claimed_by FROM outbox WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(held_by.as_deref(), Some("new"));

        // The new holder's own failure counts; after it, the slow one still cannot write.
        assert!(
            other
                .mark_failed(
                    id,
                    "new",
                    ts(later),
                    "451 later",
                    ts("2026-11-23T10:40:00Z")
                )
                .unwrap()
        );
        assert!(
            !t.store
                .mark_failed(id, "slow", ts(later), "late", ts("2026-11-23T13:00:00Z"))
                .unwrap()
        );
        let mail = &other.undelivered_mail(None).unwrap()[0];
        assert_eq!(mail.attempts, 1);
        assert_eq!(mail.last_error.as_deref(), Some("451 later"));
        assert_eq!(mail.next_attempt_at, ts("2026-11-23T10:40:00Z"));

        // A delivery is a fact whoever holds the row: it is kept, and a late failure of the
        // old holder does not undo it.
        let retry = "2026-11-23T10:40:00Z";
        assert!(claim(
            &mut other,
            id,
            retry,
            lease("new", retry, "2026-11-23T11:10:00Z")
        ));
        t.store.mark_sent(id, ts(retry)).unwrap();
        assert!(
            !other
                .mark_failed(id, "new", ts(retry), "late", ts("2026-11-23T13:00:00Z"))
                .unwrap()
        );
        assert!(other.undelivered_mail(None).unwrap().is_empty());
    }

    #[test]
    fn a_claim_is_taken_once_and_lapses_at_its_lease_end() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        // A second process on the same database: `dutywatch once` beside the daemon.
        let mut other = Store::open(&t.path).unwrap();
        let now = "2026-11-23T10:00:00Z";
        let id = t.store.pending_mail(ts(now), 10).unwrap()[0].id;
        assert_eq!(
            other.pending_mail(ts(now), 10).unwrap()[0].id,
            id,
            "both see it due"
        );

        let held = lease("daemon-token", now, "2026-11-23T10:30:00Z");
        assert!(claim(&mut t.store, id, now, held));
        let rival = lease("once-token", now, "2026-11-23T10:30:00Z");
        assert!(!claim(&mut other, id, now, rival), "claimed once");
        assert!(other.pending_mail(ts(now), 10).unwrap().is_empty());
        assert_eq!(
            t.store.next_mail_attempt().unwrap(),
            Some(ts("2026-11-23T10:30:00Z")),
            "the daemon wakes when the lease runs out, not in a busy loop"
        );

        // The claimant never recorded the outcome (it died, or mark_sent failed): the mail
        // can be claimed again when the lease runs out on the wall clock, not before.
        let early = lease("once-token", "2026-11-23T10:29:59Z", "2026-11-23T11:00:00Z");
        assert!(!claim(&mut other, id, now, early));
        let late = lease("once-token", "2026-11-23T10:30:00Z", "2026-11-23T11:00:00Z");
        assert!(claim(&mut other, id, now, late));
        other.mark_sent(id, ts("2026-11-23T10:30:00Z")).unwrap();
        let much_later = lease(
            "daemon-token",
            "2026-12-01T00:00:00Z",
            "2026-12-01T00:30:00Z",
        );
        assert!(!claim(&mut t.store, id, "2026-12-01T00:00:00Z", much_later));
    }

    /// The race: the daemon claims a mail on the wall clock; `once --at` an earlier
    /// instant beside it must not claim it, although by its own `now` the old hold (then on
    /// the pass's logical time) would have run out long ago.
    #[test]
    fn a_pass_as_of_another_instant_cannot_take_a_live_lease() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        let mut other = Store::open(&t.path).unwrap();
        let wall = "2026-11-23T12:00:00Z";
        let id = t.store.pending_mail(ts(wall), 10).unwrap()[0].id;
        assert!(claim(
            &mut t.store,
            id,
            wall,
            lease("daemon-token", wall, "2026-11-23T12:30:00Z")
        ));
        // `once --at 2026-11-23T10:00:00Z`, on the same wall clock: the mail is due by its
        // instant, but the lease is live by the clock.
        let what_if = "2026-11-23T10:00:00Z";
        assert!(
            other
                .due_mail(ts(what_if), ts("2026-11-23T12:00:05Z"), 10)
                .unwrap()
                .is_empty()
        );
        assert!(!claim(
            &mut other,
            id,
            what_if,
            lease("once-token", "2026-11-23T12:00:05Z", "2026-11-23T12:30:05Z")
        ));
        // Nor can a pass ahead of the clock.
        assert!(!claim(
            &mut other,
            id,
            "2026-11-23T13:00:00Z",
            lease("once-token", "2026-11-23T12:00:05Z", "2026-11-23T12:30:05Z")
        ));
    }

    #[test]
    fn a_restarted_daemon_takes_over_its_predecessors_claims_and_no_one_elses() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        let mut seen = Vec::new();
        t.store
            .record_verdict(
                "acme",
                "backup_test",
                ts("2026-11-23T09:00:00Z"),
                &verdict(State::NoEvidence, "no backup report"),
                &mut mail_on_change(&mut seen),
            )
            .unwrap();
        let now = "2026-11-23T10:00:00Z";
        let ids: Vec<i64> = t
            .store
            .pending_mail(ts(now), 10)
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids.len(), 2);
        let until = "2026-11-23T10:30:00Z";
        assert_eq!(
            t.store
                .take_over_claims("daemon", "first", ts(now))
                .unwrap(),
            0
        );
        // The first daemon claims one mail and is killed; a `once` holds the other.
        assert!(claim(&mut t.store, ids[0], now, lease("first", now, until)));
        assert!(claim(&mut t.store, ids[1], now, lease("once", now, until)));

        let restart = "2026-11-23T10:00:02Z";
        assert_eq!(
            t.store
                .take_over_claims("daemon", "second", ts(restart))
                .unwrap(),
            1,
            "only the dead daemon's claim"
        );
        let due: Vec<i64> = t
            .store
            .due_mail(ts(restart), ts(restart), 10)
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(due, [ids[0]], "due at once, the `once`'s still held");
        assert!(claim(
            &mut t.store,
            ids[0],
            restart,
            lease("second", restart, until)
        ));
        // Registering again with the same token releases nothing of its own.
        assert_eq!(
            t.store
                .take_over_claims("daemon", "second", ts(restart))
                .unwrap(),
            0
        );
        let token: String = t
            .store
            .conn
            .query_row(
                "SELECT token FROM outbox_senders WHERE name = 'daemon'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(token, "second");
    }

    #[test]
    fn a_deferred_mail_keeps_its_attempts_and_spares_a_held_one() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        let now = ts("2026-11-23T10:00:00Z");
        let id = t.store.pending_mail(now, 10).unwrap()[0].id;
        assert!(
            t.store
                .defer_mail(
                    id,
                    now,
                    "not attempted: relay down",
                    ts("2026-11-23T10:01:00Z")
                )
                .unwrap()
        );
        let mail = &t.store.undelivered_mail(None).unwrap()[0];
        assert_eq!(mail.attempts, 0, "an outage is not an attempt");
        assert_eq!(mail.next_attempt_at, ts("2026-11-23T10:01:00Z"));
        assert_eq!(
            mail.last_error.as_deref(),
            Some("not attempted: relay down")
        );

        let later = "2026-11-23T10:01:00Z";
        assert!(claim(
            &mut t.store,
            id,
            later,
            lease("other", later, "2026-11-23T10:31:00Z")
        ));
        assert!(
            !t.store
                .defer_mail(id, ts(later), "not attempted", ts("2026-11-23T10:02:00Z"))
                .unwrap(),
            "another sender holds it"
        );
        assert_eq!(
            t.store.undelivered_mail(None).unwrap()[0].next_attempt_at,
            ts(later)
        );
    }

    #[test]
    fn deliveries_to_single_recipients_are_kept_once_each() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        let now = ts("2026-11-23T10:00:00Z");
        let mail = t.store.pending_mail(now, 10).unwrap().remove(0);
        assert_eq!(mail.remaining(), ["it@acme.example", "msp@example.net"]);

        t.store
            .mark_delivered_to(mail.id, "msp@example.net")
            .unwrap();
        t.store
            .mark_delivered_to(mail.id, "msp@example.net")
            .unwrap();
        let mail = t.store.pending_mail(now, 10).unwrap().remove(0);
        assert_eq!(mail.delivered_to, ["msp@example.net"], "recorded once");
        assert_eq!(mail.remaining(), ["it@acme.example"]);
        assert!(matches!(
            t.store.mark_delivered_to(999, "x@example.net"),
            Err(StoreError::NoSuchMail { id: 999, .. })
        ));
    }

    #[test]
    fn a_cancelled_mail_is_kept_but_never_due_and_a_delivered_one_cannot_be_cancelled() {
        let mut t = temp_store();
        queue_access_review_mail(&mut t.store);
        let now = ts("2026-11-23T10:00:00Z");
        let id = t.store.pending_mail(now, 10).unwrap()[0].id;
        // While a sender holds it, the relay may be taking it: no cancelling then.
        assert!(claim(
            &mut t.store,
            id,
            "2026-11-23T10:00:00Z",
            lease("daemon", "2026-11-23T10:00:00Z", "2026-11-23T10:30:00Z")
        ));
        let error = t.store.cancel_mail(id, now, "mailbox gone").unwrap_err();
        assert!(
            error.to_string().contains("being sent right now"),
            "{error}"
        );
        assert!(
            t.store
                .mark_failed(
                    id,
                    "daemon",
                    now,
                    "550 no such mailbox",
                    ts("2026-11-23T10:01:00Z")
                )
                .unwrap()
        );
        t.store.cancel_mail(id, now, "mailbox gone").unwrap();
        assert!(
            t.store
                .pending_mail(ts("2100-01-01T00:00:00Z"), 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            t.store.next_mail_attempt().unwrap(),
            None,
            "nothing to wake for"
        );
        assert!(t.store.undelivered_mail(None).unwrap().is_empty());
        assert!(!claim(
            &mut t.store,
            id,
            "2100-01-01T00:00:00Z",
            lease("daemon", "2100-01-01T00:00:00Z", "2100-01-01T00:30:00Z")
        ));

        let mut seen = Vec::new();
        t.store
            .record_verdict(
                "acme",
                "backup_test",
                now,
                &verdict(State::NoEvidence, "no backup report"),
                &mut mail_on_change(&mut seen),
            )
            .unwrap();
        let other = t.store.pending_mail(now, 10).unwrap()[0].id;
        t.store.mark_sent(other, now).unwrap();
        let error = t.store.cancel_mail(other, now, "late").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("it was delivered at 2026-11-23T10:00:00Z"),
            "{error}"
        );
    }

    #[test]
    fn unknown_mail_id_is_an_error() {
        let mut t = temp_store();
        let err = t
            .store
            .mark_sent(42, ts("2026-11-23T10:00:00Z"))
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NoSuchMail { id: 42, .. }),
            "{err}"
        );
        let err = t
            .store
            .mark_failed(
                42,
                "daemon",
                ts("2026-11-23T10:00:00Z"),
                "x",
                ts("2026-11-23T10:00:00Z"),
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NoSuchMail { id: 42, .. }),
            "{err}"
        );
    }

    #[test]
    fn escalation_count_per_client() {
        let mut t = temp_store();
        let mut seen = Vec::new();
        let mut decide = mail_on_change(&mut seen);
        let at = ts("2026-11-23T09:00:00Z");
        t.store
            .record_verdict("acme", "a", at, &due_soon(), &mut decide)
            .unwrap();
        t.store
            .record_verdict("acme", "b", at, &due_soon(), &mut decide)
            .unwrap();
        t.store
            .record_verdict("globex", "a", at, &due_soon(), &mut decide)
            .unwrap();
        drop(decide);
        assert_eq!(t.store.escalation_count(None).unwrap(), 3);
        assert_eq!(t.store.escalation_count(Some("acme")).unwrap(), 2);
        assert_eq!(t.store.escalation_count(Some("initech")).unwrap(), 0);
    }
}
