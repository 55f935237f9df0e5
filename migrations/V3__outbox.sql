-- Outbound notifications to the activity panel, one row per ledger event that causes one
-- (the event id is the webhook-id the panel deduplicates by), and the checkpoints of
-- feed consumers.
CREATE TABLE outbox (
    event_id        uuid        PRIMARY KEY,
    booking_id      uuid        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('booking.confirmed', 'booking.cancelled')),
    payload         jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_booking ON outbox (booking_id, kind);
CREATE INDEX outbox_state ON outbox (state, created_at);

CREATE TABLE consumer_checkpoints (
    name       text        PRIMARY KEY,
    cursor     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
