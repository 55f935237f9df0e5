//! Late payments: the hold lapsed (released or not) before the money covered the total.

use super::*;
use crate::domain::booking::{expire_booking, CancellerRole};
use crate::domain::coupon::release_claim;
use crate::domain::slot::{block_slot, release_hold, ReleaseReason};
use crate::domain::test_support::with_hold;

/// Past the hold of [`Fixture::placed`].
fn after_the_hold() -> DateTime<Utc> {
    now() + Duration::minutes(20)
}

/// Writes the expiry the sweeper would: `BookingExpired`, hold and claim released.
fn swept(fixture: &mut Fixture) {
    fixture.now = after_the_hold();
    let expired = expire_booking(&fixture.booking, fixture.now);
    assert_eq!(expired, vec![BookingEvent::BookingExpired]);
    let slots = fixture
        .slots
        .iter()
        .map(|(id, slot)| {
            (
                id.clone(),
                release_hold(slot, mine(), ReleaseReason::Expired),
            )
        })
        .collect();
    let claim = fixture
        .coupon
        .as_ref()
        .map(|c| release_claim(c, mine(), ReleaseReason::Expired))
        .unwrap_or_default();
    fixture.record(&expired, &slots, &claim);
}

#[test]
fn a_lapsed_hold_not_yet_released_is_confirmed() {
    let mut fixture = Fixture::standard();
    fixture.now = after_the_hold();
    assert_eq!(fixture.status(), Some(BookingStatus::Expired));
    let decision = fixture.pay(&approved("1", fixture.total()));
    assert_eq!(
        decision.slot_events,
        BTreeMap::from([(
            slot_id("glaciar-0900"),
            vec![SlotEvent::SeatsConfirmed {
                booking_id: mine(),
                seats: 2
            }]
        )])
    );
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
    assert_eq!(expire_booking(&fixture.booking, fixture.now), vec![]);
}

#[test]
fn a_released_hold_takes_free_seats_again_and_reclaims_the_coupon() {
    let mut fixture = Fixture::placed(&[("glaciar-0900", 2, 3)], true);
    swept(&mut fixture);
    assert!(fixture.coupon.as_ref().expect("coupon").known().is_empty());
    // Someone else's lapsed hold of one seat is released on the way.
    let other = with_hold(fixture.slot("glaciar-0900").clone(), 7, 1, after_the_hold());
    fixture.slots.insert(slot_id("glaciar-0900"), other);
    let total = fixture.total();
    let decision = fixture.pay(&approved("1", total));
    assert_eq!(decision.outcome, PaymentOutcome::Applied);
    assert_eq!(
        decision.slot_events[&slot_id("glaciar-0900")],
        vec![
            SlotEvent::HoldReleased {
                booking_id: booking_id(7),
                seats: 1,
                reason: ReleaseReason::Expired
            },
            SlotEvent::SeatsConfirmed {
                booking_id: mine(),
                seats: 2
            },
        ]
    );
    assert_eq!(
        decision.coupon_events,
        vec![
            CouponEvent::CouponClaimed {
                booking_id: mine(),
                customer: "ana".into(),
                hold_expires_at: now() + fifteen_minutes(),
            },
            CouponEvent::CouponClaimConfirmed { booking_id: mine() },
        ]
    );
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
    let coupon = fixture.coupon.as_ref().expect("coupon");
    assert_eq!(coupon.live_claims(fixture.now + Duration::days(30)), 1);
}

#[test]
fn seats_gone_meanwhile_require_a_refund() {
    let mut fixture = Fixture::standard();
    swept(&mut fixture);
    // Nine of the ten seats were sold to someone else.
    let mut slot = fixture.slot("glaciar-0900").clone();
    slot.apply(&SlotEvent::SeatsConfirmed {
        booking_id: booking_id(8),
        seats: 9,
    });
    fixture.slots.insert(slot_id("glaciar-0900"), slot.clone());
    let total = fixture.total();
    let decision = fixture.pay(&approved("1", total));
    assert_eq!(decision.outcome, PaymentOutcome::Applied);
    assert_eq!(
        decision.booking_events.last(),
        Some(&BookingEvent::LatePaymentRequiresRefund { paid: total })
    );
    assert!(decision.slot_events.is_empty());
    assert_eq!(fixture.slot("glaciar-0900"), &slot, "no seat taken");
    assert_eq!(fixture.status(), Some(BookingStatus::RefundRequired));
    assert_eq!(fixture.booking.paid(), Some(total));
}

#[test]
fn late_seats_are_taken_on_every_slot_or_on_none() {
    let mut fixture = Fixture::placed(&[("a", 2, 10), ("b", 2, 2)], false);
    fixture.now = after_the_hold();
    // Slot a still has the lapsed hold; slot b lost it and someone holds both seats.
    let b = with_hold(
        scheduled(glaciar(2)),
        9,
        2,
        fixture.now + Duration::minutes(10),
    );
    fixture.slots.insert(slot_id("b"), b);
    let decision = fixture.pay(&approved("1", fixture.total()));
    assert!(matches!(
        decision.booking_events.last(),
        Some(BookingEvent::LatePaymentRequiresRefund { .. })
    ));
    // Only write-on-read releases: the booking's own lapsed hold on a.
    assert_eq!(
        decision.slot_events,
        BTreeMap::from([(
            slot_id("a"),
            vec![SlotEvent::HoldReleased {
                booking_id: mine(),
                seats: 2,
                reason: ReleaseReason::Expired
            }]
        )])
    );
    assert_eq!(fixture.slot("a").confirmed(), 0);
    assert_eq!(fixture.slot("a").held(), 0);
}

#[test]
fn late_seats_are_not_taken_on_a_blocked_slot_or_after_the_cutoff() {
    let mut blocked = Fixture::standard();
    swept(&mut blocked);
    let slot = blocked.slot("glaciar-0900").clone();
    let events = block_slot(&slot, "storm".into()).expect("blocked");
    blocked.record(
        &[],
        &BTreeMap::from([(slot_id("glaciar-0900"), events)]),
        &[],
    );
    let decision = blocked.pay(&approved("1", blocked.total()));
    assert!(matches!(
        decision.booking_events.last(),
        Some(BookingEvent::LatePaymentRequiresRefund { .. })
    ));

    let mut closed = Fixture::standard();
    swept(&mut closed);
    closed.now = at("2026-11-30T21:00:00Z");
    let decision = closed.pay(&approved("1", closed.total()));
    assert!(matches!(
        decision.booking_events.last(),
        Some(BookingEvent::LatePaymentRequiresRefund { .. })
    ));
    assert_eq!(closed.slot("glaciar-0900").confirmed(), 0);
}

#[test]
fn a_blocked_slot_still_confirms_a_hold_paid_in_time() {
    let mut fixture = Fixture::standard();
    let slot = fixture.slot("glaciar-0900").clone();
    let events = block_slot(&slot, "storm".into()).expect("blocked");
    fixture.record(
        &[],
        &BTreeMap::from([(slot_id("glaciar-0900"), events)]),
        &[],
    );
    fixture.pay(&approved("1", fixture.total()));
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
    assert_eq!(fixture.slot("glaciar-0900").confirmed(), 2);
}

#[test]
fn a_partially_paid_booking_expires_like_a_held_one_and_is_then_paid_late() {
    let mut fixture = Fixture::standard();
    let half = pesos(4_500_000);
    fixture.pay(&approved("1", half));
    assert_eq!(fixture.status(), Some(BookingStatus::PartiallyPaid));
    swept(&mut fixture);
    assert_eq!(fixture.status(), Some(BookingStatus::Expired));
    assert_eq!(
        fixture.booking.paid(),
        Some(half),
        "the money is still shown"
    );
    // A second part that does not cover changes no status once expired.
    let decision = fixture.pay(&approved("2", pesos(1)));
    assert_eq!(decision.booking_events.len(), 2, "{decision:?}");
    let decision = fixture.pay(&approved("3", pesos(4_499_999)));
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingPaid {
            paid: fixture.total()
        }));
    assert_eq!(fixture.slot("glaciar-0900").confirmed(), 2);
}

#[test]
fn a_cancelled_booking_that_gets_paid_requires_a_refund() {
    let mut fixture = Fixture::standard();
    let cancelled = BookingEvent::BookingCancelled {
        by: "ana".into(),
        role: CancellerRole::Owner,
    };
    let released = fixture
        .slots
        .iter()
        .map(|(id, s)| {
            (
                id.clone(),
                release_hold(s, mine(), ReleaseReason::Cancelled),
            )
        })
        .collect();
    fixture.record(&[cancelled], &released, &[]);
    let total = fixture.total();
    let decision = fixture.pay(&approved("1", total));
    assert_eq!(
        decision.booking_events.last(),
        Some(&BookingEvent::LatePaymentRequiresRefund { paid: total })
    );
    assert!(decision.slot_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::RefundRequired));
    // Even part of the total must go back.
    let mut fixture = Fixture::standard();
    fixture.record(
        &[BookingEvent::BookingCancelled {
            by: "op".into(),
            role: CancellerRole::Operator,
        }],
        &BTreeMap::new(),
        &[],
    );
    fixture.pay(&approved("1", pesos(1)));
    assert_eq!(fixture.status(), Some(BookingStatus::RefundRequired));
}

#[test]
fn a_booking_placed_before_ids_were_recorded_is_never_paid_blindly() {
    let mut fixture = Fixture::standard();
    if let Some(placed) = &mut fixture.booking.placed {
        placed.booking_id = None;
    }
    let decision = fixture.pay(&approved("1", fixture.total()));
    assert_eq!(decision.outcome, PaymentOutcome::Anomaly);
    assert!(matches!(
        decision.booking_events.last(),
        Some(BookingEvent::PaymentAnomalyRecorded { .. })
    ));
    assert!(decision.slot_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::Held));
}
