//! Signed deliveries for the webhook tests, signed exactly as the providers sign.

use ledger_core::webhook::{sign_mercadopago, sign_standard, sign_stripe};
use ledger_tests::app::{
    status_json, TestApp, MERCADOPAGO_SECRET, PANEL_SECRET, PIX_SECRET, STRIPE_SECRET,
};
use serde_json::{json, Value};

use crate::api_support::{book, customer, put_slot};

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Books 2 seats (2 × 45 000.00 ARS = 90 000.00) on `slot` (scheduled with `capacity`).
pub async fn held_booking(app: &TestApp, slot: &str, capacity: u32) -> String {
    put_slot(app, slot, capacity).await;
    let (status, body) = book(app, &customer(1), &format!("hold-{slot}"), &[(slot, 2)]).await;
    assert_eq!(status, 201, "{body}");
    body["booking_id"].as_str().unwrap().to_owned()
}

pub fn intent(id: &str, booking: &str, amount: i64, currency: &str) -> Value {
    json!({"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount,
           "currency": currency, "metadata": {"booking_id": booking}})
}

pub fn stripe_event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}})
}

pub async fn post_stripe_raw(app: &TestApp, raw: &str, header: Option<String>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(raw.to_owned());
    if let Some(h) = header {
        req = req.header("Stripe-Signature", h);
    }
    status_json(req.send().await.unwrap()).await
}

pub async fn post_stripe(app: &TestApp, event: &Value) -> (u16, Value) {
    let raw = event.to_string();
    let header = sign_stripe(raw.as_bytes(), STRIPE_SECRET, now());
    post_stripe_raw(app, &raw, Some(header)).await
}

pub async fn post_standard(
    app: &TestApp,
    path: &str,
    secret: &str,
    webhook_id: &str,
    body: &Value,
) -> (u16, Value) {
    let raw = body.to_string();
    let ts = now();
    let signature = sign_standard(raw.as_bytes(), webhook_id, ts, secret).unwrap();
    let resp = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(raw)
        .send()
        .await
        .unwrap();
    status_json(resp).await
}

pub async fn post_pix(app: &TestApp, webhook_id: &str, body: &Value) -> (u16, Value) {
    post_standard(app, "/v1/webhooks/pix", PIX_SECRET, webhook_id, body).await
}

pub async fn post_panel(app: &TestApp, webhook_id: &str, body: &Value) -> (u16, Value) {
    post_standard(app, "/v1/webhooks/panel", PANEL_SECRET, webhook_id, body).await
}

/// A Mercado Pago notification for payment `data_id`, notification id `notification`.
pub async fn post_mercadopago(
    app: &TestApp,
    data_id: &str,
    notification: i64,
    secret: &str,
) -> (u16, Value) {
    let request_id = uuid::Uuid::now_v7().to_string();
    let signature = sign_mercadopago(data_id, &request_id, secret, now());
    let body = json!({"id": notification, "type": "payment", "action": "payment.updated", "data": {"id": data_id}});
    let resp = app
        .http
        .post(app.url(&format!(
            "/v1/webhooks/mercadopago?data.id={data_id}&type=payment"
        )))
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .header("x-request-id", request_id)
        .json(&body)
        .send()
        .await
        .unwrap();
    status_json(resp).await
}

pub const MP_SECRET: &str = MERCADOPAGO_SECRET;

/// The booking as the API shows it to an operator.
pub async fn booking(app: &TestApp, id: &str) -> Value {
    let (status, body) = status_json(
        app.get(
            &format!("/v1/bookings/{id}?{}", app.fresh_query().await),
            Some(&crate::api_support::operator()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Event types appended to a stream, in order.
pub async fn event_types(app: &TestApp, stream: &str) -> Vec<String> {
    let id = ledger_core::StreamId::parse(stream).unwrap();
    let events = app.state.store.read_stream(&id, 1, 1000).await.unwrap();
    events.into_iter().map(|e| e.event_type).collect()
}

/// Every event of a provider's ingest log — all its shards, `provider-<name>-<n>` — in the
/// order they were appended.
pub async fn provider_log(app: &TestApp, provider: &str) -> Vec<ledger_core::RecordedEvent> {
    let mut all = Vec::new();
    for shard in 0..ledger_core::provider_log::LOG_SHARDS {
        let id = ledger_core::StreamId::parse(&format!("provider-{provider}-{shard}")).unwrap();
        all.extend(app.state.store.read_stream(&id, 1, 1000).await.unwrap());
    }
    all.sort_by_key(|e| e.global_position);
    all
}

/// The event types of a provider's ingest log (all shards), in append order.
pub async fn log_types(app: &TestApp, provider: &str) -> Vec<String> {
    let log = provider_log(app, provider).await;
    log.into_iter().map(|e| e.event_type).collect()
}
