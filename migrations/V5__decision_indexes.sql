-- The per-booking detail of slots and coupons, beside the ledger (ARCHITECTURE.md, "The
-- write path"). A slot's snapshot counts its seats and a coupon's counts its claims; these
-- tables list them, one row per booking, written in the same transaction as the events
-- by whoever holds the stream's lock. Like snapshots they are caches: folding the events
-- gives the same rows, and the store rewrites a stream's rows whenever it has to fold it.

-- A booking's seats on a slot: held until expires_at, or confirmed (expires_at NULL).
CREATE TABLE slot_holds (
    slot_id    text        NOT NULL,
    booking_id uuid        NOT NULL,
    seats      integer     NOT NULL CHECK (seats > 0),
    expires_at timestamptz,
    PRIMARY KEY (slot_id, booking_id)
);
-- The lapsed holds of a slot, oldest first: an index range read under the slot lock.
CREATE INDEX slot_holds_lapsing ON slot_holds (slot_id, expires_at) WHERE expires_at IS NOT NULL;

-- A booking's claim of a coupon: running until expires_at, or confirmed (expires_at NULL).
CREATE TABLE coupon_claims (
    code       text        NOT NULL,
    booking_id uuid        NOT NULL,
    customer   text        NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (code, booking_id)
);
CREATE INDEX coupon_claims_customer ON coupon_claims (code, customer);
CREATE INDEX coupon_claims_lapsing ON coupon_claims (code, expires_at) WHERE expires_at IS NOT NULL;

-- Rows for a ledger written before these tables, folded from its events the way
-- `SlotState::apply` folds them: a booking's last SeatsHeld or SeatsConfirmed on a slot,
-- unless a later HoldReleased (of a hold) or SeatsReleased (of confirmed seats) undid it.
INSERT INTO slot_holds (slot_id, booking_id, seats, expires_at)
SELECT substr(s.stream_id, 6), s.booking_id, s.seats, s.expires_at
FROM (
    SELECT DISTINCT ON (stream_id, (payload ->> 'booking_id')::uuid)
           stream_id, (payload ->> 'booking_id')::uuid AS booking_id, stream_version,
           event_type, (payload ->> 'seats')::integer AS seats,
           CASE WHEN event_type = 'SeatsHeld'
                THEN (payload ->> 'hold_expires_at')::timestamptz END AS expires_at
    FROM events
    WHERE stream_id LIKE 'slot-%' AND event_type IN ('SeatsHeld', 'SeatsConfirmed')
    ORDER BY stream_id, (payload ->> 'booking_id')::uuid, stream_version DESC
) AS s
WHERE s.seats > 0
  AND NOT EXISTS (
    SELECT 1 FROM events AS r
    WHERE r.stream_id = s.stream_id AND r.stream_version > s.stream_version
      AND r.event_type = CASE s.event_type WHEN 'SeatsHeld' THEN 'HoldReleased'
                                            ELSE 'SeatsReleased' END
      AND (r.payload ->> 'booking_id')::uuid = s.booking_id);

-- The same for claims, as `CouponState::apply` folds them: a booking's last CouponClaimed,
-- unless a later CouponClaimReleased gave it back; confirmed when a CouponClaimConfirmed
-- followed it.
INSERT INTO coupon_claims (code, booking_id, customer, expires_at)
SELECT substr(c.stream_id, 8), c.booking_id, c.customer,
       CASE WHEN EXISTS (
                SELECT 1 FROM events AS f
                WHERE f.stream_id = c.stream_id AND f.stream_version > c.stream_version
                  AND f.event_type = 'CouponClaimConfirmed'
                  AND (f.payload ->> 'booking_id')::uuid = c.booking_id)
            THEN NULL ELSE c.expires_at END
FROM (
    SELECT DISTINCT ON (stream_id, (payload ->> 'booking_id')::uuid)
           stream_id, (payload ->> 'booking_id')::uuid AS booking_id, stream_version,
           payload ->> 'customer' AS customer,
           (payload ->> 'hold_expires_at')::timestamptz AS expires_at
    FROM events
    WHERE stream_id LIKE 'coupon-%' AND event_type = 'CouponClaimed'
    ORDER BY stream_id, (payload ->> 'booking_id')::uuid, stream_version DESC
) AS c
WHERE NOT EXISTS (
    SELECT 1 FROM events AS r
    WHERE r.stream_id = c.stream_id AND r.stream_version > c.stream_version
      AND r.event_type = 'CouponClaimReleased'
      AND (r.payload ->> 'booking_id')::uuid = c.booking_id);
