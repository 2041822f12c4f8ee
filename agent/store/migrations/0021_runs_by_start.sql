-- The latest instant the database worked at (`Store::latest_activity`, read at every daemon
-- start and `once`): the newest collector run's start, found without walking every run.
CREATE INDEX source_runs_by_start ON source_runs (started_at);

-- A mail of the escalation ladder tells of several duties: how many (NULL: one, its `duty`).
ALTER TABLE escalations ADD COLUMN duties INTEGER;
UPDATE escalations
   SET duties = (SELECT count(DISTINCT t.duty) FROM ladder_steps AS s
                   JOIN ladder_threads AS t ON t.id = s.thread_id
                  WHERE s.escalation_id = escalations.id)
 WHERE (SELECT count(DISTINCT t.duty) FROM ladder_steps AS s
          JOIN ladder_threads AS t ON t.id = s.thread_id
         WHERE s.escalation_id = escalations.id) > 1;
