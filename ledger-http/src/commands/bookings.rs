//! Booking commands: `POST /v1/bookings` (customer) holds seats on one or more slots, all
//! or nothing (`PlaceBooking`: the locks of every slot and the coupon), and
//! `POST /v1/bookings/{id}/cancel` (owner before payment, operator any time; an operator's
//! cancel of a booking holding money starts a full refund, `commands::refunds`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{
    cancel_booking, BookingState, BookingStreams, CancelBooking, CouponCode, PlaceBooking,
};
use ledger_core::{BookingId, Money, SlotId};
use serde::Deserialize;

use super::refunds::{accept, RefundAsk};
use super::rejection::problem;
use super::{planned_again, replayed, run, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{read_body, request_fingerprint, CommandBody, RequiredKey};
use crate::metrics::Metrics;
use crate::startup::AppState;
use crate::views::booking_view;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub slot_id: SlotId,
    /// Any integer is accepted here so that 0 or -1 is a 422 `invalid_seats`, not a 400.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "crate::extract::whole_number")]
    pub seats: i64,
}

/// The body of `POST /v1/bookings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"slot_id": "glaciar-0900", "seats": 2}], "coupon_code": "VERANO10"}))]
pub struct PlaceBookingBody {
    #[schema(min_items = 1, max_items = 10)]
    pub items: Vec<ItemBody>,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub coupon_code: Option<String>,
    #[schema(value_type = Option<crate::openapi::MoneyDoc>)]
    pub expected_total: Option<Money>,
}

fn invalid_seats(detail: &str) -> ApiError {
    ApiError::unprocessable("invalid_seats", detail.to_owned())
}

/// Holds seats on one or more slots, all or nothing (customer). The total is computed by
/// the server; `expected_total` only ever triggers 409 `price_changed`.
#[utoipa::path(post, path = "/v1/bookings", operation_id = "placeBooking", tag = "Bookings", request_body = PlaceBookingBody, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 201, description = "held: booking_id, status, items, total, discount, hold_expires_at, cursor", body = crate::openapi::responses::BookingReply),
        (status = 409, description = "sold_out, cutoff_passed, slot_blocked, coupon_exhausted, coupon_expired, price_changed", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "slot_not_found", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 422, description = "invalid_seats, idempotency_key_reused", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn place(
    req: HttpRequest,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    principal: Principal,
    key: RequiredKey,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer])?;
    let body: CommandBody<PlaceBookingBody> = read_body(&req, payload).await?;
    let fingerprint = request_fingerprint(&req, Some(&body.value))?;
    let PlaceBookingBody {
        items,
        coupon_code,
        expected_total,
    } = body.parsed;
    if let Some(total) = &expected_total {
        crate::extract::iso_currency("expected_total", total)?;
    }
    let items = items
        .into_iter()
        .map(|i| {
            u32::try_from(i.seats)
                .map(|s| (i.slot_id, s))
                .map_err(|_| invalid_seats("seats must be a positive whole number"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let coupon = coupon_code
        .map(|c| {
            CouponCode::parse(&c)
                .map_err(|e| ApiError::unprocessable("invalid_coupon", e.to_string()))
        })
        .transpose()?;
    let booking_id = BookingId::from_uuid(uuid::Uuid::now_v7());
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint,
    };
    let decision = PlaceBooking {
        booking_id,
        customer: meta.sub.clone(),
        items,
        coupon,
        expected_total,
        hold_ttl: state.hold_ttl,
    };
    let response = run(
        &state,
        &meta,
        decision,
        move |outcome, world, now| match outcome {
            Ok(_) => Reply {
                status: StatusCode::CREATED,
                body: booking_view(&booking_id, world.booking(&booking_id), now),
                with_cursor: true,
            },
            Err(r) => Reply::rejected(&problem(r)),
        },
    )
    .await;
    let outcome = match &response {
        Ok((_, Some(Ok(_)))) => "held",
        Ok((_, Some(Err(r)))) => r.code(),
        Ok((_, None)) => "replayed",
        Err(e) => e.code(),
    };
    metrics.bookings.with_label_values(&[outcome]).inc();
    response.map(|(answer, _)| answer)
}

pub fn booking_id(raw: &str) -> Result<BookingId, ApiError> {
    BookingId::parse(raw).map_err(|_| ApiError::not_found("booking_not_found", "no such booking"))
}

/// The booking as committed now (unlocked), if it was ever placed.
pub async fn find_booking(
    state: &AppState,
    id: &BookingId,
) -> Result<Option<BookingState>, ApiError> {
    let found = state.store.state::<BookingState>(&id.stream_id()).await?;
    Ok(found
        .map(|(_, booking)| booking)
        .filter(|b| b.placed.is_some()))
}

/// The booking (unlocked), or 404.
pub async fn read_booking(state: &AppState, id: &BookingId) -> Result<BookingState, ApiError> {
    find_booking(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("booking_not_found", "no such booking"))
}

/// The streams of a placed booking (its items and coupon never change once placed, so
/// they are read before the lock).
pub fn streams_of(id: BookingId, booking: &BookingState) -> Result<BookingStreams, ApiError> {
    let placed = booking.placed.as_ref().ok_or_else(ApiError::internal)?;
    Ok(BookingStreams::of(id, placed))
}

/// Cancels a booking (owner before payment, operator any time) and releases its seats and
/// coupon claim.
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/cancel", operation_id = "cancelBooking", tag = "Bookings", security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 200, description = "the booking view", body = crate::openapi::responses::BookingReply), (status = 409, description = "not_cancellable", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer, Role::Operator])?;
    let id = booking_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, None)?,
    };
    let operator = principal.has(Role::Operator);
    // Planned on the booking's slots as read: again if it moved before the lock.
    planned_again(|| cancel_once(&state, &meta, id, operator)).await
}

async fn cancel_once(
    state: &AppState,
    meta: &CommandMeta,
    id: BookingId,
    operator: bool,
) -> Result<HttpResponse, ApiError> {
    let before = read_booking(state, &id).await?;
    let owner = before.placed.as_ref().map(|p| p.customer.as_str());
    if !operator && owner != Some(meta.sub.as_str()) {
        return Err(ApiError::not_found("booking_not_found", "no such booking"));
    }
    // An operator's cancel of a booking holding money starts a full refund: the providers
    // accept it first (outside every lock), then the cancel and the refund are recorded
    // together. Nothing is asked of a provider for a cancel that would be refused.
    let mut refund = None;
    let now = state.clock.now();
    if operator && cancel_booking(&before, &meta.sub, true, now).is_ok() {
        if let Some(answer) = replayed(state, meta).await? {
            return Ok(answer);
        }
        let ask = RefundAsk {
            amount: None,
            reason: None,
            keep_seats: false,
        };
        refund = accept(state, &id, &before, &meta.sub, ask).await?.ok();
    }
    let decision = CancelBooking {
        streams: streams_of(id, &before)?,
        by: meta.sub.clone(),
        operator,
        refund,
    };
    let (answer, _) = run(
        state,
        meta,
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
