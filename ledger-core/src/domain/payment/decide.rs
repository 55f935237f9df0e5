//! `apply_payment`: a verified report about one payment → the booking, slot and coupon
//! events. The payment moves by the state machine of `transition.rs`; then the booking
//! settles on its counted money (see [`apply_payment`] for the rules).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::seats::{self, SlotEvents};
use super::transition::{step, Step};
use super::{
    countable, PaymentDecision, PaymentOutcome, PaymentReport, PaymentStatus, ReportedStatus,
};
use crate::domain::booking::{
    BookingEvent, BookingState, BookingStatus, PlacedBooking, Settlement,
};
use crate::domain::coupon::CouponState;
use crate::domain::slot::{ReleaseReason, SlotState};
use crate::ids::SlotId;
use crate::money::Money;

/// Decides what a verified payment report does; never panics. `slots` holds the states of
/// the booking's slots, `coupon` its coupon's state (when it has one).
///
/// - Booking never placed → `UnknownBooking`; a report failing
///   [`PaymentReport::validate`] → `Anomaly`; both without events.
/// - The payment (keyed `provider:payment_id`) moves by the table of `transition.rs`: the
///   same status again → `Unchanged`, no events; a contradiction (a terminal failure
///   reported approved, …) → `PaymentNotified` + `PaymentAnomalyRecorded`, `Anomaly`;
///   otherwise `PaymentNotified` + the payment's event (`PaymentPending`,
///   `PaymentApproved`, `PaymentRejected`, `PaymentRefunded`, `PaymentChargedBack`),
///   `Applied`. An approval in another currency than the total, or of zero or less, is
///   followed by `AmountMismatchFlagged` and never counts.
/// - Then, when the counted money (approved in the total's currency, less refunds and
///   chargebacks: [`BookingState::paid`]) changed, by the booking's status at `now`:
///   - held, partially paid or expired: above the total → `AmountMismatchFlagged`
///     (expected = total, received = the counted sum; never paid); equal → `BookingPaid`,
///     `SeatsConfirmed` on every slot and the coupon claim confirmed — late (hold lapsed)
///     the seats are taken again if free, all slots or none, else
///     `LatePaymentRequiresRefund` and the claim released; below (and not expired) →
///     `BookingPartiallyPaid`.
///   - paid: more money above the total → `AmountMismatchFlagged`; every counted payment
///     gone back → `BookingRefunded`, `SeatsReleased { reason: refunded }`, claim released
///     (both kept when a refund request asked to keep the seats). A partial refund only
///     records.
///   - cancelled, refunded, refund required: more money → `LatePaymentRequiresRefund`; all
///     money gone back → `BookingRefunded` (the operations refund is done).
///
/// A booking placed before `BookingPlaced` recorded its id cannot have its holds found: a
/// covering payment there adds `PaymentAnomalyRecorded` instead of paying (`Anomaly`).
pub fn apply_payment(
    booking: &BookingState,
    slots: &BTreeMap<SlotId, SlotState>,
    coupon: Option<&CouponState>,
    report: &PaymentReport,
    now: DateTime<Utc>,
) -> PaymentDecision {
    let Some(placed) = &booking.placed else {
        return PaymentDecision::nothing(PaymentOutcome::UnknownBooking);
    };
    if report.validate().is_err() {
        return PaymentDecision::nothing(PaymentOutcome::Anomaly);
    }
    let event = match step(booking, report) {
        Step::Unchanged => return PaymentDecision::nothing(PaymentOutcome::Unchanged),
        Step::Anomaly(detail) => return anomaly(booking, report, detail),
        Step::Move(event) => event,
    };
    let mut after = booking.clone();
    after.apply(&event);
    let mut decision = PaymentDecision::nothing(PaymentOutcome::Applied);
    decision.booking_events = vec![notified(report), event];
    if report.status == ReportedStatus::Approved && !countable(report.amount, placed.total) {
        let flag = mismatch(report, placed.total, report.amount);
        decision.booking_events.push(flag);
    }
    let settling = Settling {
        booking,
        after: &after,
        placed,
        slots,
        coupon,
        report,
        now,
    };
    settling.settle(&mut decision);
    decision
}

/// `PaymentNotified`: what the provider said.
fn notified(report: &PaymentReport) -> BookingEvent {
    BookingEvent::PaymentNotified {
        provider: report.provider,
        payment_id: report.payment_id.clone(),
        status: report.status,
        amount: report.amount,
        source: report.source,
        provider_event_id: report.provider_event_id.clone(),
    }
}

/// `PaymentNotified` + `PaymentAnomalyRecorded`, nothing else.
fn anomaly(booking: &BookingState, report: &PaymentReport, detail: String) -> PaymentDecision {
    let mut decision = PaymentDecision::nothing(PaymentOutcome::Anomaly);
    decision.booking_events = vec![notified(report), anomaly_event(booking, report, detail)];
    decision
}

fn anomaly_event(booking: &BookingState, report: &PaymentReport, detail: String) -> BookingEvent {
    let current = booking
        .payments
        .get(&report.key())
        .map_or(PaymentStatus::Pending, |record| record.status);
    BookingEvent::PaymentAnomalyRecorded {
        provider: report.provider,
        payment_id: report.payment_id.clone(),
        reported: report.status,
        current,
        detail,
    }
}

fn mismatch(report: &PaymentReport, expected: Money, received: Money) -> BookingEvent {
    BookingEvent::AmountMismatchFlagged {
        provider: report.provider,
        payment_id: report.payment_id.clone(),
        expected,
        received,
    }
}

/// Everything the booking-level consequences look at.
struct Settling<'a> {
    booking: &'a BookingState,
    after: &'a BookingState,
    placed: &'a PlacedBooking,
    slots: &'a BTreeMap<SlotId, SlotState>,
    coupon: Option<&'a CouponState>,
    report: &'a PaymentReport,
    now: DateTime<Utc>,
}

impl Settling<'_> {
    /// Adds the booking-level consequences of a moved payment to `decision`.
    fn settle(&self, decision: &mut PaymentDecision) {
        let (Some(before), Some(after)) = (self.booking.settlement(), self.after.settlement())
        else {
            return;
        };
        let (was, net) = (before.net.minor(), after.net.minor());
        if was == net {
            return;
        }
        let total = self.placed.total;
        let status = self
            .booking
            .status_at(self.now)
            .unwrap_or(self.booking.status);
        let events = &mut decision.booking_events;
        match status {
            BookingStatus::Held | BookingStatus::PartiallyPaid | BookingStatus::Expired => {
                if net > total.minor() {
                    events.push(mismatch(self.report, total, after.net));
                } else if net == total.minor() {
                    self.cover(after.net, decision);
                } else if net > 0 && status != BookingStatus::Expired {
                    let due = total.checked_sub(after.net).unwrap_or(total);
                    events.push(BookingEvent::BookingPartiallyPaid {
                        paid: after.net,
                        due,
                    });
                }
            }
            BookingStatus::Paid => {
                if net > was && net > total.minor() {
                    events.push(mismatch(self.report, total, after.net));
                } else if net == 0 {
                    self.refund_all(&after, decision);
                }
            }
            BookingStatus::Cancelled | BookingStatus::Refunded | BookingStatus::RefundRequired => {
                if net > was {
                    let paid = after.net;
                    events.push(BookingEvent::LatePaymentRequiresRefund { paid });
                } else if net == 0 {
                    self.refund_all(&after, decision);
                }
            }
        }
    }

    /// The counted money equals the total: confirm every slot's seats (or none) and pay.
    fn cover(&self, paid: Money, decision: &mut PaymentDecision) {
        let Some(booking_id) = self.placed.booking_id else {
            // Placed before booking ids were recorded: its holds cannot be found.
            let detail = "the booking's id is not recorded; operations must confirm its seats";
            let event = anomaly_event(self.after, self.report, detail.to_owned());
            decision.booking_events.push(event);
            decision.outcome = PaymentOutcome::Anomaly;
            return;
        };
        match seats::take(booking_id, self.placed, self.slots, self.now) {
            Ok(taken) => {
                decision
                    .booking_events
                    .push(BookingEvent::BookingPaid { paid });
                merge(&mut decision.slot_events, taken);
                decision.coupon_events =
                    seats::confirm_coupon(booking_id, self.placed, self.coupon);
            }
            Err(releases) => {
                let event = BookingEvent::LatePaymentRequiresRefund { paid };
                decision.booking_events.push(event);
                merge(&mut decision.slot_events, releases);
                let reason = ReleaseReason::Expired;
                decision.coupon_events =
                    seats::release_coupon(booking_id, self.placed, self.coupon, reason);
            }
        }
    }

    /// Every counted payment went back: `BookingRefunded`, seats and claim given back.
    fn refund_all(&self, after: &Settlement, decision: &mut PaymentDecision) {
        let refunded = after.reversed;
        decision
            .booking_events
            .push(BookingEvent::BookingRefunded { refunded });
        let Some(booking_id) = self.placed.booking_id else {
            return;
        };
        if self.booking.keep_seats {
            // The operator's refund kept the seats (and the coupon claim).
            return;
        }
        let reason = ReleaseReason::Refunded;
        let released = seats::release(booking_id, self.placed, self.slots, reason);
        merge(&mut decision.slot_events, released);
        decision.coupon_events =
            seats::release_coupon(booking_id, self.placed, self.coupon, reason);
    }
}

fn merge(into: &mut SlotEvents, events: SlotEvents) {
    for (slot_id, list) in events {
        into.entry(slot_id).or_default().extend(list);
    }
}
