-- What the escalation ladder reads on every pass. The subjects: live and not met. A client's
-- thousands of met devices or users are then not walked to find the few that need attention.
CREATE INDEX subject_state_attention ON subject_state (client, duty, state)
    WHERE gone_at IS NULL AND state != 'met';

-- Whether the ladder of a client ever opened a thread, asked on every pass: without it every
-- client's question walks every thread of every client.
CREATE INDEX ladder_threads_by_client ON ladder_threads (client);
