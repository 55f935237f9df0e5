//! Reading the projections' read models: the live generation, caught up to the request's
//! `min_cursor` when it gives one (read-your-writes: a command returns the cursor of its
//! last event). The wait is bounded; past it the answer says `"stale": true`. A cursor
//! ahead of the ledger's newest event answers at once, stale. Every answer carries
//! `as_of`, the cursor the read model has reached.

use std::time::Duration;

use ledger_store::Cursor;
use projections::{Engine, ReadModel};
use serde_json::Value;

use crate::error::ApiError;
use crate::startup::AppState;

/// API.md: `min_cursor` waits up to 2 s.
pub const MIN_CURSOR_WAIT: Duration = Duration::from_secs(2);

/// The live generation to read, and what to say about it.
pub struct Fresh {
    pub engine: Engine,
    pub generation: i32,
    pub as_of: String,
    pub stale: bool,
}

impl Fresh {
    /// Adds `as_of` (and `stale` when the wait ran out) to a view.
    pub fn stamp(&self, view: &mut Value) {
        view["as_of"] = self.as_of.clone().into();
        if self.stale {
            view["stale"] = true.into();
        }
    }
}

pub fn projection_error(e: projections::ProjectionError) -> ApiError {
    match e {
        projections::ProjectionError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "read model");
            ApiError::internal()
        }
    }
}

pub async fn fresh(
    state: &AppState,
    model: ReadModel,
    min_cursor: Option<&str>,
) -> Result<Fresh, ApiError> {
    let min = min_cursor
        .map(|c| {
            Cursor::parse(c).map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))
        })
        .transpose()?;
    let engine = Engine::new(state.store.clone()).with_wake(state.projected.clone());
    let (mut live, mut stale) = engine
        .live_at_least(model, min, Duration::ZERO)
        .await
        .map_err(projection_error)?;
    // Behind the cursor: wait for it, unless no commit has reached it yet. Every cursor the
    // service hands out is of a committed event, so one ahead of the ledger's newest event
    // was never issued: waiting for it would only let anyone hold a request open (and a
    // connection's worth of the server) for the whole bound.
    if let (true, Some(min)) = (stale, min) {
        let head = state.store.newest_cursor().await?;
        if head.is_some_and(|head| min <= head) {
            (live, stale) = engine
                .live_at_least(model, Some(min), MIN_CURSOR_WAIT)
                .await
                .map_err(projection_error)?;
        }
    }
    Ok(Fresh {
        engine,
        generation: live.generation,
        as_of: live.checkpoint.to_string(),
        stale,
    })
}
