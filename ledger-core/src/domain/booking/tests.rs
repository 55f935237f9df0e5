//! Tests of booking status (derived expiry), cancellation rights and expiry.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::rejection::Rejection;
use crate::domain::test_support::{booking_id, now, pesos, slot_id};

fn placed(customer: &str) -> BookingState {
    BookingState::from_events(&[BookingEvent::BookingPlaced {
        booking_id: Some(booking_id(1)),
        customer: customer.to_owned(),
        items: vec![BookingItem {
            slot_id: slot_id("glaciar-0900"),
            seats: 2,
            unit_price: pesos(4_500_000),
        }],
        subtotal: pesos(9_000_000),
        discount: pesos(0),
        total: pesos(9_000_000),
        coupon_code: None,
        hold_expires_at: hold_end(),
    }])
}

fn hold_end() -> DateTime<Utc> {
    now() + Duration::minutes(15)
}

fn with_status(status: BookingStatus) -> BookingState {
    BookingState {
        status,
        ..placed("ana")
    }
}

#[test]
fn status_is_derived_from_the_clock_while_held() {
    let state = placed("ana");
    assert_eq!(BookingState::default().status_at(now()), None);
    assert_eq!(state.status_at(now()), Some(BookingStatus::Held));
    assert_eq!(
        state.status_at(hold_end() - Duration::nanoseconds(1)),
        Some(BookingStatus::Held)
    );
    assert_eq!(state.status_at(hold_end()), Some(BookingStatus::Expired));
    assert_eq!(state.status, BookingStatus::Held, "nothing was written");
    let paid = with_status(BookingStatus::Paid);
    assert_eq!(
        paid.status_at(hold_end()),
        Some(BookingStatus::Paid),
        "only held bookings lapse"
    );
}

#[test]
fn the_owner_cancels_a_held_booking() {
    let state = placed("ana");
    let events = cancel_booking(&state, "ana", false, now()).expect("cancelled");
    assert_eq!(
        events,
        vec![BookingEvent::BookingCancelled {
            by: "ana".into(),
            role: CancellerRole::Owner
        }]
    );
    let mut after = state;
    after.apply(&events[0]);
    assert_eq!(after.status_at(now()), Some(BookingStatus::Cancelled));
    assert_eq!(
        cancel_booking(&after, "ana", false, now()),
        Err(Rejection::NotCancellable {
            status: BookingStatus::Cancelled
        })
    );
}

#[test]
fn the_owner_cannot_cancel_after_the_hold_or_after_payment() {
    let state = placed("ana");
    assert_eq!(
        cancel_booking(&state, "ana", false, hold_end()),
        Err(Rejection::NotCancellable {
            status: BookingStatus::Expired
        })
    );
    assert_eq!(
        cancel_booking(&with_status(BookingStatus::Paid), "ana", false, now()),
        Err(Rejection::NotCancellable {
            status: BookingStatus::Paid
        })
    );
}

#[test]
fn a_stranger_is_not_the_owner_whatever_the_status() {
    assert_eq!(
        cancel_booking(&placed("ana"), "bea", false, now()),
        Err(Rejection::NotOwner)
    );
    assert_eq!(
        cancel_booking(&placed("ana"), "bea", false, hold_end()),
        Err(Rejection::NotOwner)
    );
    assert_eq!(
        cancel_booking(&BookingState::default(), "bea", false, now()),
        Err(Rejection::BookingNotFound)
    );
}

#[test]
fn an_operator_cancels_any_time_unless_already_over() {
    let events = cancel_booking(&placed("ana"), "op-1", true, now()).expect("cancelled");
    assert_eq!(
        events,
        vec![BookingEvent::BookingCancelled {
            by: "op-1".into(),
            role: CancellerRole::Operator
        }]
    );
    for status in [
        BookingStatus::PartiallyPaid,
        BookingStatus::Paid,
        BookingStatus::RefundRequired,
    ] {
        assert!(
            cancel_booking(&with_status(status), "op-1", true, now()).is_ok(),
            "{status}"
        );
    }
    for status in [
        BookingStatus::Cancelled,
        BookingStatus::Expired,
        BookingStatus::Refunded,
    ] {
        assert_eq!(
            cancel_booking(&with_status(status), "op-1", true, now()),
            Err(Rejection::NotCancellable { status })
        );
    }
    assert_eq!(
        cancel_booking(&placed("ana"), "op-1", true, hold_end()),
        Err(Rejection::NotCancellable {
            status: BookingStatus::Expired
        }),
        "a lapsed hold is expired for operators too"
    );
    assert_eq!(
        cancel_booking(&BookingState::default(), "op-1", true, now()),
        Err(Rejection::BookingNotFound)
    );
}

#[test]
fn expiry_is_written_once_and_only_for_a_lapsed_hold() {
    let state = placed("ana");
    assert_eq!(expire_booking(&state, now()), vec![]);
    assert_eq!(expire_booking(&BookingState::default(), hold_end()), vec![]);
    let events = expire_booking(&state, hold_end());
    assert_eq!(events, vec![BookingEvent::BookingExpired]);
    let mut after = state;
    after.apply(&events[0]);
    assert_eq!(after.status, BookingStatus::Expired);
    assert_eq!(expire_booking(&after, hold_end()), vec![]);
    assert_eq!(
        expire_booking(&with_status(BookingStatus::Cancelled), hold_end()),
        vec![]
    );
}

#[test]
fn a_partially_paid_booking_lapses_and_expires_but_a_paid_one_never() {
    let partly = with_status(BookingStatus::PartiallyPaid);
    assert_eq!(
        partly.status_at(now()),
        Some(BookingStatus::Held),
        "no money counted"
    );
    assert_eq!(partly.status_at(hold_end()), Some(BookingStatus::Expired));
    assert_eq!(expire_booking(&partly, now()), vec![]);
    assert_eq!(
        expire_booking(&partly, hold_end()),
        vec![BookingEvent::BookingExpired]
    );
    for status in [
        BookingStatus::Paid,
        BookingStatus::RefundRequired,
        BookingStatus::Refunded,
    ] {
        assert_eq!(expire_booking(&with_status(status), hold_end()), vec![]);
        assert_eq!(with_status(status).status_at(hold_end()), Some(status));
    }
}

#[test]
fn statuses_use_their_wire_names() {
    for (status, name) in [
        (BookingStatus::Held, "held"),
        (BookingStatus::PartiallyPaid, "partially_paid"),
        (BookingStatus::Paid, "paid"),
        (BookingStatus::Expired, "expired"),
        (BookingStatus::Cancelled, "cancelled"),
        (BookingStatus::Refunded, "refunded"),
        (BookingStatus::RefundRequired, "refund_required"),
    ] {
        assert_eq!(serde_json::to_value(status).expect("ser"), name);
        assert_eq!(status.to_string(), name);
    }
}

#[test]
fn snapshot_round_trips_through_json() {
    let state = placed("ana");
    let json = serde_json::to_string(&state).expect("ser");
    assert_eq!(
        serde_json::from_str::<BookingState>(&json).expect("de"),
        state
    );
}
