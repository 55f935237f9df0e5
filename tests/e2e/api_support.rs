//! Shared steps of the HTTP tests: operators, customers, slots and bookings.

use ledger_tests::app::{status_json, token, TestApp};
use serde_json::{json, Value};

pub fn operator() -> String {
    token("op-1", &["operator"])
}

pub fn customer(n: usize) -> String {
    token(&format!("cust-{n}"), &["customer"])
}

/// Schedules `slot_id` (activity glaciar-trek, 2026-12-01 09:00 Buenos Aires, 45 000.00
/// ARS, booking closes the day before at 18:00 local).
pub async fn put_slot(app: &TestApp, slot_id: &str, capacity: u32) -> Value {
    put_slot_with(
        app,
        slot_id,
        json!({
            "activity_id": "glaciar-trek",
            "starts_at": "2026-12-01T09:00:00-03:00",
            "capacity": capacity,
            "price": {"amount_minor": 4_500_000, "currency": "ARS"},
            "time_zone": "America/Argentina/Buenos_Aires",
            "cutoff": {"kind": "day_before_at", "local_time": "18:00"}
        }),
    )
    .await
}

pub async fn put_slot_with(app: &TestApp, slot_id: &str, body: Value) -> Value {
    let (status, body) = status_json(
        app.put(&format!("/v1/slots/{slot_id}"), &operator(), &body)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn book(app: &TestApp, token: &str, key: &str, items: &[(&str, i64)]) -> (u16, Value) {
    let items: Vec<Value> = items
        .iter()
        .map(|(s, n)| json!({"slot_id": s, "seats": n}))
        .collect();
    status_json(
        app.post("/v1/bookings", token, key, &json!({"items": items}))
            .await,
    )
    .await
}

pub async fn availability(app: &TestApp, slot_id: &str) -> Value {
    let (status, body) = status_json(
        app.get(
            &format!(
                "/v1/slots/{slot_id}/availability?{}",
                app.fresh_query().await
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}
