-- dutywatch schema, version 1.
--
-- Timestamps are RFC 3339 TEXT in UTC with whole seconds ("2026-11-23T09:00:00Z"): one fixed
-- width, so text order is time order and `<`/`>=` compare instants. Only store/ writes them.
-- Tables are STRICT so a stray write of the wrong type fails instead of being coerced.

-- Evidence exactly as collected. Rows are never changed or removed (the triggers below), and
-- each row's `chain` hashes the previous row's `chain` with this row's fields, so rewriting,
-- removing or reordering history shows up in `dutywatch verify` (Store::verify_chain).
-- AUTOINCREMENT: evidence ids are cited in verdicts, so an id must never be handed out twice.
CREATE TABLE evidence (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    client       TEXT NOT NULL,
    source       TEXT NOT NULL,
    fetched_at   TEXT NOT NULL,
    effective_at TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    origin       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    payload      BLOB NOT NULL,
    prev_chain   TEXT NOT NULL,
    chain        TEXT NOT NULL UNIQUE
) STRICT;

-- Dedupe looks at the newest row by insertion; snapshots walk effective_at.
CREATE INDEX evidence_by_insertion ON evidence (client, source, id);
CREATE INDEX evidence_by_effective ON evidence (client, source, effective_at, id);

CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is immutable: rows cannot be updated');
END;

CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is immutable: rows cannot be deleted');
END;

-- One row per collector run, successful or not: the collector's health and the scheduler's
-- catch-up point. A successful run points at the evidence it produced (or re-confirmed).
CREATE TABLE source_runs (
    id          INTEGER PRIMARY KEY,
    client      TEXT NOT NULL,
    source      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
    evidence_id INTEGER REFERENCES evidence (id),
    error       TEXT,
    CHECK (outcome <> 'ok' OR (evidence_id IS NOT NULL AND error IS NULL)),
    CHECK (outcome <> 'error' OR (evidence_id IS NULL AND error IS NOT NULL))
) STRICT;

CREATE INDEX source_runs_by_source ON source_runs (client, source, id);
CREATE INDEX source_runs_by_source_outcome ON source_runs (client, source, outcome, id);

-- The latest verdict of every configured duty, rewritten on each evaluation.
CREATE TABLE duty_state (
    client       TEXT NOT NULL,
    duty         TEXT NOT NULL,
    state        TEXT NOT NULL,
    state_since  TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    PRIMARY KEY (client, duty)
) STRICT;

-- One row per change of a duty's state kind, not per evaluation.
CREATE TABLE verdict_history (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    client  TEXT NOT NULL,
    duty    TEXT NOT NULL,
    state   TEXT NOT NULL,
    at      TEXT NOT NULL,
    verdict TEXT NOT NULL
) STRICT;

CREATE INDEX verdict_history_by_duty ON verdict_history (client, duty, id);

-- A state change somebody is told about. UNIQUE (history_id): one change, at most one mail.
CREATE TABLE escalations (
    id         INTEGER PRIMARY KEY,
    history_id INTEGER NOT NULL UNIQUE REFERENCES verdict_history (id),
    client     TEXT NOT NULL,
    duty       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX escalations_by_client ON escalations (client);

-- Mail decided but maybe not yet delivered; written in the same transaction as the
-- escalation, so a crash can delay a mail but never lose it (delivery is at-least-once:
-- a crash between the relay's acceptance and recording it sends it once more).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    escalation_id   INTEGER NOT NULL UNIQUE REFERENCES escalations (id),
    mail_to         TEXT NOT NULL,  -- JSON array of addresses
    mail_cc         TEXT NOT NULL,  -- JSON array of addresses
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    last_attempt_at TEXT,
    sent_at         TEXT,
    last_error      TEXT
) STRICT;

CREATE INDEX outbox_unsent ON outbox (next_attempt_at) WHERE sent_at IS NULL;
