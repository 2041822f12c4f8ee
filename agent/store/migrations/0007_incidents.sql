-- Incidents under the DFARS 252.204-7012 clocks: one row per incident as dutywatch knows it
-- (merged from Defender, Sentinel, a ticket feed, a register and the command line), the ids
-- each input knows it by, and its timeline. The timeline is append-only: who did what when is
-- what an assessor asks for, so a step is never rewritten, only followed by another.
CREATE TABLE incidents (
    client         TEXT NOT NULL,
    id             TEXT NOT NULL,
    title          TEXT,
    severity       TEXT,
    classification TEXT,
    -- Whether it opened a reportable-incident clock; once it did, it stays so.
    reportable     INTEGER NOT NULL CHECK (reportable IN (0, 1)),
    opened_at      TEXT NOT NULL,
    opened_by      TEXT NOT NULL,
    PRIMARY KEY (client, id)
) STRICT;

-- Every id an input knows the incident by (a Sentinel incident mirrored from Defender carries
-- the Defender id): two inputs sharing one are the same incident.
CREATE TABLE incident_aliases (
    client      TEXT NOT NULL,
    alias       TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    PRIMARY KEY (client, alias),
    FOREIGN KEY (client, incident_id) REFERENCES incidents (client, id)
) STRICT;

CREATE TABLE incident_steps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client        TEXT NOT NULL,
    incident_id   TEXT NOT NULL,
    step          TEXT NOT NULL,
    at            TEXT NOT NULL,
    by_whom       TEXT NOT NULL,
    note          TEXT,
    report_number TEXT,
    recorded_at   TEXT NOT NULL,
    FOREIGN KEY (client, incident_id) REFERENCES incidents (client, id)
) STRICT;

CREATE INDEX incident_steps_by_incident ON incident_steps (client, incident_id, id);

CREATE TRIGGER incident_steps_no_update BEFORE UPDATE ON incident_steps
BEGIN
    SELECT RAISE(ABORT, 'the incident timeline is append-only: steps cannot be updated');
END;

CREATE TRIGGER incident_steps_no_delete BEFORE DELETE ON incident_steps
BEGIN
    SELECT RAISE(ABORT, 'the incident timeline is append-only: steps cannot be deleted');
END;
