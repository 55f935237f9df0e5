-- The ledger: one row per stream (the lock target) and one append-only table of events.
-- See ARCHITECTURE.md ("The ledger") for why each constraint exists.

CREATE TABLE streams (
    stream_id        text        PRIMARY KEY,
    category         text        NOT NULL,
    version          bigint      NOT NULL DEFAULT 0 CHECK (version >= 0),
    last_hash        bytea       NOT NULL
        DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
        CHECK (length(last_hash) = 32),
    -- Decision state of the stream at snapshot_version: a cache, rebuilt by folding events.
    snapshot         jsonb,
    snapshot_version bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT streams_snapshot_not_ahead CHECK (snapshot_version IS NULL OR snapshot_version <= version)
);

CREATE TABLE events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       text        NOT NULL REFERENCES streams (stream_id),
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 128),
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    -- 'client:<sub>' for idempotency keys; 'stripe', 'mercadopago', 'pix', 'panel' for provider ids.
    dedup_scope     text,
    dedup_key       text,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- The writing transaction: readers of the global feed only pass transactions older than
    -- every running one, so an event that commits late is never skipped.
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash       bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_dedup_key UNIQUE (dedup_scope, dedup_key),
    CONSTRAINT events_dedup_pair CHECK ((dedup_scope IS NULL) = (dedup_key IS NULL))
);

-- The gap-free feed reads in (tx_id, global_position) order.
CREATE INDEX events_feed_order ON events (tx_id, global_position);

-- Outcome of a client command, stored in the same transaction as its events so that a
-- retry with the same idempotency key replays it. 5xx outcomes are never stored.
CREATE TABLE command_outcomes (
    scope       text        NOT NULL,
    key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint bytea       NOT NULL CHECK (length(fingerprint) = 32),
    status      smallint    NOT NULL CHECK (status BETWEEN 200 AND 499),
    body        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT command_outcomes_pkey PRIMARY KEY (scope, key)
);
CREATE INDEX command_outcomes_created_at ON command_outcomes (created_at);

-- Events are never updated or deleted (invariant 7). A statement-level trigger refuses the
-- statement itself, so even an UPDATE that matches no row fails loudly.
CREATE FUNCTION ledger_refuse_event_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the events table is append-only: % refused', TG_OP
        USING ERRCODE = 'LDG01';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_event_mutation();

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
