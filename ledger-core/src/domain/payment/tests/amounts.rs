//! Amount checks: approvals in another currency or of nothing, and counted sums above the
//! total — flagged, never paying the booking.

use super::*;

#[test]
fn an_approval_in_another_currency_or_of_nothing_is_flagged_and_never_counts() {
    for amount in [
        Money::new(9_000_000, usd()).expect("money"),
        pesos(0),
        pesos(-5),
    ] {
        let mut fixture = Fixture::standard();
        let wrong = approved("1", amount);
        let decision = fixture.pay(&wrong);
        assert_eq!(decision.outcome, PaymentOutcome::Applied);
        assert_eq!(
            decision.booking_events,
            vec![
                notified(&wrong),
                BookingEvent::PaymentApproved {
                    provider: Provider::MercadoPago,
                    payment_id: "1".into(),
                    amount,
                },
                BookingEvent::AmountMismatchFlagged {
                    provider: Provider::MercadoPago,
                    payment_id: "1".into(),
                    expected: fixture.total(),
                    received: amount,
                },
            ]
        );
        assert!(decision.slot_events.is_empty());
        assert_eq!(fixture.booking.paid(), Some(pesos(0)));
        assert_eq!(fixture.status(), Some(BookingStatus::Held));
        assert_eq!(
            fixture.pay(&wrong),
            PaymentDecision::nothing(PaymentOutcome::Unchanged)
        );
    }
}

#[test]
fn more_than_the_total_is_flagged_and_never_pays() {
    let mut fixture = Fixture::standard();
    let total = fixture.total();
    let over = pesos(total.minor() + 1);
    let decision = fixture.pay(&approved("1", over));
    assert_eq!(
        decision.booking_events.last(),
        Some(&BookingEvent::AmountMismatchFlagged {
            provider: Provider::MercadoPago,
            payment_id: "1".into(),
            expected: total,
            received: over,
        })
    );
    assert!(decision.slot_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::Held));

    // Two approvals that together pass the total: the second is flagged.
    let mut fixture = Fixture::standard();
    fixture.pay(&approved("1", pesos(5_000_000)));
    let decision = fixture.pay(&approved("2", pesos(5_000_000)));
    assert!(matches!(
        decision.booking_events.last(),
        Some(BookingEvent::AmountMismatchFlagged { received, .. }) if *received == pesos(10_000_000)
    ));
    assert_eq!(fixture.status(), Some(BookingStatus::PartiallyPaid));
    assert_eq!(fixture.slot("glaciar-0900").confirmed(), 0);
    // Refunding the excess (an operations fix) leaves exactly the total: paid.
    let decision = fixture.pay(&report("2", ReportedStatus::Refunded, pesos(1_000_000)));
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingPaid { paid: total }));
    assert_eq!(fixture.slot("glaciar-0900").confirmed(), 2);

    // More money on a paid booking is flagged too; it stays paid.
    let decision = fixture.pay(&approved("3", pesos(10)));
    assert!(matches!(
        decision.booking_events.last(),
        Some(BookingEvent::AmountMismatchFlagged { expected, .. }) if *expected == total
    ));
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
}
