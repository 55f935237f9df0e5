//! The per-payment state machine. Given where a payment stands (or that the booking has
//! never heard of it) and a report, the report is the same again (`Unchanged`), contradicts
//! the payment's state (`Anomaly`, with the reason), or moves it (the payment event).
//!
//! | current \ reported | moves on | unchanged | anomaly |
//! |---|---|---|---|
//! | (new), pending, attempt failed | anything else | the same status | — |
//! | approved | refunded, charged back | approved, same amount | anything else |
//! | refunded | refunded (more), charged back | refunded (same or less) | anything else |
//! | rejected, cancelled, charged back | — | the same status | anything else |
//!
//! A refund must be above zero and, for a payment that was approved, in its currency and
//! at most its amount; otherwise it is an anomaly.

use super::MAX_PAYMENTS_PER_BOOKING;
use super::{PaymentFailure, PaymentRecord, PaymentReport, PaymentStatus, ReportedStatus};
use crate::domain::booking::{BookingEvent, BookingState};

/// What a report does to its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// The payment already stands there.
    Unchanged,
    /// The report contradicts the payment's state; why.
    Anomaly(String),
    /// The payment moves; the event that records it.
    Move(BookingEvent),
}

/// Decides what `report` does to its payment in `booking`.
pub(super) fn step(booking: &BookingState, report: &PaymentReport) -> Step {
    let Some(current) = booking.payments.get(&report.key()) else {
        if booking.payments.len() >= MAX_PAYMENTS_PER_BOOKING {
            return Step::Anomaly(format!(
                "the booking already has {MAX_PAYMENTS_PER_BOOKING} payments"
            ));
        }
        return move_to(None, report);
    };
    use PaymentStatus as Now;
    use ReportedStatus as Said;
    match (current.status, report.status) {
        (Now::Pending, Said::Pending)
        | (Now::AttemptFailed, Said::AttemptFailed)
        | (Now::Rejected, Said::Rejected)
        | (Now::Cancelled, Said::Cancelled)
        | (Now::ChargedBack, Said::ChargedBack) => Step::Unchanged,
        (Now::Pending | Now::AttemptFailed, _) => move_to(Some(current), report),
        (Now::Approved, Said::Approved) if report.amount == current.amount => Step::Unchanged,
        (Now::Approved, Said::Approved) => anomaly("approved again with a different amount"),
        (Now::Approved | Now::Refunded, Said::Refunded | Said::ChargedBack) => {
            move_to(Some(current), report)
        }
        (Now::Rejected | Now::Cancelled, Said::Approved) => {
            anomaly("a payment in a terminal failure never becomes approved")
        }
        (Now::Rejected | Now::Cancelled | Now::ChargedBack, _) => {
            anomaly("the payment is in a terminal state")
        }
        (Now::Approved, _) => anomaly("an approved payment can only be refunded or charged back"),
        (Now::Refunded, _) => {
            anomaly("a refunded payment can only be refunded further or charged back")
        }
    }
}

fn anomaly(detail: &str) -> Step {
    Step::Anomaly(detail.to_owned())
}

/// The event moving the payment to the reported status (a refund is checked first).
fn move_to(current: Option<&PaymentRecord>, report: &PaymentReport) -> Step {
    let provider = report.provider;
    let payment_id = report.payment_id.clone();
    let amount = report.amount;
    let event = match report.status {
        ReportedStatus::Pending => BookingEvent::PaymentPending {
            provider,
            payment_id,
            amount,
        },
        ReportedStatus::Approved => BookingEvent::PaymentApproved {
            provider,
            payment_id,
            amount,
        },
        ReportedStatus::AttemptFailed => failed(report, PaymentFailure::AttemptFailed),
        ReportedStatus::Rejected => failed(report, PaymentFailure::Rejected),
        ReportedStatus::Cancelled => failed(report, PaymentFailure::Cancelled),
        ReportedStatus::Refunded => return refund(current, report),
        ReportedStatus::ChargedBack => BookingEvent::PaymentChargedBack {
            provider,
            payment_id,
            amount,
        },
    };
    Step::Move(event)
}

fn failed(report: &PaymentReport, status: PaymentFailure) -> BookingEvent {
    BookingEvent::PaymentRejected {
        provider: report.provider,
        payment_id: report.payment_id.clone(),
        status,
        amount: report.amount,
    }
}

/// A cumulative refund: above zero; for an approved payment in its currency and at most its
/// amount; no more than the refund already recorded is `Unchanged`.
fn refund(current: Option<&PaymentRecord>, report: &PaymentReport) -> Step {
    let refunded = report.amount;
    if refunded.minor() <= 0 {
        return anomaly("a refund must be above zero");
    }
    if let Some(record) = current {
        if record.status == PaymentStatus::Refunded {
            if refunded.currency() != record.refunded.currency() {
                return anomaly("a refund in another currency than the earlier refunds");
            }
            if refunded.minor() <= record.refunded.minor() {
                return Step::Unchanged;
            }
        }
        if record.approved && refunded.currency() != record.amount.currency() {
            return anomaly("a refund in another currency than the payment");
        }
        if record.approved && refunded.minor() > record.amount.minor() {
            return anomaly("the refunds exceed the payment");
        }
    }
    Step::Move(BookingEvent::PaymentRefunded {
        provider: report.provider,
        payment_id: report.payment_id.clone(),
        refunded,
    })
}
