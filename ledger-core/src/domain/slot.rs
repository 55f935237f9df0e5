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

pub use decide::{block_slot, release_expired_holds, release_hold, schedule_slot, unblock_slot};

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

/// Seats held for one booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// How many seats.
    pub seats: u32,
    /// The price of each, fixed when held.
    pub unit_price: Money,
    /// When the hold lapses unless paid.
    pub expires_at: DateTime<Utc>,
}

/// What decisions about one slot need to know; also the stored snapshot (its serde JSON).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotState {
    /// The definition; `None` until scheduled.
    pub spec: Option<SlotSpec>,
    /// Whether the slot is blocked.
    pub blocked: bool,
    /// Holds by booking (expired ones stay until a `HoldReleased` removes them).
    pub holds: BTreeMap<BookingId, Hold>,
    /// Confirmed seats by booking.
    pub confirmed: BTreeMap<BookingId, u32>,
}

impl SlotState {
    /// The state after `events`, folded from scratch.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a SlotEvent>) -> SlotState {
        let mut state = SlotState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Evolves the state by one event. Holds no rule, never fails, never panics; an event
    /// that does not fit the state (a change before scheduling) changes nothing.
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
                unit_price,
                hold_expires_at,
            } => {
                let hold = Hold {
                    seats: *seats,
                    unit_price: *unit_price,
                    expires_at: *hold_expires_at,
                };
                self.holds.insert(*booking_id, hold);
            }
            SlotEvent::HoldReleased { booking_id, .. } => {
                self.holds.remove(booking_id);
            }
            SlotEvent::SeatsConfirmed { booking_id, seats } => {
                self.holds.remove(booking_id);
                self.confirmed.insert(*booking_id, *seats);
            }
            SlotEvent::SeatsReleased { booking_id, .. } => {
                self.confirmed.remove(booking_id);
            }
        }
    }

    /// The capacity, 0 before scheduling.
    pub fn capacity(&self) -> u32 {
        self.spec.as_ref().map_or(0, |spec| spec.capacity)
    }

    /// Seats in holds, expired-but-unreleased ones included (saturating).
    pub fn held(&self) -> u32 {
        saturating_sum(self.holds.values().map(|hold| hold.seats))
    }

    /// Seats in holds that are still running at `now` (`expires_at > now`).
    pub fn held_at(&self, now: DateTime<Utc>) -> u32 {
        let live = self.holds.values().filter(|hold| hold.expires_at > now);
        saturating_sum(live.map(|hold| hold.seats))
    }

    /// Confirmed seats (saturating).
    pub fn confirmed(&self) -> u32 {
        saturating_sum(self.confirmed.values().copied())
    }

    /// Seats free: capacity − held − confirmed, never below 0 (an oversold slot has 0).
    pub fn available(&self) -> u32 {
        self.capacity()
            .saturating_sub(self.held().saturating_add(self.confirmed()))
    }

    /// Seats free at `now`, counting holds that expired by then as free.
    pub fn available_at(&self, now: DateTime<Utc>) -> u32 {
        self.capacity()
            .saturating_sub(self.held_at(now).saturating_add(self.confirmed()))
    }

    /// Seats held or confirmed above the capacity (after a capacity cut), else 0.
    pub fn oversold(&self) -> u32 {
        self.held()
            .saturating_add(self.confirmed())
            .saturating_sub(self.capacity())
    }

    /// When the earliest hold lapses, for the expiry sweeper.
    pub fn next_hold_expiry(&self) -> Option<DateTime<Utc>> {
        self.holds.values().map(|hold| hold.expires_at).min()
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
