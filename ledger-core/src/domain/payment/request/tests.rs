//! Tests of starting a payment: the provider idempotency key (golden values computed outside
//! this code), the amount due, `payable`, and `PaymentRequested` as a pure record that
//! never makes anything paid.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::domain::booking::{BookingEvent, BookingItem, CancellerRole};
use crate::domain::test_support::{now, pesos, slot_id};
use crate::money::Currency;

/// The booking id of the golden vectors.
fn beef() -> BookingId {
    BookingId::parse("0190f5d2-7c1a-7b3e-8f00-00000000beef").expect("booking id")
}

fn hold_end() -> DateTime<Utc> {
    now() + Duration::minutes(15)
}

/// A booking of 9 000 000 ARS minor (two seats at 4 500 000), held until `hold_end()`.
fn placed() -> BookingState {
    BookingState::from_events(&[BookingEvent::BookingPlaced {
        booking_id: Some(beef()),
        customer: "auth0|ana".into(),
        items: vec![BookingItem {
            slot_id: slot_id("glaciar-0900"),
            seats: 2,
            unit_price: pesos(4_500_000),
        }],
        subtotal: pesos(9_000_000),
        discount: pesos(0),
        total: pesos(9_000_000),
        coupon_code: None,
        hold_expires_at: hold_end(),
    }])
}

fn applied(mut state: BookingState, events: &[BookingEvent]) -> BookingState {
    for event in events {
        state.apply(event);
    }
    state
}

fn approved(payment_id: &str, minor: i64) -> BookingEvent {
    BookingEvent::PaymentApproved {
        provider: Provider::MercadoPago,
        payment_id: payment_id.into(),
        amount: pesos(minor),
    }
}

fn requested(provider: Provider, minor: i64, reference: &str) -> BookingEvent {
    BookingEvent::PaymentRequested {
        provider,
        amount: pesos(minor),
        provider_reference: reference.into(),
        idempotency_key: provider_idempotency_key(&beef(), provider, &pesos(minor)),
        payer: None,
        data_key: None,
    }
}

/// 4 000 000 of the 9 000 000 paid.
fn partially_paid() -> BookingState {
    applied(
        placed(),
        &[
            approved("1", 4_000_000),
            BookingEvent::BookingPartiallyPaid {
                paid: pesos(4_000_000),
                due: pesos(5_000_000),
            },
        ],
    )
}

fn paid() -> BookingState {
    applied(
        placed(),
        &[
            approved("1", 9_000_000),
            BookingEvent::BookingPaid {
                paid: pesos(9_000_000),
            },
        ],
    )
}

#[test]
fn golden_provider_idempotency_keys() {
    // Computed independently of this code: python3 -c 'import hashlib;
    // print(hashlib.sha256(CANONICAL.encode()).hexdigest())' over each canonical string
    // below, written by hand (members sorted by name, no whitespace: RFC 8785).
    let cases = [
        (
            Provider::MercadoPago,
            pesos(8_100_000),
            r#"{"amount_minor":8100000,"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","currency":"ARS","provider":"mercadopago"}"#,
            "bfba9fe829a7015d78eee95553c9f2fcc3aba833c1399869192afa4654f9aca5",
        ),
        (
            Provider::Stripe,
            pesos(8_100_000),
            r#"{"amount_minor":8100000,"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","currency":"ARS","provider":"stripe"}"#,
            "830f12c8882083373083e541482e85f3272f56afb49e63c35f6942f7aafc164e",
        ),
        (
            Provider::Pix,
            Money::new(11_000, Currency::parse("BRL").expect("BRL")).expect("money"),
            r#"{"amount_minor":11000,"booking_id":"0190f5d2-7c1a-7b3e-8f00-00000000beef","currency":"BRL","provider":"pix"}"#,
            "354261c27a0eda3d430ad2993032d5bc431e01cc69c2ee68c64522940c0f33bb",
        ),
    ];
    for (provider, amount, canonical, key) in cases {
        assert_eq!(canonical_by_hand(&beef(), provider, &amount), canonical);
        let document = json!({"booking_id": beef().to_string(), "provider": provider.as_str(),
            "amount_minor": amount.minor(), "currency": amount.currency().as_str()});
        assert_eq!(canonical_json(&document).expect("canonical"), canonical);
        assert_eq!(
            provider_idempotency_key(&beef(), provider, &amount),
            key,
            "{provider}"
        );
    }
}

#[test]
fn keys_change_with_every_input() {
    let base = provider_idempotency_key(&beef(), Provider::MercadoPago, &pesos(100));
    let other_booking = BookingId::from_uuid(Uuid::from_u128(1));
    let dollars = Money::new(100, Currency::parse("USD").expect("USD")).expect("money");
    for other in [
        provider_idempotency_key(&other_booking, Provider::MercadoPago, &pesos(100)),
        provider_idempotency_key(&beef(), Provider::Stripe, &pesos(100)),
        provider_idempotency_key(&beef(), Provider::MercadoPago, &pesos(101)),
        provider_idempotency_key(&beef(), Provider::MercadoPago, &dollars),
    ] {
        assert_ne!(other, base);
    }
    assert_eq!(
        base,
        provider_idempotency_key(&beef(), Provider::MercadoPago, &pesos(100)),
        "deterministic"
    );
}

#[test]
fn amount_due_is_what_is_left_and_never_negative() {
    assert_eq!(amount_due(&BookingState::default()), None, "never placed");
    assert_eq!(amount_due(&placed()), Some(pesos(9_000_000)));
    assert_eq!(amount_due(&partially_paid()), Some(pesos(5_000_000)));
    assert_eq!(amount_due(&paid()), Some(pesos(0)));
    let overpaid = applied(paid(), &[approved("2", 1_000)]);
    assert_eq!(amount_due(&overpaid), Some(pesos(0)), "never negative");
    let refunded = applied(
        partially_paid(),
        &[BookingEvent::PaymentRefunded {
            provider: Provider::MercadoPago,
            payment_id: "1".into(),
            refunded: pesos(4_000_000),
        }],
    );
    assert_eq!(
        amount_due(&refunded),
        Some(pesos(9_000_000)),
        "refunds are owed again"
    );
    let dollars = Money::new(500, Currency::parse("USD").expect("USD")).expect("money");
    let foreign = applied(
        placed(),
        &[BookingEvent::PaymentApproved {
            provider: Provider::Stripe,
            payment_id: "pi_1".into(),
            amount: dollars,
        }],
    );
    assert_eq!(
        amount_due(&foreign),
        Some(pesos(9_000_000)),
        "uncounted money"
    );
}

#[test]
fn only_held_and_partially_paid_bookings_are_payable() {
    assert!(!payable(&BookingState::default(), now()), "never placed");
    assert!(payable(&placed(), now()));
    assert!(payable(&partially_paid(), now()));
    assert!(!payable(&placed(), hold_end()), "the hold lapsed");
    assert!(!payable(&partially_paid(), hold_end()), "the hold lapsed");
    assert!(!payable(&paid(), now()));
    let closed = [
        BookingEvent::BookingExpired,
        BookingEvent::BookingCancelled {
            by: "auth0|ana".into(),
            role: CancellerRole::Owner,
        },
        BookingEvent::LatePaymentRequiresRefund {
            paid: pesos(9_000_000),
        },
        BookingEvent::BookingRefunded {
            refunded: pesos(9_000_000),
        },
    ];
    for event in closed {
        assert!(
            !payable(&applied(placed(), std::slice::from_ref(&event)), now()),
            "{event:?}"
        );
    }
}

#[test]
fn requests_are_remembered_once_per_provider_object() {
    let state = applied(
        placed(),
        &[
            requested(Provider::MercadoPago, 9_000_000, "pref-1"),
            requested(Provider::Stripe, 9_000_000, "pi_1"),
            requested(Provider::MercadoPago, 9_000_000, "pref-1"),
            requested(Provider::Pix, 9_000_000, "pref-1"),
            requested(Provider::MercadoPago, 5_000_000, "pref-1"),
        ],
    );
    let seen: Vec<(Provider, i64, &str)> = (state.requests().iter())
        .map(|r| (r.provider, r.amount.minor(), r.provider_reference.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (Provider::MercadoPago, 5_000_000, "pref-1"),
            (Provider::Stripe, 9_000_000, "pi_1"),
            (Provider::Pix, 9_000_000, "pref-1"),
        ]
    );
}

#[test]
fn snapshots_without_requests_keep_their_bytes() {
    let before = paid();
    let text = serde_json::to_value(&before).expect("snapshot");
    assert!(text.get("requests").is_none(), "left out while empty");
    let old: BookingState = serde_json::from_value(text).expect("old snapshots decode");
    assert_eq!(old, before);
    let after = applied(before, &[requested(Provider::Pix, 9_000_000, "txid1")]);
    let text = serde_json::to_value(&after).expect("snapshot");
    assert_eq!(
        text["requests"],
        json!([{"provider": "pix", "amount": {"amount_minor": 9_000_000, "currency": "ARS"},
            "provider_reference": "txid1"}])
    );
    assert_eq!(
        serde_json::from_value::<BookingState>(text).expect("decodes"),
        after
    );
}

/// The states a request may arrive in, from `placed()` on.
fn any_state() -> impl Strategy<Value = BookingState> {
    prop_oneof![
        Just(BookingState::default()),
        Just(placed()),
        Just(partially_paid()),
        Just(paid()),
        Just(applied(placed(), &[BookingEvent::BookingExpired])),
        Just(applied(
            paid(),
            &[BookingEvent::BookingCancelled {
                by: "op".into(),
                role: CancellerRole::Operator
            }]
        )),
    ]
}

proptest! {
    /// `PaymentRequested` is a pure record: whatever the state, amount and provider, it
    /// changes nothing but `requests` — no payment, no status, no paid sum, nothing due.
    #[test]
    fn a_request_never_makes_anything_paid(
        before in any_state(),
        provider in prop::sample::select(Provider::ALL.to_vec()),
        minor in 0..=crate::money::MAX_MINOR,
        reference in "[A-Za-z0-9_-]{1,40}",
        minutes in 0i64..30,
    ) {
        let after = applied(before.clone(), &[requested(provider, minor, &reference)]);
        let at = now() + Duration::minutes(minutes);
        prop_assert_eq!(after.status_at(at), before.status_at(at));
        prop_assert_eq!(after.paid(), before.paid());
        prop_assert_eq!(amount_due(&after), amount_due(&before));
        prop_assert_eq!(payable(&after, at), payable(&before, at));
        prop_assert_eq!(&after.payments, &before.payments);
        let mut without = after.clone();
        without.requests.clear();
        prop_assert_eq!(without, before);
    }

    /// The hand-written canonical form is byte for byte what `canonical_json` writes, for
    /// any booking id, provider and amount (so the fallback can never change a key).
    #[test]
    fn the_hand_written_form_is_canonical(
        id in any::<u128>(),
        provider in prop::sample::select(Provider::ALL.to_vec()),
        minor in -crate::money::MAX_MINOR..=crate::money::MAX_MINOR,
        code in "[A-Z]{3}",
    ) {
        let booking_id = BookingId::from_uuid(Uuid::from_u128(id));
        let amount = Money::new(minor, Currency::parse(&code).expect("code")).expect("money");
        let document = json!({"booking_id": booking_id.to_string(), "provider": provider.as_str(),
            "amount_minor": minor, "currency": code});
        prop_assert_eq!(
            canonical_by_hand(&booking_id, provider, &amount),
            canonical_json(&document).expect("canonical")
        );
        let key = provider_idempotency_key(&booking_id, provider, &amount);
        prop_assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
}
