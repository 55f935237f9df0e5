//! Every SQL statement of the event store, in one place. All run as prepared statements.

/// Creates missing stream rows inside the command's transaction, between the lock of the
/// existing rows and the lock of all of them (`Store::lock`).
pub const ENSURE_STREAMS: &str = "\
INSERT INTO streams (stream_id, category)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (stream_id) DO NOTHING";

/// The per-stream lock. `ORDER BY … COLLATE "C"` sits below the row locking step, so rows
/// are locked in byte order of `stream_id`: two commands can never deadlock each other.
pub const LOCK_STREAMS: &str = "\
SELECT stream_id, version, last_hash, snapshot, snapshot_version, wake_at
FROM streams
WHERE stream_id = ANY($1::text[])
ORDER BY stream_id COLLATE \"C\"
FOR UPDATE";

/// The events, and the dedup keys they carry into `dedup_keys` (where a kept key is unique:
/// a key in use makes the statement fail on `dedup_keys_pkey`).
pub const INSERT_EVENTS: &str = "\
WITH e AS (
  INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version,
                      dedup_scope, dedup_key, payload, metadata, recorded_at, prev_hash, hash)
  SELECT * FROM unnest($1::text[], $2::int8[], $3::uuid[], $4::text[], $5::int4[],
                       $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::timestamptz[],
                       $11::bytea[], $12::bytea[])
  RETURNING stream_id, stream_version, global_position, tx_id, dedup_scope, dedup_key, recorded_at),
k AS (
  INSERT INTO dedup_keys (scope, key, recorded_at)
  SELECT dedup_scope, dedup_key, recorded_at FROM e WHERE dedup_scope IS NOT NULL)
SELECT stream_id, stream_version, global_position, tx_id::text FROM e";

/// One stream's new head. `wake_mode`: 0 keeps `wake_at`, 1 sets it, 2 clears it. One
/// statement per stream (pipelined, so no extra round trip): the primary-key equality
/// always plans as an index lookup, whereas a join against `unnest` arrays let a generic
/// plan cached while the table was small scan every stream on each commit (BENCHMARKS.md).
pub const UPDATE_HEAD: &str = "\
UPDATE streams
SET version = $2,
    last_hash = $3,
    snapshot = CASE WHEN $4 THEN $5::jsonb ELSE snapshot END,
    snapshot_version = CASE WHEN $4 THEN $2 ELSE snapshot_version END,
    wake_at = CASE $6::int2 WHEN 0 THEN wake_at WHEN 1 THEN $7::timestamptz ELSE NULL END
WHERE stream_id = $1";

/// Stream rows a transaction creates, with their final heads (a new stream's row is
/// written once). `snapshot_version` is the version when a snapshot is given.
pub const INSERT_STREAMS: &str = "\
INSERT INTO streams (stream_id, category, version, last_hash, snapshot, snapshot_version, wake_at)
SELECT s.id, s.category, s.version, s.hash, s.snapshot,
       CASE WHEN s.snapshot IS NULL THEN NULL ELSE s.version END, s.wake
FROM unnest($1::text[], $2::text[], $3::int8[], $4::bytea[], $5::jsonb[], $6::timestamptz[])
  AS s(id, category, version, hash, snapshot, wake)";

/// Outcomes of the transaction's commands, recorded at `$7` (the ledger's clock). Where `$6` is true the body gets a `cursor`
/// member: the feed cursor of the last event this transaction inserted (the same text as
/// `Cursor`'s Display), so a replayed outcome carries the cursor the first answer had. The
/// cursor is an uncorrelated subquery: computed once per statement, not per outcome.
pub const INSERT_OUTCOMES: &str = "\
INSERT INTO command_outcomes (scope, key, fingerprint, status, body, created_at)
SELECT o.scope, o.key, o.fp, o.status,
       CASE WHEN o.cursor THEN jsonb_set(o.body, '{cursor}', (SELECT to_jsonb(
           lpad(to_hex((pg_current_xact_id()::text)::int8), 16, '0')
           || lpad(to_hex(currval(pg_get_serial_sequence('events', 'global_position'))), 16, '0'))))
       ELSE o.body END,
       $7
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int2[], $5::jsonb[], $6::bool[])
  AS o(scope, key, fp, status, body, cursor)";

// ---- the decision indexes (migrations/V5): read under the lock, written at commit ----

/// One stream's row lock and head. The command cycle sends one per stream, in byte order
/// of the ids, pipelined: a scalar primary-key lookup, which PostgreSQL plans once per
/// connection as an index lookup whatever the table's statistics say (array parameters
/// got a custom plan per call, or a generic plan made on an empty table that scanned).
pub const LOCK_ONE: &str = "\
SELECT stream_id, version, last_hash, snapshot, snapshot_version, wake_at
FROM streams WHERE stream_id = $1 FOR UPDATE";

/// One slot's lapsed holds at `$2`, oldest first, at most `$3`: an index range read
/// (`slot_holds_lapsing`).
pub const LAPSED_HOLDS: &str = "\
SELECT slot_id, booking_id, seats, expires_at FROM slot_holds
WHERE slot_id = $1 AND expires_at <= $2
ORDER BY expires_at, booking_id LIMIT $3";

/// One booking's entry on one slot.
pub const HOLD_OF: &str = "\
SELECT slot_id, booking_id, seats, expires_at FROM slot_holds
WHERE slot_id = $1 AND booking_id = $2";

/// One coupon's lapsed claims at `$2`, oldest first, at most `$3`.
pub const LAPSED_CLAIMS: &str = "\
SELECT code, booking_id, customer, expires_at FROM coupon_claims
WHERE code = $1 AND expires_at <= $2
ORDER BY expires_at, booking_id LIMIT $3";

/// One booking's claim of one coupon.
pub const CLAIM_OF: &str = "\
SELECT code, booking_id, customer, expires_at FROM coupon_claims
WHERE code = $1 AND booking_id = $2";

/// Every claim of one customer on one coupon.
pub const CLAIMS_OF_CUSTOMER: &str = "\
SELECT code, booking_id, customer, expires_at FROM coupon_claims
WHERE code = $1 AND customer = $2";

/// Every row of a slot (a slot folded from its events gets its rows rewritten).
pub const HOLDS_CLEAR: &str = "DELETE FROM slot_holds WHERE slot_id = $1";

pub const HOLDS_UPSERT: &str = "\
INSERT INTO slot_holds (slot_id, booking_id, seats, expires_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::int4[], $4::timestamptz[])
ON CONFLICT (slot_id, booking_id) DO UPDATE SET seats = EXCLUDED.seats, expires_at = EXCLUDED.expires_at";

pub const HOLDS_DELETE: &str = "DELETE FROM slot_holds WHERE slot_id = $1 AND booking_id = $2";

pub const CLAIMS_CLEAR: &str = "DELETE FROM coupon_claims WHERE code = $1";

pub const CLAIMS_UPSERT: &str = "\
INSERT INTO coupon_claims (code, booking_id, customer, expires_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[])
ON CONFLICT (code, booking_id) DO UPDATE SET customer = EXCLUDED.customer, expires_at = EXCLUDED.expires_at";

pub const CLAIMS_DELETE: &str = "DELETE FROM coupon_claims WHERE code = $1 AND booking_id = $2";

pub const SELECT_OUTCOME: &str = "\
SELECT fingerprint, status, body FROM command_outcomes WHERE scope = $1 AND key = $2";

/// A key's stored outcome, if any, and whether a kept event carries the key (one row
/// always).
pub const SELECT_KEY_USE: &str = "\
SELECT o.fingerprint, o.status, o.body,
       EXISTS (SELECT 1 FROM dedup_keys WHERE scope = $1 AND key = $2) AS in_events
FROM (SELECT 1) AS one
LEFT JOIN command_outcomes o ON o.scope = $1 AND o.key = $2";

/// `tx_id` goes out as text under another name: an output column named `tx_id` would
/// capture `ORDER BY tx_id` and sort transaction ids as text ("1000" before "999").
const EVENT_COLUMNS: &str = "global_position, stream_id, stream_version, event_id, event_type, \
schema_version, recorded_at, payload, metadata, prev_hash, hash, tx_id::text AS tx_text, \
dedup_scope, dedup_key";

/// One stream from a version, in version order, with `columns`.
fn stream_from(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM events \
         WHERE stream_id = $1 AND stream_version >= $2 \
         ORDER BY stream_version LIMIT $3"
    )
}

/// One stream from a version, in version order.
pub fn read_stream() -> String {
    stream_from(EVENT_COLUMNS)
}

/// The gap-free global feed after a cursor, with `columns`: only transactions older than
/// every running one (see `Store::read_all`).
fn feed_after(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM events \
         WHERE (tx_id, global_position) > ($1::text::xid8, $2::int8) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id, events.global_position LIMIT $3"
    )
}

/// The gap-free global feed after a cursor.
pub fn read_all() -> String {
    feed_after(EVENT_COLUMNS)
}

/// The columns a projection's fold reads (see `read::FoldRows`), in this order.
const FOLD_COLUMNS: &str =
    "stream_id, stream_version, event_type, schema_version, payload, global_position, \
     tx_id::text AS tx_text, recorded_at";

/// [`read_stream`] with [`FOLD_COLUMNS`].
pub fn read_stream_folds() -> String {
    stream_from(FOLD_COLUMNS)
}

/// [`read_all`] with [`FOLD_COLUMNS`].
pub fn read_all_folds() -> String {
    feed_after(FOLD_COLUMNS)
}

/// The columns a consumer that only looks at which events passed reads (the outbox).
const MARK_COLUMNS: &str =
    "stream_id, event_type, event_id, recorded_at, global_position, tx_id::text AS tx_text";

/// [`read_all`] with [`MARK_COLUMNS`]: no payload or metadata.
pub fn read_all_marks() -> String {
    feed_after(MARK_COLUMNS)
}

/// Streams of a category whose `wake_at` has come, oldest first.
pub const DUE_STREAMS: &str = "\
SELECT stream_id FROM streams
WHERE category = $1 AND wake_at IS NOT NULL AND wake_at <= $2
ORDER BY wake_at LIMIT $3";

/// Heads of a category, optionally only those whose snapshot has `$2` (a JSON path) equal
/// to `$3`, in stream id order after `$4`.
pub const LIST_HEADS: &str = "\
SELECT stream_id, version, last_hash, snapshot, snapshot_version, wake_at FROM streams
WHERE category = $1 AND ($2::text[] IS NULL OR snapshot #>> $2::text[] = $3)
  AND stream_id COLLATE \"C\" > $4
ORDER BY stream_id COLLATE \"C\" LIMIT $5";

pub const DEDUP_EXISTS: &str = "\
SELECT EXISTS (SELECT 1 FROM dedup_keys WHERE scope = $1 AND key = $2)";

/// Cursor of the newest event of the whole ledger.
pub const NEWEST_CURSOR: &str = "\
SELECT tx_id::text AS tx_text, global_position FROM events
ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1";

pub const SELECT_HEAD: &str = "\
SELECT stream_id, version, last_hash, snapshot, snapshot_version, wake_at FROM streams WHERE stream_id = $1";

// ---- outbox and consumer checkpoints (see outbox.rs) ----

pub const SELECT_CHECKPOINT: &str = "\
SELECT cursor FROM consumer_checkpoints WHERE name = $1";

pub const OUTBOX_CONFIRMED: &str = "\
SELECT EXISTS (SELECT 1 FROM outbox WHERE booking_id = $1 AND kind = 'booking.confirmed')";

/// One event's payload, by its event id.
pub const EVENT_PAYLOAD: &str = "SELECT payload FROM events WHERE event_id = $1";

/// A feeder page's rows, all due at `$5`.
/// In the order given (feed order): `seq` is assigned row by row.
pub const OUTBOX_ENQUEUE: &str = "\
INSERT INTO outbox (event_id, booking_id, kind, payload, next_attempt_at)
SELECT e.id, e.booking, e.kind, e.payload, $5
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[])
     WITH ORDINALITY AS e(id, booking, kind, payload, n)
ORDER BY e.n
ON CONFLICT (event_id) DO NOTHING";

pub const UPSERT_CHECKPOINT: &str = "\
INSERT INTO consumer_checkpoints (name, cursor) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()";

pub const OUTBOX_DELIVERED: &str = "\
UPDATE outbox SET state = 'delivered', delivered_at = $2, attempts = attempts + 1, last_error = NULL
WHERE event_id = $1 AND state = 'pending'";

pub const OUTBOX_FAILED: &str = "\
UPDATE outbox SET attempts = attempts + 1, last_error = left($2, 500), next_attempt_at = $3,
state = CASE WHEN attempts + 1 >= $4 THEN 'dead' ELSE 'pending' END
WHERE event_id = $1 AND state = 'pending'";

/// Claims due pending rows for a lease: their next attempt moves to `$2`. A row waits
/// while an earlier row of its booking is pending (being delivered or retried).
pub const OUTBOX_CLAIM: &str = "\
UPDATE outbox SET next_attempt_at = $2 WHERE event_id IN (
  SELECT o.event_id FROM outbox o
  WHERE o.state = 'pending' AND o.next_attempt_at <= $1
    AND NOT EXISTS (SELECT 1 FROM outbox earlier
                    WHERE earlier.booking_id = o.booking_id AND earlier.state = 'pending'
                      AND earlier.seq < o.seq)
  ORDER BY o.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING event_id, booking_id, kind, payload, state, attempts, next_attempt_at, last_error";

/// A dead row back to pending, due at `$2`, with a fresh attempt budget. Returns the
/// row's state before (none: no such row).
pub const OUTBOX_REQUEUE: &str = "\
WITH found AS (SELECT event_id, state FROM outbox WHERE event_id = $1),
     requeued AS (
       UPDATE outbox SET state = 'pending', attempts = 0, last_error = NULL, next_attempt_at = $2
       WHERE event_id = $1 AND state = 'dead' RETURNING event_id)
SELECT state FROM found";

/// Pending and dead rows, and the age in seconds of the oldest pending one (0 if none);
/// ages by the database's clock, which stamped `created_at`.
pub const OUTBOX_STATS: &str = "\
SELECT count(*) FILTER (WHERE state = 'pending'),
       count(*) FILTER (WHERE state = 'dead'),
       COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE state = 'pending')), 0)::float8
FROM outbox WHERE state IN ('pending', 'dead')";

pub const OUTBOX_BY_STATE: &str = "\
SELECT event_id, booking_id, kind, payload, state, attempts, next_attempt_at, last_error
FROM outbox WHERE state = $1 ORDER BY created_at, event_id LIMIT $2";

/// Events after a cursor in feed order (a consumer's lag).
pub const COUNT_AFTER: &str = "\
SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2::int8)";

/// [`COUNT_AFTER`], counting no further than `$3` (a bounded lag check).
pub const COUNT_AFTER_AT_MOST: &str = "\
SELECT count(*) FROM (SELECT 1 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2::int8) LIMIT $3) AS e";

/// Whether this server takes writes: not a standby, not read-only.
pub const IS_WRITABLE_PRIMARY: &str = "\
SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'";

// ---- auditor: counts, duplicate checks and import (see export.rs) ----

pub const COUNT_EVENTS: &str = "SELECT count(*) FROM events";

/// Events carrying a (dedup_scope, dedup_key) pair that the previous event with that pair
/// (by position) carries too, recorded less than the shortest retention before: `$2` for
/// client keys, `$3` for provider ids (seconds). A pruned key is free again, so a pair may come back
/// once its window has passed; within it the key table makes this empty, and the auditor
/// asks anyway.
pub const DUPLICATE_DEDUP_KEYS: &str = "\
SELECT stream_id, stream_version, dedup_scope, dedup_key FROM (
  SELECT stream_id, stream_version, dedup_scope, dedup_key, recorded_at, global_position,
         lag(recorded_at) OVER (PARTITION BY dedup_scope, dedup_key ORDER BY global_position)
           AS previous
  FROM events WHERE dedup_scope IS NOT NULL) AS e
WHERE previous IS NOT NULL
  AND recorded_at - previous
      < CASE WHEN dedup_scope LIKE 'client:%' THEN $2::int8 ELSE $3::int8 END * interval '1 second'
ORDER BY global_position LIMIT $1";

/// Command outcomes stored more than once under one (scope, key): the primary key makes
/// this empty; the auditor asks anyway.
pub const DUPLICATE_OUTCOMES: &str = "\
SELECT scope, key, count(*) FROM command_outcomes
GROUP BY scope, key HAVING count(*) > 1
ORDER BY scope, key LIMIT $1";

/// Stream rows that a walk over the known categories (`$1`) never visits: a category that
/// is unknown or is not the stream id's prefix.
pub const STRAY_STREAMS: &str = "\
SELECT stream_id, category, version FROM streams
WHERE category <> ALL($1::text[]) OR category <> split_part(stream_id, '-', 1)
ORDER BY stream_id COLLATE \"C\" LIMIT $2";

/// Keeps every writer out while an import runs (readers still read).
pub const IMPORT_LOCK: &str = "LOCK TABLE streams, events IN EXCLUSIVE MODE";

pub const IMPORT_HAS_EVENTS: &str = "SELECT EXISTS (SELECT 1 FROM events)";

/// Stream rows of an import with their final head. A row that exists already (a stream
/// touched by a rejected command has a row but no event) is taken over only at version 0.
pub const IMPORT_STREAMS: &str = "\
INSERT INTO streams AS s (stream_id, category, version, last_hash, wake_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::bytea[], $5::timestamptz[])
ON CONFLICT (stream_id) DO UPDATE
SET category = EXCLUDED.category, version = EXCLUDED.version,
    last_hash = EXCLUDED.last_hash, wake_at = EXCLUDED.wake_at,
    snapshot = NULL, snapshot_version = NULL
WHERE s.version = 0";

/// Events of an import, their global positions kept, and their dedup keys (a key a ledger
/// used twice, once its first use was pruned, is kept at its latest use; the retention job
/// prunes the keys past their window).
pub const IMPORT_EVENTS: &str = "\
WITH e AS (
  INSERT INTO events (global_position, stream_id, stream_version, event_id, event_type,
                      schema_version, payload, metadata, recorded_at, prev_hash, hash,
                      dedup_scope, dedup_key)
  OVERRIDING SYSTEM VALUE
  SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::uuid[], $5::text[], $6::int4[],
                       $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::bytea[], $11::bytea[],
                       $12::text[], $13::text[])
  RETURNING dedup_scope, dedup_key, recorded_at)
INSERT INTO dedup_keys AS d (scope, key, recorded_at)
SELECT DISTINCT ON (dedup_scope, dedup_key) dedup_scope, dedup_key, recorded_at
FROM e WHERE dedup_scope IS NOT NULL
ORDER BY dedup_scope, dedup_key, recorded_at DESC
ON CONFLICT (scope, key) DO UPDATE SET recorded_at = greatest(d.recorded_at, EXCLUDED.recorded_at)";

/// Moves the position sequence past the imported positions (a no-op with no events).
pub const IMPORT_MOVE_SEQUENCE: &str = "\
SELECT setval(pg_get_serial_sequence('events', 'global_position'), max(global_position))
FROM events";

/// The feed's horizon now (`xmin`: every transaction below it has ended, so the feed shows
/// all of their events) and the next transaction id (`xmax`: everything that began before
/// this moment is below it).
pub const FEED_BOUNDS: &str = "\
SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text FROM pg_current_snapshot() AS s";

// ---- benchmark support (bench.rs) ----

/// A plain sequential scan of every column.
pub const BENCH_SCAN_EVERY: &str = "SELECT * FROM events";

/// A sequential scan of the columns a fold reads.
pub fn bench_scan_fold() -> String {
    format!("SELECT {FOLD_COLUMNS} FROM events")
}

/// Writes a (transactional, empty) WAL record, so that the transaction's COMMIT waits for
/// the synchronous standby like any write — and that wait covers every WAL record before it.
/// A transaction id alone is not enough: PostgreSQL waits only for transactions that wrote
/// WAL before their commit record. Any role may call it, at any `wal_level`.
pub const WITNESS_RECORD: &str = "SELECT pg_logical_emit_message(true, 'ledger.witness', '')";

/// [`WITNESS_RECORD`] in a transaction of its own: returns once everything committed before it
/// is on the synchronous standby.
pub const WITNESS: &str =
    "BEGIN; SELECT pg_logical_emit_message(true, 'ledger.witness', ''); COMMIT";

/// Takes a background job's lease (`lease.rs`): a session-level advisory lock.
pub const TRY_LEASE: &str = "SELECT pg_try_advisory_lock($1)";

// ---- automatic reconciliation (reconcile.rs) ----

/// New schedule rows; a booking already scheduled keeps its schedule.
pub const RECONCILIATION_ENQUEUE: &str = "\
INSERT INTO reconciliation_due (booking_id, due_at)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
ON CONFLICT (booking_id) DO NOTHING";

pub const RECONCILIATION_DUE: &str = "\
SELECT booking_id, attempts FROM reconciliation_due WHERE due_at <= $1 ORDER BY due_at LIMIT $2";

pub const RECONCILIATION_DONE: &str = "DELETE FROM reconciliation_due WHERE booking_id = $1";

pub const RECONCILIATION_LATER: &str = "\
UPDATE reconciliation_due SET attempts = $2, due_at = $3 WHERE booking_id = $1";

/// Scheduled rows, and how many of them are due at $1.
pub const RECONCILIATION_COUNTS: &str = "\
SELECT count(*), count(*) FILTER (WHERE due_at <= $1) FROM reconciliation_due";

// ---- retention (retention.rs) ----

/// One batch of client outcomes recorded before `$1` (at most `$2`, oldest first), with the
/// keys of their events. Rows a command has locked are skipped, never waited for; the
/// batch's own row locks last one short statement.
pub const PRUNE_OUTCOMES: &str = "\
WITH o AS (
  DELETE FROM command_outcomes WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM command_outcomes WHERE created_at < $1
    ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
  RETURNING scope, key),
k AS (
  DELETE FROM dedup_keys AS d USING o WHERE d.scope = o.scope AND d.key = o.key RETURNING 1)
SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM k)";

/// One batch of client keys recorded before `$1` (at most `$2`, oldest first) that have no
/// outcome left (keys of imported events, or of appends that stored none), with any
/// outcome they do have.
pub const PRUNE_CLIENT_KEYS: &str = "\
WITH k AS (
  DELETE FROM dedup_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM dedup_keys WHERE scope LIKE 'client:%' AND recorded_at < $1
    ORDER BY recorded_at LIMIT $2 FOR UPDATE SKIP LOCKED))
  RETURNING scope, key),
o AS (
  DELETE FROM command_outcomes AS c USING k WHERE c.scope = k.scope AND c.key = k.key
  RETURNING 1)
SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM k)";

/// One batch of provider event ids recorded before `$1` (at most `$2`, oldest first).
pub const PRUNE_PROVIDER_KEYS: &str = "\
WITH k AS (
  DELETE FROM dedup_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM dedup_keys WHERE scope NOT LIKE 'client:%' AND recorded_at < $1
    ORDER BY recorded_at LIMIT $2 FOR UPDATE SKIP LOCKED))
  RETURNING 1)
SELECT 0::int8, (SELECT count(*) FROM k)";

/// Kept keys and outcomes (two counts of whole tables: for checks, not for a hot path).
pub const RETAINED_COUNTS: &str = "\
SELECT (SELECT count(*) FROM dedup_keys), (SELECT count(*) FROM command_outcomes)";
