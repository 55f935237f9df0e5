//! Tests of `place_booking`: all-or-nothing holds across slots, write-on-read releases,
//! the order of checks, coupons and expected totals.

use chrono::Duration;

use super::*;
use crate::domain::coupon::{CouponSpec, MAX_COUPON_CLAIMS};
use crate::domain::slot::{ReleaseReason, SlotSpec};
use crate::domain::test_support::{
    at, booking_id, fifteen_minutes, glaciar, now, pesos, scheduled, slot_id, usd, with_hold,
};

const NEW: u16 = 100;

fn command(items: &[(&str, u32)]) -> PlaceBooking {
    PlaceBooking {
        booking_id: booking_id(NEW),
        customer: "auth0|ana".into(),
        items: items
            .iter()
            .map(|(slot, seats)| (slot_id(slot), *seats))
            .collect(),
        coupon: None,
        expected_total: None,
        hold_ttl: fifteen_minutes(),
    }
}

fn slots(list: &[(&str, SlotState)]) -> BTreeMap<SlotId, SlotState> {
    list.iter()
        .map(|(id, state)| (slot_id(id), state.clone()))
        .collect()
}

fn verano() -> CouponCode {
    CouponCode::parse("VERANO10").expect("code")
}

fn coupon(max_claims: u32) -> CouponState {
    CouponState::from_events(&[CouponEvent::CouponIssued {
        spec: CouponSpec {
            code: verano(),
            discount: Discount::PercentOff(10),
            max_claims,
            per_customer_limit: 1,
            valid_from: at("2026-11-01T00:00:00Z"),
            valid_until: at("2027-03-01T00:00:00Z"),
        },
    }])
}

fn rejection(decision: &PlaceDecision) -> Rejection {
    decision.outcome.clone().expect_err("refused")
}

fn assert_nothing_held(decision: &PlaceDecision) {
    assert!(decision.booking_events.is_empty());
    assert!(decision.coupon_events.is_empty());
    for events in decision.slot_events.values() {
        assert!(
            events
                .iter()
                .all(|e| matches!(e, SlotEvent::HoldReleased { .. })),
            "{events:?}"
        );
    }
}

#[test]
fn a_booking_holds_seats_and_is_placed() {
    let decision = place_booking(
        &command(&[("glaciar-0900", 2)]),
        &slots(&[("glaciar-0900", scheduled(glaciar(20)))]),
        None,
        now(),
    );
    let expires = now() + fifteen_minutes();
    let quote = decision.outcome.clone().expect("placed");
    assert_eq!(quote.total, pesos(9_000_000));
    assert_eq!(
        decision.slot_events,
        BTreeMap::from([(
            slot_id("glaciar-0900"),
            vec![SlotEvent::SeatsHeld {
                booking_id: booking_id(NEW),
                seats: 2,
                unit_price: pesos(4_500_000),
                hold_expires_at: expires,
            }]
        )])
    );
    assert_eq!(
        decision.booking_events,
        vec![BookingEvent::BookingPlaced {
            booking_id: Some(booking_id(NEW)),
            customer: "auth0|ana".into(),
            items: vec![BookingItem {
                slot_id: slot_id("glaciar-0900"),
                seats: 2,
                unit_price: pesos(4_500_000),
            }],
            subtotal: pesos(9_000_000),
            discount: pesos(0),
            total: pesos(9_000_000),
            coupon_code: None,
            hold_expires_at: expires,
        }]
    );
    assert!(decision.coupon_events.is_empty());
}

#[test]
fn a_two_slot_booking_with_the_second_slot_full_holds_nothing() {
    let full = with_hold(scheduled(glaciar(2)), 1, 2, now() + fifteen_minutes());
    let decision = place_booking(
        &command(&[("a", 1), ("b", 1)]),
        &slots(&[("a", scheduled(glaciar(20))), ("b", full)]),
        None,
        now(),
    );
    assert_eq!(
        rejection(&decision),
        Rejection::SoldOut {
            slot_id: slot_id("b"),
            available: 0
        }
    );
    assert!(
        decision.slot_events.is_empty(),
        "no SeatsHeld on either slot"
    );
    assert_nothing_held(&decision);
}

#[test]
fn expired_holds_are_released_whatever_the_outcome() {
    let lapsed = with_hold(scheduled(glaciar(3)), 1, 2, now());
    let lapsed = with_hold(lapsed, 2, 1, now() - Duration::hours(1));
    // Oldest first: the order the `slot_holds` index hands them out.
    let released = vec![
        SlotEvent::HoldReleased {
            booking_id: booking_id(2),
            seats: 1,
            reason: ReleaseReason::Expired,
        },
        SlotEvent::HoldReleased {
            booking_id: booking_id(1),
            seats: 2,
            reason: ReleaseReason::Expired,
        },
    ];
    // Refused (too many seats even after the releases): the releases are still there.
    let decision = place_booking(
        &command(&[("a", 4)]),
        &slots(&[("a", lapsed.clone())]),
        None,
        now(),
    );
    assert_eq!(
        rejection(&decision),
        Rejection::SoldOut {
            slot_id: slot_id("a"),
            available: 3
        }
    );
    assert_eq!(decision.slot_events[&slot_id("a")], released);
    assert_nothing_held(&decision);
    // Accepted: the releases make the room, then the hold follows them.
    let decision = place_booking(&command(&[("a", 3)]), &slots(&[("a", lapsed)]), None, now());
    assert!(decision.outcome.is_ok());
    let events = &decision.slot_events[&slot_id("a")];
    assert_eq!(events[..2], released[..]);
    assert!(matches!(events[2], SlotEvent::SeatsHeld { seats: 3, .. }));
}

#[test]
fn releases_happen_on_every_slot_even_when_an_earlier_one_is_refused() {
    let lapsed = with_hold(scheduled(glaciar(3)), 1, 2, now());
    let decision = place_booking(
        &command(&[("missing", 1), ("b", 1)]),
        &slots(&[("b", lapsed)]),
        None,
        now(),
    );
    assert_eq!(rejection(&decision), Rejection::SlotNotFound);
    assert_eq!(decision.slot_events[&slot_id("b")].len(), 1);
}

#[test]
fn items_are_checked_first() {
    let known = slots(&[("a", scheduled(glaciar(1000)))]);
    let eleven: Vec<(String, u32)> = (0..=MAX_ITEMS).map(|i| (format!("s{i}"), 1)).collect();
    let eleven: Vec<(&str, u32)> = eleven.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    for items in [
        vec![],
        eleven,
        vec![("a", 0)],
        vec![("a", MAX_SEATS_PER_ITEM + 1)],
        vec![("a", 1), ("a", 1)],
    ] {
        let decision = place_booking(&command(&items), &known, None, now());
        assert!(
            matches!(rejection(&decision), Rejection::InvalidSeats(_)),
            "{items:?}"
        );
        assert!(decision.slot_events.is_empty());
    }
    let most = place_booking(&command(&[("a", MAX_SEATS_PER_ITEM)]), &known, None, now());
    assert!(most.outcome.is_ok());
}

#[test]
fn slot_checks_come_in_order_not_found_blocked_cutoff_sold_out() {
    let mut blocked_and_full = scheduled(glaciar(0));
    blocked_and_full.blocked = true;
    let unscheduled = SlotState::default();
    let cases = [
        (unscheduled, Rejection::SlotNotFound),
        (blocked_and_full.clone(), Rejection::SlotBlocked),
    ];
    for (state, expected) in cases {
        let decision = place_booking(&command(&[("a", 1)]), &slots(&[("a", state)]), None, now());
        assert_eq!(rejection(&decision), expected);
    }
    let decision = place_booking(&command(&[("a", 1)]), &slots(&[]), None, now());
    assert_eq!(rejection(&decision), Rejection::SlotNotFound);

    let closed = command(&[("a", 1)]);
    let full = slots(&[("a", scheduled(glaciar(0)))]);
    assert_eq!(
        rejection(&place_booking(
            &closed,
            &full,
            None,
            at("2026-11-30T21:00:00Z")
        )),
        Rejection::CutoffPassed {
            bookable_until: at("2026-11-30T21:00:00Z")
        }
    );
    let open = slots(&[("a", scheduled(glaciar(1)))]);
    let before = at("2026-11-30T20:59:59Z");
    assert!(place_booking(&closed, &open, None, before).outcome.is_ok());
}

#[test]
fn the_first_failing_item_in_request_order_is_reported() {
    let mut blocked = scheduled(glaciar(5));
    blocked.blocked = true;
    let known = slots(&[("a", scheduled(glaciar(0))), ("b", blocked)]);
    let decision = place_booking(&command(&[("b", 1), ("a", 1)]), &known, None, now());
    assert_eq!(rejection(&decision), Rejection::SlotBlocked);
}

#[test]
fn a_coupon_is_claimed_with_the_booking() {
    let mut cmd = command(&[("a", 2)]);
    cmd.coupon = Some(verano());
    cmd.expected_total = Some(pesos(8_100_000));
    let decision = place_booking(
        &cmd,
        &slots(&[("a", scheduled(glaciar(20)))]),
        Some(&coupon(5)),
        now(),
    );
    let quote = decision.outcome.clone().expect("placed");
    assert_eq!(
        (quote.discount, quote.total),
        (pesos(900_000), pesos(8_100_000))
    );
    assert_eq!(
        decision.coupon_events,
        vec![CouponEvent::CouponClaimed {
            booking_id: booking_id(NEW),
            customer: "auth0|ana".into(),
            hold_expires_at: now() + fifteen_minutes(),
        }]
    );
    assert!(matches!(
        &decision.booking_events[..],
        [BookingEvent::BookingPlaced { coupon_code: Some(code), .. }] if *code == verano()
    ));
}

#[test]
fn coupon_refusals_hold_nothing() {
    let known = slots(&[("a", scheduled(glaciar(20)))]);
    let mut cmd = command(&[("a", 2)]);
    cmd.coupon = Some(verano());
    let other = CouponState::from_events(&[CouponEvent::CouponIssued {
        spec: CouponSpec {
            code: CouponCode::parse("OTRO").expect("code"),
            ..coupon(1).spec.expect("spec")
        },
    }]);
    let mut taken = coupon(1);
    // Another booking's claim, confirmed: the only claim of a coupon of one.
    taken.apply(&CouponEvent::CouponClaimed {
        booking_id: booking_id(1),
        customer: "auth0|bea".into(),
        hold_expires_at: now(),
    });
    taken.apply(&CouponEvent::CouponClaimConfirmed {
        booking_id: booking_id(1),
    });
    let cases = [
        (None, Rejection::CouponNotFound),
        (Some(CouponState::default()), Rejection::CouponNotFound),
        (Some(other), Rejection::CouponNotFound),
    ];
    for (state, expected) in cases {
        let decision = place_booking(&cmd, &known, state.as_ref(), now());
        assert_eq!(rejection(&decision), expected);
        assert_nothing_held(&decision);
    }
    let decision = place_booking(&cmd, &known, Some(&taken), now());
    assert!(matches!(
        rejection(&decision),
        Rejection::CouponExhausted(_)
    ));
    assert_nothing_held(&decision);
    let march = at("2027-03-01T00:00:00Z");
    let mut late = known.clone();
    if let Some(spec) = late.get_mut(&slot_id("a")).and_then(|s| s.spec.as_mut()) {
        spec.starts_at = at("2027-06-01T00:00:00Z");
    }
    let decision = place_booking(&cmd, &late, Some(&coupon(MAX_COUPON_CLAIMS)), march);
    assert_eq!(rejection(&decision), Rejection::CouponExpired);
}

#[test]
fn a_different_expected_total_is_price_changed() {
    let known = slots(&[("a", scheduled(glaciar(20)))]);
    let mut cmd = command(&[("a", 2)]);
    cmd.expected_total = Some(pesos(8_100_000));
    let decision = place_booking(&cmd, &known, None, now());
    assert_eq!(
        rejection(&decision),
        Rejection::PriceChanged {
            total: pesos(9_000_000)
        }
    );
    assert_nothing_held(&decision);
    cmd.expected_total = Some(Money::new(9_000_000, usd()).expect("money"));
    assert!(matches!(
        rejection(&place_booking(&cmd, &known, None, now())),
        Rejection::PriceChanged { .. }
    ));
}

#[test]
fn slots_in_different_currencies_cannot_share_a_booking() {
    let dollars = SlotSpec {
        price: Money::new(100, usd()).expect("money"),
        ..glaciar(20)
    };
    let known = slots(&[("a", scheduled(glaciar(20))), ("b", scheduled(dollars))]);
    let decision = place_booking(&command(&[("a", 1), ("b", 1)]), &known, None, now());
    assert_eq!(rejection(&decision), Rejection::CurrencyMismatch);
    assert_nothing_held(&decision);
}

#[test]
fn hold_ttl_is_clamped_and_cut_to_microseconds() {
    let known = slots(&[("a", scheduled(glaciar(20)))]);
    let expiry = |ttl: Duration, now: DateTime<Utc>| {
        let mut cmd = command(&[("a", 1)]);
        cmd.hold_ttl = ttl;
        match &place_booking(&cmd, &known, None, now).booking_events[..] {
            [BookingEvent::BookingPlaced {
                hold_expires_at, ..
            }] => *hold_expires_at,
            other => panic!("not placed: {other:?}"),
        }
    };
    assert_eq!(expiry(Duration::zero(), now()), now() + MIN_HOLD_TTL);
    assert_eq!(expiry(Duration::minutes(-5), now()), now() + MIN_HOLD_TTL);
    assert_eq!(expiry(Duration::weeks(1), now()), now() + MAX_HOLD_TTL);
    assert_eq!(expiry(Duration::MAX, now()), now() + MAX_HOLD_TTL);
    let ragged = now() + Duration::nanoseconds(1_234_567);
    assert_eq!(
        expiry(fifteen_minutes(), ragged),
        now() + fifteen_minutes() + Duration::microseconds(1_234)
    );
}
