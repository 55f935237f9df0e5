//! Upcasting through `decode`: `BookingCancelled` v1 (`"operator": bool`) reads as v2
//! (`"role"`), a payload of the wrong version's shape is refused, and versions outside
//! first..=current stay unsupported. The golden files are checked in `tests/golden.rs`.

use serde_json::json;

use crate::domain::booking::{BookingEvent, CancellerRole};
use crate::domain::coupon::CouponEvent;
use crate::domain::events::{DecodeError, DomainEvent, FIRST_SCHEMA_VERSION};
use crate::domain::slot::SlotEvent;

#[test]
fn booking_cancelled_v1_upcasts_to_the_role_it_was_decided_in() {
    for (operator, role) in [
        (false, CancellerRole::Owner),
        (true, CancellerRole::Operator),
    ] {
        let v1 = json!({"by": "auth0|ana", "operator": operator});
        let event = BookingEvent::decode("BookingCancelled", 1, &v1).expect("v1 decodes");
        let expected = BookingEvent::BookingCancelled {
            by: "auth0|ana".into(),
            role,
        };
        assert_eq!(event, expected);
        assert_eq!(event.schema_version(), 2, "written back only as v2");
        assert_eq!(event.to_payload(), json!({"by": "auth0|ana", "role": role}));
    }
}

#[test]
fn booking_cancelled_refuses_a_payload_of_the_other_version_and_unknown_versions() {
    let v1 = json!({"by": "a", "operator": true});
    let v2 = json!({"by": "a", "role": "operator"});
    for (version, payload) in [(2, &v1), (1, &v2)] {
        assert!(
            matches!(
                BookingEvent::decode("BookingCancelled", version, payload),
                Err(DecodeError::InvalidPayload { .. })
            ),
            "v{version} {payload}"
        );
    }
    for bad_v1 in [
        json!({"by": "a", "operator": true, "role": "operator"}),
        json!({"by": "a", "operator": "yes"}),
        json!({"by": "a"}),
        json!([]),
    ] {
        assert!(
            matches!(
                BookingEvent::decode("BookingCancelled", 1, &bad_v1),
                Err(DecodeError::InvalidPayload { .. })
            ),
            "{bad_v1}"
        );
    }
    for version in [0, 3, -1, i32::MAX] {
        assert_eq!(
            BookingEvent::decode("BookingCancelled", version, &v2),
            Err(DecodeError::UnsupportedVersion {
                event_type: "BookingCancelled".into(),
                schema_version: version
            })
        );
    }
}

#[test]
fn current_schema_versions() {
    assert_eq!(
        BookingEvent::current_schema_version("BookingCancelled"),
        Some(2)
    );
    assert_eq!(
        BookingEvent::current_schema_version("BookingPlaced"),
        Some(1)
    );
    assert_eq!(SlotEvent::current_schema_version("BookingCancelled"), None);
    for (name, version) in BookingEvent::REVISED_TYPES {
        assert!(BookingEvent::EVENT_TYPES.contains(name));
        assert!(*version > FIRST_SCHEMA_VERSION);
    }
    assert!(SlotEvent::REVISED_TYPES.is_empty());
    assert!(CouponEvent::REVISED_TYPES.is_empty());
}
