//! The booking's own decide functions: cancel (who may, in which status) and expire (once,
//! for a lapsed unpaid hold). Payments are decided in `domain::payment`.

use chrono::{DateTime, Utc};

use super::{BookingEvent, BookingState, BookingStatus, CancellerRole};
use crate::domain::rejection::Rejection;

/// Cancels a booking. The owner (`by` == the customer) may cancel while it is held and the
/// hold has not lapsed — never once money arrived (`partially_paid`, `paid`); an operator
/// at any time unless it is already cancelled, expired or refunded (`NotCancellable` with
/// the status). Anyone else: `NotOwner` (checked before the status, so a stranger learns
/// nothing about the booking).
///
/// The caller releases the seats with [`crate::domain::release_hold`] on every slot
/// (`HoldReleased`, or `SeatsReleased` for a paid booking's confirmed seats) and the coupon
/// claim. Cancelling a paid booking returns no money by itself: the operator's cancel asks
/// the providers for a full refund first ([`crate::domain::CancelBooking::refund`]), and the
/// money is back when the provider reports it (the booking then reads `refunded`).
pub fn cancel_booking(
    state: &BookingState,
    by: &str,
    operator: bool,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, Rejection> {
    let placed = state.placed.as_ref().ok_or(Rejection::BookingNotFound)?;
    let status = state.status_at(now).unwrap_or(state.status);
    let cancellable = if operator {
        !matches!(
            status,
            BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Refunded
        )
    } else if by == placed.customer {
        status == BookingStatus::Held
    } else {
        return Err(Rejection::NotOwner);
    };
    if !cancellable {
        return Err(Rejection::NotCancellable { status });
    }
    let role = if operator {
        CancellerRole::Operator
    } else {
        CancellerRole::Owner
    };
    Ok(vec![BookingEvent::BookingCancelled {
        by: by.to_owned(),
        role,
    }])
}

/// `BookingExpired`, once, for a held or partially paid booking whose hold lapsed
/// (`hold_expires_at <= now`); nothing otherwise — a paid booking never expires.
pub fn expire_booking(state: &BookingState, now: DateTime<Utc>) -> Vec<BookingEvent> {
    let waiting = matches!(
        state.status,
        BookingStatus::Held | BookingStatus::PartiallyPaid
    );
    match &state.placed {
        Some(placed) if waiting && placed.hold_expires_at <= now => {
            vec![BookingEvent::BookingExpired]
        }
        _ => Vec::new(),
    }
}
