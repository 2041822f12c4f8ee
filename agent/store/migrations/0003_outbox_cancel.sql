-- A mail an operator gave up on (`dutywatch mail cancel`): the mailbox is gone for good. Kept,
-- with when and why, rather than deleted; never retried again.
ALTER TABLE outbox ADD COLUMN cancelled_at TEXT;
ALTER TABLE outbox ADD COLUMN cancel_reason TEXT;

-- Until when a sender holds the mail it is sending (set by the claim, cleared by the outcome),
-- so a cancellation cannot slip in while the relay is already taking it.
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
