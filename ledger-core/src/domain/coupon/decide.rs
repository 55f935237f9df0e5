//! The coupon decide functions: issue, claim (validity window, total and per-customer
//! limits over live claims), confirm and release a claim.

use chrono::{DateTime, Utc};

use super::{CouponEvent, CouponSpec, CouponState};
use crate::domain::rejection::Rejection;
use crate::domain::slot::ReleaseReason;
use crate::ids::BookingId;

/// Issues a coupon. The same spec again yields no events (a retried POST); a different
/// spec for a code already issued is `CouponConflict`.
pub fn issue_coupon(state: &CouponState, spec: CouponSpec) -> Result<Vec<CouponEvent>, Rejection> {
    spec.validate()?;
    match &state.spec {
        None => Ok(vec![CouponEvent::CouponIssued { spec }]),
        Some(issued) if *issued == spec => Ok(Vec::new()),
        Some(_) => Err(Rejection::CouponConflict),
    }
}

/// Claims the coupon for `booking_id` until `hold_expires_at`. Refused with
/// `CouponNotFound` before issue, `CouponNotYetValid` when `now < valid_from`,
/// `CouponExpired` when `now >= valid_until`, `CouponExhausted` when the live claims reach
/// `max_claims` or the customer's live claims reach `per_customer_limit`. A booking whose
/// claim is already live yields no events.
pub fn claim_coupon(
    state: &CouponState,
    booking_id: BookingId,
    customer: &str,
    now: DateTime<Utc>,
    hold_expires_at: DateTime<Utc>,
) -> Result<Vec<CouponEvent>, Rejection> {
    let spec = state.spec.as_ref().ok_or(Rejection::CouponNotFound)?;
    if now < spec.valid_from {
        return Err(Rejection::CouponNotYetValid);
    }
    if now >= spec.valid_until {
        return Err(Rejection::CouponExpired);
    }
    if state
        .claim_of(&booking_id)
        .is_some_and(|claim| claim.is_live(now))
    {
        return Ok(Vec::new());
    }
    if state.live_claims(now) >= spec.max_claims {
        return Err(Rejection::CouponExhausted(
            "the coupon has no claims left".to_owned(),
        ));
    }
    if state.live_claims_of(customer, now) >= spec.per_customer_limit {
        return Err(Rejection::CouponExhausted(
            "this customer has used the coupon as many times as allowed".to_owned(),
        ));
    }
    Ok(vec![CouponEvent::CouponClaimed {
        booking_id,
        customer: customer.to_owned(),
        hold_expires_at,
    }])
}

/// Makes a booking's claim permanent (the booking was paid); nothing without a claim or
/// when it is already confirmed.
pub fn confirm_claim(state: &CouponState, booking_id: BookingId) -> Vec<CouponEvent> {
    match state.claim_of(&booking_id) {
        Some(claim) if claim.expires_at.is_some() => {
            vec![CouponEvent::CouponClaimConfirmed { booking_id }]
        }
        _ => Vec::new(),
    }
}

/// Gives a booking's claim back; nothing when the booking holds no claim.
pub fn release_claim(
    state: &CouponState,
    booking_id: BookingId,
    reason: ReleaseReason,
) -> Vec<CouponEvent> {
    if state.claim_of(&booking_id).is_some() {
        vec![CouponEvent::CouponClaimReleased { booking_id, reason }]
    } else {
        Vec::new()
    }
}
