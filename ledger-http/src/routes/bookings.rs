//! `GET /v1/bookings/{booking_id}` (owner, operator, auditor), from the `booking_status`
//! read model; `?min_cursor=C` waits up to 2 s for it to reach C, then answers with
//! `"stale": true`. A customer asking for someone else's booking gets 404, so ids cannot
//! be probed.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{Principal, Role};
use crate::commands::bookings::booking_id;
use crate::error::ApiError;
use crate::routes::read_model::{fresh, projection_error};
use crate::startup::AppState;
use crate::views::{booking_view, money};
use ledger_core::domain::BookingState;
use projections::ReadModel;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    /// Read-your-writes: wait (up to 2 s) until the read model has reached this cursor.
    pub min_cursor: Option<String>,
}

/// A booking (owner, operator, auditor).
#[utoipa::path(get, path = "/v1/bookings/{booking_id}", operation_id = "getBooking", tag = "Bookings", security(("bearer" = [])),
    params(("booking_id" = String, Path), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "booking_id, status, items, total, paid, payments, hold_expires_at, as_of; for its owner and operators, payer (the newest payment request's, opened; {\"erased\": true} once its subject is erased)", body = crate::openapi::responses::BookingRead), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn get(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer, Role::Operator, Role::Auditor])?;
    let id = booking_id(&path)?;
    let read = fresh(
        &state,
        ReadModel::BookingStatus,
        query.min_cursor.as_deref(),
    )
    .await?;
    let not_found = || ApiError::not_found("booking_not_found", "no such booking");
    let row = read
        .engine
        .state(
            ReadModel::BookingStatus,
            read.generation,
            id.stream_id().as_str(),
        )
        .await
        .map_err(projection_error)?
        .ok_or_else(not_found)?;
    let booking: BookingState = serde_json::from_value(row).map_err(|e| {
        tracing::error!(error = %e, "unreadable booking in the read model");
        ApiError::internal()
    })?;
    let placed = booking.placed.as_ref().ok_or_else(not_found)?;
    let privileged = principal.has(Role::Operator) || principal.has(Role::Auditor);
    if !privileged && placed.customer != principal.sub() {
        return Err(not_found());
    }
    let mut view = booking_view(&id, &booking, state.clock.now());
    let paid = booking
        .paid()
        .unwrap_or_else(|| ledger_core::Money::zero(placed.total.currency()));
    view["paid"] = money(&paid);
    let refunded = booking
        .refunded()
        .unwrap_or_else(|| ledger_core::Money::zero(placed.total.currency()));
    view["refunded"] = money(&refunded);
    let payments: Vec<serde_json::Value> = booking
        .payments()
        .map(|p| {
            serde_json::json!({"provider": p.provider.as_str(), "payment_id": p.payment_id,
                                    "status": p.status.as_str(), "amount": money(&p.amount)})
        })
        .collect();
    view["payments"] = payments.into();
    // The payer of the newest request that named one, for its owner and operators: read
    // models hold it sealed; it is opened here, or reads {"erased": true}.
    let may_see_payer = principal.has(Role::Operator) || placed.customer == principal.sub();
    if let Some(payer) = booking
        .requests()
        .iter()
        .rev()
        .find_map(|r| r.payer.as_ref())
    {
        if may_see_payer {
            view["payer"] = payer.to_value();
            state.store.open_personal(&mut view).await?;
        }
    }
    read.stamp(&mut view);
    Ok(HttpResponse::Ok().json(view))
}
