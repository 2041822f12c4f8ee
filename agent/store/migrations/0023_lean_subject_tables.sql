-- A first cycle over an MSP's clients writes a row for each failing device, user and patch
-- (hundreds of thousands) into `subject_state` and `subject_history`, and each row was also
-- written into every index of its table. Two of those indexes no query needs.

-- `subject_history` is the record of every change, written on each one and read only when
-- someone audits a subject (`Store::subject_history`, a scan). `verdict_history` rows, which
-- its `history_id` refers to, are never deleted, so no foreign-key check looks it up either.
DROP INDEX subject_history_by_subject;
DROP INDEX subject_history_by_history;
