//! The invariants checked by folding a stream event by event: 1 on slot streams (seats
//! held + confirmed within capacity at every version, a flagged capacity cut excepted) and
//! 4 on booking streams (no payment approved after a terminal failure). Coupon and provider
//! streams are only chain-checked.

use std::collections::BTreeMap;

use ledger_core::domain::{payment_key, PaymentStatus};
use ledger_core::{
    BookingEvent, BookingState, Category, DomainEvent, RecordedEvent, SlotEvent, SlotState,
};

use crate::finding::{Finding, Invariant};

/// What one event did to the invariants: nothing to say, or a flagged fact.
pub(crate) type Step = Result<Option<Finding>, Finding>;

/// The invariant fold of one stream, chosen by its category.
pub(crate) enum Fold {
    Slot(SlotFold),
    Booking(BookingFold),
    /// Coupon and provider streams: nothing beyond the chain.
    ChainOnly,
}

impl Fold {
    pub(crate) fn for_category(category: Category) -> Fold {
        match category {
            Category::Slot => Fold::Slot(SlotFold::default()),
            Category::Booking => Fold::Booking(BookingFold::default()),
            Category::Coupon | Category::Provider | Category::Subject => Fold::ChainOnly,
        }
    }

    /// Applies the next event of the stream (its chain already checked).
    pub(crate) fn push(&mut self, event: &RecordedEvent) -> Step {
        match self {
            Fold::Slot(fold) => fold.push(event),
            Fold::Booking(fold) => fold.push(event),
            Fold::ChainOnly => Ok(None),
        }
    }
}

fn decode<E: DomainEvent>(event: &RecordedEvent, invariant: Invariant) -> Result<E, Finding> {
    E::decode(&event.event_type, event.schema_version, &event.payload).map_err(|e| {
        Finding::at(
            invariant,
            &event.stream_id,
            event.stream_version,
            format!(
                "the event does not decode ({e}), so invariant {} cannot be checked",
                invariant.number()
            ),
        )
    })
}

fn seats(n: u32) -> String {
    if n == 1 {
        "1 seat".to_owned()
    } else {
        format!("{n} seats")
    }
}

/// Invariant 1 on a slot stream. `tolerated` is the excess (seats taken above capacity)
/// that a recorded capacity cut explains; it can only shrink as seats are freed, so any
/// event that takes seats while the slot is over capacity is a breach.
#[derive(Default)]
pub(crate) struct SlotFold {
    state: SlotState,
    tolerated: u32,
}

impl SlotFold {
    fn push(&mut self, event: &RecordedEvent) -> Step {
        let slot_event: SlotEvent = decode(event, Invariant::SeatsWithinCapacity)?;
        self.state.apply(&slot_event);
        let taken = self.state.held().saturating_add(self.state.confirmed());
        let capacity = self.state.capacity();
        let excess = taken.saturating_sub(capacity);
        let at = |detail: String| {
            Finding::at(
                Invariant::SeatsWithinCapacity,
                &event.stream_id,
                event.stream_version,
                detail,
            )
        };
        if let SlotEvent::CapacityChanged { oversold, .. } = slot_event {
            if excess > oversold {
                return Err(at(format!(
                    "capacity cut to {capacity} below {} held and confirmed, \
                     but only {oversold} recorded as oversold",
                    seats(taken)
                )));
            }
            self.tolerated = excess;
            return Ok((oversold > 0).then(|| {
                at(format!(
                    "capacity cut to {capacity} with {} oversold \
                     (recorded and flagged, not a breach)",
                    seats(oversold)
                ))
            }));
        }
        if excess > self.tolerated {
            return Err(at(format!(
                "{} held and confirmed exceed the capacity of {capacity}",
                seats(taken)
            )));
        }
        self.tolerated = excess;
        Ok(None)
    }
}

/// Invariant 4 on a booking stream: every payment that was ever in a terminal failure
/// (rejected, cancelled, charged back), with the version where it got there.
#[derive(Default)]
pub(crate) struct BookingFold {
    state: BookingState,
    terminal: BTreeMap<String, (PaymentStatus, i64)>,
}

/// The payment an event is about, by its key in `BookingState::payments`.
fn payment_of(event: &BookingEvent) -> Option<String> {
    match event {
        BookingEvent::PaymentPending {
            provider,
            payment_id,
            ..
        }
        | BookingEvent::PaymentApproved {
            provider,
            payment_id,
            ..
        }
        | BookingEvent::PaymentRejected {
            provider,
            payment_id,
            ..
        }
        | BookingEvent::PaymentRefunded {
            provider,
            payment_id,
            ..
        }
        | BookingEvent::PaymentChargedBack {
            provider,
            payment_id,
            ..
        } => Some(payment_key(*provider, payment_id)),
        _ => None,
    }
}

impl BookingFold {
    fn push(&mut self, event: &RecordedEvent) -> Step {
        let booking_event: BookingEvent = decode(event, Invariant::TerminalNeverApproved)?;
        let Some(key) = payment_of(&booking_event) else {
            self.state.apply(&booking_event);
            return Ok(None);
        };
        if let BookingEvent::PaymentApproved { .. } = booking_event {
            if let Some((status, version)) = self.terminal.get(&key) {
                return Err(Finding::at(
                    Invariant::TerminalNeverApproved,
                    &event.stream_id,
                    event.stream_version,
                    format!("payment {key} was {status} at version {version} and is approved here"),
                ));
            }
        }
        self.state.apply(&booking_event);
        let status = self.state.payments.get(&key).map(|record| record.status);
        if let Some(status) = status.filter(PaymentStatus::is_terminal) {
            self.terminal
                .entry(key)
                .or_insert((status, event.stream_version));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
