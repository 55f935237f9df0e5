//! The payment step of the property test and the payment invariants. On every report: the
//! decision never panics, `PaymentNotified` comes first whenever anything is written, an
//! unchanged or anomalous report moves no payment and no status, a payment in a terminal
//! state (invariant 4: rejected, cancelled; and charged back) never moves again, and
//! `BookingPaid` is written only when the counted sum equals the total. After every step:
//! a booking has confirmed seats — exactly its items' — on a slot if and only if it is
//! paid, and a paid booking's coupon claim is confirmed.

use super::ops::Amount;
use super::*;
use crate::domain::payment::{
    apply_payment, PaymentOutcome, PaymentReport, PaymentSource, Provider, ReportedStatus,
};
use crate::domain::slot::BookingSeats;

impl World {
    pub(super) fn pay(
        &mut self,
        booking: usize,
        provider: usize,
        payment: usize,
        status: ReportedStatus,
        amount: Amount,
        reconciled: bool,
    ) {
        let Some((id, stream)) = self.pick(booking) else {
            return;
        };
        let Some(placed) = stream.state.placed.clone() else {
            return;
        };
        let report = PaymentReport {
            provider: Provider::ALL[provider],
            payment_id: format!("p{payment}"),
            status,
            amount: resolve(amount, placed.total),
            source: if reconciled {
                PaymentSource::Reconciliation
            } else {
                PaymentSource::Webhook
            },
            provider_event_id: format!("evt-{}", self.now.timestamp()),
        };
        let coupon = placed.coupon_code.is_some().then_some(&self.coupon.state);
        let before = stream.state;
        let decision = apply_payment(&before, &self.slot_states(), coupon, &report, self.now);
        for (slot, events) in &decision.slot_events {
            assert!(self.slots.contains_key(slot), "{slot}");
            self.append_slot(slot, events);
        }
        self.coupon.append(&decision.coupon_events);
        let Some((_, stream)) = self.bookings.iter_mut().find(|(b, _)| *b == id) else {
            return;
        };
        stream.append(&decision.booking_events);
        check_decision(&before, &stream.state, &report, &decision);
    }

    /// Confirmed seats ⟺ paid; a paid booking's coupon claim is confirmed.
    pub(super) fn check_payments(&self) {
        for (id, stream) in &self.bookings {
            let Some(placed) = &stream.state.placed else {
                continue;
            };
            let paid = stream.state.status == BookingStatus::Paid;
            for (slot_id, slot) in &self.slots {
                let item = placed.items.iter().find(|item| item.slot_id == *slot_id);
                let confirmed = match slot.state.seats_of(id) {
                    Some(BookingSeats::Confirmed { seats }) => Some(seats),
                    _ => None,
                };
                match item {
                    Some(item) if paid => assert_eq!(confirmed, Some(item.seats), "{slot_id}"),
                    _ => assert_eq!(confirmed, None, "{slot_id}: {:?}", stream.state.status),
                }
            }
            if paid && placed.coupon_code.is_some() {
                let claim = self.coupon.state.claim_of(id);
                assert_eq!(claim.map(|c| c.expires_at), Some(None), "{id}");
            }
        }
    }
}

/// The per-report invariants.
fn check_decision(
    before: &BookingState,
    after: &BookingState,
    report: &PaymentReport,
    decision: &crate::domain::payment::PaymentDecision,
) {
    let events = &decision.booking_events;
    if let Some(first) = events.first() {
        assert!(matches!(first, BookingEvent::PaymentNotified { .. }));
    }
    match decision.outcome {
        PaymentOutcome::Unchanged | PaymentOutcome::UnknownBooking => {
            assert!(events.is_empty() && decision.slot_events.is_empty());
            assert!(decision.coupon_events.is_empty());
        }
        PaymentOutcome::Anomaly => {
            assert_eq!(after.payments, before.payments);
            assert_eq!(after.status, before.status);
            assert!(decision.slot_events.is_empty() && decision.coupon_events.is_empty());
        }
        PaymentOutcome::Applied => assert!(events.len() >= 2, "{events:?}"),
    }
    let key = report.key();
    if let Some(was) = before.payments.get(&key) {
        if was.status.is_terminal() {
            assert_eq!(after.payments.get(&key), Some(was), "invariant 4");
        }
    }
    let total = before.placed.as_ref().map(|placed| placed.total);
    for event in events {
        if let BookingEvent::BookingPaid { paid } = event {
            assert_eq!(Some(*paid), total);
            assert_eq!(after.paid(), total);
            assert_eq!(after.status, BookingStatus::Paid);
        }
    }
}

/// The reported amount for `total`.
fn resolve(amount: Amount, total: Money) -> Money {
    let currency = total.currency();
    let minor = match amount {
        Amount::Total => total.minor(),
        Amount::Half => total.minor() / 2,
        Amount::Rest => total.minor() - total.minor() / 2,
        Amount::Over => total.minor() + 1,
        Amount::Zero => 0,
        Amount::Minor(minor) => minor,
        Amount::Foreign => {
            let other = if currency == usd() {
                pesos(0).currency()
            } else {
                usd()
            };
            return Money::new(total.minor(), other).expect("money");
        }
    };
    Money::new(minor, currency).expect("money")
}
