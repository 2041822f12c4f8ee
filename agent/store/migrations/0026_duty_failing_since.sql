-- When the run of failures of a duty judged as a whole (`expect = "any"`) began, kept beside
-- its state and handed back to the next evaluation, as `subject_state.failing_since` is for
-- a subject: the evidence window slides, so without it a failure longer than the window
-- seemed to begin at the window's oldest snapshot, and its deadline moved forward with it.
-- (Deriving the start from the stored deadline less the tolerance would move it whenever the
-- tolerance or the rule is edited.) NULL while no run is open, for duties whose subjects are
-- judged, and for rows written before this migration. `subjects_judged_at` also marks when
-- such a duty was last judged as a whole, so a start is carried only across evidence that
-- was looked at.
ALTER TABLE duty_state ADD COLUMN failing_since TEXT;
