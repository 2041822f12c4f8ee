//! Mail decided by a key instead of a verdict change: an incident's warnings, a repeat on an
//! escalation ladder, a weekly digest.
//!
//! The key names the decision ("incident INC-7, 48 hours after discovery"), and the
//! escalation's UNIQUE `mail_key` makes it happen once: a second pass, a restart or a second
//! daemon deciding the same thing queues nothing. The mail then goes through the one outbox,
//! with its leases, retries and `Message-ID`, like every other.

use jiff::Timestamp;
use rusqlite::{Transaction, params};

use super::{OutgoingMail, Store, StoreError, ts_text, whole_seconds};

/// One mail decided under a key.
#[derive(Clone, Copy, Debug)]
pub struct KeyedMail<'a> {
    /// What decides it, unique over the database's life: `incident:acme:INC-7:report-48h`.
    pub key: &'a str,
    pub client: &'a str,
    /// The duty (or digest, or incident) it is about, as `status` and the outbox show it.
    pub duty: &'a str,
    /// The state it tells of (`due_soon`, `lapsed`, …), which sets its retry ceiling.
    pub state: &'a str,
    pub mail: &'a OutgoingMail,
}

impl<'a> KeyedMail<'a> {
    fn about(&self) -> About<'a> {
        About {
            client: self.client,
            duty: self.duty,
            state: self.state,
        }
    }
}

/// What decided a mail: a verdict change (its `verdict_history` row) or a key.
#[derive(Clone, Copy, Debug)]
pub(super) enum Decision<'a> {
    Change(i64),
    Key(&'a str),
}

/// Whose mail it is and what it tells of, as the escalation row keeps them.
#[derive(Clone, Copy, Debug)]
pub(super) struct About<'a> {
    pub(super) client: &'a str,
    pub(super) duty: &'a str,
    pub(super) state: &'a str,
}

impl Store {
    /// Queues `mail` unless its key was decided before. `true` when it was queued now.
    pub fn queue_keyed(&mut self, mail: KeyedMail<'_>, at: Timestamp) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("queueing the mail `{}`", mail.key));
        let mut write = || -> rusqlite::Result<bool> {
            let tx = self.write_tx()?;
            let queued = queue_in(&tx, Decision::Key(mail.key), mail.about(), mail.mail, at)?;
            tx.commit()?;
            Ok(queued)
        };
        write().map_err(on_err)
    }

    /// Whether a mail under `key` was ever decided (queued, sent or cancelled).
    pub fn keyed_mail_exists(&self, key: &str) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("looking up the mail `{key}`"));
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM escalations WHERE mail_key = ?1)",
                params![key],
                |row| row.get(0),
            )
            .map_err(on_err)
    }
}

/// Inserts an escalation and its outbox row inside `tx`. A key decided before writes nothing
/// and answers `false`. The store's modules that decide mail in their own transactions
/// (verdicts, incidents) call this, so there is one way a mail enters the outbox.
pub(super) fn queue_in(
    tx: &Transaction<'_>,
    decision: Decision<'_>,
    about: About<'_>,
    mail: &OutgoingMail,
    at: Timestamp,
) -> rusqlite::Result<bool> {
    Ok(queue_in_as(tx, decision, about, mail, at)?.is_some())
}

/// [`queue_in`], answering the new escalation's id (`None`: decided before), for a decision
/// that records which mail it went out in (a ladder step).
pub(super) fn queue_in_as(
    tx: &Transaction<'_>,
    decision: Decision<'_>,
    about: About<'_>,
    mail: &OutgoingMail,
    at: Timestamp,
) -> rusqlite::Result<Option<i64>> {
    let at_text = ts_text(whole_seconds(at));
    let (history_id, key) = match decision {
        Decision::Change(history_id) => (Some(history_id), None),
        Decision::Key(key) => (None, Some(key)),
    };
    let inserted = tx
        .prepare_cached(
            "INSERT INTO escalations (history_id, mail_key, client, duty, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (mail_key) DO NOTHING",
        )?
        .execute(params![
            history_id,
            key,
            about.client,
            about.duty,
            about.state,
            at_text
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let escalation_id = tx.last_insert_rowid();
    let json = |addresses: &[String]| {
        serde_json::to_string(addresses)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    };
    tx.prepare_cached(
        "INSERT INTO outbox (escalation_id, mail_to, mail_cc, subject, body, created_at,
                             attempts, next_attempt_at, message_token,
                             html_body, message_id, in_reply_to, mail_references)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?6, lower(hex(randomblob(8))), ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        escalation_id,
        json(&mail.to)?,
        json(&mail.cc)?,
        mail.subject,
        mail.body,
        at_text,
        mail.html,
        mail.thread.message_id,
        mail.thread.in_reply_to,
        json(&mail.thread.references)?,
    ])?;
    Ok(Some(escalation_id))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{temp_store, ts};
    use super::*;

    fn warning(subject: &str) -> OutgoingMail {
        OutgoingMail {
            to: vec!["it@acme.example".to_owned()],
            cc: Vec::new(),
            subject: subject.to_owned(),
            body: "24 hours left".to_owned(),
            ..OutgoingMail::default()
        }
    }

    #[test]
    fn a_key_queues_its_mail_once_however_often_it_is_decided() {
        let mut t = temp_store();
        let mail = warning("INC-7: 48 hours left to report");
        let keyed = KeyedMail {
            key: "incident:acme:INC-7:report-24h",
            client: "acme",
            duty: "incident-report",
            state: "due_soon",
            mail: &mail,
        };
        assert!(!t.store.keyed_mail_exists(keyed.key).unwrap());
        assert!(
            t.store
                .queue_keyed(keyed, ts("2026-11-23T09:00:00Z"))
                .unwrap()
        );
        assert!(
            !t.store
                .queue_keyed(keyed, ts("2026-11-23T09:05:00Z"))
                .unwrap()
        );
        assert!(t.store.keyed_mail_exists(keyed.key).unwrap());

        let other = KeyedMail {
            key: "incident:acme:INC-7:report-48h",
            ..keyed
        };
        assert!(
            t.store
                .queue_keyed(other, ts("2026-11-24T09:00:00Z"))
                .unwrap()
        );

        let pending = t
            .store
            .pending_mail(ts("2026-11-25T00:00:00Z"), 10)
            .unwrap();
        let subjects: Vec<&str> = pending.iter().map(|p| p.mail.subject.as_str()).collect();
        assert_eq!(subjects, ["INC-7: 48 hours left to report"; 2]);
        assert_eq!(pending[0].client, "acme");
        assert_eq!(pending[0].duty, "incident-report");
    }

    #[test]
    fn foreign_keys_hold_after_the_escalations_table_is_rebuilt() {
        let t = temp_store();
        let orphan = t.store.conn.execute(
            "INSERT INTO outbox (escalation_id, mail_to, mail_cc, subject, body, created_at,
                                 attempts, next_attempt_at, message_token)
             VALUES (999, '[]', '[]', 's', 'b', '2026-11-23T09:00:00Z', 0,
                     '2026-11-23T09:00:00Z', 'ab')",
            [],
        );
        assert!(orphan.is_err(), "an outbox row must name a real escalation");
        let neither = t.store.conn.execute(
            "INSERT INTO escalations (client, duty, state, created_at)
             VALUES ('acme', 'd', 'lapsed', '2026-11-23T09:00:00Z')",
            [],
        );
        assert!(neither.is_err(), "an escalation is a change or a key");
    }
}
