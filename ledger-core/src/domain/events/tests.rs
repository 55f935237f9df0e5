//! Golden tests of the stored form: for every event type, a fixed payload (bytes we
//! promise to read forever) decodes to the expected value and encodes back to the same
//! JSON. Plus the refusals of `decode` and `fold_stored`.

use std::fmt::Debug;

use serde_json::json;

use super::*;
use crate::domain::booking::{BookingItem, BookingStatus, CancellerRole};
use crate::domain::coupon::{CouponCode, CouponSpec, Discount};
use crate::domain::cutoff::Cutoff;
use crate::domain::slot::ReleaseReason;
use crate::domain::test_support::{at, glaciar, pesos, slot_id};
use crate::ids::{ActivityId, BookingId};

mod payments;
mod upcast;

fn beef() -> BookingId {
    BookingId::parse("0190f5d2-7c1a-7b3e-8f00-00000000beef").expect("booking id")
}

fn verano() -> CouponCode {
    CouponCode::parse("VERANO10").expect("code")
}

/// Decodes `payload` from its value and from its JSON text: both paths must agree (the
/// same event, or the same kind of refusal). Returns the value path's answer.
fn decode_both<E: DomainEvent + PartialEq + Debug>(
    event_type: &str,
    version: i32,
    payload: &Value,
) -> Result<E, DecodeError> {
    let from_value = E::decode(event_type, version, payload);
    let from_text = E::decode_text(event_type, version, &payload.to_string());
    match (&from_value, &from_text) {
        (Ok(value), Ok(text)) => assert_eq!(value, text, "{payload}"),
        (Err(value), Err(text)) => assert_eq!(
            std::mem::discriminant(value),
            std::mem::discriminant(text),
            "{value} / {text}"
        ),
        _ => panic!("the paths disagree on {payload}: {from_value:?} / {from_text:?}"),
    }
    from_value
}

/// `literal`, at the type's current schema version, decodes to `expected`, and `expected`
/// encodes to exactly `literal`'s JSON.
fn golden<E: DomainEvent + PartialEq + Debug>(event_type: &str, literal: &str, expected: E) {
    let payload: Value = serde_json::from_str(literal).expect("literal is JSON");
    let version = E::current_schema_version(event_type).expect("a listed type");
    let decoded = decode_both::<E>(event_type, version, &payload).expect("golden payload decodes");
    assert_eq!(decoded, expected, "{event_type}");
    assert_eq!(expected.event_type(), event_type);
    assert_eq!(expected.schema_version(), version);
    assert_eq!(expected.to_payload(), payload, "{event_type}");
    assert!(E::EVENT_TYPES.contains(&event_type));
}

#[test]
fn golden_slot_events() {
    golden(
        "SlotScheduled",
        r#"{"spec":{"activity_id":"glaciar-trek","starts_at":"2026-12-01T12:00:00Z","capacity":20,
            "price":{"amount_minor":4500000,"currency":"ARS"},
            "time_zone":"America/Argentina/Buenos_Aires",
            "cutoff":{"kind":"day_before_at","local_time":"18:00"}}}"#,
        SlotEvent::SlotScheduled { spec: glaciar(20) },
    );
    golden(
        "SlotRescheduled",
        r#"{"activity_id":"glaciar-trek","starts_at":"2026-12-01T13:30:00Z",
            "time_zone":"America/New_York","cutoff":{"kind":"minutes_before","minutes":90}}"#,
        SlotEvent::SlotRescheduled {
            activity_id: ActivityId::parse("glaciar-trek").expect("activity"),
            starts_at: at("2026-12-01T13:30:00Z"),
            time_zone: chrono_tz::America::New_York,
            cutoff: Cutoff::MinutesBefore { minutes: 90 },
        },
    );
    golden(
        "CapacityChanged",
        r#"{"capacity":4,"oversold":2}"#,
        SlotEvent::CapacityChanged {
            capacity: 4,
            oversold: 2,
        },
    );
    golden(
        "RateChanged",
        r#"{"price":{"amount_minor":5000000,"currency":"ARS"}}"#,
        SlotEvent::RateChanged {
            price: pesos(5_000_000),
        },
    );
    golden(
        "SlotBlocked",
        r#"{"reason":"temporal de viento"}"#,
        SlotEvent::SlotBlocked {
            reason: "temporal de viento".into(),
        },
    );
    golden(
        "SlotUnblocked",
        r#"{"reason":"reabierto"}"#,
        SlotEvent::SlotUnblocked {
            reason: "reabierto".into(),
        },
    );
    // The same payload as the hash-chain golden event in chain/tests.rs.
    golden(
        "SeatsHeld",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","seats":2,
            "hold_expires_at":"2026-12-01T12:15:00Z",
            "unit_price":{"amount_minor":4500000,"currency":"ARS"}}"#,
        SlotEvent::SeatsHeld {
            booking_id: beef(),
            seats: 2,
            unit_price: pesos(4_500_000),
            hold_expires_at: at("2026-12-01T12:15:00Z"),
        },
    );
    golden(
        "HoldReleased",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","seats":2,"reason":"expired"}"#,
        SlotEvent::HoldReleased {
            booking_id: beef(),
            seats: 2,
            reason: ReleaseReason::Expired,
        },
    );
    golden(
        "HoldReleased",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","seats":1,"reason":"cancelled"}"#,
        SlotEvent::HoldReleased {
            booking_id: beef(),
            seats: 1,
            reason: ReleaseReason::Cancelled,
        },
    );
    golden(
        "SeatsConfirmed",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","seats":2}"#,
        SlotEvent::SeatsConfirmed {
            booking_id: beef(),
            seats: 2,
        },
    );
}

#[test]
fn golden_booking_events() {
    golden(
        "BookingPlaced",
        r#"{"customer":"auth0|ana","items":[{"slot_id":"glaciar-0900","seats":2,
            "unit_price":{"amount_minor":4500000,"currency":"ARS"}}],
            "subtotal":{"amount_minor":9000000,"currency":"ARS"},
            "discount":{"amount_minor":900000,"currency":"ARS"},
            "total":{"amount_minor":8100000,"currency":"ARS"},
            "coupon_code":"VERANO10","hold_expires_at":"2026-12-01T12:15:00Z"}"#,
        BookingEvent::BookingPlaced {
            booking_id: None,
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
    golden(
        "BookingPlaced",
        r#"{"customer":"auth0|bea","items":[{"slot_id":"a","seats":1,
            "unit_price":{"amount_minor":0,"currency":"ARS"}}],
            "subtotal":{"amount_minor":0,"currency":"ARS"},
            "discount":{"amount_minor":0,"currency":"ARS"},
            "total":{"amount_minor":0,"currency":"ARS"},
            "coupon_code":null,"hold_expires_at":"2026-12-01T12:15:00.500Z"}"#,
        // Fractions of a second are written in groups of 3 digits (chrono's RFC 3339 form).
        BookingEvent::BookingPlaced {
            booking_id: None,
            customer: "auth0|bea".into(),
            items: vec![BookingItem {
                slot_id: slot_id("a"),
                seats: 1,
                unit_price: pesos(0),
            }],
            subtotal: pesos(0),
            discount: pesos(0),
            total: pesos(0),
            coupon_code: None,
            hold_expires_at: at("2026-12-01T12:15:00.500Z"),
        },
    );
    golden(
        "BookingCancelled",
        r#"{"by":"auth0|ana","role":"owner"}"#,
        BookingEvent::BookingCancelled {
            by: "auth0|ana".into(),
            role: CancellerRole::Owner,
        },
    );
    golden(
        "BookingCancelled",
        r#"{"by":"op-1","role":"operator"}"#,
        BookingEvent::BookingCancelled {
            by: "op-1".into(),
            role: CancellerRole::Operator,
        },
    );
    golden("BookingExpired", "{}", BookingEvent::BookingExpired);
}

#[test]
fn golden_coupon_events() {
    golden(
        "CouponIssued",
        r#"{"spec":{"code":"VERANO10","discount":{"percent_off":10},"max_claims":100,
            "per_customer_limit":1,"valid_from":"2026-11-01T00:00:00Z",
            "valid_until":"2027-03-01T03:00:00Z"}}"#,
        CouponEvent::CouponIssued {
            spec: CouponSpec {
                code: verano(),
                discount: Discount::PercentOff(10),
                max_claims: 100,
                per_customer_limit: 1,
                valid_from: at("2026-11-01T00:00:00Z"),
                valid_until: at("2027-03-01T00:00:00-03:00"),
            },
        },
    );
    golden(
        "CouponIssued",
        r#"{"spec":{"code":"FIJO","discount":{"amount_off":{"amount_minor":50000,"currency":"ARS"}},
            "max_claims":5,"per_customer_limit":2,"valid_from":"2026-11-01T00:00:00Z",
            "valid_until":"2026-12-01T00:00:00Z"}}"#,
        CouponEvent::CouponIssued {
            spec: CouponSpec {
                code: CouponCode::parse("fijo").expect("code"),
                discount: Discount::AmountOff(pesos(50_000)),
                max_claims: 5,
                per_customer_limit: 2,
                valid_from: at("2026-11-01T00:00:00Z"),
                valid_until: at("2026-12-01T00:00:00Z"),
            },
        },
    );
    golden(
        "CouponClaimed",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","customer":"auth0|ana",
            "hold_expires_at":"2026-12-01T12:15:00Z"}"#,
        CouponEvent::CouponClaimed {
            booking_id: beef(),
            customer: "auth0|ana".into(),
            hold_expires_at: at("2026-12-01T12:15:00Z"),
        },
    );
    golden(
        "CouponClaimConfirmed",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef"}"#,
        CouponEvent::CouponClaimConfirmed { booking_id: beef() },
    );
    golden(
        "CouponClaimReleased",
        r#"{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","reason":"cancelled"}"#,
        CouponEvent::CouponClaimReleased {
            booking_id: beef(),
            reason: ReleaseReason::Cancelled,
        },
    );
}

#[test]
fn every_listed_type_has_a_golden_test() {
    // Keep in step with the golden tests above when a type is added.
    // Payment events: `tests/payments.rs`.
    assert_eq!(SlotEvent::EVENT_TYPES.len(), 10);
    assert_eq!(BookingEvent::EVENT_TYPES.len(), 18);
    assert_eq!(CouponEvent::EVENT_TYPES.len(), 4);
    assert_eq!(SlotEvent::CATEGORY, Category::Slot);
    assert_eq!(BookingEvent::CATEGORY, Category::Booking);
    assert_eq!(CouponEvent::CATEGORY, Category::Coupon);
}

#[test]
fn offsets_other_than_z_are_read_as_the_same_instant() {
    let payload = json!({"booking_id": beef().to_string(), "customer": "c",
        "hold_expires_at": "2026-12-01T09:15:00-03:00"});
    let event = CouponEvent::decode("CouponClaimed", 1, &payload).expect("decodes");
    assert_eq!(
        event.to_payload()["hold_expires_at"],
        "2026-12-01T12:15:00Z"
    );
}

#[test]
fn decode_refuses_unknown_types_versions_and_shapes() {
    let held = json!({"booking_id": beef().to_string(), "seats": 2,
        "hold_expires_at": "2026-12-01T12:15:00Z",
        "unit_price": {"amount_minor": 1, "currency": "ARS"}});
    assert!(decode_both::<SlotEvent>("SeatsHeld", 1, &held).is_ok());
    assert_eq!(
        decode_both::<SlotEvent>("SeatsHold", 1, &held),
        Err(DecodeError::UnknownType {
            event_type: "SeatsHold".into()
        })
    );
    assert!(matches!(
        decode_both::<BookingEvent>("SeatsHeld", 1, &held),
        Err(DecodeError::UnknownType { .. })
    ));
    for version in [0, 2, -1] {
        assert_eq!(
            decode_both::<SlotEvent>("SeatsHeld", version, &held),
            Err(DecodeError::UnsupportedVersion {
                event_type: "SeatsHeld".into(),
                schema_version: version
            })
        );
    }
    let mut extra = held.clone();
    extra["note"] = json!("x");
    let mut missing = held.clone();
    missing.as_object_mut().expect("object").remove("seats");
    let mut negative = held.clone();
    negative["seats"] = json!(-2);
    for bad in [
        extra,
        missing,
        negative,
        json!([1]),
        json!("SeatsHeld"),
        Value::Null,
    ] {
        assert!(
            matches!(
                decode_both::<SlotEvent>("SeatsHeld", 1, &bad),
                Err(DecodeError::InvalidPayload { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        decode_both::<BookingEvent>("BookingExpired", 1, &json!({"at": 1})),
        Err(DecodeError::InvalidPayload { .. })
    ));
    let long = "X".repeat(10_000);
    let error = decode_both::<SlotEvent>(&long, 1, &held)
        .expect_err("unknown")
        .to_string();
    assert!(error.len() < 200, "{error}");
}

#[test]
fn fold_stored_rebuilds_a_state_from_rows() {
    let events = [
        SlotEvent::SlotScheduled { spec: glaciar(20) },
        SlotEvent::SeatsHeld {
            booking_id: beef(),
            seats: 2,
            unit_price: pesos(4_500_000),
            hold_expires_at: at("2026-12-01T12:15:00Z"),
        },
        SlotEvent::SlotBlocked {
            reason: "viento".into(),
        },
    ];
    let rows: Vec<(&str, i32, Value)> = events
        .iter()
        .map(|e| (e.event_type(), e.schema_version(), e.to_payload()))
        .collect();
    let folded: SlotState = fold_stored(rows.iter().map(|(t, v, p)| (*t, *v, p))).expect("folds");
    assert_eq!(folded, SlotState::from_events(&events));
    assert_eq!((folded.held(), folded.blocked), (2, true));

    let bad = [("SlotScheduled", 1, json!({}))];
    let refused = fold_stored::<SlotState>(bad.iter().map(|(t, v, p)| (*t, *v, p)));
    assert!(matches!(refused, Err(DecodeError::InvalidPayload { .. })));

    let booking: BookingState = fold_stored([("BookingExpired", 1, &json!({}))]).expect("folds");
    assert_eq!(booking.status, BookingStatus::Expired);
}

#[test]
fn decode_text_refuses_anything_but_one_json_object() {
    let held = json!({"booking_id": beef().to_string(), "seats": 2,
        "hold_expires_at": "2026-12-01T12:15:00Z",
        "unit_price": {"amount_minor": 1, "currency": "ARS"}})
    .to_string();
    assert!(SlotEvent::decode_text("SeatsHeld", 1, &held).is_ok());
    for bad in [
        format!("{held} {{}}"),
        format!("{held}x"),
        held[..held.len() - 1].to_owned(),
        String::new(),
        "[2]".to_owned(),
        "null".to_owned(),
    ] {
        assert!(
            matches!(
                SlotEvent::decode_text("SeatsHeld", 1, &bad),
                Err(DecodeError::InvalidPayload { .. })
            ),
            "{bad}"
        );
    }
    // A repeated field (which `jsonb` never stores) is refused from text.
    let repeated = held.replacen("\"seats\":2", "\"seats\":2,\"seats\":3", 1);
    assert_ne!(repeated, held);
    assert!(matches!(
        SlotEvent::decode_text("SeatsHeld", 1, &repeated),
        Err(DecodeError::InvalidPayload { .. })
    ));
    for bad in ["{\"x\": 1}", "[]", "nope"] {
        assert!(
            matches!(
                BookingEvent::decode_text("BookingExpired", 1, bad),
                Err(DecodeError::InvalidPayload { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        BookingEvent::decode_text("BookingExpired", 1, " {} "),
        Ok(BookingEvent::BookingExpired)
    );
}
