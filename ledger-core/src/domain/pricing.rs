//! Pricing: the server-computed `Quote` of a booking (subtotal, discount, total) from its
//! lines and an optional coupon discount. Integer minor units only; no floating point
//! anywhere (invariant 11).

use serde::{Deserialize, Serialize};

use crate::domain::coupon::{Discount, MAX_PERCENT_OFF};
use crate::domain::rejection::Rejection;
use crate::money::{Money, MoneyError};

/// What a booking costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    /// Σ unit price × seats.
    pub subtotal: Money,
    /// What the coupon takes off; zero without one. Never more than the subtotal.
    pub discount: Money,
    /// `subtotal − discount`, zero or more.
    pub total: Money,
}

/// Prices `lines` (unit price, seats) with an optional discount.
///
/// - subtotal = Σ unit × seats, checked; every line must be in one currency, else
///   `CurrencyMismatch`. A subtotal beyond the money range is `InvalidSeats`.
/// - `PercentOff(p)`: discount = subtotal × p / 100 rounded HALF UP to the minor unit
///   (0.5 minor rounds to 1, 0.4 to 0), computed exactly in i128. Percentages above 100
///   count as 100.
/// - `AmountOff(a)`: discount = min(a, subtotal); `a` must be in the subtotal's currency,
///   else `CurrencyMismatch`.
/// - total = subtotal − discount, never below zero.
///
/// No lines is `InvalidSeats` (a quote needs a currency).
pub fn quote(lines: &[(Money, u32)], discount: Option<&Discount>) -> Result<Quote, Rejection> {
    let subtotal = subtotal(lines)?;
    let off = match discount {
        None => Money::zero(subtotal.currency()),
        Some(discount) => discount_of(subtotal, discount)?,
    };
    let total = subtotal.checked_sub(off).map_err(money_rejection)?;
    Ok(Quote {
        subtotal,
        discount: off,
        total,
    })
}

fn subtotal(lines: &[(Money, u32)]) -> Result<Money, Rejection> {
    let Some((first, _)) = lines.first() else {
        return Err(Rejection::InvalidSeats(
            "a booking needs at least one item".to_owned(),
        ));
    };
    lines
        .iter()
        .try_fold(Money::zero(first.currency()), |sum, (unit, seats)| {
            let line = unit.checked_mul(i64::from(*seats))?;
            sum.checked_add(line)
        })
        .map_err(money_rejection)
}

/// The discount on `subtotal`, within `0..=subtotal` (zero on a subtotal of zero or less).
fn discount_of(subtotal: Money, discount: &Discount) -> Result<Money, Rejection> {
    let currency = subtotal.currency();
    let base = i128::from(subtotal.minor().max(0));
    let minor = match discount {
        Discount::PercentOff(percent) => {
            let percent = i128::from((*percent).min(MAX_PERCENT_OFF));
            // Half up for a non-negative amount: add half the divisor before dividing.
            (base * percent + 50) / 100
        }
        Discount::AmountOff(amount) => {
            if amount.currency() != currency {
                return Err(Rejection::CurrencyMismatch);
            }
            i128::from(amount.minor()).clamp(0, base)
        }
    };
    // 0 <= minor <= base <= MAX_MINOR, so both conversions succeed.
    let minor = i64::try_from(minor.min(base)).map_err(|_| too_large())?;
    Money::new(minor, currency).map_err(money_rejection)
}

fn money_rejection(error: MoneyError) -> Rejection {
    match error {
        MoneyError::CurrencyMismatch { .. } => Rejection::CurrencyMismatch,
        MoneyError::OutOfRange | MoneyError::InvalidCurrency => too_large(),
    }
}

fn too_large() -> Rejection {
    Rejection::InvalidSeats("the booking's total is larger than the ledger can hold".to_owned())
}

#[cfg(test)]
mod tests;
