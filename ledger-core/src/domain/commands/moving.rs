//! Moving a booking's seats between slots ([`MoveBooking`], API.md `POST
//! /v1/bookings/{id}/move`): every slot of the move is locked (sorted, with the booking),
//! and either every item moves or nothing does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::domain::booking::{BookingEvent, BookingItem, BookingStatus};
use crate::domain::decision::{Decide, Decision, Fact, Needs, World};
use crate::domain::place::MAX_ITEMS;
use crate::domain::rejection::Rejection;
use crate::domain::slot::{without_lapsed, BookingSeats, ReleaseReason, SlotEvent, SlotState};
use crate::ids::{BookingId, SlotId};

/// One item of a move: seats from one of the booking's slots to another slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveItem {
    pub from: SlotId,
    pub to: SlotId,
    /// `None`: all of the booking's seats on `from`.
    pub seats: Option<u32>,
}

/// `POST /v1/bookings/{id}/move`. The owner may move a held, partially paid or paid
/// booking while both slots are bookable (before their cutoffs); an operator any time.
/// The slot moved to must be scheduled, not blocked, of the same activity and sell at the
/// booking's unit price (`price_differs`; an operator may keep the booking's price with
/// `keep_price`), with room for the seats after its lapsed holds are released. Held seats
/// keep their hold's expiry; confirmed seats stay confirmed; the total, the discount and
/// the coupon claim do not change. Output: `Ok` with the facts appended, or the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveBooking {
    pub booking_id: BookingId,
    pub moves: Vec<MoveItem>,
    /// Who moves (`sub`).
    pub by: String,
    pub operator: bool,
    pub keep_price: bool,
}

impl Decide for MoveBooking {
    type Output = Result<(), Rejection>;

    fn needs(&self) -> Needs {
        let slots = self
            .moves
            .iter()
            .flat_map(|m| [m.from.clone(), m.to.clone()])
            .collect();
        Needs {
            slots,
            bookings: BTreeSet::from([self.booking_id]),
            ..Needs::default()
        }
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<Self::Output> {
        match self.plan(world, now) {
            Ok(facts) => Decision {
                facts,
                output: Ok(()),
            },
            Err(rejection) => Decision::only(Err(rejection)),
        }
    }
}

fn not_movable(detail: impl Into<String>) -> Rejection {
    Rejection::NotMovable(detail.into())
}

/// Seats by slot, with the booking's item they come from.
type Flows<'a> = BTreeMap<&'a SlotId, (u32, &'a BookingItem)>;

impl MoveBooking {
    /// The facts of the move, or why it is refused: who may move it and in which status,
    /// the seats leaving and arriving, the slots moved into, then the events.
    fn plan(&self, world: &World, now: DateTime<Utc>) -> Result<Vec<Fact>, Rejection> {
        let id = self.booking_id;
        let booking = world.booking(&id);
        let placed = booking.placed.as_ref().ok_or(Rejection::BookingNotFound)?;
        if !self.operator && placed.customer != self.by {
            return Err(Rejection::NotOwner);
        }
        let status = booking.status_at(now).unwrap_or(booking.status);
        if !matches!(
            status,
            BookingStatus::Held | BookingStatus::PartiallyPaid | BookingStatus::Paid
        ) {
            return Err(not_movable(format!(
                "a booking in status {status} cannot be moved"
            )));
        }
        let (leaving, arriving) = self.flows(&placed.items)?;
        let mut facts = Vec::new();
        for from in leaving.keys() {
            self.before_cutoff(world.slot(from), now)?;
        }
        for (to, (seats, item)) in &arriving {
            let released = self.room_on(world, to, *seats, item, now)?;
            facts.extend(released.into_iter().map(|e| Fact::Slot((*to).clone(), e)));
        }
        for (from, (seats, item)) in &leaving {
            facts.push(Fact::Slot(
                (*from).clone(),
                left_on(world, id, from, *seats, item)?,
            ));
        }
        let confirmed = status == BookingStatus::Paid;
        for (to, (seats, item)) in &arriving {
            let there = world.slot(to).seats_of(&id).map_or(0, |e| e.seats());
            let total = there.saturating_add(*seats);
            let event = if confirmed {
                SlotEvent::SeatsConfirmed {
                    booking_id: id,
                    seats: total,
                }
            } else {
                SlotEvent::SeatsHeld {
                    booking_id: id,
                    seats: total,
                    unit_price: item.unit_price,
                    hold_expires_at: placed.hold_expires_at,
                }
            };
            facts.push(Fact::Slot((*to).clone(), event));
        }
        facts.push(Fact::Booking(
            id,
            BookingEvent::BookingMoved {
                by: self.by.clone(),
                from: placed.items.clone(),
                items: moved_items(&placed.items, &leaving, &arriving)?,
            },
        ));
        Ok(facts)
    }

    /// Seats leaving each slot and arriving on each, checked against the booking's items.
    fn flows<'a>(&'a self, items: &'a [BookingItem]) -> Result<(Flows<'a>, Flows<'a>), Rejection> {
        if self.moves.is_empty() || self.moves.len() > MAX_ITEMS {
            return Err(Rejection::InvalidSeats(format!(
                "a move has 1 to {MAX_ITEMS} items"
            )));
        }
        let mut leaving: Flows<'a> = BTreeMap::new();
        let mut arriving: Flows<'a> = BTreeMap::new();
        for m in &self.moves {
            if m.from == m.to {
                return Err(Rejection::InvalidSeats(format!(
                    "slot {} is moved to itself",
                    m.from
                )));
            }
            let item = items
                .iter()
                .find(|i| i.slot_id == m.from)
                .ok_or_else(|| not_movable(format!("the booking has no seats on {}", m.from)))?;
            let seats = m.seats.unwrap_or(item.seats);
            if seats == 0 {
                return Err(Rejection::InvalidSeats("seats must be 1 or more".into()));
            }
            let out = leaving.entry(&m.from).or_insert((0, item));
            out.0 = out.0.saturating_add(seats);
            if out.0 > item.seats {
                return Err(not_movable(format!(
                    "the booking has {} seat(s) on {}",
                    item.seats, m.from
                )));
            }
            let into = arriving.entry(&m.to).or_insert((0, item));
            if into.1.unit_price != item.unit_price {
                return Err(Rejection::PriceDiffers(format!(
                    "seats of different prices cannot move into {} together",
                    m.to
                )));
            }
            into.0 = into.0.saturating_add(seats);
        }
        if arriving.keys().any(|to| leaving.contains_key(to)) {
            return Err(Rejection::InvalidSeats(
                "a slot cannot be both left and moved into".into(),
            ));
        }
        Ok((leaving, arriving))
    }

    /// The owner moves only while the slot is bookable; an operator any time.
    fn before_cutoff(&self, slot: &SlotState, now: DateTime<Utc>) -> Result<(), Rejection> {
        match slot.bookable_until() {
            Some(until) if !self.operator && now >= until => Err(Rejection::CutoffPassed {
                bookable_until: until,
            }),
            _ => Ok(()),
        }
    }

    /// Whether `seats` from `item` may move into slot `to`: scheduled, not blocked, before
    /// its cutoff, of the same activity, at the booking's price (unless an operator keeps
    /// it), with room once its lapsed holds are released. Returns those releases.
    fn room_on(
        &self,
        world: &World,
        to: &SlotId,
        seats: u32,
        item: &BookingItem,
        now: DateTime<Utc>,
    ) -> Result<Vec<SlotEvent>, Rejection> {
        let slot = world.slot(to);
        let spec = slot.spec.as_ref().ok_or(Rejection::SlotNotFound)?;
        if slot.blocked {
            return Err(Rejection::SlotBlocked);
        }
        self.before_cutoff(slot, now)?;
        let from_activity = world
            .slot(&item.slot_id)
            .spec
            .as_ref()
            .map(|s| &s.activity_id);
        if from_activity != Some(&spec.activity_id) {
            return Err(Rejection::PriceDiffers(format!(
                "{to} is a departure of another activity"
            )));
        }
        if spec.price != item.unit_price && !(self.operator && self.keep_price) {
            return Err(Rejection::PriceDiffers(format!(
                "{to} sells at another unit price than the booking's"
            )));
        }
        let (released, after) = without_lapsed(slot, now);
        let available = after.available_at(now);
        if available < seats {
            return Err(Rejection::SoldOut {
                slot_id: to.clone(),
                available,
            });
        }
        Ok(released)
    }
}

/// The event of slot `from` once `seats` of the booking left it: what stays there, held or
/// confirmed as before, or the release of all of them.
fn left_on(
    world: &World,
    id: BookingId,
    from: &SlotId,
    seats: u32,
    item: &BookingItem,
) -> Result<SlotEvent, Rejection> {
    let entry = world
        .slot(from)
        .seats_of(&id)
        .ok_or_else(|| not_movable(format!("the booking holds no seats on {from}")))?;
    let left = entry.seats().saturating_sub(seats);
    Ok(match (entry, left) {
        (BookingSeats::Held { seats, .. }, 0) => SlotEvent::HoldReleased {
            booking_id: id,
            seats,
            reason: ReleaseReason::Moved,
        },
        (BookingSeats::Confirmed { seats }, 0) => SlotEvent::SeatsReleased {
            booking_id: id,
            seats,
            reason: ReleaseReason::Moved,
        },
        (BookingSeats::Held { expires_at, .. }, left) => SlotEvent::SeatsHeld {
            booking_id: id,
            seats: left,
            unit_price: item.unit_price,
            hold_expires_at: expires_at,
        },
        (BookingSeats::Confirmed { .. }, left) => SlotEvent::SeatsConfirmed {
            booking_id: id,
            seats: left,
        },
    })
}

/// The booking's items after the move: fewer seats where they left, more (or a new item,
/// at the booking's unit price) where they arrived.
fn moved_items(
    items: &[BookingItem],
    leaving: &Flows<'_>,
    arriving: &Flows<'_>,
) -> Result<Vec<BookingItem>, Rejection> {
    let mut after: Vec<BookingItem> = items
        .iter()
        .filter_map(|i| {
            let gone = leaving.get(&i.slot_id).map_or(0, |(seats, _)| *seats);
            let left = i.seats.saturating_sub(gone);
            (left > 0).then(|| BookingItem {
                seats: left,
                ..i.clone()
            })
        })
        .collect();
    for (to, (seats, item)) in arriving {
        match after.iter_mut().find(|i| i.slot_id == **to) {
            Some(existing) if existing.unit_price == item.unit_price => {
                existing.seats = existing.seats.saturating_add(*seats)
            }
            Some(_) => {
                return Err(Rejection::PriceDiffers(format!(
                    "the booking already has seats on {to} at another price"
                )))
            }
            None => after.push(BookingItem {
                slot_id: (*to).clone(),
                seats: *seats,
                unit_price: item.unit_price,
            }),
        }
    }
    Ok(after)
}
