//! Bookings over HTTP: invariant 1 under a 64-way race, all-or-nothing multi-slot holds,
//! reading and cancelling.

use std::sync::Arc;

use ledger_tests::app::{spawn_app, status_json, token};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::api_support::{availability, book, customer, operator, put_slot};

/// Invariant 1: 64 customers race for 10 seats; exactly 10 win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_bookings_on_ten_seats_sell_exactly_ten() {
    let app = Arc::new(spawn_app(fresh_db().await.store()).await);
    put_slot(&app, "hot-0900", 10).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                book(&app, &customer(i), &format!("race-{i}"), &[("hot-0900", 1)]).await
            })
        })
        .collect();
    let (mut created, mut sold_out) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match (status, body["code"].as_str()) {
            (201, _) => created += 1,
            (409, Some("sold_out")) => {
                assert_eq!(body["available"], 0, "{body}");
                sold_out += 1
            }
            other => panic!("unexpected {other:?}: {body}"),
        }
    }
    assert_eq!((created, sold_out), (10, 54));
    let view = availability(&app, "hot-0900").await;
    assert_eq!(
        (
            view["held"].as_u64(),
            view["available"].as_u64(),
            view["capacity"].as_u64()
        ),
        (Some(10), Some(0), Some(10))
    );
}

#[tokio::test]
async fn a_two_slot_booking_with_one_full_slot_holds_nothing() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "free", 5).await;
    put_slot(&app, "full", 1).await;
    let (status, _) = book(&app, &customer(1), "fill", &[("full", 1)]).await;
    assert_eq!(status, 201);
    let (status, body) = book(&app, &customer(2), "both", &[("free", 2), ("full", 1)]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("sold_out")),
        "{body}"
    );
    assert_eq!(body["slot_id"], "full");
    assert_eq!(
        availability(&app, "free").await["held"],
        0,
        "nothing held on the free slot"
    );
    assert_eq!(availability(&app, "full").await["held"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_booking_is_priced_by_the_server_read_by_its_owner_and_cancelled() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "g1", 10).await;
    let owner = customer(1);
    let body = json!({"items": [{"slot_id": "g1", "seats": 2}], "expected_total": {"amount_minor": 1, "currency": "ARS"}});
    let (status, problem) = status_json(app.post("/v1/bookings", &owner, "p1", &body).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("price_changed"))
    );
    assert_eq!(
        problem["total"],
        json!({"amount_minor": 9_000_000, "currency": "ARS"})
    );

    let (status, booking) = book(&app, &owner, "p2", &[("g1", 2)]).await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["status"], "held");
    assert_eq!(
        booking["total"],
        json!({"amount_minor": 9_000_000, "currency": "ARS"})
    );
    assert_eq!(
        booking["items"][0]["unit_price"],
        json!({"amount_minor": 4_500_000, "currency": "ARS"})
    );
    assert_eq!(booking["hold_expires_at"], "2026-11-20T12:15:00Z");
    assert!(booking["cursor"].as_str().is_some_and(|c| c.len() == 32));
    let id = booking["booking_id"].as_str().unwrap();

    // Read-your-writes: the command's own cursor as min_cursor.
    let path = format!(
        "/v1/bookings/{id}?min_cursor={}",
        booking["cursor"].as_str().unwrap()
    );
    let (status, read) = status_json(app.get(&path, Some(&owner)).await).await;
    assert_eq!(
        (status, read["status"].as_str()),
        (200, Some("held")),
        "{read}"
    );
    assert_eq!(read["paid"], json!({"amount_minor": 0, "currency": "ARS"}));
    assert_eq!(read["payments"], json!([]));
    assert!(read["as_of"].is_string());
    let (status, _) = status_json(app.get(&path, Some(&customer(2))).await).await;
    assert_eq!(status, 404, "another customer cannot see it");
    let (status, _) = status_json(app.get(&path, Some(&token("aud-1", &["auditor"]))).await).await;
    assert_eq!(status, 200);

    let cancel = format!("/v1/bookings/{id}/cancel");
    let (status, _) = status_json(app.post(&cancel, &customer(2), "c0", &json!({})).await).await;
    assert_eq!(status, 404, "not someone else's");
    let (status, cancelled) = status_json(app.post(&cancel, &owner, "c1", &json!({})).await).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    assert_eq!(
        availability(&app, "g1").await["available"],
        10,
        "seats released"
    );
    let (status, again) = status_json(app.post(&cancel, &operator(), "c2", &json!({})).await).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("not_cancellable"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_activity_lists_its_slots_in_a_window_by_start_time() {
    let app = spawn_app(fresh_db().await.store()).await;
    let slot = |activity: &str, starts_at: &str| {
        json!({"activity_id": activity, "starts_at": starts_at, "capacity": 4,
               "price": {"amount_minor": 100, "currency": "ARS"}, "cutoff": {"kind": "minutes_before", "minutes": 30}})
    };
    crate::api_support::put_slot_with(&app, "late", slot("trek", "2026-12-02T09:00:00-03:00"))
        .await;
    crate::api_support::put_slot_with(&app, "early", slot("trek", "2026-12-01T09:00:00-03:00"))
        .await;
    crate::api_support::put_slot_with(&app, "later", slot("trek", "2026-12-05T09:00:00-03:00"))
        .await;
    crate::api_support::put_slot_with(&app, "kayak", slot("kayak", "2026-12-01T10:00:00-03:00"))
        .await;
    let (_, booking) = book(&app, &customer(1), "k", &[("early", 3)]).await;
    assert!(booking["booking_id"].is_string());
    let path = format!(
        "/v1/activities/trek/availability?from=2026-12-01T00:00:00-03:00&to=2026-12-03T00:00:00-03:00&{}",
        app.fresh_query().await
    );
    let (status, list) = status_json(app.get(&path, None).await).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["slot_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["early", "late"],
        "in the window, by start time, this activity only"
    );
    assert_eq!(
        (list[0]["held"].as_u64(), list[0]["available"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        list[0]["time_zone"], "America/Argentina/Buenos_Aires",
        "the default zone"
    );
    assert!(list[0]["as_of"].is_string());
    let (_, all) = status_json(
        app.get(
            &format!(
                "/v1/activities/trek/availability?{}",
                app.fresh_query().await
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, none) = status_json(
        app.get("/v1/activities/nothing-here/availability", None)
            .await,
    )
    .await;
    assert_eq!(none, json!([]));
    app.stop().await;
}

/// A cursor ahead of the ledger's newest event answers stale at once, with what the read
/// model has (no one can hold a request open with it); a malformed cursor is 400.
#[tokio::test]
async fn a_min_cursor_ahead_of_the_ledger_answers_stale_at_once() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "st1", 3).await;
    let (_, b) = book(&app, &customer(1), "k", &[("st1", 1)]).await;
    let id = b["booking_id"].as_str().unwrap();
    let fresh = format!(
        "/v1/bookings/{id}?min_cursor={}",
        b["cursor"].as_str().unwrap()
    );
    let (status, read) = status_json(app.get(&fresh, Some(&customer(1))).await).await;
    assert_eq!((status, read.get("stale")), (200, None), "{read}");

    let future = format!("/v1/bookings/{id}?min_cursor={}", "7".repeat(32));
    let started = std::time::Instant::now();
    let (status, read) = status_json(app.get(&future, Some(&customer(1))).await).await;
    assert_eq!(
        (status, read["stale"].as_bool()),
        (200, Some(true)),
        "{read}"
    );
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_millis(500), "{waited:?}");
    assert_eq!(read["status"], "held", "answers with what it has");
    let bad = "/v1/slots/st1/availability?min_cursor=nope";
    assert_eq!(status_json(app.get(bad, None).await).await.0, 400);
    app.stop().await;
}

/// A committed event the feed cannot pass yet (an older transaction is still open): its
/// cursor is behind the ledger's head, so a read waits the whole bound for it, then answers
/// stale. On a cluster of its own: an open transaction holds back the feed of every
/// database of its server.
#[tokio::test]
async fn a_min_cursor_behind_the_head_waits_the_bound() {
    use ledger_store::embedded::Durability;
    use ledger_tests::cluster::{test_store_settings, OwnCluster};

    let own = OwnCluster::start("min-cursor", Durability::Ephemeral, &[]).await;
    let app = spawn_app(own.store(&test_store_settings())).await;
    put_slot(&app, "st1", 3).await;
    let mut holder = ledger_store::connect_one(&own.pg).await.unwrap();
    let open = holder.transaction().await.unwrap();
    open.query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .unwrap();
    let (_, later) = book(&app, &customer(1), "k2", &[("st1", 1)]).await;
    let behind = format!(
        "/v1/slots/st1/availability?min_cursor={}",
        later["cursor"].as_str().unwrap()
    );
    let started = std::time::Instant::now();
    let (status, read) = status_json(app.get(&behind, None).await).await;
    let waited = started.elapsed();
    open.rollback().await.unwrap();
    assert_eq!(
        (status, read["stale"].as_bool()),
        (200, Some(true)),
        "{read}"
    );
    assert!(
        waited >= std::time::Duration::from_millis(1900)
            && waited < std::time::Duration::from_secs(5),
        "{waited:?}"
    );
    app.stop().await;
}
