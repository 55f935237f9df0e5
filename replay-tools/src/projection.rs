//! `ledger-replay rebuild` and `diff`, on the projection engine (`projections`).
//!
//! `rebuild` builds a new generation of a read model from the start of the feed beside
//! the live one and swaps it in (blue/green). `diff` catches the live generation up with
//! every event, replays a scratch generation from position 0, compares every row, drops
//! the scratch copy and reports each stream whose row differs (exit 1 on drift).

use std::time::Duration;

use projections::{Engine, ReadModel};
use serde_json::{json, Value};
use std::io::Write;

use crate::ReplayError;

/// How long `diff` waits for the feed to show every committed event.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(60);
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

/// Rows of the live generation that differ from a fresh replay: (stream, live, replayed).
pub async fn drift(
    store: &ledger_store::Store,
    model: ReadModel,
) -> Result<Vec<(String, Value, Value)>, ReplayError> {
    let engine = Engine::new(store.clone());
    engine.ensure().await.map_err(engine_error)?;
    let live = engine
        .live(model)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| ReplayError::Projection("no live generation".into()))?;
    engine
        .catch_up_fully(model, live.generation, CATCH_UP_PATIENCE)
        .await
        .map_err(engine_error)?;
    let scratch = engine.start_generation(model).await.map_err(engine_error)?;
    let replayed = engine
        .catch_up_fully(model, scratch, CATCH_UP_PATIENCE)
        .await;
    let fresh = match replayed {
        Ok(()) => engine.states(model, scratch).await.map_err(engine_error),
        Err(e) => Err(engine_error(e)),
    };
    // The scratch copy never serves: drop it whatever happened.
    let discarded = engine.discard(model, scratch).await.map_err(engine_error);
    let fresh = fresh?;
    discarded?;
    // The live generation may have moved on meanwhile: compare it caught up again.
    engine
        .catch_up_fully(model, live.generation, CATCH_UP_PATIENCE)
        .await
        .map_err(engine_error)?;
    let current = engine
        .states(model, live.generation)
        .await
        .map_err(engine_error)?;
    let row = |rows: &[(String, i64, Value)], id: &str| {
        rows.iter()
            .find(|r| r.0 == id)
            .map(|r| json!({"version": r.1, "state": r.2}))
    };
    let mut ids: Vec<&String> = current
        .iter()
        .map(|r| &r.0)
        .chain(fresh.iter().map(|r| &r.0))
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids
        .into_iter()
        .filter_map(|id| {
            let (a, b) = (row(&current, id), row(&fresh, id));
            (a != b).then(|| {
                (
                    id.clone(),
                    a.unwrap_or(Value::Null),
                    b.unwrap_or(Value::Null),
                )
            })
        })
        .collect())
}

/// `diff --projection NAME`: prints each drifting row; `Ok(false)` when there is drift.
pub async fn diff(
    store: &ledger_store::Store,
    projection: &str,
    out: &mut dyn Write,
) -> Result<bool, ReplayError> {
    let model = models(Some(projection), false)?[0];
    let rows = drift(store, model).await?;
    for (stream, live, replayed) in rows.iter().take(MAX_DRIFT_SHOWN) {
        let line = json!({"projection": model.name(), "stream_id": stream, "live": live, "replayed": replayed});
        writeln!(out, "{line}").map_err(write_error)?;
    }
    writeln!(
        out,
        "{}",
        json!({"projection": model.name(), "drifting_rows": rows.len()})
    )
    .map_err(write_error)?;
    Ok(rows.is_empty())
}
