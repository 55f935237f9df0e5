//! Refunds, chargebacks, and cancelling a booking that has money.

use super::*;
use crate::domain::booking::{cancel_booking, expire_booking};
use crate::domain::slot::{release_hold, ReleaseReason};

fn refunded(id: &str, amount: Money) -> PaymentReport {
    report(id, ReportedStatus::Refunded, amount)
}

/// The standard booking (with the coupon when `coupon`), paid by payment "1".
fn paid(coupon: bool) -> Fixture {
    let mut fixture = Fixture::placed(&[("glaciar-0900", 2, 10)], coupon);
    fixture.pay(&approved("1", fixture.total()));
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
    fixture
}

#[test]
fn a_full_refund_asked_to_keep_the_seats_keeps_them_and_the_claim() {
    let mut fixture = paid(true);
    let total = fixture.total();
    let available = fixture.slot("glaciar-0900").available();
    fixture.booking.apply(&BookingEvent::RefundRequested {
        refund_id: "r".into(),
        by: "op".into(),
        amount: total,
        parts: Vec::new(),
        keep_seats: true,
        reason: None,
        data_key: None,
    });
    let decision = fixture.pay(&refunded("1", total));
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingRefunded { refunded: total }));
    assert!(
        decision.slot_events.is_empty(),
        "{:?}",
        decision.slot_events
    );
    assert!(decision.coupon_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::Refunded));
    assert_eq!(fixture.slot("glaciar-0900").available(), available);
}

#[test]
fn a_full_refund_releases_the_seats_and_the_claim() {
    let mut fixture = paid(true);
    let total = fixture.total();
    let report = refunded("1", total);
    let decision = fixture.pay(&report);
    assert_eq!(decision.outcome, PaymentOutcome::Applied);
    assert_eq!(
        decision.booking_events,
        vec![
            notified(&report),
            BookingEvent::PaymentRefunded {
                provider: Provider::MercadoPago,
                payment_id: "1".into(),
                refunded: total,
            },
            BookingEvent::BookingRefunded { refunded: total },
        ]
    );
    assert_eq!(
        decision.slot_events,
        BTreeMap::from([(
            slot_id("glaciar-0900"),
            vec![SlotEvent::SeatsReleased {
                booking_id: mine(),
                seats: 2,
                reason: ReleaseReason::Refunded
            }]
        )])
    );
    assert_eq!(
        decision.coupon_events,
        vec![CouponEvent::CouponClaimReleased {
            booking_id: mine(),
            reason: ReleaseReason::Refunded
        }]
    );
    assert_eq!(fixture.status(), Some(BookingStatus::Refunded));
    assert_eq!(fixture.booking.paid(), Some(pesos(0)));
    assert_eq!(fixture.slot("glaciar-0900").available(), 10);
    assert_eq!(
        fixture.pay(&report),
        PaymentDecision::nothing(PaymentOutcome::Unchanged)
    );
}

#[test]
fn partial_refunds_accumulate_and_only_record() {
    let mut fixture = paid(false);
    let total = fixture.total();
    let decision = fixture.pay(&refunded("1", pesos(1_000_000)));
    assert_eq!(decision.booking_events.len(), 2, "{decision:?}");
    assert!(decision.slot_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
    assert_eq!(fixture.booking.paid(), Some(pesos(8_000_000)));
    for same_or_less in [pesos(1_000_000), pesos(500_000)] {
        assert_eq!(
            fixture.pay(&refunded("1", same_or_less)),
            PaymentDecision::nothing(PaymentOutcome::Unchanged)
        );
    }
    fixture.pay(&refunded("1", pesos(3_000_000)));
    let record = &fixture.booking.payments["mercadopago:1"];
    assert_eq!(
        (record.status, record.amount, record.refunded),
        (PaymentStatus::Refunded, total, pesos(3_000_000))
    );
    let decision = fixture.pay(&refunded("1", total));
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingRefunded { refunded: total }));
    assert_eq!(fixture.status(), Some(BookingStatus::Refunded));
}

#[test]
fn impossible_refunds_are_anomalies() {
    let mut fixture = paid(false);
    let total = fixture.total();
    for amount in [
        pesos(0),
        pesos(total.minor() + 1),
        Money::new(100, usd()).expect("money"),
    ] {
        let decision = fixture.pay(&refunded("1", amount));
        assert_eq!(decision.outcome, PaymentOutcome::Anomaly, "{amount}");
    }
    fixture.pay(&refunded("1", pesos(10)));
    let decision = fixture.pay(&refunded("1", Money::new(100, usd()).expect("money")));
    assert_eq!(decision.outcome, PaymentOutcome::Anomaly);
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
}

#[test]
fn a_chargeback_takes_the_whole_payment_back_and_is_terminal() {
    let mut fixture = paid(false);
    fixture.pay(&refunded("1", pesos(10)));
    let back = report("1", ReportedStatus::ChargedBack, fixture.total());
    let decision = fixture.pay(&back);
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingRefunded {
            refunded: fixture.total()
        }));
    assert_eq!(fixture.slot("glaciar-0900").confirmed(), 0);
    assert_eq!(fixture.status(), Some(BookingStatus::Refunded));
    assert_eq!(
        fixture.pay(&back),
        PaymentDecision::nothing(PaymentOutcome::Unchanged)
    );
    for status in [ReportedStatus::Approved, ReportedStatus::Refunded] {
        let decision = fixture.pay(&report("1", status, fixture.total()));
        assert_eq!(decision.outcome, PaymentOutcome::Anomaly);
    }
}

#[test]
fn split_payments_are_refunded_payment_by_payment() {
    let mut fixture = Fixture::standard();
    let half = pesos(4_500_000);
    fixture.pay(&approved("card", half));
    fixture.pay(&approved("cash", half));
    let decision = fixture.pay(&refunded("card", half));
    assert_eq!(decision.booking_events.len(), 2, "only recorded");
    assert_eq!(fixture.booking.paid(), Some(half));
    let decision = fixture.pay(&report("cash", ReportedStatus::ChargedBack, half));
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingRefunded {
            refunded: fixture.total()
        }));
}

#[test]
fn a_refund_seen_before_its_approval_never_counts() {
    let mut fixture = Fixture::standard();
    let total = fixture.total();
    let decision = fixture.pay(&refunded("1", total));
    assert_eq!(decision.outcome, PaymentOutcome::Applied);
    assert_eq!(decision.booking_events.len(), 2);
    let record = &fixture.booking.payments["mercadopago:1"];
    assert_eq!(
        (record.status, record.approved),
        (PaymentStatus::Refunded, false)
    );
    let decision = fixture.pay(&approved("1", total));
    assert_eq!(decision.outcome, PaymentOutcome::Anomaly);
    assert_eq!(fixture.status(), Some(BookingStatus::Held));
    assert_eq!(fixture.booking.paid(), Some(pesos(0)));
}

#[test]
fn a_partial_payment_refunded_leaves_the_booking_held() {
    let mut fixture = Fixture::standard();
    fixture.pay(&approved("1", pesos(100)));
    assert_eq!(
        cancel_booking(&fixture.booking, "ana", false, fixture.now),
        Err(Rejection::NotCancellable {
            status: BookingStatus::PartiallyPaid
        })
    );
    let decision = fixture.pay(&refunded("1", pesos(40)));
    assert_eq!(
        decision.booking_events.last(),
        Some(&BookingEvent::BookingPartiallyPaid {
            paid: pesos(60),
            due: pesos(fixture.total().minor() - 60)
        })
    );
    let decision = fixture.pay(&refunded("1", pesos(100)));
    assert_eq!(decision.booking_events.len(), 2, "{decision:?}");
    assert_eq!(fixture.status(), Some(BookingStatus::Held));
    assert!(cancel_booking(&fixture.booking, "ana", false, fixture.now).is_ok());
}

#[test]
fn only_an_operator_cancels_a_paid_booking_and_the_refund_completes_it() {
    let mut fixture = paid(true);
    assert_eq!(
        cancel_booking(&fixture.booking, "ana", false, fixture.now),
        Err(Rejection::NotCancellable {
            status: BookingStatus::Paid
        })
    );
    let events = cancel_booking(&fixture.booking, "op-1", true, fixture.now).expect("cancelled");
    let slot = fixture.slot("glaciar-0900");
    let released = release_hold(slot, mine(), ReleaseReason::Cancelled);
    assert_eq!(
        released,
        vec![SlotEvent::SeatsReleased {
            booking_id: mine(),
            seats: 2,
            reason: ReleaseReason::Cancelled
        }]
    );
    fixture.record(
        &events,
        &BTreeMap::from([(slot_id("glaciar-0900"), released)]),
        &[],
    );
    assert_eq!(fixture.status(), Some(BookingStatus::Cancelled));
    assert_eq!(fixture.slot("glaciar-0900").available(), 10);
    let decision = fixture.pay(&refunded("1", fixture.total()));
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingRefunded {
            refunded: fixture.total()
        }));
    assert!(decision.slot_events.is_empty(), "already released");
    assert_eq!(fixture.status(), Some(BookingStatus::Refunded));
}

#[test]
fn money_after_a_refund_requires_another_refund_until_it_goes_back() {
    let mut fixture = paid(false);
    let total = fixture.total();
    fixture.pay(&refunded("1", total));
    let decision = fixture.pay(&approved("2", total));
    assert_eq!(
        decision.booking_events.last(),
        Some(&BookingEvent::LatePaymentRequiresRefund { paid: total })
    );
    assert!(decision.slot_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::RefundRequired));
    let decision = fixture.pay(&refunded("2", total));
    let both = pesos(total.minor() * 2);
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingRefunded { refunded: both }));
    assert_eq!(fixture.status(), Some(BookingStatus::Refunded));
}

#[test]
fn a_paid_booking_never_expires() {
    let mut fixture = paid(false);
    fixture.now += Duration::days(3);
    assert_eq!(expire_booking(&fixture.booking, fixture.now), vec![]);
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
}
