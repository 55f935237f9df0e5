//! Tests of cutoff instants (time zones, DST gaps and folds) and the cutoff wire form.

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::domain::test_support::{at, buenos_aires, hh_mm};

fn day_before_at(hour: u32, minute: u32) -> Cutoff {
    Cutoff::DayBeforeAt {
        local_time: hh_mm(hour, minute),
    }
}

#[test]
fn day_before_at_closes_at_local_time_the_day_before() {
    let starts_at = at("2026-12-01T09:00:00-03:00");
    let until = bookable_until(starts_at, buenos_aires(), &day_before_at(18, 0));
    assert_eq!(until, at("2026-11-30T21:00:00Z"));
    // Booking is allowed while now < bookable_until.
    assert!(
        at("2026-11-30T20:59:59Z") < until,
        "17:59:59 local is bookable"
    );
    assert!(
        at("2026-11-30T21:00:00Z") >= until,
        "18:00 local is refused"
    );
}

#[test]
fn the_day_before_is_counted_from_the_local_start_date() {
    // 01:00Z on Dec 1 is 22:00 on Nov 30 in Buenos Aires: the day before is Nov 29.
    let starts_at = at("2026-12-01T01:00:00Z");
    let until = bookable_until(starts_at, buenos_aires(), &day_before_at(18, 0));
    assert_eq!(until, at("2026-11-29T21:00:00Z"));
}

#[test]
fn a_local_time_in_a_dst_gap_moves_to_the_first_instant_after_it() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT in New York: 02:30 does not exist.
    let starts_at = at("2026-03-09T10:00:00-04:00");
    let until = bookable_until(
        starts_at,
        chrono_tz::America::New_York,
        &day_before_at(2, 30),
    );
    assert_eq!(until, at("2026-03-08T07:00:00Z"));
}

#[test]
fn a_local_time_in_a_dst_fold_takes_the_earlier_instant() {
    // 2026-11-01 01:30 happens twice in New York (EDT, then EST): the earlier is 05:30Z.
    let starts_at = at("2026-11-02T10:00:00-05:00");
    let until = bookable_until(
        starts_at,
        chrono_tz::America::New_York,
        &day_before_at(1, 30),
    );
    assert_eq!(until, at("2026-11-01T05:30:00Z"));
}

#[test]
fn a_whole_missing_day_moves_to_the_next_midnight() {
    // Samoa skipped 2011-12-30: from -10 at the end of Dec 29 straight to +14 on Dec 31.
    let starts_at = at("2011-12-31T10:00:00+14:00");
    let until = bookable_until(starts_at, chrono_tz::Pacific::Apia, &day_before_at(18, 0));
    assert_eq!(until, at("2011-12-30T10:00:00Z"));
}

#[test]
fn minutes_before_subtracts_from_the_start() {
    let starts_at = at("2026-12-01T12:00:00Z");
    let cutoff = Cutoff::MinutesBefore { minutes: 90 };
    assert_eq!(
        bookable_until(starts_at, buenos_aires(), &cutoff),
        at("2026-12-01T10:30:00Z")
    );
    let zero = Cutoff::MinutesBefore { minutes: 0 };
    assert_eq!(bookable_until(starts_at, buenos_aires(), &zero), starts_at);
}

#[test]
fn out_of_range_results_close_booking() {
    let cutoff = Cutoff::MinutesBefore { minutes: 1 };
    let until = bookable_until(DateTime::<Utc>::MIN_UTC, buenos_aires(), &cutoff);
    assert_eq!(until, DateTime::<Utc>::MIN_UTC);
    let until = bookable_until(
        DateTime::<Utc>::MIN_UTC,
        buenos_aires(),
        &day_before_at(1, 0),
    );
    assert_eq!(until, DateTime::<Utc>::MIN_UTC);
}

#[test]
fn wire_form_is_exactly_the_api_shape() {
    let json = serde_json::to_string(&day_before_at(18, 0)).expect("ser");
    assert_eq!(json, r#"{"kind":"day_before_at","local_time":"18:00"}"#);
    let json = serde_json::to_string(&Cutoff::MinutesBefore { minutes: 90 }).expect("ser");
    assert_eq!(json, r#"{"kind":"minutes_before","minutes":90}"#);
    let back: Cutoff =
        serde_json::from_str(r#"{"local_time":"07:05","kind":"day_before_at"}"#).expect("de");
    assert_eq!(back, day_before_at(7, 5));
    let back: Cutoff = serde_json::from_str(r#"{"kind":"minutes_before","minutes":43200}"#)
        .expect("the bound itself is accepted");
    assert_eq!(
        back,
        Cutoff::MinutesBefore {
            minutes: MAX_CUTOFF_MINUTES
        }
    );
}

#[test]
fn wire_form_refuses_anything_else() {
    for bad in [
        r#"{"kind":"day_before_at","local_time":"18:00","extra":1}"#,
        r#"{"kind":"minutes_before","minutes":90,"local_time":"18:00"}"#,
        r#"{"kind":"minutes_before","minutes":43201}"#,
        r#"{"kind":"minutes_before","minutes":-1}"#,
        r#"{"kind":"minutes_before"}"#,
        r#"{"kind":"hours_before","hours":2}"#,
        r#"{"local_time":"18:00"}"#,
        r#"{"kind":"day_before_at","local_time":"18:00:00"}"#,
        r#"{"kind":"day_before_at","local_time":"24:00"}"#,
        r#"{"kind":"day_before_at","local_time":"18:60"}"#,
        r#"{"kind":"day_before_at","local_time":"8:00"}"#,
        r#"{"kind":"day_before_at","local_time":"1800"}"#,
        r#"{"kind":"day_before_at","local_time":"+1:00"}"#,
        r#"{"kind":"day_before_at","local_time":"１８:00"}"#,
    ] {
        assert!(serde_json::from_str::<Cutoff>(bad).is_err(), "{bad}");
    }
}

#[test]
fn validate_catches_what_constructors_allow() {
    assert_eq!(day_before_at(23, 59).validate(), Ok(()));
    let with_seconds = Cutoff::DayBeforeAt {
        local_time: NaiveTime::from_hms_opt(18, 0, 30).expect("time"),
    };
    assert_eq!(with_seconds.validate(), Err(CutoffError::InvalidLocalTime));
    let too_long = Cutoff::MinutesBefore {
        minutes: MAX_CUTOFF_MINUTES + 1,
    };
    assert_eq!(too_long.validate(), Err(CutoffError::TooManyMinutes));
    assert_eq!(day_before_at(18, 0).to_string(), "the day before at 18:00");
}

fn zone() -> impl Strategy<Value = Tz> {
    prop::sample::select(vec![
        chrono_tz::America::New_York,
        chrono_tz::America::Argentina::Buenos_Aires,
        chrono_tz::America::Santiago,
        chrono_tz::America::Sao_Paulo,
        chrono_tz::Europe::London,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Pacific::Apia,
        chrono_tz::Asia::Kathmandu,
    ])
}

fn cutoff() -> impl Strategy<Value = Cutoff> {
    prop_oneof![
        (0u32..24, 0u32..60).prop_map(|(hour, minute)| day_before_at(hour, minute)),
        (0..=MAX_CUTOFF_MINUTES).prop_map(|minutes| Cutoff::MinutesBefore { minutes }),
    ]
}

proptest! {
    #[test]
    fn booking_always_closes_before_the_start(
        tz in zone(),
        cutoff in cutoff(),
        // 2000-01-01 to 2040-01-01, minute resolution.
        minute in 0i64..21_038_400,
    ) {
        let starts_at = at("2000-01-01T00:00:00Z") + Duration::minutes(minute);
        let until = bookable_until(starts_at, tz, &cutoff);
        prop_assert!(until <= starts_at);
        if let Cutoff::DayBeforeAt { .. } = cutoff {
            // Never earlier than two local days before the start.
            prop_assert!(until > starts_at - Duration::hours(50));
        }
        let json = serde_json::to_string(&cutoff).expect("ser");
        prop_assert_eq!(serde_json::from_str::<Cutoff>(&json).expect("de"), cutoff);
    }
}

proptest! {
    #[test]
    fn never_panics_anywhere_in_chronos_range(
        tz in zone(),
        cutoff in prop_oneof![
            cutoff(),
            any::<u32>().prop_map(|minutes| Cutoff::MinutesBefore { minutes }),
        ],
        seconds in prop_oneof![
            Just(DateTime::<Utc>::MIN_UTC.timestamp()),
            Just(DateTime::<Utc>::MAX_UTC.timestamp()),
            DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
        ],
    ) {
        let starts_at = DateTime::<Utc>::from_timestamp(seconds, 0).expect("in range");
        prop_assert!(bookable_until(starts_at, tz, &cutoff) <= starts_at);
    }
}
