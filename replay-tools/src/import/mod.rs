//! `ledger-replay import FILE`: an export into an EMPTY ledger. Two passes over the file:
//! the first verifies every stream's chain (recomputing every hash; versions from 1,
//! contiguous) without writing anything; the second inserts streams and events in ONE
//! transaction, with the ledger locked against writers and checked empty under that lock,
//! and commits only if it read exactly the bytes the first pass verified. So a changed
//! byte imports nothing.
//!
//! Kept: stream_id, stream_version, event_id, event_type, schema_version, recorded_at,
//! payload, metadata, prev_hash, hash, the dedup key AND global_position (inserted with
//! `OVERRIDING SYSTEM VALUE`; the position sequence is moved past the largest). So a
//! provider's redelivery of an imported event is a duplicate, and a client's retry of an
//! imported idempotency key never executes again (its stored outcome is not exported: it
//! is answered 409 `idempotency_outcome_unavailable`). Set: each stream's version, last
//! hash, category, and `wake_at` for bookings still held (so the sweeper expires them as it
//! would have). Left empty: snapshots (caches; the service folds events when one is
//! missing). Not in the export format, so not restored: command outcomes (rejections
//! included: a rejected command wrote no event, so its key is free again after import).

mod file;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use ledger_core::{
    BookingEvent, BookingState, Category, DomainEvent, Hash, RecordedEvent, StreamId,
};
use ledger_store::export::{
    ExportedDedup, ImportStart, ImportTx, ImportedStream, MAX_IMPORT_BATCH,
};
use ledger_store::{retention, Cursor, Store};
use serde::Serialize;

use crate::chain::ChainCursor;
use crate::output::{json_line, Output};
use crate::ReplayError;
use file::EventLines;

pub use file::MAX_LINE_BYTES;

/// Most events one import takes. They go in one transaction, which holds its locks and its
/// WAL until commit: a million events of about a kilobyte is a GiB of WAL and minutes of
/// work. A larger ledger is moved with pg_dump, not replayed.
pub const MAX_IMPORT_EVENTS: u64 = 1_000_000;

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub streams: u64,
    pub events: u64,
}

/// One stream as the first pass leaves it.
#[derive(Default)]
struct StreamSeen {
    chain: ChainCursor,
    /// The booking fold, for `wake_at`; `None` once an event does not decode (no wake).
    booking: Option<BookingState>,
}

/// What the verifying pass learned.
struct Verified {
    streams: BTreeMap<StreamId, StreamSeen>,
    events: u64,
    digest: Hash,
}

/// Imports `path` into the (empty) ledger behind `store`.
pub async fn import(
    store: &Store,
    path: &Path,
    bar: &ProgressBar,
) -> Result<ImportReport, ReplayError> {
    // A quick look first, so a full ledger is refused before the file is read; the
    // import transaction checks again under its lock.
    if !store.read_all(Cursor::START, 1).await?.events.is_empty() {
        return Err(ReplayError::NotEmpty);
    }
    let verified = verify_file(path, bar)?;
    let ImportStart::Ready(mut tx) = store.begin_import().await? else {
        return Err(ReplayError::NotEmpty);
    };
    insert_streams(&mut tx, &verified.streams).await?;
    bar.set_message("importing");
    bar.set_position(0);
    bar.set_length(verified.events);
    let mut lines = EventLines::open(path)?;
    let mut batch = Vec::with_capacity(MAX_IMPORT_BATCH);
    while let Some(event) = lines.next_event()? {
        batch.push(event);
        if batch.len() == MAX_IMPORT_BATCH {
            tx.insert_events(&batch).await?;
            bar.inc(batch.len() as u64);
            batch.clear();
        }
    }
    tx.insert_events(&batch).await?;
    bar.inc(batch.len() as u64);
    if lines.digest() != verified.digest {
        tx.rollback().await?;
        return Err(ReplayError::FileChanged(path.to_path_buf()));
    }
    tx.commit().await?;
    Ok(ImportReport {
        streams: verified.streams.len() as u64,
        events: verified.events,
    })
}

/// The first pass: every line parsed, every stream's chain recomputed, nothing written.
fn verify_file(path: &Path, bar: &ProgressBar) -> Result<Verified, ReplayError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or_default();
    bar.set_message("verifying");
    bar.set_length(size);
    let mut lines = EventLines::open(path)?;
    let mut streams: BTreeMap<StreamId, StreamSeen> = BTreeMap::new();
    // Dedup keys are outside the hash chain: a repeated one is refused here, by line, unless
    // its earlier use had passed its retention window (then the key was free again).
    let mut dedups: HashMap<ExportedDedup, DateTime<Utc>> = HashMap::new();
    let mut events = 0;
    while let Some(event) = lines.next_event()? {
        if let Some(dedup) = &event.dedup {
            let at = event.event.recorded_at;
            match dedups.insert(dedup.clone(), at) {
                Some(earlier) if !retention::reuse_allowed(&dedup.scope, earlier, at) => {
                    return Err(lines.bad(format!(
                        "dedup key {}/{} already used by an earlier line",
                        dedup.scope, dedup.key
                    )));
                }
                _ => {}
            }
        }
        events += 1;
        if events > MAX_IMPORT_EVENTS {
            return Err(ReplayError::TooLarge {
                max: MAX_IMPORT_EVENTS,
            });
        }
        let event = &event.event;
        let seen = streams.entry(event.stream_id.clone()).or_insert_with(|| {
            let booking = event.stream_id.category() == Category::Booking;
            StreamSeen {
                chain: ChainCursor::default(),
                booking: booking.then(BookingState::default),
            }
        });
        seen.chain
            .push(&event.stream_id, event)
            .map_err(ReplayError::Breach)?;
        fold_booking(&mut seen.booking, event);
        bar.set_position(lines.bytes());
    }
    Ok(Verified {
        streams,
        events,
        digest: lines.digest(),
    })
}

fn fold_booking(booking: &mut Option<BookingState>, event: &RecordedEvent) {
    if let Some(state) = booking {
        match BookingEvent::decode(&event.event_type, event.schema_version, &event.payload) {
            Ok(e) => state.apply(&e),
            Err(_) => *booking = None,
        }
    }
}

async fn insert_streams(
    tx: &mut ImportTx,
    streams: &BTreeMap<StreamId, StreamSeen>,
) -> Result<(), ReplayError> {
    let rows: Vec<ImportedStream> = streams
        .iter()
        .map(|(stream_id, seen)| ImportedStream {
            stream_id: stream_id.clone(),
            version: seen.chain.version(),
            last_hash: seen.chain.last_hash(),
            wake_at: seen.booking.as_ref().and_then(ledger_core::domain::wake_at),
        })
        .collect();
    for chunk in rows.chunks(MAX_IMPORT_BATCH) {
        tx.insert_streams(chunk).await?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Tagged<'a> {
    kind: &'static str,
    #[serde(flatten)]
    report: &'a ImportReport,
}

/// Writes the report: one JSON line, or a sentence.
pub fn print(report: &ImportReport, output: &Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json() {
        return json_line(
            out,
            &Tagged {
                kind: "imported",
                report,
            },
        );
    }
    writeln!(
        out,
        "imported {} events of {} streams; every hash verified",
        report.events, report.streams
    )
}
