-- The outbox delivers a booking's messages in ledger order (API.md "Outbound to the
-- panel"): each row gets its place in enqueue order (the feeder enqueues in feed order,
-- which keeps each booking's events in stream order), and a row is claimed only while no
-- earlier row of its booking is still pending. Dead rows do not hold later ones back; a
-- requeued dead row is sent again on its own.
ALTER TABLE outbox ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX outbox_booking_pending ON outbox (booking_id, seq) WHERE state = 'pending';
-- The operator's day adds moves and refunds to what the panel hears.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking.confirmed', 'booking.cancelled', 'booking.moved', 'booking.refunded'));
