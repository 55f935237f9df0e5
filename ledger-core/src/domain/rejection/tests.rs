//! Tests of the stable rejection codes and their human details.

use super::*;
use crate::domain::test_support::{at, pesos, slot_id};

fn every_variant() -> Vec<(Rejection, &'static str)> {
    vec![
        (Rejection::SlotNotFound, "slot_not_found"),
        (Rejection::SlotBlocked, "slot_blocked"),
        (
            Rejection::CutoffPassed {
                bookable_until: at("2026-11-30T21:00:00Z"),
            },
            "cutoff_passed",
        ),
        (
            Rejection::SoldOut {
                slot_id: slot_id("glaciar-0900"),
                available: 1,
            },
            "sold_out",
        ),
        (Rejection::InvalidSeats("seats".into()), "invalid_seats"),
        (Rejection::InvalidSlot("slot".into()), "invalid_slot"),
        (Rejection::InvalidCoupon("coupon".into()), "invalid_coupon"),
        (
            Rejection::PriceChanged {
                total: pesos(8_100_000),
            },
            "price_changed",
        ),
        (Rejection::CurrencyMismatch, "currency_mismatch"),
        (Rejection::CouponNotFound, "coupon_not_found"),
        (Rejection::CouponNotYetValid, "coupon_not_yet_valid"),
        (Rejection::CouponExpired, "coupon_expired"),
        (
            Rejection::CouponExhausted("none left".into()),
            "coupon_exhausted",
        ),
        (Rejection::CouponConflict, "coupon_conflict"),
        (Rejection::BookingNotFound, "booking_not_found"),
        (
            Rejection::NotCancellable {
                status: BookingStatus::Expired,
            },
            "not_cancellable",
        ),
        (Rejection::NotOwner, "not_owner"),
        (
            Rejection::InvalidPayment("payment".into()),
            "invalid_payment",
        ),
    ]
}

#[test]
fn codes_are_exactly_the_contract() {
    let all = every_variant();
    assert_eq!(all.len(), 18);
    for (rejection, code) in all {
        assert_eq!(rejection.code(), code);
    }
}

#[test]
fn details_are_for_people() {
    for (rejection, _) in every_variant() {
        let detail = rejection.to_string();
        assert!(!detail.is_empty());
        assert!(
            !detail.contains("Rejection") && !detail.contains('{'),
            "{detail}"
        );
    }
    let sold_out = Rejection::SoldOut {
        slot_id: slot_id("glaciar-0900"),
        available: 1,
    };
    assert_eq!(
        sold_out.to_string(),
        "slot glaciar-0900 has only 1 seat(s) available"
    );
    let cutoff = Rejection::CutoffPassed {
        bookable_until: at("2026-11-30T21:00:00Z"),
    };
    assert_eq!(
        cutoff.to_string(),
        "booking for this slot closed at 2026-11-30T21:00:00Z"
    );
    let status = Rejection::NotCancellable {
        status: BookingStatus::RefundRequired,
    };
    assert_eq!(
        status.to_string(),
        "the booking cannot be cancelled in status refund_required"
    );
    let price = Rejection::PriceChanged {
        total: pesos(8_100_000),
    };
    assert_eq!(
        price.to_string(),
        "the price has changed; the total is now 8100000 ARS"
    );
}
