//! `BookingState`: what decisions about one booking need to know, and its stored snapshot —
//! the booking as placed, its recorded status, its payments, the provider objects requested
//! for it — with `apply` (no rules, never fails), the clock-derived status and the counted
//! (paid) sum.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BookingEvent, BookingStatus, PlacedBooking};
use crate::domain::payment::{payment_key, PaymentRecord, PaymentRequest, PaymentStatus, Provider};
use crate::money::{Currency, Money, MAX_MINOR};
use crate::personal::Sealed;

/// What decisions about one booking need to know; also its stored snapshot.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingState {
    /// The booking as placed; `None` when it does not exist.
    pub placed: Option<PlacedBooking>,
    /// The recorded status (meaningless while `placed` is `None`). Use [`Self::status_at`]
    /// for the status a reader should see.
    pub status: BookingStatus,
    /// Payments by `"<provider>:<payment_id>"` (see [`payment_key`]). Absent from
    /// snapshots written before payments existed.
    #[serde(default)]
    pub payments: BTreeMap<String, PaymentRecord>,
    /// The provider objects created to collect the money (`PaymentRequested`), one per
    /// `(provider, provider_reference)`, oldest first. Absent from snapshots written before
    /// requests existed, and left out while empty so that such snapshots keep their bytes
    /// (and stay readable by a binary that predates the field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<PaymentRequest>,
    /// The keys of the payments the provider approved, oldest approval first: refunds take
    /// the newest first. Left out while empty (older snapshots keep their bytes; payments
    /// approved before it existed count as the oldest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<String>,
    /// A refund asked to keep the seats: a full refund then releases neither seats nor the
    /// coupon claim. Left out while false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_seats: bool,
}

/// The counted money of a booking, in its total's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settlement {
    /// Σ amounts of counted payments (approved, right currency, above zero), refunded or not.
    pub(crate) gross: Money,
    /// How much of that went back (refunds, chargebacks).
    pub(crate) reversed: Money,
    /// `gross − reversed`: what the booking holds now.
    pub(crate) net: Money,
}

impl BookingState {
    /// The state after `events`, folded from scratch.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a BookingEvent>) -> BookingState {
        let mut state = BookingState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Evolves the state by one event; holds no rule, never fails, never panics.
    pub fn apply(&mut self, event: &BookingEvent) {
        match event {
            BookingEvent::BookingPlaced {
                booking_id,
                customer,
                items,
                subtotal,
                discount,
                total,
                coupon_code,
                hold_expires_at,
            } => {
                self.placed = Some(PlacedBooking {
                    booking_id: *booking_id,
                    customer: customer.clone(),
                    items: items.clone(),
                    subtotal: *subtotal,
                    discount: *discount,
                    total: *total,
                    coupon_code: coupon_code.clone(),
                    hold_expires_at: *hold_expires_at,
                });
                self.status = BookingStatus::Held;
            }
            BookingEvent::BookingCancelled { .. } => self.status = BookingStatus::Cancelled,
            BookingEvent::BookingExpired => self.status = BookingStatus::Expired,
            BookingEvent::PaymentRequested {
                provider,
                amount,
                provider_reference,
                idempotency_key: _,
                payer,
                data_key: _,
            } => self.remember_request(*provider, *amount, provider_reference, payer),
            BookingEvent::PaymentNotified { .. }
            | BookingEvent::AmountMismatchFlagged { .. }
            | BookingEvent::PaymentAnomalyRecorded { .. } => {}
            BookingEvent::PaymentPending {
                provider,
                payment_id,
                amount,
            } => {
                let record = self.record(*provider, payment_id, *amount);
                record.status = PaymentStatus::Pending;
                record.amount = *amount;
            }
            BookingEvent::PaymentApproved {
                provider,
                payment_id,
                amount,
            } => {
                let record = self.record(*provider, payment_id, *amount);
                record.status = PaymentStatus::Approved;
                record.amount = *amount;
                record.approved = true;
                let key = payment_key(*provider, payment_id);
                if !self.approvals.contains(&key) {
                    self.approvals.push(key);
                }
            }
            BookingEvent::PaymentRejected {
                provider,
                payment_id,
                status,
                amount,
            } => {
                let record = self.record(*provider, payment_id, *amount);
                record.status = (*status).into();
                record.amount = *amount;
            }
            BookingEvent::PaymentRefunded {
                provider,
                payment_id,
                refunded,
            } => {
                let none = Money::zero(refunded.currency());
                let record = self.record(*provider, payment_id, none);
                record.status = PaymentStatus::Refunded;
                record.refunded = *refunded;
            }
            BookingEvent::PaymentChargedBack {
                provider,
                payment_id,
                amount,
            } => self.record(*provider, payment_id, *amount).status = PaymentStatus::ChargedBack,
            BookingEvent::BookingPaid { .. } => self.status = BookingStatus::Paid,
            BookingEvent::BookingPartiallyPaid { .. } => self.status = BookingStatus::PartiallyPaid,
            BookingEvent::LatePaymentRequiresRefund { .. } => {
                self.status = BookingStatus::RefundRequired;
            }
            BookingEvent::BookingRefunded { .. } => self.status = BookingStatus::Refunded,
            BookingEvent::RefundRequested {
                parts, keep_seats, ..
            } => {
                for part in parts {
                    let record = self.record(part.provider, &part.payment_id, part.amount);
                    let before = record.refund_requested.map_or(0, |m| m.minor());
                    if part.through.minor() > before {
                        record.refund_requested = Some(part.through);
                    }
                }
                self.keep_seats |= *keep_seats;
            }
            BookingEvent::BookingMoved { items, .. } => {
                if let Some(placed) = &mut self.placed {
                    placed.items.clone_from(items);
                }
            }
        }
    }

    /// The payment's record, created as pending with `amount` (nothing refunded) when new.
    fn record(
        &mut self,
        provider: Provider,
        payment_id: &str,
        amount: Money,
    ) -> &mut PaymentRecord {
        self.payments
            .entry(payment_key(provider, payment_id))
            .or_insert_with(|| PaymentRecord {
                provider,
                payment_id: payment_id.to_owned(),
                status: PaymentStatus::Pending,
                amount,
                refunded: Money::zero(amount.currency()),
                approved: false,
                refund_requested: None,
            })
    }

    /// Records a requested provider object; the same `(provider, provider_reference)` again
    /// updates its amount instead of adding a second entry.
    fn remember_request(
        &mut self,
        provider: Provider,
        amount: Money,
        provider_reference: &str,
        payer: &Option<Sealed>,
    ) {
        let known = self.requests.iter_mut().find(|request| {
            request.provider == provider && request.provider_reference == provider_reference
        });
        match known {
            Some(request) => {
                request.amount = amount;
                if payer.is_some() {
                    request.payer.clone_from(payer);
                }
            }
            None => self.requests.push(PaymentRequest {
                provider,
                amount,
                provider_reference: provider_reference.to_owned(),
                payer: payer.clone(),
            }),
        }
    }

    /// The status at `now`. A `PartiallyPaid` booking whose counted money all went back
    /// reads `Held`; a `Held` or `PartiallyPaid` booking whose hold lapsed
    /// (`hold_expires_at <= now`) reads `Expired` even before `BookingExpired` is written
    /// (a later covering payment is then a late payment). `None` when the booking does not
    /// exist.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<BookingStatus> {
        let placed = self.placed.as_ref()?;
        let status = match self.status {
            BookingStatus::PartiallyPaid if self.paid().is_some_and(|paid| paid.is_zero()) => {
                BookingStatus::Held
            }
            status => status,
        };
        let waiting = matches!(status, BookingStatus::Held | BookingStatus::PartiallyPaid);
        Some(if waiting && placed.hold_expires_at <= now {
            BookingStatus::Expired
        } else {
            status
        })
    }

    /// What the booking holds now, in its total's currency: Σ amounts of counted payments
    /// (approved, in that currency, above zero) less what went back (refunds, chargebacks).
    /// `None` when the booking does not exist.
    pub fn paid(&self) -> Option<Money> {
        self.settlement().map(|settlement| settlement.net)
    }

    /// What went back of the counted money (refunds, chargebacks), in the total's
    /// currency. `None` when the booking does not exist.
    pub fn refunded(&self) -> Option<Money> {
        self.settlement().map(|settlement| settlement.reversed)
    }

    /// The payments, by provider then payment id.
    pub fn payments(&self) -> impl Iterator<Item = &PaymentRecord> + '_ {
        self.payments.values()
    }

    /// The provider objects requested for this booking (`PaymentRequested`), oldest first:
    /// what a reconciliation fetches besides the known payments. Requests are not money.
    pub fn requests(&self) -> &[PaymentRequest] {
        &self.requests
    }

    /// The counted money; `None` when the booking does not exist.
    pub(crate) fn settlement(&self) -> Option<Settlement> {
        let total = self.placed.as_ref()?.total;
        let counted = self.payments.values().filter(|r| r.counts_toward(total));
        let (gross, reversed) = counted.fold((0i128, 0i128), |(gross, reversed), record| {
            (
                gross + i128::from(record.amount.minor()),
                reversed + i128::from(record.reversed_minor()),
            )
        });
        let currency = total.currency();
        Some(Settlement {
            gross: bounded(gross, currency),
            reversed: bounded(reversed, currency),
            net: bounded(gross - reversed, currency),
        })
    }
}

/// An exact sum as money, clamped to the money range (50 payments cannot reach it).
fn bounded(minor: i128, currency: Currency) -> Money {
    let limit = i128::from(MAX_MINOR);
    let clamped = i64::try_from(minor.clamp(-limit, limit)).unwrap_or_default();
    Money::new(clamped, currency).unwrap_or_else(|_| Money::zero(currency))
}
