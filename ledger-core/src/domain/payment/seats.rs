//! Seat and coupon moves of a payment decision: confirming a paid booking's seats on every
//! slot or none (its hold, or — a late payment — free seats taken again), giving back a
//! refunded booking's seats, and confirming or releasing its coupon claim.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::booking::{BookingItem, PlacedBooking};
use crate::domain::coupon::{confirm_claim, release_claim, CouponEvent, CouponState};
use crate::domain::slot::{
    release_expired_holds, release_hold, BookingSeats, ReleaseReason, SlotEvent, SlotState,
};
use crate::ids::{BookingId, SlotId};

/// Events per slot stream.
pub(super) type SlotEvents = BTreeMap<SlotId, Vec<SlotEvent>>;

/// Confirms the booking's seats on every item's slot, or on none.
///
/// Per slot: the booking's hold (lapsed or not) becomes confirmed seats; seats already
/// confirmed stay; otherwise the seats are taken again when the slot is scheduled, not
/// blocked, before its cutoff and has them free at `now` — after its lapsed holds are
/// released (write-on-read, as `place_booking` does). When any slot cannot, `Err` carries
/// only the releases of lapsed holds (the booking's own included) on its slots.
pub(super) fn take(
    booking_id: BookingId,
    placed: &PlacedBooking,
    slots: &BTreeMap<SlotId, SlotState>,
    now: DateTime<Utc>,
) -> Result<SlotEvents, SlotEvents> {
    let mut taken = SlotEvents::new();
    for item in &placed.items {
        let events = slots
            .get(&item.slot_id)
            .and_then(|slot| take_one(booking_id, item, slot, now));
        match events {
            Some(events) if events.is_empty() => {}
            Some(events) => {
                taken.insert(item.slot_id.clone(), events);
            }
            None => return Err(release_lapsed(placed, slots, now)),
        }
    }
    Ok(taken)
}

/// One slot's part of [`take`]; `None` when the seats cannot be had.
fn take_one(
    booking_id: BookingId,
    item: &BookingItem,
    slot: &SlotState,
    now: DateTime<Utc>,
) -> Option<Vec<SlotEvent>> {
    match slot.seats_of(&booking_id) {
        Some(BookingSeats::Held { seats, .. }) => {
            return Some(vec![SlotEvent::SeatsConfirmed { booking_id, seats }]);
        }
        Some(BookingSeats::Confirmed { .. }) => return Some(Vec::new()),
        None => {}
    }
    let spec = slot.spec.as_ref()?;
    // Releasing the lapsed holds leaves exactly the seats `available_at(now)` counts.
    if slot.blocked || now >= spec.bookable_until() || slot.available_at(now) < item.seats {
        return None;
    }
    let mut events = release_expired_holds(slot, now);
    events.push(SlotEvent::SeatsConfirmed {
        booking_id,
        seats: item.seats,
    });
    Some(events)
}

/// The releases of lapsed holds on the booking's slots.
fn release_lapsed(
    placed: &PlacedBooking,
    slots: &BTreeMap<SlotId, SlotState>,
    now: DateTime<Utc>,
) -> SlotEvents {
    placed
        .items
        .iter()
        .filter_map(|item| {
            let events = release_expired_holds(slots.get(&item.slot_id)?, now);
            (!events.is_empty()).then(|| (item.slot_id.clone(), events))
        })
        .collect()
}

/// Gives back every seat the booking has on its slots (hold and confirmed seats).
pub(super) fn release(
    booking_id: BookingId,
    placed: &PlacedBooking,
    slots: &BTreeMap<SlotId, SlotState>,
    reason: ReleaseReason,
) -> SlotEvents {
    placed
        .items
        .iter()
        .filter_map(|item| {
            let events = release_hold(slots.get(&item.slot_id)?, booking_id, reason);
            (!events.is_empty()).then(|| (item.slot_id.clone(), events))
        })
        .collect()
}

/// Makes the booking's coupon claim permanent. A claim released meanwhile (the hold lapsed
/// before a late payment) is claimed again and confirmed: the discount was given, so the
/// use counts, even past `max_claims`.
pub(super) fn confirm_coupon(
    booking_id: BookingId,
    placed: &PlacedBooking,
    coupon: Option<&CouponState>,
) -> Vec<CouponEvent> {
    let Some(state) = its_coupon(placed, coupon) else {
        return Vec::new();
    };
    if state.claim_of(&booking_id).is_some() {
        return confirm_claim(state, booking_id);
    }
    vec![
        CouponEvent::CouponClaimed {
            booking_id,
            customer: placed.customer.clone(),
            hold_expires_at: placed.hold_expires_at,
        },
        CouponEvent::CouponClaimConfirmed { booking_id },
    ]
}

/// Gives the booking's coupon claim back; nothing without one.
pub(super) fn release_coupon(
    booking_id: BookingId,
    placed: &PlacedBooking,
    coupon: Option<&CouponState>,
    reason: ReleaseReason,
) -> Vec<CouponEvent> {
    its_coupon(placed, coupon)
        .map(|state| release_claim(state, booking_id, reason))
        .unwrap_or_default()
}

/// `coupon` when it is the booking's coupon.
fn its_coupon<'c>(
    placed: &PlacedBooking,
    coupon: Option<&'c CouponState>,
) -> Option<&'c CouponState> {
    let code = placed.coupon_code.as_ref()?;
    coupon.filter(|state| state.spec.as_ref().is_some_and(|spec| spec.code == *code))
}
