//! Golden files of the stored form: `tests/golden/<EventType>.v<N>.json` holds one payload
//! of every stored event type at every schema version it was ever written with, in
//! canonical JSON (RFC 8785, the form the hash chain is computed over) plus a newline.
//! They are bytes we promise to read forever: never edit one; a new schema version adds a
//! file and leaves the older ones alone.
//!
//! Checked here: a file exists for each type of each `DomainEvent::EVENT_TYPES` (and
//! `ProviderEventReceived`) and each version from the first to the current one, and no
//! other file; each decodes (older versions through their upcasters); a current-version
//! file re-encodes to exactly its bytes. The inline golden tests in
//! `src/domain/events/tests.rs` hold more examples per type.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::fs;

use ledger_core::domain::{CancellerRole, FIRST_SCHEMA_VERSION};
use ledger_core::personal::{SubjectErased, SUBJECT_ERASED, SUBJECT_ERASED_SCHEMA_VERSION};
use ledger_core::provider_log::{
    ProviderEventReceived, PROVIDER_EVENT_RECEIVED, PROVIDER_EVENT_SCHEMA_VERSION,
};
use ledger_core::{canonical_json, BookingEvent, CouponEvent, DecodeError, DomainEvent, SlotEvent};
use serde_json::Value;

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

fn file_name(event_type: &str, version: i32) -> String {
    format!("{event_type}.v{version}.json")
}

/// The file's canonical JSON (without its final newline) and the payload it holds; panics
/// if the file is missing or not in canonical form.
fn golden(event_type: &str, version: i32) -> (String, Value) {
    let name = file_name(event_type, version);
    let text = fs::read_to_string(format!("{GOLDEN_DIR}/{name}"))
        .unwrap_or_else(|error| panic!("golden file {name}: {error}"));
    let bytes = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{name} ends with one newline"));
    let payload: Value =
        serde_json::from_str(bytes).unwrap_or_else(|error| panic!("{name} is JSON: {error}"));
    let canonical = canonical_json(&payload).expect("a canonical form");
    assert_eq!(bytes, canonical, "{name} is written in canonical JSON");
    (canonical, payload)
}

/// Checks every type and version of `E`, adding the file names it read to `seen`.
fn check_event_enum<E: DomainEvent + Debug + PartialEq>(seen: &mut BTreeSet<String>) {
    for &event_type in E::EVENT_TYPES {
        let current = E::current_schema_version(event_type).expect("a listed type");
        let mut last_payload = Value::Null;
        for version in FIRST_SCHEMA_VERSION..=current {
            let name = file_name(event_type, version);
            let (bytes, payload) = golden(event_type, version);
            let event = E::decode(event_type, version, &payload)
                .unwrap_or_else(|error| panic!("{name} decodes: {error}"));
            let from_text = E::decode_text(event_type, version, &bytes)
                .unwrap_or_else(|error| panic!("{name} decodes from its text: {error}"));
            assert_eq!(
                from_text, event,
                "{name}: the text and the value decode alike"
            );
            assert_eq!(event.event_type(), event_type, "{name}");
            assert_eq!(
                event.schema_version(),
                current,
                "{name} is written back as current"
            );
            if version == current {
                let encoded = canonical_json(&event.to_payload()).expect("a canonical form");
                assert_eq!(encoded, bytes, "{name} re-encodes to the same bytes");
            }
            seen.insert(name);
            last_payload = payload;
        }
        assert_eq!(
            E::decode(event_type, current + 1, &last_payload).map(|_| ()),
            Err(DecodeError::UnsupportedVersion {
                event_type: event_type.to_owned(),
                schema_version: current + 1,
            }),
            "{event_type} has no version after {current}"
        );
    }
}

#[test]
fn every_stored_type_and_version_has_a_golden_file_that_decodes() {
    let mut expected = BTreeSet::new();
    check_event_enum::<SlotEvent>(&mut expected);
    check_event_enum::<BookingEvent>(&mut expected);
    check_event_enum::<CouponEvent>(&mut expected);
    for version in FIRST_SCHEMA_VERSION..=PROVIDER_EVENT_SCHEMA_VERSION {
        let (bytes, payload) = golden(PROVIDER_EVENT_RECEIVED, version);
        let event = ProviderEventReceived::decode(version, &payload).expect("decodes");
        if version == PROVIDER_EVENT_SCHEMA_VERSION {
            let encoded = canonical_json(&event.to_payload()).expect("a canonical form");
            assert_eq!(encoded, bytes, "{PROVIDER_EVENT_RECEIVED} re-encodes");
        }
        expected.insert(file_name(PROVIDER_EVENT_RECEIVED, version));
    }
    for version in FIRST_SCHEMA_VERSION..=SUBJECT_ERASED_SCHEMA_VERSION {
        let (bytes, payload) = golden(SUBJECT_ERASED, version);
        let event = SubjectErased::decode(version, &payload).expect("decodes");
        let encoded = canonical_json(&event.to_payload()).expect("a canonical form");
        assert_eq!(encoded, bytes, "{SUBJECT_ERASED} re-encodes");
        expected.insert(file_name(SUBJECT_ERASED, version));
    }

    let on_disk: BTreeSet<String> = fs::read_dir(GOLDEN_DIR)
        .expect("the golden directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        on_disk, expected,
        "one file per stored type and version, no other"
    );
    // 10 slot + 18 booking + 4 coupon types at v1, `BookingCancelled` and
    // `PaymentRequested` v2, the provider log v1 and v2, `SubjectErased` v1.
    assert_eq!(expected.len(), 37);
}

#[test]
fn booking_cancelled_v1_golden_upcasts_to_the_v2_golden() {
    let expected = BookingEvent::BookingCancelled {
        by: "auth0|ana".into(),
        role: CancellerRole::Owner,
    };
    let (_, v1) = golden("BookingCancelled", 1);
    assert_eq!(v1["operator"], false, "the v1 file is the old shape");
    let upcast = BookingEvent::decode("BookingCancelled", 1, &v1).expect("v1 decodes");
    assert_eq!(upcast, expected);

    let (v2_bytes, v2) = golden("BookingCancelled", 2);
    let current = BookingEvent::decode("BookingCancelled", 2, &v2).expect("v2 decodes");
    assert_eq!(current, expected);
    let rewritten = canonical_json(&upcast.to_payload()).expect("a canonical form");
    assert_eq!(rewritten, v2_bytes, "a v1 row reads as the v2 file's event");
}
