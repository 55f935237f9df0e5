//! The folds' rules on hand-made histories: what a capacity cut excuses and what it does
//! not (invariant 1), which failures are terminal for good (invariant 4).

use chrono::{TimeZone, Utc};
use ledger_core::{EventId, Hash, RecordedEvent, StreamId};
use serde_json::{json, Value};

use super::*;

fn event(stream: &str, version: i64, event_type: &str, payload: Value) -> RecordedEvent {
    RecordedEvent {
        global_position: version,
        stream_id: StreamId::parse(stream).unwrap(),
        stream_version: version,
        event_id: EventId::from_uuid(uuid::Uuid::now_v7()).unwrap(),
        event_type: event_type.into(),
        schema_version: 1,
        recorded_at: Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap(),
        payload,
        metadata: json!({}),
        prev_hash: Hash::ZERO,
        hash: Hash::ZERO,
    }
}

/// Runs a slot history; the version and invariant of the first breach, and the flags.
fn run(stream: &str, history: &[(&str, Value)]) -> (Option<(i64, u8)>, Vec<i64>) {
    let mut fold = Fold::for_category(StreamId::parse(stream).unwrap().category());
    let mut flags = Vec::new();
    for (i, (event_type, payload)) in history.iter().enumerate() {
        let e = event(stream, i as i64 + 1, event_type, payload.clone());
        match fold.push(&e) {
            Ok(Some(flag)) => flags.push(flag.stream_version.unwrap()),
            Ok(None) => {}
            Err(b) => {
                return (
                    Some((b.stream_version.unwrap(), b.invariant.number())),
                    flags,
                )
            }
        }
    }
    (None, flags)
}

fn scheduled(capacity: u32) -> (&'static str, Value) {
    let spec = json!({"activity_id": "a", "starts_at": "2026-12-01T12:00:00Z",
        "capacity": capacity, "price": {"amount_minor": 100, "currency": "ARS"},
        "time_zone": "UTC", "cutoff": {"kind": "minutes_before", "minutes": 0}});
    ("SlotScheduled", json!({ "spec": spec }))
}

fn booking(n: u128) -> String {
    uuid::Uuid::from_u128(n).to_string()
}

fn held(n: u128, seats: u32) -> (&'static str, Value) {
    let payload = json!({"booking_id": booking(n), "seats": seats,
        "unit_price": {"amount_minor": 100, "currency": "ARS"},
        "hold_expires_at": "2026-11-01T12:15:00Z"});
    ("SeatsHeld", payload)
}

fn cut(capacity: u32, oversold: u32) -> (&'static str, Value) {
    let payload = json!({"capacity": capacity, "oversold": oversold});
    ("CapacityChanged", payload)
}

fn released(n: u128, seats: u32) -> (&'static str, Value) {
    let payload = json!({"booking_id": booking(n), "seats": seats, "reason": "expired"});
    ("HoldReleased", payload)
}

fn confirmed(n: u128, seats: u32) -> (&'static str, Value) {
    let payload = json!({"booking_id": booking(n), "seats": seats});
    ("SeatsConfirmed", payload)
}

#[test]
fn a_flagged_cut_excuses_the_excess_it_recorded_and_no_more() {
    let base = [scheduled(4), held(1, 2), held(2, 2), cut(2, 2)];
    assert_eq!(run("slot-a", &base), (None, vec![4]));
    // Confirming a hold and freeing seats keep within the excuse.
    let mut calm = base.to_vec();
    calm.extend([confirmed(1, 2), released(2, 2), held(3, 0)]);
    assert_eq!(run("slot-a", &calm), (None, vec![4]));
    // Taking a seat while over capacity is a breach, even one freed before.
    let mut greedy = base.to_vec();
    greedy.extend([released(2, 2), held(3, 1)]);
    assert_eq!(run("slot-a", &greedy), (Some((6, 1)), vec![4]));
    // A cut below the seats taken that records less than the excess is a breach.
    let understated = [scheduled(4), held(1, 3), cut(1, 1)];
    assert_eq!(run("slot-a", &understated), (Some((3, 1)), vec![]));
    // Raising the capacity back ends the excuse: a later excess is a breach.
    let raised = [scheduled(2), held(1, 2), cut(1, 1), cut(3, 0), held(2, 2)];
    assert_eq!(run("slot-a", &raised), (Some((5, 1)), vec![3]));
}

#[test]
fn seats_before_a_schedule_or_beyond_capacity_are_breaches() {
    assert_eq!(run("slot-a", &[held(1, 1)]), (Some((1, 1)), vec![]));
    let over = [scheduled(3), held(1, 2), held(2, 1), held(3, 1)];
    assert_eq!(run("slot-a", &over), (Some((4, 1)), vec![]));
    // A booking holding again replaces its hold rather than adding to it.
    let again = [scheduled(3), held(1, 3), held(1, 3)];
    assert_eq!(run("slot-a", &again), (None, vec![]));
}

fn payment(event_type: &'static str, id: &str, extra: Value) -> (&'static str, Value) {
    let mut payload = json!({"provider": "stripe", "payment_id": id,
        "amount": {"amount_minor": 100, "currency": "ARS"}});
    payload
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    (event_type, payload)
}

#[test]
fn a_payment_failed_for_good_is_never_approved_after() {
    let approved = || payment("PaymentApproved", "pi_1", json!({}));
    let failed = |status: &str| payment("PaymentRejected", "pi_1", json!({"status": status}));
    let charged_back = payment("PaymentChargedBack", "pi_1", json!({}));
    let pending = payment("PaymentPending", "pi_1", json!({}));
    let other = payment("PaymentApproved", "pi_2", json!({}));
    let b = "booking-0190f5d2-7c1a-7b3e-8f00-00000000beef";
    // A failed attempt may still succeed.
    assert_eq!(
        run(b, &[failed("attempt_failed"), approved()]),
        (None, vec![])
    );
    // Another payment of the same booking is another payment.
    assert_eq!(run(b, &[failed("cancelled"), other]), (None, vec![]));
    for terminal in [failed("rejected"), failed("cancelled"), charged_back] {
        let history = [terminal, pending.clone(), approved()];
        assert_eq!(run(b, &history), (Some((3, 4)), vec![]), "{history:?}");
    }
}

#[test]
fn an_event_that_does_not_decode_is_named_with_the_invariant_it_blocks() {
    let b = "booking-0190f5d2-7c1a-7b3e-8f00-00000000beef";
    assert_eq!(run(b, &[("Nonsense", json!({}))]), (Some((1, 4)), vec![]));
    assert_eq!(
        run("slot-a", &[("SeatsHeld", json!({"seats": "two"}))]),
        (Some((1, 1)), vec![])
    );
    // Coupon and provider streams are not folded.
    assert_eq!(
        run("provider-stripe", &[("Anything", json!(1))]),
        (None, vec![])
    );
}
