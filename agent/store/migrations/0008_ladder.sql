-- The escalation ladder, acknowledgements and silences, and mails people can act on.
--
-- A lapse thread is one episode of one duty (subject '') or one subject needing attention,
-- from its first mail until it is resolved; its mails share a root Message-ID made of its
-- random token, so mail clients show them as one conversation. At most one thread per unit
-- is open at a time.
CREATE TABLE ladder_threads (
    id           INTEGER PRIMARY KEY,
    client       TEXT NOT NULL,
    duty         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    token        TEXT NOT NULL,
    opened_at    TEXT NOT NULL,
    -- 0 responsible, 1 accountable, 2 management: the widest reach of a mail so far.
    reached      INTEGER NOT NULL,
    management   INTEGER NOT NULL DEFAULT 0,
    repeats      INTEGER NOT NULL DEFAULT 0,
    last_mail_at TEXT NOT NULL,
    closed_at    TEXT
) STRICT;
CREATE UNIQUE INDEX ladder_threads_open ON ladder_threads (client, duty, subject)
    WHERE closed_at IS NULL;

-- Each step of a thread happens once: its key (`notice:lapsed`, `management`, `repeat:2`,
-- `resolved`) is unique within the thread, and the mail it went out in is decided in the same
-- transaction.
CREATE TABLE ladder_steps (
    id            INTEGER PRIMARY KEY,
    thread_id     INTEGER NOT NULL REFERENCES ladder_threads (id),
    step          TEXT NOT NULL,
    at            TEXT NOT NULL,
    escalation_id INTEGER REFERENCES escalations (id),
    UNIQUE (thread_id, step)
) STRICT;

-- "Seen, working on it" (ack: no management step, no repeats) and planned work (silence:
-- nothing but the resolution). Never deleted: who said what and when stays on record.
CREATE TABLE acks (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('ack', 'silence')),
    client     TEXT NOT NULL,
    duty       TEXT NOT NULL,
    -- NULL: the whole duty, every subject.
    subject    TEXT,
    by_name    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    until      TEXT,
    -- Set when the thread it was about was resolved.
    ended_at   TEXT,
    CHECK (kind = 'ack' OR until IS NOT NULL)
) STRICT;
CREATE INDEX acks_by_duty ON acks (client, duty);

-- A mail's HTML alternative and its thread headers. `message_id` set means this mail opens
-- a thread (its root); otherwise the row's own id is used as before.
ALTER TABLE outbox ADD COLUMN html_body TEXT;
ALTER TABLE outbox ADD COLUMN message_id TEXT;
ALTER TABLE outbox ADD COLUMN in_reply_to TEXT;
ALTER TABLE outbox ADD COLUMN mail_references TEXT NOT NULL DEFAULT '[]';
