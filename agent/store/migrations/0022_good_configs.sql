-- The config each MSP client last loaded from (written out again without comments and without
-- the blocks of clients that did not load), so a client whose block breaks keeps running on it
-- across a restart, not only across reloads. A text is kept once however many clients loaded
-- from it, and only while one still does.
CREATE TABLE good_configs (
    id        INTEGER PRIMARY KEY,
    sha256    TEXT NOT NULL UNIQUE,
    text      TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);

CREATE TABLE client_good_configs (
    client    TEXT PRIMARY KEY,
    config_id INTEGER NOT NULL REFERENCES good_configs (id)
);
CREATE INDEX client_good_configs_by_config ON client_good_configs (config_id);
