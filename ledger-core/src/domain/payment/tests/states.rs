//! The payment types (wire names, validation, keys) and the per-payment state machine:
//! pending, failed attempts, terminal failures, what an approved payment may become, and
//! the bound on payments per booking.

use super::*;

#[test]
fn providers_and_statuses_use_their_wire_names() {
    for (provider, name) in [
        (Provider::Stripe, "stripe"),
        (Provider::MercadoPago, "mercadopago"),
        (Provider::Pix, "pix"),
    ] {
        assert_eq!(provider.as_str(), name);
        assert_eq!(provider.to_string(), name);
        assert_eq!(name.parse::<Provider>(), Ok(provider));
        assert_eq!(serde_json::to_value(provider).expect("ser"), name);
        let back: Provider = serde_json::from_value(name.into()).expect("de");
        assert_eq!(back, provider);
    }
    for bad in ["Stripe", "mercado_pago", "", "paypal"] {
        assert!(matches!(
            bad.parse::<Provider>(),
            Err(Rejection::InvalidPayment(_))
        ));
    }
    for (status, name) in [
        (ReportedStatus::Pending, "pending"),
        (ReportedStatus::Approved, "approved"),
        (ReportedStatus::AttemptFailed, "attempt_failed"),
        (ReportedStatus::Rejected, "rejected"),
        (ReportedStatus::Cancelled, "cancelled"),
        (ReportedStatus::Refunded, "refunded"),
        (ReportedStatus::ChargedBack, "charged_back"),
    ] {
        assert_eq!(status.to_string(), name);
        assert_eq!(serde_json::to_value(status).expect("ser"), name);
        let recorded = PaymentStatus::from(status);
        assert_eq!(serde_json::to_value(recorded).expect("ser"), name);
        assert_eq!(recorded.to_string(), name);
    }
    let terminal: Vec<_> = [
        PaymentStatus::Pending,
        PaymentStatus::Approved,
        PaymentStatus::AttemptFailed,
        PaymentStatus::Rejected,
        PaymentStatus::Cancelled,
        PaymentStatus::Refunded,
        PaymentStatus::ChargedBack,
    ]
    .into_iter()
    .filter(PaymentStatus::is_terminal)
    .collect();
    assert_eq!(
        terminal,
        [
            PaymentStatus::Rejected,
            PaymentStatus::Cancelled,
            PaymentStatus::ChargedBack
        ]
    );
}

#[test]
fn reports_are_validated_and_keyed() {
    let good = approved("1319876543", pesos(1));
    assert_eq!(good.validate(), Ok(()));
    assert_eq!(good.key(), "mercadopago:1319876543");
    assert_eq!(payment_key(Provider::Pix, "E1:x"), "pix:E1:x");
    let longest = PaymentReport {
        payment_id: "p".repeat(MAX_PAYMENT_ID_LEN),
        provider_event_id: "e".repeat(MAX_PROVIDER_EVENT_ID_LEN),
        ..good.clone()
    };
    assert_eq!(longest.validate(), Ok(()));
    let no_event_id = PaymentReport {
        provider_event_id: String::new(),
        ..good.clone()
    };
    assert_eq!(no_event_id.validate(), Ok(()));
    let bad = [
        PaymentReport {
            payment_id: String::new(),
            ..good.clone()
        },
        PaymentReport {
            payment_id: "p".repeat(MAX_PAYMENT_ID_LEN + 1),
            ..good.clone()
        },
        PaymentReport {
            provider_event_id: "e".repeat(MAX_PROVIDER_EVENT_ID_LEN + 1),
            ..good.clone()
        },
        PaymentReport {
            payment_id: "13\0".into(),
            ..good.clone()
        },
        PaymentReport {
            provider_event_id: "evt\n1".into(),
            ..good.clone()
        },
    ];
    let mut fixture = Fixture::standard();
    for report in bad {
        assert!(matches!(
            report.validate(),
            Err(Rejection::InvalidPayment(_))
        ));
        let decision = fixture.pay(&report);
        assert_eq!(decision, PaymentDecision::nothing(PaymentOutcome::Anomaly));
    }
}

#[test]
fn pending_and_failed_attempts_are_recorded_and_keep_the_hold() {
    let mut fixture = Fixture::standard();
    let total = fixture.total();
    let pending = report("1", ReportedStatus::Pending, total);
    let decision = fixture.pay(&pending);
    assert_eq!(decision.outcome, PaymentOutcome::Applied);
    assert_eq!(
        decision.booking_events,
        vec![
            notified(&pending),
            BookingEvent::PaymentPending {
                provider: Provider::MercadoPago,
                payment_id: "1".into(),
                amount: total,
            },
        ]
    );
    assert_eq!(
        fixture.pay(&pending),
        PaymentDecision::nothing(PaymentOutcome::Unchanged)
    );
    let failed = PaymentReport {
        provider: Provider::Stripe,
        ..report("pi_1", ReportedStatus::AttemptFailed, total)
    };
    for _ in 0..2 {
        fixture.pay(&failed);
    }
    let failed_events = &fixture.pay(&report("2", ReportedStatus::Rejected, total));
    assert_eq!(
        failed_events.booking_events[1],
        BookingEvent::PaymentRejected {
            provider: Provider::MercadoPago,
            payment_id: "2".into(),
            status: PaymentFailure::Rejected,
            amount: total,
        }
    );
    assert_eq!(fixture.status(), Some(BookingStatus::Held));
    assert_eq!(fixture.slot("glaciar-0900").held(), 2);
    let statuses: Vec<_> = fixture.booking.payments().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [
            PaymentStatus::Pending,
            PaymentStatus::Rejected,
            PaymentStatus::AttemptFailed
        ]
    );
    // The failed Stripe attempt succeeds with another card: the booking is paid.
    let retried = PaymentReport {
        provider: Provider::Stripe,
        ..approved("pi_1", total)
    };
    let decision = fixture.pay(&retried);
    assert!(decision
        .booking_events
        .contains(&BookingEvent::BookingPaid { paid: total }));
}

#[test]
fn a_terminal_failure_never_becomes_approved() {
    for terminal in [ReportedStatus::Rejected, ReportedStatus::Cancelled] {
        let mut fixture = Fixture::standard();
        let total = fixture.total();
        fixture.pay(&report("1", terminal, total));
        let before = fixture.booking.clone();
        let late = approved("1", total);
        let decision = fixture.pay(&late);
        assert_eq!(decision.outcome, PaymentOutcome::Anomaly);
        assert_eq!(
            decision.booking_events,
            vec![
                notified(&late),
                BookingEvent::PaymentAnomalyRecorded {
                    provider: Provider::MercadoPago,
                    payment_id: "1".into(),
                    reported: ReportedStatus::Approved,
                    current: terminal.into(),
                    detail: "a payment in a terminal failure never becomes approved".into(),
                },
            ]
        );
        assert!(decision.slot_events.is_empty() && decision.coupon_events.is_empty());
        assert_eq!(fixture.booking.payments, before.payments);
        assert_eq!(fixture.status(), Some(BookingStatus::Held));
        for other in [ReportedStatus::Pending, ReportedStatus::Refunded] {
            let decision = fixture.pay(&report("1", other, total));
            assert_eq!(decision.outcome, PaymentOutcome::Anomaly, "{other}");
        }
        assert_eq!(
            fixture.pay(&report("1", terminal, total)),
            PaymentDecision::nothing(PaymentOutcome::Unchanged)
        );
        // A new attempt is a new payment id, and it can pay the booking.
        let decision = fixture.pay(&approved("2", total));
        assert_eq!(fixture.status(), Some(BookingStatus::Paid), "{decision:?}");
    }
}

#[test]
fn an_approved_payment_only_moves_to_refunded_or_charged_back() {
    let mut fixture = Fixture::standard();
    let total = fixture.total();
    fixture.pay(&approved("1", total));
    let different = fixture.pay(&approved("1", pesos(1)));
    assert_eq!(different.outcome, PaymentOutcome::Anomaly);
    for status in [
        ReportedStatus::Pending,
        ReportedStatus::AttemptFailed,
        ReportedStatus::Rejected,
        ReportedStatus::Cancelled,
    ] {
        let decision = fixture.pay(&report("1", status, total));
        assert_eq!(decision.outcome, PaymentOutcome::Anomaly, "{status}");
        assert!(matches!(
            decision.booking_events.as_slice(),
            [
                BookingEvent::PaymentNotified { .. },
                BookingEvent::PaymentAnomalyRecorded {
                    current: PaymentStatus::Approved,
                    ..
                }
            ]
        ));
    }
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
}

#[test]
fn a_booking_records_a_bounded_number_of_payments() {
    let mut fixture = Fixture::standard();
    for n in 0..MAX_PAYMENTS_PER_BOOKING {
        let decision = fixture.pay(&report(&n.to_string(), ReportedStatus::Pending, pesos(1)));
        assert_eq!(decision.outcome, PaymentOutcome::Applied);
    }
    let decision = fixture.pay(&approved("one-more", fixture.total()));
    assert_eq!(decision.outcome, PaymentOutcome::Anomaly);
    assert!(matches!(
        &decision.booking_events[1],
        BookingEvent::PaymentAnomalyRecorded {
            current: PaymentStatus::Pending,
            ..
        }
    ));
    assert_eq!(fixture.booking.payments.len(), MAX_PAYMENTS_PER_BOOKING);
    // Known payments still move.
    let decision = fixture.pay(&approved("0", fixture.total()));
    assert_eq!(fixture.status(), Some(BookingStatus::Paid), "{decision:?}");
}
