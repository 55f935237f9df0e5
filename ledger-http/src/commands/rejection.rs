//! Business rejections of the domain as RFC 9457 problems: the HTTP status per code, and
//! the extension members clients use (`available`, `total`, `bookable_until`).

use actix_web::http::StatusCode;
use ledger_core::domain::Rejection;

use crate::error::ApiError;

fn title(r: &Rejection) -> &'static str {
    match r {
        Rejection::SoldOut { .. } => "Sold out",
        Rejection::CutoffPassed { .. } => "Booking closed",
        Rejection::SlotBlocked => "Slot blocked",
        Rejection::PriceChanged { .. } => "Price changed",
        Rejection::CouponExhausted(_) => "Coupon exhausted",
        Rejection::CouponExpired => "Coupon expired",
        Rejection::CouponNotYetValid => "Coupon not valid yet",
        Rejection::CouponConflict => "Coupon exists",
        Rejection::NotCancellable { .. } => "Not cancellable",
        Rejection::NotMovable(_) => "Not movable",
        Rejection::PriceDiffers(_) => "Price differs",
        Rejection::SlotNotFound | Rejection::BookingNotFound | Rejection::CouponNotFound => {
            "Not found"
        }
        Rejection::NotOwner => "Not allowed",
        _ => "Unprocessable request",
    }
}

fn status(r: &Rejection) -> StatusCode {
    match r {
        // A referenced thing that does not exist: a slot, a booking, a coupon code.
        Rejection::SlotNotFound | Rejection::BookingNotFound | Rejection::CouponNotFound => {
            StatusCode::NOT_FOUND
        }
        Rejection::NotOwner => StatusCode::FORBIDDEN,
        Rejection::InvalidSeats(_)
        | Rejection::InvalidSlot(_)
        | Rejection::InvalidCoupon(_)
        | Rejection::CurrencyMismatch
        | Rejection::InvalidPayment(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    }
}

pub fn problem(r: &Rejection) -> ApiError {
    let e = ApiError::new(status(r), r.code(), title(r), r.to_string());
    match r {
        Rejection::SoldOut { slot_id, available } => e
            .with("available", *available)
            .with("slot_id", slot_id.as_str()),
        Rejection::PriceChanged { total } => {
            e.with("total", serde_json::to_value(total).unwrap_or_default())
        }
        Rejection::CutoffPassed { bookable_until } => {
            e.with("bookable_until", bookable_until.to_rfc3339())
        }
        _ => e,
    }
}
