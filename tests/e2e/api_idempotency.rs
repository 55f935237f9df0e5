//! Invariants 3 and 6 over HTTP: a key executes once; a retry replays the stored outcome
//! (rejections included) with `Idempotent-Replayed: true`; another body under the same key
//! is 422; no key is 400; parallel requests with one key make one booking.

use std::sync::Arc;

use ledger_tests::app::{spawn_app, status_json};
use ledger_tests::fresh_db;
use serde_json::json;

use crate::api_support::{availability, customer, put_slot};

#[tokio::test]
async fn replays_refuses_reuse_and_requires_a_key() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "i1", 3).await;
    let cust = customer(1);
    let body = json!({"items": [{"slot_id": "i1", "seats": 2}]});
    let first = app.post("/v1/bookings", &cust, "key-1", &body).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (status, original) = status_json(first).await;
    assert_eq!(status, 201);

    // Same key, same body (keys in another order, quoted key form): the stored outcome.
    let reordered = json!({"items": [{"seats": 2, "slot_id": "i1"}]});
    let again = app
        .post("/v1/bookings", &cust, "\"key-1\"", &reordered)
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(status_json(again).await, (201, original.clone()));
    assert_eq!(availability(&app, "i1").await["held"], 2, "executed once");

    let other = json!({"items": [{"slot_id": "i1", "seats": 1}]});
    let (status, problem) =
        status_json(app.post("/v1/bookings", &cust, "key-1", &other).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Keys are per subject: another customer's "key-1" is a new request.
    let (status, _) = status_json(
        app.post("/v1/bookings", &customer(2), "key-1", &other)
            .await,
    )
    .await;
    assert_eq!(status, 201);

    // A rejection is stored and replayed too, even after seats free up.
    let too_many = json!({"items": [{"slot_id": "i1", "seats": 3}]});
    let (status, rejected) =
        status_json(app.post("/v1/bookings", &cust, "key-2", &too_many).await).await;
    assert_eq!((status, rejected["code"].as_str()), (409, Some("sold_out")));
    let replay = app.post("/v1/bookings", &cust, "key-2", &too_many).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["content-type"], "application/problem+json");
    assert_eq!(status_json(replay).await, (409, rejected));

    let no_key = app
        .send(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(&cust),
            None,
            Some(&body),
        )
        .await;
    let (status, problem) = status_json(no_key).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("idempotency_key_missing"))
    );
    let bad_key = app
        .send(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(&cust),
            Some("\"open"),
            Some(&body),
        )
        .await;
    assert_eq!(status_json(bad_key).await.0, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_parallel_requests_with_one_key_make_one_booking() {
    let app = Arc::new(spawn_app(fresh_db().await.store()).await);
    put_slot(&app, "p1", 50).await;
    let cust = customer(7);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, cust) = (app.clone(), cust.clone());
            tokio::spawn(async move {
                let body = json!({"items": [{"slot_id": "p1", "seats": 1}]});
                status_json(app.post("/v1/bookings", &cust, "same-key", &body).await).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["booking_id"].as_str().unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one booking: {ids:?}");
    assert_eq!(availability(&app, "p1").await["held"], 1);
}

/// The race above, repeated: the losers' commits fail on the dedup key and must replay the
/// winner's outcome. It once failed a few times in a hundred rounds: a loser's unique
/// violation, answered while its pipeline was still being sent, turned its COMMIT into a
/// ROLLBACK that read as "a statement never sent", and the outcome was not looked up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_of_parallel_requests_with_one_key_all_replay_the_winner() {
    let app = Arc::new(spawn_app(fresh_db().await.store()).await);
    put_slot(&app, "p1", 5000).await;
    let cust = customer(7);
    let mut wrong = Vec::new();
    for round in 0..80 {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (app, cust) = (app.clone(), cust.clone());
                tokio::spawn(async move {
                    let body = json!({"items": [{"slot_id": "p1", "seats": 1}]});
                    let key = format!("round-{round}");
                    status_json(app.post("/v1/bookings", &cust, &key, &body).await).await
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            if status == 201 {
                ids.push(body["booking_id"].to_string());
            } else {
                wrong.push((round, status, body));
            }
        }
        ids.dedup();
        assert!(ids.len() <= 1, "round {round}: {ids:?}");
    }
    assert!(wrong.is_empty(), "{wrong:?}");
    assert_eq!(availability(&app, "p1").await["held"], 80);
}
