//! Property test of the whole booking domain: random sequences of schedule, capacity
//! change, block, place, cancel, expire, payment report and time steps over 1–3 slots
//! (plus one slot that never exists). After every step: invariant 1 (held + confirmed
//! never exceed capacity unless the last `CapacityChanged` flagged an oversell), the
//! payment invariants of `invariants/pay.rs`, no decide panics, every event survives its
//! stored form, and every state folded from scratch — from the events or from their stored
//! form — equals the state applied step by step (snapshot equality).

use std::collections::BTreeMap;
use std::fmt::Debug;

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::domain::booking::{cancel_booking, expire_booking, BookingState, BookingStatus};
use crate::domain::coupon::{issue_coupon, release_claim, CouponSpec};
use crate::domain::cutoff::Cutoff;
use crate::domain::events::{fold_stored, DomainEvent, Evolve, Snapshot};
use crate::domain::slot::{
    block_slot, release_hold, schedule_slot, unblock_slot, ReleaseReason, SlotSpec,
};
use crate::domain::test_support::{booking_id, glaciar, now, pesos, slot_id, usd};

mod ops;
mod pay;

use ops::{op, schedule, Op, CUSTOMERS, SLOTS};

/// A state with the events that built it.
#[derive(Debug, Clone)]
struct Stream<S, E> {
    state: S,
    log: Vec<E>,
}

impl<S: Default, E> Default for Stream<S, E> {
    fn default() -> Self {
        Stream {
            state: S::default(),
            log: Vec::new(),
        }
    }
}

impl<S: Evolve<Event = E>, E: DomainEvent + Clone> Stream<S, E> {
    fn append(&mut self, events: &[E]) {
        for event in events {
            self.state.evolve(event);
            self.log.push(event.clone());
        }
    }
}

struct World {
    now: DateTime<Utc>,
    slots: BTreeMap<SlotId, Stream<SlotState, SlotEvent>>,
    /// Whether the last `CapacityChanged` of a slot flagged an oversell.
    oversold: BTreeMap<SlotId, bool>,
    bookings: Vec<(BookingId, Stream<BookingState, BookingEvent>)>,
    coupon: Stream<CouponState, CouponEvent>,
}

impl World {
    fn new() -> World {
        let spec = CouponSpec {
            code: CouponCode::parse("VERANO10").expect("code"),
            discount: Discount::PercentOff(10),
            max_claims: 2,
            per_customer_limit: 1,
            valid_from: now(),
            valid_until: now() + Duration::hours(10),
        };
        let mut coupon = Stream::default();
        coupon.append(&issue_coupon(&CouponState::default(), spec).expect("issued"));
        World {
            now: now(),
            slots: BTreeMap::new(),
            oversold: BTreeMap::new(),
            bookings: Vec::new(),
            coupon,
        }
    }

    fn append_slot(&mut self, slot: &SlotId, events: &[SlotEvent]) {
        for event in events {
            if let SlotEvent::CapacityChanged { oversold, .. } = event {
                self.oversold.insert(slot.clone(), *oversold > 0);
            }
        }
        self.slots.entry(slot.clone()).or_default().append(events);
    }

    fn slot_states(&self) -> BTreeMap<SlotId, SlotState> {
        self.slots
            .iter()
            .map(|(id, stream)| (id.clone(), stream.state.clone()))
            .collect()
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Schedule {
                slot,
                capacity,
                price,
                cutoff_minutes,
            } => {
                let id = slot_id(SLOTS[*slot]);
                let spec = SlotSpec {
                    capacity: *capacity,
                    price: [
                        pesos(0),
                        pesos(1_000),
                        pesos(4_500),
                        Money::new(700, usd()).expect("money"),
                    ][*price],
                    starts_at: now() + Duration::days(2),
                    cutoff: Cutoff::MinutesBefore {
                        minutes: *cutoff_minutes,
                    },
                    ..glaciar(0)
                };
                let current = self
                    .slots
                    .get(&id)
                    .map(|s| s.state.clone())
                    .unwrap_or_default();
                let events = schedule_slot(&current, spec).expect("valid spec");
                self.append_slot(&id, &events);
            }
            Op::Block { slot, block } => {
                let id = slot_id(SLOTS[*slot]);
                let current = self
                    .slots
                    .get(&id)
                    .map(|s| s.state.clone())
                    .unwrap_or_default();
                let decided = if *block {
                    block_slot(&current, "storm".into())
                } else {
                    unblock_slot(&current, "clear".into())
                };
                match decided {
                    Ok(events) => self.append_slot(&id, &events),
                    Err(rejection) => assert_eq!(rejection, Rejection::SlotNotFound),
                }
            }
            Op::Place {
                items,
                customer,
                coupon,
                ttl_minutes,
            } => self.place(items, *customer, *coupon, *ttl_minutes),
            Op::Cancel {
                booking,
                customer,
                operator,
            } => {
                let Some((id, stream)) = self.pick(*booking) else {
                    return;
                };
                let decided =
                    cancel_booking(&stream.state, CUSTOMERS[*customer], *operator, self.now);
                if let Ok(events) = decided {
                    self.close(id, events, ReleaseReason::Cancelled);
                }
            }
            Op::Expire { booking } => {
                let Some((id, stream)) = self.pick(*booking) else {
                    return;
                };
                let events = expire_booking(&stream.state, self.now);
                if !events.is_empty() {
                    self.close(id, events, ReleaseReason::Expired);
                }
            }
            Op::Pay {
                booking,
                provider,
                payment,
                status,
                amount,
                reconciled,
            } => self.pay(*booking, *provider, *payment, *status, *amount, *reconciled),
            Op::Advance { minutes } => self.now += Duration::minutes(*minutes),
        }
    }

    fn pick(&self, index: usize) -> Option<(BookingId, Stream<BookingState, BookingEvent>)> {
        let count = self.bookings.len();
        (count > 0).then(|| self.bookings[index % count].clone())
    }

    /// Appends a booking's cancel or expiry and releases its holds and coupon claim.
    fn close(&mut self, id: BookingId, events: Vec<BookingEvent>, reason: ReleaseReason) {
        if let Some((_, stream)) = self.bookings.iter_mut().find(|(b, _)| *b == id) {
            stream.append(&events);
        }
        for (slot, stream) in self.slots.clone() {
            self.append_slot(&slot, &release_hold(&stream.state, id, reason));
        }
        let released = release_claim(&self.coupon.state, id, reason);
        self.coupon.append(&released);
    }

    fn place(&mut self, items: &[(usize, u32)], customer: usize, coupon: bool, ttl_minutes: i64) {
        let n = u16::try_from(self.bookings.len()).expect("few bookings");
        let cmd = PlaceBooking {
            booking_id: booking_id(n + 1),
            customer: CUSTOMERS[customer].into(),
            items: items
                .iter()
                .map(|(slot, seats)| (slot_id(SLOTS[*slot]), *seats))
                .collect(),
            coupon: coupon
                .then(|| self.coupon.state.spec.as_ref().map(|s| s.code.clone()))
                .flatten(),
            expected_total: None,
            hold_ttl: Duration::minutes(ttl_minutes),
        };
        let decision = place_booking(
            &cmd,
            &self.slot_states(),
            Some(&self.coupon.state),
            self.now,
        );
        for (slot, events) in &decision.slot_events {
            self.append_slot(slot, events);
        }
        let items_checked = !matches!(decision.outcome, Err(Rejection::InvalidSeats(_)));
        for (slot, seats) in &cmd.items {
            let Some(stream) = self.slots.get(slot) else {
                continue;
            };
            // Write-on-read: once the items pass, no lapsed hold survives on their slots.
            assert!(
                !items_checked
                    || stream
                        .state
                        .known()
                        .values()
                        .all(|entry| !entry.lapsed_at(self.now))
            );
            if let Err(Rejection::SoldOut { slot_id, available }) = &decision.outcome {
                if slot_id == slot {
                    assert_eq!(*available, stream.state.available());
                    assert!(available < seats);
                }
            }
        }
        match &decision.outcome {
            Ok(quote) => {
                let mut booking: Stream<BookingState, BookingEvent> = Stream::default();
                booking.append(&decision.booking_events);
                assert_eq!(
                    booking.state.placed.as_ref().map(|p| p.total),
                    Some(quote.total)
                );
                self.bookings.push((cmd.booking_id, booking));
                self.coupon.append(&decision.coupon_events);
                for (slot, seats) in &cmd.items {
                    let state = &self.slots[slot].state;
                    assert_eq!(
                        state
                            .seats_of(&cmd.booking_id)
                            .map(|e| (e.seats(), e.expires_at().is_some())),
                        Some((*seats, true))
                    );
                    // A new hold never oversells, flagged slot or not.
                    assert!(
                        state.held() + state.confirmed() <= state.capacity(),
                        "{slot}: {state:?}"
                    );
                }
            }
            Err(_) => {
                assert!(decision.booking_events.is_empty() && decision.coupon_events.is_empty());
                let held = decision.slot_events.values().flatten();
                assert!(
                    held.clone()
                        .all(|e| matches!(e, SlotEvent::HoldReleased { .. })),
                    "{decision:?}"
                );
            }
        }
    }

    fn check(&self) {
        for (slot, stream) in &self.slots {
            let state = &stream.state;
            let flagged = self.oversold.get(slot).copied().unwrap_or(false);
            assert!(
                state.held() + state.confirmed() <= state.capacity() || flagged,
                "invariant 1 on {slot}: {state:?}"
            );
            check_stream(stream);
        }
        for (_, stream) in &self.bookings {
            check_stream(stream);
        }
        self.check_payments();
        check_stream(&self.coupon);
    }
}

/// Snapshot equality three ways (fold of events, fold of stored rows, JSON snapshot), and
/// every event through its stored form.
fn check_stream<S, E>(stream: &Stream<S, E>)
where
    S: Snapshot + Evolve<Event = E> + PartialEq + Debug,
    E: DomainEvent + PartialEq + Debug,
{
    let mut folded = S::default();
    stream.log.iter().for_each(|event| folded.evolve(event));
    assert_eq!(folded, stream.state);
    let rows: Vec<(&str, i32, serde_json::Value)> = stream
        .log
        .iter()
        .map(|e| (e.event_type(), e.schema_version(), e.to_payload()))
        .collect();
    for ((event_type, version, payload), event) in rows.iter().zip(&stream.log) {
        assert_eq!(
            &E::decode(event_type, *version, payload).expect("decodes"),
            event
        );
    }
    let from_rows: S = fold_stored(rows.iter().map(|(t, v, p)| (*t, *v, p))).expect("folds");
    assert_eq!(from_rows, stream.state);
    let snapshot = serde_json::to_string(&stream.state).expect("snapshot");
    let mut back = serde_json::from_str::<S>(&snapshot).expect("snapshot reads");
    back.restore_known(&stream.state);
    assert_eq!(
        back, stream.state,
        "the snapshot's counters agree with the entries"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn invariants_hold_over_random_command_sequences(
        ops in (1usize..=3).prop_flat_map(|slots| {
            // Most sequences open by scheduling their slots; the rest start cold.
            let opening = prop::collection::vec(schedule(slots), 0..=slots);
            (opening, prop::collection::vec(op(slots), 1..60))
        }),
    ) {
        let (opening, ops) = ops;
        let mut world = World::new();
        for op in opening.iter().chain(&ops) {
            world.step(op);
            world.check();
        }
    }
}
