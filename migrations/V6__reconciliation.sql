-- Bookings with a payment requested and no verified outcome yet, due for an automatic
-- reconciliation with the provider (stopped webhooks). Fed from the ledger's feed
-- (`PaymentRequested`, checkpoint in consumer_checkpoints); a row goes once its booking no
-- longer awaits payment. A cache of the ledger: dropping it loses only the schedule.
CREATE TABLE reconciliation_due (
    booking_id uuid        PRIMARY KEY,
    due_at     timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliation_due_at ON reconciliation_due (due_at);
