//! The booking aggregate (stream `booking-<uuid>`): its items, events, status, the
//! decision state `BookingState` with `apply` and the clock-derived status, and the
//! cancel and expire decisions. Placing a booking is `domain::place`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::coupon::CouponCode;
use crate::domain::rejection::Rejection;
use crate::ids::SlotId;
use crate::money::Money;

/// Seats on one slot within a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingItem {
    /// The slot.
    pub slot_id: SlotId,
    /// How many seats.
    pub seats: u32,
    /// The price of each, fixed when placed.
    pub unit_price: Money,
}

/// A fact about a booking. Stored through [`crate::domain::DomainEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum BookingEvent {
    /// Seats were held on every item's slot and the booking awaits payment.
    BookingPlaced {
        /// The customer (`sub`) who placed it.
        customer: String,
        /// The items, in request order.
        items: Vec<BookingItem>,
        /// Σ unit price × seats.
        subtotal: Money,
        /// What the coupon took off.
        discount: Money,
        /// What is to be paid.
        total: Money,
        /// The coupon claimed, if any.
        coupon_code: Option<CouponCode>,
        /// When the holds lapse unless paid.
        hold_expires_at: DateTime<Utc>,
    },
    /// The booking was cancelled.
    BookingCancelled {
        /// Who cancelled (`sub`).
        by: String,
        /// Whether they acted as an operator.
        operator: bool,
    },
    /// The hold lapsed before payment.
    BookingExpired,
}

/// A booking's status (API.md "Bookings"). Only `Held`, `Expired` and `Cancelled` are
/// reachable until payments are built.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Seats held, awaiting payment.
    #[default]
    Held,
    /// Some payment received, not the whole total.
    PartiallyPaid,
    /// Paid in full.
    Paid,
    /// The hold lapsed unpaid.
    Expired,
    /// Cancelled by the owner or an operator.
    Cancelled,
    /// Paid, then refunded.
    Refunded,
    /// Paid after the seats were gone; operations must refund.
    RefundRequired,
}

impl BookingStatus {
    /// The wire name (`held`, `partially_paid`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::PartiallyPaid => "partially_paid",
            BookingStatus::Paid => "paid",
            BookingStatus::Expired => "expired",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Refunded => "refunded",
            BookingStatus::RefundRequired => "refund_required",
        }
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `BookingPlaced` recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacedBooking {
    /// The customer (`sub`) who placed it; the owner.
    pub customer: String,
    /// The items, in request order.
    pub items: Vec<BookingItem>,
    /// Σ unit price × seats.
    pub subtotal: Money,
    /// What the coupon took off.
    pub discount: Money,
    /// What is to be paid.
    pub total: Money,
    /// The coupon claimed, if any.
    pub coupon_code: Option<CouponCode>,
    /// When the holds lapse unless paid.
    pub hold_expires_at: DateTime<Utc>,
}

/// What decisions about one booking need to know; also its stored snapshot.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingState {
    /// The booking as placed; `None` when it does not exist.
    pub placed: Option<PlacedBooking>,
    /// The recorded status (meaningless while `placed` is `None`). Use [`Self::status_at`]
    /// for the status a reader should see.
    pub status: BookingStatus,
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
                customer,
                items,
                subtotal,
                discount,
                total,
                coupon_code,
                hold_expires_at,
            } => {
                self.placed = Some(PlacedBooking {
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
        }
    }

    /// The status at `now`: `Expired` for a `Held` booking whose hold lapsed
    /// (`hold_expires_at <= now`) even before `BookingExpired` is written. `None` when the
    /// booking does not exist.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<BookingStatus> {
        let placed = self.placed.as_ref()?;
        Some(
            if self.status == BookingStatus::Held && placed.hold_expires_at <= now {
                BookingStatus::Expired
            } else {
                self.status
            },
        )
    }
}

/// Cancels a booking. The owner (`by` == the customer) may cancel while it is held and the
/// hold has not lapsed; an operator at any time unless it is already cancelled, expired or
/// refunded (`NotCancellable` with the status). Anyone else: `NotOwner` (checked before
/// the status, so a stranger learns nothing about the booking).
pub fn cancel_booking(
    state: &BookingState,
    by: &str,
    operator: bool,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, Rejection> {
    let placed = state.placed.as_ref().ok_or(Rejection::BookingNotFound)?;
    let status = state.status_at(now).unwrap_or(state.status);
    let cancellable = if operator {
        !matches!(
            status,
            BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Refunded
        )
    } else if by == placed.customer {
        status == BookingStatus::Held
    } else {
        return Err(Rejection::NotOwner);
    };
    if !cancellable {
        return Err(Rejection::NotCancellable { status });
    }
    Ok(vec![BookingEvent::BookingCancelled {
        by: by.to_owned(),
        operator,
    }])
}

/// `BookingExpired`, once, for a held booking whose hold lapsed (`hold_expires_at <= now`);
/// nothing otherwise.
pub fn expire_booking(state: &BookingState, now: DateTime<Utc>) -> Vec<BookingEvent> {
    match &state.placed {
        Some(placed) if state.status == BookingStatus::Held && placed.hold_expires_at <= now => {
            vec![BookingEvent::BookingExpired]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
