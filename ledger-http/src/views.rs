//! JSON views of stream states, as API.md shows them. Times go out as RFC 3339 with the
//! activity's own offset.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use ledger_core::domain::{BookingState, CouponState, Discount, SlotState};
use ledger_core::{BookingId, Money, SlotId};
use serde_json::{json, Value};

pub fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).to_rfc3339()
}

/// Availability of a slot at `now`: holds past their expiry count as released even before
/// a `HoldReleased` is written.
pub fn slot_view(slot_id: &SlotId, slot: &SlotState, now: DateTime<Utc>) -> Value {
    let Some(spec) = &slot.spec else {
        return json!({"slot_id": slot_id.as_str()});
    };
    let tz = spec.time_zone;
    json!({
        "slot_id": slot_id.as_str(),
        "activity_id": spec.activity_id.as_str(),
        "capacity": slot.capacity(),
        "held": slot.held_at(now),
        "confirmed": slot.confirmed(),
        "available": slot.available_at(now),
        "blocked": slot.blocked,
        "starts_at": local(spec.starts_at, tz),
        "bookable_until": local(spec.bookable_until(), tz),
        "price": serde_json::to_value(spec.price).unwrap_or_default(),
        "time_zone": tz.name(),
        "cutoff": serde_json::to_value(spec.cutoff).unwrap_or_default(),
    })
}

/// A booking as API.md shows it. `status` is derived at `now` (a held booking past its hold
/// is `expired` even before the sweeper writes `BookingExpired`).
pub fn booking_view(id: &BookingId, booking: &BookingState, now: DateTime<Utc>) -> Value {
    let Some(p) = &booking.placed else {
        return json!({"booking_id": id.to_string()});
    };
    let items: Vec<Value> = p
        .items
        .iter()
        .map(|i| json!({"slot_id": i.slot_id.as_str(), "seats": i.seats, "unit_price": money(&i.unit_price)}))
        .collect();
    json!({
        "booking_id": id.to_string(),
        "status": booking.status_at(now),
        "items": items,
        "subtotal": money(&p.subtotal),
        "discount": money(&p.discount),
        "total": money(&p.total),
        "coupon_code": p.coupon_code.as_ref().map(|c| c.as_str().to_owned()),
        "hold_expires_at": p.hold_expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

pub fn money(m: &Money) -> Value {
    serde_json::to_value(m).unwrap_or_default()
}

/// A coupon with its derived state and live claims at `now`.
pub fn coupon_view(coupon: &CouponState, now: DateTime<Utc>) -> Value {
    let Some(spec) = &coupon.spec else {
        return json!({});
    };
    let mut view = json!({
        "code": spec.code.as_str(),
        "max_claims": spec.max_claims,
        "per_customer_limit": spec.per_customer_limit,
        "valid_from": spec.valid_from.to_rfc3339_opts(SecondsFormat::Secs, true),
        "valid_until": spec.valid_until.to_rfc3339_opts(SecondsFormat::Secs, true),
        "claims": coupon.live_claims(now),
        "state": coupon.list_state(now),
    });
    match &spec.discount {
        Discount::PercentOff(p) => view["percent_off"] = (*p).into(),
        Discount::AmountOff(m) => view["amount_off"] = money(m),
    }
    view
}
