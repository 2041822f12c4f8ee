-- Verdicts per subject: a duty is judged per user, device, patch, table, policy or incident, and
-- each subject has its own state, so a second incident or a second failing device is news even
-- while the duty as a whole is already due soon or lapsed.

-- The latest state of each subject of each duty, rewritten on each evaluation that judges
-- subjects (an evaluation that cannot, such as a failed collector, leaves them as they were).
CREATE TABLE subject_state (
    client       TEXT NOT NULL,
    duty         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    state        TEXT NOT NULL,
    state_since  TEXT NOT NULL,
    due          TEXT,
    reason       TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    -- The event record (JSON, the kind's field names) kept while its clock is open, so an
    -- incident that leaves the export is still checked until all its steps are done.
    record       TEXT,
    -- When the subject left the evidence; NULL while it is in it.
    gone_at      TEXT,
    PRIMARY KEY (client, duty, subject)
) STRICT;

-- One row per change of a subject's state, tied to the `verdict_history` row of the evaluation
-- that saw it. `verdict_history` now has one row per change of the duty's state or of any of
-- its subjects', so an escalation (UNIQUE history_id) still means one mail per change.
CREATE TABLE subject_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    history_id INTEGER NOT NULL REFERENCES verdict_history (id),
    client     TEXT NOT NULL,
    duty       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    from_state TEXT,
    state      TEXT NOT NULL,  -- a verdict state, or 'gone'
    at         TEXT NOT NULL,
    reason     TEXT NOT NULL
) STRICT;

CREATE INDEX subject_history_by_subject ON subject_history (client, duty, subject, id);
CREATE INDEX subject_history_by_history ON subject_history (history_id);
