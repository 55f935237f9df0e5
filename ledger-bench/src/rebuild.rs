//! `rebuild`: loads a synthetic history (1,000 slot streams × 1,000 events by default),
//! times a plain scan of the events table to the client (every column, then only the
//! columns a fold reads), then a full rebuild of the slot read model, in the same run.

use std::time::Instant;

use anyhow::Context;
use ledger_store::bench::{self, ScanColumns};
use ledger_store::{AppendBatch, NewEvent, Store, StreamAppend, MAX_EVENTS_PER_COMMIT};
use projections::{Engine, ReadModel};
use serde_json::json;

use crate::checks;
use crate::harness::Bench;

/// Events per slot stream in the synthetic history.
const EVENTS_PER_STREAM: i64 = 1000;

pub struct RebuildReport {
    pub events: u64,
    /// The plain scan of every column: the baseline of the goal.
    pub scan_secs: f64,
    /// A scan of only the columns the rebuild reads (context: the rebuild's own floor).
    pub fold_scan_secs: f64,
    pub rebuild_secs: f64,
}

impl RebuildReport {
    pub fn rate(&self, secs: f64) -> f64 {
        self.events as f64 / secs
    }
    pub fn scan_rate(&self) -> f64 {
        self.rate(self.scan_secs)
    }
    pub fn rebuild_rate(&self) -> f64 {
        self.rate(self.rebuild_secs)
    }
    /// The rebuild's time over the plain scan's (the goal: ≤ 2).
    pub fn ratio(&self) -> f64 {
        self.rebuild_secs / self.scan_secs
    }
    pub fn met(&self) -> bool {
        self.rebuild_rate() >= 200_000.0 && self.ratio() <= 2.0
    }
}

pub async fn run(events: i64) -> anyhow::Result<RebuildReport> {
    // The ledger tables are re-created by the load; fsync does not matter to a read test.
    let bench = Bench::start("rebuild", ledger_store::embedded::Durability::Ephemeral).await?;
    let store = bench.store()?;
    let streams = (events / EVENTS_PER_STREAM).max(1);
    let started = Instant::now();
    let loaded = load_chained(&store, streams, EVENTS_PER_STREAM)
        .await
        .context("loading")?;
    eprintln!(
        "loaded {loaded} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store
        .client()
        .await?
        .batch_execute("VACUUM ANALYZE events")
        .await?;

    let (scanned, scan_secs) = timed_scan(&store, ScanColumns::Every).await?;
    let (fold_scanned, fold_scan_secs) = timed_scan(&store, ScanColumns::Fold).await?;

    let engine = Engine::new(store.clone());
    let started = Instant::now();
    let generation = engine
        .start_generation(ReadModel::SlotAvailability)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let applied = engine
        .catch_up(ReadModel::SlotAvailability, generation)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rebuild_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        applied as i64 == loaded,
        "rebuild read {applied} of {loaded} events"
    );
    for read in [scanned, fold_scanned] {
        anyhow::ensure!(read == loaded, "a scan read {read} of {loaded} events");
    }
    check_rebuilt(&engine, generation, streams).await?;
    checks::verify(&store).await?;
    Ok(RebuildReport {
        events: applied as u64,
        scan_secs,
        fold_scan_secs,
        rebuild_secs,
    })
}

async fn timed_scan(store: &Store, columns: ScanColumns) -> anyhow::Result<(i64, f64)> {
    let started = Instant::now();
    let read = bench::scan_events(store, columns).await?;
    Ok((read, started.elapsed().as_secs_f64()))
}

/// The rebuilt read model holds every stream at its last version with the capacity of its
/// last `CapacityChanged`: the fold did the work, not only the reading.
async fn check_rebuilt(engine: &Engine, generation: i32, streams: i64) -> anyhow::Result<()> {
    let states = engine
        .states(ReadModel::SlotAvailability, generation)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        states.len() as i64 == streams,
        "the rebuild holds {} of {streams} streams",
        states.len()
    );
    let capacity = last_capacity(EVENTS_PER_STREAM);
    anyhow::ensure!(capacity != SCHEDULED_CAPACITY, "the check could not fail");
    for (stream, version, state) in &states {
        anyhow::ensure!(
            *version == EVENTS_PER_STREAM && state["spec"]["capacity"] == capacity,
            "{stream} rebuilt at v{version} with {}, not v{EVENTS_PER_STREAM} with capacity {capacity}",
            state["spec"]["capacity"]
        );
    }
    Ok(())
}

/// The capacity `CapacityChanged` at `version` sets: never the scheduled 20 for the last
/// version, so a fold that skipped the changes fails the check.
fn last_capacity(version: i64) -> i64 {
    21 + version % 49
}

/// The capacity `SlotScheduled` sets.
const SCHEDULED_CAPACITY: i64 = 20;

/// Loaders working at once (the machine has 2 cores; PostgreSQL does most of the work).
const LOADERS: i64 = 4;

/// Slot streams `slot-bench-<n>`: `SlotScheduled`, then `CapacityChanged` up to
/// `per_stream` events, appended through the real append path in commits of
/// [`MAX_EVENTS_PER_COMMIT`], so every hash chain is genuine and `verify` checks them.
async fn load_chained(store: &Store, streams: i64, per_stream: i64) -> anyhow::Result<i64> {
    let mut loaders = tokio::task::JoinSet::new();
    for worker in 0..LOADERS {
        let store = store.clone();
        loaders.spawn(async move {
            let mut n = 1 + worker;
            while n <= streams {
                let stream = ledger_core::StreamId::parse(&format!("slot-bench-{n}"))?;
                let versions: Vec<i64> = (1..=per_stream).collect();
                for chunk in versions.chunks(MAX_EVENTS_PER_COMMIT) {
                    let events = chunk
                        .iter()
                        .map(|&v| synthetic_event(v))
                        .collect::<anyhow::Result<_>>()?;
                    store
                        .append(AppendBatch {
                            streams: vec![StreamAppend::new(stream.clone(), events)],
                            dedup: None,
                            outcome: None,
                        })
                        .await?;
                }
                n += LOADERS;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = loaders.join_next().await {
        done??;
    }
    Ok(streams * per_stream)
}

fn synthetic_event(version: i64) -> anyhow::Result<NewEvent> {
    let (event_type, payload) = if version == 1 {
        (
            "SlotScheduled",
            json!({"spec": {
                "activity_id": "bench", "capacity": SCHEDULED_CAPACITY,
                "cutoff": {"kind": "minutes_before", "minutes": 30},
                "price": {"amount_minor": 100, "currency": "ARS"},
                "starts_at": "2026-12-01T12:00:00Z",
                "time_zone": "America/Argentina/Buenos_Aires"}}),
        )
    } else {
        (
            "CapacityChanged",
            json!({"capacity": last_capacity(version), "oversold": 0}),
        )
    };
    Ok(NewEvent {
        event_id: ledger_core::EventId::from_uuid(uuid::Uuid::now_v7())?,
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload,
        metadata: json!({"source": "bench"}),
    })
}
