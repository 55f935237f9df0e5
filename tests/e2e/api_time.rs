//! Invariant 10 and holds: cutoffs in the activity's own zone (DST included, the process
//! in UTC), and expired holds released exactly once — by the next command on the slot
//! (write-on-read) or by the sweeper. The clock is moved, never slept on.

use chrono::{DateTime, Duration, Utc};
use ledger_core::SlotId;
use ledger_http::sweeper::sweep_once;
use ledger_tests::app::{spawn_app, status_json, TestApp};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::api_support::{availability, book, customer, put_slot, put_slot_with};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test]
async fn day_before_at_18_00_in_buenos_aires() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "ba", 10).await; // 2026-12-01 09:00 -03:00, closes 2026-11-30 18:00 local
    app.clock.set(at("2026-11-30T17:59:59-03:00"));
    assert_eq!(book(&app, &customer(1), "a", &[("ba", 1)]).await.0, 201);
    app.clock.set(at("2026-11-30T18:00:00-03:00"));
    let (status, body) = book(&app, &customer(2), "b", &[("ba", 1)]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("cutoff_passed")),
        "{body}"
    );
    assert_eq!(
        availability(&app, "ba").await["bookable_until"],
        "2026-11-30T18:00:00-03:00"
    );
    app.stop().await;
}

#[tokio::test]
async fn cutoffs_across_a_dst_change_in_new_york() {
    let app = spawn_app(fresh_db().await.store()).await;
    let slot = |starts_at: &str, cutoff: serde_json::Value| {
        json!({"activity_id": "ny-walk", "starts_at": starts_at, "capacity": 5,
               "price": {"amount_minor": 2500, "currency": "USD"}, "time_zone": "America/New_York", "cutoff": cutoff})
    };
    // 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 → 03:00): the cutoff
    // is the first instant after the gap, 03:00 EDT = 07:00Z.
    put_slot_with(
        &app,
        "ny-gap",
        slot(
            "2026-03-09T09:00:00-04:00",
            json!({"kind": "day_before_at", "local_time": "02:30"}),
        ),
    )
    .await;
    app.clock.set(at("2026-03-08T06:59:59Z"));
    assert_eq!(
        book(&app, &customer(1), "g1", &[("ny-gap", 1)]).await.0,
        201
    );
    app.clock.set(at("2026-03-08T07:00:00Z"));
    assert_eq!(
        book(&app, &customer(2), "g2", &[("ny-gap", 1)]).await.1["code"],
        "cutoff_passed"
    );
    // minutes_before counts real minutes across the change: 12 h before 12:00 EDT is
    // 23:00 EST the day before (04:00Z), not 00:00.
    put_slot_with(
        &app,
        "ny-min",
        slot(
            "2026-03-08T12:00:00-04:00",
            json!({"kind": "minutes_before", "minutes": 720}),
        ),
    )
    .await;
    app.clock.set(at("2026-03-08T03:59:59Z"));
    assert_eq!(
        book(&app, &customer(3), "m1", &[("ny-min", 1)]).await.0,
        201
    );
    app.clock.set(at("2026-03-08T04:00:00Z"));
    assert_eq!(
        book(&app, &customer(4), "m2", &[("ny-min", 1)]).await.1["code"],
        "cutoff_passed"
    );
    app.stop().await;
}

async fn releases(app: &TestApp, slot: &str) -> Vec<serde_json::Value> {
    let stream = SlotId::parse(slot).unwrap().stream_id();
    let events = app.state.store.read_stream(&stream, 1, 1000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.event_type == "HoldReleased")
        .map(|e| e.payload)
        .collect()
}

#[tokio::test]
async fn an_expired_hold_is_released_once_by_the_next_command_on_the_slot() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "h1", 2).await;
    let (_, a) = book(&app, &customer(1), "a", &[("h1", 2)]).await;
    app.clock.advance(Duration::minutes(10));
    assert_eq!(
        book(&app, &customer(2), "b", &[("h1", 1)]).await.1["code"],
        "sold_out"
    );
    app.clock.advance(Duration::minutes(5)); // A's hold expires now
    assert_eq!(
        availability(&app, "h1").await["available"],
        2,
        "derived at read time"
    );
    assert_eq!(book(&app, &customer(2), "c", &[("h1", 1)]).await.0, 201);
    let released = releases(&app, "h1").await;
    assert_eq!(released.len(), 1);
    assert_eq!(
        (
            released[0]["booking_id"].as_str(),
            released[0]["reason"].as_str()
        ),
        (a["booking_id"].as_str(), Some("expired"))
    );
    // The sweeper then expires A's booking without releasing the seats a second time.
    assert_eq!(sweep_once(&app.state).await.unwrap(), 1);
    assert_eq!(releases(&app, "h1").await.len(), 1);
    let (_, read) = status_json(
        app.get(
            &format!(
                "/v1/bookings/{}?{}",
                a["booking_id"].as_str().unwrap(),
                app.fresh_query().await
            ),
            Some(&customer(1)),
        )
        .await,
    )
    .await;
    assert_eq!(read["status"], "expired");
    assert_eq!(availability(&app, "h1").await["held"], 1);
    app.stop().await;
}

#[tokio::test]
async fn the_sweeper_releases_an_expired_hold_once() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "s1", 1).await;
    let (_, a) = book(&app, &customer(1), "a", &[("s1", 1)]).await;
    assert_eq!(sweep_once(&app.state).await.unwrap(), 0, "not due yet");
    app.clock.advance(Duration::minutes(16));
    assert_eq!(sweep_once(&app.state).await.unwrap(), 1);
    assert_eq!(
        sweep_once(&app.state).await.unwrap(),
        0,
        "nothing left to expire"
    );
    let released = releases(&app, "s1").await;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["booking_id"], a["booking_id"]);
    assert_eq!(book(&app, &customer(2), "b", &[("s1", 1)]).await.0, 201);
    assert_eq!(
        releases(&app, "s1").await.len(),
        1,
        "the next command finds nothing to release"
    );
    app.stop().await;
}
