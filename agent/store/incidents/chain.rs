//! The incident timeline's own hash chain. Steps are append-only (triggers refuse an update
//! or a delete), but whoever can write the database can drop a trigger, or insert a step:
//! a report dated in time that never happened. So each step records the chain of the step
//! recorded before it and its own, the SHA-256 of that and its fields
//! (`evidence::chain_hash`), and `evidence verify` walks it as it walks the evidence chain.
//! Like that chain, it shows an edit, an insertion or a removal before the newest step; the
//! newest step's removal shows only against a head recorded outside the database.
//!
//! Steps recorded before the chain (migration 0019) have none; they come first and are
//! counted as unchained. They are folded into where the chain starts all the same: the first
//! chained step links to the fold of every step before it, so one slipped in among them (an
//! id below the first chained step's) breaks that link. A step without a chain after a
//! chained one was not written here.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::evidence::{GENESIS, chain_hash};
use super::super::{Store, StoreError};

/// A step's fields, as stored, that its chain covers.
pub(super) struct StepFields<'a> {
    pub(super) client: &'a str,
    pub(super) incident_id: &'a str,
    pub(super) step: &'a str,
    pub(super) at: &'a str,
    pub(super) by_whom: &'a str,
    pub(super) note: Option<&'a str>,
    pub(super) report_number: Option<&'a str>,
    pub(super) recorded_at: &'a str,
}

/// The chain of a step recorded after `prev` with `fields`.
pub(super) fn link(prev: &str, fields: &StepFields<'_>) -> String {
    // An absent note is not an empty one: `=` marks a value.
    let optional = |value: Option<&str>| value.map(|v| format!("={v}")).unwrap_or_default();
    let note = optional(fields.note);
    let report_number = optional(fields.report_number);
    chain_hash(&[
        prev,
        fields.client,
        fields.incident_id,
        fields.step,
        fields.at,
        fields.by_whom,
        &note,
        &report_number,
        fields.recorded_at,
    ])
}

/// The chain of the newest chained step, which the next one links to; before the first, the
/// fold of the steps recorded before the chain (once per database).
pub(super) fn newest(conn: &Connection) -> rusqlite::Result<String> {
    let newest = conn
        .query_row(
            "SELECT chain FROM incident_steps WHERE chain IS NOT NULL ORDER BY id DESC LIMIT 1",
            [],
            |row| row.get::<_, String>(0),
        )
        .optional()?;
    match newest {
        Some(chain) => Ok(chain),
        None => {
            let mut statement = conn.prepare(&format!(
                "SELECT {STEP_COLUMNS} FROM incident_steps ORDER BY id"
            ))?;
            let mut rows = statement.query(params![])?;
            let mut fold = GENESIS.to_owned();
            while let Some(row) = rows.next()? {
                fold = link(&fold, &fields(row)?);
            }
            Ok(fold)
        }
    }
}

/// The columns [`fields`] reads, in its order.
const STEP_COLUMNS: &str =
    "client, incident_id, step, at, by_whom, note, report_number, recorded_at";

/// A row's fields, its first columns being [`STEP_COLUMNS`].
fn fields<'r>(row: &'r rusqlite::Row<'_>) -> rusqlite::Result<StepFields<'r>> {
    Ok(StepFields {
        client: row.get_ref(0)?.as_str()?,
        incident_id: row.get_ref(1)?.as_str()?,
        step: row.get_ref(2)?.as_str()?,
        at: row.get_ref(3)?.as_str()?,
        by_whom: row.get_ref(4)?.as_str()?,
        note: row.get_ref(5)?.as_str_or_null()?,
        report_number: row.get_ref(6)?.as_str_or_null()?,
        recorded_at: row.get_ref(7)?.as_str()?,
    })
}

/// What a walk of the incident timeline found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimelineReport {
    /// Chained steps that check out.
    pub steps: u64,
    /// Steps recorded before the chain, at its start.
    pub unchained: u64,
    /// The first step that does not check out: its id and what is wrong.
    pub broken: Option<(i64, String)>,
    /// The newest step's chain, to be kept outside the database.
    pub head: Option<String>,
}

impl Store {
    /// Walks every incident step in the order recorded; see the module's comment.
    pub fn verify_incident_chain(&self) -> Result<TimelineReport, StoreError> {
        let on_err = self.sql_error("verifying the incident timeline".to_owned());
        let walk = || -> rusqlite::Result<TimelineReport> {
            let mut report = TimelineReport::default();
            let mut expected = GENESIS.to_owned();
            let mut statement = self.conn.prepare(&format!(
                "SELECT {STEP_COLUMNS}, id, prev_chain, chain FROM incident_steps ORDER BY id"
            ))?;
            let mut rows = statement.query(params![])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(8)?;
                let chain: Option<String> = row.get(10)?;
                let Some(chain) = chain else {
                    if report.head.is_some() {
                        report.broken = Some((
                            id,
                            "a step without a chain after chained ones: it was not recorded by dutywatch".to_owned(),
                        ));
                        break;
                    }
                    // Before the chain: folded into where it starts (see the module).
                    expected = link(&expected, &fields(row)?);
                    report.unchained += 1;
                    continue;
                };
                let prev: Option<String> = row.get(9)?;
                if prev.as_deref() != Some(expected.as_str()) {
                    report.broken = Some((
                        id,
                        "does not follow the step recorded before it: a step was removed or inserted".to_owned(),
                    ));
                    break;
                }
                if link(&expected, &fields(row)?) != chain {
                    report.broken = Some((
                        id,
                        "its fields do not match its chain: the step was edited".to_owned(),
                    ));
                    break;
                }
                report.steps += 1;
                report.head = Some(chain.clone());
                expected = chain;
            }
            Ok(report)
        };
        walk().map_err(on_err)
    }
}
