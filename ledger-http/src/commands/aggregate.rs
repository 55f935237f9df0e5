//! Between the domain and the store: load a stream's state under its lock (from the
//! snapshot, or by folding its events when the snapshot is missing or stale) and turn
//! decided events into an append with the new snapshot.

use ledger_core::domain::{DomainEvent, Evolve};
use ledger_core::{EventId, StreamId};
use ledger_store::{LockedStreams, NewEvent, Store, StreamAppend, StreamHead, Wake};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// Events read per page when folding a stream without a usable snapshot.
const FOLD_PAGE: i64 = 1000;

/// A stream's decision state: the domain's `Evolve` (events and how they apply), stored as
/// a JSON snapshot.
pub trait Aggregate: Evolve + Serialize + DeserializeOwned {}

impl<S: Evolve + Serialize + DeserializeOwned> Aggregate for S {}

fn corrupt(what: &str, stream: &StreamId, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(stream = %stream, error = %e, "{what}");
    ApiError::internal()
}

/// State of `head`'s stream: its snapshot when it is at the head's version, else the fold
/// of its events (the snapshot is only a cache).
pub async fn load<A: Aggregate>(store: &Store, head: &StreamHead) -> Result<A, ApiError> {
    if head.version == 0 {
        return Ok(A::default());
    }
    if let (Some(snapshot), Some(v)) = (&head.snapshot, head.snapshot_version) {
        if v == head.version {
            if let Ok(state) = serde_json::from_value::<A>(snapshot.clone()) {
                return Ok(state);
            }
            tracing::warn!(stream = %head.stream_id, "unreadable snapshot; folding events");
        }
    }
    fold(store, &head.stream_id, head.version).await
}

/// Folds the stream's events 1..=`version`.
pub async fn fold<A: Aggregate>(
    store: &Store,
    stream: &StreamId,
    version: i64,
) -> Result<A, ApiError> {
    let mut state = A::default();
    let mut next = 1;
    while next <= version {
        let page = store.read_stream(stream, next, FOLD_PAGE).await?;
        if page.is_empty() {
            return Err(corrupt("stream shorter than its head", stream, version));
        }
        for e in page.iter().take_while(|e| e.stream_version <= version) {
            let event = A::Event::decode(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| corrupt("undecodable event", stream, err))?;
            state.evolve(&event);
            next = e.stream_version + 1;
        }
    }
    Ok(state)
}

/// Loads the state of a locked stream.
pub async fn load_locked<A: Aggregate>(
    store: &Store,
    locked: &LockedStreams,
    stream: &StreamId,
) -> Result<A, ApiError> {
    let head = locked
        .head(stream)
        .ok_or_else(|| corrupt("stream not locked", stream, "missing head"))?;
    load(store, head).await
}

/// Event metadata: where the event came from and who asked. No personal data: `sub` only.
pub fn command_metadata(sub: &str) -> Value {
    json!({"source": "command", "sub": sub})
}

/// Applies `events` to `state` and returns the append (events + new snapshot).
pub fn append<A: Aggregate>(
    stream: StreamId,
    state: &mut A,
    events: &[A::Event],
    metadata: &Value,
    wake: Wake,
) -> Result<StreamAppend, ApiError> {
    let mut new_events = Vec::with_capacity(events.len());
    for event in events {
        state.evolve(event);
        new_events.push(NewEvent {
            event_id: EventId::from_uuid(uuid::Uuid::now_v7()).map_err(|_| ApiError::internal())?,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.to_payload(),
            metadata: metadata.clone(),
        });
    }
    let mut out = StreamAppend::new(stream, new_events);
    if !events.is_empty() {
        out.snapshot = Some(serde_json::to_value(&*state).map_err(|_| ApiError::internal())?);
    }
    out.wake = wake;
    Ok(out)
}
