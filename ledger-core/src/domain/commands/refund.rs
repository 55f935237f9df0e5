//! Recording a refund the providers accepted ([`RequestRefund`]; also part of an operator's
//! cancel of a paid booking, `CancelBooking::refund`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::domain::booking::{BookingEvent, BookingState, RefundPart, RefundRefusal};
use crate::domain::decision::{Decide, Decision, Fact, Needs, World};
use crate::domain::payment::payment_key;
use crate::ids::BookingId;
use crate::money::Money;
use crate::personal::Sealed;

/// A refund the providers accepted, before any lock (the parts of
/// [`crate::domain::plan_refund`] with the providers' refund ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRefund {
    /// The refund's id (UUID v7).
    pub refund_id: String,
    /// Who asked (`sub`).
    pub by: String,
    pub parts: Vec<RefundPart>,
    /// Keep the seats when the refund is full.
    pub keep_seats: bool,
    /// The reason, sealed with the customer's data key, and that key's id.
    pub reason: Option<(Sealed, String)>,
}

impl AcceptedRefund {
    /// `RefundRequested` with the parts `booking` has not recorded yet (a part is recorded
    /// once its payment's requested refunds reach the part's `through`); `None` when every
    /// part is (a concurrent request planned on the same state and the provider refunded
    /// once, under the same keys).
    pub fn event(&self, booking: &BookingState) -> Option<BookingEvent> {
        let parts: Vec<RefundPart> = self
            .parts
            .iter()
            .filter(|part| {
                let key = payment_key(part.provider, &part.payment_id);
                let asked = booking
                    .payments
                    .get(&key)
                    .and_then(|r| r.refund_requested)
                    .map_or(0, |m| m.minor());
                part.through.minor() > asked
            })
            .cloned()
            .collect();
        let first = parts.first()?;
        let minor: i64 = parts.iter().map(|p| p.amount.minor()).sum();
        let amount = Money::new(minor, first.amount.currency()).ok()?;
        Some(BookingEvent::RefundRequested {
            refund_id: self.refund_id.clone(),
            by: self.by.clone(),
            amount,
            parts,
            keep_seats: self.keep_seats,
            reason: self.reason.as_ref().map(|(sealed, _)| sealed.clone()),
            data_key: self.reason.as_ref().map(|(_, kid)| kid.clone()),
        })
    }
}

/// `POST /v1/bookings/{id}/refunds`: records the accepted refund under the booking's lock.
/// Output: the parts recorded, or why nothing was (the refusal found before the provider
/// calls, or every part already recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefund {
    pub booking_id: BookingId,
    pub accepted: Result<AcceptedRefund, RefundRefusal>,
}

impl Decide for RequestRefund {
    type Output = Result<Vec<RefundPart>, RefundRefusal>;

    fn needs(&self) -> Needs {
        Needs {
            bookings: BTreeSet::from([self.booking_id]),
            ..Needs::default()
        }
    }

    fn decide(&self, world: &World, _now: DateTime<Utc>) -> Decision<Self::Output> {
        let accepted = match &self.accepted {
            Ok(accepted) => accepted,
            Err(refusal) => return Decision::only(Err(refusal.clone())),
        };
        match accepted.event(world.booking(&self.booking_id)) {
            Some(event) => {
                let parts = match &event {
                    BookingEvent::RefundRequested { parts, .. } => parts.clone(),
                    _ => Vec::new(),
                };
                Decision {
                    facts: vec![Fact::Booking(self.booking_id, event)],
                    output: Ok(parts),
                }
            }
            None => Decision::only(Err(RefundRefusal::AlreadyRequested)),
        }
    }
}
