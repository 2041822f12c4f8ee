-- The hours an incident is held to (hand-off, acknowledgement, the prime's notice, whether
-- there is a prime), fixed when it opens: a CRM renegotiated or a config edited later governs
-- the incidents opened after it, and does not move the deadlines, or the kept and missed, of
-- one already on record. NULL for an incident opened before this migration: it is held to
-- the policy in force, as before.
ALTER TABLE incidents ADD COLUMN handoff_within_secs INTEGER;
ALTER TABLE incidents ADD COLUMN ack_within_secs INTEGER;
ALTER TABLE incidents ADD COLUMN subcontractor INTEGER CHECK (subcontractor IN (0, 1));
ALTER TABLE incidents ADD COLUMN prime_within_secs INTEGER;

-- Once set, the terms stay: they decide what the export says was kept or missed, so an edit
-- (a config tool, a hand-written UPDATE) is refused rather than quietly moving deadlines.
CREATE TRIGGER incident_terms_fixed
BEFORE UPDATE OF handoff_within_secs, ack_within_secs, subcontractor, prime_within_secs
ON incidents
WHEN OLD.handoff_within_secs IS NOT NULL OR OLD.ack_within_secs IS NOT NULL
  OR OLD.subcontractor IS NOT NULL OR OLD.prime_within_secs IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'an incident''s terms are fixed when it opens');
END;
