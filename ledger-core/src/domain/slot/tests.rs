//! Tests of slot definitions, the slot decide functions and `SlotState::apply`.

use chrono::Duration;

use super::*;
use crate::domain::test_support::{
    at, booking_id, buenos_aires, glaciar, now, pesos, scheduled, with_hold,
};

#[test]
fn validate_bounds_capacity_price_and_cutoff() {
    assert_eq!(glaciar(MAX_CAPACITY).validate(), Ok(()));
    assert_eq!(
        glaciar(0).validate(),
        Ok(()),
        "a slot may have no seats on sale"
    );
    let too_big = glaciar(MAX_CAPACITY + 1).validate();
    assert!(
        matches!(too_big, Err(Rejection::InvalidSlot(_))),
        "{too_big:?}"
    );
    let mut spec = glaciar(10);
    spec.price = pesos(-1);
    assert!(matches!(spec.validate(), Err(Rejection::InvalidSlot(_))));
    spec.price = pesos(0);
    assert_eq!(spec.validate(), Ok(()), "free tours exist");
    spec.cutoff = Cutoff::MinutesBefore {
        minutes: crate::domain::cutoff::MAX_CUTOFF_MINUTES + 1,
    };
    assert!(matches!(spec.validate(), Err(Rejection::InvalidSlot(_))));
}

#[test]
fn first_schedule_records_the_whole_spec_and_a_repeat_records_nothing() {
    let events = schedule_slot(&SlotState::default(), glaciar(20)).expect("scheduled");
    assert_eq!(events, vec![SlotEvent::SlotScheduled { spec: glaciar(20) }]);
    let state = SlotState::from_events(&events);
    assert_eq!(state.spec, Some(glaciar(20)));
    assert_eq!(schedule_slot(&state, glaciar(20)), Ok(vec![]));
}

#[test]
fn an_invalid_spec_is_refused_first_time_and_later() {
    let refused = schedule_slot(&SlotState::default(), glaciar(MAX_CAPACITY + 1));
    assert!(matches!(refused, Err(Rejection::InvalidSlot(_))));
    let refused = schedule_slot(&scheduled(glaciar(20)), glaciar(MAX_CAPACITY + 1));
    assert!(matches!(refused, Err(Rejection::InvalidSlot(_))));
}

#[test]
fn a_changed_spec_records_only_what_changed() {
    let state = scheduled(glaciar(20));
    let mut spec = glaciar(25);
    spec.price = pesos(5_000_000);
    spec.starts_at = at("2026-12-01T10:00:00-03:00");
    let events = schedule_slot(&state, spec.clone()).expect("changed");
    assert_eq!(
        events,
        vec![
            SlotEvent::SlotRescheduled {
                activity_id: spec.activity_id.clone(),
                starts_at: spec.starts_at,
                time_zone: buenos_aires(),
                cutoff: spec.cutoff,
            },
            SlotEvent::CapacityChanged {
                capacity: 25,
                oversold: 0
            },
            SlotEvent::RateChanged {
                price: pesos(5_000_000)
            },
        ]
    );
    let mut after = state.clone();
    events.iter().for_each(|event| after.apply(event));
    assert_eq!(after.spec, Some(spec));

    let mut only_zone = glaciar(20);
    only_zone.time_zone = chrono_tz::America::Sao_Paulo;
    let events = schedule_slot(&state, only_zone).expect("changed");
    assert!(matches!(
        events.as_slice(),
        [SlotEvent::SlotRescheduled { .. }]
    ));
}

#[test]
fn a_capacity_cut_below_sold_seats_is_applied_and_flagged() {
    let mut state = with_hold(scheduled(glaciar(10)), 1, 6, now() + Duration::minutes(15));
    state.apply(&SlotEvent::SeatsConfirmed {
        booking_id: booking_id(1),
        seats: 6,
    });
    let state = with_hold(state, 2, 3, now() + Duration::minutes(15));
    let events = schedule_slot(&state, glaciar(4)).expect("never refused");
    assert_eq!(
        events,
        vec![SlotEvent::CapacityChanged {
            capacity: 4,
            oversold: 5
        }]
    );
    let mut after = state;
    after.apply(&events[0]);
    assert_eq!(
        (after.capacity(), after.available(), after.oversold()),
        (4, 0, 5)
    );
}

#[test]
fn block_and_unblock_need_a_scheduled_slot_and_are_idempotent() {
    let never = SlotState::default();
    assert_eq!(
        block_slot(&never, "storm".into()),
        Err(Rejection::SlotNotFound)
    );
    assert_eq!(
        unblock_slot(&never, "clear".into()),
        Err(Rejection::SlotNotFound)
    );

    let mut state = scheduled(glaciar(20));
    assert_eq!(unblock_slot(&state, "clear".into()), Ok(vec![]));
    let events = block_slot(&state, "storm".into()).expect("blocked");
    assert_eq!(
        events,
        vec![SlotEvent::SlotBlocked {
            reason: "storm".into()
        }]
    );
    state.apply(&events[0]);
    assert!(state.blocked);
    assert_eq!(block_slot(&state, "again".into()), Ok(vec![]));
    let events = unblock_slot(&state, "clear".into()).expect("unblocked");
    assert_eq!(
        events,
        vec![SlotEvent::SlotUnblocked {
            reason: "clear".into()
        }]
    );
    state.apply(&events[0]);
    assert!(!state.blocked);
}

#[test]
fn block_reasons_are_bounded() {
    let state = scheduled(glaciar(20));
    let longest = "é".repeat(MAX_REASON_CHARS);
    assert!(block_slot(&state, longest).is_ok());
    let too_long = "é".repeat(MAX_REASON_CHARS + 1);
    assert!(matches!(
        block_slot(&state, too_long),
        Err(Rejection::InvalidSlot(_))
    ));
    let nul = "storm\0".to_owned();
    assert!(matches!(
        unblock_slot(&state, nul),
        Err(Rejection::InvalidSlot(_))
    ));
}

#[test]
fn expired_holds_are_those_with_expiry_at_or_before_now() {
    let state = scheduled(glaciar(20));
    let state = with_hold(state, 3, 1, now() + Duration::seconds(1));
    let state = with_hold(state, 2, 2, now());
    let state = with_hold(state, 1, 4, now() - Duration::seconds(1));
    assert_eq!(
        state.lapsed(now()),
        vec![(booking_id(1), 4), (booking_id(2), 2)],
        "oldest first"
    );
    assert_eq!(
        release_expired_holds(&state, now()),
        vec![
            SlotEvent::HoldReleased {
                booking_id: booking_id(1),
                seats: 4,
                reason: ReleaseReason::Expired
            },
            SlotEvent::HoldReleased {
                booking_id: booking_id(2),
                seats: 2,
                reason: ReleaseReason::Expired
            },
        ]
    );
    assert_eq!((state.held(), state.held_at(now())), (7, 1));
    assert_eq!((state.available(), state.available_at(now())), (13, 19));
}

#[test]
fn release_hold_releases_one_booking_or_nothing() {
    let state = with_hold(scheduled(glaciar(20)), 1, 4, now());
    assert_eq!(
        release_hold(&state, booking_id(1), ReleaseReason::Cancelled),
        vec![SlotEvent::HoldReleased {
            booking_id: booking_id(1),
            seats: 4,
            reason: ReleaseReason::Cancelled
        }]
    );
    assert_eq!(
        release_hold(&state, booking_id(9), ReleaseReason::Cancelled),
        vec![]
    );
}

#[test]
fn release_hold_also_gives_back_confirmed_seats() {
    let mut state = with_hold(scheduled(glaciar(20)), 1, 4, now());
    state.apply(&SlotEvent::SeatsConfirmed {
        booking_id: booking_id(1),
        seats: 4,
    });
    let state = with_hold(state, 2, 1, now());
    assert_eq!(
        release_hold(&state, booking_id(1), ReleaseReason::Cancelled),
        vec![SlotEvent::SeatsReleased {
            booking_id: booking_id(1),
            seats: 4,
            reason: ReleaseReason::Cancelled
        }]
    );
    assert_eq!(
        release_hold(&state, booking_id(2), ReleaseReason::Cancelled),
        vec![SlotEvent::HoldReleased {
            booking_id: booking_id(2),
            seats: 1,
            reason: ReleaseReason::Cancelled
        }]
    );
    let events = release_hold(&state, booking_id(1), ReleaseReason::Refunded);
    let mut after = state.clone();
    events.iter().for_each(|event| after.apply(event));
    assert_eq!(
        (after.confirmed(), after.held(), after.available()),
        (0, 1, 19)
    );
    after.apply(&SlotEvent::SeatsReleased {
        booking_id: booking_id(9),
        seats: 3,
        reason: ReleaseReason::Refunded,
    });
    assert_eq!(
        after.available(),
        19,
        "releasing unknown seats changes nothing"
    );
}

#[test]
fn seats_are_confirmed_directly_without_a_hold() {
    let mut state = scheduled(glaciar(5));
    state.apply(&SlotEvent::SeatsConfirmed {
        booking_id: booking_id(3),
        seats: 2,
    });
    assert_eq!(
        (state.held(), state.confirmed(), state.available()),
        (0, 2, 3)
    );
}

#[test]
fn apply_moves_seats_between_holds_and_confirmations() {
    let mut state = with_hold(scheduled(glaciar(10)), 1, 3, now());
    let state_before = state.clone();
    state.apply(&SlotEvent::SeatsConfirmed {
        booking_id: booking_id(1),
        seats: 3,
    });
    assert_eq!(
        (state.held(), state.confirmed(), state.available()),
        (0, 3, 7)
    );
    assert_ne!(state, state_before);
    state.apply(&SlotEvent::HoldReleased {
        booking_id: booking_id(7),
        seats: 2,
        reason: ReleaseReason::Expired,
    });
    assert_eq!(
        state.confirmed(),
        3,
        "releasing an unknown hold changes nothing"
    );
}

#[test]
fn changes_before_scheduling_change_nothing() {
    let mut state = SlotState::default();
    state.apply(&SlotEvent::CapacityChanged {
        capacity: 5,
        oversold: 0,
    });
    state.apply(&SlotEvent::RateChanged { price: pesos(1) });
    state.apply(&SlotEvent::SlotRescheduled {
        activity_id: glaciar(1).activity_id,
        starts_at: now(),
        time_zone: buenos_aires(),
        cutoff: Cutoff::MinutesBefore { minutes: 0 },
    });
    assert_eq!(state, SlotState::default());
    assert_eq!((state.capacity(), state.available()), (0, 0));
    assert_eq!(state.bookable_until(), None);
}

#[test]
fn bookable_until_follows_the_spec() {
    let state = scheduled(glaciar(10));
    assert_eq!(state.bookable_until(), Some(at("2026-11-30T21:00:00Z")));
}

#[test]
fn snapshot_round_trips_through_json() {
    let state = with_hold(scheduled(glaciar(10)), 1, 3, now());
    let json = serde_json::to_value(&state).expect("ser");
    assert_eq!(json["spec"]["time_zone"], "America/Argentina/Buenos_Aires");
    assert_eq!(json["spec"]["cutoff"]["local_time"], "18:00");
    // Constant size: the counters, never the holds (those are the `slot_holds` index).
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(fields, ["blocked", "confirmed", "held", "spec"]);
    assert_eq!(
        (json["held"].as_u64(), json["confirmed"].as_u64()),
        (Some(3), Some(0))
    );
    let back: SlotState = serde_json::from_value(json).expect("de");
    assert!(
        back.known().is_empty(),
        "entries are loaded from the index, not the snapshot"
    );
    let mut loaded = back.clone();
    for (id, entry) in state.known() {
        loaded.know(*id, *entry);
    }
    assert_eq!(loaded, state);
    assert_eq!((back.held(), back.available()), (3, 7));
    // The layout of snapshots written before the counters is refused (rebuilt from events).
    assert!(serde_json::from_str::<SlotState>(
        r#"{"spec":null,"blocked":false,"holds":{},"confirmed":{}}"#
    )
    .is_err());
}

#[test]
fn time_zones_parse_by_iana_name() {
    assert_eq!(
        parse_time_zone("America/Argentina/Buenos_Aires"),
        Ok(buenos_aires())
    );
    assert!(matches!(
        parse_time_zone("Mars/Olympus"),
        Err(Rejection::InvalidSlot(_))
    ));
}
