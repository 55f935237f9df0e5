//! Booking cutoffs: the `Cutoff` rule of a slot (its wire form `{"kind": …}`) and
//! `bookable_until`, the instant booking closes, computed in the activity's own time zone
//! with DST gaps and folds resolved (invariant 10).

use std::fmt;

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest `minutes_before` cutoff: 30 days. A longer one is almost surely a unit mistake
/// (seconds or hours typed as minutes) and would close a slot before it is even sold.
pub const MAX_CUTOFF_MINUTES: u32 = 30 * 24 * 60;

/// Widest stretch of local time searched for the end of a DST gap: two days. Real gaps
/// are at most one day long (Samoa skipped 2011-12-30); the margin keeps the search exact.
const MAX_GAP_SEARCH: Duration = Duration::days(2);

/// When booking for a slot closes. Wire form (API.md "Catalog"):
/// `{"kind":"day_before_at","local_time":"18:00"}` or `{"kind":"minutes_before","minutes":90}`;
/// unknown fields are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cutoff {
    /// Closes the day before the slot's local start date, at `local_time` in the slot's
    /// zone. `HH:MM` on the wire; only whole minutes are valid.
    DayBeforeAt {
        /// The local wall-clock time on the day before.
        #[serde(with = "hh_mm")]
        local_time: NaiveTime,
    },
    /// Closes `minutes` before the start, at most [`MAX_CUTOFF_MINUTES`].
    MinutesBefore {
        /// Minutes before `starts_at`.
        #[serde(deserialize_with = "bounded_minutes")]
        minutes: u32,
    },
}

/// Why a cutoff was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CutoffError {
    /// `local_time` is not a whole minute written `HH:MM`.
    #[error("cutoff local_time must be a time of day written HH:MM (00:00 to 23:59)")]
    InvalidLocalTime,
    /// `minutes` exceeds [`MAX_CUTOFF_MINUTES`].
    #[error("cutoff minutes must be at most {MAX_CUTOFF_MINUTES} (30 days)")]
    TooManyMinutes,
}

impl Cutoff {
    /// Checks what the type cannot: a whole-minute `local_time` (the wire form has no
    /// seconds) and `minutes` within [`MAX_CUTOFF_MINUTES`].
    pub fn validate(&self) -> Result<(), CutoffError> {
        match self {
            Cutoff::DayBeforeAt { local_time } => {
                if local_time.second() == 0 && local_time.nanosecond() == 0 {
                    Ok(())
                } else {
                    Err(CutoffError::InvalidLocalTime)
                }
            }
            Cutoff::MinutesBefore { minutes } => {
                if *minutes <= MAX_CUTOFF_MINUTES {
                    Ok(())
                } else {
                    Err(CutoffError::TooManyMinutes)
                }
            }
        }
    }
}

impl fmt::Display for Cutoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cutoff::DayBeforeAt { local_time } => {
                write!(f, "the day before at {}", hh_mm::format(local_time))
            }
            Cutoff::MinutesBefore { minutes } => write!(f, "{minutes} minutes before"),
        }
    }
}

/// The instant booking closes for a slot starting at `starts_at` in zone `tz`; booking is
/// allowed while `now < bookable_until`.
///
/// - `day_before_at`: the day before the slot's LOCAL start date (in `tz`), at
///   `local_time` in `tz`. If that local time does not exist (DST gap) the first instant
///   after the gap is used; if it is ambiguous (DST fold), the earlier instant.
/// - `minutes_before`: `starts_at − minutes`.
///
/// Results outside chrono's range (unreachable for real dates) saturate to
/// `DateTime::<Utc>::MIN_UTC`, which closes booking: the safe side.
pub fn bookable_until(starts_at: DateTime<Utc>, tz: Tz, cutoff: &Cutoff) -> DateTime<Utc> {
    let closes = match cutoff {
        Cutoff::MinutesBefore { minutes } => {
            starts_at.checked_sub_signed(Duration::minutes(i64::from(*minutes)))
        }
        Cutoff::DayBeforeAt { local_time } => local_date(starts_at, tz)
            .and_then(|date| date.pred_opt())
            .and_then(|day_before| resolve_local(tz, day_before.and_time(*local_time))),
    };
    closes.unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The local date of `at` in `tz`; `None` at the edges of chrono's range (where
/// `DateTime::with_timezone` would panic).
fn local_date(at: DateTime<Utc>, tz: Tz) -> Option<NaiveDate> {
    let utc = at.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset).map(|local| local.date())
}

/// The instant a local wall-clock time denotes in `tz`: the earlier one in a fold, the
/// first instant after the gap in a gap.
fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
        LocalResult::None => first_after_gap(tz, local),
    }
}

/// The first instant after the DST gap that swallows `missing`: the smallest existing local
/// time after it, found by bisection on whole seconds (transitions fall on whole seconds).
fn first_after_gap(tz: Tz, missing: NaiveDateTime) -> Option<DateTime<Utc>> {
    let exists = |local: &NaiveDateTime| tz.from_local_datetime(local).earliest();
    let mut absent = missing;
    let mut present = missing.checked_add_signed(MAX_GAP_SEARCH)?;
    exists(&present)?;
    // Invariant: `absent` does not exist, `present` does; the gap ends in (absent, present].
    while present.signed_duration_since(absent) > Duration::seconds(1) {
        let half = Duration::seconds(present.signed_duration_since(absent).num_seconds() / 2);
        let middle = absent.checked_add_signed(half)?;
        if exists(&middle).is_some() {
            present = middle;
        } else {
            absent = middle;
        }
    }
    // `missing` has whole seconds (it is a whole minute), so `present` is the gap's end.
    exists(&present).map(|at| at.with_timezone(&Utc))
}

fn bounded_minutes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    // `90` or `90.0` (an integer as JSON Schema has it), never a fraction or below zero.
    let minutes = crate::money::whole_number(deserializer)?;
    let minutes = u32::try_from(minutes)
        .map_err(|_| serde::de::Error::custom("expected a non-negative integer"))?;
    if minutes <= MAX_CUTOFF_MINUTES {
        Ok(minutes)
    } else {
        Err(serde::de::Error::custom(CutoffError::TooManyMinutes))
    }
}

/// `HH:MM` (two digits each, 24-hour clock) for a `NaiveTime`.
mod hh_mm {
    use super::*;

    /// The time as `HH:MM` (seconds are not part of the wire form).
    pub(super) fn format(time: &NaiveTime) -> String {
        format!("{:02}:{:02}", time.hour(), time.minute())
    }

    /// Parses exactly `HH:MM`.
    pub(super) fn parse(text: &str) -> Result<NaiveTime, CutoffError> {
        let digit = |byte: u8| byte.is_ascii_digit().then(|| u32::from(byte - b'0'));
        let two = |high: u8, low: u8| Some(digit(high)? * 10 + digit(low)?);
        match *text.as_bytes() {
            [h1, h2, b':', m1, m2] => two(h1, h2)
                .zip(two(m1, m2))
                .and_then(|(hour, minute)| NaiveTime::from_hms_opt(hour, minute, 0))
                .ok_or(CutoffError::InvalidLocalTime),
            _ => Err(CutoffError::InvalidLocalTime),
        }
    }

    pub(super) fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(time))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
