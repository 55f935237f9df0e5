//! The slot aggregate (stream `slot-<slot_id>`): its definition `SlotSpec`, its events,
//! its decision state `SlotState` with the evolve step `apply`, and the catalog decide
//! functions (schedule, block, unblock, release holds and seats). Seat holds are placed by
//! `domain::place` and confirmed by `domain::payment`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::cutoff::{self, Cutoff};
use crate::domain::rejection::Rejection;
use crate::ids::{ActivityId, BookingId};
use crate::money::Money;

mod decide;

pub use decide::{
    block_slot, release_expired_holds, release_hold, schedule_slot, unblock_slot, without_lapsed,
};

/// Largest capacity of one slot: 10 000 seats. Larger tours are not slots but events with
/// their own ticketing; the bound also keeps seat sums far from `u32` overflow.
pub const MAX_CAPACITY: u32 = 10_000;

/// Longest block/unblock reason, in characters. It is stored in every `SlotBlocked` event
/// and shown to operators; a paragraph is plenty.
pub const MAX_REASON_CHARS: usize = 500;

/// What an operator (or the panel) defines for a slot. Serialised with the time zone as
/// its IANA name; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// The activity the slot belongs to.
    pub activity_id: ActivityId,
    /// When the slot starts.
    pub starts_at: DateTime<Utc>,
    /// Seats on sale, at most [`MAX_CAPACITY`].
    pub capacity: u32,
    /// Price of one seat, zero or more.
    pub price: Money,
    /// The activity's IANA time zone; cutoffs are computed in it.
    #[serde(with = "tz_name")]
    pub time_zone: Tz,
    /// When booking closes.
    pub cutoff: Cutoff,
}

impl SlotSpec {
    /// Checks the rules the types cannot: capacity within [`MAX_CAPACITY`], a price of zero
    /// or more, and a valid cutoff.
    pub fn validate(&self) -> Result<(), Rejection> {
        if self.capacity > MAX_CAPACITY {
            return Err(Rejection::InvalidSlot(format!(
                "capacity must be at most {MAX_CAPACITY}"
            )));
        }
        if self.price.is_negative() {
            return Err(Rejection::InvalidSlot(
                "price must be zero or more".to_owned(),
            ));
        }
        self.cutoff
            .validate()
            .map_err(|error| Rejection::InvalidSlot(error.to_string()))
    }

    /// The instant booking closes (see [`cutoff::bookable_until`]).
    pub fn bookable_until(&self) -> DateTime<Utc> {
        cutoff::bookable_until(self.starts_at, self.time_zone, &self.cutoff)
    }
}

/// Parses an IANA time zone name (`America/Argentina/Buenos_Aires`), for request types.
pub fn parse_time_zone(name: &str) -> Result<Tz, Rejection> {
    name.parse::<Tz>()
        .map_err(|_| Rejection::InvalidSlot("time_zone must be an IANA time zone name".into()))
}

/// Why a hold, confirmed seats or a coupon claim were released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The hold's time ran out before payment.
    Expired,
    /// The booking was cancelled.
    Cancelled,
    /// Every payment of the booking went back.
    Refunded,
    /// The booking's seats moved to another slot.
    Moved,
}

/// A fact about a slot. Stored through [`crate::domain::DomainEvent`] (type name = variant
/// name, payload = the variant's fields); the derived serde form is only a means to that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SlotEvent {
    /// The slot was defined for the first time.
    SlotScheduled {
        /// The whole definition.
        spec: SlotSpec,
    },
    /// The activity, start, time zone or cutoff changed (all four are restated).
    SlotRescheduled {
        /// The activity now.
        activity_id: ActivityId,
        /// The start now.
        starts_at: DateTime<Utc>,
        /// The time zone now.
        #[serde(with = "tz_name")]
        time_zone: Tz,
        /// The cutoff now.
        cutoff: Cutoff,
    },
    /// The capacity changed. A cut below the seats held and confirmed is applied and
    /// flagged through `oversold`, never refused.
    CapacityChanged {
        /// The capacity now.
        capacity: u32,
        /// Seats held or confirmed above the new capacity when it was applied.
        oversold: u32,
    },
    /// The seat price changed (existing holds keep their price).
    RateChanged {
        /// The price now.
        price: Money,
    },
    /// The slot stopped taking bookings.
    SlotBlocked {
        /// Why, as given by the operator or the panel.
        reason: String,
    },
    /// The slot takes bookings again.
    SlotUnblocked {
        /// Why, as given by the operator or the panel.
        reason: String,
    },
    /// Seats were held for a booking until `hold_expires_at`.
    SeatsHeld {
        /// The booking holding them.
        booking_id: BookingId,
        /// How many.
        seats: u32,
        /// The price of each, fixed when held.
        unit_price: Money,
        /// When the hold lapses unless paid.
        hold_expires_at: DateTime<Utc>,
    },
    /// A booking's hold was released and its seats are free again.
    HoldReleased {
        /// The booking whose hold ended.
        booking_id: BookingId,
        /// How many seats were freed.
        seats: u32,
        /// Why.
        reason: ReleaseReason,
    },
    /// A booking's seats are sold for good: its hold becomes confirmed seats, or, with no
    /// hold (a late payment re-taking free seats), the seats are confirmed directly.
    SeatsConfirmed {
        /// The booking.
        booking_id: BookingId,
        /// How many seats it now has confirmed on this slot.
        seats: u32,
    },
    /// A booking's confirmed seats were given back (cancelled or refunded after payment).
    SeatsReleased {
        /// The booking.
        booking_id: BookingId,
        /// How many seats were freed.
        seats: u32,
        /// Why.
        reason: ReleaseReason,
    },
}

/// Most lapsed holds one decision releases on one slot (write-on-read), oldest first: 64.
/// Every release is an event in the command's transaction, and a flash sale can leave
/// thousands of holds lapsing at once; the rest are released by the next commands and the
/// sweeper. The store loads the same number per slot, so the two agree.
pub const MAX_LAPSED_RELEASES: usize = 64;

/// One booking's seats on a slot: what the slot's decisions need to know about a booking
/// beyond the counters. Not part of the stored snapshot: the ledger's `slot_holds` index
/// lists one row per entry, and a decision loads the entries it needs under the slot lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingSeats {
    /// Held until `expires_at` (the seats count as taken until a `HoldReleased`).
    Held {
        /// How many.
        seats: u32,
        /// When the hold lapses unless paid.
        expires_at: DateTime<Utc>,
    },
    /// Sold for good.
    Confirmed {
        /// How many.
        seats: u32,
    },
}

impl BookingSeats {
    /// How many seats, held or confirmed.
    pub fn seats(&self) -> u32 {
        match self {
            BookingSeats::Held { seats, .. } | BookingSeats::Confirmed { seats } => *seats,
        }
    }

    /// When a hold lapses; `None` for confirmed seats.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            BookingSeats::Held { expires_at, .. } => Some(*expires_at),
            BookingSeats::Confirmed { .. } => None,
        }
    }

    /// A hold that has lapsed at `now` (`expires_at <= now`).
    pub fn lapsed_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
}

/// What decisions about one slot need to know; its stored snapshot is the serde JSON of
/// everything but `bookings`, so it has the same size whatever the slot's history.
///
/// `bookings` is the part of the per-booking detail this state *knows*: every booking when
/// the state was folded from the slot's events, only the entries loaded from the
/// `slot_holds` index when it was read from a snapshot (the store loads the lapsed holds and
/// the entries of the bookings a command names). `apply` keeps both counters and known
/// entries exact; a decision only ever asks about entries that were loaded.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotState {
    /// The definition; `None` until scheduled.
    pub spec: Option<SlotSpec>,
    /// Whether the slot is blocked.
    pub blocked: bool,
    /// Seats in holds, lapsed ones included until a `HoldReleased` frees them.
    held: u32,
    /// Confirmed seats.
    confirmed: u32,
    /// The known per-booking entries (see the type's documentation).
    #[serde(skip)]
    bookings: BTreeMap<BookingId, BookingSeats>,
}

impl SlotState {
    /// The state after `events`, folded from scratch (every booking known).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a SlotEvent>) -> SlotState {
        let mut state = SlotState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Evolves the state by one event. Holds no rule, never fails, never panics; an event
    /// that does not fit the state (a change before scheduling, a release of seats the
    /// booking does not have) changes nothing. Seat counts follow the booking's entry: a
    /// `SeatsConfirmed` turns the booking's hold into confirmed seats, or confirms seats
    /// directly when it has no hold (a late payment taking free seats again).
    pub fn apply(&mut self, event: &SlotEvent) {
        match event {
            SlotEvent::SlotScheduled { spec } => self.spec = Some(spec.clone()),
            SlotEvent::SlotRescheduled {
                activity_id,
                starts_at,
                time_zone,
                cutoff,
            } => {
                if let Some(spec) = &mut self.spec {
                    spec.activity_id = activity_id.clone();
                    spec.starts_at = *starts_at;
                    spec.time_zone = *time_zone;
                    spec.cutoff = *cutoff;
                }
            }
            SlotEvent::CapacityChanged { capacity, .. } => {
                if let Some(spec) = &mut self.spec {
                    spec.capacity = *capacity;
                }
            }
            SlotEvent::RateChanged { price } => {
                if let Some(spec) = &mut self.spec {
                    spec.price = *price;
                }
            }
            SlotEvent::SlotBlocked { .. } => self.blocked = true,
            SlotEvent::SlotUnblocked { .. } => self.blocked = false,
            SlotEvent::SeatsHeld {
                booking_id,
                seats,
                hold_expires_at,
                ..
            } => {
                let hold = BookingSeats::Held {
                    seats: *seats,
                    expires_at: *hold_expires_at,
                };
                self.set(*booking_id, Some(hold));
            }
            SlotEvent::HoldReleased { booking_id, .. } => {
                if let Some(BookingSeats::Held { .. }) = self.bookings.get(booking_id) {
                    self.set(*booking_id, None);
                }
            }
            SlotEvent::SeatsConfirmed { booking_id, seats } => {
                let confirmed = BookingSeats::Confirmed { seats: *seats };
                self.set(*booking_id, Some(confirmed));
            }
            SlotEvent::SeatsReleased { booking_id, .. } => {
                if let Some(BookingSeats::Confirmed { .. }) = self.bookings.get(booking_id) {
                    self.set(*booking_id, None);
                }
            }
        }
    }

    /// Replaces a booking's entry, moving the counters with it.
    fn set(&mut self, booking_id: BookingId, entry: Option<BookingSeats>) {
        let old = match entry {
            Some(entry) => self.bookings.insert(booking_id, entry),
            None => self.bookings.remove(&booking_id),
        };
        match old {
            Some(BookingSeats::Held { seats, .. }) => self.held = self.held.saturating_sub(seats),
            Some(BookingSeats::Confirmed { seats }) => {
                self.confirmed = self.confirmed.saturating_sub(seats)
            }
            None => {}
        }
        match entry {
            Some(BookingSeats::Held { seats, .. }) => self.held = self.held.saturating_add(seats),
            Some(BookingSeats::Confirmed { seats }) => {
                self.confirmed = self.confirmed.saturating_add(seats)
            }
            None => {}
        }
    }

    /// The booking whose entry `event` changes (the seat events), if any.
    pub fn booking_of(event: &SlotEvent) -> Option<BookingId> {
        match event {
            SlotEvent::SeatsHeld { booking_id, .. }
            | SlotEvent::HoldReleased { booking_id, .. }
            | SlotEvent::SeatsConfirmed { booking_id, .. }
            | SlotEvent::SeatsReleased { booking_id, .. } => Some(*booking_id),
            _ => None,
        }
    }

    /// Adds an entry read from the `slot_holds` index to a state decoded from its snapshot
    /// (whose counters already count it). For the store's loader only.
    pub fn know(&mut self, booking_id: BookingId, seats: BookingSeats) {
        self.bookings.insert(booking_id, seats);
    }

    /// The known per-booking entries, by booking id.
    pub fn known(&self) -> &BTreeMap<BookingId, BookingSeats> {
        &self.bookings
    }

    /// The booking's seats here, if the state knows of any.
    pub fn seats_of(&self, booking_id: &BookingId) -> Option<BookingSeats> {
        self.bookings.get(booking_id).copied()
    }

    /// The known holds lapsed at `now`, oldest first (then by booking id), at most
    /// [`MAX_LAPSED_RELEASES`].
    pub fn lapsed(&self, now: DateTime<Utc>) -> Vec<(BookingId, u32)> {
        let mut lapsed: Vec<(DateTime<Utc>, BookingId, u32)> = self
            .bookings
            .iter()
            .filter_map(|(id, entry)| match entry {
                BookingSeats::Held { seats, expires_at } if *expires_at <= now => {
                    Some((*expires_at, *id, *seats))
                }
                _ => None,
            })
            .collect();
        lapsed.sort_unstable();
        lapsed.truncate(MAX_LAPSED_RELEASES);
        lapsed
            .into_iter()
            .map(|(_, id, seats)| (id, seats))
            .collect()
    }

    /// The capacity, 0 before scheduling.
    pub fn capacity(&self) -> u32 {
        self.spec.as_ref().map_or(0, |spec| spec.capacity)
    }

    /// Seats in holds, lapsed-but-unreleased ones included.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// Seats in holds still running at `now`: the known lapsed holds do not count. Exact
    /// when every lapsed hold is known (a state folded from its events, or a read model
    /// that loaded them all).
    pub fn held_at(&self, now: DateTime<Utc>) -> u32 {
        let lapsed = self
            .bookings
            .values()
            .filter(|entry| entry.lapsed_at(now))
            .map(BookingSeats::seats);
        self.held.saturating_sub(saturating_sum(lapsed))
    }

    /// Confirmed seats.
    pub fn confirmed(&self) -> u32 {
        self.confirmed
    }

    /// Seats free: capacity − held − confirmed, never below 0 (an oversold slot has 0).
    pub fn available(&self) -> u32 {
        self.capacity()
            .saturating_sub(self.held.saturating_add(self.confirmed))
    }

    /// Seats free at `now`, counting the known lapsed holds as free (see [`Self::held_at`]).
    pub fn available_at(&self, now: DateTime<Utc>) -> u32 {
        self.capacity()
            .saturating_sub(self.held_at(now).saturating_add(self.confirmed))
    }

    /// Seats held or confirmed above the capacity (after a capacity cut), else 0.
    pub fn oversold(&self) -> u32 {
        self.held
            .saturating_add(self.confirmed)
            .saturating_sub(self.capacity())
    }

    /// The instant booking closes; `None` before scheduling.
    pub fn bookable_until(&self) -> Option<DateTime<Utc>> {
        self.spec.as_ref().map(SlotSpec::bookable_until)
    }
}

fn saturating_sum(seats: impl Iterator<Item = u32>) -> u32 {
    seats.fold(0, u32::saturating_add)
}

/// A `Tz` as its IANA name.
pub(crate) mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Tz>()
            .map_err(|_| serde::de::Error::custom("time_zone must be an IANA time zone name"))
    }
}

#[cfg(test)]
mod tests;
