-- Payloads are kept compressed (agent/store/payload.rs): `encoding` says how the stored bytes
-- of `payload` give back the bytes as collected, whose SHA-256 is `sha256`. Payloads stored
-- before keep their bytes as they are. ALTER TABLE does not fire the no-update trigger.
ALTER TABLE payloads ADD COLUMN encoding TEXT NOT NULL DEFAULT 'identity'
    CHECK (encoding IN ('identity', 'zstd'));
