//! Mercado Pago (fetch before lock), Pix (exact decimals, refunds), the panel (inbound
//! sync, capacity cuts flagged) and the outbox to the panel (retries, dead letters).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_http::outbox::{deliver_once, feed, OutboxSettings};
use ledger_tests::app::{
    spawn_app, spawn_app_with, status_json, test_providers, TestApp, PANEL_OUTBOUND_SECRET,
    PIX_SECRET,
};
use ledger_tests::fakes::{FakeMercadoPago, FakePanel};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::api_support::{availability, book, customer, operator};
use crate::webhook_support::*;

fn mp_payment(status: &str, booking: &str) -> serde_json::Value {
    // `transaction_amount` is a JSON number with decimals, as Mercado Pago sends it.
    serde_json::from_str(&format!(
        r#"{{"id": 123, "status": "{status}", "transaction_amount": 90000.00, "currency_id": "ARS", "external_reference": "{booking}"}}"#
    ))
    .unwrap()
}

#[tokio::test]
async fn mercadopago_fetches_the_payment_then_applies_it() {
    let mp = FakeMercadoPago::start().await;
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(Some(mp.url.clone()), None),
    )
    .await;
    let id = held_booking(&app, "s1", 5).await;
    mp.set_payment("123", mp_payment("approved", &id));

    // A bad signature is refused before the provider is even asked.
    assert_eq!(
        post_mercadopago(&app, "123", 9001, "wrong-secret").await.0,
        401
    );
    assert_eq!(mp.calls(), 0);
    // Provider down: 503, nothing stored; Mercado Pago will retry.
    mp.fail_next(10);
    let (status, body) = post_mercadopago(&app, "123", 9001, MP_SECRET).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("provider_unavailable"))
    );
    assert!(log_types(&app, "mercadopago").await.is_empty());
    mp.fail_next(0);

    assert_eq!(
        post_mercadopago(&app, "123", 9001, MP_SECRET).await.1["status"],
        "applied"
    );
    assert_eq!(booking(&app, &id).await["status"], "paid");
    assert!(mp
        .tokens()
        .iter()
        .all(|t| t == "Bearer TEST-mp-access-token"));
    let calls = mp.calls();
    assert_eq!(
        post_mercadopago(&app, "123", 9001, MP_SECRET).await.1["status"],
        "duplicate"
    );
    assert_eq!(mp.calls(), calls, "a redelivery does not call the provider");
    app.stop().await;
}

#[tokio::test]
async fn mercadopago_rejected_then_approved_is_an_anomaly() {
    let mp = FakeMercadoPago::start().await;
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(Some(mp.url.clone()), None),
    )
    .await;
    let id = held_booking(&app, "s1", 5).await;
    mp.set_payment("123", mp_payment("rejected", &id));
    assert_eq!(
        post_mercadopago(&app, "123", 1, MP_SECRET).await.1["status"],
        "applied"
    );
    mp.set_payment("123", mp_payment("approved", &id));
    assert_eq!(post_mercadopago(&app, "123", 2, MP_SECRET).await.0, 200);
    assert_eq!(booking(&app, &id).await["status"], "held");
    assert!(event_types(&app, &format!("booking-{id}"))
        .await
        .contains(&"PaymentAnomalyRecorded".to_string()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_mercadopago_does_not_block_the_slot() {
    let mp = FakeMercadoPago::start().await;
    let app = Arc::new(
        spawn_app_with(
            fresh_db().await.store(),
            test_providers(Some(mp.url.clone()), None),
        )
        .await,
    );
    let id = held_booking(&app, "s1", 10).await;
    mp.set_payment("123", mp_payment("approved", &id));
    mp.set_delay(Duration::from_secs(2));
    let notifier = {
        let app = app.clone();
        tokio::spawn(async move { post_mercadopago(&app, "123", 77, MP_SECRET).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(
        book(&app, &customer(5), "meanwhile", &[("s1", 1)]).await.0,
        201
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "booked in {:?} while the provider was slow",
        started.elapsed()
    );
    assert!(
        !notifier.is_finished(),
        "the notification was still waiting on the provider"
    );
    assert_eq!(notifier.await.unwrap().1["status"], "applied");
    assert_eq!(booking(&app, &id).await["status"], "paid");
}

#[tokio::test]
async fn pix_pays_with_exact_decimals_and_refunds() {
    let app = spawn_app(fresh_db().await.store()).await;
    // A BRL slot so the Pix amount matches.
    crate::api_support::put_slot_with(&app, "rio", json!({"activity_id": "rio-walk", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 5, "price": {"amount_minor": 5500, "currency": "BRL"}, "time_zone": "America/Sao_Paulo",
        "cutoff": {"kind": "minutes_before", "minutes": 60}})).await;
    let (_, b) = book(&app, &customer(1), "pix-1", &[("rio", 2)]).await;
    let id = b["booking_id"].as_str().unwrap().to_owned();
    let txid = id.replace('-', "");
    let pix = json!({"pix": [{"endToEndId": "E1234567820261120", "txid": txid, "valor": "110.00", "horario": "2026-11-20T12:01:00Z"}]});
    let (status, _) = post_standard(
        &app,
        "/v1/webhooks/pix",
        "whsec_d3Jvbmcta2V5",
        "msg_bad",
        &pix,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        post_pix(&app, "msg_1", &pix).await,
        (200, json!({"status": "applied"}))
    );
    assert_eq!(booking(&app, &id).await["status"], "paid");
    assert_eq!(
        post_pix(&app, "msg_1b", &pix).await.1["status"],
        "duplicate",
        "same endToEndId"
    );
    let refunded = json!({"pix": [{"endToEndId": "E1234567820261120", "txid": txid, "valor": "110.00",
        "devolucoes": [{"id": "D1", "rtrId": "D1", "valor": "110.00", "status": "DEVOLVIDO"}]}]});
    assert_eq!(
        post_pix(&app, "msg_2", &refunded).await.1["status"],
        "applied"
    );
    assert_eq!(booking(&app, &id).await["status"], "refunded");
    assert_eq!(availability(&app, "rio").await["available"], 5);
    let _ = PIX_SECRET;
    app.stop().await;
}

#[tokio::test]
async fn panel_changes_apply_under_the_slot_lock_and_cuts_are_flagged() {
    let app = spawn_app(fresh_db().await.store()).await;
    crate::api_support::put_slot(&app, "p1", 5).await;
    assert_eq!(book(&app, &customer(1), "three", &[("p1", 3)]).await.0, 201);
    let cut = json!({"type": "capacity.changed", "slot_id": "p1", "capacity": 2});
    assert_eq!(
        post_panel(&app, "msg_cut", &cut).await,
        (200, json!({"status": "applied"}))
    );
    let view = availability(&app, "p1").await;
    assert_eq!(
        (
            view["capacity"].as_u64(),
            view["available"].as_u64(),
            view["held"].as_u64()
        ),
        (Some(2), Some(0), Some(3))
    );
    let stream = ledger_core::StreamId::parse("slot-p1").unwrap();
    let events = app.state.store.read_stream(&stream, 1, 100).await.unwrap();
    let change = events
        .iter()
        .find(|e| e.event_type == "CapacityChanged")
        .expect("applied");
    assert_eq!(change.payload["oversold"], 1, "flagged, not hidden");
    assert_eq!(
        post_panel(&app, "msg_cut", &cut).await.1["status"],
        "duplicate"
    );
    let unknown = json!({"type": "slot.renamed", "slot_id": "p1"});
    assert_eq!(
        post_panel(&app, "msg_x", &unknown).await.1["status"],
        "ignored"
    );
    let never = json!({"type": "rate.changed", "slot_id": "nope", "price": {"amount_minor": 1, "currency": "ARS"}});
    assert_eq!(
        post_panel(&app, "msg_y", &never).await.1["status"],
        "ignored"
    );
    // A signed but malformed change: 400 naming the field in the API's words.
    let malformed = json!({"type": "capacity.changed", "slot_id": "p1", "capacity": "many"});
    let (status, problem) = post_panel(&app, "msg_bad", &malformed).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_payload"))
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("capacity"), "{detail}");
    for internal in ["invalid type", "u32", "i64", "struct", "enum", "variant"] {
        assert!(!detail.contains(internal), "{detail}");
    }
    let blocked = json!({"type": "slot.blocked", "slot_id": "p1", "reason": "storm"});
    post_panel(&app, "msg_b", &blocked).await;
    assert_eq!(
        book(&app, &customer(2), "blocked", &[("p1", 1)]).await.1["code"],
        "slot_blocked"
    );
    app.stop().await;
}

async fn paid_booking(app: &ledger_tests::app::TestApp) -> String {
    let id = held_booking(app, "o1", 5).await;
    post_stripe(
        app,
        &stripe_event(
            "evt_o",
            "payment_intent.succeeded",
            intent("pi_o", &id, 9_000_000, "ars"),
        ),
    )
    .await;
    id
}

/// Runs the outbox feeder until it has enqueued `n` rows (or 20 s passed) and returns how
/// many it enqueued. Another test's open transaction in the cluster holds the gap-free feed
/// back for a moment, so one pass may see nothing yet.
pub(crate) async fn feed_until(app: &TestApp, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut enqueued = 0;
    while enqueued < n && Instant::now() < deadline {
        let now = feed(&app.state).await.unwrap();
        if now == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        enqueued += now;
    }
    enqueued
}

/// The feeder keeps up with the ledger: a confirmation behind more than two of its pages
/// of other events is enqueued by one call, which leaves the checkpoint at the feed's end.
#[tokio::test]
async fn the_outbox_feeder_reads_until_it_is_caught_up() {
    let db = fresh_db().await;
    let app = spawn_app(db.store()).await;
    let store = &app.state.store;
    let filler = ledger_core::StreamId::parse("slot-filler").unwrap();
    for _ in 0..45 {
        let events = (0..250)
            .map(|_| crate::event("Anything", json!({})))
            .collect();
        let batch = ledger_store::AppendBatch {
            streams: vec![ledger_store::StreamAppend::new(filler.clone(), events)],
            ..ledger_store::AppendBatch::default()
        };
        store.append(batch).await.unwrap();
    }
    let id = paid_booking(&app).await;
    let newest = store.newest_cursor().await.unwrap().unwrap();
    // Another test's open transaction may hold the gap-free feed back: wait until the
    // newest event is in it, then feed once.
    let client = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let horizon: i64 = client
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if u64::try_from(horizon).unwrap() > newest.tx_id() {
            break;
        }
        assert!(Instant::now() < deadline, "the feed stayed held back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(feed(&app.state).await.unwrap(), 1, "booking {id} confirmed");
    assert_eq!(
        store
            .checkpoint(ledger_http::outbox::CONSUMER)
            .await
            .unwrap(),
        newest,
        "11 000 events and more in one call: caught up"
    );
}

#[tokio::test]
async fn the_outbox_delivers_each_confirmation_once_in_effect_despite_failures() {
    let panel = FakePanel::start(PANEL_OUTBOUND_SECRET).await;
    panel.fail_first(2);
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(None, Some(panel.url.clone())),
    )
    .await;
    let id = paid_booking(&app).await;
    let settings = OutboxSettings {
        timeout: Duration::from_secs(2),
        ..OutboxSettings::default()
    };
    assert_eq!(feed_until(&app, 1).await, 1);
    assert_eq!(
        feed(&app.state).await.unwrap(),
        0,
        "the checkpoint moved: nothing enqueued twice"
    );
    for _ in 0..6 {
        deliver_once(&app.state, &settings).await.unwrap();
        app.clock.advance(chrono::Duration::minutes(10));
    }
    let requests = panel.requests();
    assert_eq!(
        requests.len(),
        3,
        "two failures, then one success, then nothing more"
    );
    assert!(requests.iter().all(|r| r.signature_valid));
    assert!(
        requests
            .windows(2)
            .all(|w| w[0].webhook_id == w[1].webhook_id),
        "one webhook-id: the panel dedups"
    );
    assert_eq!(requests.last().unwrap().answered, 200);
    assert_eq!(requests[0].body["type"], "booking.confirmed");
    assert_eq!(requests[0].body["booking_id"], id.as_str());
    assert_eq!(
        requests[0].body["items"],
        json!([{"slot_id": "o1", "seats": 2}])
    );
    let (_, delivered) = status_json(
        app.get("/v1/admin/outbox?state=delivered", Some(&operator()))
            .await,
    )
    .await;
    assert_eq!(delivered["items"].as_array().unwrap().len(), 1);
    let newest = app.state.store.newest_cursor().await.unwrap().unwrap();
    assert_eq!(
        delivered["as_of"],
        newest.to_string(),
        "as_of: the feeder has read the whole feed"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_outbox_dead_letters_after_the_bound() {
    let panel = FakePanel::start(PANEL_OUTBOUND_SECRET).await;
    panel.always_fail(true);
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(None, Some(panel.url.clone())),
    )
    .await;
    paid_booking(&app).await;
    let settings = OutboxSettings {
        max_attempts: 3,
        timeout: Duration::from_secs(2),
        ..OutboxSettings::default()
    };
    assert_eq!(feed_until(&app, 1).await, 1);
    for _ in 0..6 {
        deliver_once(&app.state, &settings).await.unwrap();
        app.clock.advance(chrono::Duration::hours(1));
    }
    assert_eq!(panel.requests().len(), 3, "bounded attempts");
    let (status, dead) = status_json(
        app.get("/v1/admin/outbox?state=dead", Some(&operator()))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0]["attempts"].as_i64(),
            items[0]["last_error"].as_str()
        ),
        (Some(3), Some("panel answered 500"))
    );
    let (status, _) = status_json(
        app.get("/v1/admin/outbox?state=dead", Some(&customer(1)))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    app.stop().await;
}
