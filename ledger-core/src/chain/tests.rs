//! Golden bytes and hashes of the chain, the export format, and tamper-detection properties.

use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use serde_json::json;
use uuid::{Builder, Uuid};

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

fn event_id(text: &str) -> EventId {
    EventId::parse(text).expect("test event id")
}

/// The golden event of the brief: the first `SeatsHeld` of `slot-glaciar-0900`.
fn golden_first() -> RecordedEvent {
    let mut event = RecordedEvent {
        global_position: 41,
        stream_id: StreamId::parse("slot-glaciar-0900").expect("stream"),
        stream_version: 1,
        event_id: event_id("0190f5d2-7c1a-7b3e-8f00-0123456789ab"),
        event_type: "SeatsHeld".into(),
        schema_version: 1,
        recorded_at: at("2026-12-01T12:00:00.123456Z"),
        payload: json!({
            "booking_id": "0190f5d2-7c1a-7b3e-8f00-00000000beef",
            "seats": 2,
            "hold_expires_at": "2026-12-01T12:15:00Z",
            "unit_price": {"amount_minor": 4500000, "currency": "ARS"}
        }),
        metadata: json!({"source": "command", "sub": "cust-1"}),
        prev_hash: Hash::ZERO,
        hash: Hash::ZERO,
    };
    event.hash = event.chained_fields().hash(&Hash::ZERO).expect("hash");
    event
}

/// A second golden event, chained on the first.
fn golden_second(prev: &RecordedEvent) -> RecordedEvent {
    let mut event = RecordedEvent {
        global_position: 57,
        stream_id: prev.stream_id.clone(),
        stream_version: 2,
        event_id: event_id("0190f5d2-7c1a-7b3e-8f00-0123456789ac"),
        event_type: "SeatsReleased".into(),
        schema_version: 1,
        recorded_at: at("2026-12-01T12:15:00Z"),
        payload: json!({
            "booking_id": "0190f5d2-7c1a-7b3e-8f00-00000000beef",
            "seats": 2,
            "reason": "hold_expired"
        }),
        metadata: json!({"source": "timer"}),
        prev_hash: prev.hash,
        hash: Hash::ZERO,
    };
    event.hash = event.chained_fields().hash(&prev.hash).expect("hash");
    event
}

const GOLDEN_FIRST_CANONICAL: &str = concat!(
    r#"{"event_id":"0190f5d2-7c1a-7b3e-8f00-0123456789ab","event_type":"SeatsHeld","#,
    r#""metadata":{"source":"command","sub":"cust-1"},"#,
    r#""payload":{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","#,
    r#""hold_expires_at":"2026-12-01T12:15:00Z","seats":2,"#,
    r#""unit_price":{"amount_minor":4500000,"currency":"ARS"}},"#,
    r#""recorded_at":"2026-12-01T12:00:00.123456Z","schema_version":1,"#,
    r#""stream_id":"slot-glaciar-0900","stream_version":1}"#
);

// Both hashes were computed outside this code, from the canonical strings written by
// hand (and re-derived by a sorted-keys JSON.stringify in node), e.g. for the first:
//   bytes='<GOLDEN_FIRST_CANONICAL>'
//   printf '%s' "$bytes" | python3 -c 'import sys,hashlib; \
//     print(hashlib.sha256(b"\x00"*32 + sys.stdin.buffer.read()).hexdigest())'
//   (head -c 32 /dev/zero; printf '%s' "$bytes") | sha256sum
// and for the second with the first hash (`xxd -r -p`) prepended instead of zeros.
const GOLDEN_FIRST_HASH: &str = "64cbc474ee1800b5aba4b5eac552584d9e7b6ed0f7561a70b85a6bdd36e71f2d";

const GOLDEN_SECOND_CANONICAL: &str = concat!(
    r#"{"event_id":"0190f5d2-7c1a-7b3e-8f00-0123456789ac","event_type":"SeatsReleased","#,
    r#""metadata":{"source":"timer"},"#,
    r#""payload":{"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","#,
    r#""reason":"hold_expired","seats":2},"#,
    r#""recorded_at":"2026-12-01T12:15:00.000000Z","schema_version":1,"#,
    r#""stream_id":"slot-glaciar-0900","stream_version":2}"#
);

const GOLDEN_SECOND_HASH: &str = "d2852978765748686d2e12d08cdec1ec7b0f17806efddda75d7068d9e4ed14d2";

#[test]
fn golden_canonical_bytes_and_hash() {
    let first = golden_first();
    let canonical = first.chained_fields().canonical_bytes().expect("canonical");
    assert_eq!(
        String::from_utf8(canonical.clone()).as_deref(),
        Ok(GOLDEN_FIRST_CANONICAL)
    );
    assert_eq!(canonical.len(), 407);
    assert_eq!(
        chain_hash(&Hash::ZERO, &canonical).to_hex(),
        GOLDEN_FIRST_HASH
    );
    assert_eq!(first.hash.to_hex(), GOLDEN_FIRST_HASH);

    let second = golden_second(&first);
    let canonical = second
        .chained_fields()
        .canonical_bytes()
        .expect("canonical");
    assert_eq!(
        String::from_utf8(canonical).as_deref(),
        Ok(GOLDEN_SECOND_CANONICAL)
    );
    assert_eq!(second.hash.to_hex(), GOLDEN_SECOND_HASH);
    assert_eq!(verify_chain(&[first, second]), Ok(()));
}

#[test]
fn golden_export_format() {
    let first = golden_first();
    let exported = serde_json::to_value(&first).expect("export");
    let expected = json!({
        "global_position": 41,
        "stream_id": "slot-glaciar-0900",
        "stream_version": 1,
        "event_id": "0190f5d2-7c1a-7b3e-8f00-0123456789ab",
        "event_type": "SeatsHeld",
        "schema_version": 1,
        "recorded_at": "2026-12-01T12:00:00.123456Z",
        "payload": first.payload.clone(),
        "metadata": {"source": "command", "sub": "cust-1"},
        "prev_hash": "0".repeat(64),
        "hash": GOLDEN_FIRST_HASH,
    });
    assert_eq!(exported, expected);
    let imported: RecordedEvent = serde_json::from_value(exported).expect("import");
    assert_eq!(imported, first);
}

#[test]
fn recorded_at_has_exactly_six_digits_and_z() {
    let whole = Utc
        .with_ymd_and_hms(2026, 11, 21, 5, 0, 0)
        .single()
        .expect("time");
    assert_eq!(format_recorded_at(&whole), "2026-11-21T05:00:00.000000Z");
    let nanos = whole + Duration::nanoseconds(123_456_789);
    assert_eq!(format_recorded_at(&nanos), "2026-11-21T05:00:00.123456Z");
    let truncated = truncate_to_micros(nanos);
    assert_eq!(truncated, whole + Duration::microseconds(123_456));
    assert_eq!(truncate_to_micros(truncated), truncated);
}

#[test]
fn hash_text_forms() {
    let hash = Hash::from_hex(GOLDEN_FIRST_HASH).expect("hex");
    assert_eq!(hash.to_string(), GOLDEN_FIRST_HASH);
    assert_eq!(format!("{hash:?}"), format!("Hash({GOLDEN_FIRST_HASH})"));
    assert_eq!(Hash::from_slice(hash.as_bytes()), Ok(hash));
    assert_eq!(Hash::from_bytes(*hash.as_bytes()), hash);
    assert!(Hash::from_slice(&[0; 31]).is_err());
    assert!(
        serde_json::from_str::<Hash>(&format!("\"{}\"", GOLDEN_FIRST_HASH.to_uppercase())).is_err()
    );
}

fn broken_at(events: &[RecordedEvent]) -> Option<(i64, ChainBreakReason)> {
    verify_chain(events)
        .err()
        .map(|b| (b.stream_version, b.reason))
}

#[test]
fn each_break_reason_is_reported() {
    let first = golden_first();
    let second = golden_second(&first);

    let mut skipped = second.clone();
    skipped.stream_version = 3;
    assert_eq!(
        broken_at(&[first.clone(), skipped]),
        Some((2, ChainBreakReason::GapOrRepeat))
    );
    assert_eq!(
        broken_at(std::slice::from_ref(&second)),
        Some((1, ChainBreakReason::GapOrRepeat))
    );

    let mut elsewhere = second.clone();
    elsewhere.stream_id = StreamId::parse("slot-other").expect("stream");
    assert_eq!(
        broken_at(&[first.clone(), elsewhere]),
        Some((2, ChainBreakReason::WrongStream))
    );

    let mut relinked = second.clone();
    relinked.prev_hash = Hash::ZERO;
    assert_eq!(
        broken_at(&[first.clone(), relinked]),
        Some((2, ChainBreakReason::PrevHashMismatch))
    );

    let mut edited = second.clone();
    edited.payload["seats"] = json!(3);
    assert_eq!(
        broken_at(&[first.clone(), edited]),
        Some((2, ChainBreakReason::HashMismatch))
    );

    let mut unsafe_number = second.clone();
    unsafe_number.payload["seats"] = json!(u64::MAX);
    assert!(matches!(
        broken_at(&[first.clone(), unsafe_number]),
        Some((
            2,
            ChainBreakReason::Canonical(CanonicalError::UnsafeInteger { .. })
        ))
    ));

    assert_eq!(verify_chain(&[]), Ok(()));
    assert_eq!(verify_chain_from(&first.hash, 2, &[second]), Ok(()));
}

#[test]
fn break_message_names_version_and_reason() {
    let broken = ChainBreak {
        stream_version: 7,
        reason: ChainBreakReason::HashMismatch,
    };
    assert_eq!(
        broken.to_string(),
        "hash chain breaks at stream version 7: hash does not match the event's contents"
    );
}

/// Builds a valid chain from generated parts (event ids are v7 built from test bytes).
fn build_chain(parts: &[(String, String, i64, u64, [u8; 10])]) -> Vec<RecordedEvent> {
    let stream = StreamId::parse("slot-prop").expect("stream");
    let start = at("2026-12-01T00:00:00Z");
    let mut prev = Hash::ZERO;
    let mut events = Vec::new();
    for (index, (event_type, note, seats, offset_micros, random)) in parts.iter().enumerate() {
        let uuid: Uuid = Builder::from_unix_timestamp_millis(1_700_000_000_000, random).into_uuid();
        let version = i64::try_from(index).expect("small") + 1;
        let recorded_at =
            start + Duration::microseconds(i64::try_from(*offset_micros).expect("small"));
        let mut event = RecordedEvent {
            global_position: version * 10,
            stream_id: stream.clone(),
            stream_version: version,
            event_id: EventId::from_uuid(uuid).expect("v7"),
            event_type: event_type.clone(),
            schema_version: 1,
            recorded_at,
            payload: json!({"note": note, "seats": seats}),
            metadata: json!({"source": "command"}),
            prev_hash: prev,
            hash: Hash::ZERO,
        };
        event.hash = event.chained_fields().hash(&prev).expect("hash");
        prev = event.hash;
        events.push(event);
    }
    events
}

/// Flips bits of one byte of `text` (ASCII in, ASCII out, so still valid UTF-8).
fn flip_byte(text: &str, at: usize, mask: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let index = at % bytes.len();
    bytes[index] ^= mask & 0x7f;
    String::from_utf8(bytes).expect("ascii stays utf-8")
}

#[derive(Debug, Clone, Copy)]
enum Tamper {
    PayloadString,
    EventType,
    Version,
    RecordedAt,
    PrevHash,
    Hash,
}

fn chain_parts() -> impl Strategy<Value = Vec<(String, String, i64, u64, [u8; 10])>> {
    prop::collection::vec(
        (
            "[A-Z][A-Za-z]{1,20}",
            "[ -~]{1,30}",
            0i64..1000,
            0u64..10_000_000_000,
            any::<[u8; 10]>(),
        ),
        1..8,
    )
}

proptest! {
    #[test]
    fn a_built_chain_verifies_and_survives_export(parts in chain_parts()) {
        let events = build_chain(&parts);
        prop_assert_eq!(verify_chain(&events), Ok(()));
        let exported = serde_json::to_string(&events).expect("export");
        let imported: Vec<RecordedEvent> = serde_json::from_str(&exported).expect("import");
        prop_assert_eq!(verify_chain(&imported), Ok(()));
    }

    #[test]
    fn any_single_change_breaks_the_chain_there_or_earlier(
        parts in chain_parts(),
        victim in any::<prop::sample::Index>(),
        tamper in prop::sample::select(vec![
            Tamper::PayloadString, Tamper::EventType, Tamper::Version,
            Tamper::RecordedAt, Tamper::PrevHash, Tamper::Hash,
        ]),
        byte in any::<usize>(),
        mask in 1u8..=0x7f,
        shift_micros in prop_oneof![-1_000_000i64..=-1, 1i64..=1_000_000],
    ) {
        let mut events = build_chain(&parts);
        let index = victim.index(events.len());
        let event = &mut events[index];
        match tamper {
            Tamper::PayloadString => {
                let note = event.payload["note"].as_str().expect("note").to_owned();
                event.payload["note"] = json!(flip_byte(&note, byte, mask));
            }
            Tamper::EventType => event.event_type = flip_byte(&event.event_type, byte, mask),
            Tamper::Version => event.stream_version ^= i64::from(mask) << (8 * (byte % 8)),
            Tamper::RecordedAt => event.recorded_at += Duration::microseconds(shift_micros),
            Tamper::PrevHash => event.prev_hash.0[byte % DIGEST_LEN] ^= mask,
            Tamper::Hash => event.hash.0[byte % DIGEST_LEN] ^= mask,
        }
        let position = i64::try_from(index).expect("small") + 1;
        let broken = verify_chain(&events);
        prop_assert!(
            matches!(&broken, Err(b) if b.stream_version <= position),
            "{:?} at event {} gave {:?}", tamper, position, broken
        );
    }
}
