//! Tests of refund planning: what is refundable, the split newest payment first, the keys,
//! and what a recorded request changes.

use super::*;
use crate::domain::booking::{BookingEvent, BookingItem};
use crate::domain::commands::AcceptedRefund;
use crate::domain::test_support::{booking_id, now, pesos, slot_id, usd};
use chrono::Duration;

/// A booking of 90,000.00 ARS paid by two payments: `mp-1` (60,000.00) approved first,
/// then `pi_2` (30,000.00).
fn split_paid() -> BookingState {
    BookingState::from_events(&[
        BookingEvent::BookingPlaced {
            booking_id: Some(booking_id(1)),
            customer: "ana".into(),
            items: vec![BookingItem {
                slot_id: slot_id("glaciar-0900"),
                seats: 2,
                unit_price: pesos(4_500_000),
            }],
            subtotal: pesos(9_000_000),
            discount: pesos(0),
            total: pesos(9_000_000),
            coupon_code: None,
            hold_expires_at: now() + Duration::minutes(15),
        },
        approved(Provider::MercadoPago, "mp-1", 6_000_000),
        approved(Provider::Stripe, "pi_2", 3_000_000),
        BookingEvent::BookingPaid {
            paid: pesos(9_000_000),
        },
    ])
}

fn approved(provider: Provider, payment_id: &str, minor: i64) -> BookingEvent {
    BookingEvent::PaymentApproved {
        provider,
        payment_id: payment_id.into(),
        amount: pesos(minor),
    }
}

fn split(parts: &[RefundPart]) -> Vec<(&str, i64, i64)> {
    parts
        .iter()
        .map(|p| (p.payment_id.as_str(), p.amount.minor(), p.through.minor()))
        .collect()
}

fn recorded(parts: Vec<RefundPart>) -> BookingEvent {
    let amount = pesos(parts.iter().map(|p| p.amount.minor()).sum());
    BookingEvent::RefundRequested {
        refund_id: "r".into(),
        by: "op".into(),
        amount,
        parts,
        keep_seats: false,
        reason: None,
        data_key: None,
    }
}

#[test]
fn a_refund_takes_the_newest_payment_first() {
    let booking = split_paid();
    assert_eq!(refundable(&booking), Some(pesos(9_000_000)));
    let parts = plan_refund(&booking_id(1), &booking, Some(pesos(4_500_000))).unwrap();
    assert_eq!(
        split(&parts),
        [
            ("pi_2", 3_000_000, 3_000_000),
            ("mp-1", 1_500_000, 1_500_000)
        ]
    );
    assert!(parts.iter().all(|p| p.provider_refund_id.is_empty()));
    let all = plan_refund(&booking_id(1), &booking, None).unwrap();
    assert_eq!(
        split(&all),
        [
            ("pi_2", 3_000_000, 3_000_000),
            ("mp-1", 6_000_000, 6_000_000)
        ]
    );
}

#[test]
fn requested_refunds_are_not_refundable_again_and_the_next_request_has_new_keys() {
    let mut booking = split_paid();
    let first = plan_refund(&booking_id(1), &booking, Some(pesos(4_500_000))).unwrap();
    let again = plan_refund(&booking_id(1), &booking, Some(pesos(4_500_000))).unwrap();
    assert_eq!(
        first, again,
        "the same state plans the same calls under the same keys"
    );
    booking.apply(&recorded(first.clone()));
    assert_eq!(refundable(&booking), Some(pesos(4_500_000)));
    let next = plan_refund(&booking_id(1), &booking, None).unwrap();
    assert_eq!(split(&next), [("mp-1", 4_500_000, 6_000_000)]);
    assert_ne!(next[0].idempotency_key, first[1].idempotency_key);
    booking.apply(&recorded(next));
    assert_eq!(refundable(&booking), Some(pesos(0)));
    assert_eq!(
        plan_refund(&booking_id(1), &booking, None),
        Err(RefundRefusal::NothingRefundable)
    );
}

#[test]
fn a_provider_refund_counts_like_a_requested_one() {
    let mut booking = split_paid();
    booking.apply(&BookingEvent::PaymentRefunded {
        provider: Provider::Stripe,
        payment_id: "pi_2".into(),
        refunded: pesos(1_000_000),
    });
    assert_eq!(refundable(&booking), Some(pesos(8_000_000)));
    let parts = plan_refund(&booking_id(1), &booking, Some(pesos(2_500_000))).unwrap();
    assert_eq!(
        split(&parts),
        [("pi_2", 2_000_000, 3_000_000), ("mp-1", 500_000, 500_000)]
    );
}

#[test]
fn refusals() {
    let booking = split_paid();
    let id = booking_id(1);
    assert_eq!(
        plan_refund(&id, &booking, Some(pesos(9_000_001))),
        Err(RefundRefusal::MoreThanRefundable {
            refundable: pesos(9_000_000)
        })
    );
    assert_eq!(
        plan_refund(&id, &booking, Some(pesos(0))),
        Err(RefundRefusal::InvalidAmount)
    );
    let dollars = Money::new(100, usd()).unwrap();
    assert_eq!(
        plan_refund(&id, &booking, Some(dollars)),
        Err(RefundRefusal::InvalidAmount)
    );
    assert_eq!(
        plan_refund(&id, &BookingState::default(), None),
        Err(RefundRefusal::UnknownBooking)
    );
    let mut unpaid = split_paid();
    unpaid.payments.clear();
    assert_eq!(
        plan_refund(&id, &unpaid, None),
        Err(RefundRefusal::NothingRefundable)
    );
    let mut charged_back = split_paid();
    charged_back.apply(&BookingEvent::PaymentChargedBack {
        provider: Provider::Stripe,
        payment_id: "pi_2".into(),
        amount: pesos(3_000_000),
    });
    assert_eq!(refundable(&charged_back), Some(pesos(6_000_000)));
}

#[test]
fn keys_name_the_booking_the_payment_and_the_money() {
    let through = pesos(3_000_000);
    let key = refund_idempotency_key(&booking_id(1), Provider::Stripe, "pi_2", 0, &through);
    assert_eq!(key.len(), 64);
    assert!(key
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let others = [
        refund_idempotency_key(&booking_id(2), Provider::Stripe, "pi_2", 0, &through),
        refund_idempotency_key(&booking_id(1), Provider::Pix, "pi_2", 0, &through),
        refund_idempotency_key(&booking_id(1), Provider::Stripe, "pi_3", 0, &through),
        refund_idempotency_key(&booking_id(1), Provider::Stripe, "pi_2", 1, &through),
        refund_idempotency_key(&booking_id(1), Provider::Stripe, "pi_2", 0, &pesos(1)),
    ];
    assert!(others.iter().all(|k| *k != key));
}

#[test]
fn an_accepted_refund_records_only_the_parts_not_yet_recorded() {
    let mut booking = split_paid();
    let parts = plan_refund(&booking_id(1), &booking, None).unwrap();
    let accepted = AcceptedRefund {
        refund_id: "r1".into(),
        by: "op".into(),
        parts: parts.clone(),
        keep_seats: false,
        reason: None,
    };
    let event = accepted.event(&booking).expect("recorded");
    booking.apply(&event);
    assert_eq!(
        accepted.event(&booking),
        None,
        "a twin planned on the same state adds nothing"
    );
    let mut half = split_paid();
    half.apply(&recorded(parts[..1].to_vec()));
    match accepted.event(&half) {
        Some(BookingEvent::RefundRequested { parts, amount, .. }) => {
            assert_eq!(split(&parts), [("mp-1", 6_000_000, 6_000_000)]);
            assert_eq!(amount, pesos(6_000_000));
        }
        other => panic!("{other:?}"),
    }
}
