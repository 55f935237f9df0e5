//! Tests of coupon codes and definitions, the coupon decide functions, live claims and the
//! clock-derived list state.

use chrono::Duration;

use super::*;
use crate::domain::test_support::{at, booking_id, now, pesos};

fn code(text: &str) -> CouponCode {
    CouponCode::parse(text).expect("coupon code")
}

fn verano(max_claims: u32, per_customer_limit: u32) -> CouponSpec {
    CouponSpec {
        code: code("VERANO10"),
        discount: Discount::PercentOff(10),
        max_claims,
        per_customer_limit,
        valid_from: at("2026-11-01T00:00:00Z"),
        valid_until: at("2027-03-01T00:00:00Z"),
    }
}

fn issued(spec: CouponSpec) -> CouponState {
    CouponState::from_events(&[CouponEvent::CouponIssued { spec }])
}

fn claimed(mut state: CouponState, n: u16, customer: &str, expires: DateTime<Utc>) -> CouponState {
    let events = claim_coupon(&state, booking_id(n), customer, now(), expires).expect("claimed");
    events.iter().for_each(|event| state.apply(event));
    state
}

fn hold_end() -> DateTime<Utc> {
    now() + Duration::minutes(15)
}

#[test]
fn codes_are_upper_cased_then_checked() {
    assert_eq!(code("verano10"), code("VERANO10"));
    assert_eq!(code("Verano_10-b").as_str(), "VERANO_10-B");
    assert_eq!(code("verano10").stream_id().as_str(), "coupon-VERANO10");
    assert!(CouponCode::parse(&"A".repeat(MAX_COUPON_CODE_LEN)).is_ok());
    for bad in [
        "",
        "VERANO 10",
        "VERANO10!",
        "ñandú",
        "ﬁ",
        &"A".repeat(MAX_COUPON_CODE_LEN + 1),
    ] {
        let refused = CouponCode::parse(bad);
        assert!(
            matches!(refused, Err(Rejection::InvalidCoupon(_))),
            "{bad}: {refused:?}"
        );
    }
    assert_eq!(
        serde_json::to_string(&code("verano10")).expect("ser"),
        r#""VERANO10""#
    );
    assert_eq!(
        serde_json::from_str::<CouponCode>(r#""verano10""#).expect("de"),
        code("VERANO10")
    );
    assert!(serde_json::from_str::<CouponCode>(r#""no way""#).is_err());
}

#[test]
fn discount_wire_form() {
    let json = serde_json::to_string(&Discount::PercentOff(10)).expect("ser");
    assert_eq!(json, r#"{"percent_off":10}"#);
    let json = serde_json::to_string(&Discount::AmountOff(pesos(500))).expect("ser");
    assert_eq!(
        json,
        r#"{"amount_off":{"amount_minor":500,"currency":"ARS"}}"#
    );
}

#[test]
fn validate_checks_window_limits_and_discount() {
    assert_eq!(verano(100, 1).validate(), Ok(()));
    let mut bad = vec![];
    let mut spec = verano(100, 1);
    spec.valid_until = spec.valid_from;
    bad.push(spec);
    bad.push(verano(0, 1));
    bad.push(verano(MAX_COUPON_CLAIMS + 1, 1));
    bad.push(verano(100, 0));
    bad.push(verano(100, MAX_PER_CUSTOMER_LIMIT + 1));
    for discount in [
        Discount::PercentOff(0),
        Discount::PercentOff(101),
        Discount::AmountOff(pesos(0)),
        Discount::AmountOff(pesos(-5)),
    ] {
        bad.push(CouponSpec {
            discount,
            ..verano(100, 1)
        });
    }
    for spec in bad {
        assert!(
            matches!(spec.validate(), Err(Rejection::InvalidCoupon(_))),
            "{spec:?}"
        );
    }
    let full = CouponSpec {
        discount: Discount::PercentOff(100),
        ..verano(MAX_COUPON_CLAIMS, MAX_PER_CUSTOMER_LIMIT)
    };
    assert_eq!(full.validate(), Ok(()));
}

#[test]
fn issue_is_idempotent_and_conflicts_on_a_different_spec() {
    let none = CouponState::default();
    assert_eq!(
        issue_coupon(&none, verano(100, 1)),
        Ok(vec![CouponEvent::CouponIssued {
            spec: verano(100, 1)
        }])
    );
    let state = issued(verano(100, 1));
    assert_eq!(issue_coupon(&state, verano(100, 1)), Ok(vec![]));
    assert_eq!(
        issue_coupon(&state, verano(100, 2)),
        Err(Rejection::CouponConflict)
    );
    assert!(matches!(
        issue_coupon(&none, verano(0, 1)),
        Err(Rejection::InvalidCoupon(_))
    ));
}

#[test]
fn claims_respect_the_validity_window() {
    let none = CouponState::default();
    let claim = |state: &CouponState, at: DateTime<Utc>| {
        claim_coupon(state, booking_id(1), "ana", at, at + Duration::minutes(15))
    };
    assert_eq!(claim(&none, now()), Err(Rejection::CouponNotFound));
    let state = issued(verano(100, 1));
    let spec = verano(100, 1);
    assert_eq!(
        claim(&state, spec.valid_from - Duration::seconds(1)),
        Err(Rejection::CouponNotYetValid)
    );
    assert!(claim(&state, spec.valid_from).is_ok());
    assert!(claim(&state, spec.valid_until - Duration::seconds(1)).is_ok());
    assert_eq!(
        claim(&state, spec.valid_until),
        Err(Rejection::CouponExpired)
    );
}

#[test]
fn claims_respect_the_total_limit_over_live_claims() {
    let state = issued(verano(2, 5));
    let state = claimed(state, 1, "ana", hold_end());
    let state = claimed(state, 2, "bea", hold_end());
    let refused = claim_coupon(&state, booking_id(3), "caro", now(), hold_end());
    assert!(
        matches!(&refused, Err(Rejection::CouponExhausted(detail)) if detail.contains("no claims left")),
        "{refused:?}"
    );
    // A claim whose hold lapsed stops counting at once, with no write.
    let later = hold_end();
    assert_eq!(state.live_claims(later), 0);
    assert!(claim_coupon(
        &state,
        booking_id(3),
        "caro",
        later,
        later + Duration::minutes(15)
    )
    .is_ok());
}

#[test]
fn claims_respect_the_per_customer_limit() {
    let state = claimed(issued(verano(100, 1)), 1, "ana", hold_end());
    let refused = claim_coupon(&state, booking_id(2), "ana", now(), hold_end());
    assert!(
        matches!(&refused, Err(Rejection::CouponExhausted(detail)) if detail.contains("customer")),
        "{refused:?}"
    );
    assert!(claim_coupon(&state, booking_id(2), "bea", now(), hold_end()).is_ok());
    assert_eq!(state.live_claims_of("ana", now()), 1);
}

#[test]
fn a_live_claim_by_the_same_booking_is_not_repeated() {
    let state = claimed(issued(verano(1, 1)), 1, "ana", hold_end());
    assert_eq!(
        claim_coupon(&state, booking_id(1), "ana", now(), hold_end()),
        Ok(vec![])
    );
}

#[test]
fn confirmed_claims_count_for_good_and_released_ones_not_at_all() {
    let mut state = claimed(issued(verano(2, 5)), 1, "ana", hold_end());
    let confirm = confirm_claim(&state, booking_id(1));
    assert_eq!(
        confirm,
        vec![CouponEvent::CouponClaimConfirmed {
            booking_id: booking_id(1)
        }]
    );
    state.apply(&confirm[0]);
    assert_eq!(confirm_claim(&state, booking_id(1)), vec![]);
    assert_eq!(confirm_claim(&state, booking_id(9)), vec![]);
    assert_eq!(state.live_claims(at("2030-01-01T00:00:00Z")), 1);

    let mut state = claimed(state, 2, "bea", hold_end());
    let release = release_claim(&state, booking_id(2), ReleaseReason::Cancelled);
    assert_eq!(
        release,
        vec![CouponEvent::CouponClaimReleased {
            booking_id: booking_id(2),
            reason: ReleaseReason::Cancelled
        }]
    );
    state.apply(&release[0]);
    assert_eq!(state.live_claims(now()), 1);
    assert_eq!(
        release_claim(&state, booking_id(2), ReleaseReason::Cancelled),
        vec![]
    );
}

#[test]
fn list_state_is_derived_from_the_clock() {
    assert_eq!(CouponState::default().list_state(now()), None);
    let spec = verano(1, 1);
    let state = issued(spec.clone());
    assert_eq!(
        state.list_state(spec.valid_from - Duration::days(1)),
        Some(CouponListState::Active)
    );
    assert_eq!(state.list_state(now()), Some(CouponListState::Active));
    let state = claimed(state, 1, "ana", hold_end());
    assert_eq!(state.list_state(now()), Some(CouponListState::Exhausted));
    assert_eq!(
        state.list_state(hold_end()),
        Some(CouponListState::Active),
        "the hold lapsed"
    );
    assert_eq!(
        state.list_state(spec.valid_until),
        Some(CouponListState::Expired)
    );
    assert_eq!(
        serde_json::to_string(&CouponListState::Exhausted).expect("ser"),
        r#""exhausted""#
    );
}

#[test]
fn snapshot_round_trips_through_json() {
    let state = claimed(issued(verano(3, 1)), 1, "ana", hold_end());
    let json = serde_json::to_value(&state).expect("ser");
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        ["confirmed", "held", "spec"],
        "counters, never the claims"
    );
    let back: CouponState = serde_json::from_value(json).expect("de");
    assert!(back.known().is_empty());
    assert_eq!(back.live_claims(now()), 1);
    let mut loaded = back;
    for (id, claim) in state.known() {
        loaded.know(*id, claim.clone());
    }
    assert_eq!(loaded, state);
}
