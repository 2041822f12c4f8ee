//! Immutable, hash-chained evidence rows.
//!
//! Each row stores the SHA-256 of its payload and a `chain` value:
//!
//! ```text
//! chain = hex(sha256(ns(prev_chain) ns(client) ns(source) ns(fetched_at) ns(effective_at)
//!                    ns(media_type) ns(origin) ns(sha256)))
//! ns(x) = "<byte length of x in decimal>:" x ","        (a netstring)
//! ```
//!
//! where `prev_chain` is the previous row's `chain` (in id order), or 64 zeros for the first
//! row, and the timestamps are the stored text. Netstrings make the encoding unambiguous, so an
//! assessor can recompute the chain with any SHA-256 tool, and no two different rows hash the
//! same. The chain shows rewritten, removed and reordered rows; removing the newest rows only
//! shows against a head recorded elsewhere ([`ChainReport::head`]).
//!
//! Reading evidence for evaluation ([`Store::snapshots`]) checks each row it returns the same
//! way (payload hash, chain value, link to the row before it): a row edited in the database
//! comes back as [`Tampered`], never as evidence.
//!
//! Payloads are stored once by content (`payloads`, keyed by the SHA-256 every row already
//! records and the chain covers): a collection of unchanged data adds only a row of fields and
//! chain. Every read of a payload checks its bytes against the hash; [`Store::snapshot_headers`]
//! checks a row's chain without reading its payload, for a reader that already holds the
//! records of that content, and [`Store::payload`] reads and checks it when it does not.
//! A payload is kept as a zstd frame when that is smaller (`payload.rs`); the hash is of the
//! bytes as collected, and is checked after decoding.

use std::borrow::Cow;
use std::collections::HashSet;

use dutywatch_checks::evidence::EvidenceId;
use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, Transaction, params};
use sha2::{Digest, Sha256};

use super::{Store, StoreError, payload, ts_text};

/// `prev_chain` of the first evidence row.
pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Evidence about to be stored, exactly as received.
#[derive(Clone, Copy, Debug)]
pub struct NewEvidence<'a> {
    pub client: &'a str,
    pub source: &'a str,
    /// When dutywatch read it; for a collector run also the run's finish time.
    pub fetched_at: Timestamp,
    /// The instant the content speaks for (file mtime, API call time, stated completion).
    pub effective_at: Timestamp,
    pub media_type: &'a str,
    /// Where it came from: a file path, a URL, "manual upload by alice: note".
    pub origin: &'a str,
    pub payload: &'a [u8],
}

/// One stored evidence row. Timestamps are whole seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvidence {
    pub id: EvidenceId,
    pub client: String,
    pub source: String,
    pub fetched_at: Timestamp,
    pub effective_at: Timestamp,
    pub media_type: String,
    pub origin: String,
    /// Lowercase hex SHA-256 of `payload`.
    pub sha256: String,
    pub payload: Vec<u8>,
}

/// A verified point of the chain: a row and its `chain` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPosition {
    pub id: EvidenceId,
    /// Lowercase hex, 64 digits.
    pub chain: String,
}

/// The outcome of [`Store::verify_chain`] and [`Store::verify_chain_from`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    /// Evidence rows looked at: all of them for [`Store::verify_chain`], the rows from the
    /// starting position on (itself included) for [`Store::verify_chain_from`].
    pub rows: u64,
    /// The first row (in id order) whose payload hash or chain link does not check out, and
    /// what is wrong with it. Rows after it are not checked: they chain onto a broken row.
    pub broken: Option<(EvidenceId, String)>,
    /// The newest row and its `chain` when nothing is broken. Recording the chain value
    /// outside the database (ticket, log, assessor's notes) lets a later check also show
    /// removed newest rows ([`Store::chain_contains`]).
    pub head: Option<ChainPosition>,
}

/// What does not check out about a stored evidence row (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// The payload's SHA-256 is not the row's recorded `sha256`: the bytes were edited.
    PayloadHash,
    /// The row's `prev_chain` is not the `chain` of the row before it (in id order), or the
    /// row after it does not link to its `chain`: rows were removed, inserted or rewritten.
    ChainLink,
    /// The row's `chain` is not the hash of its `prev_chain` and fields: a field (a date, the
    /// origin, the recorded hash) was edited.
    ChainValue,
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tamper::PayloadHash => "payload hash",
            Tamper::ChainLink => "chain link",
            Tamper::ChainValue => "chain value",
        })
    }
}

/// An evidence row that failed the check on read. It carries what names the row, never the
/// payload: there is nothing in it a caller could evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tampered {
    pub id: EvidenceId,
    pub client: String,
    pub source: String,
    pub origin: String,
    pub problem: Tamper,
}

impl std::fmt::Display for Tampered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.problem {
            Tamper::PayloadHash => {
                "does not match its recorded hash: it was altered in the database"
            }
            Tamper::ChainLink => {
                "does not match its chain links to the rows before and after it: rows were \
                 removed, inserted or rewritten in the database"
            }
            Tamper::ChainValue => {
                "does not match its recorded chain value: its dates, origin or hash were \
                 altered in the database"
            }
        };
        write!(
            f,
            "evidence {} (`{}`) {what}; it is not used. Run `dutywatch evidence verify`",
            self.id, self.origin
        )
    }
}

impl std::error::Error for Tampered {}

/// A row as read for evaluation: intact, or why not.
///
/// A plain `Result` rather than a wrapper with a checked accessor: the payload only exists
/// inside `Ok`, the compiler makes every caller decide what an `Err` means, and `Tampered`
/// holds nothing that could be evaluated, so a bad row's bytes cannot reach a check by
/// accident (no `unwrap_unchecked`-style escape hatch to police in review).
pub type CheckedEvidence = Result<StoredEvidence, Tampered>;

/// An evidence row without its payload, its chain checked ([`Store::snapshot_headers`]).
/// Timestamps are whole seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceHeader {
    pub id: EvidenceId,
    pub client: String,
    pub source: String,
    pub fetched_at: Timestamp,
    pub effective_at: Timestamp,
    pub media_type: String,
    pub origin: String,
    /// Lowercase hex SHA-256 of the payload: the key it is stored and cached under.
    pub sha256: String,
}

/// A header as read for evaluation: chain intact, or why not.
pub type CheckedHeader = Result<EvidenceHeader, Tampered>;

/// Every column of a row of `evidence e` with its payload `p` (LEFT JOINed: a payload that is
/// gone reads as NULL) and the payload's encoding, in the order [`raw_row`] reads them; the
/// first eight are columns of [`StoredEvidence`], in the order [`stored_from_row`] reads them.
const RAW_COLUMNS: &str = "e.id, e.client, e.source, e.fetched_at, e.effective_at, \
     e.media_type, e.origin, e.sha256, p.payload, p.encoding, e.prev_chain, e.chain";

/// The rows and their payloads.
const WITH_PAYLOAD: &str = "evidence e LEFT JOIN payloads p ON p.sha256 = e.sha256";

/// [`RAW_COLUMNS`], the `chain` of the row before it (by id; NULL for the first row) and the
/// `prev_chain` of the row after it (NULL for the newest): what [`checked_from_row`] reads.
/// Both neighbours are primary-key lookups.
const CHECKED_COLUMNS: &str = "e.id, e.client, e.source, e.fetched_at, e.effective_at, \
     e.media_type, e.origin, e.sha256, p.payload, p.encoding, e.prev_chain, e.chain, \
     (SELECT b.chain FROM evidence b WHERE b.id < e.id ORDER BY b.id DESC LIMIT 1), \
     (SELECT n.prev_chain FROM evidence n WHERE n.id > e.id ORDER BY n.id LIMIT 1)";

/// [`CHECKED_COLUMNS`] with NULL in place of the payload and its encoding, which are not read.
const HEADER_COLUMNS: &str = "e.id, e.client, e.source, e.fetched_at, e.effective_at, \
     e.media_type, e.origin, e.sha256, NULL, NULL, e.prev_chain, e.chain, \
     (SELECT b.chain FROM evidence b WHERE b.id < e.id ORDER BY b.id DESC LIMIT 1), \
     (SELECT n.prev_chain FROM evidence n WHERE n.id > e.id ORDER BY n.id LIMIT 1)";

/// The rows of (client ?1, source ?2) a snapshot window starting at ?3 reads (see
/// [`Store::snapshots`]), oldest by effective_at first.
const WINDOW: &str = "WHERE e.client = ?1 AND e.source = ?2
       AND (?3 IS NULL
            OR e.effective_at >= ?3
            OR e.id = (SELECT id FROM evidence
                       WHERE client = ?1 AND source = ?2 AND effective_at < ?3
                       ORDER BY effective_at DESC, id DESC LIMIT 1))
     ORDER BY e.effective_at, e.id";

impl Store {
    /// A collector run that succeeded. In ONE transaction: if `evidence` has the same sha256
    /// and effective_at as the newest (last inserted) evidence of (client, source), no new
    /// evidence row is written and that row's id is returned — a file read every hour must not
    /// grow the database; else a chained row is inserted. Always records a `source_runs` row
    /// (outcome `ok`, finished at `evidence.fetched_at`).
    ///
    /// "Newest" is by insertion, not by effective_at, so a file whose mtime went backwards
    /// (restored from a backup) is stored once, not on every read.
    pub fn record_collection(
        &mut self,
        started_at: Timestamp,
        evidence: &NewEvidence<'_>,
    ) -> Result<EvidenceId, StoreError> {
        let on_err = self.sql_error(format!(
            "recording collection of {}/{}",
            evidence.client, evidence.source
        ));
        let sha256 = sha256_hex(evidence.payload);
        self.record_collection_inner(started_at, evidence, &sha256)
            .map(|(id, _)| id)
            .map_err(on_err)
    }

    /// [`record_collection`](Store::record_collection) of a payload whose SHA-256 the caller
    /// has just computed from `evidence.payload` (the engine hashes it once, to look up what
    /// it read before). Also says whether the payload was stored now: `false` when no row was
    /// added or the content was stored before, by this or another row, so its stored bytes
    /// are not the ones in hand and must be read (and checked) from the store.
    pub(crate) fn record_collection_hashed(
        &mut self,
        started_at: Timestamp,
        evidence: &NewEvidence<'_>,
        sha256: &str,
    ) -> Result<(EvidenceId, bool), StoreError> {
        let on_err = self.sql_error(format!(
            "recording collection of {}/{}",
            evidence.client, evidence.source
        ));
        self.record_collection_inner(started_at, evidence, sha256)
            .map_err(on_err)
    }

    /// Records a collection that found the file it stored last time unchanged (the same
    /// path, size and times, `sources::file::FileStamp`), without its bytes: a collector run
    /// tied to the newest row of the source, when that row is this content (`sha256`) for
    /// this instant. `false`, and nothing written, when it is not: the caller then reads
    /// the file after all.
    pub(crate) fn record_unchanged_collection(
        &mut self,
        started_at: Timestamp,
        evidence: &NewEvidence<'_>,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!(
            "recording collection of {}/{}",
            evidence.client, evidence.source
        ));
        let inner = |store: &mut Store| -> rusqlite::Result<bool> {
            let tx = store.write_tx()?;
            let Some(id) = newest_row(&tx, evidence)?
                .filter(|row| row.is(sha256, evidence))
                .map(|row| row.id)
            else {
                return Ok(false);
            };
            insert_ok_run(&tx, evidence, started_at, id)?;
            tx.commit()?;
            Ok(true)
        };
        inner(self).map_err(on_err)
    }

    fn record_collection_inner(
        &mut self,
        started_at: Timestamp,
        evidence: &NewEvidence<'_>,
        sha256: &str,
    ) -> rusqlite::Result<(EvidenceId, bool)> {
        let tx = self.write_tx()?;
        let (id, stored) = match newest_row(&tx, evidence)? {
            Some(row) if row.is(sha256, evidence) => (EvidenceId(row.id), false),
            _ => insert_evidence(&tx, evidence, sha256)?,
        };
        insert_ok_run(&tx, evidence, started_at, id.0)?;
        tx.commit()?;
        Ok((id, stored))
    }

    /// A contractor's CRM file as loaded: a new chained row only when its content differs from
    /// the newest version stored (a touched file is the same CRM), so the chain holds each
    /// version the duties were derived from and when it appeared. `true` when this is new.
    pub fn record_crm_version(&mut self, evidence: &NewEvidence<'_>) -> Result<bool, StoreError> {
        let on_err = self.sql_error(format!("recording the CRM of {}", evidence.client));
        let inner = |store: &mut Store| -> rusqlite::Result<bool> {
            let tx = store.write_tx()?;
            let sha256 = sha256_hex(evidence.payload);
            let newest: Option<String> = tx
                .query_row(
                    "SELECT sha256 FROM evidence
                     WHERE client = ?1 AND source = ?2 ORDER BY id DESC LIMIT 1",
                    params![evidence.client, evidence.source],
                    |row| row.get(0),
                )
                .optional()?;
            if newest.as_deref() == Some(sha256.as_str()) {
                return Ok(false);
            }
            insert_evidence(&tx, evidence, &sha256)?;
            tx.commit()?;
            Ok(true)
        };
        inner(self).map_err(on_err)
    }

    /// When the content of the newest evidence of (client, source) was the newest: each span
    /// from a row of that content to the row after it (`None`: still the newest). A CRM edit
    /// reverted to the bytes of an earlier version is that version again, and a review done
    /// while it was current counts for it; one done while other content was current does not.
    pub fn spans_of_newest_content(
        &self,
        client: &str,
        source: &str,
    ) -> Result<Vec<(Timestamp, Option<Timestamp>)>, StoreError> {
        let on_err = self.sql_error(format!("reading evidence of {client}/{source}"));
        let read = || -> rusqlite::Result<Vec<(String, Timestamp)>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT sha256, effective_at FROM evidence
                 WHERE client = ?1 AND source = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![client, source], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            rows.collect()
        };
        let rows = read().map_err(on_err)?;
        let Some((newest, _)) = rows.last() else {
            return Ok(Vec::new());
        };
        Ok(rows
            .iter()
            .enumerate()
            .filter(|(_, (sha, _))| sha == newest)
            .map(|(i, (_, from))| (*from, rows.get(i + 1).map(|(_, next)| *next)))
            .collect())
    }

    /// When the newest evidence of (client, source) speaks for, if there is any.
    pub fn newest_effective_at(
        &self,
        client: &str,
        source: &str,
    ) -> Result<Option<Timestamp>, StoreError> {
        let on_err = self.sql_error(format!("reading evidence of {client}/{source}"));
        self.conn
            .query_row(
                "SELECT effective_at FROM evidence
                 WHERE client = ?1 AND source = ?2 ORDER BY id DESC LIMIT 1",
                params![client, source],
                |row| row.get::<_, Timestamp>(0),
            )
            .optional()
            .map_err(on_err)
    }

    /// Manual evidence (`dutywatch evidence add`): always a new chained row, no `source_runs`
    /// row (a person is not a collector that can fail).
    pub fn add_evidence(&mut self, evidence: &NewEvidence<'_>) -> Result<EvidenceId, StoreError> {
        let on_err = self.sql_error(format!(
            "adding evidence for {}/{}",
            evidence.client, evidence.source
        ));
        let inner = |store: &mut Store| {
            let tx = store.write_tx()?;
            let (id, _) = insert_evidence(&tx, evidence, &sha256_hex(evidence.payload))?;
            tx.commit()?;
            Ok(id)
        };
        inner(self).map_err(on_err)
    }

    /// Evidence of (client, source), oldest (by effective_at) first: every row with
    /// `effective_at >= since`, plus the newest row before `since`, so a rule always sees the
    /// state at the window start; all rows when `since` is `None`.
    ///
    /// Every row is checked as it is read: its payload against its recorded SHA-256, its
    /// `chain` against its fields, its `prev_chain` against the `chain` of the row before it
    /// in id order and its `chain` against the `prev_chain` of the row after it (it is where
    /// the chain says). A row that fails comes back as [`Tampered`], in its place, and
    /// without its payload.
    pub fn snapshots(
        &self,
        client: &str,
        source: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<CheckedEvidence>, StoreError> {
        let on_err = self.sql_error(format!("reading evidence of {client}/{source}"));
        let sql = format!("SELECT {CHECKED_COLUMNS} FROM {WITH_PAYLOAD} {WINDOW}");
        let since = since.map(ts_text);
        let read = || -> rusqlite::Result<Vec<CheckedEvidence>> {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![client, source, since], checked_from_row)?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// The rows [`snapshots`](Store::snapshots) returns, without their payloads: each row's
    /// chain value and links are checked as there, its payload is not read (and so not
    /// checked) until [`payload`](Store::payload) reads it. For a reader that keeps the
    /// records of content it has read (and checked) before, by hash.
    pub fn snapshot_headers(
        &self,
        client: &str,
        source: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<CheckedHeader>, StoreError> {
        let on_err = self.sql_error(format!("reading evidence of {client}/{source}"));
        let sql = format!("SELECT {HEADER_COLUMNS} FROM evidence e {WINDOW}");
        let since = since.map(ts_text);
        let read = || -> rusqlite::Result<Vec<CheckedHeader>> {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![client, source, since], header_from_row)?;
            rows.collect()
        };
        read().map_err(on_err)
    }

    /// The payload of `row`, if its bytes still hash to the row's recorded SHA-256; else the
    /// row as [`Tampered`] (`PayloadHash`: the bytes were edited or removed).
    pub fn payload(&self, row: &EvidenceHeader) -> Result<Result<Vec<u8>, Tampered>, StoreError> {
        let on_err = self.sql_error(format!("reading the payload of evidence {}", row.id));
        let stored: Option<(Vec<u8>, String)> = self
            .conn
            .prepare_cached("SELECT payload, encoding FROM payloads WHERE sha256 = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([&row.sha256], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(on_err)?;
        let payload = match stored {
            None => None,
            Some((bytes, encoding)) => match payload::decode(&encoding, &bytes) {
                // Kept as collected: the bytes read are the payload.
                Ok(Some(Cow::Borrowed(_))) => Some(bytes),
                Ok(Some(Cow::Owned(decoded))) => Some(decoded),
                Ok(None) => None,
                // Hashed while decoding instead: an edited frame is still tampering, and only
                // an intact one that does not fit is a lack of memory.
                Err(no_room) => match payload::sha256_hex(&encoding, &bytes) {
                    Some(hash) if hash == row.sha256 => {
                        return Err(StoreError::NoRoom {
                            id: row.id,
                            client: row.client.clone(),
                            source_id: row.source.clone(),
                            bytes: no_room.bytes,
                        });
                    }
                    _ => None,
                },
            },
        };
        Ok(match payload {
            Some(payload) if sha256_hex(&payload) == row.sha256 => Ok(payload),
            _ => Err(Tampered {
                id: row.id,
                client: row.client.clone(),
                source: row.source.clone(),
                origin: row.origin.clone(),
                problem: Tamper::PayloadHash,
            }),
        })
    }

    /// Changes whenever another connection has committed to the database since this one
    /// last looked (SQLite's `data_version`); this connection's own writes leave it as it is.
    /// A reader that keeps what it read from payloads drops it when this changes: evidence is
    /// written by one process, so anything else writing is a hand-added row or an edit.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        let on_err = self.sql_error("reading the database's data version".to_owned());
        self.conn
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .map_err(on_err)
    }

    /// One evidence row by id, checked as [`snapshots`](Store::snapshots) checks them.
    pub fn evidence(&self, id: EvidenceId) -> Result<Option<CheckedEvidence>, StoreError> {
        let on_err = self.sql_error(format!("reading evidence {id}"));
        self.conn
            .query_row(
                &format!("SELECT {CHECKED_COLUMNS} FROM {WITH_PAYLOAD} WHERE e.id = ?1"),
                [id.0],
                checked_from_row,
            )
            .optional()
            .map_err(on_err)
    }

    /// Recomputes every payload hash and chain link in id order and reports the first broken
    /// row, so tampering with the evidence (with the triggers dropped) shows.
    pub fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.verify_chain_from(None)
    }

    /// [`verify_chain`](Store::verify_chain) from `from` on: `from` (a position an earlier
    /// report's `head` gave) must still be there with the same chain value and its fields
    /// must still hash to it; the rows after it are checked as `verify_chain` checks them.
    /// The cost is the number of rows since `from`, so the daemon can run it after every
    /// pass. Rows before `from` are not looked at: a payload edited there shows on read
    /// ([`snapshots`](Store::snapshots)) and in a full `verify_chain`.
    pub fn verify_chain_from(
        &self,
        from: Option<&ChainPosition>,
    ) -> Result<ChainReport, StoreError> {
        let on_err = self.sql_error("verifying the evidence chain".to_owned());
        self.verify_chain_inner(from).map_err(on_err)
    }

    /// The row whose `chain` is `chain`, if any. Meaningful after a `verify_chain` without a
    /// break: then every row up to the one found is intact and in place, so a head recorded
    /// earlier that is not found means rows up to it were removed or rewritten.
    pub fn chain_contains(&self, chain: &str) -> Result<Option<EvidenceId>, StoreError> {
        let on_err = self.sql_error("looking up a chain value".to_owned());
        self.conn
            .query_row("SELECT id FROM evidence WHERE chain = ?1", [chain], |row| {
                row.get(0).map(EvidenceId)
            })
            .optional()
            .map_err(on_err)
    }

    fn verify_chain_inner(&self, from: Option<&ChainPosition>) -> rusqlite::Result<ChainReport> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RAW_COLUMNS} FROM {WITH_PAYLOAD} WHERE e.id >= ?1 ORDER BY e.id"
        ))?;
        let mut rows = stmt.query([from.map_or(i64::MIN, |position| position.id.0)])?;
        let mut report = ChainReport {
            rows: 0,
            broken: None,
            head: None,
        };
        // The chain value the next row must link to, and the row it came from.
        let mut expected_prev = GENESIS.to_owned();
        let mut prev_id: Option<i64> = None;
        // The position verified last time, until its row is read.
        let mut anchor = from;
        // Payloads whose bytes were hashed in this run: a payload stored once is checked once,
        // however many rows name it.
        let mut hashed: HashSet<String> = HashSet::new();
        while let Some(row) = rows.next()? {
            report.rows += 1;
            if report.broken.is_some() {
                continue;
            }
            let id: i64 = row.get(0)?;
            // Hashed as it is decoded, not decoded into memory first: a verification holds
            // no payload, whatever size a stored frame claims.
            let mut raw = raw_row(row, false)?;
            if !hashed.contains(raw.fields.sha256)
                && stored_sha256(row)?.as_deref() != Some(raw.fields.sha256)
            {
                raw.payload = Payload::Read(None);
            }
            let problem = match anchor.take() {
                Some(position) if position.id.0 != id => Some((position.id, gone(position.id))),
                Some(position) if raw.chain != position.chain => Some((
                    position.id,
                    "chain is not the value verified earlier (the row was rewritten)".to_owned(),
                )),
                // Its link was verified with the rows before it; its fields must still hash
                // to the chain value verified then.
                Some(_) => check_row(&raw, raw.prev_chain)
                    .map(|problem| (EvidenceId(id), describe(problem, prev_id))),
                None => check_row(&raw, &expected_prev)
                    .map(|problem| (EvidenceId(id), describe(problem, prev_id))),
            };
            match problem {
                Some(broken) => report.broken = Some(broken),
                None => {
                    hashed.insert(raw.fields.sha256.to_owned());
                    expected_prev = raw.chain.to_owned();
                    prev_id = Some(id);
                }
            }
        }
        if let Some(position) = anchor {
            // No row at or after the verified one: it was removed, with all after it.
            report.broken = Some((position.id, gone(position.id)));
        }
        if report.broken.is_none()
            && let Some(id) = prev_id
        {
            report.head = Some(ChainPosition {
                id: EvidenceId(id),
                chain: expected_prev,
            });
        }
        Ok(report)
    }
}

fn gone(id: EvidenceId) -> String {
    format!("row {id}, verified earlier, is gone (removed from the database)")
}

/// What [`ChainReport::broken`] says about `problem`, `prev` being the row before (by id).
fn describe(problem: Tamper, prev: Option<i64>) -> String {
    match (problem, prev) {
        (Tamper::PayloadHash, _) => "payload does not match its recorded sha256".to_owned(),
        (Tamper::ChainLink, None) => "first row does not start the chain from 64 zeros".to_owned(),
        (Tamper::ChainLink, Some(prev)) => format!(
            "prev_chain does not link to the chain of row {} \
             (a row was removed, inserted or reordered)",
            EvidenceId(prev)
        ),
        (Tamper::ChainValue, _) => "chain does not match the row's recorded fields".to_owned(),
    }
}

/// One row's checked columns, as stored, borrowed from the result row.
struct RawRow<'a> {
    fields: ChainFields<'a>,
    payload: Payload<'a>,
    prev_chain: &'a str,
    chain: &'a str,
}

/// What is known of a row's payload when its row is checked.
enum Payload<'a> {
    /// Its bytes as collected, or `None` when no payload is stored under the row's hash or
    /// its stored bytes do not decode.
    Read(Option<Cow<'a, [u8]>>),
    /// Not read here: checked already, or to be checked when it is read.
    Checked,
}

/// The first thing wrong with `row` when the row before it has chain `expected_prev`
/// (64 zeros for the first row), in the order [`Store::verify_chain`] reports them.
fn check_row(row: &RawRow<'_>, expected_prev: &str) -> Option<Tamper> {
    let payload_intact = match &row.payload {
        Payload::Read(Some(bytes)) => sha256_hex(bytes) == row.fields.sha256,
        Payload::Read(None) => false,
        Payload::Checked => true,
    };
    if !payload_intact {
        Some(Tamper::PayloadHash)
    } else if row.prev_chain != expected_prev {
        Some(Tamper::ChainLink)
    } else if chain_link(row.prev_chain, &row.fields) != row.chain {
        Some(Tamper::ChainValue)
    } else {
        None
    }
}

/// Reads columns 1..=11 of [`RAW_COLUMNS`] (column 0 is the id); the payload only
/// `with_payload` (it is decoded here), else it is left as [`Payload::Checked`].
fn raw_row<'a>(row: &'a Row<'_>, with_payload: bool) -> rusqlite::Result<RawRow<'a>> {
    let payload = if with_payload {
        let decoded = match stored_payload(row)? {
            None => None,
            Some((bytes, encoding)) => match payload::decode(encoding, bytes) {
                Ok(decoded) => decoded,
                // As in `Store::payload`: tampering if it does not hash right, else no room.
                Err(no_room) => match payload::sha256_hex(encoding, bytes) {
                    Some(hash) if hash == row.get_ref(7)?.as_str()? => {
                        return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(no_room)));
                    }
                    _ => None,
                },
            },
        };
        Payload::Read(decoded)
    } else {
        Payload::Checked
    };
    Ok(RawRow {
        fields: ChainFields {
            client: row.get_ref(1)?.as_str()?,
            source: row.get_ref(2)?.as_str()?,
            fetched_at: row.get_ref(3)?.as_str()?,
            effective_at: row.get_ref(4)?.as_str()?,
            media_type: row.get_ref(5)?.as_str()?,
            origin: row.get_ref(6)?.as_str()?,
            sha256: row.get_ref(7)?.as_str()?,
        },
        payload,
        prev_chain: row.get_ref(10)?.as_str()?,
        chain: row.get_ref(11)?.as_str()?,
    })
}

/// Columns 8 and 9 of a row of [`RAW_COLUMNS`]: the payload's stored bytes and their
/// encoding, `None` when no payload is stored under the row's hash.
fn stored_payload<'a>(row: &'a Row<'_>) -> rusqlite::Result<Option<(&'a [u8], &'a str)>> {
    let stored = row.get_ref(8)?.as_blob_or_null()?;
    let encoding = row.get_ref(9)?.as_str_or_null()?;
    Ok(stored.zip(encoding))
}

/// The SHA-256 of the collected bytes of a row's payload ([`stored_payload`]); `None` when
/// there is none or it does not decode.
fn stored_sha256(row: &Row<'_>) -> rusqlite::Result<Option<String>> {
    Ok(stored_payload(row)?.and_then(|(bytes, encoding)| payload::sha256_hex(encoding, bytes)))
}

/// A row of [`CHECKED_COLUMNS`]: the row if it checks out, else what names it. The
/// timestamps and payload of a tampered row are never decoded.
///
/// Besides [`check_row`], the next row must link to this one: a row rewritten together with
/// its own `sha256` and `chain` hashes consistently, but the row after it still links to the
/// old chain value. (The newest row has no successor; the daemon's incremental check and a
/// head recorded outside the database cover it.)
fn checked_from_row(row: &Row<'_>) -> rusqlite::Result<CheckedEvidence> {
    let raw = raw_row(row, true)?;
    if let Some(tampered) = chain_problem(row, &raw)? {
        return Ok(Err(tampered));
    }
    match raw.payload {
        Payload::Read(Some(payload)) => stored_from_row(row, payload.into_owned()).map(Ok),
        // `chain_problem` refuses a row whose payload was not read as intact.
        Payload::Read(None) | Payload::Checked => tampered(row, &raw, Tamper::PayloadHash).map(Err),
    }
}

/// A row of [`HEADER_COLUMNS`]: [`checked_from_row`] without the payload.
fn header_from_row(row: &Row<'_>) -> rusqlite::Result<CheckedHeader> {
    match chain_problem(row, &raw_row(row, false)?)? {
        None => Ok(Ok(EvidenceHeader {
            id: EvidenceId(row.get(0)?),
            client: row.get(1)?,
            source: row.get(2)?,
            fetched_at: row.get(3)?,
            effective_at: row.get(4)?,
            media_type: row.get(5)?,
            origin: row.get(6)?,
            sha256: row.get(7)?,
        })),
        Some(tampered) => Ok(Err(tampered)),
    }
}

/// What is wrong with `raw`, a row of [`CHECKED_COLUMNS`] (its payload left to its reader
/// when it was not read), as the [`Tampered`] that names it.
fn chain_problem(row: &Row<'_>, raw: &RawRow<'_>) -> rusqlite::Result<Option<Tampered>> {
    let expected_prev = row.get_ref(12)?.as_str_or_null()?.unwrap_or(GENESIS);
    let next_prev = row.get_ref(13)?.as_str_or_null()?;
    let problem = check_row(raw, expected_prev).or_else(|| {
        next_prev
            .is_some_and(|next_prev| next_prev != raw.chain)
            .then_some(Tamper::ChainLink)
    });
    problem
        .map(|problem| tampered(row, raw, problem))
        .transpose()
}

/// `row` (read as `raw`) as tampered with in the way `problem` says.
fn tampered(row: &Row<'_>, raw: &RawRow<'_>, problem: Tamper) -> rusqlite::Result<Tampered> {
    Ok(Tampered {
        id: EvidenceId(row.get(0)?),
        client: raw.fields.client.to_owned(),
        source: raw.fields.source.to_owned(),
        origin: raw.fields.origin.to_owned(),
        problem,
    })
}

/// The fields a chain link covers, as stored.
struct ChainFields<'a> {
    client: &'a str,
    source: &'a str,
    fetched_at: &'a str,
    effective_at: &'a str,
    media_type: &'a str,
    origin: &'a str,
    sha256: &'a str,
}

/// The chain value of a row whose predecessor has chain `prev` (see the module docs).
fn chain_link(prev: &str, row: &ChainFields<'_>) -> String {
    chain_hash(&[
        prev,
        row.client,
        row.source,
        row.fetched_at,
        row.effective_at,
        row.media_type,
        row.origin,
        row.sha256,
    ])
}

/// The lowercase hex SHA-256 of `fields`, each as `ns(field)` (its length, `:`, itself, `,`),
/// so no two lists of fields hash alike. What every chain in the store links with.
pub(super) fn chain_hash(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update(field.len().to_string().as_bytes());
        hasher.update(b":");
        hasher.update(field.as_bytes());
        hasher.update(b",");
    }
    hex::encode(hasher.finalize())
}

pub(super) fn sha256_hex(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// The newest evidence row of a collection's source: what a collection of the same content
/// for the same instant from the same origin records its run against, instead of a row of its
/// own. (The same bytes from another file, or the same file under a new spelling, are a row
/// of their own: a recurring duty reads each file's newest snapshot.)
struct NewestRow {
    id: i64,
    sha256: String,
    effective_at: String,
    origin: String,
}

impl NewestRow {
    fn is(&self, sha256: &str, evidence: &NewEvidence<'_>) -> bool {
        self.sha256 == sha256
            && self.effective_at == ts_text(evidence.effective_at)
            && self.origin == evidence.origin
    }
}

fn newest_row(
    tx: &Transaction<'_>,
    evidence: &NewEvidence<'_>,
) -> rusqlite::Result<Option<NewestRow>> {
    tx.prepare_cached(
        "SELECT id, sha256, effective_at, origin FROM evidence
         WHERE client = ?1 AND source = ?2 ORDER BY id DESC LIMIT 1",
    )?
    .query_row(params![evidence.client, evidence.source], |row| {
        Ok(NewestRow {
            id: row.get(0)?,
            sha256: row.get(1)?,
            effective_at: row.get(2)?,
            origin: row.get(3)?,
        })
    })
    .optional()
}

/// A successful collector run of `evidence`'s source, tied to evidence row `id`.
fn insert_ok_run(
    tx: &Transaction<'_>,
    evidence: &NewEvidence<'_>,
    started_at: Timestamp,
    id: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO source_runs
             (client, source, started_at, finished_at, outcome, evidence_id, error)
         VALUES (?1, ?2, ?3, ?4, 'ok', ?5, NULL)",
    )?
    .execute(params![
        evidence.client,
        evidence.source,
        ts_text(started_at),
        ts_text(evidence.fetched_at),
        id
    ])?;
    Ok(())
}

/// Appends a chained evidence row inside the caller's (immediate) transaction, which holds
/// the write lock, so no other writer can slip a row in between reading the previous chain
/// and inserting. Also says whether its payload was stored now (`false`: stored before).
fn insert_evidence(
    tx: &Transaction<'_>,
    evidence: &NewEvidence<'_>,
    sha256: &str,
) -> rusqlite::Result<(EvidenceId, bool)> {
    let prev: String = tx
        .query_row(
            "SELECT chain FROM evidence ORDER BY id DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or_else(|| GENESIS.to_owned());
    // Content stored before (by any row) is not stored again, nor compressed to find that
    // out: an API source's unchanged answer is the same content at every call.
    let known = tx
        .prepare_cached("SELECT 1 FROM payloads WHERE sha256 = ?1")?
        .exists([sha256])?;
    if !known {
        let (encoding, bytes) = payload::encode(evidence.payload);
        tx.prepare_cached("INSERT INTO payloads (sha256, payload, encoding) VALUES (?1, ?2, ?3)")?
            .execute(params![sha256, bytes, encoding.as_sql()])?;
    }
    let stored = !known;
    let fetched_at = ts_text(evidence.fetched_at);
    let effective_at = ts_text(evidence.effective_at);
    let chain = chain_link(
        &prev,
        &ChainFields {
            client: evidence.client,
            source: evidence.source,
            fetched_at: &fetched_at,
            effective_at: &effective_at,
            media_type: evidence.media_type,
            origin: evidence.origin,
            sha256,
        },
    );
    tx.prepare_cached(
        "INSERT INTO evidence (client, source, fetched_at, effective_at, media_type, origin,
                               sha256, prev_chain, chain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        evidence.client,
        evidence.source,
        fetched_at,
        effective_at,
        evidence.media_type,
        evidence.origin,
        sha256,
        prev,
        chain
    ])?;
    Ok((EvidenceId(tx.last_insert_rowid()), stored))
}

/// The row's columns with `payload`, its bytes as collected (checked by the caller).
fn stored_from_row(row: &Row<'_>, payload: Vec<u8>) -> rusqlite::Result<StoredEvidence> {
    Ok(StoredEvidence {
        id: EvidenceId(row.get(0)?),
        client: row.get(1)?,
        source: row.get(2)?,
        fetched_at: row.get(3)?,
        effective_at: row.get(4)?,
        media_type: row.get(5)?,
        origin: row.get(6)?,
        sha256: row.get(7)?,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{temp_store, ts};
    use super::*;

    fn new<'a>(payload: &'a [u8], effective_at: &str) -> NewEvidence<'a> {
        NewEvidence {
            client: "acme",
            source: "mfa_export",
            fetched_at: ts("2026-11-23T10:00:00Z"),
            effective_at: ts(effective_at),
            media_type: "text/csv",
            origin: "/srv/exports/mfa.csv",
            payload,
        }
    }

    /// Replaces the stored bytes of evidence `id` (the payload triggers dropped).
    fn edit_payload(store: &Store, id: EvidenceId, bytes: &str) {
        store
            .conn
            .execute(
                "UPDATE payloads SET payload = CAST(?1 AS BLOB)
                 WHERE sha256 = (SELECT sha256 FROM evidence WHERE id = ?2)",
                params![bytes, id.0],
            )
            .unwrap();
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn same_content_and_effective_time_is_not_stored_twice() {
        let mut t = temp_store();
        let started = ts("2026-11-23T09:59:59Z");
        let first = t
            .store
            .record_collection(started, &new(b"a,b\n", "2026-11-20T00:00:00Z"))
            .unwrap();
        let again = t
            .store
            .record_collection(started, &new(b"a,b\n", "2026-11-20T00:00:00Z"))
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(count(&t.store, "evidence"), 1);
        assert_eq!(count(&t.store, "source_runs"), 2);
    }

    #[test]
    fn unchanged_content_at_a_new_time_adds_a_row_but_not_the_payload() {
        let mut t = temp_store();
        let started = ts("2026-11-23T09:59:59Z");
        let big = vec![b'x'; 100_000];
        let mut ids = Vec::new();
        for day in 20..24 {
            let eff = format!("2026-11-{day}T00:00:00Z");
            ids.push(
                t.store
                    .record_collection(started, &new(&big, &eff))
                    .unwrap(),
            );
        }
        // Another client with the same bytes shares the payload too.
        t.store
            .add_evidence(&NewEvidence {
                client: "globex",
                ..new(&big, "2026-11-20T00:00:00Z")
            })
            .unwrap();
        assert_eq!(count(&t.store, "evidence"), 5);
        assert_eq!(count(&t.store, "payloads"), 1);
        let (stored, encoding): (i64, String) = t
            .store
            .conn
            .query_row(
                "SELECT sum(length(payload)), encoding FROM payloads",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(stored < 1_000, "one copy, compressed: {stored} bytes");
        assert_eq!(encoding, "zstd");
        for id in &ids {
            assert_eq!(
                t.store.evidence(*id).unwrap().unwrap().unwrap().payload,
                big
            );
        }
        let report = t.store.verify_chain().unwrap();
        assert_eq!((report.rows, report.broken), (5, None));
    }

    #[test]
    fn an_intact_payload_the_memory_cannot_hold_is_an_error_and_an_edited_one_still_tampered() {
        let mut t = temp_store();
        let export: Vec<u8> = (0..2_000)
            .flat_map(|i| format!("{{\"id\":{i},\"isMfaRegistered\":true}},").into_bytes())
            .collect();
        let id = t
            .store
            .record_collection(
                ts("2026-11-23T09:59:59Z"),
                &new(&export, "2026-11-20T00:00:00Z"),
            )
            .unwrap();
        let header = t
            .store
            .snapshot_headers("acme", "mfa_export", None)
            .unwrap()
            .remove(0)
            .unwrap();
        payload::tests::REFUSE_MEMORY.set(true);
        let error = t.store.payload(&header).unwrap_err();
        assert!(
            matches!(error, StoreError::NoRoom { bytes, .. } if bytes == export.len() as u64),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("it is intact and is read again on the next pass")
        );
        // Through the chain's reading of rows: the reason is the error's source.
        let error = t.store.evidence(id).unwrap_err();
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            source
                .as_deref()
                .unwrap_or_default()
                .starts_with("not enough memory"),
            "{error}: {source:?}"
        );

        // One byte of the frame changed: whatever memory there is, it is tampering.
        let mut frame: Vec<u8> = t
            .store
            .conn
            .query_row("SELECT payload FROM payloads", [], |r| r.get(0))
            .unwrap();
        let last = frame.len() - 8;
        frame[last] ^= 0x5a;
        t.store
            .conn
            .execute_batch("DROP TRIGGER payloads_no_update")
            .unwrap();
        t.store
            .conn
            .execute("UPDATE payloads SET payload = ?1", rusqlite::params![frame])
            .unwrap();
        assert_eq!(
            t.store.payload(&header).unwrap(),
            Err(tampered(id, Tamper::PayloadHash))
        );
        assert_eq!(
            t.store.evidence(id).unwrap().unwrap(),
            Err(tampered(id, Tamper::PayloadHash))
        );
        payload::tests::REFUSE_MEMORY.set(false);
        assert_eq!(
            t.store.payload(&header).unwrap(),
            Err(tampered(id, Tamper::PayloadHash))
        );
    }

    #[test]
    fn a_compressed_payload_reads_as_collected_and_any_edit_of_it_is_tampering() {
        let mut t = temp_store();
        let started = ts("2026-11-23T09:59:59Z");
        let export: Vec<u8> = (0..2_000)
            .flat_map(|i| format!("{{\"id\":{i},\"isMfaRegistered\":true}},").into_bytes())
            .collect();
        let id = t
            .store
            .record_collection(started, &new(&export, "2026-11-20T00:00:00Z"))
            .unwrap();
        let header = t
            .store
            .snapshot_headers("acme", "mfa_export", None)
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(t.store.payload(&header).unwrap().unwrap(), export);
        assert_eq!(
            t.store.evidence(id).unwrap().unwrap().unwrap().payload,
            export
        );
        assert_eq!(t.store.verify_chain().unwrap().broken, None);

        let frame: Vec<u8> = t
            .store
            .conn
            .query_row("SELECT payload FROM payloads", [], |r| r.get(0))
            .unwrap();
        t.store
            .conn
            .execute_batch("DROP TRIGGER payloads_no_update")
            .unwrap();
        let edits: [(&str, &dyn rusqlite::ToSql); 3] = [
            // The frame replaced by the export itself, still marked as a frame.
            ("payload", &export),
            // The frame cut short.
            ("payload", &frame[..frame.len() / 2].to_vec()),
            // The frame read as if it were the collected bytes.
            ("encoding", &"identity"),
        ];
        for (column, value) in edits {
            t.store
                .conn
                .execute(
                    &format!("UPDATE payloads SET {column} = ?1"),
                    rusqlite::params![value],
                )
                .unwrap();
            assert_eq!(
                t.store.payload(&header).unwrap(),
                Err(tampered(id, Tamper::PayloadHash)),
                "{column}"
            );
            assert_eq!(
                t.store.evidence(id).unwrap().unwrap(),
                Err(tampered(id, Tamper::PayloadHash)),
                "{column}"
            );
            assert_eq!(
                t.store.verify_chain().unwrap().broken.map(|(id, _)| id),
                Some(id),
                "{column}"
            );
            t.store
                .conn
                .execute(
                    "UPDATE payloads SET payload = ?1, encoding = 'zstd'",
                    rusqlite::params![frame],
                )
                .unwrap();
        }
        assert_eq!(t.store.verify_chain().unwrap().broken, None, "restored");
    }

    #[test]
    fn a_payload_stored_before_compression_reads_verifies_and_is_not_stored_again() {
        let mut t = temp_store();
        let started = ts("2026-11-23T09:59:59Z");
        let export = vec![b'x'; 10_000];
        let first = t
            .store
            .record_collection(started, &new(&export, "2026-11-20T00:00:00Z"))
            .unwrap();
        // As migration 0018 leaves a payload stored before it: the bytes as collected.
        t.store
            .conn
            .execute_batch("DROP TRIGGER payloads_no_update")
            .unwrap();
        t.store
            .conn
            .execute(
                "UPDATE payloads SET payload = ?1, encoding = 'identity'",
                [&export],
            )
            .unwrap();
        let again = t
            .store
            .record_collection(started, &new(&export, "2026-11-21T00:00:00Z"))
            .unwrap();
        for id in [first, again] {
            assert_eq!(
                t.store.evidence(id).unwrap().unwrap().unwrap().payload,
                export
            );
        }
        let (rows, encoding): (i64, String) = t
            .store
            .conn
            .query_row("SELECT count(*), max(encoding) FROM payloads", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((rows, encoding.as_str()), (1, "identity"));
        assert_eq!(t.store.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn headers_check_the_chain_and_the_payload_is_checked_when_read() {
        let mut t = temp_store();
        let ids = three_rows_unprotected(&mut t);
        let headers = t
            .store
            .snapshot_headers("acme", "mfa_export", None)
            .unwrap();
        let headers: Vec<EvidenceHeader> = headers.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            headers.iter().map(|h| h.id).collect::<Vec<_>>(),
            ids,
            "the rows snapshots reads"
        );
        assert_eq!(headers[1].sha256, sha256_hex(b"two"));
        assert_eq!(t.store.payload(&headers[1]).unwrap().unwrap(), b"two");

        edit_payload(&t.store, ids[1], "TWO");
        assert_eq!(
            t.store.payload(&headers[1]).unwrap(),
            Err(tampered(ids[1], Tamper::PayloadHash))
        );
        // A payload removed is as bad as one edited (the foreign key refuses that too).
        t.store
            .conn
            .pragma_update(None, "foreign_keys", "OFF")
            .unwrap();
        t.store
            .conn
            .execute(
                "DELETE FROM payloads WHERE sha256 = ?1",
                [sha256_hex(b"six")],
            )
            .unwrap();
        assert_eq!(
            t.store.payload(&headers[2]).unwrap(),
            Err(tampered(ids[2], Tamper::PayloadHash))
        );
        assert_eq!(
            t.store.evidence(ids[2]).unwrap(),
            Some(Err(tampered(ids[2], Tamper::PayloadHash)))
        );
        assert_eq!(
            t.store.verify_chain().unwrap().broken,
            Some((
                ids[1],
                "payload does not match its recorded sha256".to_owned()
            ))
        );

        // A field edit shows in the headers without any payload being read.
        t.store
            .conn
            .execute(
                "UPDATE evidence SET origin = 'elsewhere' WHERE id = ?1",
                [ids[0].0],
            )
            .unwrap();
        let headers = t
            .store
            .snapshot_headers("acme", "mfa_export", None)
            .unwrap();
        assert!(
            matches!(&headers[0], Err(bad) if bad.problem == Tamper::ChainValue),
            "{headers:?}"
        );
        assert!(headers[1].is_ok(), "its payload is its reader's to check");
    }

    #[test]
    fn data_version_moves_with_other_connections_writes_only() {
        let mut t = temp_store();
        let before = t.store.data_version().unwrap();
        t.store
            .add_evidence(&new(b"own", "2026-11-20T00:00:00Z"))
            .unwrap();
        assert_eq!(t.store.data_version().unwrap(), before, "its own write");
        let other = rusqlite::Connection::open(&t.path).unwrap();
        other
            .execute_batch("CREATE TABLE scratch (x); DROP TABLE scratch;")
            .unwrap();
        assert_ne!(t.store.data_version().unwrap(), before, "another's write");
    }

    #[test]
    fn migration_moves_payloads_out_keeping_ids_chain_and_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        rusqlite_migration::Migrations::new(super::super::MIGRATION_LIST[..6].to_vec())
            .to_latest(&mut conn)
            .unwrap();
        // Rows as the schema before 0012 stored them: each with its own copy.
        let mut prev = GENESIS.to_owned();
        for (i, payload) in [&b"same"[..], b"other", b"same"].iter().enumerate() {
            let sha = sha256_hex(payload);
            let eff = format!("2026-11-2{i}T00:00:00Z");
            let chain = chain_link(
                &prev,
                &ChainFields {
                    client: "acme",
                    source: "mfa_export",
                    fetched_at: "2026-11-23T10:00:00Z",
                    effective_at: &eff,
                    media_type: "text/csv",
                    origin: "/srv/exports/mfa.csv",
                    sha256: &sha,
                },
            );
            conn.execute(
                "INSERT INTO evidence (client, source, fetched_at, effective_at, media_type,
                                       origin, sha256, payload, prev_chain, chain)
                 VALUES ('acme', 'mfa_export', '2026-11-23T10:00:00Z', ?1, 'text/csv',
                         '/srv/exports/mfa.csv', ?2, ?3, ?4, ?5)",
                params![eff, sha, payload, prev, chain],
            )
            .unwrap();
            prev = chain;
        }
        conn.execute(
            "INSERT INTO source_runs (client, source, started_at, finished_at, outcome,
                                      evidence_id)
             VALUES ('acme', 'mfa_export', '2026-11-23T10:00:00Z', '2026-11-23T10:00:00Z',
                     'ok', 3)",
            [],
        )
        .unwrap();
        drop(conn);

        let mut store = Store::open(&path).unwrap();
        assert_eq!(count(&store, "payloads"), 2);
        let report = store.verify_chain().unwrap();
        assert_eq!((report.rows, report.broken.clone()), (3, None));
        assert_eq!(
            report.head.as_ref().unwrap().chain,
            prev,
            "chain values unchanged"
        );
        let read: Vec<(EvidenceId, Vec<u8>)> = store
            .snapshots("acme", "mfa_export", None)
            .unwrap()
            .into_iter()
            .map(|row| {
                let row = row.unwrap();
                (row.id, row.payload)
            })
            .collect();
        assert_eq!(
            read,
            vec![
                (EvidenceId(1), b"same".to_vec()),
                (EvidenceId(2), b"other".to_vec()),
                (EvidenceId(3), b"same".to_vec())
            ]
        );
        let next = store
            .add_evidence(&new(b"fourth", "2026-11-24T00:00:00Z"))
            .unwrap();
        assert_eq!(next, EvidenceId(4), "ids continue");
        assert_eq!(store.verify_chain().unwrap().broken, None);
        let refused = store
            .conn
            .execute("UPDATE payloads SET payload = x'00'", [])
            .unwrap_err();
        assert!(refused.to_string().contains("immutable"), "{refused}");
    }

    #[test]
    fn changed_content_or_effective_time_is_a_new_row() {
        let mut t = temp_store();
        let started = ts("2026-11-23T09:59:59Z");
        let a = t
            .store
            .record_collection(started, &new(b"v1", "2026-11-20T00:00:00Z"))
            .unwrap();
        let b = t
            .store
            .record_collection(started, &new(b"v2", "2026-11-20T00:00:00Z"))
            .unwrap();
        let c = t
            .store
            .record_collection(started, &new(b"v2", "2026-11-21T00:00:00Z"))
            .unwrap();
        assert!(a < b && b < c);
        assert_eq!(count(&t.store, "evidence"), 3);
        // Going back to old content is new evidence too: the newest row is what counts.
        let d = t
            .store
            .record_collection(started, &new(b"v1", "2026-11-20T00:00:00Z"))
            .unwrap();
        assert!(d > c);
        // The same bytes for the same instant from another file (or the same file spelled
        // anew) are a row of their own; from the same one again, none.
        let mut moved = new(b"v1", "2026-11-20T00:00:00Z");
        moved.origin = "/srv/exports/moved/mfa.json";
        let e = t.store.record_collection(started, &moved).unwrap();
        assert!(e > d);
        assert_eq!(t.store.record_collection(started, &moved).unwrap(), e);
        assert_eq!(count(&t.store, "evidence"), 5);
        assert_eq!(t.store.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn stored_evidence_round_trips() {
        let mut t = temp_store();
        let mut e = new(b"\x00\xffbytes", "2026-11-20T00:00:00.75Z");
        e.origin = "manual upload by alice: quarterly review";
        let id = t.store.add_evidence(&e).unwrap();
        let stored = t.store.evidence(id).unwrap().unwrap().unwrap();
        assert_eq!(stored.id, id);
        assert_eq!(stored.client, "acme");
        assert_eq!(stored.source, "mfa_export");
        assert_eq!(stored.fetched_at, ts("2026-11-23T10:00:00Z"));
        assert_eq!(
            stored.effective_at,
            ts("2026-11-20T00:00:00Z"),
            "whole seconds"
        );
        assert_eq!(stored.media_type, "text/csv");
        assert_eq!(stored.origin, "manual upload by alice: quarterly review");
        assert_eq!(stored.sha256, sha256_hex(b"\x00\xffbytes"));
        assert_eq!(stored.payload, b"\x00\xffbytes");
        assert_eq!(t.store.evidence(EvidenceId(999)).unwrap(), None);
    }

    #[test]
    fn manual_evidence_is_always_new_and_has_no_run() {
        let mut t = temp_store();
        let e = new(b"same", "2026-11-20T00:00:00Z");
        let a = t.store.add_evidence(&e).unwrap();
        let b = t.store.add_evidence(&e).unwrap();
        assert_ne!(a, b);
        assert_eq!(count(&t.store, "source_runs"), 0);
    }

    #[test]
    fn evidence_cannot_be_updated_or_deleted() {
        let mut t = temp_store();
        let id = t
            .store
            .add_evidence(&new(b"x", "2026-11-20T00:00:00Z"))
            .unwrap();
        for sql in [
            "UPDATE evidence SET origin = 'elsewhere' WHERE id = ?1",
            "DELETE FROM evidence WHERE id = ?1",
            "UPDATE payloads SET payload = x'00'
             WHERE sha256 = (SELECT sha256 FROM evidence WHERE id = ?1)",
            "DELETE FROM payloads WHERE sha256 = (SELECT sha256 FROM evidence WHERE id = ?1)",
        ] {
            let refused = t.store.conn.execute(sql, [id.0]).unwrap_err();
            assert!(
                refused.to_string().contains("immutable"),
                "{sql}: {refused}"
            );
        }
        assert_eq!(
            t.store.evidence(id).unwrap().unwrap().unwrap().payload,
            b"x"
        );
    }

    #[test]
    fn verify_chain_finds_tampering() {
        let mut t = temp_store();
        let empty = t.store.verify_chain().unwrap();
        assert_eq!(
            empty,
            ChainReport {
                rows: 0,
                broken: None,
                head: None
            }
        );
        let mut ids = Vec::new();
        for (i, payload) in [b"one", b"two", b"six"].iter().enumerate() {
            let eff = format!("2026-11-2{i}T00:00:00Z");
            ids.push(t.store.add_evidence(&new(*payload, &eff)).unwrap());
        }
        let clean = t.store.verify_chain().unwrap();
        assert_eq!(clean.rows, 3);
        assert_eq!(clean.broken, None);
        let head = clean.head.unwrap();
        assert_eq!(head.chain.len(), 64);
        assert_eq!(head.id, ids[2]);

        t.store
            .conn
            .execute_batch("DROP TRIGGER evidence_no_update; DROP TRIGGER payloads_no_update")
            .unwrap();
        edit_payload(&t.store, ids[1], "TWO");
        let report = t.store.verify_chain().unwrap();
        assert_eq!(report.rows, 3);
        assert_eq!(report.head, None);
        let (id, what) = report.broken.unwrap();
        assert_eq!(id, ids[1]);
        assert!(what.contains("sha256"), "{what}");

        // Re-hashing the payload is not enough: the chain covers the hash.
        t.store
            .conn
            .execute(
                "INSERT INTO payloads (sha256, payload) VALUES (?1, CAST('TWO' AS BLOB))",
                [sha256_hex(b"TWO")],
            )
            .unwrap();
        t.store
            .conn
            .execute(
                "UPDATE evidence SET sha256 = ?1 WHERE id = ?2",
                params![sha256_hex(b"TWO"), ids[1].0],
            )
            .unwrap();
        let (id, what) = t.store.verify_chain().unwrap().broken.unwrap();
        assert_eq!(id, ids[1]);
        assert!(what.contains("chain does not match"), "{what}");
    }

    /// Three rows of acme/mfa_export dated a day apart, the update trigger dropped.
    fn three_rows_unprotected(t: &mut super::super::test_util::TempStore) -> Vec<EvidenceId> {
        let ids = ["one", "two", "six"]
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let eff = format!("2026-11-2{i}T00:00:00Z");
                t.store
                    .add_evidence(&new(payload.as_bytes(), &eff))
                    .unwrap()
            })
            .collect();
        t.store
            .conn
            .execute_batch(
                "DROP TRIGGER evidence_no_update; DROP TRIGGER evidence_no_delete;
                 DROP TRIGGER payloads_no_update; DROP TRIGGER payloads_no_delete",
            )
            .unwrap();
        ids
    }

    /// What `snapshots` of acme/mfa_export returns: the id of each intact row, the
    /// `Tampered` of each other one.
    fn read_all(store: &Store) -> Vec<Result<EvidenceId, Tampered>> {
        store
            .snapshots("acme", "mfa_export", None)
            .unwrap()
            .into_iter()
            .map(|row| row.map(|row| row.id))
            .collect()
    }

    fn tampered(id: EvidenceId, problem: Tamper) -> Tampered {
        Tampered {
            id,
            client: "acme".to_owned(),
            source: "mfa_export".to_owned(),
            origin: "/srv/exports/mfa.csv".to_owned(),
            problem,
        }
    }

    #[test]
    fn a_payload_edited_in_the_database_is_refused_on_read() {
        let mut t = temp_store();
        let ids = three_rows_unprotected(&mut t);
        edit_payload(&t.store, ids[1], "TWO");
        let bad = tampered(ids[1], Tamper::PayloadHash);
        assert_eq!(
            read_all(&t.store),
            vec![Ok(ids[0]), Err(bad.clone()), Ok(ids[2])]
        );
        assert_eq!(
            bad.to_string(),
            format!(
                "evidence {} (`/srv/exports/mfa.csv`) does not match its recorded hash: it was \
                 altered in the database; it is not used. Run `dutywatch evidence verify`",
                ids[1]
            )
        );
        assert_eq!(t.store.evidence(ids[1]).unwrap(), Some(Err(bad)));
        assert!(t.store.evidence(ids[0]).unwrap().unwrap().is_ok());
    }

    #[test]
    fn a_chain_field_edited_in_the_database_is_refused_on_read() {
        let mut t = temp_store();
        let ids = three_rows_unprotected(&mut t);
        // Made to look fresher: the payload still matches its hash, the chain does not.
        t.store
            .conn
            .execute(
                "UPDATE evidence SET effective_at = '2026-11-22T12:00:00Z' WHERE id = ?1",
                [ids[1].0],
            )
            .unwrap();
        let bad = tampered(ids[1], Tamper::ChainValue);
        assert_eq!(
            read_all(&t.store),
            vec![Ok(ids[0]), Ok(ids[2]), Err(bad.clone())],
            "in its (edited) place by effective_at"
        );
        assert_eq!(
            bad.to_string(),
            format!(
                "evidence {} (`/srv/exports/mfa.csv`) does not match its recorded chain value: \
                 its dates, origin or hash were altered in the database; it is not used. Run \
                 `dutywatch evidence verify`",
                ids[1]
            )
        );
    }

    #[test]
    fn a_row_rewritten_with_its_hash_and_chain_is_refused_on_read() {
        let mut t = temp_store();
        let ids = three_rows_unprotected(&mut t);
        let prev: String = t
            .store
            .conn
            .query_row(
                "SELECT prev_chain FROM evidence WHERE id = ?1",
                [ids[1].0],
                |r| r.get(0),
            )
            .unwrap();
        let sha = sha256_hex(b"TWO");
        let chain = chain_link(
            &prev,
            &ChainFields {
                client: "acme",
                source: "mfa_export",
                fetched_at: "2026-11-23T10:00:00Z",
                effective_at: "2026-11-21T00:00:00Z",
                media_type: "text/csv",
                origin: "/srv/exports/mfa.csv",
                sha256: &sha,
            },
        );
        t.store
            .conn
            .execute(
                "INSERT INTO payloads (sha256, payload) VALUES (?1, CAST('TWO' AS BLOB))",
                [&sha],
            )
            .unwrap();
        t.store
            .conn
            .execute(
                "UPDATE evidence SET sha256 = ?1, chain = ?2 WHERE id = ?3",
                params![sha, chain, ids[1].0],
            )
            .unwrap();
        // Consistent in itself, but the next row still links to the old chain value.
        assert_eq!(
            read_all(&t.store),
            vec![
                Ok(ids[0]),
                Err(tampered(ids[1], Tamper::ChainLink)),
                Err(tampered(ids[2], Tamper::ChainLink))
            ]
        );
    }

    #[test]
    fn the_rows_around_a_removed_row_are_refused_on_read() {
        let mut t = temp_store();
        let ids = three_rows_unprotected(&mut t);
        t.store
            .conn
            .execute("DELETE FROM evidence WHERE id = ?1", [ids[1].0])
            .unwrap();
        let text = tampered(ids[2], Tamper::ChainLink).to_string();
        assert!(
            text.contains("does not match its chain links to the rows before and after it"),
            "{text}"
        );
        assert_eq!(
            read_all(&t.store),
            vec![
                Err(tampered(ids[0], Tamper::ChainLink)),
                Err(tampered(ids[2], Tamper::ChainLink))
            ]
        );
    }

    #[test]
    fn incremental_verification_checks_the_verified_row_and_what_came_after() {
        let mut t = temp_store();
        let ids = three_rows_unprotected(&mut t);
        let full = t.store.verify_chain().unwrap();
        let head = full.head.clone().unwrap();
        assert_eq!(head.id, ids[2]);
        // Nothing new: only the verified row is looked at again.
        assert_eq!(
            t.store.verify_chain_from(Some(&head)).unwrap(),
            ChainReport { rows: 1, ..full }
        );
        let four = t
            .store
            .add_evidence(&new(b"ten", "2026-11-23T00:00:00Z"))
            .unwrap();
        let next = t.store.verify_chain_from(Some(&head)).unwrap();
        assert_eq!((next.rows, next.broken.clone()), (2, None));
        assert_eq!(next.head.as_ref().unwrap().id, four);
        assert_eq!(next, {
            let mut full = t.store.verify_chain().unwrap();
            full.rows = 2;
            full
        });

        // An edit of the verified row itself shows.
        t.store
            .conn
            .execute(
                "UPDATE evidence SET effective_at = '2026-11-25T00:00:00Z' WHERE id = ?1",
                [four.0],
            )
            .unwrap();
        let head = next.head.unwrap();
        let report = t.store.verify_chain_from(Some(&head)).unwrap();
        assert_eq!(
            report.broken,
            Some((
                four,
                "chain does not match the row's recorded fields".to_owned()
            ))
        );
        assert_eq!(report.head, None);
        // So does a different chain value in its place, and its removal.
        let rewritten = ChainPosition {
            id: four,
            chain: GENESIS.to_owned(),
        };
        assert_eq!(
            t.store.verify_chain_from(Some(&rewritten)).unwrap().broken,
            Some((
                four,
                "chain is not the value verified earlier (the row was rewritten)".to_owned()
            ))
        );
        t.store
            .conn
            .execute("DELETE FROM evidence WHERE id = ?1", [four.0])
            .unwrap();
        assert_eq!(
            t.store.verify_chain_from(Some(&head)).unwrap().broken,
            Some((
                four,
                format!("row {four}, verified earlier, is gone (removed from the database)")
            ))
        );
        // The full check cannot see the removed newest row; a recorded head can.
        assert_eq!(t.store.verify_chain().unwrap().broken, None);
        assert_eq!(t.store.chain_contains(&head.chain).unwrap(), None);
        assert_eq!(
            t.store.chain_contains(&full_head(&t.store)).unwrap(),
            Some(ids[2])
        );
    }

    fn full_head(store: &Store) -> String {
        store.verify_chain().unwrap().head.unwrap().chain
    }

    #[test]
    fn verify_chain_finds_removed_rows() {
        let mut t = temp_store();
        let mut ids = Vec::new();
        for payload in [b"one", b"two", b"six"] {
            ids.push(
                t.store
                    .add_evidence(&new(payload, "2026-11-20T00:00:00Z"))
                    .unwrap(),
            );
        }
        t.store
            .conn
            .execute_batch("DROP TRIGGER evidence_no_delete")
            .unwrap();
        t.store
            .conn
            .execute("DELETE FROM evidence WHERE id = ?1", [ids[1].0])
            .unwrap();
        let report = t.store.verify_chain().unwrap();
        assert_eq!(report.rows, 2);
        let (id, what) = report.broken.unwrap();
        assert_eq!(id, ids[2]);
        assert!(what.contains("prev_chain"), "{what}");
    }

    #[test]
    fn chain_encoding_is_unambiguous() {
        let fields = |client, source| ChainFields {
            client,
            source,
            fetched_at: "t",
            effective_at: "t",
            media_type: "m",
            origin: "o",
            sha256: "s",
        };
        assert_ne!(
            chain_link(GENESIS, &fields("ab", "c")),
            chain_link(GENESIS, &fields("a", "bc"))
        );
        assert_ne!(
            chain_link(GENESIS, &fields("a,", "b")),
            chain_link(GENESIS, &fields("a", ",b"))
        );
    }

    #[test]
    fn snapshots_window() {
        let mut t = temp_store();
        let started = ts("2026-11-23T00:00:00Z");
        let mut record = |payload: &[u8], eff: &str| {
            t.store
                .record_collection(started, &new(payload, eff))
                .unwrap()
        };
        let jan = record(b"jan", "2026-01-01T00:00:00Z");
        let feb = record(b"feb", "2026-02-01T00:00:00Z");
        let mar = record(b"mar", "2026-03-01T00:00:00Z");
        // Recorded last but speaks for an earlier instant (a backdated export).
        let feb2 = record(b"feb2", "2026-02-15T00:00:00Z");
        // Another source and another client are not mixed in.
        t.store
            .add_evidence(&NewEvidence {
                source: "other",
                ..new(b"x", "2026-02-20T00:00:00Z")
            })
            .unwrap();
        t.store
            .add_evidence(&NewEvidence {
                client: "globex",
                ..new(b"x", "2026-02-20T00:00:00Z")
            })
            .unwrap();

        let ids = |since: Option<&str>| -> Vec<EvidenceId> {
            t.store
                .snapshots("acme", "mfa_export", since.map(ts))
                .unwrap()
                .into_iter()
                .map(|s| s.unwrap().id)
                .collect()
        };
        assert_eq!(ids(None), vec![jan, feb, feb2, mar]);
        // The newest row before the window start, then everything inside.
        assert_eq!(ids(Some("2026-02-10T00:00:00Z")), vec![feb, feb2, mar]);
        // A row exactly at the start is inside, and the newest older one still comes along.
        assert_eq!(ids(Some("2026-02-01T00:00:00Z")), vec![jan, feb, feb2, mar]);
        // A window after all evidence still sees the state at its start.
        assert_eq!(ids(Some("2026-06-01T00:00:00Z")), vec![mar]);
        assert_eq!(ids(Some("2025-01-01T00:00:00Z")), vec![jan, feb, feb2, mar]);
        assert!(
            t.store
                .snapshots("acme", "nothing", None)
                .unwrap()
                .is_empty()
        );
    }
}
