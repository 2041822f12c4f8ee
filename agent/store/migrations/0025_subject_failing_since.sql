-- When a failing subject's run of failures began (continuous rules), kept beside its state
-- and handed back to the next evaluation: the evidence window slides, so without it a run
-- longer than the window seemed to begin at the window's oldest snapshot, and its deadline
-- and lapse instant moved forward a day each day. NULL for met subjects, other rules and
-- rows written before this migration (their next evaluation fills it).
ALTER TABLE subject_state ADD COLUMN failing_since TEXT;
