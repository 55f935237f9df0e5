//! Property test: over random interleavings of place, cancel, expire, pay (approve and
//! refund, so confirm and release), move, block and time steps, on two slots and a coupon —
//! - a decision on the states as the store loads them (each snapshot read back, plus the
//!   index entries the loader reads: lapsed holds and claims, the entries of the command's
//!   bookings, every claim of its customer) equals the decision on states folded from all
//!   their events;
//! - each slot's counters equal the sums over holds and confirmations of a reference model
//!   that keeps every hold and confirmation in maps (the layout before the counters);
//! - held + confirmed never exceed capacity (invariant 1; capacity is never cut here).

use std::collections::BTreeMap;
use std::fmt::Debug;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::domain::booking::BookingEvent;
use crate::domain::coupon::{CouponEvent, CouponState, MAX_LAPSED_CLAIMS_LOADED};
use crate::domain::slot::{BookingSeats, SlotState};

const SLOTS: [&str; 3] = ["s0", "s1", "never"];
const CUSTOMERS: [&str; 2] = ["ana", "bea"];

#[derive(Debug, Clone)]
enum Op {
    Place {
        items: Vec<(usize, u32)>,
        customer: usize,
        coupon: bool,
        ttl_minutes: i64,
    },
    Cancel {
        booking: usize,
        customer: usize,
        operator: bool,
    },
    Expire {
        booking: usize,
    },
    Pay {
        booking: usize,
        payment: usize,
        refund: bool,
        half: bool,
    },
    Block {
        slot: usize,
        block: bool,
    },
    Move {
        booking: usize,
        to: usize,
        seats: Option<u32>,
        operator: bool,
    },
    Advance {
        minutes: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (
            prop::collection::vec((0usize..3, 1u32..=3), 1..=2),
            0usize..2,
            any::<bool>(),
            1i64..=30
        )
            .prop_map(|(items, customer, coupon, ttl_minutes)| Op::Place {
                items,
                customer,
                coupon,
                ttl_minutes
            }),
        1 => (0usize..8, 0usize..2, any::<bool>()).prop_map(|(booking, customer, operator)| {
            Op::Cancel { booking, customer, operator }
        }),
        1 => (0usize..8).prop_map(|booking| Op::Expire { booking }),
        2 => (0usize..8, 0usize..2, prop::bool::weighted(0.2), any::<bool>()).prop_map(
            |(booking, payment, refund, half)| Op::Pay { booking, payment, refund, half }
        ),
        1 => (0usize..2, any::<bool>()).prop_map(|(slot, block)| Op::Block { slot, block }),
        2 => (0usize..8, 0usize..3, prop::option::of(1u32..=3), any::<bool>()).prop_map(
            |(booking, to, seats, operator)| Op::Move { booking, to, seats, operator }
        ),
        2 => (1i64..=20).prop_map(|minutes| Op::Advance { minutes }),
    ]
}

/// The ledger of the test: every stream's events.
struct Ledger {
    now: DateTime<Utc>,
    slots: BTreeMap<SlotId, Vec<SlotEvent>>,
    bookings: BTreeMap<BookingId, Vec<BookingEvent>>,
    coupon: Vec<CouponEvent>,
    placed: Vec<BookingId>,
    next: u16,
}

impl Ledger {
    fn new() -> Ledger {
        let mut ledger = Ledger {
            now: now(),
            slots: BTreeMap::new(),
            bookings: BTreeMap::new(),
            coupon: Vec::new(),
            placed: Vec::new(),
            next: 1,
        };
        for (slot, capacity) in [("s0", 4), ("s1", 3)] {
            let schedule = ChangeSlot {
                slot_id: slot_id(slot),
                change: SlotChange::Schedule(glaciar(capacity)),
            };
            ledger.run(&schedule);
        }
        let spec = CouponSpec {
            max_claims: 3,
            ..coupon_spec()
        };
        ledger.run(&IssueCoupon { spec });
        ledger
    }

    /// Every state folded from all of its events (every per-booking entry known).
    fn full(&self) -> World {
        let mut world = World::default();
        for (id, events) in &self.slots {
            world
                .slots
                .insert(id.clone(), SlotState::from_events(events));
        }
        for (id, events) in &self.bookings {
            world
                .bookings
                .insert(*id, BookingState::from_events(events));
        }
        world
            .coupons
            .insert(code(), CouponState::from_events(&self.coupon));
        world
    }

    /// The states as the store loads them for `needs`.
    fn loaded(&self, needs: &Needs) -> World {
        let full = self.full();
        let mut world = World::default();
        for slot in &needs.slots {
            let folded = full.slots.get(slot).cloned().unwrap_or_default();
            let mut state: SlotState = read_back(&folded);
            let mut lapsed: Vec<(DateTime<Utc>, BookingId, BookingSeats)> = folded
                .known()
                .iter()
                .filter(|(_, e)| e.lapsed_at(self.now))
                .map(|(id, e)| (e.expires_at().unwrap(), *id, *e))
                .collect();
            lapsed.sort_by_key(|(at, id, _)| (*at, *id));
            for (_, id, entry) in lapsed.into_iter().take(MAX_LAPSED_RELEASES) {
                state.know(id, entry);
            }
            for booking in &needs.bookings {
                if let Some(entry) = folded.seats_of(booking) {
                    state.know(*booking, entry);
                }
            }
            world.slots.insert(slot.clone(), state);
        }
        for booking in &needs.bookings {
            let folded = full.bookings.get(booking).cloned().unwrap_or_default();
            world.bookings.insert(*booking, read_back(&folded));
        }
        for coupon in &needs.coupons {
            let folded = full.coupons.get(coupon).cloned().unwrap_or_default();
            let mut state: CouponState = read_back(&folded);
            let mut lapsed: Vec<_> = folded
                .known()
                .iter()
                .filter(|(_, c)| !c.is_live(self.now))
                .collect();
            lapsed.sort_by_key(|(id, c)| (c.expires_at, **id));
            let named = folded.known().iter().filter(|(id, c)| {
                needs.bookings.contains(id) || needs.customer.as_deref() == Some(&c.customer)
            });
            for (id, claim) in lapsed
                .into_iter()
                .take(MAX_LAPSED_CLAIMS_LOADED)
                .chain(named)
            {
                state.know(*id, claim.clone());
            }
            world.coupons.insert(coupon.clone(), state);
        }
        world
    }

    /// Decides on both worlds, checks they agree, appends the facts, checks the counters.
    fn run<D: Decide>(&mut self, command: &D)
    where
        D::Output: PartialEq + Debug,
    {
        let full = command.decide(&self.full(), self.now);
        let loaded = command.decide(&self.loaded(&command.needs()), self.now);
        assert_eq!(loaded, full, "decided on loaded states");
        for fact in full.facts {
            match fact {
                Fact::Slot(id, e) => self.slots.entry(id).or_default().push(e),
                Fact::Booking(id, e) => self.bookings.entry(id).or_default().push(e),
                Fact::Coupon(_, e) => self.coupon.push(e),
                Fact::Received(..) => {}
            }
        }
        self.check();
    }

    fn check(&self) {
        for (id, events) in &self.slots {
            let state = SlotState::from_events(events);
            let (held, confirmed) = reference_sums(events);
            assert_eq!((state.held(), state.confirmed()), (held, confirmed), "{id}");
            assert!(held + confirmed <= state.capacity(), "invariant 1 on {id}");
        }
        let coupon = CouponState::from_events(&self.coupon);
        let live_known = coupon.known().len();
        assert_eq!(coupon.claims_made() as usize, live_known);
    }

    fn booking(&self, index: usize) -> Option<(BookingId, BookingStreams)> {
        let id = *self.placed.get(index % self.placed.len().max(1))?;
        let placed = BookingState::from_events(&self.bookings[&id]).placed?;
        Some((id, BookingStreams::of(id, &placed)))
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Place {
                items,
                customer,
                coupon,
                ttl_minutes,
            } => {
                let mut items: Vec<(SlotId, u32)> = items
                    .iter()
                    .map(|(s, n)| (slot_id(SLOTS[*s]), *n))
                    .collect();
                items.dedup_by(|a, b| a.0 == b.0);
                let id = booking_id(self.next);
                self.next += 1;
                let command = PlaceBooking {
                    booking_id: id,
                    customer: CUSTOMERS[*customer].into(),
                    items,
                    coupon: coupon.then(code),
                    expected_total: None,
                    hold_ttl: Duration::minutes(*ttl_minutes),
                };
                self.run(&command);
                if self.bookings.contains_key(&id) {
                    self.placed.push(id);
                }
            }
            Op::Cancel {
                booking,
                customer,
                operator,
            } => {
                if let Some((_, streams)) = self.booking(*booking) {
                    self.run(&CancelBooking {
                        streams,
                        by: CUSTOMERS[*customer].into(),
                        operator: *operator,
                        refund: None,
                    });
                }
            }
            Op::Move {
                booking,
                to,
                seats,
                operator,
            } => {
                if let Some((id, streams)) = self.booking(*booking) {
                    let Some(from) = streams.slots.iter().next().cloned() else {
                        return;
                    };
                    let customer = BookingState::from_events(&self.bookings[&id])
                        .placed
                        .map(|p| p.customer)
                        .unwrap_or_default();
                    self.run(&MoveBooking {
                        booking_id: id,
                        moves: vec![MoveItem {
                            from,
                            to: slot_id(SLOTS[*to]),
                            seats: *seats,
                        }],
                        by: customer,
                        operator: *operator,
                        keep_price: false,
                    });
                }
            }
            Op::Expire { booking } => {
                if let Some((_, streams)) = self.booking(*booking) {
                    self.run(&ExpireBooking { streams });
                }
            }
            Op::Pay {
                booking,
                payment,
                refund,
                half,
            } => {
                let Some((id, streams)) = self.booking(*booking) else {
                    return;
                };
                let total = BookingState::from_events(&self.bookings[&id])
                    .placed
                    .map(|p| p.total)
                    .unwrap();
                let minor = if *half {
                    total.minor() / 2
                } else {
                    total.minor()
                };
                let report = PaymentReport {
                    provider: Provider::Stripe,
                    payment_id: format!("pi_{payment}"),
                    status: if *refund {
                        ReportedStatus::Refunded
                    } else {
                        ReportedStatus::Approved
                    },
                    amount: Money::new(minor, total.currency()).unwrap(),
                    source: PaymentSource::Webhook,
                    provider_event_id: String::new(),
                };
                self.run(&PayBooking { streams, report });
            }
            Op::Block { slot, block } => {
                let reason = "weather".to_owned();
                let change = if *block {
                    SlotChange::Block(reason)
                } else {
                    SlotChange::Unblock(reason)
                };
                self.run(&ChangeSlot {
                    slot_id: slot_id(SLOTS[*slot]),
                    change,
                });
            }
            Op::Advance { minutes } => self.now += Duration::minutes(*minutes),
        }
    }
}

/// A state written as its snapshot and read back (no per-booking entries).
fn read_back<S: crate::domain::events::Snapshot>(state: &S) -> S {
    let json = serde_json::to_value(state).expect("snapshot");
    serde_json::from_value(json).expect("snapshot reads")
}

/// Held and confirmed seats by the layout before counters: a map of holds and a map of
/// confirmations by booking, folded from the events.
fn reference_sums(events: &[SlotEvent]) -> (u32, u32) {
    let mut holds: BTreeMap<BookingId, u32> = BTreeMap::new();
    let mut confirmed: BTreeMap<BookingId, u32> = BTreeMap::new();
    for event in events {
        match event {
            SlotEvent::SeatsHeld {
                booking_id, seats, ..
            } => {
                holds.insert(*booking_id, *seats);
            }
            SlotEvent::HoldReleased { booking_id, .. } => {
                holds.remove(booking_id);
            }
            SlotEvent::SeatsConfirmed { booking_id, seats } => {
                holds.remove(booking_id);
                confirmed.insert(*booking_id, *seats);
            }
            SlotEvent::SeatsReleased { booking_id, .. } => {
                confirmed.remove(booking_id);
            }
            _ => {}
        }
    }
    (holds.values().sum(), confirmed.values().sum())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn decisions_on_loaded_states_equal_decisions_on_folded_ones(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        let mut ledger = Ledger::new();
        for op in &ops {
            ledger.step(op);
        }
    }
}
