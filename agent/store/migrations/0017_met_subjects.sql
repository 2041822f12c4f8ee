-- How many of a duty's subjects its latest judgement found met. Subjects met since they were
-- first seen have no `subject_state` row (a first cycle over an MSP's clients would otherwise
-- write one per compliant device, user and patch), so their number is kept here, for the
-- status report's "(N subjects met)". NULL for a duty judged as a whole.
ALTER TABLE duty_state ADD COLUMN met_subjects INTEGER;
