//! Ledger histories for the `ledger-replay` tests: realistic ones made by the domain's
//! decide functions (a slot scheduled, bookings placed, one paid), and raw events appended
//! straight to a stream, bypassing every rule, to build breaches.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger_core::domain::{apply_payment, PaymentReport, PaymentSource, Provider, ReportedStatus};
use ledger_core::{
    place_booking, schedule_slot, ActivityId, BookingId, BookingState, Currency, Cutoff,
    DomainEvent, EventId, ManualClock, Money, PlaceBooking, SlotId, SlotSpec, SlotState, StreamId,
};
use ledger_store::{AppendBatch, NewEvent, Store, StreamAppend};
use serde_json::{json, Value};

/// The time the histories start at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// A store on `db` whose clock the test moves.
pub fn clocked(store: Store) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    (store.with_clock(clock.clone()), clock)
}

/// A domain event as the service stores it: its type, its current schema version, its payload.
pub fn new_event<E: DomainEvent>(event: &E) -> NewEvent {
    NewEvent {
        schema_version: event.schema_version(),
        ..raw(event.event_type(), event.to_payload())
    }
}

/// A schema-version-1 event with any payload (for breach tests that bypass the rules).
pub fn raw(event_type: &str, payload: Value) -> NewEvent {
    NewEvent {
        event_id: EventId::from_uuid(uuid::Uuid::now_v7()).unwrap(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: json!({"source": "test"}),
    }
}

/// Appends events to one stream, rules bypassed.
pub async fn append_raw(store: &Store, stream_id: &StreamId, events: Vec<NewEvent>) {
    let batch = AppendBatch {
        streams: vec![StreamAppend::new(stream_id.clone(), events)],
        ..AppendBatch::default()
    };
    store.append(batch).await.expect("append");
}

pub fn ars(minor: i64) -> Money {
    Money::new(minor, Currency::parse("ARS").unwrap()).unwrap()
}

pub fn spec(capacity: u32) -> SlotSpec {
    SlotSpec {
        activity_id: ActivityId::parse("glaciar-trek").unwrap(),
        starts_at: t0() + Duration::days(30),
        capacity,
        price: ars(4_500_000),
        time_zone: chrono_tz::America::Argentina::Buenos_Aires,
        cutoff: Cutoff::MinutesBefore { minutes: 60 },
    }
}

/// A ledger built through the decide functions, with the states the test expects.
pub struct Realistic {
    pub slot: SlotId,
    pub slot_state: SlotState,
    pub paid: BookingId,
    pub held: BookingId,
}

fn append_of<E: DomainEvent>(stream_id: StreamId, events: &[E]) -> StreamAppend {
    StreamAppend::new(stream_id, events.iter().map(new_event).collect())
}

/// Slot `glaciar-0900` (capacity 10); booking `paid` (2 seats, paid by Stripe) and booking
/// `held` (3 seats, awaiting payment), a minute apart each.
pub async fn realistic(store: &Store, clock: &ManualClock) -> Realistic {
    let slot = SlotId::parse("glaciar-0900").unwrap();
    let mut slot_state = SlotState::default();
    let scheduled = schedule_slot(&slot_state, spec(10)).unwrap();
    scheduled.iter().for_each(|e| slot_state.apply(e));
    append_raw(
        store,
        &slot.stream_id(),
        scheduled.iter().map(new_event).collect(),
    )
    .await;

    let mut bookings = Vec::new();
    for (i, seats) in [2u32, 3].into_iter().enumerate() {
        clock.advance(Duration::minutes(1));
        let booking_id = BookingId::from_uuid(uuid::Uuid::now_v7());
        let cmd = PlaceBooking {
            booking_id,
            customer: format!("cust-{i}"),
            items: vec![(slot.clone(), seats)],
            coupon: None,
            expected_total: None,
            hold_ttl: Duration::minutes(15),
        };
        let slots = BTreeMap::from([(slot.clone(), slot_state.clone())]);
        let decision = place_booking(&cmd, &slots, None, clock_now(clock));
        decision.outcome.as_ref().expect("placed");
        let mut batch = AppendBatch::default();
        for (slot_id, events) in &decision.slot_events {
            events.iter().for_each(|e| slot_state.apply(e));
            batch.streams.push(append_of(slot_id.stream_id(), events));
        }
        let mut booking = BookingState::default();
        decision
            .booking_events
            .iter()
            .for_each(|e| booking.apply(e));
        batch
            .streams
            .push(append_of(booking_id.stream_id(), &decision.booking_events));
        store.append(batch).await.expect("place");
        bookings.push((booking_id, booking));
    }

    clock.advance(Duration::minutes(1));
    let (paid, booking) = &bookings[0];
    let report = PaymentReport {
        provider: Provider::Stripe,
        payment_id: "pi_1".into(),
        status: ReportedStatus::Approved,
        amount: booking.placed.as_ref().unwrap().total,
        source: PaymentSource::Webhook,
        provider_event_id: "evt_1".into(),
    };
    let slots = BTreeMap::from([(slot.clone(), slot_state.clone())]);
    let decision = apply_payment(booking, &slots, None, &report, clock_now(clock));
    let mut batch = AppendBatch::default();
    for (slot_id, events) in &decision.slot_events {
        events.iter().for_each(|e| slot_state.apply(e));
        batch.streams.push(append_of(slot_id.stream_id(), events));
    }
    batch
        .streams
        .push(append_of(paid.stream_id(), &decision.booking_events));
    store.append(batch).await.expect("pay");
    Realistic {
        slot,
        slot_state,
        paid: *paid,
        held: bookings[1].0,
    }
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    ledger_core::Clock::now(clock)
}
