//! The SQL of the projection engine. Read-model table names come only from
//! `ReadModel::table` (an enum name and an integer).

pub fn create_table(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            stream_id      text        PRIMARY KEY,
            stream_version bigint      NOT NULL,
            state          jsonb       NOT NULL,
            key            text,
            at             timestamptz
        );
        CREATE INDEX IF NOT EXISTS {table}_key ON {table} (key, at);"
    )
}

pub fn drop_table(table: &str) -> String {
    format!("DROP TABLE IF EXISTS {table}")
}

pub fn select_states(table: &str) -> String {
    format!(
        "SELECT stream_id, stream_version, state FROM {table} WHERE stream_id = ANY($1::text[])"
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

pub const NEXT_GENERATION: &str = "\
INSERT INTO projection_generations (name, generation, version, state)
SELECT $1, coalesce(max(generation), 0) + 1, $2, 'building'
FROM projection_generations WHERE name = $1
RETURNING generation";

pub const GENERATION: &str = "\
SELECT generation, version, state, checkpoint, events_applied
FROM projection_generations WHERE name = $1 AND generation = $2";

pub const LOCK_GENERATION: &str = "\
SELECT checkpoint, state FROM projection_generations WHERE name = $1 AND generation = $2 FOR UPDATE";

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

pub const RETIRE_GENERATION: &str = "\
UPDATE projection_generations SET state = 'retired', updated_at = now() WHERE name = $1 AND generation = $2";

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

pub fn states_page(table: &str) -> String {
    format!("SELECT stream_id, state FROM {table} ORDER BY stream_id LIMIT $1")
}
