//! Operations views: `GET /v1/slots/{slot_id}/manifest` lists who is on a departure —
//! held, partially paid and paid bookings with their seats on that slot, customer, paid
//! and refunded — never a cancelled booking or a lapsed hold; operators only; and it is
//! the same after both read models it reads are rebuilt from position 0 (invariant 8).

use ledger_tests::app::{spawn_app, status_json, TestApp};
use ledger_tests::fresh_db;
use projections::{Engine, ReadModel};
use serde_json::{json, Value};

use crate::api_support::{book, customer, operator, put_slot};
use crate::webhook_support::{intent, post_stripe, stripe_event};

async fn manifest(app: &TestApp, slot: &str) -> Value {
    let (status, body) = status_json(
        app.get(
            &format!("/v1/slots/{slot}/manifest?{}", app.fresh_query().await),
            Some(&operator()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn without_as_of(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("as_of");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_lists_who_is_on_a_departure_and_equals_a_rebuild() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "m1", 10).await;
    put_slot(&app, "m2", 10).await;
    let (_, held) = book(&app, &customer(1), "m-held", &[("m1", 2)]).await;
    let held = held["booking_id"].as_str().unwrap().to_owned();
    let (_, multi) = book(&app, &customer(2), "m-multi", &[("m1", 1), ("m2", 3)]).await;
    let multi = multi["booking_id"].as_str().unwrap().to_owned();
    let (status, _) = post_stripe(
        &app,
        &stripe_event(
            "evt_m1",
            "payment_intent.succeeded",
            intent("pi_m", &multi, 18_000_000, "ars"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    // A quarter refunded by the provider.
    let charge = json!({"id": "ch_m", "object": "charge", "payment_intent": "pi_m", "amount_refunded": 4_500_000,
                        "refunded": false, "currency": "ars", "metadata": {"booking_id": multi}});
    post_stripe(&app, &stripe_event("evt_m2", "charge.refunded", charge)).await;
    let (_, gone) = book(&app, &customer(3), "m-gone", &[("m1", 1)]).await;
    let gone = gone["booking_id"].as_str().unwrap().to_owned();
    let (status, _) = status_json(
        app.post(
            &format!("/v1/bookings/{gone}/cancel"),
            &customer(3),
            "m-cancel",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);

    let m1 = manifest(&app, "m1").await;
    assert_eq!(m1["slot_id"], "m1");
    assert_eq!(m1["capacity"], 10);
    assert_eq!(m1["starts_at"], "2026-12-01T12:00:00Z");
    assert!(m1["as_of"].is_string());
    let rows = m1["bookings"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["booking_id"] == id).cloned();
    assert_eq!(rows.len(), 2, "the cancelled booking is not on it: {m1}");
    assert!(row(&gone).is_none());
    let h = row(&held).unwrap();
    assert_eq!(
        (
            h["status"].as_str(),
            h["seats"].as_u64(),
            h["customer"].as_str()
        ),
        (Some("held"), Some(2), Some("cust-1"))
    );
    assert_eq!(h["paid"], json!({"amount_minor": 0, "currency": "ARS"}));
    let m = row(&multi).unwrap();
    assert_eq!(
        (m["seats"].as_u64(), m["customer"].as_str()),
        (Some(1), Some("cust-2"))
    );
    assert_eq!(m["paid"]["amount_minor"], 13_500_000, "{m}");
    assert_eq!(m["refunded"]["amount_minor"], 4_500_000, "{m}");
    let m2 = manifest(&app, "m2").await;
    assert_eq!(m2["bookings"].as_array().unwrap().len(), 1);
    assert_eq!(m2["bookings"][0]["seats"], 3);

    // Operators only; an unknown slot is 404.
    let resp = app.get("/v1/slots/m1/manifest", Some(&customer(1))).await;
    assert_eq!(resp.status().as_u16(), 403);
    let (status, body) =
        status_json(app.get("/v1/slots/nope/manifest", Some(&operator())).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("slot_not_found"))
    );

    // A lapsed hold leaves the manifest.
    app.clock.advance(chrono::Duration::minutes(16));
    let lapsed = manifest(&app, "m1").await;
    let ids: Vec<&str> = lapsed["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["booking_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![multi.as_str()], "{lapsed}");

    // Invariant 8: the same after both read models are rebuilt from position 0.
    let engine = Engine::new(app.state.store.clone());
    engine.rebuild(ReadModel::SlotAvailability).await.unwrap();
    engine.rebuild(ReadModel::BookingStatus).await.unwrap();
    for slot in ["m1", "m2"] {
        let incremental = if slot == "m1" {
            lapsed.clone()
        } else {
            m2.clone()
        };
        assert_eq!(
            without_as_of(manifest(&app, slot).await),
            without_as_of(incremental),
            "{slot}"
        );
    }
    app.stop().await;
}
