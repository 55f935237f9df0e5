//! Exact decimal amounts in major units (`"110.50"`) ↔ [`Money`] in minor units, never
//! through a float. This parses Pix `valor` strings and the raw JSON number text of Mercado
//! Pago's `transaction_amount` (`100.5` arrives as the text `"100.5"`), and formats the
//! amounts the ledger sends to providers that want major units (Pix `valor.original`,
//! Mercado Pago `unit_price`).

use crate::money::{Currency, Money, MAX_MINOR};

/// Longest amount text accepted, in bytes. [`MAX_MINOR`] has 16 digits; 32 leaves room for
/// a point and zero-padded fractions (`"110.000000"`) while bounding the work per input.
pub const MAX_AMOUNT_TEXT_LEN: usize = 32;

/// ISO 4217 currencies with no minor unit (exponent 0).
const EXPONENT_0: [&str; 17] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];

/// ISO 4217 currencies with three decimals (exponent 3).
const EXPONENT_3: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// ISO 4217 units of account with four decimals (exponent 4): Chile's Unidad de Fomento and
/// Uruguay's Unidad Previsional.
const EXPONENT_4: [&str; 2] = ["CLF", "UYW"];

/// The exponent of every other code: ISO 4217's common case (ARS, BRL, USD, EUR, MXN, …).
const DEFAULT_EXPONENT: u8 = 2;

/// Why an amount text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is empty.
    #[error("amount is empty")]
    Empty,
    /// The text is longer than [`MAX_AMOUNT_TEXT_LEN`] bytes.
    #[error("amount is longer than {MAX_AMOUNT_TEXT_LEN} characters")]
    TooLong,
    /// The text is not `<digits>` or `<digits>.<digits>`: a sign, an exponent, whitespace,
    /// an empty part (`".5"`, `"5."`) or any other character.
    #[error("amount must be plain decimal digits with an optional '.' and fraction")]
    Malformed,
    /// The text has non-zero digits beyond the currency's minor unit (`"110.501"` in BRL).
    #[error("amount has more than {decimals} significant decimals for {currency}")]
    TooPrecise {
        /// The currency of the amount.
        currency: Currency,
        /// How many decimals the currency has.
        decimals: u32,
    },
    /// The amount exceeds [`MAX_MINOR`] minor units.
    #[error("amount exceeds {MAX_MINOR} minor units")]
    OutOfRange,
}

/// The ISO 4217 exponent of `currency`: how many decimal digits its minor unit has.
///
/// | exponent | codes |
/// |---|---|
/// | 0 | BIF, CLP, DJF, GNF, ISK, JPY, KMF, KRW, PYG, RWF, UGX, UYI, VND, VUV, XAF, XOF, XPF |
/// | 3 | BHD, IQD, JOD, KWD, LYD, OMR, TND |
/// | 4 | CLF, UYW |
/// | 2 | every other code |
///
/// This is ISO's table, not a provider's: Stripe, for one, treats ISK and UGX differently,
/// but its amounts already arrive in minor units and never pass through here.
pub fn minor_units(currency: &Currency) -> u32 {
    u32::from(exponent(*currency))
}

/// Parses a non-negative decimal amount in major units into minor units of `currency`.
///
/// Accepts `<digits>` or `<digits>.<digits>` (ASCII digits; leading zeros allowed, as BCB's
/// `valor` pattern allows them). Fractional digits beyond [`minor_units`] are accepted only
/// when they are all zeros (`"110.500"` in BRL, `"1500.0"` in CLP). Refuses a sign,
/// exponent notation, whitespace, empty parts, and amounts over [`MAX_MINOR`] minor units.
pub fn parse_decimal_amount(text: &str, currency: Currency) -> Result<Money, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.len() > MAX_AMOUNT_TEXT_LEN {
        return Err(AmountError::TooLong);
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let has_point = whole.len() < text.len();
    if !is_digits(whole) || (has_point && !is_digits(fraction)) {
        return Err(AmountError::Malformed);
    }
    let decimals = minor_units(&currency);
    let scale = usize::from(exponent(currency));
    let (kept, dropped) = fraction.split_at(fraction.len().min(scale));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(AmountError::TooPrecise { currency, decimals });
    }
    let padding = std::iter::repeat_n(b'0', scale - kept.len());
    let mut minor: u64 = 0;
    for digit in whole.bytes().chain(kept.bytes()).chain(padding) {
        // minor <= MAX_MINOR < 2^53 here, so this cannot overflow a u64.
        minor = minor * 10 + u64::from(digit - b'0');
        if minor > MAX_MINOR.unsigned_abs() {
            return Err(AmountError::OutOfRange);
        }
    }
    let minor = i64::try_from(minor).map_err(|_| AmountError::OutOfRange)?;
    Money::new(minor, currency).map_err(|_| AmountError::OutOfRange)
}

/// Formats `money` as an exact decimal in major units with exactly [`minor_units`] decimals:
/// BRL 1 → `"0.01"`, BRL 1010 → `"10.10"`, CLP 1500 → `"1500"`, KWD 1234 → `"1.234"`.
/// A negative amount gets a leading `-` (`"-0.01"`); zero is `"0.00"` (BRL) or `"0"` (CLP).
/// No grouping separators, no exponent, no float. For non-negative amounts this is the
/// inverse of [`parse_decimal_amount`].
pub fn format_decimal_amount(money: &Money) -> String {
    let sign = if money.is_negative() { "-" } else { "" };
    // |minor| <= MAX_MINOR < 2^53, so the magnitude and the scale (at most 10^4) fit a u64.
    let magnitude = money.minor().unsigned_abs();
    let decimals = exponent(money.currency());
    if decimals == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10u64.pow(u32::from(decimals));
    let (whole, fraction) = (magnitude / scale, magnitude % scale);
    let width = usize::from(decimals);
    format!("{sign}{whole}.{fraction:0width$}")
}

/// The table behind [`minor_units`], as a `u8` so it widens losslessly to any integer.
fn exponent(currency: Currency) -> u8 {
    let code = currency.as_str();
    if EXPONENT_0.contains(&code) {
        0
    } else if EXPONENT_3.contains(&code) {
        3
    } else if EXPONENT_4.contains(&code) {
        4
    } else {
        DEFAULT_EXPONENT
    }
}

/// True for a non-empty run of ASCII digits.
fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
