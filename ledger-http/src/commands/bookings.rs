//! Booking commands: `POST /v1/bookings` (customer) holds seats on one or more slots, all
//! or nothing, under the locks of every slot, the new booking and the coupon; and
//! `POST /v1/bookings/{id}/cancel` (owner before payment, operator any time).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{
    cancel_booking, place_booking, release_claim, release_expired_holds, release_hold,
    BookingState, CouponCode, CouponState, PlaceBooking, ReleaseReason, SlotState,
};
use ledger_core::{BookingId, Money, SlotId, StreamId};
use ledger_store::{AppendBatch, Wake};
use serde::Deserialize;

use super::aggregate::{append, command_metadata, load, load_locked};
use super::rejection::problem;
use super::{execute, CommandMeta, Decided, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{request_fingerprint, CommandBody, RequiredKey};
use crate::metrics::Metrics;
use crate::startup::AppState;
use crate::views::booking_view;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    #[schema(value_type = String)]
    pub slot_id: SlotId,
    /// Any integer is accepted here so that 0 or -1 is a 422 `invalid_seats`, not a 400.
    pub seats: i64,
}

/// The body of `POST /v1/bookings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBookingBody {
    pub items: Vec<ItemBody>,
    pub coupon_code: Option<String>,
    #[schema(value_type = Option<crate::openapi::MoneyDoc>)]
    pub expected_total: Option<Money>,
}

fn invalid_seats(detail: &str) -> ApiError {
    ApiError::unprocessable("invalid_seats", detail.to_owned())
}

/// Holds seats on one or more slots, all or nothing (customer). The total is computed by
/// the server; `expected_total` only ever triggers 409 `price_changed`.
#[utoipa::path(post, path = "/v1/bookings", request_body = PlaceBookingBody, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 201, description = "held: booking_id, status, items, total, discount, hold_expires_at, cursor"),
        (status = 409, description = "sold_out, cutoff_passed, slot_blocked, coupon_exhausted, coupon_expired, price_changed", body = crate::openapi::ProblemDoc),
        (status = 404, description = "slot_not_found", body = crate::openapi::ProblemDoc), (status = 422, description = "invalid_seats, idempotency_key_reused", body = crate::openapi::ProblemDoc)))]
pub async fn place(
    req: HttpRequest,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    principal: Principal,
    key: RequiredKey,
    body: CommandBody<PlaceBookingBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer])?;
    let fingerprint = request_fingerprint(&req, Some(&body.value))?;
    let PlaceBookingBody {
        items,
        coupon_code,
        expected_total,
    } = body.parsed;
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
    let streams = lock_set(items.iter().map(|(s, _)| s), &booking_id, coupon.as_ref());
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint,
    };
    let metadata = command_metadata(&meta.sub);
    let store = &state.store;
    // What the decision was, for the metric; stays "replayed" if no decision ran.
    let outcome = std::cell::Cell::new("replayed");
    let response = execute(&state, &meta, &streams, async |locked| {
        let now = state.clock.now();
        let mut slots = BTreeMap::new();
        for (slot_id, _) in &items {
            let slot: SlotState = load_locked(store, locked, &slot_id.stream_id()).await?;
            slots.insert(slot_id.clone(), slot);
        }
        let mut coupon_state: Option<CouponState> = match &coupon {
            Some(code) => Some(load_locked(store, locked, &code.stream_id()).await?),
            None => None,
        };
        let cmd = PlaceBooking {
            booking_id,
            customer: meta.sub.clone(),
            items: items.clone(),
            coupon: coupon.clone(),
            expected_total,
            now,
            hold_ttl: state.hold_ttl,
        };
        let decision = place_booking(&cmd, &slots, coupon_state.as_ref());
        let mut batch = AppendBatch::default();
        for (slot_id, events) in &decision.slot_events {
            if let Some(slot) = slots.get_mut(slot_id) {
                batch.streams.push(append(
                    slot_id.stream_id(),
                    slot,
                    events,
                    &metadata,
                    Wake::Unchanged,
                )?);
            }
        }
        let mut booking = BookingState::default();
        if !decision.booking_events.is_empty() {
            // The sweeper wakes at the hold's own expiry, as the event states it.
            let mut preview = BookingState::default();
            decision
                .booking_events
                .iter()
                .for_each(|e| preview.apply(e));
            let wake = preview
                .placed
                .as_ref()
                .map_or(Wake::Unchanged, |p| Wake::At(p.hold_expires_at));
            batch.streams.push(append(
                booking_id.stream_id(),
                &mut booking,
                &decision.booking_events,
                &metadata,
                wake,
            )?);
        }
        if let (Some(code), Some(c)) = (&coupon, coupon_state.as_mut()) {
            if !decision.coupon_events.is_empty() {
                batch.streams.push(append(
                    code.stream_id(),
                    c,
                    &decision.coupon_events,
                    &metadata,
                    Wake::Unchanged,
                )?);
            }
        }
        outcome.set(
            decision
                .outcome
                .as_ref()
                .map_or_else(|r| r.code(), |_| "held"),
        );
        let reply = match &decision.outcome {
            Ok(_) => Reply {
                status: StatusCode::CREATED,
                body: booking_view(&booking_id, &booking, now),
                with_cursor: true,
            },
            Err(r) => Reply::rejected(&problem(r)),
        };
        Ok(Decided { batch, reply })
    })
    .await;
    let outcome = match &response {
        Ok(_) => outcome.get(),
        Err(e) => e.code(),
    };
    metrics.bookings.with_label_values(&[outcome]).inc();
    response
}

/// The streams a booking's commands lock: its slots, itself and its coupon (the store
/// sorts them).
pub fn lock_set<'a>(
    slots: impl IntoIterator<Item = &'a SlotId>,
    booking: &BookingId,
    coupon: Option<&CouponCode>,
) -> Vec<StreamId> {
    let mut streams: Vec<StreamId> = slots.into_iter().map(SlotId::stream_id).collect();
    streams.push(booking.stream_id());
    streams.extend(coupon.map(CouponCode::stream_id));
    streams
}

pub fn booking_id(raw: &str) -> Result<BookingId, ApiError> {
    BookingId::parse(raw).map_err(|_| ApiError::not_found("booking_not_found", "no such booking"))
}

/// The booking (unlocked, from its snapshot or events), if its stream has any event.
pub async fn find_booking(
    state: &AppState,
    id: &BookingId,
) -> Result<Option<BookingState>, ApiError> {
    match state
        .store
        .stream_head(&id.stream_id())
        .await?
        .filter(|h| h.version > 0)
    {
        Some(head) => Ok(Some(load(&state.store, &head).await?)),
        None => Ok(None),
    }
}

/// The booking (unlocked, from its snapshot or events), or 404.
pub async fn read_booking(state: &AppState, id: &BookingId) -> Result<BookingState, ApiError> {
    find_booking(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("booking_not_found", "no such booking"))
}

/// Cancels a booking (owner before payment, operator any time) and releases its seats and
/// coupon claim.
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/cancel", security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 200, description = "the booking view"), (status = 409, description = "not_cancellable", body = crate::openapi::ProblemDoc), (status = 404, body = crate::openapi::ProblemDoc)))]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer, Role::Operator])?;
    let id = booking_id(&path)?;
    let before = read_booking(&state, &id).await?;
    let placed = before
        .placed
        .as_ref()
        .ok_or_else(|| ApiError::not_found("booking_not_found", "no such booking"))?;
    let operator = principal.has(Role::Operator);
    if !operator && placed.customer != principal.sub() {
        return Err(ApiError::not_found("booking_not_found", "no such booking"));
    }
    let slot_ids: Vec<SlotId> = placed.items.iter().map(|i| i.slot_id.clone()).collect();
    let coupon = placed.coupon_code.clone();
    let streams = lock_set(&slot_ids, &id, coupon.as_ref());
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, None)?,
    };
    let metadata = command_metadata(&meta.sub);
    let store = &state.store;
    execute(&state, &meta, &streams, async |locked| {
        let now = state.clock.now();
        let mut booking: BookingState = load_locked(store, locked, &id.stream_id()).await?;
        let events = match cancel_booking(&booking, &meta.sub, operator, now) {
            Ok(events) => events,
            Err(r) => {
                return Ok(Decided {
                    batch: AppendBatch::default(),
                    reply: Reply::rejected(&problem(&r)),
                })
            }
        };
        let mut batch = AppendBatch::default();
        for slot_id in &slot_ids {
            let stream = slot_id.stream_id();
            let mut slot: SlotState = load_locked(store, locked, &stream).await?;
            let mut slot_events = release_expired_holds(&slot, now);
            let mut after = slot.clone();
            slot_events.iter().for_each(|e| after.apply(e));
            slot_events.extend(release_hold(&after, id, ReleaseReason::Cancelled));
            batch.streams.push(append(
                stream,
                &mut slot,
                &slot_events,
                &metadata,
                Wake::Unchanged,
            )?);
        }
        if let Some(code) = &coupon {
            let mut c: CouponState = load_locked(store, locked, &code.stream_id()).await?;
            let coupon_events = release_claim(&c, id, ReleaseReason::Cancelled);
            batch.streams.push(append(
                code.stream_id(),
                &mut c,
                &coupon_events,
                &metadata,
                Wake::Unchanged,
            )?);
        }
        batch.streams.push(append(
            id.stream_id(),
            &mut booking,
            &events,
            &metadata,
            Wake::Never,
        )?);
        let reply = Reply {
            status: StatusCode::OK,
            body: booking_view(&id, &booking, now),
            with_cursor: true,
        };
        Ok(Decided { batch, reply })
    })
    .await
}
