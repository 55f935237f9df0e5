//! Every command of the ledger as a [`Decide`]: what it needs and its decision over the
//! streams it touches — placing a booking (`place::PlaceBooking`), cancelling, expiring and
//! paying one, a provider delivery recorded in its ingest log ([`Receive`]), catalog
//! changes of a slot ([`ChangeSlot`]), issuing a coupon, recording a payment request, and
//! reading a booking under its lock ([`ReadBooking`]). Each composes the per-stream decide
//! functions of `domain`; none holds a rule of its own beyond that composition.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::domain::booking::{cancel_booking, expire_booking, BookingEvent, PlacedBooking};
use crate::domain::coupon::{issue_coupon, release_claim, CouponCode, CouponSpec};
use crate::domain::decision::{Decide, Decision, Fact, Needs, World};
use crate::domain::payment::{
    apply_payment, payable, PaymentDecision, PaymentOutcome, PaymentReport, Provider,
};
use crate::domain::place::{place_booking, validate_items, PlaceBooking};
use crate::domain::pricing::Quote;
use crate::domain::rejection::Rejection;
use crate::domain::slot::{
    block_slot, release_hold, schedule_slot, unblock_slot, without_lapsed, ReleaseReason,
    SlotEvent, SlotSpec,
};
use crate::ids::{BookingId, SlotId, StreamId};
use crate::money::Money;
use crate::personal::Sealed;
use crate::provider_log::{IngestOutcome, ProviderEventReceived};

mod moving;
mod refund;
pub use moving::{MoveBooking, MoveItem};
pub use refund::{AcceptedRefund, RequestRefund};

impl Decide for PlaceBooking {
    type Output = Result<Quote, Rejection>;

    fn needs(&self) -> Needs {
        // Items refused whatever the slots hold (too many, a slot twice, no seats) need
        // nothing locked: the decision refuses them before it looks at a slot, and a
        // request naming a thousand slots must not lock them first.
        if validate_items(&self.items).is_err() {
            return Needs {
                new_booking: Some(self.booking_id),
                ..Needs::default()
            };
        }
        Needs {
            slots: self.items.iter().map(|(slot, _)| slot.clone()).collect(),
            new_booking: Some(self.booking_id),
            coupons: self.coupon.iter().cloned().collect(),
            customer: self.coupon.as_ref().map(|_| self.customer.clone()),
            ..Needs::default()
        }
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<Self::Output> {
        let coupon = self.coupon.as_ref().and_then(|code| world.coupon(code));
        let decided = place_booking(self, &world.slots, coupon, now);
        let mut facts = slot_facts(decided.slot_events);
        let booking = decided.booking_events.into_iter();
        facts.extend(booking.map(|e| Fact::Booking(self.booking_id, e)));
        if let Some(code) = &self.coupon {
            let coupon = decided.coupon_events.into_iter();
            facts.extend(coupon.map(|e| Fact::Coupon(code.clone(), e)));
        }
        Decision {
            facts,
            output: decided.outcome,
        }
    }
}

fn slot_facts(events: impl IntoIterator<Item = (SlotId, Vec<SlotEvent>)>) -> Vec<Fact> {
    events
        .into_iter()
        .flat_map(|(slot, list)| list.into_iter().map(move |e| Fact::Slot(slot.clone(), e)))
        .collect()
}

/// The streams of an existing booking: itself, its slots and its coupon, read before the
/// lock. Its slots change only by a move: a command planned on the slots before a move is
/// stale ([`BookingStreams::stale`]) and is planned again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingStreams {
    pub booking_id: BookingId,
    pub slots: BTreeSet<SlotId>,
    pub coupon: Option<CouponCode>,
}

impl BookingStreams {
    /// The streams of the booking `placed`.
    pub fn of(booking_id: BookingId, placed: &PlacedBooking) -> BookingStreams {
        BookingStreams {
            booking_id,
            slots: placed.items.iter().map(|i| i.slot_id.clone()).collect(),
            coupon: placed.coupon_code.clone(),
        }
    }

    fn needs(&self) -> Needs {
        Needs {
            slots: self.slots.clone(),
            bookings: BTreeSet::from([self.booking_id]),
            coupons: self.coupon.iter().cloned().collect(),
            ..Needs::default()
        }
    }

    /// Whether the booking's slots (locked) are no longer these: it moved after they were
    /// read (`BookingMoved`).
    pub fn stale(&self, world: &World) -> Option<String> {
        let placed = world.booking(&self.booking_id).placed.as_ref()?;
        let now: BTreeSet<&SlotId> = placed.items.iter().map(|i| &i.slot_id).collect();
        (now != self.slots.iter().collect::<BTreeSet<_>>())
            .then(|| format!("booking {} moved to other slots", self.booking_id))
    }

    /// The claim release on the booking's coupon, if it has one.
    fn release_coupon(&self, world: &World, reason: ReleaseReason) -> Vec<Fact> {
        let Some(code) = &self.coupon else {
            return Vec::new();
        };
        let Some(state) = world.coupon(code) else {
            return Vec::new();
        };
        release_claim(state, self.booking_id, reason)
            .into_iter()
            .map(|e| Fact::Coupon(code.clone(), e))
            .collect()
    }
}

/// `POST /v1/bookings/{id}/cancel`: the owner before payment, an operator any time (the
/// rules of [`cancel_booking`]). Every slot first releases its lapsed holds, then the
/// booking's seats; the coupon claim goes back. A refusal appends nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelBooking {
    pub streams: BookingStreams,
    /// Who cancels (`sub`).
    pub by: String,
    /// Whether they act as an operator.
    pub operator: bool,
    /// The full refund the providers accepted for a paid booking an operator cancels,
    /// recorded after `BookingCancelled`.
    pub refund: Option<AcceptedRefund>,
}

impl Decide for CancelBooking {
    type Output = Result<(), Rejection>;

    fn needs(&self) -> Needs {
        self.streams.needs()
    }

    fn stale(&self, world: &World) -> Option<String> {
        self.streams.stale(world)
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<Self::Output> {
        let id = self.streams.booking_id;
        let booking = world.booking(&id);
        let cancelled = match cancel_booking(booking, &self.by, self.operator, now) {
            Ok(events) => events,
            Err(rejection) => return Decision::only(Err(rejection)),
        };
        let mut facts = Vec::new();
        for slot_id in &self.streams.slots {
            let (mut events, after) = without_lapsed(world.slot(slot_id), now);
            events.extend(release_hold(&after, id, ReleaseReason::Cancelled));
            facts.extend(events.into_iter().map(|e| Fact::Slot(slot_id.clone(), e)));
        }
        facts.extend(self.streams.release_coupon(world, ReleaseReason::Cancelled));
        facts.extend(cancelled.into_iter().map(|e| Fact::Booking(id, e)));
        if let Some(event) = self.refund.as_ref().and_then(|r| r.event(booking)) {
            facts.push(Fact::Booking(id, event));
        }
        Decision {
            facts,
            output: Ok(()),
        }
    }
}

/// The expiry sweeper on one booking: `BookingExpired` once its hold lapsed unpaid (the
/// rules of [`expire_booking`]), its hold released on every slot and its claim given back.
/// Output: whether it expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireBooking {
    pub streams: BookingStreams,
}

impl Decide for ExpireBooking {
    type Output = bool;

    fn needs(&self) -> Needs {
        self.streams.needs()
    }

    fn stale(&self, world: &World) -> Option<String> {
        self.streams.stale(world)
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<bool> {
        let id = self.streams.booking_id;
        let expired = expire_booking(world.booking(&id), now);
        if expired.is_empty() {
            return Decision::only(false);
        }
        let mut facts = Vec::new();
        for slot_id in &self.streams.slots {
            let released = release_hold(world.slot(slot_id), id, ReleaseReason::Expired);
            facts.extend(released.into_iter().map(|e| Fact::Slot(slot_id.clone(), e)));
        }
        facts.extend(self.streams.release_coupon(world, ReleaseReason::Expired));
        facts.extend(expired.into_iter().map(|e| Fact::Booking(id, e)));
        Decision {
            facts,
            output: true,
        }
    }
}

/// A verified payment report applied to its booking ([`apply_payment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayBooking {
    pub streams: BookingStreams,
    pub report: PaymentReport,
}

impl Decide for PayBooking {
    type Output = PaymentOutcome;

    fn needs(&self) -> Needs {
        self.streams.needs()
    }

    fn stale(&self, world: &World) -> Option<String> {
        self.streams.stale(world)
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<PaymentOutcome> {
        let id = self.streams.booking_id;
        let coupon = self.streams.coupon.as_ref().and_then(|c| world.coupon(c));
        let PaymentDecision {
            booking_events,
            slot_events,
            coupon_events,
            outcome,
        } = apply_payment(world.booking(&id), &world.slots, coupon, &self.report, now);
        let mut facts = slot_facts(slot_events);
        if let Some(code) = &self.streams.coupon {
            let coupon = coupon_events.into_iter();
            facts.extend(coupon.map(|e| Fact::Coupon(code.clone(), e)));
        }
        facts.extend(booking_events.into_iter().map(|e| Fact::Booking(id, e)));
        Decision {
            facts,
            output: outcome,
        }
    }
}

/// A decision whose output says whether a provider delivery changed anything.
pub trait Ingested: Decide {
    /// `Applied` when the delivery changed (or confirmed) ledger state, else `Ignored`.
    fn ingest_outcome(output: &Self::Output) -> IngestOutcome;
}

impl Ingested for PayBooking {
    fn ingest_outcome(output: &PaymentOutcome) -> IngestOutcome {
        match output {
            PaymentOutcome::UnknownBooking => IngestOutcome::Ignored,
            _ => IngestOutcome::Applied,
        }
    }
}

impl Ingested for ChangeSlot {
    fn ingest_outcome(output: &Result<(), Rejection>) -> IngestOutcome {
        match output {
            Ok(()) => IngestOutcome::Applied,
            Err(_) => IngestOutcome::Ignored,
        }
    }
}

/// A verified provider delivery: `ProviderEventReceived` on its log stream, first, with the
/// outcome of `change` (when there is one) and its facts after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Receive<D> {
    /// `provider-<name>-<shard>` (see [`crate::provider_log::log_stream`]).
    pub log: StreamId,
    /// The record; its `outcome` is set by the decision.
    pub record: ProviderEventReceived,
    pub change: Option<D>,
}

impl<D: Ingested> Decide for Receive<D> {
    type Output = IngestOutcome;

    fn needs(&self) -> Needs {
        let mut needs = self.change.as_ref().map(Decide::needs).unwrap_or_default();
        needs.log = Some(self.log.clone());
        needs
    }

    fn stale(&self, world: &World) -> Option<String> {
        self.change.as_ref().and_then(|change| change.stale(world))
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<IngestOutcome> {
        let (facts, outcome) = match &self.change {
            Some(change) => {
                let decided = change.decide(world, now);
                (decided.facts, D::ingest_outcome(&decided.output))
            }
            None => (Vec::new(), IngestOutcome::Ignored),
        };
        let record = ProviderEventReceived {
            outcome,
            ..self.record.clone()
        };
        let mut all = vec![Fact::Received(self.log.clone(), record)];
        all.extend(facts);
        Decision {
            facts: all,
            output: outcome,
        }
    }
}

/// A catalog change of one slot, from an operator or the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChange {
    /// Schedule the slot, or update it to this definition ([`schedule_slot`]).
    Schedule(SlotSpec),
    /// Only the capacity, on the scheduled definition.
    Capacity(u32),
    /// Only the price, on the scheduled definition.
    Rate(Money),
    Block(String),
    Unblock(String),
}

/// A [`SlotChange`] on `slot_id`. The slot's lapsed holds are released first
/// (write-on-read), and those releases are kept when the change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSlot {
    pub slot_id: SlotId,
    pub change: SlotChange,
}

impl Decide for ChangeSlot {
    type Output = Result<(), Rejection>;

    fn needs(&self) -> Needs {
        Needs {
            slots: BTreeSet::from([self.slot_id.clone()]),
            ..Needs::default()
        }
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<Self::Output> {
        let slot = world.slot(&self.slot_id);
        let (mut events, released) = without_lapsed(slot, now);
        let spec = || released.spec.clone().ok_or(Rejection::SlotNotFound);
        let changed = match &self.change {
            SlotChange::Schedule(spec) => schedule_slot(&released, spec.clone()),
            SlotChange::Capacity(capacity) => spec().and_then(|spec| {
                let capacity = *capacity;
                schedule_slot(&released, SlotSpec { capacity, ..spec })
            }),
            SlotChange::Rate(price) => spec().and_then(|spec| {
                let price = *price;
                schedule_slot(&released, SlotSpec { price, ..spec })
            }),
            SlotChange::Block(reason) => block_slot(&released, reason.clone()),
            SlotChange::Unblock(reason) => unblock_slot(&released, reason.clone()),
        };
        let output = changed.map(|more| events.extend(more));
        let facts = events
            .into_iter()
            .map(|e| Fact::Slot(self.slot_id.clone(), e))
            .collect();
        Decision { facts, output }
    }
}

/// `POST /v1/coupons` ([`issue_coupon`]). Output: whether it was issued now (`false`: the
/// same definition was issued before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCoupon {
    pub spec: CouponSpec,
}

impl Decide for IssueCoupon {
    type Output = Result<bool, Rejection>;

    fn needs(&self) -> Needs {
        Needs {
            coupons: BTreeSet::from([self.spec.code.clone()]),
            ..Needs::default()
        }
    }

    fn decide(&self, world: &World, _now: DateTime<Utc>) -> Decision<Self::Output> {
        let code = &self.spec.code;
        let state = world.coupon(code).cloned().unwrap_or_default();
        match issue_coupon(&state, self.spec.clone()) {
            Ok(events) => Decision {
                output: Ok(!events.is_empty()),
                facts: events
                    .into_iter()
                    .map(|e| Fact::Coupon(code.clone(), e))
                    .collect(),
            },
            Err(rejection) => Decision::only(Err(rejection)),
        }
    }
}

/// The provider object a payment request created (before any lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedObject {
    pub provider: Provider,
    pub amount: Money,
    /// The provider's id of the object.
    pub reference: String,
    /// The idempotency key sent to the provider.
    pub idempotency_key: String,
    /// The payer's data sealed with the customer's key, and that key's id.
    pub payer: Option<(Sealed, String)>,
}

/// Records `PaymentRequested` when the booking is still payable under its lock. Output:
/// whether it was recorded (`false`: not payable, or no object was created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPayment {
    pub booking_id: BookingId,
    /// `None` when the booking was not payable before the lock (no provider call).
    pub requested: Option<RequestedObject>,
}

impl Decide for RequestPayment {
    type Output = bool;

    fn needs(&self) -> Needs {
        Needs {
            bookings: BTreeSet::from([self.booking_id]),
            ..Needs::default()
        }
    }

    fn decide(&self, world: &World, now: DateTime<Utc>) -> Decision<bool> {
        let Some(object) = &self.requested else {
            return Decision::only(false);
        };
        if !payable(world.booking(&self.booking_id), now) || object.amount.is_zero() {
            return Decision::only(false);
        }
        let event = BookingEvent::PaymentRequested {
            provider: object.provider,
            amount: object.amount,
            provider_reference: object.reference.clone(),
            idempotency_key: object.idempotency_key.clone(),
            payer: object.payer.as_ref().map(|(sealed, _)| sealed.clone()),
            data_key: object.payer.as_ref().map(|(_, kid)| kid.clone()),
        };
        Decision {
            facts: vec![Fact::Booking(self.booking_id, event)],
            output: true,
        }
    }
}

/// Reads a booking under its lock and appends nothing: a command whose answer (stored
/// under its idempotency key) is the booking as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBooking {
    pub booking_id: BookingId,
}

impl Decide for ReadBooking {
    type Output = ();

    fn needs(&self) -> Needs {
        Needs {
            bookings: BTreeSet::from([self.booking_id]),
            ..Needs::default()
        }
    }

    fn decide(&self, _world: &World, _now: DateTime<Utc>) -> Decision<()> {
        Decision::only(())
    }
}

#[cfg(test)]
mod tests;
