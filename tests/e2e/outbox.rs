//! The outbox to the panel (API.md "Outbound to the panel"): a booking's messages reach
//! the panel in ledger order — a later one waits while an earlier one is pending or
//! failing, other bookings' are not held up; an operator's cancel of a paid booking is
//! `booking.cancelled`, then `booking.refunded` once Stripe confirms the refund the cancel
//! asked for — each acknowledged once; a dead letter is
//! sent again by `POST /v1/admin/outbox/{id}/requeue`, once; `/metrics` counts pending and
//! dead messages and the oldest pending one's age.

use std::time::Duration;

use ledger_http::outbox::{deliver_once, OutboxSettings};
use ledger_tests::app::{
    spawn_app_with, status_json, test_providers, token, TestApp, PANEL_OUTBOUND_SECRET,
};
use ledger_tests::fakes::{FakePanel, FakeStripe};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::api_support::{availability, operator};
use crate::webhook_support::{booking, held_booking, intent, post_stripe, stripe_event};
use crate::webhooks_others::feed_until;

async fn paid(app: &TestApp, slot: &str, n: u32) -> String {
    let id = held_booking(app, slot, 5).await;
    let (status, body) = post_stripe(
        app,
        &stripe_event(
            &format!("evt_out_{n}"),
            "payment_intent.succeeded",
            intent(&format!("pi_out_{n}"), &id, 9_000_000, "ars"),
        ),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));
    id
}

fn settings() -> OutboxSettings {
    OutboxSettings {
        timeout: Duration::from_secs(2),
        ..OutboxSettings::default()
    }
}

async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{line_start} in {text}"))
}

#[tokio::test]
async fn a_bookings_messages_reach_the_panel_in_ledger_order_without_holding_up_others() {
    let panel = FakePanel::start(PANEL_OUTBOUND_SECRET).await;
    let stripe = FakeStripe::start().await;
    let mut providers = test_providers(None, Some(panel.url.clone()));
    providers.stripe_api_url = Some(stripe.url.clone());
    let app = spawn_app_with(fresh_db().await.store(), providers).await;
    let a = paid(&app, "ord-a", 1).await;
    stripe.put_intent("pi_out_1", &a, 9_000_000, "ars");
    // The operator cancels the paid booking: a full refund is asked of Stripe…
    let (status, body) = status_json(
        app.post(
            &format!("/v1/bookings/{a}/cancel"),
            &operator(),
            "c-a",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(stripe.refunds_created(), 1);
    // …and Stripe confirms it.
    let charge = stripe.charge("pi_out_1").unwrap();
    assert_eq!(charge["amount_refunded"], 9_000_000);
    let (status, body) =
        post_stripe(&app, &stripe_event("evt_out_r", "charge.refunded", charge)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));
    assert_eq!(booking(&app, &a).await["status"], "refunded");
    assert_eq!(
        availability(&app, "ord-a").await["available"],
        5,
        "seats released"
    );
    let b = paid(&app, "ord-b", 2).await;
    assert_eq!(feed_until(&app, 4).await, 4);
    panel.fail_message(&a, "booking.confirmed", 3);

    for _ in 0..8 {
        deliver_once(&app.state, &settings()).await.unwrap();
        app.clock.advance(chrono::Duration::minutes(10));
    }
    let requests = panel.requests();
    let of = |booking: &str, kind: &str| -> Vec<usize> {
        requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.body["booking_id"] == booking && r.body["type"] == kind)
            .map(|(i, _)| i)
            .collect()
    };
    let (a_confirmed, a_cancelled, a_refunded, b_confirmed) = (
        of(&a, "booking.confirmed"),
        of(&a, "booking.cancelled"),
        of(&a, "booking.refunded"),
        of(&b, "booking.confirmed"),
    );
    assert_eq!(a_confirmed.len(), 4, "three failures, then acknowledged");
    assert_eq!(a_cancelled.len(), 1, "sent once");
    assert_eq!(a_refunded.len(), 1, "sent once");
    assert!(
        a_refunded[0] > a_cancelled[0],
        "cancelled, then refunded: {a_cancelled:?} {a_refunded:?}"
    );
    assert_eq!(b_confirmed.len(), 1, "sent once");
    assert_eq!(requests[*a_cancelled.first().unwrap()].answered, 200);
    assert!(
        a_cancelled[0] > *a_confirmed.last().unwrap(),
        "the cancellation only after the confirmation was acknowledged: {a_confirmed:?} {a_cancelled:?}"
    );
    assert!(
        b_confirmed[0] < a_confirmed[1],
        "the other booking went out in the first pass, not after A's retries"
    );
    assert!(requests.iter().all(|r| r.signature_valid));
    assert_eq!(
        requests[a_cancelled[0]].body["items"],
        json!([{"slot_id": "ord-a", "seats": 2}])
    );
    assert_eq!(
        metric(&app, "ledger_outbox_messages{state=\"pending\"}").await,
        0.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_requeued_dead_letter_is_delivered_once() {
    let panel = FakePanel::start(PANEL_OUTBOUND_SECRET).await;
    panel.always_fail(true);
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(None, Some(panel.url.clone())),
    )
    .await;
    let id = paid(&app, "dl", 3).await;
    assert_eq!(feed_until(&app, 1).await, 1);
    let bounded = OutboxSettings {
        max_attempts: 2,
        ..settings()
    };
    for _ in 0..4 {
        deliver_once(&app.state, &bounded).await.unwrap();
        app.clock.advance(chrono::Duration::hours(1));
    }
    assert_eq!(panel.requests().len(), 2);
    assert_eq!(
        metric(&app, "ledger_outbox_messages{state=\"dead\"}").await,
        1.0
    );
    let (_, dead) = status_json(
        app.get("/v1/admin/outbox?state=dead", Some(&operator()))
            .await,
    )
    .await;
    let event_id = dead["items"][0]["event_id"].as_str().unwrap().to_owned();
    assert_eq!(dead["items"][0]["booking_id"], id.as_str());

    let admin = token("admin-1", &["admin"]);
    let path = format!("/v1/admin/outbox/{event_id}/requeue");
    let requeue = |tok: String| {
        let (app, path) = (&app, path.clone());
        async move {
            status_json(
                app.http
                    .post(app.url(&path))
                    .bearer_auth(tok)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert_eq!(requeue(operator()).await.0, 403, "admin only");
    let (status, body) = requeue(admin.clone()).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    let (status, _) = requeue(admin.clone()).await;
    assert_eq!(status, 202, "already pending: unchanged");
    assert_eq!(
        metric(&app, "ledger_outbox_messages{state=\"dead\"}").await,
        0.0
    );
    assert_eq!(
        metric(&app, "ledger_outbox_messages{state=\"pending\"}").await,
        1.0
    );
    assert!(metric(&app, "ledger_outbox_oldest_pending_seconds").await >= 0.0);

    panel.always_fail(false);
    for _ in 0..3 {
        deliver_once(&app.state, &bounded).await.unwrap();
        app.clock.advance(chrono::Duration::hours(1));
    }
    let delivered: Vec<_> = panel
        .requests()
        .into_iter()
        .filter(|r| r.webhook_id == event_id && r.answered == 200)
        .collect();
    assert_eq!(delivered.len(), 1, "delivered once");
    let (status, body) = requeue(admin.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_delivered"))
    );
    let unknown = format!("/v1/admin/outbox/{}/requeue", uuid::Uuid::now_v7());
    let (status, body) = status_json(
        app.http
            .post(app.url(&unknown))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("outbox_item_not_found"))
    );
    app.stop().await;
}
