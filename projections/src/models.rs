//! The read models: per-stream state of slots (availability), bookings (status and
//! payments) and coupons, each folded with the domain's `evolve`, and sales (`sales`),
//! stored as JSON with the columns queries filter on.

use chrono::{DateTime, Utc};
use ledger_core::domain::{BookingState, CouponState, SlotState};
use ledger_core::Category;

/// A read model. Bump `version` when its table or fold changes: the engine then builds a
/// new generation beside the live one and swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadModel {
    SlotAvailability,
    BookingStatus,
    Coupons,
    /// What the sales report sums (`crate::sales`).
    Sales,
}

impl ReadModel {
    pub const ALL: [ReadModel; 4] = [
        ReadModel::SlotAvailability,
        ReadModel::BookingStatus,
        ReadModel::Coupons,
        ReadModel::Sales,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReadModel::SlotAvailability => "slot_availability",
            ReadModel::BookingStatus => "booking_status",
            ReadModel::Coupons => "coupons",
            ReadModel::Sales => "sales",
        }
    }

    pub fn parse(name: &str) -> Option<ReadModel> {
        ReadModel::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The schema version the code builds. 2 for slots and coupons: their states count
    /// seats and claims, with the per-booking entries in the generation's side table. 2
    /// for bookings: their payment requests keep the sealed payer.
    pub fn version(self) -> i32 {
        match self {
            ReadModel::SlotAvailability | ReadModel::Coupons | ReadModel::BookingStatus => 2,
            ReadModel::Sales => 1,
        }
    }

    /// The stream category it folds.
    pub fn category(self) -> Category {
        match self {
            ReadModel::SlotAvailability => Category::Slot,
            ReadModel::BookingStatus | ReadModel::Sales => Category::Booking,
            ReadModel::Coupons => Category::Coupon,
        }
    }

    /// The table of a generation. Built only from this enum and an integer: safe to
    /// splice into SQL.
    pub fn table(self, generation: i32) -> String {
        format!("rm_{}_g{generation}", self.name())
    }
}

/// The query columns of a folded state: a key (activity, customer, code) and a time
/// (start, hold expiry, end of validity).
pub(crate) fn slot_columns(s: &SlotState) -> (Option<String>, Option<DateTime<Utc>>) {
    s.spec.as_ref().map_or((None, None), |spec| {
        (
            Some(spec.activity_id.as_str().to_owned()),
            Some(spec.starts_at),
        )
    })
}

pub(crate) fn booking_columns(b: &BookingState) -> (Option<String>, Option<DateTime<Utc>>) {
    b.placed.as_ref().map_or((None, None), |p| {
        (Some(p.customer.clone()), Some(p.hold_expires_at))
    })
}

pub(crate) fn coupon_columns(c: &CouponState) -> (Option<String>, Option<DateTime<Utc>>) {
    c.spec.as_ref().map_or((None, None), |s| {
        (Some(s.code.as_str().to_owned()), Some(s.valid_until))
    })
}
