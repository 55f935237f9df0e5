//! Moving a booking (API.md `POST /v1/bookings/{id}/move`): seats move between slots
//! atomically under the sorted locks, holds keep their expiry, confirmed seats stay
//! confirmed, nobody oversells a slot under concurrent moves, the price rule, the panel
//! hears `booking.moved` with `from`, and a command planned before a move is planned again.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ledger_core::domain::{BookingState, BookingStreams, CancelBooking};
use ledger_core::BookingId;
use ledger_http::outbox::{deliver_once, OutboxSettings};
use ledger_store::Command;
use ledger_tests::app::{
    spawn_app, spawn_app_with, status_json, test_providers, TestApp, PANEL_OUTBOUND_SECRET,
};
use ledger_tests::fakes::FakePanel;
use ledger_tests::fresh_db;
use serde_json::{json, Value};

use crate::api_support::{availability, book, customer, operator, put_slot, put_slot_with};
use crate::webhook_support::{booking, held_booking, intent, post_stripe, stripe_event};
use crate::webhooks_others::feed_until;
use crate::write_path::three_ways;

async fn move_booking(
    app: &TestApp,
    token: &str,
    id: &str,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    status_json(
        app.post(&format!("/v1/bookings/{id}/move"), token, key, body)
            .await,
    )
    .await
}

fn one(from: &str, to: &str) -> Value {
    json!({"items": [{"from_slot_id": from, "to_slot_id": to}]})
}

/// A slot of glaciar-trek at another start (same price) or with `price` / `activity`.
async fn slot(app: &TestApp, id: &str, capacity: u32, price: i64, activity: &str) {
    put_slot_with(app, id, json!({"activity_id": activity, "starts_at": "2026-12-02T09:00:00-03:00",
        "capacity": capacity, "price": {"amount_minor": price, "currency": "ARS"},
        "time_zone": "America/Argentina/Buenos_Aires", "cutoff": {"kind": "day_before_at", "local_time": "18:00"}})).await;
}

#[tokio::test]
async fn a_held_booking_moves_with_its_hold_and_price_and_the_rules_hold() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "mv-a", 5).await;
    slot(&app, "mv-b", 5, 4_500_000, "glaciar-trek").await;
    slot(&app, "mv-dear", 5, 5_000_000, "glaciar-trek").await;
    slot(&app, "mv-raft", 5, 4_500_000, "rafting").await;
    let before = booking(&app, &id).await;

    // Half of it, then the rest.
    let half = json!({"items": [{"from_slot_id": "mv-a", "to_slot_id": "mv-b", "seats": 1}]});
    let (status, moved) = move_booking(&app, &customer(1), &id, "m-1", &half).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (
            availability(&app, "mv-a").await["available"].as_i64(),
            availability(&app, "mv-b").await["available"].as_i64()
        ),
        (Some(4), Some(4))
    );
    let (status, moved) = move_booking(&app, &customer(1), &id, "m-2", &one("mv-a", "mv-b")).await;
    assert_eq!(status, 200, "{moved}");
    let after = booking(&app, &id).await;
    assert_eq!(
        after["items"],
        json!([{"slot_id": "mv-b", "seats": 2, "unit_price": {"amount_minor": 4_500_000, "currency": "ARS"}}])
    );
    assert_eq!(after["total"], before["total"]);
    assert_eq!(
        after["hold_expires_at"], before["hold_expires_at"],
        "the hold keeps its expiry"
    );
    assert_eq!(after["status"], "held");
    assert_eq!(availability(&app, "mv-a").await["available"], 5);
    assert_eq!(availability(&app, "mv-b").await["available"], 3);

    let code = |r: &(u16, Value)| (r.0, r.1["code"].as_str().unwrap_or("").to_owned());
    assert_eq!(
        code(&move_booking(&app, &customer(1), &id, "m-3", &one("mv-b", "mv-dear")).await),
        (409, "price_differs".into())
    );
    assert_eq!(
        code(&move_booking(&app, &customer(1), &id, "m-4", &one("mv-b", "mv-raft")).await),
        (409, "price_differs".into())
    );
    assert_eq!(
        code(&move_booking(&app, &customer(1), &id, "m-5", &one("mv-a", "mv-b")).await),
        (409, "not_movable".into()),
        "no seats there"
    );
    assert_eq!(
        code(&move_booking(&app, &customer(2), &id, "m-6", &one("mv-b", "mv-a")).await),
        (404, "booking_not_found".into())
    );
    let zero = json!({"items": [{"from_slot_id": "mv-b", "to_slot_id": "mv-a", "seats": 0}]});
    assert_eq!(
        code(&move_booking(&app, &customer(1), &id, "m-7", &zero).await),
        (422, "invalid_seats".into())
    );
    let keep =
        json!({"items": [{"from_slot_id": "mv-b", "to_slot_id": "mv-dear"}], "keep_price": true});
    assert_eq!(
        move_booking(&app, &customer(1), &id, "m-8", &keep).await.0,
        403
    );
    assert_eq!(
        code(&move_booking(&app, &customer(1), &id, "m-9", &one("mv-b", "nowhere")).await),
        (404, "slot_not_found".into())
    );
    // Blocked, then past the cutoff: the owner may not; an operator may move any time.
    let (status, _) = status_json(
        app.post(
            "/v1/slots/mv-a/block",
            &operator(),
            "blk",
            &json!({"reason": "storm"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        code(&move_booking(&app, &customer(1), &id, "m-10", &one("mv-b", "mv-a")).await),
        (409, "slot_blocked".into())
    );
    let (status, _) = status_json(
        app.post(
            "/v1/slots/mv-a/unblock",
            &operator(),
            "ublk",
            &json!({"reason": "clear"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    // An operator keeps the booking's price on a dearer departure.
    let (status, kept) = move_booking(&app, &operator(), &id, "m-11", &keep).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["items"][0]["unit_price"]["amount_minor"], 4_500_000);
    // mv-a closes 2026-11-30 18:00 local: a booking made just before cannot be moved away
    // by its owner after that, but an operator may.
    let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
    app.clock.set(at("2026-11-30T17:50:00-03:00"));
    let (status, late) = book(&app, &customer(3), "late", &[("mv-a", 1)]).await;
    assert_eq!(status, 201, "{late}");
    let late = late["booking_id"].as_str().unwrap().to_owned();
    app.clock.set(at("2026-11-30T18:00:00-03:00"));
    assert_eq!(
        code(&move_booking(&app, &customer(3), &late, "m-12", &one("mv-a", "mv-b")).await),
        (409, "cutoff_passed".into())
    );
    let (status, body) = move_booking(&app, &operator(), &late, "m-13", &one("mv-a", "mv-b")).await;
    assert_eq!(status, 200, "{body}");
    // Once the hold lapsed, nothing moves any more.
    app.clock.set(at("2026-11-30T18:10:00-03:00"));
    assert_eq!(
        code(&move_booking(&app, &operator(), &late, "m-14", &one("mv-b", "mv-a")).await),
        (409, "not_movable".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_moves_into_five_free_seats_oversell_nothing() {
    let db = fresh_db().await;
    let app = Arc::new(spawn_app(db.store()).await);
    put_slot(&app, "crowd", 20).await;
    slot(&app, "spare", 5, 4_500_000, "glaciar-trek").await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let (status, body) = book(&app, &customer(n), &format!("c-{n}"), &[("crowd", 1)]).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["booking_id"].as_str().unwrap().to_owned());
    }
    let moves = ids.iter().enumerate().map(|(n, id)| {
        let (app, id) = (app.clone(), id.clone());
        tokio::spawn(async move {
            move_booking(&app, &customer(n), &id, "mv", &one("crowd", "spare")).await
        })
    });
    let mut moved = 0;
    let mut sold_out = 0;
    for m in moves {
        let (status, body) = m.await.unwrap();
        match (status, body["code"].as_str()) {
            (200, _) => moved += 1,
            (409, Some("sold_out")) => sold_out += 1,
            other => panic!("{other:?} {body}"),
        }
    }
    assert_eq!((moved, sold_out), (5, 15));
    let (crowd, spare) = (
        availability(&app, "crowd").await,
        availability(&app, "spare").await,
    );
    assert_eq!(
        (
            crowd["held"].as_i64(),
            spare["held"].as_i64(),
            spare["available"].as_i64()
        ),
        (Some(15), Some(5), Some(0))
    );
    // The fold of each slot's events, its snapshot's counters and its `slot_holds` rows.
    let client = db.client().await;
    let store = &app.state.store;
    assert_eq!(three_ways(store, &client, "crowd").await, [(15, 0); 3]);
    assert_eq!(three_ways(store, &client, "spare").await, [(5, 0); 3]);
    let on_spare = futures_count(&app, &ids, "spare").await;
    assert_eq!(on_spare, 5, "exactly the five moved bookings name the slot");
    let report = replay_tools::verify::verify(
        &app.state.store,
        &replay_tools::Output::new(true, false).bar(0, "verify"),
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
}

async fn futures_count(app: &TestApp, ids: &[String], slot: &str) -> usize {
    let mut n = 0;
    for id in ids {
        if booking(app, id).await["items"][0]["slot_id"] == slot {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn a_paid_booking_moves_confirmed_and_the_panel_hears_where_from() {
    let panel = FakePanel::start(PANEL_OUTBOUND_SECRET).await;
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(None, Some(panel.url.clone())),
    )
    .await;
    let id = held_booking(&app, "pd-a", 5).await;
    slot(&app, "pd-b", 5, 4_500_000, "glaciar-trek").await;
    let (status, _) = post_stripe(
        &app,
        &stripe_event(
            "evt_mv",
            "payment_intent.succeeded",
            intent("pi_mv", &id, 9_000_000, "ars"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = move_booking(&app, &operator(), &id, "pm-1", &one("pd-a", "pd-b")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("paid")),
        "{body}"
    );
    let b = availability(&app, "pd-b").await;
    assert_eq!(
        (b["confirmed"].as_i64(), b["held"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(availability(&app, "pd-a").await["available"], 5);
    assert_eq!(feed_until(&app, 2).await, 2);
    deliver_once(&app.state, &OutboxSettings::default())
        .await
        .unwrap();
    deliver_once(&app.state, &OutboxSettings::default())
        .await
        .unwrap();
    let requests = panel.requests();
    let kinds: Vec<&str> = requests
        .iter()
        .map(|r| r.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["booking.confirmed", "booking.moved"]);
    assert_eq!(
        requests[1].body["from"],
        json!([{"slot_id": "pd-a", "seats": 2}])
    );
    assert_eq!(
        requests[1].body["items"],
        json!([{"slot_id": "pd-b", "seats": 2}])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancel_planned_before_a_move_is_stale_and_writes_nothing() {
    let app = spawn_app(fresh_db().await.store()).await;
    let id = held_booking(&app, "st-a", 5).await;
    slot(&app, "st-b", 5, 4_500_000, "glaciar-trek").await;
    let booking_id = BookingId::parse(&id).unwrap();
    let (_, before) = app
        .state
        .store
        .state::<BookingState>(&booking_id.stream_id())
        .await
        .unwrap()
        .unwrap();
    let planned = BookingStreams::of(booking_id, before.placed.as_ref().unwrap());
    let (status, _) = move_booking(&app, &customer(1), &id, "sm", &one("st-a", "st-b")).await;
    assert_eq!(status, 200);
    let command = Command {
        decision: CancelBooking {
            streams: planned,
            by: "op-1".into(),
            operator: true,
            refund: None,
        },
        key: None,
        metadata: json!({"source": "test"}),
        render: None,
    };
    let result = app.state.store.execute(command).await;
    assert!(
        matches!(result, Err(ledger_store::StoreError::Stale(_))),
        "{result:?}"
    );
    assert_eq!(
        booking(&app, &id).await["status"],
        "held",
        "nothing was written"
    );
    // Through the API the cancel is planned again and releases the seats where they are.
    let (status, body) = status_json(
        app.post(
            &format!("/v1/bookings/{id}/cancel"),
            &operator(),
            "sc",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(availability(&app, "st-b").await["available"], 5);
    app.stop().await;
}
