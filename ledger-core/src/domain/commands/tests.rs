//! The commands as the store runs them: needs, facts per stream in order, outputs, the
//! wake rule; and (`tests/loaded.rs`) a property test that a decision on the states the
//! store loads — snapshot counters plus the index entries it reads — equals the decision
//! on states folded from every event, over random interleavings of every command.

use chrono::Duration;
use serde_json::json;

use super::*;
use crate::domain::booking::{BookingState, BookingStatus};
use crate::domain::coupon::{CouponEvent, CouponState, Discount};
use crate::domain::decision::wake_at;
use crate::domain::payment::{PaymentSource, ReportedStatus};
use crate::domain::slot::{SlotState, MAX_LAPSED_RELEASES};
use crate::domain::test_support::{booking_id, glaciar, now, pesos, scheduled, slot_id, with_hold};
use crate::provider_log::log_stream;

mod loaded;

fn code() -> CouponCode {
    CouponCode::parse("VERANO10").expect("code")
}

fn coupon_spec() -> CouponSpec {
    CouponSpec {
        code: code(),
        discount: Discount::PercentOff(10),
        max_claims: 5,
        per_customer_limit: 1,
        valid_from: now() - Duration::days(1),
        valid_until: now() + Duration::days(1),
    }
}

fn place(n: u16, slots: &[(&str, u32)], coupon: bool) -> PlaceBooking {
    PlaceBooking {
        booking_id: booking_id(n),
        customer: "ana".into(),
        items: slots.iter().map(|(s, n)| (slot_id(s), *n)).collect(),
        coupon: coupon.then(code),
        expected_total: None,
        hold_ttl: Duration::minutes(15),
    }
}

/// A world with two scheduled slots of `capacity` and the coupon issued.
fn world(capacity: u32) -> World {
    let mut world = World::default();
    for s in ["a", "b"] {
        world.slots.insert(slot_id(s), scheduled(glaciar(capacity)));
    }
    let issued = CouponEvent::CouponIssued {
        spec: coupon_spec(),
    };
    world
        .coupons
        .insert(code(), CouponState::from_events(&[issued]));
    world
}

/// Decides `command` on `world` and applies its facts.
fn run<D: Decide>(world: &mut World, command: &D) -> Decision<D::Output> {
    let decided = command.decide(world, now());
    decided.facts.iter().for_each(|fact| world.apply(fact));
    decided
}

fn streams_of(world: &World, n: u16) -> BookingStreams {
    let placed = world
        .booking(&booking_id(n))
        .placed
        .clone()
        .expect("placed");
    BookingStreams::of(booking_id(n), &placed)
}

#[test]
fn placing_needs_its_slots_its_new_stream_and_the_coupon_of_its_customer() {
    let needs = place(1, &[("b", 1), ("a", 2)], true).needs();
    assert_eq!(needs.slots.len(), 2);
    assert_eq!(needs.new_booking, Some(booking_id(1)));
    assert!(
        needs.bookings.is_empty(),
        "a new stream is neither locked nor read"
    );
    assert_eq!(needs.coupons.iter().collect::<Vec<_>>(), [&code()]);
    assert_eq!(needs.customer.as_deref(), Some("ana"));
    let streams: Vec<String> = needs
        .locked_streams()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(streams, ["slot-a", "slot-b", "coupon-VERANO10"]);
}

#[test]
fn a_placement_refused_for_its_items_locks_nothing() {
    let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    let many: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    let cases = [
        place(1, &many, true),
        place(2, &[("a", 1), ("a", 1)], false),
        place(3, &[("a", 0)], false),
        place(4, &[], false),
    ];
    for command in cases {
        let needs = command.needs();
        assert_eq!(needs.lock_count(), 0, "{:?}", command.items);
        assert!(needs.locked_streams().is_empty());
        assert_eq!(needs.new_booking, Some(command.booking_id));
        let decided = command.decide(&World::default(), now());
        assert!(
            matches!(decided.output, Err(Rejection::InvalidSeats(_))),
            "{:?}",
            decided.output
        );
        assert!(decided.facts.is_empty());
    }
    let valid = place(5, &[("a", 1), ("b", 2)], true).needs();
    assert_eq!(valid.lock_count(), valid.locked_streams().len());
    assert_eq!(valid.lock_count(), 3);
}

#[test]
fn a_placement_appends_slots_then_booking_then_coupon() {
    let mut world = world(5);
    let decided = run(&mut world, &place(1, &[("b", 1), ("a", 2)], true));
    assert!(decided.output.is_ok());
    let streams: Vec<String> = decided
        .facts
        .iter()
        .map(|f| format!("{}:{}", f.stream_id(), f.event_type()))
        .collect();
    assert_eq!(
        streams,
        [
            "slot-a:SeatsHeld",
            "slot-b:SeatsHeld",
            format!("booking-{}:BookingPlaced", booking_id(1)).as_str(),
            "coupon-VERANO10:CouponClaimed"
        ]
    );
    assert_eq!(world.slot(&slot_id("a")).held(), 2);
    assert_eq!(world.coupon(&code()).unwrap().live_claims(now()), 1);
    assert_eq!(
        wake_at(world.booking(&booking_id(1))),
        Some(now() + Duration::minutes(15))
    );
}

#[test]
fn a_refused_placement_keeps_only_the_releases_of_lapsed_holds() {
    let mut world = world(2);
    let lapsed = with_hold(world.slot(&slot_id("a")).clone(), 9, 1, now());
    world.slots.insert(slot_id("a"), lapsed);
    let decided = run(&mut world, &place(1, &[("a", 3)], false));
    assert!(matches!(decided.output, Err(Rejection::SoldOut { .. })));
    assert_eq!(decided.facts.len(), 1);
    assert!(matches!(
        &decided.facts[0],
        Fact::Slot(_, SlotEvent::HoldReleased { booking_id: b, .. }) if *b == booking_id(9)
    ));
    assert_eq!(world.slot(&slot_id("a")).held(), 0);
    assert!(world.booking(&booking_id(1)).placed.is_none());
}

#[test]
fn cancelling_releases_every_slot_and_the_claim_then_records_the_cancel() {
    let mut world = world(5);
    run(&mut world, &place(1, &[("a", 2), ("b", 1)], true));
    let stranger = CancelBooking {
        streams: streams_of(&world, 1),
        by: "bea".into(),
        operator: false,
        refund: None,
    };
    let refused = run(&mut world, &stranger);
    assert_eq!(refused.output, Err(Rejection::NotOwner));
    assert!(refused.facts.is_empty(), "a refusal appends nothing");
    let cancel = CancelBooking {
        by: "ana".into(),
        ..stranger
    };
    assert_eq!(cancel.needs().bookings.len(), 1);
    let decided = run(&mut world, &cancel);
    assert_eq!(decided.output, Ok(()));
    let kinds: Vec<&str> = decided.facts.iter().map(Fact::event_type).collect();
    assert_eq!(
        kinds,
        [
            "HoldReleased",
            "HoldReleased",
            "CouponClaimReleased",
            "BookingCancelled"
        ]
    );
    assert_eq!(world.slot(&slot_id("a")).available(), 5);
    assert_eq!(world.coupon(&code()).unwrap().claims_made(), 0);
    assert_eq!(wake_at(world.booking(&booking_id(1))), None);
}

#[test]
fn expiring_happens_once_after_the_hold_lapsed() {
    let mut world = world(5);
    run(&mut world, &place(1, &[("a", 2)], true));
    let expire = ExpireBooking {
        streams: streams_of(&world, 1),
    };
    assert!(!expire.decide(&world, now()).output, "not lapsed yet");
    let later = now() + Duration::minutes(15);
    let decided = expire.decide(&world, later);
    assert!(decided.output);
    let kinds: Vec<&str> = decided.facts.iter().map(Fact::event_type).collect();
    assert_eq!(
        kinds,
        ["HoldReleased", "CouponClaimReleased", "BookingExpired"]
    );
    decided.facts.iter().for_each(|f| world.apply(f));
    assert_eq!(world.booking(&booking_id(1)).status, BookingStatus::Expired);
    assert!(!expire.decide(&world, later).output, "exactly once");
    assert_eq!(wake_at(world.booking(&booking_id(1))), None);
}

fn approved(world: &World, n: u16) -> PaymentReport {
    let total = world.booking(&booking_id(n)).placed.as_ref().unwrap().total;
    PaymentReport {
        provider: Provider::Stripe,
        payment_id: format!("pi_{n}"),
        status: ReportedStatus::Approved,
        amount: total,
        source: PaymentSource::Webhook,
        provider_event_id: format!("evt_{n}"),
    }
}

#[test]
fn a_covering_payment_confirms_seats_and_claim_in_one_decision() {
    let mut world = world(5);
    run(&mut world, &place(1, &[("a", 2), ("b", 1)], true));
    let pay = PayBooking {
        streams: streams_of(&world, 1),
        report: approved(&world, 1),
    };
    let decided = run(&mut world, &pay);
    assert_eq!(decided.output, PaymentOutcome::Applied);
    let kinds: Vec<&str> = decided.facts.iter().map(Fact::event_type).collect();
    assert_eq!(
        kinds,
        [
            "SeatsConfirmed",
            "SeatsConfirmed",
            "CouponClaimConfirmed",
            "PaymentNotified",
            "PaymentApproved",
            "BookingPaid"
        ]
    );
    let a = world.slot(&slot_id("a"));
    assert_eq!((a.held(), a.confirmed()), (0, 2));
    assert_eq!(wake_at(world.booking(&booking_id(1))), None);
}

#[test]
fn a_delivery_is_recorded_first_with_the_outcome_of_its_change() {
    let mut world = world(5);
    run(&mut world, &place(1, &[("a", 1)], false));
    let record = ProviderEventReceived {
        provider: "stripe".into(),
        event_id: "evt_1".into(),
        event_type: "payment_intent.succeeded".into(),
        source: "webhook".into(),
        outcome: IngestOutcome::Ignored,
        booking_id: Some(booking_id(1).to_string()),
        payload: json!({"id": "evt_1"}),
        data_key: None,
    };
    let log = log_stream("stripe", "evt_1").unwrap();
    let receive = Receive {
        log: log.clone(),
        record: record.clone(),
        change: Some(PayBooking {
            streams: streams_of(&world, 1),
            report: approved(&world, 1),
        }),
    };
    assert_eq!(receive.needs().log, Some(log.clone()));
    assert_eq!(receive.needs().slots.len(), 1);
    let decided = run(&mut world, &receive);
    assert_eq!(decided.output, IngestOutcome::Applied);
    match &decided.facts[0] {
        Fact::Received(stream, r) => {
            assert_eq!(stream, &log);
            assert_eq!(r.outcome, IngestOutcome::Applied);
        }
        other => panic!("the record comes first, not {other:?}"),
    }
    assert_eq!(world.booking(&booking_id(1)).status, BookingStatus::Paid);
    let ignored = Receive::<PayBooking> {
        log,
        record,
        change: None,
    };
    let decided = ignored.decide(&world, now());
    assert_eq!(decided.output, IngestOutcome::Ignored);
    assert_eq!(decided.facts.len(), 1, "recorded all the same");
}

#[test]
fn a_refused_slot_change_keeps_its_releases_and_capacity_needs_a_schedule() {
    let mut world = world(3);
    let lapsed = with_hold(world.slot(&slot_id("a")).clone(), 9, 2, now());
    world.slots.insert(slot_id("a"), lapsed);
    let nul = ChangeSlot {
        slot_id: slot_id("a"),
        change: SlotChange::Block("a\0b".into()),
    };
    let decided = run(&mut world, &nul);
    assert!(matches!(decided.output, Err(Rejection::InvalidSlot(_))));
    assert_eq!(decided.facts.len(), 1, "the lapsed hold is released anyway");
    let unknown = ChangeSlot {
        slot_id: slot_id("z"),
        change: SlotChange::Capacity(4),
    };
    assert_eq!(
        unknown.decide(&world, now()).output,
        Err(Rejection::SlotNotFound)
    );
    let cut = ChangeSlot {
        slot_id: slot_id("a"),
        change: SlotChange::Capacity(1),
    };
    assert_eq!(run(&mut world, &cut).output, Ok(()));
    assert_eq!(world.slot(&slot_id("a")).capacity(), 1);
    let rate = ChangeSlot {
        slot_id: slot_id("a"),
        change: SlotChange::Rate(pesos(10)),
    };
    assert_eq!(run(&mut world, &rate).output, Ok(()));
    assert_eq!(
        world.slot(&slot_id("a")).spec.as_ref().unwrap().price,
        pesos(10)
    );
}

#[test]
fn a_coupon_is_issued_once_and_a_payment_request_needs_a_payable_booking() {
    let mut world = World::default();
    let issue = IssueCoupon {
        spec: coupon_spec(),
    };
    assert_eq!(run(&mut world, &issue).output, Ok(true));
    assert_eq!(run(&mut world, &issue).output, Ok(false));
    let mut world = self::world(5);
    run(&mut world, &place(1, &[("a", 1)], false));
    let object = RequestedObject {
        provider: Provider::Stripe,
        amount: pesos(4_500_000),
        reference: "pi_1".into(),
        idempotency_key: "k".into(),
        payer: None,
    };
    let request = RequestPayment {
        booking_id: booking_id(1),
        requested: Some(object),
    };
    assert!(run(&mut world, &request).output);
    assert_eq!(world.booking(&booking_id(1)).requests().len(), 1);
    let later = now() + Duration::minutes(16);
    assert!(!request.decide(&world, later).output, "lapsed: not payable");
    let none = RequestPayment {
        booking_id: booking_id(1),
        requested: None,
    };
    assert!(!none.decide(&world, now()).output);
    let read = ReadBooking {
        booking_id: booking_id(1),
    };
    assert_eq!(read.needs().bookings.len(), 1);
    assert!(read.decide(&world, now()).facts.is_empty());
}

#[test]
fn at_most_a_bounded_number_of_lapsed_holds_are_released_per_decision() {
    let mut slot: SlotState = scheduled(glaciar(10_000));
    let count = u16::try_from(MAX_LAPSED_RELEASES).unwrap() + 10;
    for n in 0..count {
        let at = now() - Duration::seconds(i64::from(count - n));
        slot = with_hold(slot, n, 1, at);
    }
    let mut world = World::default();
    world.slots.insert(slot_id("a"), slot);
    let decided = run(&mut world, &place(9_000, &[("a", 1)], false));
    let released = decided
        .facts
        .iter()
        .filter(|f| f.event_type() == "HoldReleased")
        .count();
    assert_eq!(released, MAX_LAPSED_RELEASES);
    // The oldest go first; the rest still count as held until a later command.
    assert_eq!(world.slot(&slot_id("a")).held(), 10 + 1);
    assert!(world.slot(&slot_id("a")).seats_of(&booking_id(0)).is_none());
}

#[test]
fn the_wake_rule_follows_the_recorded_status() {
    let mut world = world(5);
    assert_eq!(wake_at(&BookingState::default()), None);
    run(&mut world, &place(1, &[("a", 1)], false));
    let booking = world.booking(&booking_id(1)).clone();
    let expiry = booking.placed.as_ref().unwrap().hold_expires_at;
    assert_eq!(wake_at(&booking), Some(expiry));
    let mut partially = booking.clone();
    partially.apply(
        &crate::domain::booking::BookingEvent::BookingPartiallyPaid {
            paid: pesos(1),
            due: pesos(1),
        },
    );
    assert_eq!(wake_at(&partially), Some(expiry), "still waiting for money");
    let mut expired = booking;
    expired.apply(&crate::domain::booking::BookingEvent::BookingExpired);
    assert_eq!(wake_at(&expired), None);
}

/// A world with slots "a", "b" (capacity `capacity`), "c" of another price and "d" of
/// another activity.
fn move_world(capacity: u32) -> World {
    let mut world = world(capacity);
    let mut dearer = glaciar(capacity);
    dearer.price = pesos(5_000_000);
    world.slots.insert(slot_id("c"), scheduled(dearer));
    let mut other = glaciar(capacity);
    other.activity_id = crate::ids::ActivityId::parse("rafting").unwrap();
    world.slots.insert(slot_id("d"), scheduled(other));
    world
}

fn moving(n: u16, items: &[(&str, &str, Option<u32>)], operator: bool) -> MoveBooking {
    MoveBooking {
        booking_id: booking_id(n),
        moves: items
            .iter()
            .map(|(from, to, seats)| MoveItem {
                from: slot_id(from),
                to: slot_id(to),
                seats: *seats,
            })
            .collect(),
        by: if operator { "op".into() } else { "ana".into() },
        operator,
        keep_price: false,
    }
}

#[test]
fn a_held_booking_moves_its_hold_with_its_expiry_and_its_price() {
    let mut world = move_world(5);
    run(&mut world, &place(1, &[("a", 2)], true));
    let before = world.booking(&booking_id(1)).clone();
    let decided = run(&mut world, &moving(1, &[("a", "b", Some(1))], false));
    assert_eq!(decided.output, Ok(()));
    let kinds: Vec<&str> = decided.facts.iter().map(Fact::event_type).collect();
    assert_eq!(kinds, ["SeatsHeld", "SeatsHeld", "BookingMoved"]);
    let (a, b) = (world.slot(&slot_id("a")), world.slot(&slot_id("b")));
    assert_eq!((a.held(), b.held()), (1, 1));
    let expiry = before.placed.as_ref().unwrap().hold_expires_at;
    assert_eq!(
        b.seats_of(&booking_id(1)).unwrap().expires_at(),
        Some(expiry)
    );
    let after = world.booking(&booking_id(1));
    let placed = after.placed.as_ref().unwrap();
    let items: Vec<(&str, u32)> = placed
        .items
        .iter()
        .map(|i| (i.slot_id.as_str(), i.seats))
        .collect();
    assert_eq!(items, [("a", 1), ("b", 1)]);
    assert_eq!(
        placed.total,
        before.placed.as_ref().unwrap().total,
        "the price stays"
    );
    // The rest follows; the booking is then on "b" only.
    run(&mut world, &moving(1, &[("a", "b", None)], false));
    let (a, b) = (world.slot(&slot_id("a")), world.slot(&slot_id("b")));
    assert_eq!((a.held(), b.held()), (0, 2));
    assert_eq!(
        world
            .booking(&booking_id(1))
            .placed
            .as_ref()
            .unwrap()
            .items
            .len(),
        1
    );
}

#[test]
fn confirmed_seats_move_confirmed_and_a_planned_cancel_or_payment_goes_stale() {
    let mut world = move_world(5);
    run(&mut world, &place(1, &[("a", 2)], false));
    let streams = streams_of(&world, 1);
    let report = approved(&world, 1);
    run(
        &mut world,
        &PayBooking {
            streams: streams.clone(),
            report,
        },
    );
    let cancel = CancelBooking {
        streams,
        by: "op".into(),
        operator: true,
        refund: None,
    };
    assert_eq!(cancel.stale(&world), None);
    let decided = run(&mut world, &moving(1, &[("a", "b", None)], false));
    assert_eq!(decided.output, Ok(()));
    let (a, b) = (world.slot(&slot_id("a")), world.slot(&slot_id("b")));
    assert_eq!((a.confirmed(), b.confirmed(), b.held()), (0, 2, 0));
    assert!(
        cancel.stale(&world).is_some(),
        "planned on slot a, the booking is on b now"
    );
    let fresh = CancelBooking {
        streams: streams_of(&world, 1),
        ..cancel
    };
    assert_eq!(fresh.stale(&world), None);
}

#[test]
fn a_move_is_refused_whole() {
    let mut world = move_world(2);
    run(&mut world, &place(1, &[("a", 2)], false));
    run(&mut world, &place(2, &[("b", 1)], false));
    let refused = |world: &World, command: &MoveBooking| {
        let decided = command.decide(world, now());
        assert!(decided.facts.is_empty(), "{:?}", decided.facts);
        decided.output.unwrap_err().code()
    };
    assert_eq!(
        refused(&world, &moving(1, &[("a", "b", None)], false)),
        "sold_out"
    );
    assert_eq!(
        refused(&world, &moving(1, &[("a", "c", None)], false)),
        "price_differs"
    );
    assert_eq!(
        refused(&world, &moving(1, &[("a", "d", None)], false)),
        "price_differs"
    );
    assert_eq!(
        refused(&world, &moving(1, &[("b", "c", None)], false)),
        "not_movable"
    );
    assert_eq!(
        refused(&world, &moving(1, &[("a", "b", Some(3))], false)),
        "not_movable"
    );
    assert_eq!(
        refused(&world, &moving(1, &[("a", "zz", None)], false)),
        "slot_not_found"
    );
    let mut stranger = moving(1, &[("a", "b", Some(1))], false);
    stranger.by = "bea".into();
    assert_eq!(refused(&world, &stranger), "not_owner");
    // An operator keeps the booking's price on a dearer slot.
    let mut keep = moving(1, &[("a", "c", None)], true);
    keep.keep_price = true;
    let decided = run(&mut world, &keep);
    assert_eq!(decided.output, Ok(()));
    let placed = world.booking(&booking_id(1)).placed.clone().unwrap();
    assert_eq!(placed.items[0].unit_price, pesos(4_500_000));
    // Cancelled: nothing moves any more.
    let streams = streams_of(&world, 1);
    run(
        &mut world,
        &CancelBooking {
            streams,
            by: "ana".into(),
            operator: false,
            refund: None,
        },
    );
    assert_eq!(
        refused(&world, &moving(1, &[("c", "a", None)], true)),
        "not_movable"
    );
}
