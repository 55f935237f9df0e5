//! Planning a commit: validates a batch against the locked heads and computes the rows to
//! write — consecutive versions, `recorded_at`, and the chained hashes. No I/O.

use chrono::{DateTime, Utc};
use ledger_core::{chain_hash, Hash, RecordedEvent};
use serde_json::Value;

use crate::append::{
    AppendBatch, ExpectedVersion, LockedStreams, StreamAppend, StreamHead, Wake,
    MAX_EVENTS_PER_COMMIT, MAX_EVENT_TYPE_LEN,
};
use crate::outcome::{DedupKey, STORABLE_STATUS};
use crate::StoreError;

/// Column arrays for one pipelined INSERT and one UPDATE.
pub(crate) struct Plan {
    pub events: Vec<RecordedEvent>,
    pub dedup_first: Option<DedupKey>,
    pub head_ids: Vec<String>,
    pub head_versions: Vec<i64>,
    pub head_hashes: Vec<Vec<u8>>,
    pub head_set_snapshot: Vec<bool>,
    pub head_snapshots: Vec<Option<Value>>,
    pub head_wake_modes: Vec<i16>,
    pub head_wakes: Vec<Option<DateTime<Utc>>>,
}

impl LockedStreams {
    /// Validates the batch against the locked heads and builds the rows to write.
    pub(crate) fn plan(
        &self,
        batch: &AppendBatch,
        recorded_at: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        check_batch_shape(batch)?;
        let mut plan = Plan {
            events: Vec::new(),
            dedup_first: batch.dedup.clone(),
            head_ids: Vec::new(),
            head_versions: Vec::new(),
            head_hashes: Vec::new(),
            head_set_snapshot: Vec::new(),
            head_snapshots: Vec::new(),
            head_wake_modes: Vec::new(),
            head_wakes: Vec::new(),
        };
        for (i, append) in batch.streams.iter().enumerate() {
            if batch.streams[..i]
                .iter()
                .any(|a| a.stream_id == append.stream_id)
            {
                return Err(invalid(format!(
                    "{} appears twice in one batch",
                    append.stream_id
                )));
            }
            let head = self
                .head(&append.stream_id)
                .ok_or_else(|| invalid(format!("{} was not locked", append.stream_id)))?;
            if let ExpectedVersion::Exactly(expected) = append.expected {
                if expected != head.version {
                    return Err(StoreError::Conflict {
                        stream_id: append.stream_id.clone(),
                        expected,
                        actual: head.version,
                    });
                }
            }
            let (version, last_hash) = chain_events(&mut plan.events, head, append, recorded_at)?;
            if version == head.version
                && append.snapshot.is_none()
                && append.wake == Wake::Unchanged
            {
                continue;
            }
            plan.head_ids.push(append.stream_id.as_str().to_owned());
            plan.head_versions.push(version);
            plan.head_hashes.push(last_hash.as_bytes().to_vec());
            plan.head_set_snapshot.push(append.snapshot.is_some());
            plan.head_snapshots.push(append.snapshot.clone());
            let (mode, at) = match append.wake {
                Wake::Unchanged => (0, None),
                Wake::At(at) => (1, Some(at)),
                Wake::Never => (2, None),
            };
            plan.head_wake_modes.push(mode);
            plan.head_wakes.push(at);
        }
        Ok(plan)
    }
}

fn invalid(msg: String) -> StoreError {
    StoreError::InvalidEvent(msg)
}

fn check_batch_shape(batch: &AppendBatch) -> Result<(), StoreError> {
    let total: usize = batch.streams.iter().map(|s| s.events.len()).sum();
    if total > MAX_EVENTS_PER_COMMIT {
        return Err(invalid(format!(
            "{total} events exceed {MAX_EVENTS_PER_COMMIT} per commit"
        )));
    }
    if let Some(o) = &batch.outcome {
        if batch.dedup.is_none() {
            return Err(invalid("an outcome needs a dedup key".into()));
        }
        if !STORABLE_STATUS.contains(&o.status) {
            return Err(invalid(format!("status {} is never stored", o.status)));
        }
        if contains_nul(&o.body) {
            return Err(invalid("outcome body contains a NUL character".into()));
        }
    }
    Ok(())
}

/// Appends one stream's events to `out` with consecutive versions and chained hashes;
/// returns the stream's new version and last hash.
fn chain_events(
    out: &mut Vec<RecordedEvent>,
    head: &StreamHead,
    append: &StreamAppend,
    recorded_at: DateTime<Utc>,
) -> Result<(i64, Hash), StoreError> {
    let (mut version, mut prev) = (head.version, head.last_hash);
    for new in &append.events {
        if new.event_type.is_empty() || new.event_type.len() > MAX_EVENT_TYPE_LEN {
            return Err(invalid(format!(
                "event type must be 1..={MAX_EVENT_TYPE_LEN} bytes"
            )));
        }
        if new.schema_version < 1 {
            return Err(invalid("schema_version starts at 1".into()));
        }
        if contains_nul(&new.payload) || contains_nul(&new.metadata) {
            return Err(invalid("NUL characters cannot be stored".into()));
        }
        version += 1;
        let mut event = RecordedEvent {
            global_position: 0,
            stream_id: append.stream_id.clone(),
            stream_version: version,
            event_id: new.event_id,
            event_type: new.event_type.clone(),
            schema_version: new.schema_version,
            recorded_at,
            payload: new.payload.clone(),
            metadata: new.metadata.clone(),
            prev_hash: prev,
            hash: Hash::ZERO,
        };
        let bytes = event
            .chained_fields()
            .canonical_bytes()
            .map_err(|e| invalid(format!("{}: {e}", event.event_type)))?;
        event.hash = chain_hash(&prev, &bytes);
        prev = event.hash;
        out.push(event);
    }
    Ok((version, prev))
}

/// jsonb cannot hold U+0000, so such an event is refused before it reaches the database.
fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}
