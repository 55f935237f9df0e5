//! The SQL of the projection engine. Read-model table names come only from
//! `ReadModel::table` (an enum name and an integer).

/// A generation's table, and its side table of per-booking entries (a slot's holds and
/// confirmations, a coupon's claims; see `fold`).
pub fn create_table(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            stream_id      text        PRIMARY KEY,
            stream_version bigint      NOT NULL,
            state          jsonb       NOT NULL,
            key            text,
            at             timestamptz
        );
        CREATE INDEX IF NOT EXISTS {table}_key ON {table} (key, at);
        CREATE TABLE IF NOT EXISTS {table}_entries (
            stream_id  text        NOT NULL,
            booking_id uuid        NOT NULL,
            seats      integer,
            customer   text,
            expires_at timestamptz,
            PRIMARY KEY (stream_id, booking_id)
        );
        CREATE INDEX IF NOT EXISTS {table}_entries_lapsing ON {table}_entries (stream_id, expires_at)
            WHERE expires_at IS NOT NULL;"
    )
}

pub fn drop_table(table: &str) -> String {
    format!("DROP TABLE IF EXISTS {table}, {table}_entries")
}

const ENTRY_COLUMNS: &str = "stream_id, booking_id, seats, customer, expires_at";

/// The entries of these (stream, booking) pairs: one index lookup each, as `select_states`.
pub fn select_entries(table: &str) -> String {
    format!(
        "SELECT e.stream_id, e.booking_id, e.seats, e.customer, e.expires_at
         FROM unnest($1::text[], $2::uuid[]) AS p(stream_id, booking_id)
         CROSS JOIN LATERAL (SELECT {ENTRY_COLUMNS} FROM {table}_entries
                             WHERE stream_id = p.stream_id AND booking_id = p.booking_id
                             LIMIT 1) AS e"
    )
}

pub fn upsert_entries(table: &str) -> String {
    format!(
        "INSERT INTO {table}_entries ({ENTRY_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::int4[], $4::text[], $5::timestamptz[])
         ON CONFLICT (stream_id, booking_id) DO UPDATE
         SET seats = EXCLUDED.seats, customer = EXCLUDED.customer, expires_at = EXCLUDED.expires_at"
    )
}

/// One entry (a scalar key lookup: its plan is an index lookup whatever the statistics).
pub fn delete_entry(table: &str) -> String {
    format!("DELETE FROM {table}_entries WHERE stream_id = $1 AND booking_id = $2")
}

/// The entries of these streams lapsed at `$2` (an index range read per stream).
pub fn lapsed_entries(table: &str) -> String {
    format!(
        "SELECT {ENTRY_COLUMNS} FROM {table}_entries
         WHERE stream_id = ANY($1::text[]) AND expires_at <= $2"
    )
}

/// One stream's entries, by booking.
pub fn entries_of(table: &str) -> String {
    format!("SELECT {ENTRY_COLUMNS} FROM {table}_entries WHERE stream_id = $1 ORDER BY booking_id")
}

pub fn all_entries(table: &str) -> String {
    format!("SELECT {ENTRY_COLUMNS} FROM {table}_entries ORDER BY stream_id, booking_id")
}

/// The rows of these streams: one index lookup each, whatever the table's statistics (a
/// `LATERAL … LIMIT 1` is never flattened into a join that could scan the table).
pub fn select_states(table: &str) -> String {
    format!(
        "SELECT r.stream_id, r.stream_version, r.state FROM unnest($1::text[]) AS p(id)
         CROSS JOIN LATERAL (SELECT stream_id, stream_version, state FROM {table}
                             WHERE stream_id = p.id LIMIT 1) AS r"
    )
}

pub fn upsert_states(table: &str) -> String {
    format!(
        "INSERT INTO {table} (stream_id, stream_version, state, key, at)
         SELECT * FROM unnest($1::text[], $2::int8[], $3::jsonb[], $4::text[], $5::timestamptz[])
         ON CONFLICT (stream_id) DO UPDATE
         SET stream_version = EXCLUDED.stream_version, state = EXCLUDED.state,
             key = EXCLUDED.key, at = EXCLUDED.at"
    )
}

pub fn all_states(table: &str) -> String {
    format!("SELECT stream_id, stream_version, state FROM {table} ORDER BY stream_id")
}

/// Every projection transaction starts with this. A read model is a cache of the ledger,
/// and its rows and checkpoint commit together: a crash that loses the commit loses both,
/// and the page is applied again — so the commit need not wait for its WAL flush (which
/// would double the fsyncs under load).
pub const PROJECTION_TRANSACTION: &str = "SET LOCAL synchronous_commit TO off";

/// Every live and building generation.
pub const ACTIVE_ALL: &str = "\
SELECT name, generation, version, state, checkpoint, events_applied
FROM projection_generations WHERE state <> 'retired' ORDER BY name, generation";

pub const NEXT_GENERATION: &str = "\
INSERT INTO projection_generations (name, generation, version, state)
SELECT $1, coalesce(max(generation), 0) + 1, $2, 'building'
FROM projection_generations WHERE name = $1
RETURNING generation";

pub const GENERATION: &str = "\
SELECT generation, version, state, checkpoint, events_applied
FROM projection_generations WHERE name = $1 AND generation = $2";

pub const LOCK_GENERATION: &str = "\
SELECT checkpoint, state, version FROM projection_generations WHERE name = $1 AND generation = $2 FOR UPDATE";

/// Serialises the numbering of a read model's new generations across replicas (in the
/// transaction that inserts one).
pub const LOCK_MODEL_XACT: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('ledger projection ' || $1, 0))";
/// Serialises `Engine::ensure` across replicas (held by its session while it checks and
/// builds; a key of its own, since the build itself takes the numbering lock).
pub const LOCK_MODEL_SESSION: &str =
    "SELECT pg_advisory_lock(hashtextextended('ledger projection ensure ' || $1, 0))";

/// The live generation's version, if there is one.
pub const LIVE_VERSION: &str = "\
SELECT version FROM projection_generations WHERE name = $1 AND state = 'live'";

pub const ADVANCE: &str = "\
UPDATE projection_generations
SET checkpoint = $3, events_applied = events_applied + $4, updated_at = now()
WHERE name = $1 AND generation = $2";

pub const ACTIVE: &str = "\
SELECT generation, version, state, checkpoint, events_applied
FROM projection_generations WHERE name = $1 AND state <> 'retired' ORDER BY generation";

pub const LOCK_MODEL: &str = "\
SELECT generation FROM projection_generations WHERE name = $1 FOR UPDATE";

/// Generations retired by an earlier swap: their tables can go now (the one retired by
/// this swap stays until the next, so a query that just resolved it still succeeds).
pub const LONG_RETIRED: &str = "\
SELECT generation FROM projection_generations WHERE name = $1 AND state = 'retired'";

pub const RETIRE_LIVE: &str = "\
UPDATE projection_generations SET state = 'retired', updated_at = now()
WHERE name = $1 AND state = 'live' RETURNING generation";

pub const MAKE_LIVE: &str = "\
UPDATE projection_generations SET state = 'live', updated_at = now() WHERE name = $1 AND generation = $2";

pub fn state_of(table: &str) -> String {
    format!("SELECT state FROM {table} WHERE stream_id = $1")
}

/// Rows by query key, optionally within [from, to) on the time column, by time.
pub fn states_by_key(table: &str) -> String {
    format!(
        "SELECT stream_id, state FROM {table}
         WHERE key = $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
         ORDER BY at, stream_id LIMIT $4"
    )
}

/// An index on the time column alone (the sales model: a report reads a range of days).
pub fn index_at(table: &str) -> String {
    format!("CREATE INDEX IF NOT EXISTS {table}_at ON {table} (at) WHERE at IS NOT NULL")
}

/// Rows within [from, to) on the time column, by time.
pub fn states_between(table: &str) -> String {
    format!(
        "SELECT stream_id, key, at, state FROM {table}
         WHERE at >= $1 AND at < $2 ORDER BY at, stream_id LIMIT $3"
    )
}

pub fn states_page(table: &str) -> String {
    format!("SELECT stream_id, state FROM {table} ORDER BY stream_id LIMIT $1")
}
