//! Fixtures shared by the domain tests: times, money, ids and a scheduled slot.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::domain::cutoff::Cutoff;
use crate::domain::slot::{SlotEvent, SlotSpec, SlotState};
use crate::ids::{ActivityId, BookingId, SlotId};
use crate::money::{Currency, Money};

/// An RFC 3339 instant.
pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

pub(crate) fn ars() -> Currency {
    Currency::parse("ARS").expect("currency")
}

pub(crate) fn usd() -> Currency {
    Currency::parse("USD").expect("currency")
}

pub(crate) fn pesos(minor: i64) -> Money {
    Money::new(minor, ars()).expect("money")
}

pub(crate) fn slot_id(text: &str) -> SlotId {
    SlotId::parse(text).expect("slot id")
}

/// A booking id whose last bytes are `n`, so ids sort by `n`.
pub(crate) fn booking_id(n: u16) -> BookingId {
    BookingId::from_uuid(Uuid::from_u128(
        0x0190_f5d2_7c1a_7b3e_8f00_0000_0000_0000 + u128::from(n),
    ))
}

pub(crate) fn buenos_aires() -> Tz {
    chrono_tz::America::Argentina::Buenos_Aires
}

pub(crate) fn hh_mm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("time of day")
}

/// The decision time of most tests: a week before the standard slot.
pub(crate) fn now() -> DateTime<Utc> {
    at("2026-11-24T12:00:00Z")
}

/// The glaciar trek of API.md: 2026-12-01 09:00 in Buenos Aires, 4 500 000 ARS minor,
/// booking closes the day before at 18:00.
pub(crate) fn glaciar(capacity: u32) -> SlotSpec {
    SlotSpec {
        activity_id: ActivityId::parse("glaciar-trek").expect("activity"),
        starts_at: at("2026-12-01T09:00:00-03:00"),
        capacity,
        price: pesos(4_500_000),
        time_zone: buenos_aires(),
        cutoff: Cutoff::DayBeforeAt {
            local_time: hh_mm(18, 0),
        },
    }
}

/// A slot state scheduled with `spec`.
pub(crate) fn scheduled(spec: SlotSpec) -> SlotState {
    SlotState::from_events(&[SlotEvent::SlotScheduled { spec }])
}

/// A slot state holding `seats` for booking `n`, expiring at `expires_at`.
pub(crate) fn with_hold(
    mut state: SlotState,
    n: u16,
    seats: u32,
    expires_at: DateTime<Utc>,
) -> SlotState {
    let unit_price = state.spec.as_ref().map_or(pesos(0), |spec| spec.price);
    state.apply(&SlotEvent::SeatsHeld {
        booking_id: booking_id(n),
        seats,
        unit_price,
        hold_expires_at: expires_at,
    });
    state
}

/// The standard hold length.
pub(crate) fn fifteen_minutes() -> Duration {
    Duration::minutes(15)
}
