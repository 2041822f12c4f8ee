//! Collector runs (`source_runs`): a collector's health and the scheduler's catch-up point.
//!
//! "Latest" means last recorded (highest id), not highest timestamp, so a wall clock stepped
//! backwards cannot make an old run look current.

use dutywatch_checks::evidence::{Collection, EvidenceId};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, ts_text};

impl Store {
    /// A collector run that failed: a `source_runs` row with outcome `error` and the error
    /// text (callers guarantee no secrets in it).
    pub fn record_collection_failure(
        &mut self,
        client: &str,
        source: &str,
        started_at: Timestamp,
        finished_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        let on_err = self.sql_error(format!("recording failed collection of {client}/{source}"));
        let inner = |store: &mut Store| {
            let tx = store.write_tx()?;
            tx.execute(
                "INSERT INTO source_runs
                     (client, source, started_at, finished_at, outcome, evidence_id, error)
                 VALUES (?1, ?2, ?3, ?4, 'error', NULL, ?5)",
                params![
                    client,
                    source,
                    ts_text(started_at),
                    ts_text(finished_at),
                    error
                ],
            )?;
            tx.commit()
        };
        inner(self).map_err(on_err)
    }

    /// The collector's health: no run → `NeverRun`; latest run ok → `Ok { at: its
    /// finished_at }`; latest run failed → `Failed { since: started_at of the first failure
    /// after the last success, error: the latest error text }`.
    ///
    /// Manual sources never record runs; the caller knows which sources are manual and uses
    /// `Collection::Manual` for them instead of asking here.
    pub fn collection(&self, client: &str, source: &str) -> Result<Collection, StoreError> {
        let on_err = self.sql_error(format!("reading collector runs of {client}/{source}"));
        self.collection_inner(client, source).map_err(on_err)
    }

    fn collection_inner(&self, client: &str, source: &str) -> rusqlite::Result<Collection> {
        // One statement, so a run recorded meanwhile cannot mix two states.
        let latest: Option<(String, Timestamp, Option<String>, Option<Timestamp>)> = self
            .conn
            .prepare_cached(
                "SELECT latest.outcome, latest.finished_at, latest.error,
                        (SELECT first.started_at FROM source_runs AS first
                         WHERE first.client = ?1 AND first.source = ?2
                           AND first.id > coalesce(
                               (SELECT max(ok.id) FROM source_runs AS ok
                                WHERE ok.client = ?1 AND ok.source = ?2
                                  AND ok.outcome = 'ok'), 0)
                         ORDER BY first.id LIMIT 1)
                 FROM source_runs AS latest
                 WHERE latest.client = ?1 AND latest.source = ?2
                 ORDER BY latest.id DESC LIMIT 1",
            )?
            .query_row(params![client, source], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        Ok(match latest {
            None => Collection::NeverRun,
            Some((outcome, finished_at, error, first_failure)) => {
                if outcome == "ok" {
                    Collection::Ok { at: finished_at }
                } else {
                    Collection::Failed {
                        // The latest run is a failure after the last success, so the
                        // sub-select always finds one; fall back to the latest run anyway.
                        since: first_failure.unwrap_or(finished_at),
                        error: error.unwrap_or_default(),
                    }
                }
            }
        })
    }

    /// The latest instant the database has worked at: a collection or an evaluation. History
    /// written before it would be out of order. Collector runs are never rewritten, so their
    /// latest start (`source_runs_by_start`) holds whatever a later evaluation overwrote.
    pub fn latest_activity(&self) -> Result<Option<Timestamp>, StoreError> {
        let on_err = self.sql_error("reading the latest activity".to_owned());
        self.conn
            .query_row(
                "SELECT MAX(at) FROM (SELECT MAX(evaluated_at) AS at FROM duty_state
                                      UNION ALL SELECT MAX(started_at) FROM source_runs)",
                [],
                |row| row.get(0),
            )
            .map_err(on_err)
    }

    /// The newest evidence row of `client`/`source` and where it came from (a file's path,
    /// an API's address), `None` before any.
    pub fn newest_evidence(
        &self,
        client: &str,
        source: &str,
    ) -> Result<Option<(EvidenceId, String)>, StoreError> {
        let on_err = self.sql_error(format!("reading the newest evidence of {client}/{source}"));
        self.conn
            .prepare_cached(
                "SELECT id, origin FROM evidence WHERE client = ?1 AND source = ?2
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![client, source], |row| {
                    Ok((EvidenceId(row.get(0)?), row.get(1)?))
                })
                .optional()
            })
            .map_err(on_err)
    }

    /// `started_at` of the latest run of any outcome, for the scheduler's catch-up.
    pub fn last_run(&self, client: &str, source: &str) -> Result<Option<Timestamp>, StoreError> {
        let on_err = self.sql_error(format!("reading last run of {client}/{source}"));
        self.conn
            .prepare_cached(
                "SELECT started_at FROM source_runs WHERE client = ?1 AND source = ?2
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![client, source], |row| row.get(0))
                    .optional()
            })
            .map_err(on_err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewEvidence;
    use super::super::test_util::{temp_store, ts};
    use super::*;

    fn ok(store: &mut Store, started: &str, finished: &str) {
        store
            .record_collection(
                ts(started),
                &NewEvidence {
                    client: "acme",
                    source: "okta",
                    fetched_at: ts(finished),
                    effective_at: ts(finished),
                    media_type: "application/json",
                    origin: "https://acme.okta.example/api/v1/users",
                    payload: b"[]",
                },
            )
            .unwrap();
    }

    fn fail(store: &mut Store, started: &str, error: &str) {
        store
            .record_collection_failure("acme", "okta", ts(started), ts(started), error)
            .unwrap();
    }

    #[test]
    fn never_run() {
        let t = temp_store();
        assert_eq!(
            t.store.collection("acme", "okta").unwrap(),
            Collection::NeverRun
        );
        assert_eq!(t.store.last_run("acme", "okta").unwrap(), None);
    }

    #[test]
    fn latest_ok() {
        let mut t = temp_store();
        fail(&mut t.store, "2026-11-23T08:00:00Z", "timeout");
        ok(&mut t.store, "2026-11-23T09:00:00Z", "2026-11-23T09:00:07Z");
        assert_eq!(
            t.store.collection("acme", "okta").unwrap(),
            Collection::Ok {
                at: ts("2026-11-23T09:00:07Z")
            }
        );
        assert_eq!(
            t.store.last_run("acme", "okta").unwrap(),
            Some(ts("2026-11-23T09:00:00Z"))
        );
    }

    #[test]
    fn failure_streak_dates_from_its_first_failure() {
        let mut t = temp_store();
        fail(&mut t.store, "2026-11-23T07:00:00Z", "old streak");
        ok(&mut t.store, "2026-11-23T08:00:00Z", "2026-11-23T08:00:05Z");
        fail(&mut t.store, "2026-11-23T09:00:00Z", "http 503");
        fail(&mut t.store, "2026-11-23T10:00:00Z", "http 502");
        fail(&mut t.store, "2026-11-23T11:00:00Z", "dns lookup failed");
        assert_eq!(
            t.store.collection("acme", "okta").unwrap(),
            Collection::Failed {
                since: ts("2026-11-23T09:00:00Z"),
                error: "dns lookup failed".to_owned()
            }
        );
        assert_eq!(
            t.store.last_run("acme", "okta").unwrap(),
            Some(ts("2026-11-23T11:00:00Z"))
        );
        // Other sources are separate.
        assert_eq!(
            t.store.collection("acme", "entra").unwrap(),
            Collection::NeverRun
        );
    }

    #[test]
    fn failing_from_the_start() {
        let mut t = temp_store();
        fail(&mut t.store, "2026-11-23T09:00:00Z", "no such file");
        fail(&mut t.store, "2026-11-23T10:00:00Z", "permission denied");
        assert_eq!(
            t.store.collection("acme", "okta").unwrap(),
            Collection::Failed {
                since: ts("2026-11-23T09:00:00Z"),
                error: "permission denied".to_owned()
            }
        );
    }
}
