//! Every SQL statement of the event store, in one place. All run as prepared statements.

/// Creates missing stream rows; runs in its own implicit transaction, pipelined just before
/// `BEGIN`, so a brand-new stream never needs an extra round trip.
pub const ENSURE_STREAMS: &str = "\
INSERT INTO streams (stream_id, category)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (stream_id) DO NOTHING";

/// The per-stream lock. `ORDER BY … COLLATE "C"` sits below the row locking step, so rows
/// are locked in byte order of `stream_id`: two commands can never deadlock each other.
pub const LOCK_STREAMS: &str = "\
SELECT stream_id, version, last_hash, snapshot, snapshot_version
FROM streams
WHERE stream_id = ANY($1::text[])
ORDER BY stream_id COLLATE \"C\"
FOR UPDATE";

pub const INSERT_EVENTS: &str = "\
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                    dedup_scope, dedup_key, payload, metadata, recorded_at, prev_hash, hash)
SELECT * FROM unnest($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[],
                     $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::timestamptz[],
                     $11::bytea[], $12::bytea[])
RETURNING stream_id, stream_version, global_position, tx_id::text";

pub const UPDATE_HEADS: &str = "\
UPDATE streams AS s
SET version = u.version,
    last_hash = u.last_hash,
    snapshot = CASE WHEN u.set_snapshot THEN u.snapshot ELSE s.snapshot END,
    snapshot_version = CASE WHEN u.set_snapshot THEN u.version ELSE s.snapshot_version END
FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::bool[], $5::jsonb[])
     AS u(stream_id, version, last_hash, set_snapshot, snapshot)
WHERE s.stream_id = u.stream_id";

pub const INSERT_OUTCOME: &str = "\
INSERT INTO command_outcomes (scope, key, fingerprint, status, body)
VALUES ($1, $2, $3, $4, $5)";

pub const SELECT_OUTCOME: &str = "\
SELECT fingerprint, status, body FROM command_outcomes WHERE scope = $1 AND key = $2";

const EVENT_COLUMNS: &str = "global_position, stream_id, stream_version, event_id, event_type, \
schema_version, recorded_at, payload, metadata, prev_hash, hash, tx_id::text";

/// One stream from a version, in version order.
pub fn read_stream() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events \
         WHERE stream_id = $1 AND stream_version >= $2 \
         ORDER BY stream_version LIMIT $3"
    )
}

/// The gap-free global feed: only transactions older than every running transaction are
/// passed, in (tx_id, global_position) order, strictly after the cursor.
pub fn read_all() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM events \
         WHERE (tx_id, global_position) > ($1::text::xid8, $2::int8) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY tx_id, global_position LIMIT $3"
    )
}

pub const SELECT_HEAD: &str = "\
SELECT stream_id, version, last_hash, snapshot, snapshot_version FROM streams WHERE stream_id = $1";
