//! Public availability reads, served from the `slot_availability` read model: one slot, or
//! an activity's slots in a time window. A slot's counters come with its lapsed holds (an
//! index read of the generation's entries), which count as free from the moment they
//! lapse. `min_cursor` waits (bounded) for the read model to reach a command's cursor;
//! every answer carries `as_of`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::SlotState;
use ledger_core::{ActivityId, SlotId};
use projections::ReadModel;
use serde::Deserialize;
use serde_json::Value;

use crate::commands::slots::slot_id;
use crate::error::ApiError;
use crate::routes::read_model::{fresh, projection_error};
use crate::startup::AppState;
use crate::views::slot_view;

/// Most slots one activity listing returns; a window wider than this is refused.
const MAX_LISTED_SLOTS: i64 = 500;

fn decode(state: Value) -> Result<SlotState, ApiError> {
    serde_json::from_value(state).map_err(|e| {
        tracing::error!(error = %e, "unreadable slot in the read model");
        ApiError::internal()
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotQuery {
    pub min_cursor: Option<String>,
}

/// Availability of one slot (public).
#[utoipa::path(get, path = "/v1/slots/{slot_id}/availability", operation_id = "getSlotAvailability", tag = "Slots", params(("slot_id" = String, Path), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "slot_id, capacity, held, confirmed, available, blocked, starts_at, bookable_until, as_of", body = crate::openapi::responses::SlotRead), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn slot(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<SlotQuery>,
) -> Result<HttpResponse, ApiError> {
    let slot_id = slot_id(&path)?;
    let read = fresh(
        &state,
        ReadModel::SlotAvailability,
        query.min_cursor.as_deref(),
    )
    .await?;
    let not_found = || ApiError::not_found("slot_not_found", "no such slot");
    let row = read
        .engine
        .state(
            ReadModel::SlotAvailability,
            read.generation,
            slot_id.stream_id().as_str(),
        )
        .await
        .map_err(projection_error)?
        .ok_or_else(not_found)?;
    let mut slot = decode(row)?;
    if slot.spec.is_none() {
        return Err(not_found());
    }
    let now = state.clock.now();
    let stream = slot_id.stream_id();
    let lapsed = read
        .engine
        .lapsed_entries(
            ReadModel::SlotAvailability,
            read.generation,
            &[stream.as_str()],
            now,
        )
        .await
        .map_err(projection_error)?;
    lapsed
        .iter()
        .for_each(|e| slot.know(e.booking(), e.seats_entry()));
    let mut view = slot_view(&slot_id, &slot, now);
    read.stamp(&mut view);
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
    pub min_cursor: Option<String>,
}

/// Availability of an activity's slots starting in [from, to) (public).
#[utoipa::path(get, path = "/v1/activities/{activity_id}/availability", operation_id = "getActivityAvailability", tag = "Slots",
    params(("activity_id" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "array of slot availability views, by start time", body = Vec<crate::openapi::responses::SlotRead>)))]
pub async fn activity(
    state: web::Data<AppState>,
    path: web::Path<String>,
    window: web::Query<Window>,
) -> Result<HttpResponse, ApiError> {
    let activity = ActivityId::parse(&path)
        .map_err(|e| ApiError::not_found("activity_not_found", e.to_string()))?;
    // An empty window (`to` at or before `from`) holds no slot.
    let empty = matches!((window.from, window.to), (Some(from), Some(to)) if from >= to);
    let read = fresh(
        &state,
        ReadModel::SlotAvailability,
        window.min_cursor.as_deref(),
    )
    .await?;
    let rows = if empty {
        Vec::new()
    } else {
        read.engine
            .states_by_key(
                ReadModel::SlotAvailability,
                read.generation,
                activity.as_str(),
                window.from.map(|f| f.to_utc()),
                window.to.map(|t| t.to_utc()),
                MAX_LISTED_SLOTS + 1,
            )
            .await
            .map_err(projection_error)?
    };
    if rows.len() as i64 > MAX_LISTED_SLOTS {
        return Err(ApiError::bad_request(
            "too_many_slots",
            format!("narrow the window: more than {MAX_LISTED_SLOTS} slots"),
        ));
    }
    let now = state.clock.now();
    let streams: Vec<&str> = rows.iter().map(|(stream, _)| stream.as_str()).collect();
    let lapsed = read
        .engine
        .lapsed_entries(ReadModel::SlotAvailability, read.generation, &streams, now)
        .await
        .map_err(projection_error)?;
    let mut list = Vec::with_capacity(rows.len());
    for (stream, row) in &rows {
        let mut slot = decode(row.clone())?;
        lapsed
            .iter()
            .filter(|e| e.stream_id == *stream)
            .for_each(|e| slot.know(e.booking(), e.seats_entry()));
        let id =
            SlotId::parse(stream.trim_start_matches("slot-")).map_err(|_| ApiError::internal())?;
        // API.md: "list of the same" — slot views, each with the read model's as_of.
        let mut view = slot_view(&id, &slot, now);
        read.stamp(&mut view);
        list.push(view);
    }
    Ok(HttpResponse::Ok().json(list))
}
