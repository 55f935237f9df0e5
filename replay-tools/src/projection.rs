//! `ledger-replay rebuild` and `diff`, on the projection engine (`projections`).
//!
//! `rebuild` builds a new generation of a read model from the start of the feed beside
//! the live one and swaps it in (blue/green). `diff` writes nothing: it reads the live
//! generation in one snapshot, replays the feed in memory up to that generation's
//! checkpoint, compares every row and side-table entry and reports each stream whose row
//! differs (exit 1 on drift).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use projections::{Engine, GenerationInfo, ReadModel, Replayed};
use serde_json::{json, Value};

use crate::ReplayError;
/// Most drifting rows printed (the count is always exact).
const MAX_DRIFT_SHOWN: usize = 100;

fn models(projection: Option<&str>, all: bool) -> Result<Vec<ReadModel>, ReplayError> {
    match (projection, all) {
        (_, true) => Ok(ReadModel::ALL.to_vec()),
        (Some(name), false) => ReadModel::parse(name).map(|m| vec![m]).ok_or_else(|| {
            let names: Vec<&str> = ReadModel::ALL.iter().map(|m| m.name()).collect();
            ReplayError::Usage(format!(
                "no projection {name:?}: one of {}",
                names.join(", ")
            ))
        }),
        (None, false) => Err(ReplayError::Usage(
            "name a projection with --projection, or --all".into(),
        )),
    }
}

fn write_error(e: std::io::Error) -> ReplayError {
    ReplayError::io("writing the output")(e)
}

fn engine_error(e: projections::ProjectionError) -> ReplayError {
    ReplayError::Projection(e.to_string())
}

/// Rebuilds each named read model beside its live generation and swaps, `bar` counting
/// the events applied out of those in the ledger when the build started.
pub async fn rebuild(
    store: &ledger_store::Store,
    projection: Option<&str>,
    all: bool,
    out: &mut dyn Write,
    bar: &indicatif::ProgressBar,
) -> Result<(), ReplayError> {
    let engine = Engine::new(store.clone());
    engine.ensure().await.map_err(engine_error)?;
    for model in models(projection, all)? {
        let total = store.count_after(ledger_store::Cursor::START).await?;
        bar.set_length(u64::try_from(total).unwrap_or(0));
        bar.set_position(0);
        bar.set_message(model.name());
        let generation = engine.start_generation(model).await.map_err(engine_error)?;
        // Step by step for the bar; `promote` applies what arrived meanwhile and swaps.
        let mut applied = 0u64;
        loop {
            let read = engine.step(model, generation).await.map_err(engine_error)?;
            if read == 0 {
                break;
            }
            applied += u64::try_from(read).unwrap_or(0);
            bar.set_position(applied);
        }
        engine
            .promote(model, generation)
            .await
            .map_err(engine_error)?;
        let info = engine
            .generation(model, generation)
            .await
            .map_err(engine_error)?;
        let line = json!({"projection": model.name(), "generation": generation, "events": info.events_applied, "state": info.state});
        writeln!(out, "{line}").map_err(write_error)?;
    }
    Ok(())
}

/// Rows of the live generation that differ from a fresh replay: (stream, live, replayed),
/// each side `{"version", "state"}` and, for a model with a side table, `"entries"` (null
/// when the stream has no row on that side). Reads only: the live generation is compared
/// at its own checkpoint, read in one snapshot with its rows, against the feed replayed in
/// memory up to there. Also returns that generation.
pub async fn drift(
    store: &ledger_store::Store,
    model: ReadModel,
    bar: &indicatif::ProgressBar,
) -> Result<(GenerationInfo, Vec<(String, Value, Value)>), ReplayError> {
    let engine = Engine::new(store.clone());
    let (live, current) = engine
        .snapshot_live(model)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| {
            ReplayError::Projection(format!("{} has no live generation", model.name()))
        })?;
    // The replay reads what the generation read: every event up to its checkpoint.
    bar.set_length(u64::try_from(live.events_applied).unwrap_or(0));
    bar.set_message(model.name());
    let fresh = engine
        .replay(model, live.checkpoint, &|read| bar.set_position(read))
        .await
        .map_err(engine_error)?;
    let (current, fresh) = (rows_by_stream(current), rows_by_stream(fresh));
    let ids: BTreeSet<&String> = current.keys().chain(fresh.keys()).collect();
    let drifting = ids
        .into_iter()
        .filter_map(|id| {
            let (a, b) = (current.get(id), fresh.get(id));
            (a != b).then(|| {
                let side = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
                (id.clone(), side(a), side(b))
            })
        })
        .collect();
    Ok((live, drifting))
}

/// Each stream's row as `drift` shows it.
fn rows_by_stream(replayed: Replayed) -> BTreeMap<String, Value> {
    let mut entries: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in replayed.entries {
        let entry = json!({"booking_id": e.booking_id, "seats": e.seats, "customer": e.customer, "expires_at": e.expires_at});
        entries.entry(e.stream_id).or_default().push(entry);
    }
    let mut rows: BTreeMap<String, Value> = replayed
        .states
        .into_iter()
        .map(|(id, (version, state))| (id, json!({"version": version, "state": state})))
        .collect();
    // An entry without its stream's row is drift too: it shows under a row of its own.
    for (id, list) in entries {
        let row = rows.entry(id).or_insert_with(|| json!({}));
        row["entries"] = Value::Array(list);
    }
    rows
}

/// `diff --projection NAME`: prints each drifting row and a summary; `Ok(false)` when
/// there is drift.
pub async fn diff(
    store: &ledger_store::Store,
    projection: &str,
    out: &mut dyn Write,
    bar: &indicatif::ProgressBar,
) -> Result<bool, ReplayError> {
    let model = models(Some(projection), false)?[0];
    let (live, rows) = drift(store, model, bar).await?;
    bar.finish_and_clear();
    for (stream, live, replayed) in rows.iter().take(MAX_DRIFT_SHOWN) {
        let line = json!({"projection": model.name(), "stream_id": stream, "live": live, "replayed": replayed});
        writeln!(out, "{line}").map_err(write_error)?;
    }
    // The generation is compared where it stands; events it has not read yet are counted.
    let behind = store.count_after(live.checkpoint).await?;
    let line = json!({
        "projection": model.name(),
        "generation": live.generation,
        "checkpoint": live.checkpoint.to_string(),
        "events_not_yet_applied": behind,
        "drifting_rows": rows.len(),
    });
    writeln!(out, "{line}").map_err(write_error)?;
    Ok(rows.is_empty())
}
