//! `POST /v1/bookings/{booking_id}/move` (owner while both slots are bookable and the
//! booking is unpaid or paid; operator any time): seats move between slots atomically under
//! the locks of every slot involved, taken in sorted order with the booking's
//! (`ledger_core::domain::MoveBooking`), through the command cycle.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{MoveBooking, MoveItem, MAX_SEATS_PER_ITEM};
use ledger_core::SlotId;
use serde::Deserialize;

use super::bookings::{booking_id, read_booking};
use super::rejection::problem;
use super::{run, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{read_body, request_fingerprint, CommandBody, RequiredKey};
use crate::startup::AppState;
use crate::views::booking_view;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveItemBody {
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub from_slot_id: SlotId,
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub to_slot_id: SlotId,
    /// Omitted: all of the booking's seats on `from_slot_id`. Any integer is accepted here
    /// so that 0 or -1 is a 422 `invalid_seats`, not a 400.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "crate::extract::whole_number_opt")]
    pub seats: Option<i64>,
}

/// The body of `POST /v1/bookings/{booking_id}/move`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"from_slot_id": "glaciar-0900", "to_slot_id": "glaciar-1400", "seats": 1}]}))]
pub struct MoveBody {
    #[schema(min_items = 1, max_items = 10)]
    pub items: Vec<MoveItemBody>,
    /// Operators only: keep the booking's unit price on a slot that sells at another.
    pub keep_price: Option<bool>,
}

/// Move seats to other slots, all or nothing.
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/move", operation_id = "moveBooking", tag = "Bookings", request_body = MoveBody, security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "the booking view after the move", body = crate::openapi::responses::BookingReply),
        (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "sold_out, cutoff_passed, slot_blocked, not_movable, price_differs", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "invalid_seats", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn move_booking(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer, Role::Operator])?;
    let body: CommandBody<MoveBody> = read_body(&req, payload).await?;
    let id = booking_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, Some(&body.value))?,
    };
    let operator = principal.has(Role::Operator);
    let MoveBody { items, keep_price } = body.parsed;
    if keep_price == Some(true) && !operator {
        return Err(ApiError::forbidden(
            "only an operator may keep the booking's price",
        ));
    }
    let moves = items
        .into_iter()
        .map(|i| {
            let seats = match i.seats {
                None => None,
                Some(n) => Some(
                    u32::try_from(n)
                        .ok()
                        .filter(|n| (1..=MAX_SEATS_PER_ITEM).contains(n))
                        .ok_or_else(|| {
                            ApiError::unprocessable(
                                "invalid_seats",
                                format!("seats must be 1 to {MAX_SEATS_PER_ITEM}"),
                            )
                        })?,
                ),
            };
            Ok(MoveItem {
                from: i.from_slot_id,
                to: i.to_slot_id,
                seats,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    // A customer learns nothing about someone else's booking.
    let booking = read_booking(&state, &id).await?;
    let owner = booking.placed.as_ref().map(|p| p.customer.as_str());
    if !operator && owner != Some(principal.sub()) {
        return Err(ApiError::not_found("booking_not_found", "no such booking"));
    }
    let decision = MoveBooking {
        booking_id: id,
        moves,
        by: meta.sub.clone(),
        operator,
        keep_price: keep_price.unwrap_or(false),
    };
    let (answer, _) = run(
        &state,
        &meta,
        decision,
        move |outcome, world, now| match outcome {
            Ok(()) => Reply {
                status: StatusCode::OK,
                body: booking_view(&id, world.booking(&id), now),
                with_cursor: true,
            },
            Err(r) => Reply::rejected(&problem(r)),
        },
    )
    .await?;
    Ok(answer)
}
