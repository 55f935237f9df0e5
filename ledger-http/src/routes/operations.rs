//! Operations views (operator). `GET /v1/slots/{slot_id}/manifest` — who is on a
//! departure: the bookings holding or confirmed on the slot (the `slot_availability` read
//! model's per-booking entries) with their status, seats, customer, paid and refunded
//! amounts (the `booking_status` read model). Held, partially paid and paid bookings only:
//! a lapsed hold is not on it. Both read models are projections of the ledger, rebuilt
//! from position 0 like any other; `as_of` is the older of their two checkpoints.

use actix_web::{web, HttpResponse};
use chrono::SecondsFormat;
use ledger_core::domain::{BookingState, BookingStatus, SlotState};
use ledger_core::Money;
use projections::ReadModel;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Principal, Role};
use crate::commands::slots::slot_id;
use crate::error::ApiError;
use crate::routes::read_model::{fresh, projection_error};
use crate::startup::AppState;
use crate::views::money;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestQuery {
    pub min_cursor: Option<String>,
}

fn unreadable(e: serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "unreadable state in a read model");
    ApiError::internal()
}

/// Who is on a departure (operator).
#[utoipa::path(get, path = "/v1/slots/{slot_id}/manifest", security(("bearer" = [])),
    params(("slot_id" = String, Path), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "{\"slot_id\", \"starts_at\", \"capacity\", \"bookings\": [{\"booking_id\", \"status\", \"seats\", \"customer\", \"paid\", \"refunded\"}], \"as_of\"}"),
              (status = 404, body = crate::openapi::ProblemDoc)))]
pub async fn manifest(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<ManifestQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator, Role::Admin])?;
    let slot_id = slot_id(&path)?;
    let stream = slot_id.stream_id();
    let min_cursor = query.min_cursor.as_deref();
    let slots = fresh(&state, ReadModel::SlotAvailability, min_cursor).await?;
    let bookings_read = fresh(&state, ReadModel::BookingStatus, min_cursor).await?;
    let not_found = || ApiError::not_found("slot_not_found", "no such slot");
    let row = slots
        .engine
        .state(
            ReadModel::SlotAvailability,
            slots.generation,
            stream.as_str(),
        )
        .await
        .map_err(projection_error)?
        .ok_or_else(not_found)?;
    let slot: SlotState = serde_json::from_value(row).map_err(unreadable)?;
    let spec = slot.spec.as_ref().ok_or_else(not_found)?;
    let entries = slots
        .engine
        .entries_of(
            ReadModel::SlotAvailability,
            slots.generation,
            stream.as_str(),
        )
        .await
        .map_err(projection_error)?;
    let streams: Vec<String> = entries
        .iter()
        .map(|e| format!("booking-{}", e.booking_id))
        .collect();
    let states = bookings_read
        .engine
        .states_of(ReadModel::BookingStatus, bookings_read.generation, &streams)
        .await
        .map_err(projection_error)?;
    let states: std::collections::HashMap<String, Value> = states.into_iter().collect();
    let now = state.clock.now();
    let mut listed = Vec::new();
    for (entry, stream) in entries.iter().zip(&streams) {
        let Some(booking) = states.get(stream) else {
            continue; // not folded yet by the (slightly older) booking read model
        };
        let booking: BookingState = serde_json::from_value(booking.clone()).map_err(unreadable)?;
        let Some(placed) = &booking.placed else {
            continue;
        };
        let status = booking.status_at(now);
        if !matches!(
            status,
            Some(BookingStatus::Held | BookingStatus::PartiallyPaid | BookingStatus::Paid)
        ) {
            continue;
        }
        let zero = Money::zero(placed.total.currency());
        let seats: u32 = placed
            .items
            .iter()
            .filter(|i| i.slot_id == slot_id)
            .map(|i| i.seats)
            .sum();
        listed.push(json!({
            "booking_id": entry.booking_id.to_string(),
            "status": status,
            "seats": seats,
            "customer": placed.customer,
            "paid": money(&booking.paid().unwrap_or(zero)),
            "refunded": money(&booking.refunded().unwrap_or(zero)),
        }));
    }
    let mut view = json!({
        "slot_id": slot_id.as_str(),
        "starts_at": spec.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "capacity": spec.capacity,
        "bookings": Value::Array(listed),
    });
    // The older of the two read models' positions, and stale if either is.
    let position = |text: &str| ledger_store::Cursor::parse(text).ok();
    let older = match (position(&slots.as_of), position(&bookings_read.as_of)) {
        (Some(a), Some(b)) if b < a => &bookings_read,
        _ => &slots,
    };
    older.stamp(&mut view);
    if slots.stale || bookings_read.stale {
        view["stale"] = true.into();
    }
    Ok(HttpResponse::Ok().json(view))
}
