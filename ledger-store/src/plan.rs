//! Planning a commit: validates events and computes the rows to write — consecutive
//! versions, `recorded_at`, and the chained hashes. No I/O. [`Chain`] is shared by the
//! plain append API (`LockedStreams::plan`) and the command cycle.

use chrono::{DateTime, Utc};
use ledger_core::{chain_hash, Hash, RecordedEvent, StreamId};
use serde_json::Value;

use crate::append::{
    AppendBatch, ExpectedVersion, LockedStreams, NewEvent, MAX_EVENTS_PER_COMMIT,
    MAX_EVENT_TYPE_LEN,
};
use crate::commit::{HeadWrite, OutcomeRow, Writes};
use crate::outcome::STORABLE_STATUS;
use crate::StoreError;

/// A stream's head while events are chained onto it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chain {
    pub version: i64,
    pub last_hash: Hash,
}

impl Chain {
    /// Chains `new` onto the head: the next version, `recorded_at`, the hash over the
    /// previous one. The head moves only when the event is valid.
    pub(crate) fn push(
        &mut self,
        stream_id: &StreamId,
        new: NewEvent,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, StoreError> {
        check_event(&new)?;
        let mut event = RecordedEvent {
            global_position: 0,
            stream_id: stream_id.clone(),
            stream_version: self.version + 1,
            event_id: new.event_id,
            event_type: new.event_type,
            schema_version: new.schema_version,
            recorded_at,
            payload: new.payload,
            metadata: new.metadata,
            prev_hash: self.last_hash,
            hash: Hash::ZERO,
        };
        let bytes = event
            .chained_fields()
            .canonical_bytes()
            .map_err(|e| invalid(format!("{}: {e}", event.event_type)))?;
        event.hash = chain_hash(&self.last_hash, &bytes);
        self.version = event.stream_version;
        self.last_hash = event.hash;
        Ok(event)
    }
}

fn check_event(new: &NewEvent) -> Result<(), StoreError> {
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
    Ok(())
}

/// Checks an outcome the store is asked to keep: a storable status, no NUL in its body.
pub(crate) fn check_outcome(status: u16, body: &Value) -> Result<i16, StoreError> {
    if !STORABLE_STATUS.contains(&status) {
        return Err(invalid(format!("status {status} is never stored")));
    }
    if contains_nul(body) {
        return Err(invalid("outcome body contains a NUL character".into()));
    }
    i16::try_from(status).map_err(|_| invalid(format!("status {status}")))
}

impl LockedStreams {
    /// Validates the batch against the locked heads and builds the rows to write.
    pub(crate) fn plan(
        &self,
        batch: &AppendBatch,
        recorded_at: DateTime<Utc>,
    ) -> Result<Writes, StoreError> {
        check_batch_shape(batch)?;
        let mut writes = Writes {
            recorded_at,
            ..Writes::default()
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
            let mut chain = Chain {
                version: head.version,
                last_hash: head.last_hash,
            };
            for new in &append.events {
                let event = chain.push(&append.stream_id, new.clone(), recorded_at)?;
                writes.events.push(event);
            }
            if chain.version == head.version
                && append.snapshot.is_none()
                && append.wake == crate::Wake::Unchanged
            {
                continue;
            }
            let snapshot = append
                .snapshot
                .as_ref()
                .map(serde_json::value::to_raw_value)
                .transpose()
                .map_err(|e| invalid(format!("snapshot: {e}")))?;
            writes.heads.push(HeadWrite {
                stream_id: append.stream_id.as_str().to_owned(),
                category: append.stream_id.category().as_str(),
                version: chain.version,
                last_hash: chain.last_hash.as_bytes().to_vec(),
                snapshot,
                wake: append.wake,
                insert: false,
            });
        }
        // The batch's key goes on its first event.
        writes.dedup = (0..writes.events.len())
            .map(|i| match (&batch.dedup, i) {
                (Some(d), 0) => Some((d.scope().to_owned(), d.key().to_owned())),
                _ => None,
            })
            .collect();
        if let (Some(o), Some(d)) = (&batch.outcome, &batch.dedup) {
            writes.outcomes.push(OutcomeRow {
                scope: d.scope().to_owned(),
                key: d.key().to_owned(),
                fingerprint: o.fingerprint,
                status: check_outcome(o.status, &o.body)?,
                body: o.body.clone(),
                cursor: o.cursor_in_body && !writes.events.is_empty(),
            });
        }
        Ok(writes)
    }
}

pub(crate) fn invalid(msg: String) -> StoreError {
    StoreError::InvalidEvent(msg)
}

fn check_batch_shape(batch: &AppendBatch) -> Result<(), StoreError> {
    let total: usize = batch.streams.iter().map(|s| s.events.len()).sum();
    if total > MAX_EVENTS_PER_COMMIT {
        return Err(invalid(format!(
            "{total} events exceed {MAX_EVENTS_PER_COMMIT} per commit"
        )));
    }
    if batch.outcome.is_some() && batch.dedup.is_none() {
        return Err(invalid("an outcome needs a dedup key".into()));
    }
    Ok(())
}

/// jsonb cannot hold U+0000, so such an event is refused before it reaches the database.
pub(crate) fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}
