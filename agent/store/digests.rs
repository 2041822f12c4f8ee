//! The weekly digests made: one row per contractor, party and scheduled week, with the
//! week's state counts and SPRS figures (the digest's 12-week charts read them back) and the
//! mail as rendered.

use dutywatch_checks::party::Party;
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::keyed::{self, About, Decision};
use super::{OutgoingMail, Store, StoreError, bad_column, ts_text};

/// What the outbox and `status` call a digest mail.
pub const DIGEST_DUTY: &str = "digest";
use crate::digest::Counts;

/// How near to another week's instant a digest of the same party is not made: less than a
/// week, so the next week's is, and more than any move of the schedule or the zone within one
/// week, so a new `timezone` (the schedule then fires at another instant of the same week) or a
/// new day makes no second digest.
const WEEK_GAP: jiff::SignedDuration = jiff::SignedDuration::from_hours(6 * 24);

/// The instants within [`WEEK_GAP`] of `week`, both sides open, as stored text.
fn near(week: Timestamp) -> (String, String) {
    let from = week.saturating_sub(WEEK_GAP).unwrap_or(Timestamp::MIN);
    let to = week.saturating_add(WEEK_GAP).unwrap_or(Timestamp::MAX);
    (ts_text(from), ts_text(to))
}

/// A week's digest to record.
#[derive(Debug, Clone, Copy)]
pub struct NewWeek<'a> {
    pub client: &'a str,
    pub party: Party,
    /// The instant the digest schedule fired for this week.
    pub week: Timestamp,
    pub made_at: Timestamp,
    pub counts: Counts,
    pub sprs_proven: Option<i32>,
    pub sprs_lapses: Option<i32>,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// The page the mail carries as its HTML alternative.
    pub html: Option<&'a str>,
}

/// A recorded week, as the charts read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekRecord {
    pub week: Timestamp,
    pub made_at: Timestamp,
    pub counts: Counts,
    pub sprs_proven: Option<i32>,
    pub sprs_lapses: Option<i32>,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl Store {
    /// Records a week's digest; `false` (and nothing written) when that contractor's party
    /// already has one for `week`.
    pub fn record_digest_week(&mut self, week: &NewWeek<'_>) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!(
            "recording the {} digest of {} for {}",
            week.party, week.client, week.week
        ));
        let write = |store: &mut Store| -> rusqlite::Result<bool> {
            let (near_from, near_to) = near(week.week);
            let counts = serde_json::to_string(&week.counts)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let to = serde_json::to_string(week.to)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let tx = store.write_tx()?;
            let inserted = tx.execute(
                "INSERT INTO digest_weeks (client, party, week, made_at, counts, sprs_proven,
                                           sprs_lapses, mail_to, subject, body)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                 WHERE NOT EXISTS (SELECT 1 FROM digest_weeks
                                   WHERE client = ?1 AND party = ?2
                                     AND week > ?11 AND week < ?12)
                 ON CONFLICT (client, party, week) DO NOTHING",
                params![
                    week.client,
                    week.party.as_str(),
                    ts_text(week.week),
                    ts_text(week.made_at),
                    counts,
                    week.sprs_proven,
                    week.sprs_lapses,
                    to,
                    week.subject,
                    week.body,
                    near_from,
                    near_to
                ],
            )?;
            // The mail is decided with the week's record: the same transaction, under a key
            // naming the week, so a restart neither loses nor repeats it.
            if inserted == 1 && !week.to.is_empty() {
                let key = format!(
                    "digest:{}:{}:{}",
                    week.client,
                    week.party.as_str(),
                    ts_text(week.week)
                );
                let mail = OutgoingMail {
                    to: week.to.to_vec(),
                    cc: Vec::new(),
                    subject: week.subject.to_owned(),
                    body: week.body.to_owned(),
                    html: week.html.map(str::to_owned),
                    ..OutgoingMail::default()
                };
                let about = About {
                    client: week.client,
                    duty: DIGEST_DUTY,
                    state: DIGEST_DUTY,
                };
                keyed::queue_in(&tx, Decision::Key(&key), about, &mail, week.made_at)?;
            }
            tx.commit()?;
            Ok(inserted == 1)
        };
        write(self).map_err(on_err)
    }

    /// Whether a digest of that contractor's party is recorded for `week`, or for an instant
    /// less than six days from it ([`WEEK_GAP`]).
    pub fn digest_week_recorded(
        &self,
        client: &str,
        party: Party,
        week: Timestamp,
    ) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("reading the digests of {client}"));
        let (from, to) = near(week);
        self.conn
            .query_row(
                "SELECT 1 FROM digest_weeks WHERE client = ?1 AND party = ?2
                                              AND week > ?3 AND week < ?4",
                params![client, party.as_str(), from, to],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(on_err)
    }

    /// Every recorded week of that contractor's party, oldest first.
    pub fn digest_weeks(&self, client: &str, party: Party) -> Result<Vec<WeekRecord>, StoreError> {
        let on_err = self.sql_error(format!("reading the digests of {client}"));
        let read = || -> rusqlite::Result<Vec<WeekRecord>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT week, made_at, counts, sprs_proven, sprs_lapses, mail_to, subject, body
                 FROM digest_weeks WHERE client = ?1 AND party = ?2 ORDER BY week",
            )?;
            let rows = stmt.query_map(params![client, party.as_str()], |row| {
                let counts: String = row.get(2)?;
                let to: String = row.get(5)?;
                Ok(WeekRecord {
                    week: row.get(0)?,
                    made_at: row.get(1)?,
                    counts: serde_json::from_str(&counts).map_err(|e| bad_column(2, e))?,
                    sprs_proven: row.get(3)?,
                    sprs_lapses: row.get(4)?,
                    to: serde_json::from_str(&to).map_err(|e| bad_column(5, e))?,
                    subject: row.get(6)?,
                    body: row.get(7)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(on_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn week<'a>(client: &'a str, party: Party, when: &str, proven: Option<i32>) -> NewWeek<'a> {
        NewWeek {
            client,
            party,
            week: at(when),
            made_at: at(when),
            counts: Counts {
                met: 3,
                lapsed: 1,
                ..Counts::default()
            },
            sprs_proven: proven,
            sprs_lapses: Some(108),
            to: &[],
            subject: "digest",
            body: "body",
            html: None,
        }
    }

    #[test]
    fn a_week_is_recorded_once_per_party_and_read_back_in_order() {
        let mut temp = temp_store();
        let store = &mut temp.store;
        let monday = "2026-11-23T13:00:00Z";
        assert!(
            store
                .record_digest_week(&week("acme", Party::Contractor, monday, Some(-12)))
                .unwrap()
        );
        // A restart in the same week: nothing twice, and the first record stands.
        assert!(
            !store
                .record_digest_week(&week("acme", Party::Contractor, monday, Some(50)))
                .unwrap()
        );
        assert!(
            store
                .record_digest_week(&week("acme", Party::Msp, monday, None))
                .unwrap()
        );
        assert!(
            store
                .record_digest_week(&week(
                    "acme",
                    Party::Contractor,
                    "2026-11-16T13:00:00Z",
                    None
                ))
                .unwrap()
        );
        assert!(
            store
                .digest_week_recorded("acme", Party::Msp, at(monday))
                .unwrap()
        );
        assert!(
            !store
                .digest_week_recorded("other", Party::Msp, at(monday))
                .unwrap()
        );
        // The zone changed: the schedule fires at 07:00Z of the same Monday (Berlin), or at
        // 16:00Z (Los Angeles), which is Monday or Sunday in either zone. Still that week.
        for moved in ["2026-11-23T07:00:00Z", "2026-11-23T16:00:00Z"] {
            let moved = NewWeek {
                week: at(moved),
                ..week("acme", Party::Contractor, monday, Some(1))
            };
            assert!(!store.record_digest_week(&moved).unwrap());
        }
        let weeks = store.digest_weeks("acme", Party::Contractor).unwrap();
        let shown: Vec<(Timestamp, Option<i32>)> =
            weeks.iter().map(|w| (w.week, w.sprs_proven)).collect();
        assert_eq!(
            shown,
            [(at("2026-11-16T13:00:00Z"), None), (at(monday), Some(-12))]
        );
        assert_eq!(weeks[1].counts.lapsed, 1);
    }
}

#[cfg(test)]
mod mail_tests {
    use super::*;
    use crate::store::test_util::temp_store;

    #[test]
    fn a_weeks_digest_is_queued_once_with_its_record_and_not_without_recipients() {
        let mut temp = temp_store();
        let store = &mut temp.store;
        let monday: Timestamp = "2026-11-23T13:00:00Z".parse().unwrap();
        let to = ["it-lead@acme.example".to_owned()];
        let week = NewWeek {
            client: "acme",
            party: Party::Contractor,
            week: monday,
            made_at: monday,
            counts: Counts::default(),
            sprs_proven: Some(88),
            sprs_lapses: Some(110),
            to: &to,
            subject: "Weekly compliance digest",
            body: "SPRS 88",
            html: Some("<p>SPRS 88</p>"),
        };
        assert!(store.record_digest_week(&week).unwrap());
        assert!(
            !store.record_digest_week(&week).unwrap(),
            "a restart in the same week"
        );
        let nobody = NewWeek {
            party: Party::Msp,
            to: &[],
            ..week
        };
        assert!(store.record_digest_week(&nobody).unwrap());
        let pending = store.pending_mail(monday, 10).unwrap();
        assert_eq!(pending.len(), 1, "one mail, for the party with recipients");
        assert_eq!(pending[0].mail.to, to);
        assert_eq!(pending[0].mail.body, "SPRS 88");
        assert_eq!(pending[0].mail.html.as_deref(), Some("<p>SPRS 88</p>"));
        assert_eq!(pending[0].duty, DIGEST_DUTY);
    }
}
