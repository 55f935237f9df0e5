//! End-to-end tests against a real PostgreSQL: one private cluster for the whole run, a
//! fresh database per test. Each test names the invariant (DESIGN.md) it checks.

mod api_auth;
mod api_bookings;
mod api_coupons;
mod api_idempotency;
mod api_payments;
mod api_shell;
mod api_support;
mod api_time;
mod append_only;
mod auditor;
mod database_hang;
mod feed;
mod health;
mod limits;
mod logs;
mod moves;
mod operations;
mod outbox;
mod privacy;
mod projections;
mod refunds;
mod replay_cli;
mod replicas;
mod retention;
mod round_trips;
mod store_append;
mod store_dedup;
mod store_queries;
mod tls;
mod webhook_support;
mod webhooks_others;
mod webhooks_signatures;
mod webhooks_stripe;
mod write_path;

use chrono::Utc;
use ledger_core::{chain_hash, truncate_to_micros, ChainedFields, EventId, Hash, StreamId};
use ledger_store::{AppendBatch, ExpectedVersion, NewEvent, StreamAppend};
use serde_json::{json, Value};

/// A new event with a fresh UUID v7.
pub fn event(event_type: &str, payload: Value) -> NewEvent {
    NewEvent {
        event_id: EventId::from_uuid(uuid::Uuid::now_v7()).expect("v7"),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: json!({"source": "test"}),
    }
}

/// A stream id unique to one test.
pub fn stream(key: &str) -> StreamId {
    StreamId::parse(&format!("slot-{key}")).expect("stream id")
}

/// One event on one stream, no expectations.
pub fn single(stream_id: &StreamId, event_type: &str, payload: Value) -> AppendBatch {
    AppendBatch {
        streams: vec![StreamAppend {
            stream_id: stream_id.clone(),
            expected: ExpectedVersion::Any,
            events: vec![event(event_type, payload)],
            snapshot: None,
            wake: ledger_store::Wake::Unchanged,
        }],
        ..AppendBatch::default()
    }
}

/// Inserts one valid event (chained to `prev`) by hand on `client`, inside whatever
/// transaction it has open, bypassing the store; creates the stream row for version 1.
/// Returns the event's position and hash. For tests that must control which transaction
/// takes which id.
pub async fn insert_event_by_hand(
    client: &tokio_postgres::Client,
    s: &StreamId,
    version: i64,
    prev: Hash,
    event_type: &str,
    payload: Value,
) -> (i64, Hash) {
    let event_id = EventId::from_uuid(uuid::Uuid::now_v7()).unwrap();
    let metadata = json!({});
    let recorded_at = truncate_to_micros(Utc::now());
    let fields = ChainedFields {
        stream_id: s,
        stream_version: version,
        event_id: &event_id,
        event_type,
        schema_version: 1,
        recorded_at: &recorded_at,
        payload: &payload,
        metadata: &metadata,
    };
    let hash = chain_hash(&prev, &fields.canonical_bytes().unwrap());
    if version == 1 {
        client
            .execute(
                "INSERT INTO streams (stream_id, category) VALUES ($1, $2)",
                &[&s.as_str(), &s.category().as_str()],
            )
            .await
            .unwrap();
    }
    let row = client
        .query_one(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, \
             payload, metadata, recorded_at, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9) RETURNING global_position",
            &[
                &s.as_str(),
                &version,
                &event_id.as_uuid(),
                &event_type,
                &payload,
                &metadata,
                &recorded_at,
                &&prev.as_bytes()[..],
                &&hash.as_bytes()[..],
            ],
        )
        .await
        .unwrap();
    (row.get(0), hash)
}
