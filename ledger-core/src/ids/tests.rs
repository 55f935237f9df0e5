//! Tests of the identifier rules and their serde forms.

use super::*;

const V7: &str = "0190f5d2-7c1a-7b3e-8f00-0123456789ab";
const V4: &str = "9b2f6c1e-3d4a-4f5b-8c6d-7e8f9a0b1c2d";

#[test]
fn category_round_trips_through_text() {
    for category in Category::ALL {
        assert_eq!(category.as_str().parse::<Category>(), Ok(category));
    }
    assert!(matches!(
        "slots".parse::<Category>(),
        Err(IdError::UnknownCategory { .. })
    ));
    assert!("Slot".parse::<Category>().is_err());
}

#[test]
fn stream_id_parses_category_and_key() {
    let id = StreamId::parse("slot-glaciar-0900").expect("valid");
    assert_eq!(id.category(), Category::Slot);
    assert_eq!(id.key(), "glaciar-0900");
    assert_eq!(id.as_str(), "slot-glaciar-0900");
    assert_eq!(id.to_string(), "slot-glaciar-0900");
    assert_eq!(StreamId::new(Category::Slot, "glaciar-0900"), Ok(id));
}

#[test]
fn stream_id_refuses_broken_rules() {
    assert_eq!(
        StreamId::parse("slotglaciar"),
        Err(IdError::MissingSeparator)
    );
    assert!(matches!(
        StreamId::parse("hotel-1"),
        Err(IdError::UnknownCategory { found }) if found == "hotel"
    ));
    assert_eq!(
        StreamId::parse("slot-"),
        Err(IdError::Empty { what: "stream key" })
    );
    assert_eq!(
        StreamId::parse("slot-a b"),
        Err(IdError::InvalidChar {
            what: "stream key",
            found: ' ',
            position: 1
        })
    );
    assert!(StreamId::parse("slot-ñ").is_err());
    let longest = "k".repeat(MAX_STREAM_KEY_LEN);
    assert!(StreamId::new(Category::Coupon, &longest).is_ok());
    let too_long = "k".repeat(MAX_STREAM_KEY_LEN + 1);
    assert_eq!(
        StreamId::new(Category::Coupon, &too_long),
        Err(IdError::TooLong {
            what: "stream key",
            len: MAX_STREAM_KEY_LEN + 1,
            max: MAX_STREAM_KEY_LEN
        })
    );
}

#[test]
fn unknown_category_echo_is_bounded() {
    let long = format!("{}-key", "x".repeat(10_000));
    let message = StreamId::parse(&long).expect_err("unknown").to_string();
    assert!(message.len() < 200, "{message}");
}

#[test]
fn error_messages_name_the_rule() {
    let message = SlotId::parse("a/b").expect_err("slash").to_string();
    assert_eq!(
        message,
        "slot id contains '/' at position 1; only A-Z, a-z, 0-9, '_' and '-' are allowed"
    );
    let message = ActivityId::parse(&"a".repeat(65))
        .expect_err("long")
        .to_string();
    assert_eq!(
        message,
        "activity id is 65 characters long; at most 64 are allowed"
    );
}

#[test]
fn stream_id_serde_is_the_plain_string_and_validates() {
    let id = StreamId::parse("booking-abc_1").expect("valid");
    assert_eq!(
        serde_json::to_string(&id).expect("ser"),
        "\"booking-abc_1\""
    );
    let back: StreamId = serde_json::from_str("\"booking-abc_1\"").expect("de");
    assert_eq!(back, id);
    assert!(serde_json::from_str::<StreamId>("\"booking-\"").is_err());
    assert!(serde_json::from_str::<StreamId>("\"nope-1\"").is_err());
}

#[test]
fn caller_ids_follow_the_contract() {
    assert!(SlotId::parse("glaciar-0900").is_ok());
    assert!(SlotId::parse(&"s".repeat(MAX_CALLER_ID_LEN)).is_ok());
    assert!(SlotId::parse(&"s".repeat(MAX_CALLER_ID_LEN + 1)).is_err());
    assert!(SlotId::parse("").is_err());
    assert!(ActivityId::parse("glaciar.trek").is_err());
    let slot = SlotId::parse("glaciar-0900").expect("valid");
    assert_eq!(slot.stream_id().as_str(), "slot-glaciar-0900");
    assert_eq!(slot.stream_id().key(), "glaciar-0900");
    assert_eq!(
        serde_json::to_string(&slot).expect("ser"),
        "\"glaciar-0900\""
    );
    assert!(serde_json::from_str::<ActivityId>("\"a b\"").is_err());
    let activity: ActivityId = serde_json::from_str("\"glaciar-trek\"").expect("de");
    assert_eq!(activity.as_str(), "glaciar-trek");
}

#[test]
fn booking_id_stream_is_lowercase_hyphenated() {
    let booking = BookingId::parse(&V7.to_uppercase()).expect("valid");
    assert_eq!(booking.to_string(), V7);
    assert_eq!(booking.stream_id().as_str(), format!("booking-{V7}"));
    assert_eq!(booking.stream_id().category(), Category::Booking);
    assert_eq!(
        serde_json::to_string(&booking).expect("ser"),
        format!("\"{V7}\"")
    );
    // Any UUID version is a valid booking id.
    assert!(BookingId::parse(V4).is_ok());
    assert!(matches!(
        BookingId::parse("not-a-uuid"),
        Err(IdError::InvalidUuid {
            what: "booking id",
            ..
        })
    ));
}

#[test]
fn event_id_requires_version_7() {
    let id = EventId::parse(V7).expect("v7");
    assert_eq!(id.to_string(), V7);
    let v4 = Uuid::parse_str(V4).expect("uuid");
    assert_eq!(
        EventId::from_uuid(v4),
        Err(IdError::NotVersion7 { found: 4 })
    );
    assert_eq!(
        EventId::from_uuid(Uuid::nil()),
        Err(IdError::NotVersion7 { found: 0 })
    );
    assert_eq!(
        serde_json::from_str::<EventId>(&format!("\"{V7}\"")).expect("de"),
        id
    );
    assert!(serde_json::from_str::<EventId>(&format!("\"{V4}\"")).is_err());
}

#[test]
fn category_of_checks_like_parse() {
    for text in [
        "slot-glaciar-0900",
        "slotglaciar",
        "hotel-1",
        "slot-",
        "slot-a b",
        "coupon-X",
    ] {
        assert_eq!(
            StreamId::category_of(text),
            StreamId::parse(text).map(|id| id.category()),
            "{text}"
        );
    }
}
