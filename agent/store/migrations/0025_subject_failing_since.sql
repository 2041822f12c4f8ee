-- When a failing subject's run of failures began (continuous rules), kept beside its state
-- and handed back to the next evaluation: the evidence window slides, so without it a run
-- longer than the window seemed to begin at the window's oldest snapshot, and its deadline
-- and lapse instant moved forward a day each day. NULL for met subjects, other rules and
-- rows written before this migration (their next evaluation fills it).
ALTER TABLE subject_state ADD COLUMN failing_since TEXT;

-- When the duty's subjects were last judged (a verdict that could not look at them, such as a
-- failed collector, leaves it): a start is carried only while that evaluation saw evidence up
-- to the window now read, so a pass nobody judged (a long outage of the source) cannot join
-- two runs into one.
ALTER TABLE duty_state ADD COLUMN subjects_judged_at TEXT;
