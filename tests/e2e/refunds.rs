//! Refunds an operator asks for (API.md `POST /v1/bookings/{id}/refunds`) against fake
//! providers on loopback: split payments refunded newest first, each provider call under
//! a key derived from the booking, the payment and the money, so retries and concurrent
//! twins refund once; the booking's `refunded` amount moves only on the provider's
//! confirmation (webhook or reconciliation); `keep_seats`; 409 and 502 record nothing.

use ledger_core::domain::{refund_idempotency_key, Provider};
use ledger_core::{BookingId, Money};
use ledger_tests::app::{spawn_app_with, status_json, test_providers, TestApp};
use ledger_tests::fakes::{FakeMercadoPago, FakePix, FakeStripe};
use ledger_tests::fresh_db;
use serde_json::{json, Value};

use crate::api_support::{availability, book, customer, operator, put_slot_with};
use crate::webhook_support::{
    booking, event_types, held_booking, post_mercadopago, post_pix, post_stripe, stripe_event,
    MP_SECRET,
};

async fn app_with(
    mp: Option<&FakeMercadoPago>,
    stripe: Option<&FakeStripe>,
    pix: Option<&FakePix>,
) -> TestApp {
    let mut providers = test_providers(mp.map(|f| f.url.clone()), None);
    providers.stripe_api_url = stripe.map(|f| f.url.clone());
    providers.pix_api_url = pix.map(|f| f.url.clone());
    spawn_app_with(fresh_db().await.store(), providers).await
}

async fn refund(app: &TestApp, id: &str, key: &str, body: &Value) -> (u16, Value, bool) {
    let resp = app
        .post(
            &format!("/v1/bookings/{id}/refunds"),
            &operator(),
            key,
            body,
        )
        .await;
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    let (status, body) = status_json(resp).await;
    (status, body, replayed)
}

fn ars(minor: i64) -> Value {
    json!({"amount_minor": minor, "currency": "ARS"})
}

fn key(id: &str, provider: Provider, payment: &str, from: i64, through: i64) -> String {
    let through = Money::new(through, ledger_core::Currency::parse("ARS").unwrap()).unwrap();
    refund_idempotency_key(
        &BookingId::parse(id).unwrap(),
        provider,
        payment,
        from,
        &through,
    )
}

fn mp_payment(id: i64, amount: &str, booking: &str) -> Value {
    serde_json::from_str(&format!(
        r#"{{"id": {id}, "status": "approved", "transaction_amount": {amount}, "currency_id": "ARS", "external_reference": "{booking}"}}"#
    ))
    .unwrap()
}

#[tokio::test]
async fn split_mercadopago_payments_are_refunded_newest_first_once_and_counted_on_confirmation() {
    let mp = FakeMercadoPago::start().await;
    let app = app_with(Some(&mp), None, None).await;
    let id = held_booking(&app, "mp-split", 5).await;
    // 90 000.00 paid in two payments: 60 000.00 first, then 30 000.00.
    mp.set_payment("501", mp_payment(501, "60000.00", &id));
    mp.set_payment("502", mp_payment(502, "30000.00", &id));
    assert_eq!(
        post_mercadopago(&app, "501", 1, MP_SECRET).await.1["status"],
        "applied"
    );
    assert_eq!(
        post_mercadopago(&app, "502", 2, MP_SECRET).await.1["status"],
        "applied"
    );
    assert_eq!(booking(&app, &id).await["status"], "paid");

    // Half: all of the newest payment, then part of the older one. Mercado Pago fails the
    // first time: 502, nothing recorded; the retry sends the same keys.
    let half = json!({"amount": ars(4_500_000), "reason": "guide ill, Ana Souza moves next week"});
    mp.fail_next(3);
    let (status, failed, _) = refund(&app, &id, "r-1", &half).await;
    assert_eq!(
        (status, failed["code"].as_str()),
        (502, Some("provider_unavailable"))
    );
    let types = event_types(&app, &format!("booking-{id}")).await;
    assert!(
        !types.contains(&"RefundRequested".to_owned()),
        "nothing recorded"
    );
    let failed_keys: Vec<String> = mp
        .refund_requests
        .lock()
        .unwrap()
        .drain(..)
        .map(|(_, k, _)| k)
        .collect();
    assert_eq!(failed_keys.len(), 3, "three attempts");
    let (status, first, _) = refund(&app, &id, "r-1", &half).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["amount"], ars(4_500_000));
    assert_eq!(
        first["parts"],
        json!([{"provider": "mercadopago", "payment_id": "502", "amount": ars(3_000_000)},
               {"provider": "mercadopago", "payment_id": "501", "amount": ars(1_500_000)}])
    );
    let requests = mp.refund_requests.lock().unwrap().clone();
    let sent: Vec<(&str, &str, &str)> = requests
        .iter()
        .map(|(p, k, body)| (p.as_str(), k.as_str(), body.as_str()))
        .collect();
    let (k502, k501) = (
        key(&id, Provider::MercadoPago, "502", 0, 3_000_000),
        key(&id, Provider::MercadoPago, "501", 0, 1_500_000),
    );
    assert_eq!(
        sent,
        [
            ("502", k502.as_str(), r#"{"amount":30000.00}"#),
            ("501", k501.as_str(), r#"{"amount":15000.00}"#)
        ],
        "exact decimals, keys derived from the booking, the payment and the money"
    );
    assert!(
        failed_keys.iter().all(|k| *k == k502),
        "the failed attempts asked under the same key"
    );
    // Nothing counts before the provider confirms.
    let view = booking(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), &view["refunded"]),
        (Some("paid"), &ars(0))
    );
    // The same key replays without asking again; a new key asks for the rest only.
    let (status, again, replayed) = refund(&app, &id, "r-1", &half).await;
    assert_eq!((status, replayed, &again), (201, true, &first));
    assert_eq!(mp.refund_requests.lock().unwrap().len(), 2);
    let (status, too_much, _) = refund(&app, &id, "r-2", &json!({"amount": ars(4_500_001)})).await;
    assert_eq!(
        (status, too_much["code"].as_str()),
        (409, Some("not_refundable")),
        "{too_much}"
    );
    let (status, rest, _) = refund(&app, &id, "r-3", &json!({})).await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(
        rest["parts"],
        json!([{"provider": "mercadopago", "payment_id": "501", "amount": ars(4_500_000)}])
    );
    assert_eq!(
        mp.refund_requests.lock().unwrap()[2].1,
        key(&id, Provider::MercadoPago, "501", 1_500_000, 6_000_000)
    );
    let (status, nothing, _) = refund(&app, &id, "r-4", &json!({})).await;
    assert_eq!(
        (status, nothing["code"].as_str()),
        (409, Some("not_refundable"))
    );
    assert_eq!(mp.refunds_created(), 3);

    // Mercado Pago confirms: 502 refunded in full, 501 partially and then in full.
    assert_eq!(
        post_mercadopago(&app, "502", 3, MP_SECRET).await.1["status"],
        "applied"
    );
    let view = booking(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), &view["refunded"]),
        (Some("paid"), &ars(3_000_000))
    );
    assert_eq!(
        post_mercadopago(&app, "501", 4, MP_SECRET).await.1["status"],
        "applied"
    );
    let view = booking(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), &view["refunded"]),
        (Some("refunded"), &ars(9_000_000))
    );
    assert_eq!(availability(&app, "mp-split").await["available"], 5);
    // The reason is personal data: sealed in the ledger, never in clear.
    let events = app
        .state
        .store
        .read_stream(
            &ledger_core::StreamId::parse(&format!("booking-{id}")).unwrap(),
            1,
            100,
        )
        .await
        .unwrap();
    let requested: Vec<&ledger_core::RecordedEvent> = events
        .iter()
        .filter(|e| e.event_type == "RefundRequested")
        .collect();
    assert_eq!(requested.len(), 2);
    assert!(!requested[0].payload.to_string().contains("Souza"));
    assert!(requested[0].payload["reason"]["sealed"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn a_stripe_refund_that_fails_records_nothing_and_its_retry_refunds_once() {
    let stripe = FakeStripe::start().await;
    let app = app_with(None, Some(&stripe), None).await;
    let id = held_booking(&app, "st-retry", 5).await;
    stripe.put_intent("pi_r1", &id, 9_000_000, "ars");
    let paid = json!({"id": "pi_r1", "object": "payment_intent", "amount": 9_000_000, "amount_received": 9_000_000,
                      "currency": "ars", "metadata": {"booking_id": id}});
    post_stripe(
        &app,
        &stripe_event("evt_r1", "payment_intent.succeeded", paid),
    )
    .await;
    let types_before = event_types(&app, &format!("booking-{id}")).await;

    stripe.fail_refunds(10);
    let (status, body, _) = refund(&app, &id, "sr-1", &json!({"keep_seats": true})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("provider_unavailable")),
        "{body}"
    );
    assert_eq!(
        event_types(&app, &format!("booking-{id}")).await,
        types_before,
        "nothing recorded"
    );
    stripe.fail_refunds(0);
    let (status, body, replayed) = refund(&app, &id, "sr-1", &json!({"keep_seats": true})).await;
    assert_eq!((status, replayed), (201, false), "{body}");
    assert_eq!(
        stripe.refunds_created(),
        1,
        "the retry asked under the same key"
    );
    let keys: Vec<String> = stripe
        .refund_requests
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert!(keys
        .iter()
        .all(|k| *k == key(&id, Provider::Stripe, "pi_r1", 0, 9_000_000)));
    let versions = stripe.versions.lock().unwrap().clone();
    assert!(
        !versions.is_empty()
            && versions
                .iter()
                .all(|v| v == ledger_http::providers::stripe::STRIPE_VERSION),
        "every Stripe call pins the API version: {versions:?}"
    );

    // No webhook: a reconciliation sees the refund on the intent's charge.
    let (status, view) = status_json(
        app.post(
            &format!("/v1/bookings/{id}/reconcile"),
            &operator(),
            "rec-1",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    let view = booking(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), &view["refunded"]),
        (Some("refunded"), &ars(9_000_000))
    );
    assert_eq!(
        availability(&app, "st-retry").await["available"],
        3,
        "keep_seats: the seats stay taken"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_pix_refund_is_a_devolucao_confirmed_by_the_webhook() {
    let pix = FakePix::start().await;
    let app = app_with(None, None, Some(&pix)).await;
    put_slot_with(&app, "rio-r", json!({"activity_id": "rio-walk", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 5, "price": {"amount_minor": 5500, "currency": "BRL"}, "time_zone": "America/Sao_Paulo",
        "cutoff": {"kind": "minutes_before", "minutes": 60}})).await;
    let (_, b) = book(&app, &customer(1), "pix-r", &[("rio-r", 2)]).await;
    let id = b["booking_id"].as_str().unwrap().to_owned();
    let txid = id.replace('-', "");
    let paid = json!({"pix": [{"endToEndId": "E9999999920261120", "txid": txid, "valor": "110.00", "horario": "2026-11-20T12:01:00Z"}]});
    assert_eq!(post_pix(&app, "msg_p1", &paid).await.1["status"], "applied");

    let (status, body, _) = refund(
        &app,
        &id,
        "pr-1",
        &json!({"amount": {"amount_minor": 5500, "currency": "BRL"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let requests = pix.devolucao_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (e2e, devolucao, sent) = &requests[0];
    assert_eq!(e2e, "E9999999920261120");
    assert_eq!(sent, &json!({"valor": "55.00"}));
    let through = Money::new(5500, ledger_core::Currency::parse("BRL").unwrap()).unwrap();
    let derived = refund_idempotency_key(
        &BookingId::parse(&id).unwrap(),
        Provider::Pix,
        e2e,
        0,
        &through,
    );
    assert_eq!(
        *devolucao,
        derived[..35],
        "the devolução id is the key's first 35 hex digits"
    );
    assert_eq!(booking(&app, &id).await["refunded"]["amount_minor"], 0);

    let returned = json!({"pix": [{"endToEndId": "E9999999920261120", "txid": txid, "valor": "110.00",
        "devolucoes": [{"id": devolucao, "rtrId": "D1", "valor": "55.00", "status": "DEVOLVIDO"}]}]});
    assert_eq!(
        post_pix(&app, "msg_p2", &returned).await.1["status"],
        "applied"
    );
    let view = booking(&app, &id).await;
    assert_eq!(
        (
            view["status"].as_str(),
            view["refunded"]["amount_minor"].as_i64()
        ),
        (Some("paid"), Some(5500))
    );
    app.stop().await;
}

#[tokio::test]
async fn refunds_are_for_operators_and_paid_money_only() {
    let stripe = FakeStripe::start().await;
    let app = app_with(None, Some(&stripe), None).await;
    let id = held_booking(&app, "st-rules", 5).await;
    let resp = app
        .post(
            &format!("/v1/bookings/{id}/refunds"),
            &customer(1),
            "c-1",
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 403);
    let (status, body, _) = refund(&app, &id, "o-1", &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_refundable")),
        "nothing paid"
    );
    let (status, again, replayed) = refund(&app, &id, "o-1", &json!({})).await;
    assert_eq!(
        (status, replayed, &again),
        (409, true, &body),
        "a refusal is stored too"
    );
    let unknown = uuid::Uuid::now_v7();
    let (status, _, _) = refund(&app, &unknown.to_string(), "o-2", &json!({})).await;
    assert_eq!(status, 404);
    let (status, body, _) = refund(&app, &id, "o-3", &json!({"amount": ars(-1)})).await;
    assert!(matches!(status, 400 | 409 | 422), "{status} {body}");
    let (status, _, _) = refund(&app, &id, "o-4", &json!({"reason": "x".repeat(501)})).await;
    assert_eq!(status, 422);
    let (status, _, _) = refund(&app, &id, "o-5", &json!({"amount": ars(1), "tip": 1})).await;
    assert_eq!(status, 400, "unknown fields");
    assert_eq!(
        stripe.refund_requests.lock().unwrap().len(),
        0,
        "no provider was asked"
    );
    app.stop().await;
}

/// Mercado Pago leaves a partially refunded payment `approved`, with the refunded sum
/// beside it: a reconciliation (no notification came) reads it as a refund.
#[tokio::test]
async fn a_reconciliation_sees_a_mercadopago_partial_refund() {
    let mp = FakeMercadoPago::start().await;
    let app = app_with(Some(&mp), None, None).await;
    let id = held_booking(&app, "mp-rec", 5).await;
    mp.set_payment("601", mp_payment(601, "90000.00", &id));
    assert_eq!(
        post_mercadopago(&app, "601", 11, MP_SECRET).await.1["status"],
        "applied"
    );
    let third = json!({"amount": ars(3_000_000)});
    let (status, body, _) = refund(&app, &id, "rec-r1", &third).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        booking(&app, &id).await["refunded"],
        ars(0),
        "not confirmed yet"
    );
    // No notification: the operator reconciles.
    let (status, view) = status_json(
        app.post(
            &format!("/v1/bookings/{id}/reconcile"),
            &operator(),
            "rec-1",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    let view = booking(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), &view["refunded"], &view["paid"]),
        (Some("paid"), &ars(3_000_000), &ars(6_000_000))
    );
    app.stop().await;
}
