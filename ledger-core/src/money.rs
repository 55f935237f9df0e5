//! Money: integer minor units with an ISO 4217 currency. Arithmetic is checked (never
//! wraps, never panics) and bounded so every amount is an exact JSON number. No floating
//! point anywhere.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest magnitude of an amount in minor units, 2^53 − 1: amounts must stay exact JSON
/// numbers for RFC 8785 canonical JSON (which works on IEEE doubles) and for JavaScript
/// clients.
pub const MAX_MINOR: i64 = (1 << 53) - 1;

/// Length of an ISO 4217 alphabetic code.
const CURRENCY_CODE_LEN: usize = 3;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two amounts are in different currencies.
    #[error("currency mismatch: {left} and {right} cannot be combined")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The amount (or the exact result of an operation) is outside ±(2^53 − 1) minor units.
    #[error("amount is outside ±{MAX_MINOR} minor units")]
    OutOfRange,
    /// The currency is not three ASCII uppercase letters.
    #[error("currency must be three ASCII uppercase letters (ISO 4217), e.g. \"ARS\"")]
    InvalidCurrency,
}

/// An ISO 4217-shaped currency code: three ASCII uppercase letters. Serialised as the code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; CURRENCY_CODE_LEN]);

impl Currency {
    /// Parses a code such as `ARS`; lowercase is refused, not folded.
    pub fn parse(text: &str) -> Result<Currency, MoneyError> {
        let code: [u8; CURRENCY_CODE_LEN] = text
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError::InvalidCurrency)?;
        if code.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency(code))
        } else {
            Err(MoneyError::InvalidCurrency)
        }
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &str {
        // Cannot fail: the constructor admits only ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Currency::parse(&text)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// An amount of money: integer minor units (cents, centavos) within ±[`MAX_MINOR`] and a
/// currency. Serialised as `{"amount_minor": 12500, "currency": "ARS"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "MoneyRepr")]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// The wire shape of [`Money`]; unknown fields are refused.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyRepr {
    /// Read as JSON Schema reads an integer: `12500` or `12500.0` (no fraction); always
    /// written as an integer, so stored events keep their bytes.
    #[serde(deserialize_with = "whole_number")]
    amount_minor: i64,
    currency: Currency,
}

/// A JSON number without a fraction (`2` or `2.0`: an integer as JSON Schema has it),
/// within ±2^53 − 1 when written with a fraction. For every integer a client sends.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // Beyond ±2^53 a float no longer names one integer; `Money::new` bounds it anyway.
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0 => Ok(f as i64),
        _ => Err(serde::de::Error::custom("expected an integer")),
    }
}

impl Money {
    /// An amount, refused when |minor| exceeds [`MAX_MINOR`].
    pub fn new(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        Money::from_wide(i128::from(minor), currency)
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// True when the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// True when the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// `self + other`, refusing a currency mismatch or a result outside ±[`MAX_MINOR`].
    pub fn checked_add(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Money::from_wide(
            i128::from(self.minor) + i128::from(other.minor),
            self.currency,
        )
    }

    /// `self − other`, refusing a currency mismatch or a result outside ±[`MAX_MINOR`].
    pub fn checked_sub(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Money::from_wide(
            i128::from(self.minor) - i128::from(other.minor),
            self.currency,
        )
    }

    /// `self × factor`, refusing a result outside ±[`MAX_MINOR`].
    pub fn checked_mul(&self, factor: i64) -> Result<Money, MoneyError> {
        // |minor| < 2^53 and |factor| <= 2^63, so the product fits in i128 exactly.
        Money::from_wide(i128::from(self.minor) * i128::from(factor), self.currency)
    }

    /// `−self` (always in range: the bound is symmetric).
    pub fn negated(&self) -> Money {
        Money {
            minor: -self.minor,
            currency: self.currency,
        }
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// Narrows an exact wide result, refusing anything outside ±[`MAX_MINOR`].
    fn from_wide(minor: i128, currency: Currency) -> Result<Money, MoneyError> {
        if minor.unsigned_abs() > MAX_MINOR.unsigned_abs().into() {
            return Err(MoneyError::OutOfRange);
        }
        let minor = i64::try_from(minor).map_err(|_| MoneyError::OutOfRange)?;
        Ok(Money { minor, currency })
    }
}

impl TryFrom<MoneyRepr> for Money {
    type Error = MoneyError;

    fn try_from(repr: MoneyRepr) -> Result<Self, Self::Error> {
        Money::new(repr.amount_minor, repr.currency)
    }
}

impl From<Money> for MoneyRepr {
    fn from(money: Money) -> MoneyRepr {
        MoneyRepr {
            amount_minor: money.minor,
            currency: money.currency,
        }
    }
}

impl fmt::Display for Money {
    /// `12500 ARS` — minor units and code; formatting for people belongs to the clients.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

#[cfg(test)]
mod tests;
