//! The payer's phone for Mercado Pago (API.md, `POST /v1/bookings/{booking_id}/payments`):
//! whatever the customer typed → `{"area_code", "number"}` of an Argentine number, digits
//! only, without the country code `54` and the mobile `9` — or nothing at all. The phone is
//! optional for Mercado Pago, so anything doubtful is left out rather than sent malformed.
//!
//! Understood: the international form (`+54 9 11 1234-5678`, `54 9 …`, `0054 …`), the
//! national trunk prefix `0` (`011 …`), the legacy mobile prefix `15` after the area code
//! (`011 15-1234-5678`), area codes of 2, 3 and 4 digits (`phone/area_codes.rs`), and the
//! separators people type (spaces, `-`, `.`, parentheses, one leading `+`).
//!
//! Refused: other characters (letters, `x`/`ext`, `#`, `/`, non-ASCII digits and dashes),
//! fewer than 8 digits, more than 15 (E.164), other countries, and national numbers that do
//! not fit the plan (10 digits = area code + subscriber number). A number from another
//! country (`+1 415 555 2671`) is refused, not passed through: this service collects
//! Argentine pesos through Mercado Pago Argentina, whose `area_code`/`number` split is the
//! Argentine one; a foreign number forced into it would be exactly the malformed phone
//! API.md forbids sending.
//!
//! A phone is personal data: never log the input or the result.

use serde::Serialize;

mod area_codes;

use area_codes::{area_code_len, BUENOS_AIRES};

/// Longest input accepted, in bytes: 15 digits with a separator between each and a few
/// parentheses fit in 40; 64 tolerates generous spacing while bounding the work per input.
pub const MAX_PHONE_TEXT_LEN: usize = 64;

/// Fewest digits a phone may have (API.md: fewer than 8 digits in all → left out). The
/// shortest usable input is a Buenos Aires number without its area code (`4123-4567`).
pub const MIN_PHONE_DIGITS: usize = 8;

/// Most digits a phone may have: the E.164 maximum, counted without the `00` dialled
/// before it (as for `+`).
pub const MAX_PHONE_DIGITS: usize = 15;

/// Argentina's country calling code.
const COUNTRY_CODE: &str = "54";

/// The international call prefix dialled from Argentina, standing for `+`.
const INTERNATIONAL_PREFIX: &str = "00";

/// The national trunk prefix (`011 …`).
const TRUNK_PREFIX: char = '0';

/// Written after `+54` for a mobile (`+54 9 11 …`); no area code begins with it.
const MOBILE_MARKER: char = '9';

/// The legacy mobile prefix dialled between area code and subscriber number.
const LEGACY_MOBILE_PREFIX: &str = "15";

/// Digits of a national number: area code + subscriber number.
const NATIONAL_LEN: usize = 10;

/// Digits of a Buenos Aires subscriber number, the only 8-digit ones (10 − the 2-digit
/// area code), so 8 digits without an area code can only be Buenos Aires.
const BUENOS_AIRES_NUMBER_LEN: usize = NATIONAL_LEN - BUENOS_AIRES.len();

/// Characters a phone may contain besides digits and one leading `+`.
const SEPARATORS: [char; 5] = [' ', '-', '.', '(', ')'];

/// An Argentine phone as Mercado Pago's `payer.phone` takes it: `area_code` (2 to 4
/// digits, no trunk `0`) and `number` (the subscriber number, 6 to 8 digits, no `15`),
/// together 10 digits. Serialised as `{"area_code": "11", "number": "12345678"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MpPhone {
    /// The area code: `11`, `351`, `2966`, …
    pub area_code: String,
    /// The subscriber number.
    pub number: String,
}

/// Why a phone was left out. The messages never repeat the input (personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but whitespace.
    #[error("phone is empty")]
    Empty,
    /// Longer than [`MAX_PHONE_TEXT_LEN`] bytes.
    #[error("phone is longer than {MAX_PHONE_TEXT_LEN} characters")]
    TooLong,
    /// A character other than digits, spaces, `-`, `.`, parentheses and one leading `+`.
    #[error("phone may contain only digits, spaces, '-', '.', parentheses and a leading '+'")]
    InvalidCharacter,
    /// Fewer than [`MIN_PHONE_DIGITS`] digits.
    #[error("phone has fewer than {MIN_PHONE_DIGITS} digits")]
    TooFewDigits,
    /// More than [`MAX_PHONE_DIGITS`] digits (after `00`).
    #[error("phone has more than {MAX_PHONE_DIGITS} digits")]
    TooManyDigits,
    /// An international number of another country than Argentina (54).
    #[error("phone is not an Argentine number")]
    NotArgentine,
    /// Argentine in form, but not area code + subscriber number = 10 digits, or not a
    /// geographic number (toll-free `0800`, …).
    #[error("phone does not fit the Argentine numbering plan")]
    NotInPlan,
}

/// The payer's phone for Mercado Pago, or `None` when it is not a usable Argentine number
/// (it is then left out of the request). See [`parse_argentine_phone`] for the rules.
pub fn normalize_phone_for_mercadopago(raw: &str) -> Option<MpPhone> {
    parse_argentine_phone(raw).ok()
}

/// Reads an Argentine phone as typed into `{area_code, number}`.
///
/// 1. At most [`MAX_PHONE_TEXT_LEN`] bytes; surrounding ASCII whitespace is ignored; only
///    digits, spaces, `-`, `.`, parentheses and one `+` in front.
/// 2. `+54`, `0054` or `54` (the last only with at least 10 digits after it, as no national
///    number begins with 5) is the country code; then a mobile `9` and a misplaced trunk
///    `0` (`+54 (011) …`) are dropped. `+` or `00` with another country → `NotArgentine`.
/// 3. Without a country code: the trunk `0` is dropped, and a leading `9` before 10 more
///    digits (`9 11 1234-5678`, the international mobile form typed without `54`).
/// 4. What is left must be area code + subscriber number (10 digits), the same with `15`
///    right after the area code (12 digits), `15` and a Buenos Aires number (10 digits),
///    or — without a country code only — a Buenos Aires number alone (8 digits): 8-digit
///    subscriber numbers exist only in area `11`, and no area code begins with `15`.
/// 5. The subscriber number must not begin with `0` or `15`: dialled locally, those are the
///    trunk and the mobile prefix, so no number begins with them, and such a result means
///    the input was misread (`15 123456`: `15` and a 6-digit number of an unknown area).
pub fn parse_argentine_phone(raw: &str) -> Result<MpPhone, PhoneError> {
    if raw.len() > MAX_PHONE_TEXT_LEN {
        return Err(PhoneError::TooLong);
    }
    let text = raw.trim_ascii();
    if text.is_empty() {
        return Err(PhoneError::Empty);
    }
    let (plus, body) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut all_digits = String::with_capacity(body.len());
    for c in body.chars() {
        if c.is_ascii_digit() {
            all_digits.push(c);
        } else if !SEPARATORS.contains(&c) {
            return Err(PhoneError::InvalidCharacter);
        }
    }
    let (international, digits) = match all_digits.strip_prefix(INTERNATIONAL_PREFIX) {
        Some(rest) if !plus => (true, rest),
        _ => (plus, all_digits.as_str()),
    };
    if digits.len() < MIN_PHONE_DIGITS {
        return Err(PhoneError::TooFewDigits);
    }
    if digits.len() > MAX_PHONE_DIGITS {
        return Err(PhoneError::TooManyDigits);
    }
    match digits.strip_prefix(COUNTRY_CODE) {
        Some(rest) if international || rest.len() >= NATIONAL_LEN => after_country_code(rest),
        _ if international => Err(PhoneError::NotArgentine),
        _ => national(digits),
    }
}

/// The digits after `54`: an optional mobile `9`, an optional (misplaced) trunk `0`, then
/// area code and subscriber number, possibly with `15` between them.
fn after_country_code(digits: &str) -> Result<MpPhone, PhoneError> {
    let digits = digits.strip_prefix(MOBILE_MARKER).unwrap_or(digits);
    let digits = digits.strip_prefix(TRUNK_PREFIX).unwrap_or(digits);
    split(digits)
}

/// A number without country code: an optional trunk `0`, then what [`split`] takes, a
/// leading mobile `9` before 10 digits, or a Buenos Aires number without its area code.
fn national(digits: &str) -> Result<MpPhone, PhoneError> {
    let digits = digits.strip_prefix(TRUNK_PREFIX).unwrap_or(digits);
    match digits.len() {
        BUENOS_AIRES_NUMBER_LEN => checked(BUENOS_AIRES, digits),
        len if len == NATIONAL_LEN + 1 => match digits.strip_prefix(MOBILE_MARKER) {
            Some(rest) => split(rest),
            None => Err(PhoneError::NotInPlan),
        },
        _ => split(digits),
    }
}

/// Area code + subscriber number (10 digits), the same with `15` after the area code (12),
/// or `15` + a Buenos Aires number (10; no area code begins with `15`).
fn split(digits: &str) -> Result<MpPhone, PhoneError> {
    if digits.len() == NATIONAL_LEN {
        if let Some(number) = digits.strip_prefix(LEGACY_MOBILE_PREFIX) {
            return checked(BUENOS_AIRES, number);
        }
    }
    let with_prefix = match digits.len() {
        NATIONAL_LEN => false,
        len if len == NATIONAL_LEN + LEGACY_MOBILE_PREFIX.len() => true,
        _ => return Err(PhoneError::NotInPlan),
    };
    let area_len = area_code_len(digits).ok_or(PhoneError::NotInPlan)?;
    let (area_code, rest) = digits
        .split_at_checked(area_len)
        .ok_or(PhoneError::NotInPlan)?;
    let number = if with_prefix {
        rest.strip_prefix(LEGACY_MOBILE_PREFIX)
            .ok_or(PhoneError::NotInPlan)?
    } else {
        rest
    };
    checked(area_code, number)
}

/// The result, once the subscriber number is checked not to begin with a prefix.
fn checked(area_code: &str, number: &str) -> Result<MpPhone, PhoneError> {
    if number.starts_with(TRUNK_PREFIX) || number.starts_with(LEGACY_MOBILE_PREFIX) {
        return Err(PhoneError::NotInPlan);
    }
    Ok(MpPhone {
        area_code: area_code.to_owned(),
        number: number.to_owned(),
    })
}

#[cfg(test)]
mod tests;
