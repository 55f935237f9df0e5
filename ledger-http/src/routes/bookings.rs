//! `GET /v1/bookings/{booking_id}` (owner, operator, auditor). A customer asking for
//! someone else's booking gets 404, so ids cannot be probed.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{Principal, Role};
use crate::commands::bookings::{booking_id, read_booking};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::views::{booking_view, money};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    /// Read-your-writes cursor. Bookings are read from their stream, which is always
    /// current, so any cursor a command returned is already reached.
    #[allow(dead_code)]
    pub min_cursor: Option<String>,
}

/// A booking (owner, operator, auditor).
#[utoipa::path(get, path = "/v1/bookings/{booking_id}", security(("bearer" = [])),
    params(("booking_id" = String, Path), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "booking_id, status, items, total, paid, payments, hold_expires_at, as_of"), (status = 404, body = crate::openapi::ProblemDoc)))]
pub async fn get(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer, Role::Operator, Role::Auditor])?;
    if let Some(c) = &query.min_cursor {
        ledger_store::Cursor::parse(c)
            .map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))?;
    }
    let id = booking_id(&path)?;
    let booking = read_booking(&state, &id).await?;
    let placed = booking
        .placed
        .as_ref()
        .ok_or_else(|| ApiError::not_found("booking_not_found", "no such booking"))?;
    let privileged = principal.has(Role::Operator) || principal.has(Role::Auditor);
    if !privileged && placed.customer != principal.sub() {
        return Err(ApiError::not_found("booking_not_found", "no such booking"));
    }
    let mut view = booking_view(&id, &booking, state.clock.now());
    let paid = booking
        .paid()
        .unwrap_or_else(|| ledger_core::Money::zero(placed.total.currency()));
    view["paid"] = money(&paid);
    let payments: Vec<serde_json::Value> = booking
        .payments()
        .map(|p| {
            serde_json::json!({"provider": p.provider.as_str(), "payment_id": p.payment_id,
                                    "status": p.status.as_str(), "amount": money(&p.amount)})
        })
        .collect();
    view["payments"] = payments.into();
    view["as_of"] = state
        .store
        .last_cursor(&[id.stream_id()])
        .await?
        .map(|c| c.to_string())
        .into();
    Ok(HttpResponse::Ok().json(view))
}
