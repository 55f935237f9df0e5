//! Stripe over HTTP: signatures (invariant 2: only a verified delivery pays), dedup under
//! concurrent delivery (invariant 3), terminal failures (invariant 4), amounts (11), split
//! and late payments, refunds.

use std::sync::Arc;

use chrono::Duration;
use ledger_core::webhook::sign_stripe;
use ledger_tests::app::{spawn_app, STRIPE_SECRET};
use ledger_tests::fresh_db;

use crate::api_support::{availability, book, customer};
use crate::webhook_support::*;

#[tokio::test]
async fn only_a_correctly_signed_delivery_pays_and_bad_ones_store_nothing() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "s1", 5).await;
    let event = stripe_event(
        "evt_pay_1",
        "payment_intent.succeeded",
        intent("pi_1", &id, 9_000_000, "ars"),
    );
    let raw = event.to_string();
    let t = now();
    let good = sign_stripe(raw.as_bytes(), STRIPE_SECRET, t);
    let mut flipped = raw.clone().into_bytes();
    let pos = raw.find("9000000").unwrap();
    flipped[pos] = b'8';
    let flipped = String::from_utf8(flipped).unwrap();
    let bad_cases = [
        ("flipped byte", flipped.clone(), Some(good.clone())),
        (
            "wrong secret",
            raw.clone(),
            Some(sign_stripe(raw.as_bytes(), "whsec_wrong", t)),
        ),
        (
            "stale",
            raw.clone(),
            Some(sign_stripe(raw.as_bytes(), STRIPE_SECRET, t - 301)),
        ),
        ("missing header", raw.clone(), None),
        ("v0 only", raw.clone(), Some(good.replace("v1=", "v0="))),
    ];
    for (name, body, header) in bad_cases {
        let (status, problem) = post_stripe_raw(&app, &body, header).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("invalid_signature")),
            "{name}"
        );
    }
    assert!(log_types(&app, "stripe").await.is_empty(), "nothing stored");
    assert_eq!(booking(&app, &id).await["status"], "held");

    // Secret rotation: a stale v1 beside a valid one passes.
    let old = sign_stripe(raw.as_bytes(), "whsec_old_secret", t);
    let rotated = format!("{old},{}", good.split(',').nth(1).unwrap());
    assert_eq!(
        post_stripe_raw(&app, &raw, Some(rotated)).await,
        (200, serde_json::json!({"status": "applied"}))
    );
    let paid = booking(&app, &id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(
        paid["paid"],
        serde_json::json!({"amount_minor": 9_000_000, "currency": "ARS"})
    );
    assert_eq!(paid["payments"][0]["status"], "approved");
    let view = availability(&app, "s1").await;
    assert_eq!(
        (view["confirmed"].as_u64(), view["held"].as_u64()),
        (Some(2), Some(0))
    );

    assert_eq!(post_stripe(&app, &event).await.1["status"], "duplicate");
    let other = stripe_event(
        "evt_other",
        "customer.created",
        serde_json::json!({"id": "cus_1"}),
    );
    assert_eq!(post_stripe(&app, &other).await.1["status"], "ignored");
    assert_eq!(
        log_types(&app, "stripe").await,
        vec!["ProviderEventReceived"; 2]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_deliveries_of_one_event_apply_once() {
    let app = Arc::new(spawn_app(fresh_db().await.store()).await);
    let id = held_booking(&app, "s1", 5).await;
    let event = Arc::new(stripe_event(
        "evt_race",
        "payment_intent.succeeded",
        intent("pi_r", &id, 9_000_000, "ars"),
    ));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, event) = (app.clone(), event.clone());
            tokio::spawn(async move { post_stripe(&app, &event).await })
        })
        .collect();
    let (mut applied, mut duplicate) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (200, b) if b["status"] == "applied" => applied += 1,
            (200, b) if b["status"] == "duplicate" => duplicate += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((applied, duplicate), (1, 99));
    let types = event_types(&app, &format!("booking-{id}")).await;
    assert_eq!(
        types.iter().filter(|t| *t == "PaymentApproved").count(),
        1,
        "{types:?}"
    );
    assert_eq!(log_types(&app, "stripe").await.len(), 1);
}

#[tokio::test]
async fn a_cancelled_intent_never_becomes_approved() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "s1", 5).await;
    let cancelled = stripe_event(
        "evt_c",
        "payment_intent.canceled",
        intent("pi_1", &id, 9_000_000, "ars"),
    );
    assert_eq!(post_stripe(&app, &cancelled).await.1["status"], "applied");
    let late = stripe_event(
        "evt_s",
        "payment_intent.succeeded",
        intent("pi_1", &id, 9_000_000, "ars"),
    );
    assert_eq!(
        post_stripe(&app, &late).await,
        (200, serde_json::json!({"status": "applied"}))
    );
    let b = booking(&app, &id).await;
    assert_eq!(b["status"], "held", "{b}");
    assert!(event_types(&app, &format!("booking-{id}"))
        .await
        .contains(&"PaymentAnomalyRecorded".to_string()));
    // A failed attempt is not terminal: the same intent can still succeed.
    let id2 = {
        let (_, body) = book(&app, &customer(2), "second", &[("s1", 2)]).await;
        body["booking_id"].as_str().unwrap().to_owned()
    };
    let failed = stripe_event(
        "evt_f",
        "payment_intent.payment_failed",
        intent("pi_2", &id2, 9_000_000, "ars"),
    );
    post_stripe(&app, &failed).await;
    let ok = stripe_event(
        "evt_ok",
        "payment_intent.succeeded",
        intent("pi_2", &id2, 9_000_000, "ars"),
    );
    post_stripe(&app, &ok).await;
    assert_eq!(booking(&app, &id2).await["status"], "paid");
    app.stop().await;
}

#[tokio::test]
async fn wrong_currency_or_too_much_is_flagged_and_never_pays() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "s1", 5).await;
    post_stripe(
        &app,
        &stripe_event(
            "evt_usd",
            "payment_intent.succeeded",
            intent("pi_usd", &id, 9_000_000, "usd"),
        ),
    )
    .await;
    post_stripe(
        &app,
        &stripe_event(
            "evt_big",
            "payment_intent.succeeded",
            intent("pi_big", &id, 9_000_001, "ars"),
        ),
    )
    .await;
    let b = booking(&app, &id).await;
    assert_ne!(b["status"], "paid", "{b}");
    let types = event_types(&app, &format!("booking-{id}")).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "AmountMismatchFlagged")
            .count(),
        2,
        "{types:?}"
    );
    assert!(!types.contains(&"BookingPaid".to_string()));
    app.stop().await;
}

#[tokio::test]
async fn two_half_payments_pay_the_booking() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "s1", 5).await;
    post_stripe(
        &app,
        &stripe_event(
            "evt_h1",
            "payment_intent.succeeded",
            intent("pi_a", &id, 4_500_000, "ars"),
        ),
    )
    .await;
    assert_eq!(booking(&app, &id).await["status"], "partially_paid");
    post_stripe(
        &app,
        &stripe_event(
            "evt_h2",
            "payment_intent.succeeded",
            intent("pi_b", &id, 4_500_000, "ars"),
        ),
    )
    .await;
    let b = booking(&app, &id).await;
    assert_eq!(
        (b["status"].as_str(), b["payments"].as_array().map(Vec::len)),
        (Some("paid"), Some(2)),
        "{b}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_late_payment_retakes_free_seats_or_requires_a_refund() {
    let app = spawn_app(fresh_db().await.store()).await;
    // Seats still free after the hold expired: the payment takes them back.
    let id = held_booking(&app, "free", 2).await;
    app.clock.advance(Duration::minutes(16));
    post_stripe(
        &app,
        &stripe_event(
            "evt_l1",
            "payment_intent.succeeded",
            intent("pi_l1", &id, 9_000_000, "ars"),
        ),
    )
    .await;
    assert_eq!(booking(&app, &id).await["status"], "paid");
    assert_eq!(availability(&app, "free").await["confirmed"], 2);
    // Seats gone to someone else meanwhile: refund_required, nobody oversold.
    let id2 = held_booking(&app, "gone", 2).await;
    app.clock.advance(Duration::minutes(16));
    assert_eq!(
        book(&app, &customer(9), "taker", &[("gone", 2)]).await.0,
        201
    );
    post_stripe(
        &app,
        &stripe_event(
            "evt_l2",
            "payment_intent.succeeded",
            intent("pi_l2", &id2, 9_000_000, "ars"),
        ),
    )
    .await;
    assert_eq!(booking(&app, &id2).await["status"], "refund_required");
    let view = availability(&app, "gone").await;
    assert_eq!(
        (view["held"].as_u64(), view["confirmed"].as_u64()),
        (Some(2), Some(0))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_full_refund_frees_the_seats() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "s1", 5).await;
    post_stripe(
        &app,
        &stripe_event(
            "evt_p",
            "payment_intent.succeeded",
            intent("pi_1", &id, 9_000_000, "ars"),
        ),
    )
    .await;
    assert_eq!(availability(&app, "s1").await["available"], 3);
    let charge = serde_json::json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 9_000_000,
        "amount_refunded": 9_000_000, "refunded": true, "currency": "ars", "metadata": {"booking_id": id}});
    assert_eq!(
        post_stripe(&app, &stripe_event("evt_r", "charge.refunded", charge))
            .await
            .1["status"],
        "applied"
    );
    assert_eq!(booking(&app, &id).await["status"], "refunded");
    assert_eq!(availability(&app, "s1").await["available"], 5);
    app.stop().await;
}
