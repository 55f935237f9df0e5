-- Retention (DESIGN.md "The ledger"): dedup keys are unique while they are kept, and free
-- once pruned. Uniqueness moves off the immutable `events` table (whose rows keep their
-- key for audit, and can never be deleted) to a key table beside it, written in the same
-- statement as the events (`INSERT_EVENTS`) and pruned by the retention job in small
-- batches: client idempotency keys with their outcomes after
-- LEDGER_IDEMPOTENCY_RETENTION_HOURS, provider event ids after 30 days.
CREATE TABLE dedup_keys (
    scope       text        NOT NULL,
    key         text        NOT NULL,
    -- When the event carrying the key was recorded (the ledger's clock).
    recorded_at timestamptz NOT NULL,
    CONSTRAINT dedup_keys_pkey PRIMARY KEY (scope, key)
);
-- The pruner reads each kind oldest first; a row is in exactly one of the two indexes.
CREATE INDEX dedup_keys_client_age ON dedup_keys (recorded_at) WHERE scope LIKE 'client:%';
CREATE INDEX dedup_keys_provider_age ON dedup_keys (recorded_at) WHERE scope NOT LIKE 'client:%';

INSERT INTO dedup_keys (scope, key, recorded_at)
SELECT dedup_scope, dedup_key, recorded_at FROM events WHERE dedup_scope IS NOT NULL;

ALTER TABLE events DROP CONSTRAINT events_dedup_key;

-- An outcome's age is the ledger's clock too (it was the database's `now()`).
ALTER TABLE command_outcomes ALTER COLUMN created_at DROP DEFAULT;
