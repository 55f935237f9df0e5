//! Views of stream states, as API.md shows them: typed, and described by the same types in
//! the OpenAPI document. Times go out as RFC 3339 with the activity's own offset.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use ledger_core::domain::{
    BookingState, BookingStatus, CouponListState, CouponState, Cutoff, Discount, SlotState,
};
use ledger_core::{BookingId, Money, SlotId};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::openapi::responses::{BookingStatusDoc, CouponStateDoc, CutoffDoc};
use crate::openapi::MoneyDoc;

pub fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).to_rfc3339()
}

/// A view as the JSON a handler stores and answers.
fn json<T: Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// A slot's availability.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotView {
    #[schema(example = "glaciar-0900")]
    pub slot_id: String,
    #[schema(example = "glaciar-trek")]
    pub activity_id: String,
    pub capacity: u32,
    /// Seats on holds that have not lapsed.
    pub held: u32,
    pub confirmed: u32,
    pub available: u32,
    pub blocked: bool,
    /// With the activity's offset.
    #[schema(format = DateTime, example = "2026-12-01T09:00:00-03:00")]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub bookable_until: String,
    #[schema(value_type = MoneyDoc)]
    pub price: Money,
    #[schema(example = "America/Argentina/Ushuaia")]
    pub time_zone: String,
    #[schema(value_type = CutoffDoc)]
    pub cutoff: Cutoff,
}

/// Availability of a slot at `now`: holds past their expiry count as released even before
/// a `HoldReleased` is written.
pub fn slot_view(slot_id: &SlotId, slot: &SlotState, now: DateTime<Utc>) -> Value {
    let Some(spec) = &slot.spec else {
        return serde_json::json!({"slot_id": slot_id.as_str()});
    };
    let tz = spec.time_zone;
    json(&SlotView {
        slot_id: slot_id.as_str().to_owned(),
        activity_id: spec.activity_id.as_str().to_owned(),
        capacity: slot.capacity(),
        held: slot.held_at(now),
        confirmed: slot.confirmed(),
        available: slot.available_at(now),
        blocked: slot.blocked,
        starts_at: local(spec.starts_at, tz),
        bookable_until: local(spec.bookable_until(), tz),
        price: spec.price,
        time_zone: tz.name().to_owned(),
        cutoff: spec.cutoff,
    })
}

/// One line of a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub slot_id: String,
    pub seats: u32,
    #[schema(value_type = MoneyDoc)]
    pub unit_price: Money,
}

/// A booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingView {
    #[schema(format = Uuid)]
    pub booking_id: String,
    #[schema(value_type = BookingStatusDoc)]
    pub status: Option<BookingStatus>,
    pub items: Vec<ItemView>,
    #[schema(value_type = MoneyDoc)]
    pub subtotal: Money,
    #[schema(value_type = MoneyDoc)]
    pub discount: Money,
    #[schema(value_type = MoneyDoc)]
    pub total: Money,
    pub coupon_code: Option<String>,
    #[schema(format = DateTime, example = "2026-11-20T12:15:00Z")]
    pub hold_expires_at: String,
}

/// A booking as API.md shows it. `status` is derived at `now` (a held booking past its hold
/// is `expired` even before the sweeper writes `BookingExpired`).
pub fn booking_view(id: &BookingId, booking: &BookingState, now: DateTime<Utc>) -> Value {
    let Some(p) = &booking.placed else {
        return serde_json::json!({"booking_id": id.to_string()});
    };
    let items = p
        .items
        .iter()
        .map(|i| ItemView {
            slot_id: i.slot_id.as_str().to_owned(),
            seats: i.seats,
            unit_price: i.unit_price,
        })
        .collect();
    json(&BookingView {
        booking_id: id.to_string(),
        status: booking.status_at(now),
        items,
        subtotal: p.subtotal,
        discount: p.discount,
        total: p.total,
        coupon_code: p.coupon_code.as_ref().map(|c| c.as_str().to_owned()),
        hold_expires_at: p.hold_expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

pub fn money(m: &Money) -> Value {
    json(m)
}

/// A coupon, with its derived state and live claims. Either `percent_off` or `amount_off`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CouponView {
    #[schema(example = "VERANO10")]
    pub code: String,
    pub max_claims: u32,
    pub per_customer_limit: u32,
    #[schema(format = DateTime)]
    pub valid_from: String,
    #[schema(format = DateTime)]
    pub valid_until: String,
    /// Claims that count now (bookings held or paid with it).
    pub claims: u32,
    #[schema(value_type = CouponStateDoc)]
    pub state: Option<CouponListState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub percent_off: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MoneyDoc>)]
    pub amount_off: Option<Money>,
}

/// A coupon with its derived state and live claims at `now`.
pub fn coupon_view(coupon: &CouponState, now: DateTime<Utc>) -> Value {
    let Some(spec) = &coupon.spec else {
        return serde_json::json!({});
    };
    let (percent_off, amount_off) = match &spec.discount {
        Discount::PercentOff(p) => (Some(*p), None),
        Discount::AmountOff(m) => (None, Some(*m)),
    };
    json(&CouponView {
        code: spec.code.as_str().to_owned(),
        max_claims: spec.max_claims,
        per_customer_limit: spec.per_customer_limit,
        valid_from: spec.valid_from.to_rfc3339_opts(SecondsFormat::Secs, true),
        valid_until: spec.valid_until.to_rfc3339_opts(SecondsFormat::Secs, true),
        claims: coupon.live_claims(now),
        state: coupon.list_state(now),
        percent_off,
        amount_off,
    })
}
