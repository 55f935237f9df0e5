//! Public availability reads, served from the slot streams' state (the projections work
//! moves them onto read models): one slot, or an activity's slots in a time window.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::SlotState;
use ledger_core::{ActivityId, Category, SlotId, StreamId};
use serde::Deserialize;
use serde_json::Value;

use crate::commands::aggregate::load;
use crate::commands::slots::slot_id;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::views::slot_view;

/// Most slots one activity listing returns; a window wider than this is refused.
const MAX_LISTED_SLOTS: i64 = 500;

async fn as_of(state: &AppState, streams: &[StreamId]) -> Result<Value, ApiError> {
    Ok(state
        .store
        .last_cursor(streams)
        .await?
        .map(|c| c.to_string())
        .into())
}

/// Availability of one slot (public).
#[utoipa::path(get, path = "/v1/slots/{slot_id}/availability", params(("slot_id" = String, Path)),
    responses((status = 200, description = "slot_id, capacity, held, confirmed, available, blocked, starts_at, bookable_until, as_of"), (status = 404, body = crate::openapi::ProblemDoc)))]
pub async fn slot(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slot_id = slot_id(&path)?;
    let stream = slot_id.stream_id();
    let not_found = || ApiError::not_found("slot_not_found", "no such slot");
    let head = state
        .store
        .stream_head(&stream)
        .await?
        .ok_or_else(not_found)?;
    let slot: SlotState = load(&state.store, &head).await?;
    if slot.spec.is_none() {
        return Err(not_found());
    }
    let mut view = slot_view(&slot_id, &slot, state.clock.now());
    view["as_of"] = as_of(&state, &[stream]).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from: Option<DateTime<FixedOffset>>,
    pub to: Option<DateTime<FixedOffset>>,
}

/// Availability of an activity's slots starting in [from, to) (public).
#[utoipa::path(get, path = "/v1/activities/{activity_id}/availability",
    params(("activity_id" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    responses((status = 200, description = "array of slot availability views, by start time")))]
pub async fn activity(
    state: web::Data<AppState>,
    path: web::Path<String>,
    window: web::Query<Window>,
) -> Result<HttpResponse, ApiError> {
    let activity = ActivityId::parse(&path)
        .map_err(|e| ApiError::not_found("activity_not_found", e.to_string()))?;
    if let (Some(from), Some(to)) = (window.from, window.to) {
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`from` must be before `to`",
            ));
        }
    }
    let path: &[&str] = &["spec", "activity_id"];
    let heads = state
        .store
        .list_heads(
            Category::Slot,
            Some((path, activity.as_str())),
            "",
            MAX_LISTED_SLOTS + 1,
        )
        .await?;
    if heads.len() as i64 > MAX_LISTED_SLOTS {
        return Err(ApiError::bad_request(
            "too_many_slots",
            format!("narrow the window: more than {MAX_LISTED_SLOTS} slots"),
        ));
    }
    let now = state.clock.now();
    let mut slots = Vec::new();
    for head in &heads {
        let slot: SlotState = load(&state.store, head).await?;
        let Some(spec) = &slot.spec else { continue };
        let in_window = window.from.is_none_or(|f| spec.starts_at >= f)
            && window.to.is_none_or(|t| spec.starts_at < t);
        if in_window {
            let id = SlotId::parse(head.stream_id.key()).map_err(|_| ApiError::internal())?;
            slots.push((spec.starts_at, slot_view(&id, &slot, now)));
        }
    }
    slots.sort_by_key(|s| s.0);
    let streams: Vec<StreamId> = heads.iter().map(|h| h.stream_id.clone()).collect();
    let as_of = as_of(&state, &streams).await?;
    // API.md: "list of the same" — an array of slot views, each with the listing's as_of.
    let list: Vec<Value> = slots
        .into_iter()
        .map(|(_, mut v)| {
            v["as_of"] = as_of.clone();
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
