-- Mail that no verdict change decides: an incident's hour-by-hour warnings, a ladder's repeat,
-- the weekly digest. Each has a key that names the decision itself ("the 48-hour warning of
-- incident INC-7", "the digest of week 2026-W49 for the MSP"), and UNIQUE(mail_key) makes it
-- happen once however many passes, restarts or daemons decide it again. A verdict change keeps
-- its history row; a keyed escalation may have none. SQLite cannot drop NOT NULL in place, so
-- the table is rebuilt (foreign keys are off while migrations run; `foreign_key_check` runs
-- after this one).
CREATE TABLE escalations_new (
    id         INTEGER PRIMARY KEY,
    history_id INTEGER UNIQUE REFERENCES verdict_history (id),
    mail_key   TEXT UNIQUE,
    client     TEXT NOT NULL,
    duty       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (history_id IS NOT NULL OR mail_key IS NOT NULL)
) STRICT;

INSERT INTO escalations_new (id, history_id, client, duty, state, created_at)
    SELECT id, history_id, client, duty, state, created_at FROM escalations;
DROP TABLE escalations;
ALTER TABLE escalations_new RENAME TO escalations;
CREATE INDEX escalations_by_client ON escalations (client);
