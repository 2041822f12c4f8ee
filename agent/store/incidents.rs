//! Incidents, the ids they are known by, and their append-only timeline.
//!
//! One write transaction applies what an input says (a merged observation, a step someone
//! recorded), reads the incidents back as they now are, asks the caller which warnings are
//! due, and queues those through the keyed outbox: a step and the warnings it causes or
//! settles are one transaction, so a crash neither loses nor repeats one.

use dutywatch_checks::incident::{Entry, Incident, Observation, Step, StepError, Terms};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::keyed::{About, Decision, queue_in};
use super::{OutgoingMail, Store, StoreError, bad_column, ts_text};

/// An incident as stored: the pure core's view plus where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIncident {
    pub incident: Incident,
    /// Every id the inputs know it by, its own first.
    pub aliases: Vec<String>,
    pub opened_at: Timestamp,
    pub opened_by: String,
}

/// One thing to apply to a client's incidents.
#[derive(Clone, Debug)]
pub enum IncidentChange<'a> {
    /// What an input (`by`: `defender_incidents`, `ticket feed`) says; a new incident is
    /// created only when `reportable`, a known one is updated either way.
    Observe {
        by: &'a str,
        seen: &'a Observation,
        reportable: bool,
    },
    /// `incident open`: a new incident detected at `entry.at`.
    Open {
        id: &'a str,
        title: Option<&'a str>,
        entry: Entry,
    },
    /// A step someone recorded; checked against the timeline's order.
    Step { id: &'a str, entry: Entry },
}

/// A warning to queue under its key, once over the database's life.
#[derive(Clone, Debug)]
pub struct IncidentMail {
    pub key: String,
    /// The incident's id, as the outbox and `status` name it.
    pub duty: String,
    pub state: &'static str,
    pub mail: OutgoingMail,
}

/// Why a change was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum IncidentRefusal {
    #[error("no incident `{0}`: `dutywatch incident list` shows the open ones")]
    Unknown(String),
    #[error("incident `{0}` already exists; record its steps instead")]
    Exists(String),
    #[error("incident `{id}`: {error}")]
    Step { id: String, error: StepError },
}

/// What an update did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentUpdate {
    /// Incidents created.
    pub opened: Vec<String>,
    /// Steps appended to timelines.
    pub steps: usize,
    /// Warnings queued now (keys decided before are not counted).
    pub queued: Vec<String>,
    /// Incidents not closed, after the update.
    pub open: usize,
}

impl Store {
    /// Applies `changes` to `client`'s incidents, then queues the warnings `decide` finds due
    /// on every open incident as it now stands, all in one transaction. A refused change
    /// writes nothing. An incident the changes open is held to `terms` from then on.
    pub fn update_incidents(
        &mut self,
        client: &str,
        terms: &Terms,
        changes: &[IncidentChange<'_>],
        at: Timestamp,
        decide: &mut dyn FnMut(&Incident) -> Vec<IncidentMail>,
    ) -> Result<Result<IncidentUpdate, IncidentRefusal>, StoreError> {
        let on_err = self.sql_error(format!("updating the incidents of {client}"));
        let mut write = || -> rusqlite::Result<Result<IncidentUpdate, IncidentRefusal>> {
            let tx = self.write_tx()?;
            let mut update = IncidentUpdate::default();
            for change in changes {
                if let Err(refusal) = apply(&tx, client, terms, change, at, &mut update)? {
                    // Dropping `tx` rolls back what earlier changes wrote.
                    return Ok(Err(refusal));
                }
            }
            // Only a step recorded now can answer a warning decided before: an update that
            // records none (most ticks) has nothing to cancel.
            let answers = update.steps > 0;
            for stored in load(&tx, client, None)? {
                if answers {
                    cancel_answered(&tx, client, &stored.incident, at)?;
                }
                if stored.incident.is_closed() {
                    continue;
                }
                update.open += 1;
                for mail in decide(&stored.incident) {
                    let about = About {
                        client,
                        duty: &mail.duty,
                        state: mail.state,
                    };
                    if queue_in(&tx, Decision::Key(&mail.key), about, &mail.mail, at)? {
                        update.queued.push(mail.key);
                    }
                }
            }
            tx.commit()?;
            Ok(Ok(update))
        };
        write().map_err(on_err)
    }

    /// `client`'s incidents, open and closed, oldest first.
    pub fn incidents(&self, client: &str) -> Result<Vec<StoredIncident>, StoreError> {
        let on_err = self.sql_error(format!("reading the incidents of {client}"));
        load(&self.conn, client, None).map_err(on_err)
    }

    /// One incident, by its id or any id an input knows it by.
    pub fn incident(&self, client: &str, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let on_err = self.sql_error(format!("reading incident `{id}` of {client}"));
        let read = || -> rusqlite::Result<Option<StoredIncident>> {
            let Some(own) = resolve(&self.conn, client, id)? else {
                return Ok(None);
            };
            Ok(load(&self.conn, client, Some(&own))?.pop())
        };
        read().map_err(on_err)
    }
}

/// The incident an id or alias names.
fn resolve(
    conn: &rusqlite::Connection,
    client: &str,
    id: &str,
) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT id FROM incidents WHERE client = ?1 AND id = ?2
         UNION ALL
         SELECT incident_id FROM incident_aliases WHERE client = ?1 AND alias = ?2
         LIMIT 1",
        params![client, id],
        |row| row.get(0),
    )
    .optional()
}

fn apply(
    tx: &Transaction<'_>,
    client: &str,
    terms: &Terms,
    change: &IncidentChange<'_>,
    now: Timestamp,
    update: &mut IncidentUpdate,
) -> rusqlite::Result<Result<(), IncidentRefusal>> {
    match change {
        IncidentChange::Observe {
            by,
            seen,
            reportable,
        } => {
            let mut known = None;
            for alias in &seen.aliases {
                if let Some(id) = resolve(tx, client, alias)? {
                    known = Some(id);
                    break;
                }
            }
            let id = match known {
                Some(id) => {
                    tx.execute(
                        "UPDATE incidents SET title = coalesce(?3, title),
                                severity = coalesce(?4, severity),
                                classification = coalesce(?5, classification),
                                reportable = max(reportable, ?6)
                         WHERE client = ?1 AND id = ?2",
                        params![
                            client,
                            id,
                            seen.title,
                            seen.severity,
                            seen.classification,
                            i64::from(*reportable)
                        ],
                    )?;
                    id
                }
                None if *reportable => {
                    insert_incident(tx, client, &seen.id, seen, terms, now, by)?;
                    update.opened.push(seen.id.clone());
                    seen.id.clone()
                }
                None => return Ok(Ok(())),
            };
            for alias in &seen.aliases {
                tx.execute(
                    "INSERT INTO incident_aliases (client, alias, incident_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![client, alias, id],
                )?;
            }
            let current = load(tx, client, Some(&id))?.pop();
            let Some(current) = current.map(|s| s.incident) else {
                return Ok(Ok(()));
            };
            if current.is_closed() {
                return Ok(Ok(()));
            }
            for (step, at, who) in &seen.steps {
                // What a source states is recorded once: each source's detection, every other
                // step the first time any input states it. A detection the source now dates
                // earlier (a register corrected after its date was ahead of the clock, and so
                // taken as of when first seen) is recorded too: the earliest one counts.
                let already = current.entries.iter().any(|e| {
                    e.step == *step
                        && (*step != Step::Detected || (e.by.as_str() == *by && e.at <= *at))
                });
                if already {
                    continue;
                }
                // A detection the input dates ahead of the clock is taken as made when first
                // seen; the timeline says what the input said.
                let note = match seen.ahead.iter().find(|(s, _)| s == step) {
                    Some((_, stated)) => format!(
                        "stated by {by} as {}, which is ahead of the clock: taken as of when first seen",
                        ts_text(*stated)
                    ),
                    None => format!("stated by {by}"),
                };
                let entry = Entry {
                    step: *step,
                    at: *at,
                    by: who.clone().unwrap_or_else(|| (*by).to_owned()),
                    note: Some(note),
                    report_number: (*step == Step::Reported)
                        .then(|| seen.report_number.clone())
                        .flatten(),
                };
                insert_step(tx, client, &id, &entry, now)?;
                update.steps += 1;
            }
            Ok(Ok(()))
        }
        IncidentChange::Open { id, title, entry } => {
            if resolve(tx, client, id)?.is_some() {
                return Ok(Err(IncidentRefusal::Exists((*id).to_owned())));
            }
            let seen = Observation {
                id: (*id).to_owned(),
                aliases: vec![(*id).to_owned()],
                title: title.map(str::to_owned),
                severity: None,
                classification: None,
                tags: Vec::new(),
                record_type: None,
                steps: Vec::new(),
                ahead: Vec::new(),
                report_number: None,
            };
            insert_incident(tx, client, id, &seen, terms, now, &entry.by)?;
            tx.execute(
                "INSERT INTO incident_aliases (client, alias, incident_id) VALUES (?1, ?2, ?2)",
                params![client, id],
            )?;
            insert_step(tx, client, id, entry, now)?;
            update.opened.push((*id).to_owned());
            update.steps += 1;
            Ok(Ok(()))
        }
        IncidentChange::Step { id, entry } => {
            let Some(own) = resolve(tx, client, id)? else {
                return Ok(Err(IncidentRefusal::Unknown((*id).to_owned())));
            };
            let Some(current) = load(tx, client, Some(&own))?.pop() else {
                return Ok(Err(IncidentRefusal::Unknown((*id).to_owned())));
            };
            if let Err(error) = current.incident.check_step(entry.step, entry.at) {
                return Ok(Err(IncidentRefusal::Step { id: own, error }));
            }
            insert_step(tx, client, &own, entry, now)?;
            update.steps += 1;
            Ok(Ok(()))
        }
    }
}

fn insert_incident(
    tx: &Transaction<'_>,
    client: &str,
    id: &str,
    seen: &Observation,
    terms: &Terms,
    now: Timestamp,
    by: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO incidents (client, id, title, severity, classification, reportable,
                                opened_at, opened_by, handoff_within_secs, ack_within_secs,
                                subcontractor, prime_within_secs)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            client,
            id,
            seen.title,
            seen.severity,
            seen.classification,
            ts_text(now),
            by,
            terms.handoff_within.as_secs(),
            terms.ack_within.as_secs(),
            i64::from(terms.subcontractor),
            terms.prime_within.as_secs(),
        ],
    )?;
    Ok(())
}

fn insert_step(
    tx: &Transaction<'_>,
    client: &str,
    id: &str,
    entry: &Entry,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let at = ts_text(entry.at);
    let recorded_at = ts_text(now);
    let step = chain::StepFields {
        client,
        incident_id: id,
        step: entry.step.as_str(),
        at: &at,
        by_whom: &entry.by,
        note: entry.note.as_deref(),
        report_number: entry.report_number.as_deref(),
        recorded_at: &recorded_at,
    };
    let prev = chain::newest(tx)?;
    let link = chain::link(&prev, &step);
    tx.execute(
        "INSERT INTO incident_steps (client, incident_id, step, at, by_whom, note, report_number,
                                     recorded_at, prev_chain, chain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            client,
            id,
            step.step,
            at,
            entry.by,
            entry.note,
            entry.report_number,
            recorded_at,
            prev,
            link
        ],
    )?;
    Ok(())
}

/// The terms in columns `first..first + 4`: `None` for an incident opened before they were
/// recorded (all four NULL).
fn terms_columns(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<Terms>> {
    let secs = |i: usize| -> rusqlite::Result<Option<jiff::SignedDuration>> {
        Ok(row
            .get::<_, Option<i64>>(first + i)?
            .map(jiff::SignedDuration::from_secs))
    };
    let (handoff, ack, prime) = (secs(0)?, secs(1)?, secs(3)?);
    let subcontractor: Option<i64> = row.get(first + 2)?;
    Ok(match (handoff, ack, subcontractor, prime) {
        (Some(handoff_within), Some(ack_within), Some(subcontractor), Some(prime_within)) => {
            Some(Terms {
                handoff_within,
                ack_within,
                subcontractor: subcontractor != 0,
                prime_within,
            })
        }
        _ => None,
    })
}

/// Reads incidents (one when `only` names it) with their aliases and timelines.
fn load(
    conn: &rusqlite::Connection,
    client: &str,
    only: Option<&str>,
) -> rusqlite::Result<Vec<StoredIncident>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, title, severity, classification, reportable, opened_at, opened_by,
                handoff_within_secs, ack_within_secs, subcontractor, prime_within_secs
         FROM incidents WHERE client = ?1 AND (?2 IS NULL OR id = ?2)
         ORDER BY opened_at, id",
    )?;
    let heads = stmt
        .query_map(params![client, only], |row| {
            Ok(StoredIncident {
                incident: Incident {
                    id: row.get(0)?,
                    title: row.get(1)?,
                    severity: row.get(2)?,
                    classification: row.get(3)?,
                    reportable: row.get::<_, i64>(4)? != 0,
                    terms: terms_columns(row, 7)?,
                    entries: Vec::new(),
                },
                aliases: Vec::new(),
                opened_at: ts_column(row, 5)?,
                opened_by: row.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut aliases = conn.prepare_cached(
        "SELECT alias FROM incident_aliases WHERE client = ?1 AND incident_id = ?2
         ORDER BY alias = incident_id DESC, rowid",
    )?;
    let mut steps = conn.prepare_cached(
        "SELECT step, at, by_whom, note, report_number FROM incident_steps
         WHERE client = ?1 AND incident_id = ?2 ORDER BY at, id",
    )?;
    let mut out = Vec::with_capacity(heads.len());
    for mut stored in heads {
        let id = stored.incident.id.clone();
        stored.aliases = aliases
            .query_map(params![client, id], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        stored.incident.entries = steps
            .query_map(params![client, id], |row| {
                let text = row.get_ref(0)?.as_str()?;
                let step =
                    Step::parse(text).ok_or_else(|| bad_column(0, UnknownStep(text.to_owned())))?;
                Ok(Entry {
                    step,
                    at: ts_column(row, 1)?,
                    by: row.get(2)?,
                    note: row.get(3)?,
                    report_number: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        out.push(stored);
    }
    Ok(out)
}

fn ts_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let text = row.get_ref(idx)?.as_str()?;
    text.parse::<Timestamp>().map_err(|e| bad_column(idx, e))
}

/// A step name this binary does not know (written by a newer version?).
#[derive(Debug, thiserror::Error)]
#[error("unknown incident step `{0}`")]
struct UnknownStep(String);

mod chain;
pub use chain::TimelineReport;

#[cfg(test)]
mod tests;

/// Cancels the warnings of `incident` still waiting in the outbox that its recorded steps
/// answer (the report filed after the 72-hour warning was decided, a hand-off recorded late,
/// any once it is closed): no longer true, so never delivered. One only superseded by a
/// later rung still goes out.
fn cancel_answered(
    tx: &Transaction<'_>,
    client: &str,
    incident: &Incident,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let answered: Vec<String> = dutywatch_checks::incident::answered_warnings(incident)
        .map(|step| dutywatch_checks::incident::warning_key(client, &incident.id, step))
        .collect();
    if answered.is_empty() {
        return Ok(());
    }
    let answered = serde_json::to_string(&answered)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.prepare_cached(
        "UPDATE outbox SET cancelled_at = ?3,
                cancel_reason = 'no longer true: a step recorded since answers it'
          WHERE sent_at IS NULL AND cancelled_at IS NULL
            AND (claimed_until IS NULL OR claimed_until <= ?3)
            AND escalation_id IN (
                SELECT id FROM escalations
                 WHERE client = ?1 AND mail_key IN (SELECT value FROM json_each(?2)))",
    )?
    .execute(params![client, answered, ts_text(at)])?;
    Ok(())
}
