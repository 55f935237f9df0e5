//! Golden payloads of the payment events (booking stream, `PaymentRequested` included), the
//! slot's `SeatsReleased`, and `BookingPlaced` with the booking id it records since payments
//! exist.

use super::{beef, golden, verano};
use crate::domain::booking::{BookingEvent, BookingItem};
use crate::domain::coupon::CouponEvent;
use crate::domain::events::{DecodeError, DomainEvent};
use crate::domain::payment::{
    PaymentFailure, PaymentSource, PaymentStatus, Provider, ReportedStatus,
};
use crate::domain::slot::{ReleaseReason, SlotEvent};
use crate::domain::test_support::{at, pesos, slot_id, usd};
use crate::money::Money;

fn dollars(minor: i64) -> Money {
    Money::new(minor, usd()).expect("money")
}

#[test]
fn golden_booking_placed_with_its_id() {
    golden(
        "BookingPlaced",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","customer":"auth0|ana",
            "items":[{"slot_id":"glaciar-0900","seats":2,
            "unit_price":{"amount_minor":4500000,"currency":"ARS"}}],
            "subtotal":{"amount_minor":9000000,"currency":"ARS"},
            "discount":{"amount_minor":900000,"currency":"ARS"},
            "total":{"amount_minor":8100000,"currency":"ARS"},
            "coupon_code":"VERANO10","hold_expires_at":"2026-12-01T12:15:00Z"}"#,
        BookingEvent::BookingPlaced {
            booking_id: Some(beef()),
            customer: "auth0|ana".into(),
            items: vec![BookingItem {
                slot_id: slot_id("glaciar-0900"),
                seats: 2,
                unit_price: pesos(4_500_000),
            }],
            subtotal: pesos(9_000_000),
            discount: pesos(900_000),
            total: pesos(8_100_000),
            coupon_code: Some(verano()),
            hold_expires_at: at("2026-12-01T12:15:00Z"),
        },
    );
}

#[test]
fn golden_payment_events() {
    golden(
        "PaymentNotified",
        r#"{"provider":"mercadopago","payment_id":"1319876543","status":"approved",
            "amount":{"amount_minor":8100000,"currency":"ARS"},"source":"webhook",
            "provider_event_id":"112233445566"}"#,
        BookingEvent::PaymentNotified {
            provider: Provider::MercadoPago,
            payment_id: "1319876543".into(),
            status: ReportedStatus::Approved,
            amount: pesos(8_100_000),
            source: PaymentSource::Webhook,
            provider_event_id: "112233445566".into(),
        },
    );
    golden(
        "PaymentNotified",
        r#"{"provider":"stripe","payment_id":"pi_3PqR","status":"attempt_failed",
            "amount":{"amount_minor":5000,"currency":"USD"},"source":"reconciliation",
            "provider_event_id":""}"#,
        BookingEvent::PaymentNotified {
            provider: Provider::Stripe,
            payment_id: "pi_3PqR".into(),
            status: ReportedStatus::AttemptFailed,
            amount: dollars(5_000),
            source: PaymentSource::Reconciliation,
            provider_event_id: String::new(),
        },
    );
    golden(
        "PaymentPending",
        r#"{"provider":"pix","payment_id":"E1234567820261201120000abcdefghij",
            "amount":{"amount_minor":11000,"currency":"BRL"}}"#,
        BookingEvent::PaymentPending {
            provider: Provider::Pix,
            payment_id: "E1234567820261201120000abcdefghij".into(),
            amount: Money::new(11_000, crate::money::Currency::parse("BRL").expect("BRL"))
                .expect("money"),
        },
    );
    golden(
        "PaymentApproved",
        r#"{"provider":"mercadopago","payment_id":"1319876543",
            "amount":{"amount_minor":4050000,"currency":"ARS"}}"#,
        BookingEvent::PaymentApproved {
            provider: Provider::MercadoPago,
            payment_id: "1319876543".into(),
            amount: pesos(4_050_000),
        },
    );
    for (status, name) in [
        (PaymentFailure::AttemptFailed, "attempt_failed"),
        (PaymentFailure::Rejected, "rejected"),
        (PaymentFailure::Cancelled, "cancelled"),
    ] {
        golden(
            "PaymentRejected",
            &format!(
                r#"{{"provider":"mercadopago","payment_id":"77","status":"{name}",
                    "amount":{{"amount_minor":100,"currency":"ARS"}}}}"#
            ),
            BookingEvent::PaymentRejected {
                provider: Provider::MercadoPago,
                payment_id: "77".into(),
                status,
                amount: pesos(100),
            },
        );
    }
    golden(
        "PaymentRefunded",
        r#"{"provider":"stripe","payment_id":"pi_3PqR",
            "refunded":{"amount_minor":2500,"currency":"USD"}}"#,
        BookingEvent::PaymentRefunded {
            provider: Provider::Stripe,
            payment_id: "pi_3PqR".into(),
            refunded: dollars(2_500),
        },
    );
    golden(
        "PaymentChargedBack",
        r#"{"provider":"mercadopago","payment_id":"1319876543",
            "amount":{"amount_minor":8100000,"currency":"ARS"}}"#,
        BookingEvent::PaymentChargedBack {
            provider: Provider::MercadoPago,
            payment_id: "1319876543".into(),
            amount: pesos(8_100_000),
        },
    );
    golden(
        "PaymentAnomalyRecorded",
        r#"{"provider":"mercadopago","payment_id":"1319876543","reported":"approved",
            "current":"rejected",
            "detail":"a payment in a terminal failure never becomes approved"}"#,
        BookingEvent::PaymentAnomalyRecorded {
            provider: Provider::MercadoPago,
            payment_id: "1319876543".into(),
            reported: ReportedStatus::Approved,
            current: PaymentStatus::Rejected,
            detail: "a payment in a terminal failure never becomes approved".into(),
        },
    );
    golden(
        "PaymentAnomalyRecorded",
        r#"{"provider":"stripe","payment_id":"pi_1","reported":"charged_back",
            "current":"refunded","detail":"x"}"#,
        BookingEvent::PaymentAnomalyRecorded {
            provider: Provider::Stripe,
            payment_id: "pi_1".into(),
            reported: ReportedStatus::ChargedBack,
            current: PaymentStatus::Refunded,
            detail: "x".into(),
        },
    );
}

#[test]
fn golden_payment_requested() {
    golden(
        "PaymentRequested",
        r#"{"provider":"mercadopago","amount":{"amount_minor":8100000,"currency":"ARS"},
            "provider_reference":"202809963-920c288b-4ebb-40be-966f-700250fa5370",
            "idempotency_key":"bfba9fe829a7015d78eee95553c9f2fcc3aba833c1399869192afa4654f9aca5"}"#,
        BookingEvent::PaymentRequested {
            provider: Provider::MercadoPago,
            amount: pesos(8_100_000),
            provider_reference: "202809963-920c288b-4ebb-40be-966f-700250fa5370".into(),
            idempotency_key: "bfba9fe829a7015d78eee95553c9f2fcc3aba833c1399869192afa4654f9aca5"
                .into(),
            payer: None,
            data_key: None,
        },
    );
    golden(
        "PaymentRequested",
        r#"{"provider":"pix","amount":{"amount_minor":11000,"currency":"BRL"},
            "provider_reference":"a3f1c9e07b2d4e5f8a9b0c1d2e3f4a5b",
            "idempotency_key":"354261c27a0eda3d430ad2993032d5bc431e01cc69c2ee68c64522940c0f33bb"}"#,
        BookingEvent::PaymentRequested {
            provider: Provider::Pix,
            amount: Money::new(11_000, crate::money::Currency::parse("BRL").expect("BRL"))
                .expect("money"),
            provider_reference: "a3f1c9e07b2d4e5f8a9b0c1d2e3f4a5b".into(),
            idempotency_key: "354261c27a0eda3d430ad2993032d5bc431e01cc69c2ee68c64522940c0f33bb"
                .into(),
            payer: None,
            data_key: None,
        },
    );
    let missing_key = serde_json::json!({"provider": "stripe", "provider_reference": "pi_1",
        "amount": {"amount_minor": 1, "currency": "ARS"}});
    assert!(matches!(
        BookingEvent::decode("PaymentRequested", 1, &missing_key),
        Err(DecodeError::InvalidPayload { .. })
    ));
}

#[test]
fn golden_booking_payment_outcomes() {
    golden(
        "BookingPaid",
        r#"{"paid":{"amount_minor":8100000,"currency":"ARS"}}"#,
        BookingEvent::BookingPaid {
            paid: pesos(8_100_000),
        },
    );
    golden(
        "BookingPartiallyPaid",
        r#"{"paid":{"amount_minor":4050000,"currency":"ARS"},
            "due":{"amount_minor":4050000,"currency":"ARS"}}"#,
        BookingEvent::BookingPartiallyPaid {
            paid: pesos(4_050_000),
            due: pesos(4_050_000),
        },
    );
    golden(
        "LatePaymentRequiresRefund",
        r#"{"paid":{"amount_minor":8100000,"currency":"ARS"}}"#,
        BookingEvent::LatePaymentRequiresRefund {
            paid: pesos(8_100_000),
        },
    );
    golden(
        "AmountMismatchFlagged",
        r#"{"provider":"stripe","payment_id":"pi_3PqR",
            "expected":{"amount_minor":8100000,"currency":"ARS"},
            "received":{"amount_minor":5000,"currency":"USD"}}"#,
        BookingEvent::AmountMismatchFlagged {
            provider: Provider::Stripe,
            payment_id: "pi_3PqR".into(),
            expected: pesos(8_100_000),
            received: dollars(5_000),
        },
    );
    golden(
        "BookingRefunded",
        r#"{"refunded":{"amount_minor":8100000,"currency":"ARS"}}"#,
        BookingEvent::BookingRefunded {
            refunded: pesos(8_100_000),
        },
    );
    golden(
        "BookingMoved",
        r#"{"by":"op-1","from":[{"seats":2,"slot_id":"glaciar-0900","unit_price":{"amount_minor":4500000,"currency":"ARS"}}],"items":[{"seats":2,"slot_id":"glaciar-1400","unit_price":{"amount_minor":4500000,"currency":"ARS"}}]}"#,
        BookingEvent::BookingMoved {
            by: "op-1".into(),
            from: vec![BookingItem {
                slot_id: slot_id("glaciar-0900"),
                seats: 2,
                unit_price: pesos(4_500_000),
            }],
            items: vec![BookingItem {
                slot_id: slot_id("glaciar-1400"),
                seats: 2,
                unit_price: pesos(4_500_000),
            }],
        },
    );
    golden(
        "RefundRequested",
        r#"{"amount":{"amount_minor":450000,"currency":"ARS"},"by":"op-1","parts":[{"amount":{"amount_minor":450000,"currency":"ARS"},"idempotency_key":"k","payment_id":"pi_1","provider":"stripe","provider_refund_id":"re_1","through":{"amount_minor":450000,"currency":"ARS"}}],"refund_id":"0190f5d2-9a10-7c3e-8f00-0000000000a1"}"#,
        BookingEvent::RefundRequested {
            refund_id: "0190f5d2-9a10-7c3e-8f00-0000000000a1".into(),
            by: "op-1".into(),
            amount: pesos(450_000),
            parts: vec![crate::domain::RefundPart {
                provider: Provider::Stripe,
                payment_id: "pi_1".into(),
                amount: pesos(450_000),
                through: pesos(450_000),
                idempotency_key: "k".into(),
                provider_refund_id: "re_1".into(),
            }],
            keep_seats: false,
            reason: None,
            data_key: None,
        },
    );
}

#[test]
fn golden_seat_and_claim_releases() {
    golden(
        "SeatsReleased",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","seats":2,"reason":"refunded"}"#,
        SlotEvent::SeatsReleased {
            booking_id: beef(),
            seats: 2,
            reason: ReleaseReason::Refunded,
        },
    );
    golden(
        "SeatsReleased",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","seats":1,"reason":"cancelled"}"#,
        SlotEvent::SeatsReleased {
            booking_id: beef(),
            seats: 1,
            reason: ReleaseReason::Cancelled,
        },
    );
    golden(
        "CouponClaimReleased",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","reason":"refunded"}"#,
        CouponEvent::CouponClaimReleased {
            booking_id: beef(),
            reason: ReleaseReason::Refunded,
        },
    );
}

#[test]
fn payment_payloads_refuse_unknown_providers_and_statuses() {
    let payload = serde_json::json!({"provider": "paypal", "payment_id": "1",
        "amount": {"amount_minor": 1, "currency": "ARS"}});
    assert!(matches!(
        BookingEvent::decode("PaymentApproved", 1, &payload),
        Err(DecodeError::InvalidPayload { .. })
    ));
    let payload = serde_json::json!({"provider": "stripe", "payment_id": "1",
        "status": "approved", "amount": {"amount_minor": 1, "currency": "ARS"}});
    assert!(
        matches!(
            BookingEvent::decode("PaymentRejected", 1, &payload),
            Err(DecodeError::InvalidPayload { .. })
        ),
        "a failure never reads as an approval"
    );
    let payload = serde_json::json!({"paid": {"amount_minor": 1, "currency": "ARS"},
        "extra": true});
    assert!(matches!(
        BookingEvent::decode("BookingPaid", 1, &payload),
        Err(DecodeError::InvalidPayload { .. })
    ));
}
