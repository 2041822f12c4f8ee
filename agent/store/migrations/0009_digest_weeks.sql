-- One row per weekly digest made: per contractor, party and scheduled week (the instant the
-- digest schedule fired). UNIQUE, so a restart or a second pass in the same week makes no
-- second digest. The counts and SPRS figures feed the digest's 12-week charts; the mail as
-- rendered (recipients, subject, plain-text body) is kept with them.
CREATE TABLE digest_weeks (
    id          INTEGER PRIMARY KEY,
    client      TEXT NOT NULL,
    party       TEXT NOT NULL CHECK (party IN ('contractor', 'msp')),
    week        TEXT NOT NULL,
    made_at     TEXT NOT NULL,
    counts      TEXT NOT NULL,  -- JSON object: state name -> number of duties
    sprs_proven INTEGER,        -- NULL: no score (no SSP) or not the contractor's digest
    sprs_lapses INTEGER,
    mail_to     TEXT NOT NULL,  -- JSON array of addresses
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (client, party, week)
) STRICT;
