-- Payloads stored once by content. An API source gets a new `effective_at` on every call, so
-- each collection of unchanged data was a new evidence row holding a full copy of the payload;
-- now the row holds only its fields and chain and names its payload by SHA-256, and a payload
-- already stored is not stored again. The chain already covers `sha256`, so every chain value
-- stays what it was and `evidence verify` checks the same links as before; reading a payload
-- still checks its bytes against the hash (agent/store/evidence.rs).
CREATE TABLE payloads (
    id      INTEGER PRIMARY KEY,
    sha256  TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL
) STRICT;

-- The payload of each existing row moves into `payloads`, once per hash, the oldest row's
-- copy first. (Two rows with one recorded hash and different bytes means one of them was
-- edited; the edited copy fails its hash check on read if it is the one kept.)
INSERT OR IGNORE INTO payloads (sha256, payload)
    SELECT sha256, payload FROM evidence ORDER BY id;

-- The table is rebuilt without `payload` and with `sha256` referring to the payload, which
-- SQLite's ALTER TABLE cannot add (foreign keys are off while migrations run;
-- `foreign_key_check` runs after this one: `source_runs` refers to evidence ids, which are
-- kept).
CREATE TABLE evidence_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    client       TEXT NOT NULL,
    source       TEXT NOT NULL,
    fetched_at   TEXT NOT NULL,
    effective_at TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    origin       TEXT NOT NULL,
    sha256       TEXT NOT NULL REFERENCES payloads (sha256),
    prev_chain   TEXT NOT NULL,
    chain        TEXT NOT NULL UNIQUE
) STRICT;

INSERT INTO evidence_new (id, client, source, fetched_at, effective_at, media_type, origin,
                          sha256, prev_chain, chain)
    SELECT id, client, source, fetched_at, effective_at, media_type, origin, sha256,
           prev_chain, chain
      FROM evidence ORDER BY id;
-- Evidence ids are never handed out twice: the new table continues the old sequence.
UPDATE sqlite_sequence
   SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'evidence'), 0))
 WHERE name = 'evidence_new';
DROP TABLE evidence;
ALTER TABLE evidence_new RENAME TO evidence;

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

CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads
BEGIN
    SELECT RAISE(ABORT, 'evidence is immutable: payloads cannot be updated');
END;

CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads
BEGIN
    SELECT RAISE(ABORT, 'evidence is immutable: payloads cannot be deleted');
END;
