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

async fn sales(app: &TestApp, query: &str) -> (u16, Value) {
    status_json(
        app.get(
            &format!("/v1/reports/sales?{query}&{}", app.fresh_query().await),
            Some(&operator()),
        )
        .await,
    )
    .await
}

fn ars(minor: i64) -> Value {
    json!({"amount_minor": minor, "currency": "ARS"})
}

/// The sales report: paid bookings on the local day (the activity's zone) of their
/// payment, refunds on the day confirmed, a coupon's discount, held bookings not at all;
/// by day and by activity; the same after its read model is rebuilt from position 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_report_counts_local_days_and_equals_a_rebuild() {
    let app = spawn_app(fresh_db().await.store()).await;
    let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    put_slot(&app, "sr-a", 10).await;
    put_slot(&app, "sr-b", 10).await;
    crate::api_support::put_slot_with(&app, "sr-kayak", json!({"activity_id": "kayak", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 10, "price": {"amount_minor": 3_000_000, "currency": "ARS"}, "time_zone": "America/Argentina/Buenos_Aires",
        "cutoff": {"kind": "minutes_before", "minutes": 60}})).await;
    let coupon = json!({"code": "SALE10", "percent_off": 10, "max_claims": 5, "per_customer_limit": 1,
        "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-12-31T00:00:00Z"});
    let (status, body) = status_json(
        app.post("/v1/coupons", &operator(), "sale10", &coupon)
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let pay = |id: String, n: u32, minor: i64| {
        let app = &app;
        async move {
            let event = stripe_event(
                &format!("evt_sr{n}"),
                "payment_intent.succeeded",
                intent(&format!("pi_sr{n}"), &id, minor, "ars"),
            );
            assert_eq!(post_stripe(app, &event).await.0, 200);
        }
    };
    let placed = |body: Value| body["booking_id"].as_str().unwrap().to_owned();

    // 2026-11-20 09:00 in Buenos Aires: A, 2 seats of glaciar-trek, paid.
    app.clock.set(at("2026-11-20T12:00:00Z"));
    let (_, a) = book(&app, &customer(1), "sr-1", &[("sr-a", 2)]).await;
    let a = placed(a);
    pay(a.clone(), 1, 9_000_000).await;
    // 23:30 that same local day (02:30 UTC the next day): B, 1 kayak seat, paid.
    app.clock.set(at("2026-11-21T02:30:00Z"));
    let (_, b) = book(&app, &customer(2), "sr-2", &[("sr-kayak", 1)]).await;
    pay(placed(b), 2, 3_000_000).await;
    // 2026-11-21: C with the coupon (90 000.00 − 10 %), paid; half of A refunded; D held.
    app.clock.set(at("2026-11-21T15:00:00Z"));
    let body = json!({"items": [{"slot_id": "sr-b", "seats": 2}], "coupon_code": "SALE10"});
    let (status, c) =
        status_json(app.post("/v1/bookings", &customer(3), "sr-3", &body).await).await;
    assert_eq!(status, 201, "{c}");
    pay(placed(c), 3, 8_100_000).await;
    let charge = json!({"id": "ch_sr1", "object": "charge", "payment_intent": "pi_sr1", "amount_refunded": 4_500_000,
                        "refunded": false, "currency": "ars", "metadata": {"booking_id": a}});
    assert_eq!(
        post_stripe(&app, &stripe_event("evt_sr_r", "charge.refunded", charge))
            .await
            .0,
        200
    );
    let (status, _) = book(&app, &customer(4), "sr-4", &[("sr-a", 1)]).await;
    assert_eq!(status, 201);

    let (status, by_day) = sales(&app, "from=2026-11-20&to=2026-11-21&group_by=day").await;
    assert_eq!(status, 200, "{by_day}");
    assert!(by_day["as_of"].is_string());
    assert_eq!(
        by_day["rows"],
        json!([
            {"key": "2026-11-20", "currency": "ARS", "bookings": 2, "seats": 3, "gross": ars(12_000_000),
             "discounts": ars(0), "refunds": ars(0), "net": ars(12_000_000)},
            {"key": "2026-11-21", "currency": "ARS", "bookings": 1, "seats": 2, "gross": ars(9_000_000),
             "discounts": ars(900_000), "refunds": ars(4_500_000), "net": ars(3_600_000)}
        ])
    );
    let (_, by_activity) = sales(&app, "from=2026-11-20&to=2026-11-21&group_by=activity").await;
    assert_eq!(
        by_activity["rows"],
        json!([
            {"key": "glaciar-trek", "currency": "ARS", "bookings": 2, "seats": 4, "gross": ars(18_000_000),
             "discounts": ars(900_000), "refunds": ars(4_500_000), "net": ars(12_600_000)},
            {"key": "kayak", "currency": "ARS", "bookings": 1, "seats": 1, "gross": ars(3_000_000),
             "discounts": ars(0), "refunds": ars(0), "net": ars(3_000_000)}
        ])
    );
    // The kayak sale is on the 20th locally, though on the 21st in UTC.
    let (_, only_21) = sales(&app, "from=2026-11-21&to=2026-11-21&group_by=activity").await;
    assert_eq!(only_21["rows"].as_array().unwrap().len(), 1, "{only_21}");
    assert_eq!(only_21["rows"][0]["key"], "glaciar-trek");

    // An empty range has no rows; a wide one the rows it holds; bad queries; operators only.
    let (status, empty) = sales(&app, "from=2026-11-22&to=2026-11-21&group_by=day").await;
    assert_eq!((status, &empty["rows"]), (200, &json!([])));
    let (status, wide) = sales(&app, "from=0001-01-01&to=9999-12-31&group_by=day").await;
    assert_eq!((status, &wide["rows"]), (200, &by_day["rows"]), "{wide}");
    for (query, code) in [
        ("from=2026-11-20&to=2026-11-21&group_by=week", 400),
        ("from=20-11-2026&to=2026-11-21&group_by=day", 400),
        ("from=2026-11-20&group_by=day", 400),
    ] {
        assert_eq!(sales(&app, query).await.0, code, "{query}");
    }
    let resp = app
        .get(
            "/v1/reports/sales?from=2026-11-20&to=2026-11-21&group_by=day",
            Some(&customer(1)),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 403);

    // Invariant 8: the same after the read model is rebuilt from position 0.
    Engine::new(app.state.store.clone())
        .rebuild(ReadModel::Sales)
        .await
        .unwrap();
    let (_, rebuilt) = sales(&app, "from=2026-11-20&to=2026-11-21&group_by=day").await;
    assert_eq!(without_as_of(rebuilt), without_as_of(by_day));
    app.stop().await;
}
