//! The one shape of every command the ledger executes. A command says what it needs locked
//! and loaded ([`Needs`]); a pure decision on the loaded states ([`Decide::decide`]) returns
//! the facts to append, stream by stream ([`Fact`]), and an output for the caller; the
//! states live in a [`World`], which a batch of commands evolves one decision after
//! another, so each decides on what the previous ones did. ledger-store runs this cycle
//! (lock and load → decide → append → commit); everything here is pure.
//!
//! The commands themselves (place, cancel, expire, pay, …) are in `domain::commands`; the
//! rule for when the expiry sweeper should look at a booking again is [`wake_at`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::booking::{BookingEvent, BookingState, BookingStatus};
use crate::domain::coupon::{CouponCode, CouponEvent, CouponState};
use crate::domain::events::DomainEvent;
use crate::domain::slot::{SlotEvent, SlotState};
use crate::ids::{BookingId, SlotId, StreamId};
use crate::provider_log::PROVIDER_EVENT_SCHEMA_VERSION;
use crate::provider_log::{ProviderEventReceived, PROVIDER_EVENT_RECEIVED};

/// What a command needs locked and loaded before it decides.
///
/// The store locks every stream named here (sorted, with those of the other commands of
/// its batch) except `new_booking`, and loads each state with the per-booking detail its
/// decisions may ask about: the lapsed holds of every slot; the entry of every named
/// booking on every named slot; the lapsed claims of every coupon, the claims of every
/// named booking and every claim of `customer` on every named coupon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Slot streams to lock and load.
    pub slots: BTreeSet<SlotId>,
    /// Existing booking streams to lock and load.
    pub bookings: BTreeSet<BookingId>,
    /// A booking stream this command creates: its id is new (UUID v7 of the server), so
    /// nobody else can hold or create it: it is neither locked nor read, its state is empty.
    pub new_booking: Option<BookingId>,
    /// Coupon streams to lock and load.
    pub coupons: BTreeSet<CouponCode>,
    /// The customer whose coupon claims a decision counts (the per-customer limit).
    pub customer: Option<String>,
    /// A provider ingest log stream the command appends to (no state).
    pub log: Option<StreamId>,
}

impl Needs {
    /// Every stream to lock (all but `new_booking`).
    pub fn locked_streams(&self) -> Vec<StreamId> {
        let slots = self.slots.iter().map(SlotId::stream_id);
        let bookings = self.bookings.iter().map(BookingId::stream_id);
        let coupons = self.coupons.iter().map(CouponCode::stream_id);
        slots
            .chain(bookings)
            .chain(coupons)
            .chain(self.log.iter().cloned())
            .collect()
    }

    /// How many streams [`Needs::locked_streams`] names.
    pub fn lock_count(&self) -> usize {
        self.slots.len()
            + self.bookings.len()
            + self.coupons.len()
            + usize::from(self.log.is_some())
    }
}

/// One event for one stream, as a decision returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// On `slot-<id>`.
    Slot(SlotId, SlotEvent),
    /// On `booking-<id>`.
    Booking(BookingId, BookingEvent),
    /// On `coupon-<code>`.
    Coupon(CouponCode, CouponEvent),
    /// On a provider ingest log, `provider-<name>-<shard>`.
    Received(StreamId, ProviderEventReceived),
}

impl Fact {
    /// The stream it is appended to.
    pub fn stream_id(&self) -> StreamId {
        match self {
            Fact::Slot(id, _) => id.stream_id(),
            Fact::Booking(id, _) => id.stream_id(),
            Fact::Coupon(code, _) => code.stream_id(),
            Fact::Received(stream, _) => stream.clone(),
        }
    }

    /// The stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Fact::Slot(_, e) => e.event_type(),
            Fact::Booking(_, e) => e.event_type(),
            Fact::Coupon(_, e) => e.event_type(),
            Fact::Received(..) => PROVIDER_EVENT_RECEIVED,
        }
    }

    /// The schema version it is written with.
    pub fn schema_version(&self) -> i32 {
        match self {
            Fact::Slot(_, e) => e.schema_version(),
            Fact::Booking(_, e) => e.schema_version(),
            Fact::Coupon(_, e) => e.schema_version(),
            Fact::Received(..) => PROVIDER_EVENT_SCHEMA_VERSION,
        }
    }

    /// The stored payload.
    pub fn payload(&self) -> Value {
        match self {
            Fact::Slot(_, e) => e.to_payload(),
            Fact::Booking(_, e) => e.to_payload(),
            Fact::Coupon(_, e) => e.to_payload(),
            Fact::Received(_, e) => e.to_payload(),
        }
    }
}

/// The states commands decide on, by stream. The store fills it with every state the
/// commands of a batch need (an empty state for a stream that does not exist yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    pub slots: BTreeMap<SlotId, SlotState>,
    pub bookings: BTreeMap<BookingId, BookingState>,
    pub coupons: BTreeMap<CouponCode, CouponState>,
}

/// The state of a stream nobody created: what a lookup of a stream outside the world sees.
static EMPTY_SLOT: std::sync::LazyLock<SlotState> = std::sync::LazyLock::new(SlotState::default);
static EMPTY_BOOKING: std::sync::LazyLock<BookingState> =
    std::sync::LazyLock::new(BookingState::default);

impl World {
    /// Evolves the fact's stream (a provider log has no state).
    pub fn apply(&mut self, fact: &Fact) {
        match fact {
            Fact::Slot(id, e) => self.slots.entry(id.clone()).or_default().apply(e),
            Fact::Booking(id, e) => self.bookings.entry(*id).or_default().apply(e),
            Fact::Coupon(code, e) => self.coupons.entry(code.clone()).or_default().apply(e),
            Fact::Received(..) => {}
        }
    }

    /// A slot's state (empty when it was not loaded: a slot that does not exist).
    pub fn slot(&self, id: &SlotId) -> &SlotState {
        self.slots.get(id).unwrap_or(&EMPTY_SLOT)
    }

    /// A booking's state (empty when it was not loaded).
    pub fn booking(&self, id: &BookingId) -> &BookingState {
        self.bookings.get(id).unwrap_or(&EMPTY_BOOKING)
    }

    /// A coupon's state, if loaded.
    pub fn coupon(&self, code: &CouponCode) -> Option<&CouponState> {
        self.coupons.get(code)
    }
}

/// What a decision returns: the facts to append, in order, and the command's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<O> {
    pub facts: Vec<Fact>,
    pub output: O,
}

impl<O> Decision<O> {
    /// No facts.
    pub fn only(output: O) -> Decision<O> {
        Decision {
            facts: Vec::new(),
            output,
        }
    }
}

/// A command of the ledger: what it needs, and its decision. `decide` holds every rule
/// (through the decide functions of `domain`), never fails and never panics: a business
/// "no" is part of the output; time comes in as `now`.
pub trait Decide {
    /// What the caller learns besides the facts.
    type Output;
    /// What to lock and load.
    fn needs(&self) -> Needs;
    /// The decision on the loaded states at `now`.
    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<Self::Output>;
    /// Why the command's [`Decide::needs`], planned on states read before the locks, no
    /// longer fit the locked states (a booking moved to other slots meanwhile), if they do
    /// not: the store then decides nothing for it, and the caller reads again and retries.
    fn stale(&self, _world: &World) -> Option<String> {
        None
    }
}

/// The per-booking entries that changed from `before` to `after` (to upsert: new or
/// different), and those gone (to delete): what an index table beside a state must write.
pub fn changed_entries<'a, V: PartialEq>(
    before: &'a BTreeMap<BookingId, V>,
    after: &'a BTreeMap<BookingId, V>,
) -> (Vec<(&'a BookingId, &'a V)>, Vec<&'a BookingId>) {
    let upserts = after
        .iter()
        .filter(|(id, entry)| before.get(id) != Some(*entry))
        .collect();
    let deletes = before.keys().filter(|id| !after.contains_key(id)).collect();
    (upserts, deletes)
}

/// When the expiry sweeper should look at a booking again: at its hold's expiry while the
/// recorded status still waits for money (held, partially paid); never otherwise.
pub fn wake_at(booking: &BookingState) -> Option<DateTime<Utc>> {
    let placed = booking.placed.as_ref()?;
    matches!(
        booking.status,
        BookingStatus::Held | BookingStatus::PartiallyPaid
    )
    .then_some(placed.hold_expires_at)
}
