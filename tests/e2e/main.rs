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
mod feed;
mod health;
mod projections;
mod replay_cli;
mod round_trips;
mod store_append;
mod store_dedup;
mod store_queries;
mod webhook_support;
mod webhooks_others;
mod webhooks_signatures;
mod webhooks_stripe;

use ledger_core::{EventId, StreamId};
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
