-- Claims become leases on the wall clock with an owner. `claimed_until` is from now on read
-- from the sender's clock (never a pass's `--at` instant), a claim no longer moves
-- `next_attempt_at`, and `claimed_by` names the sender: the random token of the process's
-- engine. A claim left from before this migration has no owner and runs out on its own.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;

-- The token of the last process that ran as a named sender (the daemon), so that its next
-- instance, once it knows the last one is gone, can take over that one's claims at once
-- instead of waiting out their lease.
CREATE TABLE outbox_senders (
    name       TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    started_at TEXT NOT NULL
) STRICT;
