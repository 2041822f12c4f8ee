-- Duties judged per subject before 0017 kept a row for every subject, met ones included, and
-- have no count of met subjects. `retain_duties` finds the duties whose rule now judges them as
-- a whole by that count, so without it such a duty kept its old subjects live: their threads
-- never closed and their reminders went on. The count is what those rows say.
UPDATE duty_state
   SET met_subjects = (SELECT count(*) FROM subject_state s
                        WHERE s.client = duty_state.client AND s.duty = duty_state.duty
                          AND s.gone_at IS NULL AND s.state = 'met')
 WHERE met_subjects IS NULL
   AND EXISTS (SELECT 1 FROM subject_state s
                WHERE s.client = duty_state.client AND s.duty = duty_state.duty
                  AND s.gone_at IS NULL);
