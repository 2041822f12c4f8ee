-- The subjects the escalation ladder reads on every pass: live and not met. A client's
-- thousands of met devices or users are then not walked to find the few that need attention.
CREATE INDEX subject_state_attention ON subject_state (client, duty, state)
    WHERE gone_at IS NULL AND state != 'met';
