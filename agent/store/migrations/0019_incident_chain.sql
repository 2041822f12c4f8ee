-- Each incident step is chained to the one recorded before it, as evidence rows are: `chain`
-- is the SHA-256 of `prev_chain` and the step's fields (store/incidents/chain.rs `link`), so
-- a step inserted, edited or removed through SQL shows in `dutywatch evidence verify`.
-- Steps recorded before this migration have neither and are listed as unchained.
ALTER TABLE incident_steps ADD COLUMN prev_chain TEXT;
ALTER TABLE incident_steps ADD COLUMN chain TEXT;
