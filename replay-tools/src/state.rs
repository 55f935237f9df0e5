//! `ledger-replay state`: a stream's state at a point of its history — the slot, booking or
//! coupon fold (by the stream's category) up to a version, or up to the last event recorded
//! at or before a time — with the chain checked on the way, so the state shown is pinned
//! to a verified hash.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use ledger_core::{
    format_recorded_at, BookingState, Category, CouponState, DomainEvent, Evolve, Hash,
    RecordedEvent, SlotState, StreamId,
};
use ledger_store::Store;
use serde::Serialize;
use serde_json::Value;

use crate::chain::ChainCursor;
use crate::finding::{Finding, Invariant};
use crate::output::{json_line, Output};
use crate::ReplayError;

/// Events read per page: bounds memory however long the stream is.
pub const STATE_PAGE_EVENTS: i64 = 1_000;

/// Where in the stream's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatePoint {
    /// After its last event.
    Latest,
    /// After this version (0: before the first event).
    Version(i64),
    /// After the last event (in version order) recorded at or before this time.
    Time(DateTime<Utc>),
}

/// A folded state and the event it stands at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateReport {
    pub stream_id: StreamId,
    /// The version folded to (0: no event).
    pub version: i64,
    /// When that event was recorded.
    #[serde(serialize_with = "recorded_at")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// That event's chain hash.
    pub hash: Option<Hash>,
    /// The state, in its snapshot form.
    pub state: Value,
}

fn recorded_at<S: serde::Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&format_recorded_at(at)),
        None => s.serialize_none(),
    }
}

/// Folds `stream_id` to `point`.
pub async fn state(
    store: &Store,
    stream_id: &StreamId,
    point: StatePoint,
) -> Result<StateReport, ReplayError> {
    let head = store
        .stream_head(stream_id)
        .await?
        .ok_or_else(|| ReplayError::StreamNotFound(stream_id.to_string()))?;
    let target = match point {
        StatePoint::Latest => head.version,
        StatePoint::Version(v) if v > head.version => {
            return Err(ReplayError::Usage(format!(
                "{stream_id} has {} events; version {v} is past its end",
                head.version
            )))
        }
        StatePoint::Version(v) => v,
        StatePoint::Time(at) => last_version_at(store, stream_id, at).await?,
    };
    match stream_id.category() {
        Category::Slot => fold::<SlotState>(store, stream_id, target).await,
        Category::Booking => fold::<BookingState>(store, stream_id, target).await,
        Category::Coupon => fold::<CouponState>(store, stream_id, target).await,
        Category::Provider => Err(ReplayError::Usage(format!(
            "{stream_id} is a provider ingest log: it has events but no state to fold"
        ))),
        Category::Subject => Err(ReplayError::Usage(format!(
            "{stream_id} is a data subject's erasure log: it has events but no state to fold"
        ))),
    }
}

/// The highest version recorded at or before `at` (0 when none is).
async fn last_version_at(
    store: &Store,
    stream_id: &StreamId,
    at: DateTime<Utc>,
) -> Result<i64, ReplayError> {
    let (mut from, mut found) = (1, 0);
    loop {
        let page = store
            .read_stream(stream_id, from, STATE_PAGE_EVENTS)
            .await?;
        for event in page.iter().filter(|e| e.recorded_at <= at) {
            found = event.stream_version;
        }
        match page.last() {
            Some(last) if page.len() as i64 == STATE_PAGE_EVENTS => {
                from = last.stream_version + 1;
            }
            _ => return Ok(found),
        }
    }
}

/// Folds versions 1..=`target`, checking the chain of every event folded.
async fn fold<S: Evolve + Serialize>(
    store: &Store,
    stream_id: &StreamId,
    target: i64,
) -> Result<StateReport, ReplayError> {
    let mut state = S::default();
    let mut chain = ChainCursor::default();
    let mut last: Option<DateTime<Utc>> = None;
    while chain.version() < target {
        let limit = STATE_PAGE_EVENTS.min(target - chain.version());
        let page = store
            .read_stream(stream_id, chain.version() + 1, limit)
            .await?;
        if page.is_empty() {
            break; // the chain check below names the missing version
        }
        for event in &page {
            chain.push(stream_id, event).map_err(ReplayError::Breach)?;
            state.evolve(&decode::<S::Event>(event)?);
            last = Some(event.recorded_at);
        }
    }
    if chain.version() != target {
        return Err(ReplayError::Breach(Finding::at(
            Invariant::ChainVerifies,
            stream_id,
            chain.version() + 1,
            "the event is missing although the streams row counts it",
        )));
    }
    let mut state = serde_json::to_value(&state)
        .map_err(|e| ReplayError::io("rendering the state")(e.into()))?;
    // Sealed personal fields: opened with LEDGER_DATA_KEY_FILE, `{"erased": true}` once
    // their subject is erased, `{"unreadable": true}` without the key-encryption key.
    store.open_personal(&mut state).await?;
    Ok(StateReport {
        stream_id: stream_id.clone(),
        version: chain.version(),
        recorded_at: last,
        hash: (chain.version() > 0).then(|| chain.last_hash()),
        state,
    })
}

fn decode<E: DomainEvent>(event: &RecordedEvent) -> Result<E, ReplayError> {
    E::decode(&event.event_type, event.schema_version, &event.payload).map_err(|source| {
        ReplayError::Decode {
            stream_id: event.stream_id.to_string(),
            version: event.stream_version,
            source,
        }
    })
}

/// Writes the report: one JSON line, or a header and the state pretty-printed.
pub fn print(report: &StateReport, output: &Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json() {
        return json_line(out, report);
    }
    match (&report.recorded_at, &report.hash) {
        (Some(at), Some(hash)) => writeln!(
            out,
            "{} at version {} (recorded {}, hash {hash})",
            report.stream_id,
            report.version,
            format_recorded_at(at)
        )?,
        _ => writeln!(out, "{} before its first event", report.stream_id)?,
    }
    let pretty = serde_json::to_string_pretty(&report.state).map_err(io::Error::from)?;
    writeln!(out, "{pretty}")
}
