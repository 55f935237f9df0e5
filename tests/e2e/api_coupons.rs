//! Coupons: claims under the coupon's lock in the booking transaction (max_claims holds
//! under a 20-way race), per-customer limits, expiry derived from the clock.

use std::sync::Arc;

use chrono::Duration;
use ledger_tests::app::{spawn_app, status_json, TestApp};
use ledger_tests::fresh_db;
use serde_json::{json, Value};

use crate::api_support::{customer, operator, put_slot};

async fn issue(app: &TestApp, code: &str, max_claims: u32, per_customer: u32) -> Value {
    let body = json!({"code": code, "percent_off": 10, "max_claims": max_claims, "per_customer_limit": per_customer,
                      "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-11-25T00:00:00-03:00"});
    let (status, view) = status_json(
        app.post("/v1/coupons", &operator(), &format!("issue-{code}"), &body)
            .await,
    )
    .await;
    assert_eq!(status, 201, "{view}");
    view
}

async fn book_with(app: &TestApp, cust: &str, key: &str, code: &str) -> (u16, Value) {
    let body = json!({"items": [{"slot_id": "c1", "seats": 2}], "coupon_code": code});
    status_json(app.post("/v1/bookings", cust, key, &body).await).await
}

async fn listed(app: &TestApp, state: &str) -> Vec<String> {
    let (status, body) = status_json(
        app.get(
            &format!("/v1/coupons?state={state}&{}", app.fresh_query().await),
            Some(&operator()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_claims_holds_under_twenty_concurrent_claimers() {
    let app = Arc::new(spawn_app(fresh_db().await.store()).await);
    put_slot(&app, "c1", 100).await;
    issue(&app, "FIVE", 5, 1).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(
                async move { book_with(&app, &customer(i), &format!("k{i}"), "five").await },
            )
        })
        .collect();
    let (mut won, mut exhausted) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match (status, body["code"].as_str()) {
            (201, _) => {
                // 2 × 45 000.00 less 10 %: the total of API.md's example.
                assert_eq!(
                    body["total"],
                    json!({"amount_minor": 8_100_000, "currency": "ARS"})
                );
                assert_eq!(
                    body["discount"],
                    json!({"amount_minor": 900_000, "currency": "ARS"})
                );
                won += 1
            }
            (409, Some("coupon_exhausted")) => exhausted += 1,
            other => panic!("{other:?} {body}"),
        }
    }
    assert_eq!((won, exhausted), (5, 15));
    assert_eq!(listed(&app, "exhausted").await, vec!["FIVE"]);
}

#[tokio::test]
async fn per_customer_limits_expiry_and_listing() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "c1", 100).await;
    let view = issue(&app, "ONCE", 100, 1).await;
    assert_eq!(
        (view["state"].as_str(), view["percent_off"].as_u64()),
        (Some("active"), Some(10))
    );
    // Issuing the same definition again is a no-op; a different one conflicts.
    let same = json!({"code": "ONCE", "percent_off": 10, "max_claims": 100, "per_customer_limit": 1,
                      "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-11-25T03:00:00Z"});
    assert_eq!(
        status_json(app.post("/v1/coupons", &operator(), "again", &same).await)
            .await
            .0,
        200
    );
    let mut different = same.clone();
    different["max_claims"] = json!(7);
    assert_eq!(
        status_json(
            app.post("/v1/coupons", &operator(), "diff", &different)
                .await
        )
        .await
        .1["code"],
        "coupon_conflict"
    );

    let ana = customer(1);
    assert_eq!(book_with(&app, &ana, "a1", "ONCE").await.0, 201);
    let (status, body) = book_with(&app, &ana, "a2", "ONCE").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("coupon_exhausted")),
        "{body}"
    );
    assert_eq!(
        book_with(&app, &customer(2), "b1", "ONCE").await.0,
        201,
        "other customers still can"
    );
    let (status, body) = book_with(&app, &ana, "a3", "NOPE").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("coupon_not_found")),
        "a code nobody issued is not found, like a slot"
    );
    assert_eq!(listed(&app, "active").await, vec!["ONCE"]);
    assert!(listed(&app, "expired").await.is_empty());

    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-11-25T03:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let (status, body) = book_with(&app, &customer(3), "c1", "ONCE").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("coupon_expired")),
        "{body}"
    );
    assert_eq!(listed(&app, "expired").await, vec!["ONCE"]);
    assert!(listed(&app, "active").await.is_empty());
    app.clock.advance(Duration::days(1));
    app.stop().await;
}
